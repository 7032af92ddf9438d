"""What the stack's processes cost: CPU seconds and resident memory from /proc, database requests
from SecantusDB's `serverStatus`.

The processes come from the state file `scripts/dev up` writes (each record is a process group:
`uv run` and its uvicorn, nginx's master and worker); RabbitMQ is the machine's `beam.smp`, shared
with anything else that uses the broker; the machine's total CPU shows how much of it went to
processes outside the stack (other work on a shared machine, the load generator).
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo import MongoClient

from scripts.devstack.processes import ProcessRecord

_PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# `mongodb_commands_total{command="insert"} 12.0` in a service's /metrics.
_COMMAND_LINE = re.compile(r'^mongodb_commands_total\{command="([^"]+)"\} ([0-9.e+]+)$', re.M)
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class StackProcesses:
    """The processes of a running local stack, by name (gateway, auth, ..., secantus)."""

    gateway_url: str
    records: Mapping[str, ProcessRecord]
    stopped: tuple[str, ...] = ()

    @classmethod
    def from_run_dir(cls, run_dir: Path) -> StackProcesses:
        state_file = run_dir / "state.json"
        try:
            state = json.loads(state_file.read_text())
        except FileNotFoundError:
            raise SystemExit(
                f"no stack state in {state_file}: start one with `scripts/dev up --detach` "
                "(see bench/README.md), or pass --run-dir"
            ) from None
        records = {
            item["name"]: ProcessRecord.from_json(item) for item in state.get("processes", [])
        }
        stopped = sorted(name for name, record in records.items() if not record.alive())
        if "gateway" in stopped:
            raise SystemExit("the stack's gateway is not running (scripts/dev status)")
        # A stopped process is left out (and named in the results), so a run can measure the
        # stack without one of its services.
        live = {name: record for name, record in records.items() if name not in stopped}
        return cls(gateway_url=state["gateway_url"], records=live, stopped=tuple(stopped))

    def port(self, name: str) -> int | None:
        record = self.records.get(name)
        return record.port if record else None

    def pids(self) -> dict[str, list[int]]:
        groups = {name: record.members() for name, record in self.records.items()}
        groups["rabbitmq"] = pids_named("beam.smp")
        return groups

    @property
    def realtime_names(self) -> list[str]:
        return sorted(name for name in self.records if name.startswith("realtime"))


def pids_named(command: str) -> list[int]:
    found = []
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == command:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far (0 if it is gone)."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return 0.0
    fields = raw[raw.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def rss_kib(pid: int) -> int:
    try:
        for line in (_PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def machine_busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, all cores, since boot."""
    fields = [int(x) for x in (_PROC / "stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return (total - idle) / CLOCK_TICKS, total / CLOCK_TICKS


@dataclass
class Sample:
    cpu: dict[str, float]
    rss_kib: dict[str, int]
    machine_busy: float
    machine_total: float
    db: dict[str, int] = field(default_factory=dict)


class Sampler:
    def __init__(self, stack: StackProcesses, mongo_uri: str | None) -> None:
        self._stack = stack
        self._mongo: MongoClient[dict[str, Any]] | None = (
            MongoClient(mongo_uri, serverSelectionTimeoutMS=3000, appname="workcity-bench")
            if mongo_uri
            else None
        )
        self.extra: dict[str, int] = {}  # name -> pid (the load generator)

    def close(self) -> None:
        if self._mongo is not None:
            self._mongo.close()

    def sample(self, *, counters: bool = True) -> Sample:
        """CPU and memory of every process; with `counters`, also the database's counters and
        each service's count of database commands (from its /metrics)."""
        groups = self._stack.pids()
        groups.update({name: [pid] for name, pid in self.extra.items()})
        busy, total = machine_busy_seconds()
        db = {**self._db_counters(), **self._command_counters()} if counters else {}
        return Sample(
            cpu={name: sum(cpu_seconds(p) for p in pids) for name, pids in groups.items()},
            rss_kib={name: sum(rss_kib(p) for p in pids) for name, pids in groups.items()},
            machine_busy=busy,
            machine_total=total,
            db=db,
        )

    def _command_counters(self) -> dict[str, int]:
        """`cmd:<service>:<command>` -> commands that service has sent to the database."""
        found: dict[str, int] = {}
        for name, record in self._stack.records.items():
            if record.port is None or not record.health_url:
                continue
            try:
                with _NO_PROXY.open(f"http://127.0.0.1:{record.port}/metrics", timeout=2) as answer:
                    text = answer.read().decode()
            except OSError:
                continue
            for command, value in _COMMAND_LINE.findall(text):
                found[f"cmd:{name}:{command}"] = int(float(value))
        return found

    def _db_counters(self) -> dict[str, int]:
        if self._mongo is None:
            return {}
        status: dict[str, Any] = self._mongo.admin.command("serverStatus")
        counters = {f"op_{k}": int(v) for k, v in (status.get("opcounters") or {}).items()}
        counters["requests"] = int((status.get("network") or {}).get("numRequests", 0))
        # Operations per database (`top`), to tell which service's requests they are. A
        # transaction's commit is not counted under any database.
        try:
            top: dict[str, Any] = self._mongo.admin.command("top")
        except Exception:  # not every server has `top`
            return counters
        for namespace, sections in (top.get("totals") or {}).items():
            if not isinstance(sections, dict) or "." not in namespace:
                continue
            database = namespace.split(".", 1)[0]
            count = int((sections.get("total") or {}).get("count", 0))
            counters[f"db:{database}"] = counters.get(f"db:{database}", 0) + count
        return counters


@dataclass(frozen=True)
class Usage:
    """What happened between two samples."""

    seconds: float
    cpu: dict[str, float]  # process group -> CPU seconds
    machine_busy: float  # CPU seconds of the whole machine
    db: dict[str, int]
    rss_before_kib: dict[str, int]
    rss_after_kib: dict[str, int]

    @property
    def stack_cpu(self) -> float:
        return sum(v for k, v in self.cpu.items() if k != "loadgen")

    @property
    def outside_cpu(self) -> float:
        """Machine CPU used by neither the stack nor the load generator (other work)."""
        return max(0.0, self.machine_busy - sum(self.cpu.values()))

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "cpu_s": {k: round(v, 3) for k, v in sorted(self.cpu.items())},
            "machine_busy_s": round(self.machine_busy, 3),
            "outside_cpu_s": round(self.outside_cpu, 3),
            "db": self.db,
            "rss_before_kib": self.rss_before_kib,
            "rss_after_kib": self.rss_after_kib,
        }


def usage_between(
    before: Sample, after: Sample, seconds: float, rss_at: Sample | None = None
) -> Usage:
    names: Iterable[str] = set(before.cpu) | set(after.cpu)
    return Usage(
        seconds=seconds,
        cpu={n: max(0.0, after.cpu.get(n, 0.0) - before.cpu.get(n, 0.0)) for n in names},
        machine_busy=after.machine_busy - before.machine_busy,
        db={k: after.db.get(k, 0) - before.db.get(k, 0) for k in after.db},
        rss_before_kib=dict(before.rss_kib),
        rss_after_kib=dict((rss_at or after).rss_kib),
    )
