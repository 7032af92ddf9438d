"""The original Node backend's PORT: the gateway image listens there when GATEWAY_PORT is unset
(gateway/entrypoint/10-workcity-port.envsh), and its healthcheck asks the same port; compose
publishes the gateway on GATEWAY_PORT, else PORT."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.deploy.manifests import (
    ROOT,
    exec_form,
    gateway_container_env,
    load_compose,
    parse_dockerfile,
)

pytestmark = pytest.mark.deploy


@pytest.mark.parametrize(
    ("env", "port"),
    [
        ({}, "8080"),
        ({"PORT": "5000"}, "5000"),
        ({"PORT": "5000", "GATEWAY_PORT": "9000"}, "9000"),
        # docker compose passes an unset ${X:-} as an empty string.
        ({"PORT": "5000", "GATEWAY_PORT": ""}, "5000"),
        ({"PORT": "", "GATEWAY_PORT": ""}, "8080"),
    ],
)
def test_the_image_listens_on_gateway_port_else_port(env: dict[str, str], port: str) -> None:
    assert gateway_container_env(env)["GATEWAY_PORT"] == port


@pytest.mark.parametrize(
    ("env", "url"),
    [
        ({}, "http://127.0.0.1:8080/healthz"),
        ({"PORT": "5000"}, "http://127.0.0.1:5000/healthz"),
        ({"PORT": "5000", "GATEWAY_PORT": "0.0.0.0:9000"}, "http://127.0.0.1:9000/healthz"),
    ],
)
def test_the_healthcheck_asks_the_port_the_gateway_listens_on(
    env: dict[str, str], url: str, tmp_path: Path
) -> None:
    # The HEALTHCHECK runs with the container's environment, not the entrypoint's exports: run
    # its command with a wget that prints the address it was given.
    stage = parse_dockerfile(ROOT / "gateway" / "Dockerfile")[-1]
    command = exec_form((stage.last("HEALTHCHECK") or "").split(" CMD ", 1)[1])
    wget = tmp_path / "wget"
    wget.write_text('#!/bin/sh\nfor a in "$@"; do last="$a"; done; printf "%s" "$last"\n')
    wget.chmod(0o755)
    result = subprocess.run(
        command,
        env={"PATH": f"{tmp_path}{os.pathsep}/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == url


@pytest.mark.parametrize(
    ("env", "published"),
    [
        ({}, "8080:8080"),
        ({"PORT": "5000"}, "5000:8080"),
        ({"PORT": "5000", "GATEWAY_PORT": "9000"}, "9000:8080"),
    ],
)
def test_compose_publishes_the_gateway_on_gateway_port_else_port(
    env: dict[str, str], published: str
) -> None:
    assert load_compose(env)["services"]["gateway"]["ports"] == [published]
