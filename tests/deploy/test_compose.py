"""docker-compose.yml: valid against the compose specification's schema (the one docker compose
itself embeds), its settings consistent with .env.example, and the stack wired as the issue asks:
a MongoDB replica set, RabbitMQ, the services with healthchecks and ordered start-up, two realtime
replicas, one published port."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest

from tests.deploy.manifests import (
    ENV_EXAMPLE,
    GATEWAY_PORT,
    ROOT,
    SERVICE_PORT,
    InterpolationError,
    compose_environment,
    compose_schema,
    compose_variables,
    interpolate,
    load_compose,
    load_compose_raw,
    read_env_file,
)

pytestmark = pytest.mark.deploy

APP_SERVICES = ("auth", "conversations", "realtime-1", "realtime-2")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


def schema_errors(document: Any) -> list[str]:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator.iter_errors(document)
    ]


def test_matches_the_compose_specification_as_written_and_as_interpolated(
    compose: dict[str, Any],
) -> None:
    assert schema_errors(load_compose_raw()) == []
    assert schema_errors(compose) == []
    assert schema_errors(load_compose(read_env_file(ENV_EXAMPLE))) == []


def test_schema_check_is_not_vacuous(compose: dict[str, Any]) -> None:
    broken = {**compose, "services": {**compose["services"]}}
    broken["services"]["auth"] = {**compose["services"]["auth"], "helthcheck": {}}
    assert any("helthcheck" in e for e in schema_errors(broken))


def test_interpolation_follows_compose_rules() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET:-d} ${UNSET:-d} ${EMPTY:-d} ${EMPTY-d}", env) == "x d d "
    assert interpolate("${UNSET:-a${SET}b}", env) == "axb"
    assert interpolate("$$SET $SET", env) == "$SET x"
    with pytest.raises(InterpolationError):
        interpolate("${EMPTY:?needed}", env)


def test_env_example_lists_exactly_the_variables_compose_reads() -> None:
    assert set(read_env_file(ENV_EXAMPLE)) == compose_variables()


def test_env_example_values_are_the_compose_defaults(compose: dict[str, Any]) -> None:
    # Copying .env.example to .env changes nothing: it documents the defaults, it does not
    # introduce different ones.
    assert load_compose(read_env_file(ENV_EXAMPLE)) == compose


def test_production_secrets_have_no_default() -> None:
    example = read_env_file(ENV_EXAMPLE)
    assert example["JWT_PRIVATE_KEY"] == ""
    assert example["ENVIRONMENT"] == "development"


def test_services_and_volumes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {
        "mongo",
        "rabbitmq",
        "gateway",
        "notifications",
        "mailpit",
        *APP_SERVICES,
    }
    declared = set(compose.get("volumes") or {})
    used = {
        v.split(":")[0]
        for s in services.values()
        for v in s.get("volumes", [])
        if isinstance(v, str) and not v.startswith((".", "/"))
    }
    assert used == declared, "every named volume is declared and used"
    assert {"mongo-data", "rabbitmq-data", "auth-data"} <= declared


def test_mongodb_is_a_replica_set_initiated_by_its_healthcheck(compose: dict[str, Any]) -> None:
    mongo = compose["services"]["mongo"]
    assert re.fullmatch(r"mongo:[89](\.\d+)*", mongo["image"])
    command = mongo["command"]
    assert command[command.index("--replSet") + 1] == "rs0"
    check = " ".join(mongo["healthcheck"]["test"])
    assert "rs.initiate" in check and "host: 'mongo:27017'" in check
    assert "isWritablePrimary" in check
    for name in ("auth", "conversations"):
        uri = compose_environment(compose["services"][name])["MONGO_URI"]
        assert uri == "mongodb://mongo:27017/?replicaSet=rs0"


def test_rabbitmq_healthcheck_and_credentials_match_the_services(compose: dict[str, Any]) -> None:
    rabbit = compose["services"]["rabbitmq"]
    assert rabbit["image"].startswith("rabbitmq:4")
    assert rabbit["healthcheck"]["test"] == ["CMD", "rabbitmq-diagnostics", "-q", "ping"]
    assert rabbit["hostname"] == "rabbitmq"
    user = rabbit["environment"]["RABBITMQ_DEFAULT_USER"]
    password = rabbit["environment"]["RABBITMQ_DEFAULT_PASS"]
    for name in APP_SERVICES:
        url = compose_environment(compose["services"][name])["AMQP_URL"]
        assert url == f"amqp://{user}:{password}@rabbitmq:5672/"


def test_every_dependency_waits_for_a_healthy_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        assert "healthcheck" in service or name == "gateway", f"{name} has no healthcheck"
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert rule == {"condition": "service_healthy"}, f"{name} -> {dependency}: {rule}"
            assert "healthcheck" in services[dependency]
    assert set(services["gateway"]["depends_on"]) == set(APP_SERVICES)
    assert {"mongo", "rabbitmq"} <= set(services["auth"]["depends_on"])


def test_app_services_are_built_from_their_dockerfiles_and_checked_for_readiness(
    compose: dict[str, Any],
) -> None:
    for name in (*APP_SERVICES, "notifications", "gateway"):
        service = compose["services"][name]
        build = service["build"]
        assert build["context"] == "."
        assert (ROOT / build["dockerfile"]).is_file()
        assert service["restart"] == "unless-stopped"
        if name != "gateway":
            # One Dockerfile for every service, the service named by its build argument.
            assert build["dockerfile"] == "services/Dockerfile"
            assert build["args"] == {"SERVICE": name.removesuffix("-1").removesuffix("-2")}
            assert service["image"] == f"workcity/{build['args']['SERVICE']}:local"
    for name in APP_SERVICES:
        test = " ".join(compose["services"][name]["healthcheck"]["test"])
        assert f"http://127.0.0.1:{SERVICE_PORT}/readyz" in test
    realtime = [compose["services"][n] for n in ("realtime-1", "realtime-2")]
    assert realtime[0]["build"] == realtime[1]["build"]
    assert realtime[0]["image"] == realtime[1]["image"]


def test_only_the_gateway_is_published(compose: dict[str, Any]) -> None:
    published = {name: s["ports"] for name, s in compose["services"].items() if s.get("ports")}
    # Besides the gateway, only the development mail catcher's web UI, on this machine only.
    assert published == {"gateway": [f"8080:{GATEWAY_PORT}"], "mailpit": ["127.0.0.1:8025:8025"]}
    env = compose_environment(compose["services"]["gateway"])
    assert env["GATEWAY_PORT"] == str(GATEWAY_PORT)


def test_gateway_upstreams_are_the_compose_services(compose: dict[str, Any]) -> None:
    env = compose_environment(compose["services"]["gateway"])
    upstreams = {
        env["AUTH_UPSTREAM"],
        env["CONVERSATIONS_UPSTREAM"],
        env["REALTIME_UPSTREAM_1"],
        env["REALTIME_UPSTREAM_2"],
    }
    assert upstreams == {f"{name}:{SERVICE_PORT}" for name in APP_SERVICES}


def test_service_urls_point_at_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ("conversations", "realtime-1", "realtime-2"):
        env = compose_environment(services[name])
        assert env["JWKS_URL"] == f"http://auth:{SERVICE_PORT}/api/auth/.well-known/jwks.json"
    for name in ("realtime-1", "realtime-2"):
        env = compose_environment(services[name])
        assert env["CONVERSATIONS_URL"] == f"http://conversations:{SERVICE_PORT}"
    auth = compose_environment(services["auth"])
    assert auth["DATA_DIR"] == "/data"
    assert "auth-data:/data" in services["auth"]["volumes"]
