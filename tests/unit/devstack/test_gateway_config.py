"""The gateway template renders the same way in Python (local stack) and with envsubst (the
nginx image), nginx accepts the result, and no value can inject configuration."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from scripts.devstack.errors import StackError
from scripts.devstack.gateway import (
    DEFAULT_FRONTEND_DIR,
    GATEWAY_DEFAULTS,
    GATEWAY_VARIABLES,
    TEMPLATE_PATH,
    GatewayFiles,
    find_nginx,
    gateway_values,
    render_gateway_conf,
    render_template,
)

ADDRESSES = {
    "GATEWAY_PORT": "127.0.0.1:18080",
    "AUTH_UPSTREAM": "127.0.0.1:18001",
    "CONVERSATIONS_UPSTREAM": "127.0.0.1:18002",
    "REALTIME_UPSTREAM_1": "127.0.0.1:18003",
    "REALTIME_UPSTREAM_2": "127.0.0.1:18004",
}


def test_template_uses_exactly_the_documented_variables() -> None:
    template = TEMPLATE_PATH.read_text()
    used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", template))
    assert used == set(GATEWAY_VARIABLES)
    # envsubst replaces $NAME as well as ${NAME}: every bare $name must be nginx's (lower case),
    # so an environment variable can never be pasted into the configuration by accident.
    bare = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", template))
    assert all(name == name.lower() for name in bare), bare


def test_defaults_for_the_limits() -> None:
    values = gateway_values(ADDRESSES, environ={})
    assert values == {
        **ADDRESSES,
        **GATEWAY_DEFAULTS,
        "FRONTEND_DIR": str(DEFAULT_FRONTEND_DIR),
        # Development: any origin.
        "GATEWAY_CORS_ORIGIN_MAP": '"~." $http_origin;',
    }
    assert GATEWAY_DEFAULTS["GATEWAY_UPLOAD_MAX_BODY"] == "26m"  # a 25 MB attachment + multipart
    assert GATEWAY_DEFAULTS["GATEWAY_MAX_BODY"] == "64k"  # every other route: small JSON


def test_limits_come_from_overrides_then_environment() -> None:
    environ = {"GATEWAY_AUTH_RATE": "5r/m", "GATEWAY_AUTH_BURST": "7"}
    values = gateway_values({**ADDRESSES, "GATEWAY_AUTH_BURST": "9"}, environ=environ)
    assert values["GATEWAY_AUTH_RATE"] == "5r/m"
    assert values["GATEWAY_AUTH_BURST"] == "9"


def test_cors_and_frontend_come_from_the_services_environment(tmp_path: Path) -> None:
    environ = {
        "ENVIRONMENT": "production",
        "FRONTEND_URL": "https://shop.example/app",
        "FRONTEND_DIR": str(tmp_path),
    }
    values = gateway_values(ADDRESSES, environ=environ)
    assert values["GATEWAY_CORS_ORIGIN_MAP"] == '"https://shop.example" $http_origin;'
    assert values["FRONTEND_DIR"] == str(tmp_path)
    assert (
        gateway_values(ADDRESSES, environ={"ENVIRONMENT": "production"})["GATEWAY_CORS_ORIGIN_MAP"]
        == ""
    )
    with pytest.raises(StackError, match="CORS"):
        gateway_values(ADDRESSES, environ={"CORS_ORIGINS": 'https://a.example" $x; "'})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FRONTEND_DIR", '/srv/x"; include /etc/passwd; "'),
        ("GATEWAY_FRONTEND_CSP", "default-src 'self'\"; x"),
        ("GATEWAY_PORT", "8080; include /etc/passwd"),
        ("AUTH_UPSTREAM", "auth:8000;\n}"),
        ("GATEWAY_AUTH_RATE", "10r/s burst=1000"),
        ("GATEWAY_AUTH_RATE", "10"),
        ("GATEWAY_MAX_BODY", "26m;"),
        ("GATEWAY_AUTH_BURST", "-1"),
    ],
)
def test_malformed_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(StackError, match=name):
        gateway_values({**ADDRESSES, name: value}, environ={})


def test_missing_address_is_refused() -> None:
    partial = {k: v for k, v in ADDRESSES.items() if k != "AUTH_UPSTREAM"}
    with pytest.raises(StackError, match="AUTH_UPSTREAM"):
        gateway_values(partial, environ={})


def test_substitution_leaves_nginx_variables_alone() -> None:
    text = 'listen ${GATEWAY_PORT}; set $x "$remote_addr $GATEWAY_PORTX ${other}";'
    rendered = render_template(text, {"GATEWAY_PORT": "80"})
    assert rendered == 'listen 80; set $x "$remote_addr $GATEWAY_PORTX ${other}";'


@pytest.mark.skipif(shutil.which("envsubst") is None, reason="envsubst (gettext-base) missing")
def test_python_rendering_matches_envsubst_as_the_nginx_image_runs_it() -> None:
    values = gateway_values(ADDRESSES, environ={})
    # The image runs envsubst with the list of every defined variable (PATH, HOME, ... included).
    env = {"PATH": "/usr/bin:/bin", "HOME": "/root", "HOSTNAME": "gateway", **values}
    shell_format = " ".join(f"${{{name}}}" for name in env)
    result = subprocess.run(
        ["envsubst", shell_format],
        input=TEMPLATE_PATH.read_text(),
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert result.stdout == render_gateway_conf(values)


@pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")
def test_nginx_accepts_the_rendered_configuration(tmp_path: Path) -> None:
    nginx = find_nginx()
    assert nginx is not None
    files = GatewayFiles(nginx, tmp_path)
    files.write(gateway_values(ADDRESSES, environ={}))
    files.check()  # nginx -t
    conf = files.gateway_conf.read_text()
    assert "listen 127.0.0.1:18080 default_server;" in conf
    assert "server 127.0.0.1:18003 max_fails=1 fail_timeout=5s;" in conf
    assert "rate=10r/s;" in conf
    assert "client_max_body_size 26m;" in conf


@pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")
def test_nginx_check_reports_errors(tmp_path: Path) -> None:
    nginx = find_nginx()
    assert nginx is not None
    files = GatewayFiles(nginx, tmp_path)
    files.write(gateway_values(ADDRESSES, environ={}))
    files.gateway_conf.write_text(files.gateway_conf.read_text() + "\nnot_a_directive on;\n")
    with pytest.raises(StackError, match="not_a_directive"):
        files.check()
