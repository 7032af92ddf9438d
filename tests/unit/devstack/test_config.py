"""Ports and the environment each service of the local stack gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.devstack.config import (
    DEFAULT_ADMIN_EMAIL,
    SERVICES,
    Service,
    StackConfig,
    ports_from_env,
)
from scripts.devstack.errors import StackError


def test_default_ports_follow_the_conventions() -> None:
    assert ports_from_env(0, environ={}) == {
        "gateway": 8080,
        "auth": 8001,
        "conversations": 8002,
        "realtime-1": 8003,
        "realtime-2": 8004,
        "notifications": 8005,
        "mail": 1025,
        "secantus": 27017,
    }


def test_offset_shifts_every_port_and_variables_win() -> None:
    ports = ports_from_env(100, environ={"GATEWAY_PORT": "9000"})
    assert ports["gateway"] == 9000
    assert ports["auth"] == 8101
    assert ports["secantus"] == 27117


def test_the_original_backends_port_is_the_gateways_unless_gateway_port_is_set() -> None:
    # An environment carried over from the original Node backend sets PORT.
    assert ports_from_env(0, environ={"PORT": "5000"})["gateway"] == 5000
    assert ports_from_env(100, environ={"PORT": "5000"})["auth"] == 8101
    both = ports_from_env(0, environ={"PORT": "5000", "GATEWAY_PORT": "9000"})
    assert both["gateway"] == 9000
    assert ports_from_env(0, environ={"PORT": ""})["gateway"] == 8080
    with pytest.raises(StackError, match="PORT='x'"):
        ports_from_env(0, environ={"PORT": "x"})


@pytest.mark.parametrize(
    "environ", [{"GATEWAY_PORT": "http"}, {"AUTH_PORT": "70000"}, {"AUTH_PORT": "8080"}]
)
def test_bad_ports_are_refused(environ: dict[str, str]) -> None:
    with pytest.raises(StackError):
        ports_from_env(0, environ=environ)


def _config(**overrides: object) -> StackConfig:
    settings: dict[str, object] = {
        "run_dir": Path("/srv/run"),
        "ports": ports_from_env(0, environ={}),
        "base_env": {"PATH": "/usr/bin", "MONGO_DB": "shared", "JWKS_URL": "http://elsewhere"},
    }
    settings.update(overrides)
    return StackConfig(**settings)  # type: ignore[arg-type]


def _service(name: str) -> Service:
    return next(service for service in SERVICES if service.name == name)


def test_service_environment_wires_the_stack_together() -> None:
    config = _config()
    env = config.service_env(_service("realtime-2"), "mongodb://db/?retryWrites=false", "amqp://q/")
    assert env["MONGO_URI"] == "mongodb://db/?retryWrites=false"
    assert env["AMQP_URL"] == "amqp://q/"
    assert env["JWKS_URL"] == "http://127.0.0.1:8001/api/auth/.well-known/jwks.json"
    assert env["CONVERSATIONS_URL"] == "http://127.0.0.1:8002"
    assert env["ENVIRONMENT"] == "development"
    assert env["REPLICA_ID"] == "realtime-2"
    # The gateway maps session ids "r2.…" to REALTIME_UPSTREAM_2, this replica's port.
    assert env["SOCKET_SID_PREFIX"] == "r2"
    assert env["PATH"] == "/usr/bin"
    # One MONGO_DB from the shell would put every service in one database.
    assert "MONGO_DB" not in env


def test_auth_gets_its_data_dir_and_the_development_admin() -> None:
    env = _config().service_env(_service("auth"), "mongodb://db/", "amqp://q/")
    assert env["DATA_DIR"] == "/srv/run/data/auth"
    assert env["ADMIN_EMAIL"] == DEFAULT_ADMIN_EMAIL
    assert env["ADMIN_PASSWORD"] == "admin-dev-password"


def test_extra_environment_and_database_prefix() -> None:
    config = _config(
        extra_env={"BCRYPT_ROUNDS": "4", "ADMIN_EMAIL": "boss@workcity.example"},
        mongo_db_prefix="e2e_ab_",
    )
    env = config.service_env(_service("auth"), "mongodb://db/", "amqp://q/")
    assert env["BCRYPT_ROUNDS"] == "4"
    assert env["ADMIN_EMAIL"] == "boss@workcity.example"
    assert config.admin_email == "boss@workcity.example"
    assert env["MONGO_DB"] == "e2e_ab_auth"


def test_conversations_reaches_auth_internally_with_a_development_token() -> None:
    env = _config().service_env(_service("conversations"), "mongodb://db/", "amqp://q/")
    assert env["AUTH_INTERNAL_URL"] == "http://127.0.0.1:8001"
    assert env["INTERNAL_API_TOKEN"] == "workcity-dev-internal-token"
    shell = _config(base_env={"INTERNAL_API_TOKEN": "from-the-shell"})
    env = shell.service_env(_service("conversations"), "mongodb://db/", "amqp://q/")
    assert env["INTERNAL_API_TOKEN"] == "from-the-shell"
