"""The gateway for the local stack: the container's nginx template, rendered in Python.

`gateway/templates/gateway.conf.template` is the one configuration. The official nginx image
renders it with envsubst; here `render_template` does the same substitution (only the named
variables, `${NAME}` or `$NAME`, everything else left alone), and `render_main_conf` wraps it in
the few main-level lines a container's /etc/nginx/nginx.conf would otherwise provide, with every
path inside the run directory so nginx needs no root and touches nothing outside it.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

from workcity_common import cors

from scripts.devstack.errors import StackError

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "gateway" / "templates" / "gateway.conf.template"
# Where the local stack serves a built frontend from (FRONTEND_DIR overrides it).
DEFAULT_FRONTEND_DIR = REPO_ROOT / "web" / "dist"
# What a built single-page app needs and nothing more; the same value as gateway/Dockerfile's.
DEFAULT_FRONTEND_CSP = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data: blob:; "
    "style-src 'self' 'unsafe-inline'; font-src 'self' data:; object-src 'none'; "
    "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
)

# Every variable the template uses, with what a value must look like (a value is pasted into the
# configuration, so nothing that could end a directive or open a block gets through).
_HOST_PORT = r"[A-Za-z0-9.\-]+:\d{1,5}|\[[0-9A-Fa-f:]+\]:\d{1,5}"
GATEWAY_VARIABLES: dict[str, str] = {
    "GATEWAY_PORT": rf"\d{{1,5}}|{_HOST_PORT}",
    "AUTH_UPSTREAM": _HOST_PORT,
    "CONVERSATIONS_UPSTREAM": _HOST_PORT,
    "REALTIME_UPSTREAM_1": _HOST_PORT,
    "REALTIME_UPSTREAM_2": _HOST_PORT,
    "GATEWAY_AUTH_RATE": r"\d+r/[sm]",
    "GATEWAY_AUTH_BURST": r"\d+",
    "GATEWAY_MAX_BODY": r"\d+[kKmMgG]?",
    "GATEWAY_UPLOAD_MAX_BODY": r"\d+[kKmMgG]?",
    "GATEWAY_SOCKET_MAX_BODY": r"\d+[kKmMgG]?",
    "GATEWAY_CONN_PER_CLIENT": r"[1-9]\d*",
    # Pasted inside double quotes: no quote, no variable, no escape, one line.
    "FRONTEND_DIR": r"/[^\"$\\\n;{}]*",
    "GATEWAY_FRONTEND_CSP": r"[^\"$\\\n{}]+",
    # Built by workcity_common.cors from checked origins, never taken from outside.
    "GATEWAY_CORS_ORIGIN_MAP": r'(?:"(?:~\.|https?://[a-z0-9.:\[\]-]+)" \$http_origin;(?: |$))*',
}

# Defaults for the limits; the addresses always come from the stack that runs the gateway.
GATEWAY_DEFAULTS: dict[str, str] = {
    "GATEWAY_AUTH_RATE": "10r/s",
    "GATEWAY_AUTH_BURST": "20",
    "GATEWAY_MAX_BODY": "64k",
    "GATEWAY_UPLOAD_MAX_BODY": "26m",
    "GATEWAY_SOCKET_MAX_BODY": "1m",
    "GATEWAY_CONN_PER_CLIENT": "100",
    "GATEWAY_FRONTEND_CSP": DEFAULT_FRONTEND_CSP,
}

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")

# Modules whose temp path nginx creates at start-up unless the build left the module out.
_TEMP_PATH_MODULES = ("fastcgi", "uwsgi", "scgi")


def gateway_values(
    overrides: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The template's variables: `overrides`, else the environment for the limits, else defaults.

    Raises StackError when one is missing or malformed.
    """
    environ = os.environ if environ is None else environ
    computed = {
        "FRONTEND_DIR": str(Path(environ.get("FRONTEND_DIR") or DEFAULT_FRONTEND_DIR).resolve()),
        "GATEWAY_CORS_ORIGIN_MAP": cors_origin_map(environ),
    }
    values: dict[str, str] = {}
    for name, shape in GATEWAY_VARIABLES.items():
        value = overrides.get(name) or computed.get(name)
        if not value and name in GATEWAY_DEFAULTS:
            value = environ.get(name) or GATEWAY_DEFAULTS[name]
        if value is None or (not value and name != "GATEWAY_CORS_ORIGIN_MAP"):
            raise StackError(f"gateway variable {name} has no value")
        if not re.fullmatch(shape, value):
            raise StackError(f"gateway variable {name}={value!r} is not valid")
        values[name] = value
    return values


