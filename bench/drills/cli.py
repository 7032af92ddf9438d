"""`uv run python bench/drill.py DRILL [options]`: one fault drill against a local stack of its
own (started here with scripts/devstack, in .dev/drill, stopped at the end), its figures printed
as a RELIABILITY.md table row and written to bench/out/drill-<name>-<time>.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.drills import report
from bench.drills.emails import EMAIL_DRILL_ENV, run_email_drill
from bench.drills.faults import BrokerStop, Fault, ProcessCrash
from bench.drills.messages import DrillResult, Load, run_message_drill
from bench.drills.partition import AmqpPartition, replica_in_namespace
from bench.drills.stack import drill_stack
from scripts.devstack import DevStack, ports_from_env
from scripts.devstack.gateway import REPO_ROOT

OUT_DIR = REPO_ROOT / "bench" / "out"


@dataclass(frozen=True)
class Drill:
    fault: Fault | None
    persist: bool = False
    env: dict[str, str] = field(default_factory=dict)
    emails: bool = False  # the notifications drill: its own workload and checker
    partition_s: float = 0  # the partition drill: realtime-1 cut off from RabbitMQ this long
    # How long sends may still take after the load: a conversation whose transaction the kill
    # cut takes sends again once the database server reaps that transaction (60 s).
    settle_s: float = 30.0


DRILLS: dict[str, Drill] = {
    "baseline": Drill(None),
    "realtime-kill": Drill(ProcessCrash("realtime-1", down_s=10)),
    "conversations-kill": Drill(ProcessCrash("conversations", down_s=5), settle_s=90),
    "rabbitmq-stop": Drill(BrokerStop(down_s=10)),
    "database-stop": Drill(ProcessCrash("secantus", down_s=5, kill=False), persist=True),
    "notifications-kill": Drill(None, env=EMAIL_DRILL_ENV, emails=True),
    "partition": Drill(None, partition_s=15),
}


async def partition_drill(stack: DevStack, name: str, down_s: float, load: Load) -> DrillResult:
    async with replica_in_namespace(stack, "realtime-1", say) as ns:
        return await run_message_drill(
            stack, name=name, fault=AmqpPartition(ns, down_s), load=load, say=say
        )


def say(line: str) -> None:
    print(f"[drill {datetime.now().strftime('%H:%M:%S')}] {line}", flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench/drill.py", description=__doc__)
    parser.add_argument("drills", nargs="+", choices=[*DRILLS, "all"], help="which drill(s)")
    parser.add_argument("--conversations", type=int, default=20, help="two sockets each")
    parser.add_argument("--rate", type=float, default=50.0, help="messages/s, all together")
    parser.add_argument("--duration", type=float, default=40.0, help="seconds of load")
    parser.add_argument("--fault-at", type=float, default=10.0, help="seconds into the load")
    parser.add_argument(
        "--port-offset",
        type=int,
        default=int(os.environ.get("DEV_PORT_OFFSET") or 0),
        help="shift every port of the drill's stack (DEV_PORT_OFFSET)",
    )
    parser.add_argument(
        "--run-dir", type=Path, default=REPO_ROOT / ".dev" / "drill", help="default .dev/drill"
    )
    return parser.parse_args(argv)


def stack_for(drill: Drill, args: argparse.Namespace) -> DevStack:
    return drill_stack(
        args.run_dir,
        ports_from_env(args.port_offset),
        persist=drill.persist,
        env=drill.env,
        say=lambda line: say(f"stack: {line}"),
    )


def run_one(name: str, args: argparse.Namespace) -> dict[str, Any]:
    drill = DRILLS[name]
    load = Load(
        conversations=args.conversations,
        rate=args.rate,
        duration_s=args.duration,
        fault_at_s=args.fault_at,
        settle_s=drill.settle_s,
    )
    stack = stack_for(drill, args)
    stack.up()
    try:
        if drill.partition_s:
            result = asyncio.run(partition_drill(stack, name, drill.partition_s, load))
        elif drill.emails:
            result = asyncio.run(run_email_drill(stack, load=load, say=say))
        else:
            result = asyncio.run(
                run_message_drill(stack, name=name, fault=drill.fault, load=load, say=say)
            )
    finally:
        stack.down(quiet=True)
    return result.to_json()


def git_revision() -> str:
    import subprocess

    answer = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    dirty = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    )
    return answer.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")


def main(argv: list[str] | None = None, runner: Callable[..., Any] = run_one) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    names = list(DRILLS) if "all" in args.drills else args.drills
    commit = git_revision()
    results = []
    for name in names:
        result = runner(name, args)
        results.append(result)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        (OUT_DIR / f"drill-{name}-{stamp}.json").write_text(
            json.dumps({**result, "commit": commit}, indent=1)
        )
        print(report.details(result), flush=True)
    print()
    print(report.table(results, commit))
    return 0 if all(r["figures"]["passed"] for r in results) else 1
