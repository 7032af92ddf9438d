"""The local stack as processes: SecantusDB, the services, nginx; RabbitMQ from the machine.

`DevStack(config).up()` starts everything and returns once every service's /readyz answers 200
and the gateway routes to auth; `down()` stops all it started (also from another invocation,
through the state file in the run directory). scripts/dev and the end-to-end fixtures both use
this class, so the tests run exactly the stack a developer runs.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.devstack.config import SERVICES, Service, StackConfig
from scripts.devstack.errors import StackError
from scripts.devstack.gateway import REPO_ROOT, GatewayFiles, gateway_values
from scripts.devstack.prereqs import (
    VirtualHost,
    amqp_url_with_vhost,
    amqp_user,
    ensure_nginx,
    ensure_rabbitmq,
    tcp_open,
)
from scripts.devstack.processes import ProcessRecord, launch, stop_group, tail
from scripts.devstack.seed import seed_desk

Say = Callable[[str], None]

# Stopped in this order: the entry point first, the database last.
_STOP_ORDER = ("gateway", "realtime-2", "realtime-1", "conversations", "auth", "secantus")
_JWKS_PATH = "/api/auth/.well-known/jwks.json"

# Requests to 127.0.0.1 must never go through an HTTP proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_status(url: str, timeout_s: float = 2.0) -> tuple[int, bytes] | None:
    """Status and body of a GET, or None when nothing answers."""
    try:
        with _OPENER.open(url, timeout=timeout_s) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (OSError, urllib.error.URLError):
        return None


@dataclass(frozen=True)
class ProcessStatus:
    name: str
    pid: int
    alive: bool
    port: int | None
    health: str
    log: str

    @property
    def healthy(self) -> bool:
        return self.alive and self.health in ("ready", "ok", "listening")


@dataclass(frozen=True)
class _LaunchSpec:
    argv: list[str]
    env: dict[str, str]
    port: int | None
    health_url: str | None


class DevStack:
    def __init__(self, config: StackConfig, say: Say | None = None) -> None:
        self.config = config
        self._say = say or (lambda line: print(f"[dev] {line}", flush=True))
        self._records: dict[str, ProcessRecord] = {}
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._specs: dict[str, _LaunchSpec] = {}
        self._vhost: str | None = None
        self._lock = threading.Lock()

    # ----------------------------------------------------------------------------- queries

    @property
    def gateway_url(self) -> str:
        return self.config.gateway_url

    @property
    def services(self) -> list[str]:
        """Names of the service processes this stack runs (or would run)."""
        if self._records:
            return [name for name in self._records if name not in ("gateway", "secantus")]
        return [service.name for service in SERVICES if service.present]

    def log_path(self, name: str) -> Path:
        return self.config.log_dir / f"{name}.log"

    def load_state(self) -> dict[str, Any] | None:
        try:
            state: dict[str, Any] = json.loads(self.config.state_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StackError(f"cannot read {self.config.state_file}: {exc}") from None
        self._records = {
            record["name"]: ProcessRecord.from_json(record) for record in state["processes"]
        }
        self._vhost = state.get("vhost")
        return state

    def status(self) -> list[ProcessStatus]:
        if not self._records:
            self.load_state()
        return [self._status(record) for record in self._records.values()]

    def _status(self, record: ProcessRecord) -> ProcessStatus:
        alive = record.alive()
        if not alive:
            health = "stopped"
        elif record.health_url:
            answer = http_status(record.health_url)
            if answer is None:
                health = "no answer"
            elif answer[0] == 200:
                health = "ok" if record.name == "gateway" else "ready"
            else:
                health = f"not ready ({answer[0]}: {answer[1].decode(errors='replace')[:200]})"
        elif record.port is not None:
            health = "listening" if tcp_open("127.0.0.1", record.port) else "not listening"
        else:
            health = "running"
        return ProcessStatus(record.name, record.pid, alive, record.port, health, record.log)

    # ---------------------------------------------------------------------------- up / down

    def up(self) -> None:
        """Start everything and wait until it serves. On any failure, stop what was started."""
        self._refuse_if_running()
        for directory in (self.config.run_dir, self.config.log_dir, self.config.data_dir):
            directory.mkdir(parents=True, exist_ok=True)
        try:
            self._up()
        except BaseException:
            with contextlib.suppress(Exception):
                self.down(quiet=True)
            raise

    def _refuse_if_running(self) -> None:
        if self.load_state() is None:
            return
        alive = [record.name for record in self._records.values() if record.alive()]
        if alive:
            raise StackError(
                f"a stack from {self.config.run_dir} is already running ({', '.join(alive)}): "
                "`scripts/dev status` shows it, `scripts/dev down` stops it"
            )
        # Left over from a stack that died without `down`: nothing of it runs, but its
        # RabbitMQ vhost may still be there.
        self.down(quiet=True)

    def _up(self) -> None:
        config = self.config
        present = [service for service in SERVICES if service.present]
        self._check_ports_free(present)
        nginx = ensure_nginx(self._say, install=config.install_missing)
        ensure_rabbitmq(config.amqp_url, self._say, install=config.install_missing)
        amqp_url = config.amqp_url
        if config.private_vhost:
            vhost = VirtualHost(config.private_vhost)
            try:
                if not vhost.available:
                    raise StackError("rabbitmqctl not found")
                vhost.create(amqp_user(config.amqp_url))
            except StackError as exc:
                # Not fatal: the stack works, it just shares queues with any other stack.
                self._say(f"no private RabbitMQ vhost ({exc}); sharing the one in AMQP_URL")
            else:
                self._vhost = vhost.name
                self._save_state()
                amqp_url = amqp_url_with_vhost(config.amqp_url, vhost.name)

        mongo_uri = config.mongo_uri or self._start_secantus()
        if self._wants_mail_catcher(present):
            self._start_mail_catcher()
        for service in present:
            self._start_service(service, mongo_uri, amqp_url)
        self._wait_ready([service.name for service in present])
        self._start_gateway(nginx)
        if {"auth", "conversations"} <= set(self._records):
            seed_desk(self.gateway_url, config.admin_email, config.admin_password, self._say)
        if not present:
            self._say("no service has a main.py yet: the gateway answers 502/503 on every route")

    def _wants_mail_catcher(self, present: Iterable[Service]) -> bool:
        """Notifications sends to the catcher unless the caller named another SMTP server."""
        chosen = {**self.config.environ(), **self.config.extra_env}
        return any(s.package == "notifications" for s in present) and not (
            "SMTP_HOST" in chosen or "SMTP_PORT" in chosen
        )

    def _start_mail_catcher(self) -> None:
        port = self.config.ports["mail"]
        directory = self.config.run_dir / "mail"
        argv = [sys.executable, "-m", "scripts.devstack.mailcatcher", "--port", str(port)]
        argv += ["--dir", str(directory)]
        self._say(f"mail catcher on 127.0.0.1:{port} (emails saved in {directory})")
        self._launch("mail", _LaunchSpec(argv, self.config.environ(), port, None))
        self._wait("mail", lambda: tcp_open("127.0.0.1", port), self.config.start_timeout_s)

    def _check_ports_free(self, present: Iterable[Service]) -> None:
        names = ["gateway", *(service.name for service in present)]
        if self.config.mongo_uri is None:
            names.append("secantus")
        if self._wants_mail_catcher(present):
            names.append("mail")
        busy = [
            f"{name} ({self.config.ports[name]})"
            for name in names
            if tcp_open("127.0.0.1", self.config.ports[name], timeout_s=0.2)
        ]
        if busy:
            raise StackError(
                f"ports already in use: {', '.join(busy)}. Another stack may be running "
                "(`scripts/dev status`); or shift every port with --port-offset N"
            )

    def _launch(self, name: str, spec: _LaunchSpec, *, append_log: bool = False) -> None:
        process, record = launch(
            name,
            spec.argv,
            env=spec.env,
            cwd=REPO_ROOT,
            log_path=self.log_path(name),
            append_log=append_log,
            port=spec.port,
            health_url=spec.health_url,
        )
        with self._lock:
            self._specs[name] = spec
            self._children[name] = process
            self._records[name] = record
            self._save_state()

    def _start_secantus(self) -> str:
        port = self.config.ports["secantus"]
        binary = Path(sys.executable).parent / "secantusd-py"
        found = str(binary) if binary.exists() else shutil.which("secantusd-py")
        if not found:
            raise StackError("secantusd-py not found: run `uv sync --frozen` (a dev dependency)")
        storage = ":memory:"
        if self.config.persist:
            storage_dir = self.config.data_dir / "mongo"
            storage_dir.mkdir(parents=True, exist_ok=True)
            storage = str(storage_dir)
        argv = [found, "--host", "127.0.0.1", "--port", str(port), "--storage-path", storage]
        self._say(
            f"SecantusDB on 127.0.0.1:{port} ({'on disk' if self.config.persist else 'in memory'})"
        )
        self._launch("secantus", _LaunchSpec(argv, self.config.environ(), port, None))
        self._wait("secantus", lambda: tcp_open("127.0.0.1", port), self.config.start_timeout_s)
        # retryWrites=false: SecantusDB slows down badly with retryable writes (README).
        return f"mongodb://127.0.0.1:{port}/?retryWrites=false"

    def _service_argv(self, service: Service, port: int) -> list[str]:
        app = f"workcity_{service.package}.main:create_app"
        uvicorn = ["uvicorn", app, "--factory", "--host", "127.0.0.1", "--port", str(port)]
        uvicorn += ["--timeout-graceful-shutdown", "5"]
        uv = shutil.which("uv")
        if uv:
            return [uv, "run", "--frozen", "--no-sync", *uvicorn]
        # Without uv on PATH (installed with `pip --user`), the environment's own uvicorn is
        # the same thing `uv run --no-sync` would start.
        return [str(Path(sys.executable).parent / "uvicorn"), *uvicorn[1:]]

    def _start_service(self, service: Service, mongo_uri: str, amqp_url: str) -> None:
        port = self.config.ports[service.name]
        env = self.config.service_env(service, mongo_uri, amqp_url)
        spec = _LaunchSpec(
            self._service_argv(service, port), env, port, f"http://127.0.0.1:{port}/readyz"
        )
        self._say(f"{service.name} on 127.0.0.1:{port}")
        self._launch(service.name, spec)

    def _start_gateway(self, nginx: str) -> None:
        ports = self.config.ports
        values = gateway_values(
            {
                **self.config.gateway,
                "GATEWAY_PORT": f"127.0.0.1:{ports['gateway']}",
                "AUTH_UPSTREAM": f"127.0.0.1:{ports['auth']}",
                "CONVERSATIONS_UPSTREAM": f"127.0.0.1:{ports['conversations']}",
                "REALTIME_UPSTREAM_1": f"127.0.0.1:{ports['realtime-1']}",
                "REALTIME_UPSTREAM_2": f"127.0.0.1:{ports['realtime-2']}",
            },
            # The services' own environment: CORS follows their ENVIRONMENT and FRONTEND_URL.
            {"ENVIRONMENT": "development", **self.config.environ(), **self.config.extra_env},
        )
        files = GatewayFiles(nginx, self.config.run_dir / "nginx")
        files.write(values)
        files.check()
        url = self.gateway_url
        self._say(
            f"gateway (nginx) on {url} (login/signup limit {values['GATEWAY_AUTH_RATE']}, "
            f"burst {values['GATEWAY_AUTH_BURST']}, body {values['GATEWAY_MAX_BODY']}, "
            f"upload {values['GATEWAY_UPLOAD_MAX_BODY']})"
        )
        self._launch(
            "gateway",
            _LaunchSpec(files.argv(), self.config.environ(), ports["gateway"], f"{url}/healthz"),
        )
        self._wait("gateway", lambda: _answers(f"{url}/healthz", 200), self.config.start_timeout_s)
        if "auth" in self._records:
            self._wait(
                "gateway", lambda: _answers(url + _JWKS_PATH, 200), self.config.start_timeout_s
            )

    def _wait(self, name: str, ready: Callable[[], bool], timeout_s: float) -> None:
        self._wait_all({name: ready}, timeout_s)

    def _wait_ready(self, names: list[str]) -> None:
        checks: dict[str, Callable[[], bool]] = {}
        for name in names:
            url = self._records[name].health_url
            assert url is not None
            checks[name] = functools.partial(_answers, url, 200)
        self._wait_all(checks, self.config.start_timeout_s)

    def _wait_all(self, checks: dict[str, Callable[[], bool]], timeout_s: float) -> None:
        pending = dict(checks)
        deadline = time.monotonic() + timeout_s
        while pending:
            for name, ready in list(pending.items()):
                record = self._records[name]
                child = self._children.get(name)
                exited = child.poll() if child is not None else None
                if exited is not None or not record.alive():
                    raise StackError(
                        f"{name} exited (code {exited}) while starting; last lines of "
                        f"{record.log}:\n{tail(record.log)}"
                    )
                if ready():
                    del pending[name]
            if not pending:
                return
            if time.monotonic() > deadline:
                details = "\n".join(
                    f"--- {name}: {self._status(self._records[name]).health}; "
                    f"last lines of {self._records[name].log}:\n{tail(self._records[name].log)}"
                    for name in pending
                )
                raise StackError(
                    f"not ready after {timeout_s:.0f}s: {', '.join(pending)}\n{details}"
                )
            time.sleep(0.25)

    def down(self, *, quiet: bool = False) -> None:
        """Stop every process this stack started (read from the state file if need be)."""
        if not self._records:
            self.load_state()
        say = (lambda _: None) if quiet else self._say
        failures = []
        for name in sorted(self._records, key=_stop_rank):
            record = self._records[name]
            if record.alive():
                say(f"stopping {name} (pid {record.pid})")
            try:
                stop_group(record, child=self._children.get(name))
            except ProcessLookupError as exc:
                failures.append(str(exc))
        if self._vhost:
            with contextlib.suppress(StackError):
                VirtualHost(self._vhost).delete()
            self._vhost = None
        self._records.clear()
        self._children.clear()
        self.config.state_file.unlink(missing_ok=True)
        if failures:
            raise StackError("; ".join(failures))

    # -------------------------------------------------------------- single processes (tests)

    def stop_process(self, name: str, *, kill: bool = False) -> None:
        """Stop one process: SIGTERM (a clean shutdown) or, with `kill`, SIGKILL (a crash)."""
        record = self._record(name)
        stop_group(record, kill=kill, child=self._children.get(name))

    def start_process(self, name: str, *, wait: bool = True) -> None:
        """Start a stopped process again, as it was first started; wait until it is ready."""
        record = self._record(name)
        if record.alive():
            raise StackError(f"{name} is already running (pid {record.pid})")
        spec = self._specs.get(name)
        if spec is None:
            raise StackError(f"{name} was not started by this process; cannot restart it")
        self._launch(name, spec, append_log=True)
        if not wait:
            return
        if name == "gateway":
            self._wait(name, lambda: _answers(f"{self.gateway_url}/healthz", 200), 60)
        elif spec.health_url:
            self._wait_ready([name])
        elif spec.port is not None:
            port = spec.port
            self._wait(name, lambda: tcp_open("127.0.0.1", port), 60)

    def launch_command(self, name: str) -> tuple[list[str], dict[str, str]]:
        """The argv and environment a process was started with (to start it elsewhere: the
        partition drill runs a replica in a network namespace of its own)."""
        spec = self._specs.get(name)
        if spec is None:
            raise StackError(f"{name} was not started by this process")
        return list(spec.argv), dict(spec.env)

    def _record(self, name: str) -> ProcessRecord:
        try:
            return self._records[name]
        except KeyError:
            raise StackError(f"no process named {name!r} in this stack") from None

    def _save_state(self) -> None:
        state = {
            "version": 1,
            "supervisor_pid": os.getpid(),
            "gateway_url": self.gateway_url,
            "admin_email": self.config.admin_email,
            "vhost": self._vhost,
            "processes": [record.to_json() for record in self._records.values()],
        }
        tmp = self.config.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.config.state_file)

    # ------------------------------------------------------------------- foreground mode

    def supervise(self, stop: threading.Event, echo: Callable[[str], None]) -> None:
        """Until `stop` is set or nothing of the stack is left: copy new log lines to `echo`
        (prefixed with the process name) and report processes that exit."""
        offsets = {name: Path(record.log).stat().st_size for name, record in self._records.items()}
        reported: set[str] = set()
        width = max((len(name) for name in self._records), default=8)
        while not stop.is_set():
            for name, record in list(self._records.items()):
                offsets[name] = _echo_new_lines(
                    Path(record.log), offsets.get(name, 0), f"{name:<{width}} | ", echo
                )
                child = self._children.get(name)
                code = child.poll() if child is not None else None
                if name not in reported and not record.alive():
                    reported.add(name)
                    self._say(f"{name} exited (code {code}); its log: {record.log}")
                elif record.alive():
                    reported.discard(name)
            if not self.config.state_file.exists():
                self._say("the stack was stopped from elsewhere (scripts/dev down)")
                return
            stop.wait(0.25)


def _answers(url: str, status: int) -> bool:
    answer = http_status(url)
    return answer is not None and answer[0] == status


def _stop_rank(name: str) -> int:
    return _STOP_ORDER.index(name) if name in _STOP_ORDER else -1


def _echo_new_lines(path: Path, offset: int, prefix: str, echo: Callable[[str], None]) -> int:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            chunk = handle.read(1_000_000)
    except FileNotFoundError:
        return offset
    end = chunk.rfind(b"\n")
    if end < 0:
        return offset
    for line in chunk[: end + 1].decode("utf-8", "replace").splitlines():
        echo(prefix + line)
    return offset + end + 1
