"""Process groups: everything a launched process starts is stopped with it, and a record
whose pid now belongs to someone else is never signalled."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from scripts.devstack.processes import ProcessRecord, launch, stop_group, tail

# A parent that starts a child which ignores SIGTERM: stop_group must still leave nothing.
PARENT = """
import signal, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('child up', flush=True); time.sleep(60)"])
print("parent up", flush=True)
time.sleep(60)
"""


def _wait_for(path: Path, text: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in path.read_text():
        assert time.monotonic() < deadline, path.read_text()
        time.sleep(0.02)


def test_stop_group_stops_children_that_ignore_sigterm(tmp_path: Path) -> None:
    log = tmp_path / "p.log"
    process, record = launch(
        "p", [sys.executable, "-c", PARENT], env=dict(os.environ), cwd=tmp_path, log_path=log
    )
    _wait_for(log, "child up")
    assert len(record.members()) == 2
    stop_group(record, timeout_s=0.5, child=process)
    assert record.members() == []
    assert not record.alive()
    assert process.returncode is not None


def test_kill_is_immediate(tmp_path: Path) -> None:
    log = tmp_path / "k.log"
    process, record = launch(
        "k", [sys.executable, "-c", PARENT], env=dict(os.environ), cwd=tmp_path, log_path=log
    )
    _wait_for(log, "child up")
    started = time.monotonic()
    stop_group(record, kill=True, timeout_s=30, child=process)
    assert time.monotonic() - started < 5
    assert record.members() == []


def test_a_reused_pid_is_not_ours() -> None:
    me = os.getpid()
    stranger = ProcessRecord(name="x", pid=me, start_ticks=1, argv=[], log="/dev/null")
    assert not stranger.leader_alive()
    # Our own pid is the leader of no session we started: nothing would be signalled.
    assert stranger.members() == []
    stop_group(stranger)  # returns without signalling this test process
    assert os.getpid() == me


def test_record_round_trips_through_json(tmp_path: Path) -> None:
    record = ProcessRecord("auth", 12, 34, ["uvicorn"], str(tmp_path / "a.log"), 8001, "http://x")
    assert ProcessRecord.from_json(record.to_json()) == record


def test_tail_returns_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(log, 3) == "line 97\nline 98\nline 99"
    assert tail(tmp_path / "missing.log") == "(no log)"
