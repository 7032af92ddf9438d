"""The CPU floor of each hop of the message path on this machine: the cheapest implementation of
the hop with the stack's libraries and options and no application logic, CPU time per message of
the client side (this process or a consumer process) and of the server side (from /proc).

`http`: an aiohttp ClientSession (keep-alive, like realtime's adapters/conversations.py) POSTs a
~240-byte JSON body to a trivial route under uvicorn (a subprocess, started as scripts/devstack
starts the services: uvloop, httptools, `--timeout-graceful-shutdown 5`), paced at `--rate`, back
to back, and 8 in flight; the route is FastAPI's without and with uvicorn's access log (one line
per request to a file, as the stack's middleware writes one), and a bare ASGI callable (uvicorn's
own share). `socketio`: a python-socketio ASGI server under uvicorn (websocket transport only,
realtime's OrjsonModule, no compression) whose `sendMessage` handler emits a ~360-byte
`newMessage` to the other client's room and acks; Node socket.io-client sockets (bench/
floorsio.mjs) drive it open loop at `--rate` and closed loop with 64 in flight; the stock manager
and realtime's LocalManager, uvicorn's three websocket implementations. `nginx`: the same socket
traffic direct and through nginx with the gateway's proxy settings (one worker), alternated.
`fanout`: one such server (realtime's LocalManager) and ~100 Node sockets in one room; each
message (a `publish` socket event from one more socket, or the server's own timer) is emitted as
a ~310-byte `newMessage` to the room, open loop at 50 and 100 messages/s; the server's CPU per
delivery and per message, the Node client's and, through nginx, nginx's per delivery.
`mongo`: PyMongo's async client against a scratch SecantusDB (in memory): a one-document read
paced and back to back, and a bulk insert per document. `amqp`: persistent publishes with
confirms (aiormq, `wait=False`, as the relay does), one at a time and 8 together, to a durable
topic exchange bound to three durable queues, each drained by a consumer process of its own
acking with multiple=True every 16 (or after 50 ms), like the replicas; the RabbitMQ node's CPU
from /proc (the node RABBITMQ_NODENAME names: use a private one).

Variants are interleaved round by round and each round's figure printed, so the machine's noise
shows. Nothing is kept: servers are scratch subprocesses, the exchange and queues are deleted.

    uv run python bench/floorcost.py http
    uv run python bench/floorcost.py socketio --rate 200
    uv run python bench/floorcost.py nginx
    uv run python bench/floorcost.py fanout --rates 50,100
    uv run python bench/floorcost.py mongo
    AMQP_URL=... RABBITMQ_NODENAME=... uv run python bench/floorcost.py amqp
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import aio_pika
import aiohttp
import aiormq
import orjson
import socketio
import uvloop
from fastapi import FastAPI, Response

if __package__ in (None, ""):
    # Run as a script: make the repository root importable (bench.*).
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.proccpu import cpu_seconds, rabbit_node_pid
from bench.stats import rounds_line

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
START_TIMEOUT_S = 30.0
IDLE_S = 10.0
# A request body like a send's (text, client message id) and an answer like a stored message's.
SEND_BODY = {"text": "hello " * 25, "clientMessageId": "c" * 36, "attachments": []}
STORED = {
    "id": "6751f0c2a1b2c3d4e5f60718",
    "conversationId": "6751f0c2a1b2c3d4e5f60719",
    "seq": 1,
    "senderId": "6751f0c2a1b2c3d4e5f6071a",
    "createdAt": "2026-12-07T05:00:00.000000Z",
}


# ---------------------------------------------------------------- servers (uvicorn factories)


def http_fastapi_app() -> FastAPI:
    """The cheapest FastAPI route of a send: the JSON body parsed into a dict, a small JSON
    answer encoded with orjson (no response model to validate)."""
    app = FastAPI()

    @app.post("/api/conversations/{conversation_id}/messages", status_code=201)
    async def send(conversation_id: str, body: dict[str, Any]) -> Response:
        return Response(orjson.dumps(STORED), status_code=201, media_type="application/json")

    return app


def http_bare_app() -> Callable[..., Awaitable[None]]:
    """A bare ASGI callable under the same uvicorn: reads the body, parses it, answers."""
    answer = orjson.dumps(STORED)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return  # lifespan: nothing to start
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        orjson.loads(body)
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    return app


def _socketio_app(manager: socketio.AsyncManager | None) -> socketio.ASGIApp:
    from workcity_realtime.adapters.sockets import OrjsonModule

    server = socketio.AsyncServer(
        async_mode="asgi",
        client_manager=manager,
        transports=["websocket"],
        json=OrjsonModule,
        logger=False,
        engineio_logger=False,
    )
    seq = 0

    @server.event
    async def connect(sid: str, environ: dict[str, Any], auth: dict[str, Any]) -> None:
        await server.enter_room(sid, f"user:{auth['user']}")

    @server.on("sendMessage")
    async def send_message(sid: str, data: dict[str, Any]) -> dict[str, Any]:
        nonlocal seq
        seq += 1
        message = {
            **STORED,
            "seq": seq,
            "conversationId": data["conversationId"],
            "text": data["text"],
            "clientMessageId": data.get("clientMessageId"),
        }
        await server.emit("newMessage", message, room=f"user:{data['to']}")
        return {"ok": True, "id": STORED["id"], "seq": seq}

    return socketio.ASGIApp(server, socketio_path="socket.io")


def socketio_stock_app() -> socketio.ASGIApp:
    return _socketio_app(None)


def socketio_local_app() -> socketio.ASGIApp:
    from workcity_realtime.adapters.sockets import LocalManager

    return _socketio_app(LocalManager(None))


FANOUT_ROOM = "conversation:fanout"
# A stored message as the stack's `newMessage` carries it, ~310 bytes of JSON.
FANOUT_MESSAGE = {**STORED, "text": "hello " * 10, "clientMessageId": "c" * 36, "attachments": []}


def socketio_fanout_app() -> socketio.ASGIApp:
    """A python-socketio server configured as realtime's (LocalManager, OrjsonModule, websocket
    only), emitting each message to one room (`_fanout_app`)."""
    from workcity_realtime.adapters.sockets import LocalManager, OrjsonModule

    return _fanout_app(
        socketio.AsyncServer(
            async_mode="asgi",
            client_manager=LocalManager(None),
            transports=["websocket"],
            json=OrjsonModule,
            logger=False,
            engineio_logger=False,
        )
    )


def socketio_fanout_realtime_app() -> socketio.ASGIApp:
    """The same on realtime's own server classes: Engine.IO queues that count their bytes and
    the emit's check of each recipient's backlog (SOCKET_MAX_QUEUED_BYTES' default), the connect
    deadline and session id prefix; no hub, handlers or broker."""
    from workcity_realtime.adapters.engine import ChatServer
    from workcity_realtime.adapters.sockets import LocalManager, OrjsonModule

    return _fanout_app(
        ChatServer(
            async_mode="asgi",
            client_manager=LocalManager(1_000_000),
            connect_deadline_s=10.0,
            sid_prefix="r1",
            transports=["websocket"],
            json=OrjsonModule,
            logger=False,
            engineio_logger=False,
        )
    )


def _fanout_app(server: socketio.AsyncServer) -> socketio.ASGIApp:
    """Emits each message to one room: on a `publish` event, or `count` times at `rate` per
    second on the server's own timer after one `publishEvery` (as a replica emits on each AMQP
    delivery, with no socket frame in)."""
    seq = 0
    timers: set[asyncio.Task[None]] = set()

    async def publish() -> None:
        nonlocal seq
        seq += 1
        await server.emit("newMessage", {**FANOUT_MESSAGE, "seq": seq}, to=FANOUT_ROOM)

    @server.event
    async def connect(sid: str, environ: dict[str, Any], auth: dict[str, Any]) -> None:
        if auth.get("room"):
            await server.enter_room(sid, FANOUT_ROOM)

    @server.on("publish")
    async def on_publish(sid: str, data: dict[str, Any]) -> None:
        await publish()

    @server.on("publishEvery")
    async def publish_every(sid: str, data: dict[str, Any]) -> None:
        async def open_loop(rate: float, count: int) -> None:
            loop = asyncio.get_running_loop()
            started = loop.time()
            for k in range(count):  # message k at k / rate, whatever became of the earlier ones
                await asyncio.sleep(max(0.0, started + k / rate - loop.time()))
                await publish()

        timer = asyncio.create_task(open_loop(float(data["rate"]), int(data["count"])))
        timers.add(timer)
        timer.add_done_callback(timers.discard)

    return socketio.ASGIApp(server, socketio_path="socket.io")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    name: str
    pid: int
    port: int


@contextlib.contextmanager
def uvicorn_server(name: str, factory: str, *options: str) -> Iterator[Server]:
    """`factory` of this module under uvicorn in a subprocess, as scripts/devstack starts a
    service (its log to a scratch file, as the stack's go to files)."""
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", f"bench.floorcost:{factory}", "--factory"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--timeout-graceful-shutdown", "5"]
    env = {**os.environ, "UVICORN_WS_PER_MESSAGE_DEFLATE": "false", "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [*argv, *options], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        with _serving(process, name, port, lambda: _tail(log)):
            yield Server(name, process.pid, port)


@contextlib.contextmanager
def _serving(
    process: subprocess.Popen[bytes], name: str, port: int, log: Callable[[], str]
) -> Iterator[None]:
    """Once `process` listens on `port` (or gives up with its log), until it is stopped."""
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start:\n{log()}")
            time.sleep(0.1)
        yield
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode()[-2000:]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Figures:
    """Per variant, each round's µs of CPU per message, by process."""

    rounds: dict[str, dict[str, list[float]]] = field(default_factory=dict)

    def add(self, variant: str, process: str, cpu_s: float, messages: int) -> None:
        per = self.rounds.setdefault(variant, {}).setdefault(process, [])
        per.append(cpu_s / max(messages, 1) * 1e6)

    def table(self, title: str, unit: str = "message", digits: int = 0) -> str:
        lines = [f"| {title} | process | µs of CPU per {unit}, by round |", "| --- | --- | --- |"]
        for variant, processes in self.rounds.items():
            for process, values in processes.items():
                lines.append(f"| {variant} | {process} | {rounds_line(values, digits)} |")
        return "\n".join(lines)


# ---------------------------------------------------------------- http


async def http_round(
    session: aiohttp.ClientSession, port: int, requests: int, in_flight: int, rate: float = 0
) -> None:
    """`requests` POSTs over `in_flight` concurrent lanes, back to back; or, with `rate`, one
    lane paced at `rate` per second (request k starts at k / rate, or at once when late)."""
    url = f"http://127.0.0.1:{port}/api/conversations/6751f0c2a1b2c3d4e5f60719/messages"
    headers = {"Authorization": "Bearer " + "t" * 300, "Content-Type": "application/json"}

    wall = time.monotonic()

    async def worker(count: int) -> None:
        for n in range(count):
            if rate:
                await asyncio.sleep(max(0.0, wall + n / rate - time.monotonic()))
            async with session.post(url, data=orjson.dumps(SEND_BODY), headers=headers) as answer:
                raw = await answer.read()
                if answer.status != 201:
                    raise SystemExit(f"the route answered {answer.status}: {raw[:200]!r}")
            orjson.loads(raw)

    await asyncio.gather(*(worker(requests // in_flight) for _ in range(in_flight)))


async def run_http(args: argparse.Namespace) -> None:
    servers = [
        ("FastAPI, no access log", "http_fastapi_app", ["--no-access-log"]),
        ("FastAPI, access log", "http_fastapi_app", []),
        ("bare ASGI, no access log", "http_bare_app", ["--no-access-log"]),
    ]
    figures = Figures()
    with contextlib.ExitStack() as stack:
        started = [stack.enter_context(uvicorn_server(n, f, *o)) for n, f, o in servers]
        connector = aiohttp.TCPConnector(limit=16, keepalive_timeout=3.0)
        async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
            for server in started:  # connections open, code paths warm
                await http_round(session, server.port, 200, 8)
            # What each server spends per second with nothing to do (uvicorn's 0.1 s tick).
            idle = {server.name: cpu_seconds(server.pid) for server in started}
            await asyncio.sleep(IDLE_S)
            for server in started:
                spent = (cpu_seconds(server.pid) - idle[server.name]) / IDLE_S * 1e6
                print(f"- {server.name}: idle, µs of CPU per second {spent:.0f}")
            modes = [
                (f"{args.rate:g}/s paced, one at a time", args.requests // 2, 1, args.rate),
                ("1 in flight, back to back", args.requests, 1, 0),
                ("8 in flight", args.requests, 8, 0),
            ]
            for _ in range(args.rounds):
                for mode, requests, in_flight, rate in modes:
                    for server in started:
                        variant = f"{server.name}, {mode}"
                        mine, theirs = time.process_time(), cpu_seconds(server.pid)
                        await http_round(session, server.port, requests, in_flight, rate)
                        count = requests // in_flight * in_flight
                        figures.add(variant, "client (aiohttp)", time.process_time() - mine, count)
                        figures.add(
                            variant, "server (uvicorn)", cpu_seconds(server.pid) - theirs, count
                        )
    print(figures.table("HTTP POST, ~240-byte JSON body", "request"))


# ---------------------------------------------------------------- socketio


async def run_socketio(args: argparse.Namespace) -> None:
    servers = [
        ("stock manager, websockets (the stack's --ws auto)", "socketio_stock_app", "auto"),
        ("LocalManager, websockets (the stack's --ws auto)", "socketio_local_app", "auto"),
        ("LocalManager, websockets-sansio", "socketio_local_app", "websockets-sansio"),
        ("LocalManager, wsproto", "socketio_local_app", "wsproto"),
    ]
    steps = [
        {"name": f"{args.rate:g}/s open loop", "rate": args.rate, "seconds": args.seconds},
        {"name": "max (64 in flight)", "window": 64, "seconds": args.seconds},
        {"name": "idle", "idle": True, "seconds": args.seconds},
    ]
    figures = Figures()
    rates: dict[str, list[float]] = {}
    idle: dict[str, list[float]] = {}
    with contextlib.ExitStack() as stack:
        started = [
            stack.enter_context(uvicorn_server(n, f, "--no-access-log", "--ws", ws))
            for n, f, ws in servers
        ]
        for _ in range(args.rounds):
            for server in started:
                config = {"url": f"http://127.0.0.1:{server.port}", "pairs": args.pairs}
                for step, cpu_s, result in drive_sockets(server, {**config, "steps": steps}):
                    if step == "idle":
                        idle.setdefault(server.name, []).append(cpu_s / result["seconds"] * 1e6)
                        continue
                    variant = f"{server.name}, {step}"
                    figures.add(variant, "server (uvicorn)", cpu_s, result["delivered"])
                    seconds = max(result["seconds"], 1e-9)
                    rates.setdefault(variant, []).append(result["delivered"] / seconds)
                    if result["delivered"] != result["sent"] or result["acked"] != result["sent"]:
                        print(f"  {variant}: {result}", file=sys.stderr)
    print(figures.table("Socket.IO: sendMessage in, newMessage out, ack"))
    print()
    for variant, values in rates.items():
        print(f"- {variant}: delivered/s by round {rounds_line(values)}")
    for name, values in idle.items():
        sockets = 2 * args.pairs
        print(f"- {name}, {sockets} sockets idle: µs of CPU per second {rounds_line(values)}")


def drive_sockets(
    server: Server, config: dict[str, Any], others: tuple[Server, ...] = ()
) -> list[tuple[str, float, dict[str, Any]]]:
    """Runs bench/floorsio.mjs against `server`, reading the server's CPU at each step's marks
    (blocking: nothing else of this process runs meanwhile); the CPU of `others` (nginx) over
    each step goes into its mark as "others_cpu_s"."""
    if not (BENCH / "node_modules" / "socket.io-client").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BENCH, check=True)
    limit_s = 60 + sum(s["seconds"] + 15 for s in config["steps"])
    results: list[tuple[str, float, dict[str, Any]]] = []
    begun = others_begun = 0.0
    with subprocess.Popen(
        ["timeout", str(int(limit_s)), "node", str(BENCH / "floorsio.mjs"), json.dumps(config)],
        stdout=subprocess.PIPE,
    ) as node:
        assert node.stdout is not None
        for line in node.stdout:
            mark = json.loads(line)
            if mark["mark"] == "start":
                begun = cpu_seconds(server.pid)
                others_begun = sum(cpu_seconds(other.pid) for other in others)
            elif mark["mark"] == "end":
                spent = cpu_seconds(server.pid) - begun
                mark["others_cpu_s"] = sum(cpu_seconds(o.pid) for o in others) - others_begun
                results.append((mark["step"], spent, mark))
    if len(results) != len(config["steps"]):
        raise SystemExit(f"the socket driver stopped early (exit {node.returncode})")
    return results


# ---------------------------------------------------------------- nginx

NGINX_CONF = """worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log notice;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ""      "";
    }}
    upstream realtime {{
        least_conn;
        server 127.0.0.1:{upstream};
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        # The gateway's proxy settings and /socket.io location (gateway/templates).
        proxy_http_version 1.1;
        proxy_set_header Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        location /socket.io/ {{
            proxy_pass http://realtime;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_buffering off;
        }}
    }}
}}
"""


@contextlib.contextmanager
def nginx_gateway(upstream: int) -> Iterator[list[Server]]:
    """nginx (one worker, as the stack's gateway) in front of `upstream`'s /socket.io."""
    port = free_port()
    with tempfile.TemporaryDirectory() as prefix:
        conf = Path(prefix) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(prefix=prefix, upstream=upstream, port=port))
        argv = ["nginx", "-p", prefix, "-c", str(conf), "-g", "daemon off;"]
        process = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
        with _serving(process, "nginx", port, (Path(prefix) / "error.log").read_text):
            children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
            yield [Server("nginx master", process.pid, port)] + [
                Server("nginx worker", int(pid), port) for pid in children
            ]


async def run_nginx(args: argparse.Namespace) -> None:
    steps = [{"name": f"{args.rate:g}/s open loop", "rate": args.rate, "seconds": args.seconds}]
    figures = Figures()
    with (
        uvicorn_server("socketio", "socketio_local_app", "--no-access-log") as server,
        nginx_gateway(server.port) as gateway,
    ):
        for _ in range(args.rounds):
            for route, port in (("direct", server.port), ("through nginx", gateway[0].port)):
                config = {"url": f"http://127.0.0.1:{port}", "pairs": args.pairs, "steps": steps}
                before = sum(cpu_seconds(p.pid) for p in gateway)
                for step, cpu_s, result in drive_sockets(server, config):
                    nginx_s = sum(cpu_seconds(p.pid) for p in gateway) - before
                    variant = f"{step}, {route}"
                    figures.add(variant, "Socket.IO server (uvicorn)", cpu_s, result["delivered"])
                    figures.add(variant, "nginx (master + worker)", nginx_s, result["delivered"])
    print(figures.table("Socket.IO through nginx: 1 frame in, 2 out (newMessage, ack) per message"))


# ---------------------------------------------------------------- fanout


async def run_fanout(args: argparse.Namespace) -> None:
    # (name, server, trigger, through nginx)
    variants = [
        ("direct, the server's timer", "floor", "timer", False),
        ("direct, a socket event per message", "floor", "socket", False),
        ("through nginx, a socket event per message", "floor", "socket", True),
        ("direct, the server's timer, realtime's server classes", "realtime", "timer", False),
    ]
    per_delivery, per_message = Figures(), Figures()
    rates: dict[str, list[float]] = {}
    size = len(orjson.dumps({**FANOUT_MESSAGE, "seq": 1000}))
    print(
        f"{args.sockets} sockets in one room, `newMessage` of {size} bytes of JSON, --ws {args.ws}"
    )
    options = ("--no-access-log", "--ws", args.ws)
    with (
        uvicorn_server("fan-out floor", "socketio_fanout_app", *options) as floor,
        uvicorn_server("fan-out realtime", "socketio_fanout_realtime_app", *options) as realtime,
        nginx_gateway(floor.port) as gateway,
    ):
        servers = {"floor": floor, "realtime": realtime}
        for _ in range(args.rounds):
            for name, which, trigger, through_nginx in variants:
                server = servers[which]
                steps = [
                    {"name": f"{rate:g} msgs/s", "rate": rate, "seconds": args.seconds}
                    | {"trigger": trigger}
                    for rate in args.rates
                ]
                port = gateway[0].port if through_nginx else server.port
                config = {"url": f"http://127.0.0.1:{port}", "fanout": args.sockets, "steps": steps}
                others = tuple(gateway) if through_nginx else ()
                for step, cpu_s, result in drive_sockets(server, config, others):
                    variant = f"{step}, {name}"
                    delivered = result["delivered"]
                    per_delivery.add(variant, "server (uvicorn)", cpu_s, delivered)
                    per_delivery.add(
                        variant, "Node client (all sockets)", result["clientCpuS"], delivered
                    )
                    if through_nginx:
                        per_delivery.add(
                            variant, "nginx (master + worker)", result["others_cpu_s"], delivered
                        )
                    per_message.add(variant, "server (uvicorn)", cpu_s, result["sent"])
                    rate = delivered / max(result["deliveringS"], 1e-9)
                    rates.setdefault(variant, []).append(rate)
                    if delivered != result["expected"]:
                        print(f"  {variant}: {result}", file=sys.stderr)
    print(per_delivery.table("Fan-out: µs per delivery = ms per 1,000 deliveries", "delivery", 1))
    print()
    print(per_message.table("Fan-out, the server per message emitted to the room"))
    print()
    for variant, values in rates.items():
        print(f"- {variant}: deliveries/s by round {rounds_line(values)}")


# ---------------------------------------------------------------- mongo


@contextlib.contextmanager
def secantus_server() -> Iterator[Server]:
    """A scratch SecantusDB in memory, as scripts/devstack starts the stack's."""
    port = free_port()
    binary = Path(sys.executable).parent / "secantusd-py"
    argv = [str(binary), "--host", "127.0.0.1", "--port", str(port), "--storage-path", ":memory:"]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        with _serving(process, "secantusd-py", port, lambda: _tail(log)):
            yield Server("secantus", process.pid, port)


async def run_mongo(args: argparse.Namespace) -> None:
    from pymongo import AsyncMongoClient

    figures = Figures()
    with secantus_server() as server:
        # retryWrites=false: as the stack (SecantusDB slows down with retryable writes).
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            f"mongodb://127.0.0.1:{server.port}/?retryWrites=false"
        )
        try:
            collection = client["floorcost"]["docs"]
            await collection.insert_one({"_id": "one", **STORED})
            inserted = 0

            async def find_one() -> None:
                await collection.find_one({"_id": "one"})

            async def insert_50() -> None:
                nonlocal inserted
                await collection.insert_many(
                    [{**STORED, "seq": inserted + n} for n in range(50)], ordered=False
                )
                inserted += 50

            kinds = [
                ("find_one by _id, back to back", find_one, args.requests, 1, 0.0),
                (
                    f"find_one by _id, {args.rate:g}/s paced",
                    find_one,
                    args.requests // 2,
                    1,
                    args.rate,
                ),
                (
                    "insert_many of 50 small documents, per document",
                    insert_50,
                    args.requests // 50,
                    50,
                    0.0,
                ),
            ]
            await find_one()
            for _ in range(args.rounds):
                for label, request, count, per, rate in kinds:
                    mine, theirs = time.process_time(), cpu_seconds(server.pid)
                    wall = time.monotonic()
                    for n in range(count):
                        if rate:
                            await asyncio.sleep(max(0.0, wall + n / rate - time.monotonic()))
                        await request()
                    figures.add(
                        label, "client (PyMongo async)", time.process_time() - mine, count * per
                    )
                    figures.add(
                        label, "server (SecantusDB)", cpu_seconds(server.pid) - theirs, count * per
                    )
        finally:
            await client.close()
    print(figures.table("PyMongo async to SecantusDB", "request (per document: the bulk)"))


# ---------------------------------------------------------------- amqp

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
ACK_EVERY = 16  # realtime's EVENTS_ACK_EVERY
ACK_DELAY_S = 0.05  # and its delay: a window not full is acked after this
PREFETCH = 32


def event_body(n: int) -> bytes:
    """A message.created event's size (the stack's is about 600 bytes of JSON)."""
    return orjson.dumps(
        {
            "id": uuid.uuid4().hex,
            "type": "message.created",
            "version": 1,
            "producer": "conversations",
            "occurred_at": "2026-12-07T05:00:00.000000Z",
            "data": {**STORED, "seq": n, "text": "hello " * 25, "participants": ["a", "b"]},
        }
    )


async def consume(args: argparse.Namespace) -> None:
    """One consumer process (internal): drains `--queue`, acks with multiple=True every 16 or
    after 50 ms, prints "ready", and once `--count` messages are in, its CPU time since."""
    connection = await aio_pika.connect(URL)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=PREFETCH)
    queue = await channel.get_queue(args.queue)
    received, unacked = 0, 0
    last: aio_pika.abc.AbstractIncomingMessage | None = None
    timer: asyncio.TimerHandle | None = None
    done = asyncio.Event()
    loop = asyncio.get_running_loop()

    def flush() -> None:
        nonlocal unacked, timer
        if timer is not None:
            timer.cancel()
            timer = None
        if last is not None and unacked:
            unacked = 0
            acking = loop.create_task(last.ack(multiple=True))
            acking.add_done_callback(lambda _: received >= args.count and done.set())

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal received, unacked, last, timer
        orjson.loads(message.body)
        received += 1
        unacked += 1
        last = message
        if unacked >= ACK_EVERY or received >= args.count:
            flush()
        elif timer is None:
            timer = loop.call_later(ACK_DELAY_S, flush)

    await queue.consume(on_message)
    started = time.process_time()
    print("ready", flush=True)
    await asyncio.wait_for(done.wait(), args.timeout)
    print(json.dumps({"cpu_s": time.process_time() - started, "count": received}), flush=True)
    await connection.close()


async def amqp_round(
    name: str, events: int, rate: float, batch: int, node: int, figures: Figures
) -> None:
    connection = await aio_pika.connect(URL)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
    queue_names = [f"{name}.realtime-1", f"{name}.realtime-2", f"{name}.notifications"]
    for queue_name in queue_names:
        queue = await channel.declare_queue(queue_name, durable=True)
        await queue.bind(exchange, routing_key="message.*")
    consumers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "consume",
            "--queue",
            queue_name,
            "--count",
            str(events),
            stdout=asyncio.subprocess.PIPE,
        )
        for queue_name in queue_names
    ]
    try:
        for consumer in consumers:
            assert consumer.stdout is not None
            if (await asyncio.wait_for(consumer.stdout.readline(), START_TIMEOUT_S)) != b"ready\n":
                raise SystemExit("a consumer did not start")
        bodies = [event_body(n) for n in range(events)]
        underlay = await channel.get_underlay_channel()
        mine, theirs, wall = time.process_time(), cpu_seconds(node), time.monotonic()
        confirms: list[asyncio.Task[object]] = []
        for first in range(0, events, batch):
            for n in range(first, min(first + batch, events)):
                # Each confirm awaited in a task of its own, as the relay gathers a batch's.
                properties = aiormq.spec.Basic.Properties(
                    content_type="application/json", delivery_mode=2, message_id=uuid.uuid4().hex
                )
                publish = underlay.basic_publish(  # type: ignore[call-arg]  # aiormq's `wait`
                    bodies[n],
                    exchange=name,
                    routing_key="message.created",
                    properties=properties,
                    wait=False,
                )
                confirms.append(asyncio.ensure_future(publish))
            await asyncio.sleep(max(0.0, wall + (first + batch) / rate - time.monotonic()))
        await asyncio.gather(*confirms)
        finished = [
            json.loads(await asyncio.wait_for(c.stdout.readline(), 60))  # type: ignore[union-attr]
            for c in consumers
        ]
        variant = f"{batch} at a time" if batch > 1 else "one at a time"
        figures.add(variant, "publisher", time.process_time() - mine, events)
        figures.add(variant, "RabbitMQ node", cpu_seconds(node) - theirs, events)
        for queue_name, result in zip(queue_names, finished, strict=True):
            role = queue_name.rsplit(".", 1)[1]
            figures.add(variant, f"consumer {role}", result["cpu_s"], result["count"])
    finally:
        for consumer in consumers:
            if consumer.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    consumer.kill()
            await consumer.wait()
        for queue_name in queue_names:
            await channel.queue_delete(queue_name)
        await channel.exchange_delete(name)
        await connection.close()


