"""The benchmark run: prepare users through the API, run each scenario's load generator (Node.js,
bench/load.mjs), sample the stack's CPU, memory and database requests at the generator's marks,
and write the results (bench/README.md)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import platform
import secrets
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.prepare import Api, Population, prepare, refresh_stale, seed_history
from bench.sampling import Sample, Sampler, StackProcesses, Usage, usage_between
from bench.stats import is_saturated, rate, summarize

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
SCENARIOS = ("latency", "throughput", "fanout", "connections", "rest")
# Source addresses the sockets are spread over (the gateway pins an address to a replica).
DEFAULT_ADDRESSES = 32


@dataclass(frozen=True)
class Plan:
    """Sizes and durations; `--quick` shrinks them to a smoke run of a couple of minutes."""

    pairs: int = 50
    # 50 msgs/s as the issue-12 target (p99 < 15 ms) and 200 as the original's figure.
    latency_rates: tuple[int, ...] = (50, 200)
    latency_s: float = 20.0
    throughput_rates: tuple[int, ...] = (100, 150, 200, 500, 600, 1000, 2000)
    throughput_s: float = 10.0
    fanout_sockets: int = 200
    fanout_rates: tuple[int, ...] = (50, 100, 125, 150, 200)
    fanout_s: float = 10.0
    connection_levels: tuple[int, ...] = (1000, 2000, 5000)
    connections_time_bound_s: float = 60.0
    connections_concurrency: int = 200
    rest_concurrency: int = 32
    rest_s: float = 15.0

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            latency_s=8.0,
            throughput_rates=(100, 200, 600),
            throughput_s=5.0,
            fanout_sockets=100,
            fanout_rates=(100, 200),
            fanout_s=5.0,
            connection_levels=(500, 1000),
            connections_time_bound_s=30.0,
            rest_s=5.0,
        )


def say(line: str) -> None:
    print(f"[bench] {line}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- load generator


def ensure_node_modules() -> None:
    if (BENCH_DIR / "node_modules" / "socket.io-client").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm not found: the load generator needs Node.js 20 and npm")
    say("installing the load generator's packages (npm ci)")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=BENCH_DIR, check=True, timeout=300)


class LoadRun:
    """One run of bench/load.mjs; the stack is sampled whenever it prints a mark."""

    def __init__(self, sampler: Sampler, config: dict[str, Any], workdir: Path) -> None:
        self._sampler = sampler
        self._config = config
        self._workdir = workdir
        self.marks: dict[tuple[str, str], tuple[float, Sample]] = {}
        self.mark_extra: dict[tuple[str, str], dict[str, Any]] = {}
        self.saturated_steps = 0

    def run(self) -> dict[str, Any]:
        node = shutil.which("node")
        if node is None:
            raise SystemExit("node not found: the load generator needs Node.js 20")
        path = self._workdir / f"load-{self._config['scenario']}-{secrets.token_hex(3)}.json"
        path.write_text(json.dumps(self._config))
        limit_s = float(self._config["maxRuntimeS"]) + 30
        process = subprocess.Popen(
            [node, str(BENCH_DIR / "load.mjs"), str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=BENCH_DIR,
        )
        self._sampler.extra["loadgen"] = process.pid
        watchdog = threading.Timer(limit_s, process.kill)
        watchdog.start()
        result: dict[str, Any] | None = None
        error: str | None = None
        try:
            assert process.stdout is not None
            for line in process.stdout:
                try:
                    message = json.loads(line)
                except ValueError:
                    say(f"load generator: {line.rstrip()}")
                    continue
                if message.get("type") == "mark":
                    key = (message["step"], message["mark"])
                    if message["mark"] == "end" and self._config.get("controlled"):
                        # The step's backlog is part of its cost: sample once the stack is quiet.
                        waited = wait_until_quiet(self._sampler)
                        message["quiet_after_s"] = round(waited, 1)
                    self.marks[key] = (time.monotonic(), self._sampler.sample())
                    self.mark_extra[key] = message
                    if self._config.get("controlled"):
                        # A start is answered once sampled (the step's load waits for it).
                        answer = self._next_step(message) if message["mark"] == "end" else "go"
                        assert process.stdin is not None
                        process.stdin.write(answer + "\n")
                        process.stdin.flush()
                elif message.get("type") == "result":
                    result = message["result"]
                elif message.get("type") == "error":
                    error = message["error"]
            process.wait(timeout=30)
        finally:
            watchdog.cancel()
            if process.poll() is None:
                process.kill()
                process.wait()
            self._sampler.extra.pop("loadgen", None)
            path.unlink(missing_ok=True)
        if result is None:
            raise RuntimeError(
                f"load generator failed ({process.returncode}): {error or 'no result'}"
            )
        return result

    def _next_step(self, summary: dict[str, Any]) -> str:
        """Go on after an unsaturated step and after the first saturated one (to see what
        happens past saturation); stop after the second."""
        span_s = max(float(summary["durationS"]), float(summary["spanMs"]) / 1000)
        delivered_per_s = rate(summary["delivered"], span_s)
        if is_saturated(summary["offered"], delivered_per_s, summary["p99"]):
            self.saturated_steps += 1
        return "stop" if self.saturated_steps >= 2 else "go"

    def usage(self, step: str, rss_mark: str | None = None) -> Usage:
        t0, before = self.marks[(step, "start")]
        t1, after = self.marks[(step, "end")]
        rss_at = self.marks[(step, rss_mark)][1] if rss_mark else None
        return usage_between(before, after, t1 - t0, rss_at)


def wait_until_quiet(sampler: Sampler, limit_s: float = 75.0, idle_cores: float = 0.15) -> float:
    """Wait until the stack uses less than `idle_cores` of CPU over half a second (its backlog
    is done); returns the seconds waited (at most `limit_s`)."""
    started = time.monotonic()
    previous = sampler.sample(counters=False)
    while time.monotonic() - started < limit_s:
        time.sleep(0.5)
        current = sampler.sample(counters=False)
        busy = sum(
            current.cpu.get(k, 0.0) - previous.cpu.get(k, 0.0)
            for k in current.cpu
            if k not in ("loadgen", "rabbitmq")
        )
        if busy < idle_cores * 0.5:
            break
        previous = current
    return time.monotonic() - started


# ----------------------------------------------------------------------------- the run


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        plan = Plan.quick() if args.quick else Plan()
        if args.rates:
            plan = dataclasses.replace(plan, throughput_rates=args.rates)
        if args.latency_rates:
            plan = dataclasses.replace(plan, latency_rates=args.latency_rates)
        self.plan = plan
        self.stack = StackProcesses.from_run_dir(args.run_dir.resolve())
        self.gateway_url = (args.gateway_url or self.stack.gateway_url).rstrip("/")
        self.env = stack_environment(self.stack)
        self.sampler = Sampler(self.stack, mongo_uri_of(self.stack, self.env))
        self.tag = datetime.now(UTC).strftime("%H%M%S") + secrets.token_hex(2)
        self.workdir = args.out_dir.resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.candidates = [f"127.0.0.{i}" for i in range(2, 2 + args.addresses)]
        self.addresses: dict[str, list[str]] = {"any": ["127.0.0.1"]}
        self.results: dict[str, Any] = {}

    def load(self, scenario: str, **config: Any) -> LoadRun:
        config = {
            "scenario": scenario,
            "gatewayUrl": self.gateway_url,
            "runTag": self.tag,
            "addresses": self.addresses,
            "maxRuntimeS": 600,
            "deflate": not self.args.no_deflate,
            **config,
        }
        return LoadRun(self.sampler, config, self.workdir)

    def run(self) -> dict[str, Any]:
        ensure_node_modules()
        return asyncio.run(self._run())

    async def _run(self) -> dict[str, Any]:
        started = time.monotonic()
        api = Api(self.gateway_url, self.candidates[:8])
        try:
            population = await self._prepare(api)
            await self._probe(population)
            for name in SCENARIOS:
                if name not in self.args.scenarios:
                    continue
                say(f"scenario {name}")
                try:
                    await self._refresh(api, population)
                    runner = getattr(self, f"_{name}")
                    self.results[name] = await runner(api, population)
                except Exception as exc:
                    # One scenario failing (the stack gave up, say) must not lose the others.
                    say(f"scenario {name} failed: {exc!r}")
                    self.results[name] = {"error": repr(exc)[:2000]}
        finally:
            await api.close()
            self.sampler.close()
        return {
            "meta": self._meta(time.monotonic() - started),
            "scenarios": self.results,
        }

    async def _prepare(self, api: Api) -> Population:
        email = self.args.admin_email or self.env.get("auth", {}).get("ADMIN_EMAIL")
        password = self.args.admin_password or self.env.get("auth", {}).get("ADMIN_PASSWORD")
        if not email or not password:
            raise SystemExit("admin credentials unknown: pass --admin-email/--admin-password")
        return await prepare(
            api,
            tag=self.tag,
            admin_email=email,
            admin_password=password,
            pairs=self.plan.pairs,
            say=say,
        )

    async def _refresh(self, api: Api, population: Population) -> None:
        refreshed = await refresh_stale(api, population.users, max_age_s=300)
        if refreshed:
            say(f"refreshed {refreshed} access tokens")

    async def _probe(self, population: Population) -> None:
        ports = [self.stack.port(name) for name in self.stack.realtime_names]
        if len(ports) < 2 or None in ports:
            say("fewer than two realtime replicas: sockets are not spread")
            return
        run = self.load(
            "probe",
            replicaPorts=ports,
            candidates=self.candidates,
            token=population.pairs[0].customer.token,
            maxRuntimeS=120,
        )
        result = await asyncio.to_thread(run.run)
        found = {str(k): v for k, v in result["addresses"].items()}
        if len(found) < 2:
            say(f"every source address went to one replica ({found}); sockets are not spread")
        self.addresses = found or self.addresses
        say(
            "source addresses per replica: "
            + ", ".join(f"{self.stack.realtime_names[int(k)]}: {len(v)}" for k, v in found.items())
        )

    # --- scenarios ----------------------------------------------------------------------------

    async def _messages(
        self, population: Population, steps: list[dict[str, Any]]
    ) -> dict[str, Any]:
        run = self.load(
            "messages",
            conversations=[p.to_load() for p in population.pairs],
            steps=steps,
            controlled=True,
        )
        raw = await asyncio.to_thread(run.run)
        out_steps = []
        for step in raw["steps"]:
            usage = run.usage(step["name"])
            recipient = summarize(step["recipientMs"])
            acks = summarize(step["ackMs"])
            span_s = max(step["durationS"], step["spanMs"] / 1000)
            delivered_per_s = rate(step["delivered"], span_s)
            out_steps.append(
                {
                    "name": step["name"],
                    "offered_per_s": step["offeredRate"],
                    "duration_s": step["durationS"],
                    "sent": step["sent"],
                    "stored": step["ackOk"],
                    "refused": step["ackRefused"],
                    "refusals": step["refusals"],
                    "ack_timeouts": step["ackTimeout"],
                    "delivered": step["delivered"],
                    "delivered_late": step["deliveredLate"],
                    "lost": step["lost"],
                    # After the backlog was done: a stored message that never reached its
                    # recipient was dropped.
                    "never_delivered": step["storedOrUnanswered"] - step["eventuallyDelivered"],
                    "delivered_per_s": round(delivered_per_s, 1),
                    "window_delivered_per_s": round(
                        rate(step["windowDeliveries"], step["durationS"]), 1
                    ),
                    "saturated": is_saturated(step["offeredRate"], delivered_per_s, recipient.p99),
                    "recipient_ms": recipient.to_json(),
                    "slowest": step.get("slowest", []),
                    "per_second": step.get("perSecond", []),
                    "ack_ms": acks.to_json(),
                    "generator_max_lag_ms": round(step["generatorMaxLagMs"], 1),
                    "received": step["received"],
                    "usage": usage.to_json(),
                    "quiet_after_s": run.mark_extra[(step["name"], "end")].get("quiet_after_s"),
                    "per_message": per_unit(
                        usage, step["delivered"] + step["deliveredLate"], step["ackOk"]
                    ),
                }
            )
        return {
            "sockets": raw["sockets"],
            "disconnects": raw.get("disconnects", 0),
            "sockets_per_replica": raw["socketsPerReplica"],
            "cross_replica_conversations": raw["crossReplicaConversations"],
            "duplicates": raw["duplicates"],
            "out_of_order": raw["outOfOrder"],
            "steps": out_steps,
        }

    async def _latency(self, api: Api, population: Population) -> dict[str, Any]:
        plan = self.plan
        steps = [
            {"name": f"latency-{r}", "rate": r, "durationS": plan.latency_s}
            for r in plan.latency_rates
        ]
        return await self._messages(population, steps)

    async def _throughput(self, api: Api, population: Population) -> dict[str, Any]:
        plan = self.plan
        steps = [
            {"name": f"throughput-{r}", "rate": r, "durationS": plan.throughput_s}
            for r in plan.throughput_rates
        ]
        return await self._messages(population, steps)

    async def _fanout(self, api: Api, population: Population) -> dict[str, Any]:
        plan = self.plan
        assert population.fanout is not None
        steps = [
            {"name": f"fanout-{r}", "rate": r, "durationS": plan.fanout_s}
            for r in plan.fanout_rates
        ]
        run = self.load(
            "fanout",
            conversation=population.fanout.to_load(),
            sockets=plan.fanout_sockets,
            steps=steps,
            controlled=True,
        )
        raw = await asyncio.to_thread(run.run)
        out_steps = []
        for step in raw["steps"]:
            usage = run.usage(step["name"])
            latency = summarize(step["deliveryMs"])
            span_s = max(step["durationS"], step["spanMs"] / 1000)
            # Deliveries within 5 s (late ones are lost), over the time they took.
            per_s = rate(latency.count, span_s)
            offered = step["offeredRate"] * raw["sockets"]
            out_steps.append(
                {
                    "name": step["name"],
                    "messages_per_s": step["offeredRate"],
                    "offered_deliveries_per_s": offered,
                    "sent": step["sent"],
                    "stored": step["ackOk"],
                    "refused": step["ackRefused"],
                    "refusals": step["refusals"],
                    "ack_timeouts": step["ackTimeout"],
                    "deliveries": step["deliveries"],
                    "expected_deliveries": step["expectedDeliveries"],
                    "lost_deliveries": step["lostDeliveries"],
                    "never_delivered": step["expectedDeliveries"] - step["eventualDeliveries"],
                    "deliveries_per_s": round(per_s, 1),
                    "saturated": is_saturated(offered, per_s, latency.p99),
                    "delivery_ms": latency.to_json(),
                    "generator_max_lag_ms": round(step["generatorMaxLagMs"], 1),
                    "received": step["received"],
                    "usage": usage.to_json(),
                    "quiet_after_s": run.mark_extra[(step["name"], "end")].get("quiet_after_s"),
                    "per_1000_deliveries": per_unit(
                        usage, step["deliveries"] / 1000, step["ackOk"]
                    ),
                }
            )
        return {
            "sockets": raw["sockets"],
            "disconnects": raw.get("disconnects", 0),
            "out_of_order": raw["outOfOrder"],
            "steps": out_steps,
        }

    async def _connections(self, api: Api, population: Population) -> dict[str, Any]:
        plan = self.plan
        run = self.load(
            "connections",
            users=[u.socket_auth() for u in population.users],
            levels=list(plan.connection_levels),
            concurrency=plan.connections_concurrency,
            timeBoundS=plan.connections_time_bound_s,
            holdS=5,
            settleS=3,
        )
        raw = await asyncio.to_thread(run.run)
        realtime = self.stack.realtime_names
        levels = []
        for level in raw["levels"]:
            usage = run.usage(level["name"], rss_mark="sample")
            rss_delta = sum(
                usage.rss_after_kib.get(n, 0) - usage.rss_before_kib.get(n, 0) for n in realtime
            )
            connected = level["connectedAfterHold"]
            levels.append(
                {
                    "name": level["name"],
                    "asked": level["asked"],
                    "connected": level["connected"],
                    "connected_after_hold": connected,
                    "failed": level["failed"],
                    "not_attempted": level["notAttempted"],
                    "errors": level["errors"],
                    "open_s": round(level["openMs"] / 1000, 2),
                    "connect_ms": summarize(level["connectMs"]).to_json(),
                    "per_replica": level["perReplica"],
                    "realtime_rss_kib_per_socket": round(rss_delta / connected, 1)
                    if connected
                    else None,
                    "received": level["received"],
                    "received_chars": level["receivedChars"],
                    "users": len(population.users),
                    "usage": usage.to_json(),
                }
            )
        return {"levels": levels}

    async def _rest(self, api: Api, population: Population) -> dict[str, Any]:
        plan = self.plan
        readers_pairs = population.pairs[:16]
        if "latency" not in self.results and "throughput" not in self.results:
            say("seeding 50 messages in 16 conversations for the history reads")
            await seed_history(api, readers_pairs, 50)
        run = self.load(
            "rest",
            concurrency=plan.rest_concurrency,
            logins=[
                {"email": u.email, "password": u.password}
                for u in population.users
                if u.role == "customer"
            ],
            readers=[
                {"conversationId": p.conversation_id, "token": p.customer.token}
                for p in readers_pairs
            ],
            steps=[
                {"name": "rest-login", "kind": "login", "durationS": plan.rest_s},
                {"name": "rest-history", "kind": "history", "durationS": plan.rest_s},
            ],
        )
        raw = await asyncio.to_thread(run.run)
        steps = []
        for step in raw["steps"]:
            usage = run.usage(step["name"])
            latency = summarize(step["latencyMs"])
            steps.append(
                {
                    "name": step["name"],
                    "kind": step["kind"],
                    "concurrency": step["concurrency"],
                    "requests": step["requests"],
                    "ok": step["ok"],
                    "statuses": step["statuses"],
                    "ok_per_s": round(rate(step["ok"], step["elapsedMs"] / 1000), 1),
                    "latency_ms": latency.to_json(),
                    "mean_answer_bytes": round(step["meanAnswerBytes"]),
                    "usage": usage.to_json(),
                    "per_request": per_unit(usage, step["ok"], step["ok"]),
                }
            )
        return {
            "bcrypt_rounds": self.env.get("auth", {}).get("BCRYPT_ROUNDS", "12 (default)"),
            "steps": steps,
        }

    def _meta(self, elapsed_s: float) -> dict[str, Any]:
        return {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "uv run python bench/run.py " + " ".join(self.args.argv),
            "quick": self.args.quick,
            "socket_compression": not self.args.no_deflate,
            "label": self.args.label,
            "gateway_url": self.gateway_url,
            "machine": machine(),
            "git": git_revision(),
            "elapsed_s": round(elapsed_s, 1),
            "source_addresses": self.addresses,
            "service_env": {
                name: {k: v for k, v in env.items() if k in REPORTED_ENV}
                for name, env in self.env.items()
            },
        }


def per_unit(usage: Usage, units: float, stored: int) -> dict[str, Any]:
    """CPU milliseconds per unit (a delivered message, 1000 deliveries, a request) for each
    process group, and database round trips per stored message."""
    cpu_ms = {k: round(v * 1000 / units, 3) if units else None for k, v in usage.cpu.items()}
    stack = usage.stack_cpu * 1000 / units if units else None
    # Database commands each service sent (its own count, transactions included), per stored
    # message: the round trips a message costs.
    by_service: dict[str, float] = {}
    by_command: dict[str, float] = {}
    for key, value in usage.db.items():
        if key.startswith("cmd:") and value and stored:
            _, service, command = key.split(":", 2)
            by_service[service] = by_service.get(service, 0) + value / stored
            by_command[f"{service}:{command}"] = round(value / stored, 3)
    server_requests = usage.db.get("requests")
    return {
        "cpu_ms": cpu_ms,
        "stack_cpu_ms": round(stack, 3) if stack is not None else None,
        "db_round_trips_per_stored": round(sum(by_service.values()), 2) if by_service else None,
        "db_round_trips_per_stored_by_service": {k: round(v, 2) for k, v in by_service.items()},
        "db_commands_per_stored": by_command,
        # SecantusDB's own count; it leaves out the statements of transactions.
        "db_server_requests_per_stored": (
            round(server_requests / stored, 2) if server_requests and stored else None
        ),
    }


# Environment variables of the services worth writing down with a result.
REPORTED_ENV = (
    "ENVIRONMENT",
    "LOG_LEVEL",
    "BCRYPT_ROUNDS",
    "MONGO_URI",
    "BROKER_PREFETCH",
    "MEMBERSHIP_CACHE_SECONDS",
    "WEB_CONCURRENCY",
)


def process_environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(errors="replace"): v.decode(errors="replace") for k, v in pairs}


def stack_environment(stack: StackProcesses) -> dict[str, dict[str, str]]:
    """Each service's environment, read from its uvicorn process (as the stack started it)."""
    found: dict[str, dict[str, str]] = {}
    for name, pids in stack.pids().items():
        if name in ("gateway", "secantus", "rabbitmq"):
            continue
        for pid in sorted(pids, reverse=True):
            env = process_environ(pid)
            if env:
                found[name] = env
                break
    return found


