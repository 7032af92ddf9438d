"""What the stack needs from the machine: nginx and a RabbitMQ that answers (and, for the
browser and JavaScript tests and the web app's build, Debian's Chromium, Node.js and npm).

Missing software is named with the exact Debian package; as root (a fresh CI machine) it is
installed with apt-get. A RabbitMQ that is installed but not running is started as the machine's
service (`rabbitmq-server -detached`) and left running afterwards: it is shared by everything on
the machine (other stacks, integration tests), so `scripts/dev down` does not stop it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from scripts.devstack.errors import StackError
from scripts.devstack.gateway import find_nginx

_SBIN = "/usr/sbin:/usr/local/sbin:/usr/lib/rabbitmq/bin"
_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", ""})

Say = Callable[[str], None]


def tcp_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _which(binary: str) -> str | None:
    return shutil.which(binary) or shutil.which(binary, path=_SBIN)


def _is_root() -> bool:
    return os.geteuid() == 0


def _apt_has_candidate(package: str) -> bool:
    result = subprocess.run(
        ["apt-cache", "policy", package], capture_output=True, text=True, check=False
    )
    return "Candidate:" in result.stdout and "Candidate: (none)" not in result.stdout


def apt_install(packages: list[str], say: Say) -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    say(f"installing {' '.join(packages)} with apt-get (running as root)")
    subprocess.run(["apt-get", "update", "-qq"], env=env, check=True, timeout=600)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        env=env,
        check=True,
        timeout=1200,
    )


def ensure_nginx(say: Say, *, install: bool = True) -> str:
    nginx = find_nginx()
    if nginx:
        return nginx
    package = (
        "nginx-light"
        if shutil.which("apt-cache") and _apt_has_candidate("nginx-light")
        else "nginx"
    )
    if install and _is_root() and shutil.which("apt-get"):
        apt_install([package], say)
        nginx = find_nginx()
        if nginx:
            return nginx
    raise StackError(f"nginx is not installed. Install it with: sudo apt-get install -y {package}")


# The browser tests drive Debian's Chromium by this path (Playwright cannot download browsers
# here); CHROMIUM_PATH points them at another build.
CHROMIUM_PATH = "/usr/bin/chromium"


def chromium_path() -> str:
    return os.environ.get("CHROMIUM_PATH") or CHROMIUM_PATH


def ensure_chromium(say: Say, *, install: bool = True) -> str | None:
    """Chromium for tests/browser: installed with apt-get as root, else None (those tests skip
    and say how to install it)."""
    path = chromium_path()
    if os.access(path, os.X_OK):
        return path
    if install and _is_root() and shutil.which("apt-get") and path == CHROMIUM_PATH:
        apt_install(["chromium"], say)
        if os.access(path, os.X_OK):
            return path
    say(
        f"Chromium not found at {path}: the browser tests will skip (sudo apt-get install chromium)"
    )
    return None


# Debian package -> the command it provides.
_NODE_PACKAGES = (("nodejs", "node"), ("npm", "npm"))


def ensure_node(say: Say, *, install: bool = True) -> bool:
    """Node.js and npm, for building web/ and for the socket.io-client and browser tests:
    Debian's `nodejs` and `npm` installed with apt-get as root when missing. False (and said)
    when they are still missing: the web app is not built and those tests skip."""
    missing = [package for package, binary in _NODE_PACKAGES if shutil.which(binary) is None]
    if not missing:
        return True
    if install and _is_root() and shutil.which("apt-get"):
        apt_install(missing, say)
        missing = [package for package, binary in _NODE_PACKAGES if shutil.which(binary) is None]
        if not missing:
            return True
    say(
        f"{' and '.join(missing)} not found: the web app is not built and the JavaScript and "
        f"browser tests skip (sudo apt-get install {' '.join(missing)})"
    )
    return False


def amqp_address(amqp_url: str) -> tuple[str, int]:
    parts = urlsplit(amqp_url)
    default_port = 5671 if parts.scheme == "amqps" else 5672
    return parts.hostname or "127.0.0.1", parts.port or default_port


def ensure_rabbitmq(
    amqp_url: str, say: Say, *, install: bool = True, timeout_s: float = 120
) -> None:
    host, port = amqp_address(amqp_url)
    if tcp_open(host, port):
        return
    if host not in _LOCAL_HOSTS:
        raise StackError(f"RabbitMQ at {host}:{port} (AMQP_URL) does not answer")
    server = _which("rabbitmq-server")
    if server is None:
        if install and _is_root() and shutil.which("apt-get"):
            apt_install(["rabbitmq-server"], say)
            server = _which("rabbitmq-server")
        if server is None:
            raise StackError(
                "RabbitMQ does not answer at "
                f"{host}:{port} and rabbitmq-server is not installed. Install it with: "
                "sudo apt-get install -y rabbitmq-server (or point AMQP_URL at a running broker)"
            )
    if tcp_open(host, port):  # the package's own service may have started it
        return
    ctl = _which("rabbitmqctl")
    if ctl and _node_running(ctl):
        # The node runs but does not listen (yet): starting, or its app was stopped on purpose
        # (broker fault tests restart it with `rabbitmqctl start_app`).
        say(f"RabbitMQ's node is running but {host}:{port} does not answer yet; waiting")
        _wait_for_port(host, port, timeout_s, hint="is its app stopped? rabbitmqctl start_app")
        return
    say("starting RabbitMQ (rabbitmq-server -detached); it keeps running after `down`")
    result = subprocess.run(
        [server, "-detached"], capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        raise StackError(
            f"rabbitmq-server -detached failed ({result.returncode}): "
            f"{(result.stderr or result.stdout).strip()}\n"
            "Start RabbitMQ yourself (e.g. sudo rabbitmq-server -detached) or set AMQP_URL."
        )
    _wait_for_port(host, port, timeout_s, hint="see /var/log/rabbitmq/")
    if ctl:
        subprocess.run([ctl, "await_startup"], capture_output=True, check=False, timeout=timeout_s)


def _node_running(ctl: str) -> bool:
    try:
        result = subprocess.run([ctl, "-q", "status"], capture_output=True, check=False, timeout=60)
    except subprocess.TimeoutExpired:
        return False
    return result.returncode == 0


def _wait_for_port(host: str, port: int, timeout_s: float, hint: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if tcp_open(host, port):
            return
        time.sleep(0.5)
    raise StackError(f"RabbitMQ does not answer at {host}:{port} after {timeout_s:.0f}s ({hint})")


class VirtualHost:
    """A RabbitMQ virtual host of its own, so a test stack's durable queues (which have fixed
    names per service) never take events from a developer's stack on the same broker."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._ctl = _which("rabbitmqctl")

    @property
    def available(self) -> bool:
        return self._ctl is not None

    def _run(self, *args: str) -> None:
        assert self._ctl is not None
        result = subprocess.run(
            [self._ctl, *args], capture_output=True, text=True, check=False, timeout=120
        )
        if result.returncode != 0:
            raise StackError(
                f"rabbitmqctl {' '.join(args)} failed: {(result.stderr or result.stdout).strip()}"
            )

    def create(self, user: str) -> None:
        self._run("add_vhost", self.name)
        self._run("set_permissions", "-p", self.name, user, ".*", ".*", ".*")

    def delete(self) -> None:
        self._run("delete_vhost", self.name)


def amqp_url_with_vhost(amqp_url: str, vhost: str) -> str:
    parts = urlsplit(amqp_url)
    return parts._replace(path="/" + vhost).geturl()


def amqp_user(amqp_url: str) -> str:
    return urlsplit(amqp_url).username or "guest"
