"""The gateway image's CORS entrypoint script (gateway/entrypoint/15-workcity-cors.envsh) applies
the same rule as workcity_common.cors, which the local stack and the realtime service use."""

from __future__ import annotations

import subprocess

import pytest
from workcity_common import cors

from tests.deploy.manifests import GATEWAY_CORS_SCRIPT as SCRIPT

pytestmark = pytest.mark.deploy


def run_script(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # Sourced by a POSIX sh, as the image's entrypoint does (busybox ash there, dash here).
    return subprocess.run(
        ["sh", "-c", f'set -e; . "{SCRIPT}"; printf "%s" "$GATEWAY_CORS_ORIGIN_MAP"'],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


CASES = [
    {},
    {"ENVIRONMENT": "test", "FRONTEND_URL": "http://127.0.0.1:8080"},
    {"ENVIRONMENT": "production"},
    {"ENVIRONMENT": "production", "FRONTEND_URL": "https://Shop.example/app/?x=1#y"},
    {"ENVIRONMENT": "production", "FRONTEND_URL": "http://localhost:5173"},
    {"ENVIRONMENT": "production", "CORS_ORIGINS": "*", "FRONTEND_URL": "https://a.example"},
    {"ENVIRONMENT": "production", "CORS_ORIGINS": "", "FRONTEND_URL": "https://a.example"},
    {
        "ENVIRONMENT": "production",
        "CORS_ORIGINS": " https://b.example/, http://localhost:5173 ,https://b.example,",
    },
    {"ENVIRONMENT": "development", "CORS_ORIGINS": "http://[::1]:5173,https://x.example:8443"},
]


@pytest.mark.parametrize("env", CASES)
def test_the_script_and_the_library_agree(env: dict[str, str]) -> None:
    expected = cors.nginx_map_entries(
        cors.allowed_origins(
            cors_origins=env.get("CORS_ORIGINS"),
            frontend_url=env.get("FRONTEND_URL"),
            environment=env.get("ENVIRONMENT") or "development",
        )
    )
    result = run_script(env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected


@pytest.mark.parametrize(
    "env",
    [
        {"CORS_ORIGINS": "https://shop.example/app"},
        {"CORS_ORIGINS": 'https://a.example" $x; "'},
        {"CORS_ORIGINS": "localhost:5173"},
        {"ENVIRONMENT": "production", "FRONTEND_URL": "shop.example"},
    ],
)
def test_a_malformed_origin_stops_the_container(env: dict[str, str]) -> None:
    result = run_script(env)
    assert result.returncode != 0
    assert "15-workcity-cors.envsh" in result.stderr
    with pytest.raises(ValueError):
        cors.allowed_origins(
            cors_origins=env.get("CORS_ORIGINS"),
            frontend_url=env.get("FRONTEND_URL"),
            environment=env.get("ENVIRONMENT") or "development",
        )
