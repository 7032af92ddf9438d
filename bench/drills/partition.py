"""A network partition of one realtime replica from RabbitMQ, made with Linux network namespaces
(needs root: `ip netns`, veth pairs; loopback-only addresses otherwise).

The replica is moved into a namespace of its own, reached over two veth pairs: one carries its
HTTP (nginx to the replica, the replica to the conversations and auth services), the other only
its AMQP connections. The services listen on 127.0.0.1, which another namespace cannot reach, so
small TCP relays on the host side bridge each veth address to the loopback port it stands for
(and nginx's upstream port to the replica in the namespace). The partition is the AMQP link set
down: packets are dropped, no connection is reset — what a switch failure or a split looks like
to both ends — while the replica's sockets and its calls to the conversations service go on.
Afterwards the namespace, links and relays go, and the replica is started again as the stack
first started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from bench.drills.faults import Timeline
from scripts.devstack import DevStack, http_status
from scripts.devstack.gateway import REPO_ROOT
from scripts.devstack.processes import launch, stop_group

Say = Callable[[str], None]
_HTTP_NET = "10.218.0"  # host .1, namespace .2
_AMQP_NET = "10.218.1"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def namespaces_available() -> str | None:
    """None when this machine can make the namespaces, else why not."""
    if shutil.which("ip") is None:
        return "the `ip` tool (iproute2) is not installed"
    if os.geteuid() != 0:
        return "network namespaces and veth links need root (CAP_NET_ADMIN)"
    return None


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


class Relay:
    """host:port -> target_host:target_port, byte for byte, both ways."""

    def __init__(self, host: str, port: int, target: tuple[str, int]) -> None:
        self.host, self.port, self.target = host, port, target
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*self.target), 10)
        except (OSError, TimeoutError):
            writer.close()
            return
        for task in (
            asyncio.create_task(_pipe(reader, up_writer)),
            asyncio.create_task(_pipe(up_reader, writer)),
        ):
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@dataclass(frozen=True)
class Namespace:
    name: str
    http_link: str  # host side of the HTTP veth pair
    amqp_link: str  # host side of the AMQP veth pair


def _create(ns: Namespace) -> None:
    _ip("netns", "add", ns.name)
    for link, net in ((ns.http_link, _HTTP_NET), (ns.amqp_link, _AMQP_NET)):
        inner = link + "n"
        _ip("link", "add", link, "type", "veth", "peer", "name", inner)
        _ip("link", "set", inner, "netns", ns.name)
        _ip("addr", "add", f"{net}.1/30", "dev", link)
        _ip("link", "set", link, "up")
        _ip("-n", ns.name, "addr", "add", f"{net}.2/30", "dev", inner)
        _ip("-n", ns.name, "link", "set", inner, "up")
    _ip("-n", ns.name, "link", "set", "lo", "up")


def _remove(ns: Namespace) -> None:
    for link in (ns.http_link, ns.amqp_link):
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", link)  # deletes its peer too
    with contextlib.suppress(subprocess.CalledProcessError):
        _ip("netns", "del", ns.name)


def _rehost(url: str, host: str) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.replace(parts.hostname or "", host, 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None, url
    return port


@contextlib.asynccontextmanager
async def replica_in_namespace(stack: DevStack, replica: str, say: Say) -> AsyncIterator[Namespace]:
    why_not = namespaces_available()
    if why_not:
        raise RuntimeError(f"cannot partition: {why_not}")
    spec_argv, spec_env = stack.launch_command(replica)
    port = stack.config.ports[replica]
    tag = str(os.getpid() % 100000)
    ns = Namespace(f"wcdrill{tag}", f"wcdh{tag}", f"wcda{tag}")
    env = dict(spec_env)
    amqp_port = _port(env["AMQP_URL"])
    env["AMQP_URL"] = _rehost(env["AMQP_URL"], f"{_AMQP_NET}.1")
    env["CONVERSATIONS_URL"] = _rehost(env["CONVERSATIONS_URL"], f"{_HTTP_NET}.1")
    env["JWKS_URL"] = _rehost(env["JWKS_URL"], f"{_HTTP_NET}.1")
    argv = ["ip", "netns", "exec", ns.name, *spec_argv]
    argv[argv.index("--host") + 1] = f"{_HTTP_NET}.2"

    say(f"partition: moving {replica} into network namespace {ns.name}")
    await asyncio.to_thread(stack.stop_process, replica)
    conversations, auth = _port(spec_env["CONVERSATIONS_URL"]), _port(spec_env["JWKS_URL"])
    relays = [
        Relay(f"{_HTTP_NET}.1", conversations, ("127.0.0.1", conversations)),
        Relay(f"{_HTTP_NET}.1", auth, ("127.0.0.1", auth)),
        Relay(f"{_AMQP_NET}.1", amqp_port, ("127.0.0.1", amqp_port)),
        Relay("127.0.0.1", port, (f"{_HTTP_NET}.2", port)),
    ]
    process = record = None
    try:
        await asyncio.to_thread(_create, ns)
        for relay in relays:
            await relay.start()
        process, record = launch(
            f"{replica}-netns",
            argv,
            env=env,
            cwd=REPO_ROOT,
            log_path=stack.log_path(f"{replica}-netns"),
        )
        deadline = time.monotonic() + 120
        url = f"http://127.0.0.1:{port}/readyz"
        while (answer := await asyncio.to_thread(http_status, url)) is None or answer[0] != 200:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{replica} in {ns.name} did not become ready; see {record.log}")
            await asyncio.sleep(0.25)
        say(f"partition: {replica} ready in {ns.name} (AMQP over {ns.amqp_link})")
        yield ns
    finally:
        if record is not None:
            await asyncio.to_thread(stop_group, record, child=process)
        for relay in relays:
            await relay.stop()
        await asyncio.to_thread(_remove, ns)
        await asyncio.to_thread(stack.start_process, replica)


@dataclass(frozen=True)
class AmqpPartition:
    """The namespace's AMQP link down for `down_s` (packets dropped, nothing reset), then up."""

    ns: Namespace
    down_s: float

    @property
    def description(self) -> str:
        return (
            f"realtime-1 cut off from RabbitMQ (network namespace, link down) for {self.down_s:g} s"
        )

    def run(self, stack: DevStack, say: Say) -> Timeline:
        say(f"fault: {self.description}")
        struck_at = time.monotonic()
        _ip("link", "set", self.ns.amqp_link, "down")
        try:
            time.sleep(self.down_s)
        finally:
            _ip("link", "set", self.ns.amqp_link, "up")
        repaired_at = time.monotonic()
        say("fault: the AMQP link is up again")
        return Timeline(struck_at, repaired_at)
