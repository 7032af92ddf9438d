"""The replica bus sends the emits of one event-loop turn as one message, in order, and a replica
unpacks the others' batches and skips its own."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import socketio
from workcity_realtime.adapters.sockets import ReplicaBus


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    published: list[dict[str, Any]] = []

    async def publish(self: Any, data: dict[str, Any]) -> None:
        published.append(data)

    monkeypatch.setattr(ReplicaBus, "_send_batch", publish)
    return published


def emit(n: int) -> dict[str, Any]:
    return {"method": "emit", "event": "newMessage", "data": [n], "room": "conversation:c"}


async def test_emits_of_one_turn_leave_as_one_batch_in_order(sent: list[dict[str, Any]]) -> None:
    bus = ReplicaBus(url="amqp://unused/", channel="test")
    for n in range(3):
        await bus._publish(emit(n))
    await bus.drain()
    await bus._publish(emit(3))
    await bus.drain()
    assert [b["method"] for b in sent] == ["batch", "batch"]
    assert [m["data"] for m in sent[0]["messages"]] == [[0], [1], [2]]
    assert [m["data"] for m in sent[1]["messages"]] == [[3]]
    assert all(b["host_id"] == bus.host_id for b in sent)


async def test_batches_are_bounded(sent: list[dict[str, Any]]) -> None:
    bus = ReplicaBus(url="amqp://unused/", channel="test", max_batch=2)
    for n in range(5):
        await bus._publish(emit(n))
    await bus.drain()
    assert [len(b["messages"]) for b in sent] == [2, 2, 1]


async def test_a_replica_unpacks_others_batches_and_skips_its_own() -> None:
    bus = ReplicaBus(url="amqp://unused/", channel="test")
    other = {"method": "batch", "host_id": "elsewhere", "messages": [emit(1), emit(2)]}
    own = {"method": "batch", "host_id": bus.host_id, "messages": [emit(3)]}
    assert bus._unpack(json.dumps(other).encode()) == [emit(1), emit(2)]
    assert bus._unpack(json.dumps(own).encode()) == []
    assert bus._unpack(json.dumps(emit(4)).encode()) == [emit(4)]  # a replica without batches
    assert bus._unpack(b"not json") == []
    await asyncio.sleep(0)


async def test_an_emit_reaches_the_rooms_sockets_once_each_but_the_skipped() -> None:
    bus = ReplicaBus(url="amqp://unused/", channel="test")
    server = socketio.AsyncServer(async_mode="asgi", client_manager=bus)
    sent: list[tuple[str, Any]] = []

    async def send(eio_sid: str, pkt: Any) -> None:
        sent.append((eio_sid, pkt.data))

    server._send_eio_packet = send  # type: ignore[method-assign]
    sids = {}
    for eio_sid in ("e1", "e2", "e3"):
        sids[eio_sid] = await bus.connect(eio_sid, "/")
    await bus.enter_room(sids["e1"], "/", "conversation:c")
    await bus.enter_room(sids["e2"], "/", "conversation:c")
    await bus.enter_room(sids["e2"], "/", "user:b")
    await bus.enter_room(sids["e3"], "/", "user:b")

    message = {"method": "emit", "event": "newMessage", "data": [{"seq": 1}], "namespace": "/"}
    await bus._handle_emit({**message, "room": "conversation:c", "skip_sid": sids["e1"]})
    assert sent == [("e2", '2["newMessage",{"seq":1}]')]
    sent.clear()
    # Several rooms: a socket in two of them gets the emit once.
    await bus._handle_emit({**message, "room": ["conversation:c", "user:b"], "skip_sid": None})
    assert sorted(e for e, _ in sent) == ["e1", "e2", "e3"]
