"""What a local stack is made of: its ports, its run directory, the environment of each service."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from scripts.devstack.errors import StackError
from scripts.devstack.gateway import REPO_ROOT

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
# The development admin every fresh local stack gets (documented in the README).
DEFAULT_ADMIN_EMAIL = "admin@workcity.local"
# Refused in production like every placeholder (workcity_common.settings.PLACEHOLDER_SECRETS).
DEV_INTERNAL_API_TOKEN = "workcity-dev-internal-token"  # noqa: S105 - development only
DEFAULT_ADMIN_PASSWORD = "admin-dev-password"  # noqa: S105 - development only, documented


@dataclass(frozen=True)
class Service:
    """One process of a workspace service (`realtime` runs as two replicas)."""

    name: str  # process name: auth, conversations, realtime-1, realtime-2
    package: str  # services/<package>, import workcity_<package>

    @property
    def main_module(self) -> Path:
        return (
            REPO_ROOT / "services" / self.package / "src" / f"workcity_{self.package}" / "main.py"
        )

    @property
    def present(self) -> bool:
        # Services are written one at a time: run only those whose composition root exists.
        return (REPO_ROOT / "services" / self.package / "pyproject.toml").exists() and (
            self.main_module.exists()
        )


SERVICES: tuple[Service, ...] = (
    Service("auth", "auth"),
    Service("conversations", "conversations"),
    Service("realtime-1", "realtime"),
    Service("realtime-2", "realtime"),
    Service("notifications", "notifications"),
)

# Process name -> (default port, environment variable that sets it).
DEFAULT_PORTS: dict[str, tuple[int, str]] = {
    "gateway": (8080, "GATEWAY_PORT"),
    "auth": (8001, "AUTH_PORT"),
    "conversations": (8002, "CONVERSATIONS_PORT"),
    "realtime-1": (8003, "REALTIME_PORT_1"),
    "realtime-2": (8004, "REALTIME_PORT_2"),
    "notifications": (8005, "NOTIFICATIONS_PORT"),
    # The development mail catcher notifications sends to (scripts/devstack/mailcatcher.py).
    "mail": (1025, "MAIL_CATCHER_PORT"),
    "secantus": (27017, "SECANTUS_PORT"),
}


# The original Node backend listened on PORT: the gateway is our single front door, so an
# environment carried over from it keeps its port when GATEWAY_PORT is unset.
FALLBACK_PORT_VARIABLES: dict[str, str] = {"gateway": "PORT"}


def ports_from_env(offset: int = 0, environ: Mapping[str, str] | None = None) -> dict[str, int]:
    """Each port from its variable (the gateway's from GATEWAY_PORT, else PORT), else its default
    shifted by `offset` (DEV_PORT_OFFSET), so a second stack can run beside the first with one
    number."""
    environ = os.environ if environ is None else environ
    ports = {}
    for name, (default, variable) in DEFAULT_PORTS.items():
        raw = environ.get(variable)
        fallback = FALLBACK_PORT_VARIABLES.get(name)
        if not raw and fallback and environ.get(fallback):
            variable, raw = fallback, environ[fallback]
        try:
            ports[name] = int(raw) if raw else default + offset
        except ValueError:
            raise StackError(f"{variable}={raw!r} is not a port number") from None
        if not 0 < ports[name] < 65536:
            raise StackError(f"{variable}: port {ports[name]} is out of range")
    if len(set(ports.values())) != len(ports):
        raise StackError(f"two processes would share a port: {ports}")
    return ports


@dataclass(frozen=True)
class StackConfig:
    run_dir: Path
    ports: Mapping[str, int]
    # None: SecantusDB is started; otherwise the MongoDB every service connects to.
    mongo_uri: str | None = None
    persist: bool = False
    amqp_url: str = DEFAULT_AMQP_URL
    # A RabbitMQ virtual host created for this stack and deleted with it (test stacks).
    private_vhost: str | None = None
    # With a shared MongoDB, each service's database gets this prefix (test stacks).
    mongo_db_prefix: str | None = None
    # Values for the gateway template (limits); addresses are filled in from `ports`.
    gateway: Mapping[str, str] = field(default_factory=dict)
    # Environment for every service, over the stack's own wiring (BCRYPT_ROUNDS=4, ...).
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # The base environment services inherit; None means this process's environment.
    base_env: Mapping[str, str] | None = None
    start_timeout_s: float = 120.0
    install_missing: bool = True

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def data_dir(self) -> Path:
        return self.run_dir / "data"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "state.json"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def environ(self) -> dict[str, str]:
        return dict(os.environ if self.base_env is None else self.base_env)

    @property
    def admin_email(self) -> str:
        return (
            self.extra_env.get("ADMIN_EMAIL")
            or self.environ().get("ADMIN_EMAIL")
            or DEFAULT_ADMIN_EMAIL
        )

    @property
    def admin_password(self) -> str:
        return (
            self.extra_env.get("ADMIN_PASSWORD")
            or self.environ().get("ADMIN_PASSWORD")
            or DEFAULT_ADMIN_PASSWORD
        )

    def service_env(self, service: Service, mongo_uri: str, amqp_url: str) -> dict[str, str]:
        """The environment of one service process (conventions in the PREAMBLE / README)."""
        env = self.environ()
        env.setdefault("ENVIRONMENT", "development")
        env.setdefault("LOG_LEVEL", "INFO")
        env.setdefault("PYTHONUNBUFFERED", "1")
        # The stack's own wiring wins over whatever the shell happens to carry.
        env["MONGO_URI"] = mongo_uri
        env["AMQP_URL"] = amqp_url
        env["JWKS_URL"] = f"http://127.0.0.1:{self.ports['auth']}/api/auth/.well-known/jwks.json"
        env["CONVERSATIONS_URL"] = f"http://127.0.0.1:{self.ports['conversations']}"
        # Auth's internal routes (conversations copies the users that existed before its event
        # queue did); a development secret unless the shell sets one.
        env["AUTH_INTERNAL_URL"] = f"http://127.0.0.1:{self.ports['auth']}"
        env.setdefault("INTERNAL_API_TOKEN", DEV_INTERNAL_API_TOKEN)
        # One MONGO_DB from the shell would put every service in the same database.
        env.pop("MONGO_DB", None)
        if self.mongo_db_prefix:
            env["MONGO_DB"] = f"{self.mongo_db_prefix}{service.package}"
        if service.package == "auth":
            env["DATA_DIR"] = str(self.data_dir / "auth")
            env["ADMIN_EMAIL"] = self.admin_email
            env["ADMIN_PASSWORD"] = self.admin_password
        if service.package == "realtime":
            env["REPLICA_ID"] = service.name
            # The gateway sends a session id "r<N>.…" to REALTIME_UPSTREAM_<N> (realtime-<N>).
            env["SOCKET_SID_PREFIX"] = "r" + service.name.rsplit("-", 1)[1]
            # uvicorn compresses every websocket frame unless told not to (README).
            env.setdefault("UVICORN_WS_PER_MESSAGE_DEFLATE", "false")
        if service.package == "notifications":
            env["SMTP_HOST"] = "127.0.0.1"
            env["SMTP_PORT"] = str(self.ports["mail"])
            env.setdefault("FRONTEND_URL", self.gateway_url)
        env.update(self.extra_env)
        return env
