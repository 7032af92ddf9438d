"""`scripts/dev up [--detach] [--persist] [--port-offset N]`, `scripts/dev down`, `scripts/dev status`
(and `prepare`, which scripts/test runs: nginx and RabbitMQ present and answering).

Run through scripts/dev, which prepares the Python environment first.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from scripts.devstack.config import DEFAULT_AMQP_URL, StackConfig, ports_from_env
from scripts.devstack.errors import StackError
from scripts.devstack.gateway import REPO_ROOT
from scripts.devstack.prereqs import (
    amqp_address,
    ensure_chromium,
    ensure_nginx,
    ensure_node,
    ensure_rabbitmq,
)
from scripts.devstack.stack import DevStack
from scripts.devstack.web import build_web


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/dev",
        description="Run Workcity Chat locally as processes: SecantusDB, the services, nginx.",
    )
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=Path(os.environ.get("DEV_RUN_DIR") or REPO_ROOT / ".dev"),
        help="state, logs, data and nginx files (default .dev, or DEV_RUN_DIR)",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start the stack (foreground unless --detach)")
    up.add_argument(
        "--detach", action="store_true", help="return once the gateway answers; stop with `down`"
    )
    up.add_argument(
        "--persist",
        action="store_true",
        help="keep SecantusDB's data on disk under <run-dir>/data/mongo (default: in memory)",
    )
    up.add_argument(
        "--port-offset",
        type=int,
        default=int(os.environ.get("DEV_PORT_OFFSET") or 0),
        help="add N to every default port, to run beside another stack (DEV_PORT_OFFSET)",
    )
    up.add_argument(
        "--no-install",
        action="store_true",
        help="never apt-get install nginx or rabbitmq-server, even as root",
    )
    up.add_argument(
        "--no-web", action="store_true", help="do not build the web app (web/ into web/dist)"
    )
    prepare = commands.add_parser(
        "prepare",
        help="check (as root: install and start) nginx and RabbitMQ (--browser: Chromium, "
        "Node.js and npm too); used by scripts/test",
    )
    prepare.add_argument("--no-install", action="store_true", help="never apt-get install")
    prepare.add_argument("--web", action="store_true", help="also build the web app (web/dist)")
    prepare.add_argument(
        "--browser",
        action="store_true",
        help="also Chromium, Node.js and npm, for the browser and JavaScript tests",
    )
    commands.add_parser("down", help="stop everything `up` started")
    commands.add_parser("status", help="each process, its port and its health")
    return parser


def _config(args: argparse.Namespace) -> StackConfig:
    return StackConfig(
        run_dir=args.run_dir.resolve(),
        ports=ports_from_env(args.port_offset),
        mongo_uri=os.environ.get("MONGO_URI") or None,
        persist=args.persist,
        amqp_url=os.environ.get("AMQP_URL") or DEFAULT_AMQP_URL,
        start_timeout_s=float(os.environ.get("DEV_START_TIMEOUT_SECONDS") or 120),
        install_missing=not args.no_install,
    )


def _print_ready(stack: DevStack) -> None:
    config = stack.config
    print(f"\nWorkcity Chat is up: {stack.gateway_url}", flush=True)
    print(f"  development admin: {config.admin_email} / {config.admin_password}")
    print(f"  services: {', '.join(stack.services) or 'none yet'}")
    print(f"  logs: {config.log_dir}")


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _say(line: str) -> None:
    print(f"[setup] {line}", flush=True)


def _up(args: argparse.Namespace) -> int:
    stack = DevStack(_config(args))
    if not args.no_web:
        build_web(_say)
    if args.detach:
        stack.up()
        _print_ready(stack)
        print("  stop it with: scripts/dev down")
        return 0

    # SIGTERM ends the foreground stack like Ctrl-C does.
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        stack.up()
        _print_ready(stack)
        print("  Ctrl-C stops everything\n", flush=True)
        stack.supervise(threading.Event(), lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        print("", flush=True)
    finally:
        # A second Ctrl-C must not leave half the stack running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.down()
    return 0


def _prepare(args: argparse.Namespace) -> int:
    say = _say
    nginx = ensure_nginx(say, install=not args.no_install)
    amqp_url = os.environ.get("AMQP_URL") or DEFAULT_AMQP_URL
    ensure_rabbitmq(amqp_url, say, install=not args.no_install)
    host, port = amqp_address(amqp_url)
    say(f"nginx: {nginx}; RabbitMQ answers at {host}:{port}")
    if args.browser:
        ensure_chromium(say, install=not args.no_install)
        ensure_node(say, install=not args.no_install)
    if args.web:
        build_web(say)
    return 0


def _down(args: argparse.Namespace) -> int:
    stack = DevStack(_config_for_existing(args))
    if stack.load_state() is None:
        print(f"no stack running from {args.run_dir}")
        return 0
    stack.down()
    print("stopped")
    return 0


def _status(args: argparse.Namespace) -> int:
    stack = DevStack(_config_for_existing(args))
    state = stack.load_state()
    if state is None:
        print(f"no stack running from {args.run_dir}")
        return 1
    statuses = stack.status()
    print(f"gateway: {state.get('gateway_url')}")
    print(f"{'process':<14} {'pid':>7} {'port':>6}  health")
    for status in statuses:
        print(f"{status.name:<14} {status.pid:>7} {status.port or '-':>6}  {status.health}")
    print(f"logs: {args.run_dir.resolve() / 'logs'}")
    return 0 if statuses and all(status.healthy for status in statuses) else 1


def _config_for_existing(args: argparse.Namespace) -> StackConfig:
    # `down` and `status` read ports and pids from the state file; defaults are placeholders.
    return StackConfig(run_dir=args.run_dir.resolve(), ports=ports_from_env(0))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "up":
            return _up(args)
        if args.command == "down":
            return _down(args)
        if args.command == "prepare":
            return _prepare(args)
        return _status(args)
    except StackError as exc:
        print(f"scripts/dev: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
