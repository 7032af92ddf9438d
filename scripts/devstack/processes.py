"""Start and stop the stack's processes, each in its own session and process group.

A process is remembered by its pid and its start time (from /proc), so a later `down` — from
another invocation, after the starter has exited — signals exactly the processes it started and
never a stranger that happens to reuse a pid. Stopping signals the whole process group (`uv run`
and the uvicorn it starts, nginx's master and workers) and waits until no member is left.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessInfo:
    state: str
    pgid: int
    sid: int
    start_ticks: int


def process_info(pid: int) -> ProcessInfo | None:
    """Fields of /proc/<pid>/stat, or None when there is no such process."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may itself contain spaces or parentheses.
    fields = raw[raw.rfind(")") + 2 :].split()
    return ProcessInfo(
        state=fields[0], pgid=int(fields[2]), sid=int(fields[3]), start_ticks=int(fields[19])
    )


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group."""
    members = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        info = process_info(int(entry.name))
        if info and info.pgid == pgid and info.state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


@dataclass
class ProcessRecord:
    """What is written to the state file for one started process."""

    name: str
    pid: int
    start_ticks: int
    argv: list[str]
    log: str
    port: int | None = None
    health_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})

    def leader_alive(self) -> bool:
        info = process_info(self.pid)
        return (
            info is not None
            and info.start_ticks == self.start_ticks
            and info.state not in ("Z", "X")
        )

    def members(self) -> list[int]:
        """The live processes of this record's group (the group id is the leader's pid).

        A group id cannot be reused while any member is alive, and the session check keeps us
        from ever treating someone else's group as ours.
        """
        ours = []
        for pid in group_members(self.pid):
            info = process_info(pid)
            if info is not None and info.sid == self.pid:
                ours.append(pid)
        if not ours and self.leader_alive():
            ours.append(self.pid)
        return ours

    def alive(self) -> bool:
        return bool(self.members())


def launch(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
    append_log: bool = False,
    port: int | None = None,
    health_url: str | None = None,
) -> tuple[subprocess.Popen[bytes], ProcessRecord]:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab" if append_log else "wb") as log:
        # A new session: Ctrl-C in the terminal reaches only the supervisor, which then stops
        # each group in order, and `--detach` leaves processes that outlive the terminal.
        process = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    info = process_info(process.pid)
    record = ProcessRecord(
        name=name,
        pid=process.pid,
        start_ticks=info.start_ticks if info else 0,
        argv=list(argv),
        log=str(log_path),
        port=port,
        health_url=health_url,
    )
    return process, record


def stop_group(
    record: ProcessRecord,
    *,
    kill: bool = False,
    timeout_s: float = 10.0,
    child: subprocess.Popen[bytes] | None = None,
) -> None:
    """SIGTERM (or SIGKILL when `kill`) to the group, then SIGKILL whatever is left after
    `timeout_s`. Returns once no member is alive. `child` is reaped when we are its parent."""

    def reap() -> None:
        if child is not None:
            child.poll()

    first = signal.SIGKILL if kill else signal.SIGTERM
    if not record.members():
        reap()
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record.pid, first)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reap()
        if not record.members():
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        reap()
        if not record.members():
            return
        time.sleep(0.05)
    raise ProcessLookupError(f"{record.name}: processes {record.members()} survived SIGKILL")


def tail(path: Path | str, lines: int = 30) -> str:
    """The last lines of a log, for error messages."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 16_384))
            text = handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
