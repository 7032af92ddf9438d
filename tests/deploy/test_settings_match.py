"""What compose and the Kubernetes manifests give each container is what that container reads:
every environment variable set is one its settings classes (pydantic-settings) take, the
variables a service cannot do without in a container are set, the gateway gets exactly the
variables its template uses, and the probe paths are routes the apps answer."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

from tests.deploy.manifests import (
    OVERLAYS,
    SERVICES,
    by_kind,
    compose_environment,
    gateway_template_variables,
    load_compose,
    pod_spec,
    render_overlay,
)

pytestmark = pytest.mark.deploy

# The settings classes each service builds in its composition root.
SETTINGS_CLASSES = {
    "auth": ["workcity_auth.settings:AuthSettings"],
    "conversations": [
        "workcity_conversations.settings:ConversationsSettings",
        "workcity_common.settings:TokenVerifierSettings",
    ],
    "realtime": [
        "workcity_realtime.settings:RealtimeSettings",
        "workcity_common.settings:TokenVerifierSettings",
    ],
    "notifications": ["workcity_notifications.settings:NotificationsSettings"],
}
# Set in every container of that service, or it would talk to the wrong place.
REQUIRED = {
    "auth": {"ENVIRONMENT", "MONGO_URI", "AMQP_URL", "DATA_DIR"},
    "conversations": {"ENVIRONMENT", "MONGO_URI", "AMQP_URL", "JWKS_URL"},
    "realtime": {"ENVIRONMENT", "AMQP_URL", "JWKS_URL", "CONVERSATIONS_URL"},
    "notifications": {"ENVIRONMENT", "MONGO_URI", "AMQP_URL", "SMTP_HOST", "FRONTEND_URL"},
}
COMPOSE_NAMES = {
    "auth": ["auth"],
    "conversations": ["conversations"],
    "realtime": ["realtime-1", "realtime-2"],
    "notifications": ["notifications"],
}


def load(path: str) -> type[BaseSettings]:
    module, _, name = path.partition(":")
    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, BaseSettings)
    return cls


def env_names(cls: type[BaseSettings]) -> set[str]:
    """The environment variables a settings class reads (its fields' validation aliases)."""
    names: set[str] = set()
    for field_name, info in cls.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, str):
            names.add(alias)
        elif isinstance(alias, AliasChoices):
            names.update(a for a in alias.choices if isinstance(a, str))
        elif alias is None and info.alias is None:
            prefix = str(cls.model_config.get("env_prefix", ""))
            names.add((prefix + field_name).upper())
    return names


def reads(service: str) -> set[str]:
    try:
        classes = [load(path) for path in SETTINGS_CLASSES[service]]
    except ModuleNotFoundError as exc:  # pragma: no cover - only while a service is missing
        pytest.skip(f"{service}: settings module not importable yet ({exc})")
    return set().union(*(env_names(cls) for cls in classes))


def test_env_names_are_read_from_aliases() -> None:
    names = reads("auth")
    assert {"MONGO_URI", "JWT_PRIVATE_KEY", "DATA_DIR", "BCRYPT_ROUNDS"} <= names
    assert "service_name" not in names and "SERVICE_NAME" in names  # a field with no alias


@pytest.mark.parametrize("service", SERVICES)
def test_compose_sets_only_variables_the_service_reads(service: str) -> None:
    known = reads(service)
    compose = load_compose()
    for name in COMPOSE_NAMES[service]:
        env = set(compose_environment(compose["services"][name]))
        assert env - known == set(), f"{name}: not read by {service}'s settings"
        assert REQUIRED[service] <= env, f"{name}: missing {REQUIRED[service] - env}"


