"""The whole product for end-to-end tests: the very stack `scripts/dev up` runs, on free ports.

`TestStack.start_local()` starts SecantusDB (or uses MONGO_URI, with databases of its own), the
services and nginx through `scripts.devstack`, in a run directory of its own under .dev/e2e/ and a
RabbitMQ virtual host of its own, with limits raised for one client address and fast bcrypt.
`TestStack.external(url)` talks to a stack that is already running (WORKCITY_GATEWAY_URL); tests
that must stop a service or read its logs skip there.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient

from scripts.devstack import (
    DEFAULT_ADMIN_EMAIL,
    DEFAULT_ADMIN_PASSWORD,
    DEFAULT_AMQP_URL,
    DEFAULT_PORTS,
    DevStack,
    GatewayFiles,
    StackConfig,
    gateway_values,
    http_status,
)
from scripts.devstack.gateway import REPO_ROOT, find_nginx
from scripts.devstack.processes import launch, stop_group
from tests.support.mail import MailCatcher
from tests.support.servers import free_port

E2E_ROOT = REPO_ROOT / ".dev" / "e2e"
TRACEBACK_MARK = "Traceback (most recent call last)"

# Environment every test stack's services get: fast password hashing and limits that one
# client address (the test runner) does not hit. Anything else comes from the caller's shell.
TEST_SERVICE_ENV = {
    "ENVIRONMENT": "test",
    "BCRYPT_ROUNDS": "4",
    "NOTIFY_DELAY_SECONDS": "2",
    # Short, like the delay: the tests' quiet periods are counted in seconds.
    "EVENT_BATCH_LINGER_SECONDS": "0.2",
}
# Every test connects from 127.0.0.1: one client address for the whole suite.
TEST_GATEWAY = {
    "GATEWAY_AUTH_RATE": "1000r/s",
    "GATEWAY_AUTH_BURST": "1000",
    "GATEWAY_CONN_PER_CLIENT": "1000",
}


@dataclass
class TestStack:
    __test__ = False  # not a test class, despite the name

    gateway_url: str
    admin_email: str
    admin_password: str
    log_dir: Path | None
    dev: DevStack | None = None
    # The SMTP server the notifications service of a local stack sends to (SMTP_PORT).
    mail: MailCatcher | None = None
    # Per-session cache for helpers (the admin's token, ...); see tests/support/users.py.
    cache: dict[str, Any] = field(default_factory=dict)
    _forgiven: list[str] = field(default_factory=list)

    # ------------------------------------------------------------------------ construction

    @classmethod
    def external(cls, gateway_url: str) -> TestStack:
        log_dir = os.environ.get("WORKCITY_STACK_LOG_DIR")
        return cls(
            gateway_url=gateway_url.rstrip("/"),
            admin_email=os.environ.get("WORKCITY_ADMIN_EMAIL") or DEFAULT_ADMIN_EMAIL,
            admin_password=os.environ.get("WORKCITY_ADMIN_PASSWORD") or DEFAULT_ADMIN_PASSWORD,
            log_dir=Path(log_dir) if log_dir else None,
        )

    @classmethod
    def start_local(cls) -> TestStack:
        reap_abandoned_stacks()
        run_dir = E2E_ROOT / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        shutil.rmtree(run_dir, ignore_errors=True)
        ports = {name: free_port() for name in DEFAULT_PORTS}
        external_mongo = os.environ.get("MONGO_URI") or None
        mail = MailCatcher().start()
        config = StackConfig(
            run_dir=run_dir,
            ports=ports,
            mongo_uri=external_mongo,
            amqp_url=os.environ.get("AMQP_URL") or DEFAULT_AMQP_URL,
            private_vhost=f"workcity-e2e-{uuid.uuid4().hex[:10]}",
            # With a real MongoDB shared with others, this run's databases are its own.
            mongo_db_prefix=f"e2e_{uuid.uuid4().hex[:8]}_" if external_mongo else None,
            gateway=TEST_GATEWAY,
            extra_env={
                **TEST_SERVICE_ENV,
                # The test's own SMTP server, not the stack's "mail" port (a dev catcher's).
                "SMTP_PORT": str(mail.port),
                "ADMIN_EMAIL": DEFAULT_ADMIN_EMAIL,
                "ADMIN_PASSWORD": DEFAULT_ADMIN_PASSWORD,
                # The gateway's: no frontend, whatever a developer built into web/dist (tests
                # that serve one start a gateway of their own, extra_gateway).
                "FRONTEND_DIR": str(run_dir / "frontend"),
            },
            start_timeout_s=float(os.environ.get("DEV_START_TIMEOUT_SECONDS") or 120),
        )
        dev = DevStack(config, say=lambda line: print(f"[e2e stack] {line}", flush=True))
        try:
            dev.up()
        except BaseException:
            mail.stop()
            raise
        return cls(
            gateway_url=dev.gateway_url,
            admin_email=config.admin_email,
            admin_password=config.admin_password,
            log_dir=config.log_dir,
            dev=dev,
            mail=mail,
        )

    def stop(self) -> None:
        if self.dev is None:
            return
        self.dev.down(quiet=True)
        if self.mail is not None:
            self.mail.stop()
        config = self.dev.config
        if config.mongo_uri and config.mongo_db_prefix:
            # A real MongoDB outlives the run: drop this run's databases.
            with MongoClient(config.mongo_uri, serverSelectionTimeoutMS=5000) as client:
                for name in client.list_database_names():
                    if name.startswith(config.mongo_db_prefix):
                        client.drop_database(name)

    # ---------------------------------------------------------------- services and processes

    def _local(self) -> DevStack:
        if self.dev is None:
            pytest.skip("needs the stack the tests start themselves (WORKCITY_GATEWAY_URL is set)")
        return self.dev

    def has_service(self, name: str) -> bool:
        """Whether a service process runs (`auth`, `conversations`, `realtime` or a replica)."""
        if self.dev is None:
            return True  # an external stack is taken to be complete
        running = self.dev.services
        return name in running or any(process.startswith(f"{name}-") for process in running)

    def require_service(self, name: str) -> None:
        if not self.has_service(name):
            pytest.skip(f"the {name} service is not part of this workspace yet")

    def port(self, name: str) -> int:
        return self._local().config.ports[name]

    def stop_service(self, name: str, *, kill: bool = False) -> None:
        """Stop one process (`auth`, `realtime-1`, ...): SIGTERM, or SIGKILL with `kill` (a
        crash: no shutdown code runs)."""
        self._local().stop_process(name, kill=kill)

    def start_service(self, name: str) -> None:
        """Start a stopped process again and wait until its /readyz answers."""
        self._local().start_process(name)

    @contextlib.contextmanager
    def service_stopped(self, *names: str, kill: bool = False) -> Iterator[None]:
        """Stop processes for the block; they are started again afterwards, even on failure."""
        stopped = []
        try:
            for name in names:
                self.stop_service(name, kill=kill)
                stopped.append(name)
            yield
        finally:
            for name in stopped:
                self.start_service(name)

    # ------------------------------------------------------------------------------ logs

    def log_path(self, name: str) -> Path:
        if self.log_dir is None:
            pytest.skip("the stack's logs are not available (set WORKCITY_STACK_LOG_DIR)")
        return self.log_dir / f"{name}.log"

    def log_lines(self, name: str) -> list[str]:
        try:
            return self.log_path(name).read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return []

    def wait_for_log(self, name: str, needle: str, timeout_s: float = 10.0) -> str:
        """The first line of `name`'s log containing `needle` (logs are written asynchronously)."""
        deadline = time.monotonic() + timeout_s
        while True:
            for line in self.log_lines(name):
                if needle in line:
                    return line
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not in {self.log_path(name)} after {timeout_s}s")
            time.sleep(0.1)

    def gateway_log_entry(self, request_id: str, timeout_s: float = 10.0) -> dict[str, Any]:
        """The gateway's JSON access-log entry for one request id."""
        line = self.wait_for_log("gateway", f'"request_id":"{request_id}"', timeout_s)
        entry: dict[str, Any] = json.loads(line)
        return entry

    def forgive_tracebacks(self, needle: str) -> None:
        """A test that provokes a logged traceback on purpose names it here."""
        self._forgiven.append(needle)

    def tracebacks(self) -> list[str]:
        """Python tracebacks in the logs of every process of the stack: error (or critical)
        entries carrying one, and raw tracebacks written outside the JSON logging (a crash at
        start-up). A warning with a traceback is a condition the code expected and handled
        (aiormq logs one each time the broker closes a connection: fault tests do that)."""
        if self.log_dir is None or not self.log_dir.exists():
            return []
        found = []
        for log in sorted(self.log_dir.glob("*.log")):
            for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
                if TRACEBACK_MARK not in line or any(f in line for f in self._forgiven):
                    continue
                if _json_level(line) in ("debug", "info", "warning"):
                    continue
                found.append(f"{log.name}: {line[:2000]}")
        return found

    # ------------------------------------------------------------- a second service process

    @contextlib.contextmanager
    def extra_process(self, name: str, **environ: str) -> Iterator[str]:
        """Another OS process of a service (`conversations`), started as the stack started it
        (same database, broker, queues) on a free port: a second replica. `environ` overrides
        its environment. Yields its base URL; stopped at the end of the block."""
        dev = self._local()
        argv, env = dev.launch_command(name)
        port = free_port()
        argv[argv.index("--port") + 1] = str(port)
        process, record = launch(
            f"{name}-extra-{port}",
            argv,
            env={**env, **environ},
            cwd=REPO_ROOT,
            log_path=dev.config.log_dir / f"{name}-extra-{port}.log",
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while (answer := http_status(f"{url}/readyz")) is None or answer[0] != 200:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the extra {name} did not start; see {record.log}")
                time.sleep(0.1)
            yield url
        finally:
            stop_group(record, child=process)

    # ------------------------------------------------------------------ a second gateway

    @contextlib.contextmanager
    def extra_gateway(
        self, environ: Mapping[str, str] | None = None, **limits: str
    ) -> Iterator[str]:
        """Another nginx from the same template and the same upstreams with other limits
        (GATEWAY_AUTH_RATE=..., ...), for tests the test stack's raised limits would hide, or
        another environment (`environ`: ENVIRONMENT, CORS_ORIGINS, FRONTEND_URL, FRONTEND_DIR,
        read as the image's entrypoint reads them). Yields its base URL; stopped at the end of
        the block."""
        dev = self._local()
        nginx = find_nginx()
        assert nginx is not None
        ports = dev.config.ports
        port = free_port()
        prefix = dev.config.run_dir / f"nginx-extra-{port}"
        values = gateway_values(
            {
                **limits,
                "GATEWAY_PORT": f"127.0.0.1:{port}",
                "AUTH_UPSTREAM": f"127.0.0.1:{ports['auth']}",
                "CONVERSATIONS_UPSTREAM": f"127.0.0.1:{ports['conversations']}",
                "REALTIME_UPSTREAM_1": f"127.0.0.1:{ports['realtime-1']}",
                "REALTIME_UPSTREAM_2": f"127.0.0.1:{ports['realtime-2']}",
            },
            environ=dict(environ or {}),
        )
        files = GatewayFiles(nginx, prefix)
        files.write(values)
        files.check()
        process, record = launch(
            f"gateway-extra-{port}",
            files.argv(),
            env=dict(os.environ),
            cwd=REPO_ROOT,
            log_path=dev.config.log_dir / f"gateway-extra-{port}.log",
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 15
            while (answer := http_status(f"{url}/healthz")) is None or answer[0] != 200:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the extra gateway did not start; see {record.log}")
                time.sleep(0.05)
            yield url
        finally:
            stop_group(record, child=process)


def _json_level(line: str) -> str | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    level = entry.get("level") if isinstance(entry, dict) else None
    return level.lower() if isinstance(level, str) else None


def reap_abandoned_stacks() -> None:
    """Stop stacks whose test session died without tearing down (SIGKILL, a power cut): their
    supervisor process is gone but the state file still lists processes."""
    if not E2E_ROOT.exists():
        return
    for state_file in E2E_ROOT.glob("*/state.json"):
        try:
            supervisor = int(json.loads(state_file.read_text()).get("supervisor_pid", 0))
        except (OSError, ValueError):
            continue
        if supervisor and _pid_alive(supervisor):
            continue
        run_dir = state_file.parent
        config = StackConfig(run_dir=run_dir, ports={name: 0 for name in DEFAULT_PORTS})
        with contextlib.suppress(Exception):
            DevStack(config, say=lambda _: None).down(quiet=True)
    # Keep the last few runs' logs for reading; older run directories go.
    runs = sorted((p for p in E2E_ROOT.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for old in runs[:-5]:
        if not (old / "state.json").exists():
            shutil.rmtree(old, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """pytest tears fixtures down on Ctrl-C but not on SIGTERM (a CI timeout): treat SIGTERM
    like Ctrl-C while the stack runs, so its processes are stopped either way."""
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def service_of(stack: TestStack, upstream: str) -> str:
    """The process name behind an upstream address from the gateway log."""
    ports = {stack.port(name): name for name in stack.dev.config.ports} if stack.dev else {}
    # After a failed try nginx lists every address it tried; the last one answered.
    last = upstream.split(",")[-1].strip()
    return ports.get(int(last.rsplit(":", 1)[1]), last)
