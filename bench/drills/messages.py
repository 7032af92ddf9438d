"""A message drill: N sockets in N/2 customer-agent conversations send at a fixed total rate
(open loop, both sides taking turns), a fault strikes during the load, and at the end the checker
compares acknowledgements, histories and what every socket received.

Used by `bench/drill.py` (a stack of its own per drill) and by the short drills in
`tests/e2e/test_drills.py` (the test session's stack).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.drills.checker import (
    Delivery,
    Figures,
    Outage,
    SendRecord,
    StoredMessage,
    check,
    per_second,
)
from bench.drills.client import DrillClient
from bench.drills.faults import Fault, Timeline
from bench.prepare import Api, Population, prepare
from scripts.devstack import DevStack

Say = Callable[[str], None]
_HISTORY_PAGE = 200


@dataclass(frozen=True)
class Load:
    conversations: int = 20  # two sockets each
    rate: float = 50.0  # messages per second, all conversations together
    duration_s: float = 40.0
    fault_at_s: float = 10.0
    settle_s: float = 30.0  # after the load: how long acks and deliveries may still take

    @property
    def sockets(self) -> int:
        return 2 * self.conversations


def source_addresses(count: int) -> list[str]:
    """Loopback addresses 127.0.18.1, 127.0.18.2, ...: one per socket. Needed when the gateway
    hashed the client address to pick a replica; it now spreads by least connections anyway."""
    return [f"127.0.{18 + i // 250}.{i % 250 + 1}" for i in range(count)]


def replica_spread(ports: dict[str, int]) -> dict[str, int]:
    """Established TCP connections to each realtime replica's port (nginx holds one per
    websocket), from /proc/net/tcp."""
    counts = dict.fromkeys(ports, 0)
    by_port = {port: name for name, port in ports.items()}
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return counts
    for line in lines:
        fields = line.split()
        remote, state = fields[2], fields[3]
        address, port = remote.split(":")[0], int(remote.split(":")[1], 16)
        # nginx's upstream connections go to 127.0.0.1 (0100007F in /proc's byte order).
        if state == "01" and port in by_port and address == "0100007F":
            counts[by_port[port]] += 1
    return counts


async def read_history(
    http: httpx.AsyncClient, conversation_id: str, token: str
) -> list[StoredMessage]:
    stored: list[StoredMessage] = []
    after = 0
    for _ in range(10_000 // _HISTORY_PAGE + 1):
        response = await http.get(
            f"/api/conversations/{conversation_id}/messages",
            params={"after_seq": after, "limit": _HISTORY_PAGE},
            headers={"Authorization": f"Bearer {token}"},
        )
        response.raise_for_status()
        page = response.json()
        for message in page:
            sender = message.get("sender")
            stored.append(
                StoredMessage(
                    message_id=str(message["_id"]),
                    conversation_id=conversation_id,
                    seq=int(message["seq"]),
                    sender_id=str(sender.get("_id") if isinstance(sender, dict) else sender),
                    client_id=message.get("clientMessageId"),
                )
            )
        if len(page) < _HISTORY_PAGE:
            break
        after = int(page[-1]["seq"])
    return stored


@dataclass
class DrillResult:
    name: str
    fault: str
    load: Load
    figures: Figures
    timeline: Timeline | None
    conditions: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fault": self.fault,
            "load": asdict(self.load),
            "figures": self.figures.to_json(),
            "timeline": asdict(self.timeline) if self.timeline else None,
            "conditions": self.conditions,
        }


async def run_message_drill(
    stack: DevStack,
    *,
    name: str,
    fault: Fault | None,
    load: Load,
    say: Say,
    tag: str | None = None,
) -> DrillResult:
    url = stack.gateway_url
    addresses = source_addresses(load.sockets)
    api = Api(url, addresses[:8])
    try:
        population = await prepare(
            api,
            tag=tag or f"drill{int(time.time())}",
            admin_email=stack.config.admin_email,
            admin_password=stack.config.admin_password,
            pairs=load.conversations,
            say=say,
        )
    finally:
        await api.close()

    sends: list[SendRecord] = []
    deliveries: list[Delivery] = []
    outages: list[Outage] = []
    clients = _clients(url, population, addresses, sends, deliveries, outages, say)
    timeline: Timeline | None = None
    load_before = os.getloadavg()
    try:
        for client in clients:
            await client.start()
        await _wait(lambda: all(c.ready.is_set() for c in clients), 60, "every socket connected")
        ports = {n: p for n, p in stack.config.ports.items() if n.startswith("realtime")}
        spread = replica_spread(ports)
        say(f"{len(clients)} sockets connected; nginx connections per replica: {spread}")

        fault_task: asyncio.Task[Timeline] | None = None
        started = time.monotonic()
        total = int(load.rate * load.duration_s)
        for k in range(total):
            due = started + k / load.rate
            if fault is not None and fault_task is None and due >= started + load.fault_at_s:
                fault_task = asyncio.create_task(asyncio.to_thread(fault.run, stack, say))
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            # Conversation k % n, its customer and its agent taking turns.
            pair = k % load.conversations
            side = (k // load.conversations) % 2
            clients[2 * pair + side].send(f"drill message {k}")
        lag = time.monotonic() - (started + total / load.rate)
        say(
            f"sent {total} messages in {time.monotonic() - started:.1f} s (schedule lag {lag:.2f} s)"
        )
        if fault_task is not None:
            timeline = await fault_task

        await _wait(
            lambda: all(c.ready.is_set() and c.pending == 0 for c in clients),
            load.settle_s,
            "every send acknowledged",
            fail=False,
        )
        acked = {s.message_id for s in sends if s.message_id}
        await _wait(
            lambda: all(
                {s.message_id for s in sends if s.conversation_id == c.conversation_id} & acked
                <= c.seen
                for c in clients
            ),
            min(10.0, load.settle_s),
            "every acknowledged message received by both participants",
            fail=False,
        )
    finally:
        for client in clients:
            await client.stop()

    async with httpx.AsyncClient(base_url=url, timeout=30.0, trust_env=False) as http:
        histories = await asyncio.gather(
            *(read_history(http, p.conversation_id, p.customer.token) for p in population.pairs)
        )
    stored = [message for history in histories for message in history]
    participants = {p.conversation_id: (p.customer.id, p.agent.id) for p in population.pairs}
    figures = check(
        sends,
        stored,
        deliveries,
        participants,
        outages,
        fault_at=timeline.struck_at if timeline else None,
    )
    conditions = {
        "sockets": len(clients),
        "conversations": load.conversations,
        "rate": load.rate,
        "spread": spread,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        "cores": os.cpu_count(),
        "per_second": per_second(sends, started),
    }
    if timeline is not None:
        conditions["fault_at_s"] = round(timeline.struck_at - started, 2)
        conditions["fault_lasted_s"] = round(timeline.repaired_at - timeline.struck_at, 2)
    return DrillResult(
        name, fault.description if fault else "none", load, figures, timeline, conditions
    )


def _clients(
    url: str,
    population: Population,
    addresses: list[str],
    sends: list[SendRecord],
    deliveries: list[Delivery],
    outages: list[Outage],
    say: Say,
) -> list[DrillClient]:
    clients = []
    for i, pair in enumerate(population.pairs):
        for j, user in enumerate((pair.customer, pair.agent)):
            clients.append(
                DrillClient(
                    url=url,
                    user_id=user.id,
                    token=user.token,
                    conversation_id=pair.conversation_id,
                    source_address=addresses[2 * i + j],
                    deliveries=deliveries,
                    sends=sends,
                    outages=outages,
                    say=say,
                )
            )
    return clients


async def _wait(
    done: Callable[[], bool], timeout_s: float, what: str, *, fail: bool = True
) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            if fail:
                raise RuntimeError(f"not within {timeout_s:g} s: {what}")
            return
        await asyncio.sleep(0.1)