async def run_amqp(args: argparse.Namespace) -> None:
    node = rabbit_node_pid()
    figures = Figures()
    for _ in range(args.rounds):
        for batch in args.batches:
            name = f"floorcost_{uuid.uuid4().hex[:8]}"
            await amqp_round(name, args.events, args.rate, batch, node, figures)
    print(figures.table(f"AMQP: one publish to 3 durable queues at {args.rate:g}/s", "event"))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="what", required=True)
    http = commands.add_parser("http", help="aiohttp client to uvicorn + FastAPI")
    http.add_argument("--requests", type=int, default=2000, help="per variant and round")
    http.add_argument("--rate", type=float, default=200, help="requests/s of the paced mode")
    sio = commands.add_parser("socketio", help="Node clients to python-socketio under uvicorn")
    sio.add_argument("--rate", type=float, default=200, help="messages/s of the open-loop step")
    sio.add_argument("--seconds", type=float, default=10, help="per step")
    sio.add_argument("--pairs", type=int, default=10, help="pairs of sockets taking turns")
    nginx = commands.add_parser("nginx", help="the socketio hop with and without nginx")
    nginx.add_argument("--rate", type=float, default=200, help="messages/s")
    nginx.add_argument("--seconds", type=float, default=10)
    nginx.add_argument("--pairs", type=int, default=10)
    fanout = commands.add_parser("fanout", help="one python-socketio server emitting to a room")
    fanout.add_argument(
        "--rates",
        type=lambda text: [float(n) for n in text.split(",")],
        default=[50.0, 100.0],
        help="messages/s of the open-loop steps",
    )
    fanout.add_argument("--seconds", type=float, default=10, help="per step")
    fanout.add_argument("--sockets", type=int, default=100, help="in the room (a replica's share)")
    fanout.add_argument("--ws", default="auto", help="uvicorn's websocket implementation")
    mongo = commands.add_parser("mongo", help="PyMongo async client to a scratch SecantusDB")
    mongo.add_argument("--requests", type=int, default=2000, help="per kind and round")
    mongo.add_argument("--rate", type=float, default=200, help="requests/s of the paced kind")
    amqp = commands.add_parser("amqp", help="aio-pika publisher to three consumer processes")
    amqp.add_argument("--rate", type=float, default=200, help="events/s")
    amqp.add_argument("--events", type=int, default=2000, help="per variant and round")
    amqp.add_argument(
        "--batches",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 8],
        help="events published together (the relay publishes a group's at once)",
    )
    for command in (http, sio, nginx, fanout, mongo, amqp):
        command.add_argument("--rounds", type=int, default=3)
    inner = commands.add_parser("consume", help="(internal) one consumer process of `amqp`")
    inner.add_argument("--queue", required=True)
    inner.add_argument("--count", type=int, required=True)
    inner.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    if args.what != "consume":
        print(f"{args.what}, {started}, load average {os.getloadavg()[0]:.2f} at the start")
    run = {
        "http": run_http,
        "socketio": run_socketio,
        "nginx": run_nginx,
        "fanout": run_fanout,
        "mongo": run_mongo,
        "amqp": run_amqp,
        "consume": consume,
    }
    await run[args.what](args)
    if args.what != "consume":
        print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    # uvloop, the event loop uvicorn gives every service (consumers and clients included).
    uvloop.run(main())