def mongo_uri_of(stack: StackProcesses, env: dict[str, dict[str, str]]) -> str | None:
    port = stack.port("secantus")
    if port:
        return f"mongodb://127.0.0.1:{port}/?retryWrites=false&directConnection=true"
    return env.get("conversations", {}).get("MONGO_URI")


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": _version(["node", "--version"]),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def _version(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def git_revision() -> str:
    revision = _version(["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"])
    dirty = _version(
        ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--", "libs", "services"]
    )
    return revision + (" (with uncommitted changes)" if dirty else "")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="Benchmark a running local stack (scripts/dev up) through its gateway.",
    )
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma-separated, from {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument("--quick", action="store_true", help="short steps and small sizes")
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=Path(os.environ.get("DEV_RUN_DIR") or REPO_ROOT / ".dev"),
        help="the stack's run directory (state.json: processes and ports); default .dev",
    )
    parser.add_argument("--gateway-url", help="default: the stack's own gateway")
    parser.add_argument("--admin-email", help="default: the auth service's ADMIN_EMAIL")
    parser.add_argument("--admin-password", help="default: the auth service's ADMIN_PASSWORD")
    parser.add_argument(
        "--addresses",
        type=int,
        default=DEFAULT_ADDRESSES,
        help="source addresses 127.0.0.2.. to spread sockets over the replicas",
    )
    parser.add_argument(
        "--rates",
        help="throughput steps, comma-separated messages/s (default 100,150,200,500,600,1000,2000)",
    )
    parser.add_argument(
        "--latency-rates",
        help="latency steps, comma-separated messages/s (default 50,200)",
    )
    parser.add_argument(
        "--no-deflate",
        action="store_true",
        help="sockets do not offer permessage-deflate (as if the server had it switched off)",
    )
    parser.add_argument("--out-dir", type=Path, default=BENCH_DIR / "out")
    parser.add_argument(
        "--record",
        action="store_true",
        help="append the summary to bench/RESULTS.md",
    )
    parser.add_argument(
        "--label", default="", help="what changed since the last run (for RESULTS.md)"
    )
    args = parser.parse_args(argv)
    args.argv = argv
    args.scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    for option in ("rates", "latency_rates"):
        value = getattr(args, option)
        if not value:
            continue
        flag = "--" + option.replace("_", "-")
        try:
            rates = tuple(int(r) for r in value.split(","))
        except ValueError:
            parser.error(f"{flag} takes whole numbers: 100,200,500")
        if not all(1 <= r <= 5000 for r in rates):
            parser.error(f"{flag} must be within 1..5000 messages/s")
        setattr(args, option, rates)
    if not 1 <= args.addresses <= 200:
        parser.error("--addresses must be within 1..200")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    bench = Bench(args)
    results = bench.run()
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    json_path = bench.workdir / f"{stamp}.json"
    json_path.write_text(json.dumps(results, indent=1))
    markdown = report.render(results)
    md_path = bench.workdir / f"{stamp}.md"
    md_path.write_text(markdown)
    print(markdown)
    say(f"wrote {json_path} and {md_path}")
    if args.record:
        report.append_results(BENCH_DIR / "RESULTS.md", results, markdown)
        say("appended to bench/RESULTS.md")
    return 0