def container_env(objects: tuple[dict[str, Any], ...], app: str) -> set[str]:
    (container,) = pod_spec(by_kind(objects, "Deployment")[app])["containers"]
    names = {var["name"] for var in container.get("env", [])}
    config_maps = by_kind(objects, "ConfigMap")
    for source in container.get("envFrom", []):
        assert "prefix" not in source
        names.update(config_maps[source["configMapRef"]["name"]]["data"])
    return names


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_kubernetes_sets_only_variables_the_service_reads(service: str, overlay: str) -> None:
    known = reads(service)
    env = container_env(render_overlay(overlay), service)
    assert env - known == set(), f"{overlay}/{service}: not read by its settings"
    required = REQUIRED[service] - ({"DATA_DIR"} if overlay == "prod" else set())
    assert required <= env, f"{overlay}/{service}: missing {required - env}"


def test_gateway_gets_exactly_the_template_variables() -> None:
    # The template's variables, less the origin map its entrypoint script builds from the CORS
    # settings, and less the frontend's directory and page policy, which the image sets.
    variables = gateway_template_variables()
    assert "AUTH_UPSTREAM" in variables
    variables = variables - {"GATEWAY_CORS_ORIGIN_MAP", "FRONTEND_DIR", "GATEWAY_FRONTEND_CSP"}
    variables |= {"ENVIRONMENT", "CORS_ORIGINS", "FRONTEND_URL"}
    compose = set(compose_environment(load_compose()["services"]["gateway"]))
    assert compose == variables
    for overlay in OVERLAYS:
        assert container_env(render_overlay(overlay), "gateway") == variables


def test_kubernetes_service_urls_name_kubernetes_services() -> None:
    for overlay in OVERLAYS:
        objects = render_overlay(overlay)
        services = by_kind(objects, "Service")
        for app in ("conversations", "realtime", "gateway"):
            (container,) = pod_spec(by_kind(objects, "Deployment")[app])["containers"]
            for var in container.get("env", []):
                value = var.get("value")
                if value is not None and var["name"].endswith(
                    ("_URL", "_UPSTREAM", "_UPSTREAM_1", "_UPSTREAM_2")
                ):
                    host_port = value.removeprefix("http://").split("/")[0]
                    host, _, port = host_port.partition(":")
                    assert host in services, f"{overlay}/{app} {var['name']}={value}"
                    assert int(port) in {p["port"] for p in services[host]["spec"]["ports"]}


# --- the probe paths are routes the apps serve -----------------------------------------------


def build_app(service: str, tmp_path: Path) -> Any:
    main = importlib.import_module(f"workcity_{service}.main")
    if service == "auth":
        settings_cls = load("workcity_auth.settings:AuthSettings")
        return main.create_app(settings_cls(DATA_DIR=str(tmp_path)))
    return main.create_app()


@pytest.mark.parametrize("service", SERVICES)
async def test_probe_paths_are_served(service: str, tmp_path: Path) -> None:
    reads(service)  # skips while the service's package is missing
    app = build_app(service, tmp_path)
    api = getattr(app, "other_asgi_app", app)  # realtime: Socket.IO in front of FastAPI
    assert {"/healthz", "/readyz"} <= set(api.openapi()["paths"])
    # Liveness and metrics answer without the database or broker (none is started here);
    # readiness is not asked, since it would try them.
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        health = await client.get("/healthz")
        metrics = await client.get("/metrics")
    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert metrics.status_code == 200
    assert "# TYPE" in metrics.text


def test_one_attribute_name_per_setting() -> None:
    """A variable read by several services has the same attribute name in each (it was
    `message_max_chars` in conversations and `max_message_length` in realtime)."""
    names: dict[str, set[str]] = {}
    for paths in SETTINGS_CLASSES.values():
        for path in paths:
            for field_name, info in load(path).model_fields.items():
                if isinstance(info.validation_alias, str):
                    names.setdefault(info.validation_alias, set()).add(field_name)
    assert {env: attrs for env, attrs in names.items() if len(attrs) > 1} == {}
    assert names["MESSAGE_MAX_CHARS"] == {"message_max_chars"}
