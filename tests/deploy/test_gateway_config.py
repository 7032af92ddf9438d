"""The gateway configuration as its container renders it: the template with the container's
environment (docker compose's, and Kubernetes' plus the real-IP snippet the manifests add), run
through `nginx -t`. Upstream host names are replaced by 127.0.0.1 since `nginx -t` resolves them
and compose or cluster names do not resolve here; everything else is what the container gets."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.manifests import (
    GATEWAY_TEMPLATE,
    K8S,
    by_kind,
    compose_environment,
    gateway_container_env,
    load_compose,
    pod_spec,
    render_overlay,
)

pytestmark = pytest.mark.deploy

UPSTREAMS = (
    "AUTH_UPSTREAM",
    "CONVERSATIONS_UPSTREAM",
    "REALTIME_UPSTREAM_1",
    "REALTIME_UPSTREAM_2",
)


def render_like_the_image(template: str, env: dict[str, str]) -> str:
    """The official image's 20-envsubst-on-templates.sh: only variables that are set are
    replaced, the rest is left as written."""
    return re.sub(
        r"\$(\{)?([A-Za-z_]\w*)(?(1)\})",
        lambda m: env.get(m.group(2), m.group(0)),
        template,
    )


def nginx_test(tmp_path: Path, includes: list[str]) -> subprocess.CompletedProcess[str]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    assert Path(nginx).is_file(), "nginx is needed (Debian package nginx), as for the e2e tests"
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    for index, text in enumerate(includes):
        (conf_d / f"{index}.conf").write_text(text)
    # The shape of the official image's nginx.conf after gateway/Dockerfile's edits.
    main = tmp_path / "nginx.conf"
    main.write_text(
        f"worker_processes 1;\nerror_log {tmp_path}/error.log notice;\npid {tmp_path}/nginx.pid;\n"
        "events { worker_connections 64; }\n"
        "http {\n"
        f"    client_body_temp_path {tmp_path}/client_temp;\n"
        f"    proxy_temp_path {tmp_path}/proxy_temp;\n"
        f"    fastcgi_temp_path {tmp_path}/fastcgi_temp;\n"
        f"    uwsgi_temp_path {tmp_path}/uwsgi_temp;\n"
        f"    scgi_temp_path {tmp_path}/scgi_temp;\n"
        f"    access_log {tmp_path}/access.log;\n"
        f"    include {conf_d}/*.conf;\n"
        "}\n"
    )
    return subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(main)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def local(env: dict[str, str]) -> dict[str, str]:
    return {
        key: re.sub(r"^[^:]+:", "127.0.0.1:", value) if key in UPSTREAMS else value
        for key, value in env.items()
    }


def test_compose_gateway_configuration_is_valid(tmp_path: Path) -> None:
    env = gateway_container_env(compose_environment(load_compose()["services"]["gateway"]))
    config = render_like_the_image(GATEWAY_TEMPLATE.read_text(), local(env))
    assert "${" not in config
    result = nginx_test(tmp_path, [config])
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_kubernetes_gateway_configuration_is_valid(overlay: str, tmp_path: Path) -> None:
    objects = render_overlay(overlay)
    (container,) = pod_spec(by_kind(objects, "Deployment")["gateway"])["containers"]
    config_maps = by_kind(objects, "ConfigMap")

    def value(var: dict[str, Any]) -> str:
        if "value" in var:
            return str(var["value"])
        ref = var["valueFrom"]["configMapKeyRef"]
        return str(config_maps[ref["name"]]["data"][ref["key"]])

    env = gateway_container_env({var["name"]: value(var) for var in container["env"]})
    config = render_like_the_image(GATEWAY_TEMPLATE.read_text(), local(env))
    real_ip_map = next(
        c for n, c in by_kind(objects, "ConfigMap").items() if n.startswith("gateway-real-ip")
    )
    real_ip = render_like_the_image(real_ip_map["data"]["real-ip.conf.template"], env)
    assert "real_ip_header X-Real-IP;" in real_ip
    result = nginx_test(tmp_path, [config, real_ip])
    assert result.returncode == 0, result.stderr


def sid_routes(template: str) -> dict[str, str]:
    """The gateway's `map $arg_sid`: session-id prefix -> the REALTIME_UPSTREAM_<N> it names."""
    body = re.search(r"map \$arg_sid \$realtime_upstream \{(.*?)\}", template, re.S)
    assert body, "the gateway no longer maps ?sid= to a replica"
    upstreams = dict(re.findall(r"upstream (realtime_\d+) \{\s*server \$\{(\w+)\};", template))
    routes = dict(re.findall(r'"~\^(\w+)\\\."\s+(realtime_\d+);', body.group(1)))
    return {prefix: upstreams[name] for prefix, name in routes.items()}


def test_each_replica_prefixes_its_session_ids_as_the_gateway_routes_them() -> None:
    # A long-polling session's requests follow its `sid` prefix: the replica behind
    # REALTIME_UPSTREAM_<N> must be the one that makes ids with that prefix, or its polling
    # clients get "Session ID unknown".
    routes = sid_routes(GATEWAY_TEMPLATE.read_text())
    assert routes == {"r1": "REALTIME_UPSTREAM_1", "r2": "REALTIME_UPSTREAM_2"}
    services = load_compose()["services"]
    gateway = compose_environment(services["gateway"])
    for prefix, variable in routes.items():
        (service,) = [n for n in services if f"{n}:8000" == gateway[variable]]
        assert compose_environment(services[service])["SOCKET_SID_PREFIX"] == prefix


def test_nginx_check_is_not_vacuous(tmp_path: Path) -> None:
    broken = (K8S / "base" / "gateway-real-ip.conf.template").read_text() + "real_ip_header;\n"
    result = nginx_test(tmp_path, [broken])
    assert result.returncode != 0
    assert "real_ip_header" in result.stderr
