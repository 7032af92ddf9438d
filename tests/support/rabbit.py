"""Stop and restart the RabbitMQ application for fault tests.

Only `rabbitmqctl stop_app` / `start_app`: the node process (which we did not start) keeps
running, and `broker_stopped()` restarts the app even when the test body fails.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator

import pytest


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def require_rabbitmqctl() -> None:
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl not installed: broker fault tests need a local RabbitMQ node")


@contextlib.contextmanager
def broker_stopped() -> Iterator[None]:
    require_rabbitmqctl()
    _rabbitmqctl("stop_app")
    try:
        yield
    finally:
        _rabbitmqctl("start_app")
        _rabbitmqctl("await_startup")


def _rabbitmqctl_out(*args: str) -> str:
    done = subprocess.run(
        ["rabbitmqctl", *args], check=True, capture_output=True, text=True, timeout=120
    )
    return done.stdout.strip()


@contextlib.contextmanager
def publishers_blocked() -> Iterator[None]:
    """RabbitMQ stalls without going away: a memory alarm (high watermark 0) blocks every
    publishing connection (no confirms, nothing read) until the watermark is restored."""
    require_rabbitmqctl()
    before = _rabbitmqctl_out("eval", "vm_memory_monitor:get_vm_memory_high_watermark().")
    try:
        float(before)
    except ValueError:
        before = "0.4"  # an absolute watermark ({absolute, N}): the default fraction instead
    _rabbitmqctl("set_vm_memory_high_watermark", "0")
    try:
        yield
    finally:
        _rabbitmqctl("set_vm_memory_high_watermark", before)
