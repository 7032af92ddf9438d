"""The local stack without Docker (scripts/dev), importable so the end-to-end tests run the
very same code: `DevStack(StackConfig(...)).up()` / `.down()`."""

from scripts.devstack.config import (
    DEFAULT_ADMIN_EMAIL,
    DEFAULT_ADMIN_PASSWORD,
    DEFAULT_AMQP_URL,
    DEFAULT_PORTS,
    SERVICES,
    Service,
    StackConfig,
    ports_from_env,
)
from scripts.devstack.errors import StackError
from scripts.devstack.gateway import GatewayFiles, gateway_values, render_gateway_conf
from scripts.devstack.stack import DevStack, ProcessStatus, http_status

__all__ = [
    "DEFAULT_ADMIN_EMAIL",
    "DEFAULT_ADMIN_PASSWORD",
    "DEFAULT_AMQP_URL",
    "DEFAULT_PORTS",
    "SERVICES",
    "DevStack",
    "GatewayFiles",
    "ProcessStatus",
    "Service",
    "StackConfig",
    "StackError",
    "gateway_values",
    "http_status",
    "ports_from_env",
    "render_gateway_conf",
]