def cors_origin_map(environ: Mapping[str, str]) -> str:
    """The allowed-origins map entries from CORS_ORIGINS, FRONTEND_URL and ENVIRONMENT, by the
    rule the image's entrypoint/15-workcity-cors.envsh applies."""
    try:
        origins = cors.allowed_origins(
            cors_origins=environ.get("CORS_ORIGINS"),
            frontend_url=environ.get("FRONTEND_URL"),
            environment=environ.get("ENVIRONMENT") or "development",
        )
    except ValueError as exc:
        raise StackError(f"gateway CORS: {exc}") from None
    return cors.nginx_map_entries(origins)


def render_template(template: str, values: Mapping[str, str]) -> str:
    """envsubst with a variable list: replace the named variables, leave nginx's own alone."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return values[name] if name in values else match.group(0)

    return _REFERENCE.sub(replace, template)


def render_gateway_conf(values: Mapping[str, str]) -> str:
    rendered = render_template(TEMPLATE_PATH.read_text(encoding="utf-8"), values)
    leftover = sorted({m for m in re.findall(r"\$\{?([A-Z][A-Z0-9_]*)", rendered)})
    if leftover:
        raise StackError(f"gateway template uses variables with no value: {', '.join(leftover)}")
    return rendered


def find_nginx() -> str | None:
    # /usr/sbin is not on an ordinary user's PATH on Debian.
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


@functools.cache
def _compiled_without(nginx: str) -> frozenset[str]:
    result = subprocess.run([nginx, "-V"], capture_output=True, text=True, check=False)
    return frozenset(re.findall(r"--without-http_(\w+)_module", result.stderr + result.stdout))


def _quote(path: Path) -> str:
    return '"' + str(path).replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_main_conf(nginx: str, prefix: Path, gateway_conf: Path) -> str:
    """The main-level configuration the container image would provide, for a run directory."""
    tmp = prefix / "tmp"
    lines = [
        "# Written by scripts/devstack for the local stack; regenerated on every start.",
        "worker_processes 1;",
        # A proxied websocket holds two connections (client and replica): 5,000 sockets (the
        # benchmark's connections scenario) need more than the default 1,024 and its descriptors.
        "worker_rlimit_nofile 32768;",
        f"pid {_quote(prefix / 'nginx.pid')};",
        "error_log stderr notice;",
    ]
    if os.geteuid() == 0:
        # As root, workers would drop to "nobody", who cannot write the temp directories
        # (request bodies over 16 KB go there) inside a root-owned checkout.
        lines.append("user root;")
    lines += [
        "events {",
        "    worker_connections 16384;",
        "}",
        "http {",
        f"    client_body_temp_path {_quote(tmp / 'client_body')};",
        f"    proxy_temp_path {_quote(tmp / 'proxy')};",
    ]
    without = _compiled_without(nginx)
    lines += [
        f"    {module}_temp_path {_quote(tmp / module)};"
        for module in _TEMP_PATH_MODULES
        if module not in without
    ]
    lines += [f"    include {_quote(gateway_conf)};", "}", ""]
    return "\n".join(lines)


class GatewayFiles:
    """The files of one nginx instance under `prefix`: main conf, rendered template, temp dirs."""

    def __init__(self, nginx: str, prefix: Path) -> None:
        self.nginx = nginx
        self.prefix = prefix
        self.main_conf = prefix / "nginx.conf"
        self.gateway_conf = prefix / "conf.d" / "gateway.conf"

    def write(self, values: Mapping[str, str]) -> None:
        (self.prefix / "tmp").mkdir(parents=True, exist_ok=True)
        self.gateway_conf.parent.mkdir(parents=True, exist_ok=True)
        self.gateway_conf.write_text(render_gateway_conf(values), encoding="utf-8")
        self.main_conf.write_text(
            render_main_conf(self.nginx, self.prefix, self.gateway_conf), encoding="utf-8"
        )

    def argv(self) -> list[str]:
        return [
            self.nginx,
            "-p",
            str(self.prefix),
            "-c",
            str(self.main_conf),
            "-e",
            "stderr",
            "-g",
            "daemon off;",
        ]

    def check(self) -> None:
        """`nginx -t`: a configuration error is reported before anything starts."""
        result = subprocess.run(
            [*self.argv(), "-t"], capture_output=True, text=True, check=False, timeout=30
        )
        if result.returncode != 0:
            raise StackError(f"nginx rejected {self.main_conf}:\n{result.stderr.strip()}")
