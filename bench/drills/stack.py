"""The stack a drill runs against: the very stack `scripts/dev up` starts (scripts/devstack),
with a RabbitMQ virtual host of its own, a fresh database and mailbox, and the settings a drill
needs. `bench/drill.py` starts one per drill; the short drills in tests/drills share one."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from scripts.devstack import DEFAULT_AMQP_URL, DevStack, StackConfig

# Preparation logs in dozens of users from a few addresses: the login limit is not under test.
DRILL_GATEWAY = {
    "GATEWAY_AUTH_RATE": "1000r/s",
    "GATEWAY_AUTH_BURST": "1000",
    # Load from one client address: many sockets at once.
    # (nginx takes at most 65535 connections per key.)
    "GATEWAY_CONN_PER_CLIENT": "60000",
}


def drill_stack(
    run_dir: Path,
    ports: Mapping[str, int],
    *,
    persist: bool,
    env: Mapping[str, str],
    say: Callable[[str], None],
) -> DevStack:
    run_dir = run_dir.resolve()
    shutil.rmtree(run_dir / "data", ignore_errors=True)
    shutil.rmtree(run_dir / "mail", ignore_errors=True)
    config = StackConfig(
        run_dir=run_dir,
        ports=ports,
        persist=persist,
        amqp_url=os.environ.get("AMQP_URL") or DEFAULT_AMQP_URL,
        private_vhost=f"workcity-drill-{uuid.uuid4().hex[:8]}",
        gateway=DRILL_GATEWAY,
        extra_env={"BCRYPT_ROUNDS": "4", **env},
    )
    return DevStack(config, say=say)
