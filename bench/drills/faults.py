"""The faults a drill injects into a local stack, each undone by itself (a process started again,
RabbitMQ's application started again) even when the drill around it fails.

A fault's `run()` blocks (it is called in a thread while the load goes on) and returns the moments
it struck and was repaired, on the `time.monotonic()` clock the clients record with.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

from scripts.devstack import DevStack

Say = Callable[[str], None]


@dataclass(frozen=True)
class Timeline:
    struck_at: float
    repaired_at: float


class Fault(Protocol):
    @property
    def description(self) -> str: ...

    def run(self, stack: DevStack, say: Say) -> Timeline: ...


@dataclass(frozen=True)
class ProcessCrash:
    """A process of the stack killed (SIGKILL: no shutdown code runs) or stopped (SIGTERM), and
    started again `down_s` later exactly as it was first started."""

    process: str
    down_s: float
    kill: bool = True

    @property
    def description(self) -> str:
        how = "SIGKILL" if self.kill else "stopped (SIGTERM)"
        return f"{self.process} {how}, started again {self.down_s:g} s later"

    def run(self, stack: DevStack, say: Say) -> Timeline:
        say(f"fault: {self.description}")
        struck_at = time.monotonic()
        stack.stop_process(self.process, kill=self.kill)
        try:
            time.sleep(self.down_s)
        finally:
            stack.start_process(self.process)
        repaired_at = time.monotonic()
        say(f"fault: {self.process} ready again after {repaired_at - struck_at:.1f} s")
        return Timeline(struck_at, repaired_at)


def rabbitmqctl(*args: str) -> None:
    """rabbitmqctl against the node the environment names (RABBITMQ_NODENAME: a private node)."""
    if shutil.which("rabbitmqctl") is None:
        raise RuntimeError("rabbitmqctl not installed: the RabbitMQ drill needs a local node")
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


@contextlib.contextmanager
def broker_application_stopped() -> Iterator[None]:
    """`rabbitmqctl stop_app` for the block; `start_app` afterwards, whatever happens."""
    rabbitmqctl("stop_app")
    try:
        yield
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")


@dataclass(frozen=True)
class BrokerStop:
    """RabbitMQ's application stopped (`rabbitmqctl stop_app`) for `down_s`, then started."""

    down_s: float

    @property
    def description(self) -> str:
        return f"RabbitMQ stop_app for {self.down_s:g} s, then start_app"

    def run(self, stack: DevStack, say: Say) -> Timeline:
        say(f"fault: {self.description}")
        struck_at = time.monotonic()
        with broker_application_stopped():
            time.sleep(self.down_s)
        repaired_at = time.monotonic()
        say(f"fault: RabbitMQ back after {repaired_at - struck_at:.1f} s")
        return Timeline(struck_at, repaired_at)
