"""CPU time of processes from /proc, for the microbenchmarks that charge a server its share."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of `pid` so far (its threads included), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rabbit_node_pid() -> int:
    """The RabbitMQ node's OS process (the node RABBITMQ_NODENAME names)."""
    out = subprocess.run(
        ["rabbitmqctl", "-q", "eval", "os:getpid()."], capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip().strip('"'))
