"""The realtime replica's own bounds (issue 13 item 2): sockets per user, bytes queued for one
socket, the replica's outgoing buffer while RabbitMQ stalls."""

from __future__ import annotations

import asyncio

import pytest
from engineio import packet as eio_packet
from workcity_realtime.adapters.engine import PACKET_OVERHEAD_BYTES, MeteredQueue
from workcity_realtime.adapters.outbound import OutgoingBuffer
from workcity_realtime.domain.ordering import FairShare, KeyedSequencer, Overloaded, QueueFull
from workcity_realtime.service_layer.hub import Hub, HubLimits, Refused

from tests.unit.realtime.test_hub import FakeCluster, FakeConversations, FakeEmitter, claims


async def test_a_user_gets_at_most_the_limit_of_sockets_and_a_closed_one_frees_its_place() -> None:
    hub = Hub(FakeEmitter(), FakeConversations(), FakeCluster(), HubLimits(max_sockets_per_user=2))
    await hub.connect("s1", claims("a"), "tok")
    await hub.connect("s2", claims("a"), "tok")
    with pytest.raises(Refused) as refused:
        await hub.connect("s3", claims("a"), "tok")
    assert refused.value.code == "too_many_sockets"
    await hub.connect("s4", claims("b"), "tok")  # another user is not affected
    await hub.disconnect("s1")
    await hub.connect("s3", claims("a"), "tok")
    await hub.close()


async def test_a_sockets_queue_counts_the_bytes_waiting() -> None:
    queue = MeteredQueue()
    await queue.put(eio_packet.Packet(eio_packet.MESSAGE, "x" * 1000))
    await queue.put(eio_packet.Packet(eio_packet.PING))
    assert queue.queued_bytes == 1000 + 2 * PACKET_OVERHEAD_BYTES
    await queue.get()
    assert queue.queued_bytes == PACKET_OVERHEAD_BYTES
    await queue.get()
    assert queue.queued_bytes == 0


async def test_a_stalled_publish_holds_no_caller_and_the_buffer_stays_bounded() -> None:
    stalled, sent = asyncio.Event(), []

    def publish(n: int):  # type: ignore[no-untyped-def]
        async def send() -> None:
            if n == 0:
                await stalled.wait()  # RabbitMQ takes nothing
            sent.append(n)

        return send

    buffer = OutgoingBuffer(3, publish_timeout_s=60)
    buffer.start()
    accepted = [buffer.offer("typing", publish(0))]
    await asyncio.sleep(0.01)
    accepted += [buffer.offer("typing", publish(n)) for n in range(1, 6)]
    # 0 is being sent, 1..3 wait, 4 and 5 are dropped; offering never waited.
    assert accepted == [True, True, True, True, False, False]
    assert len(buffer) == 3 and buffer.dropped == 2
    stalled.set()
    await buffer.flush(1)
    assert sent == [0, 1, 2, 3]  # in order, once the broker takes them again
    await buffer.close()


async def test_a_publish_that_never_returns_is_given_up_and_the_next_goes() -> None:
    sent = []

    async def lost() -> None:
        await asyncio.Event().wait()

    async def ok() -> None:
        sent.append("ok")

    buffer = OutgoingBuffer(10, publish_timeout_s=0.05)
    buffer.start()
    buffer.offer("presence", lost)
    buffer.offer("presence", ok)
    await buffer.flush(2)
    assert sent == ["ok"]
    await buffer.close()


async def test_one_group_is_refused_before_it_fills_the_total() -> None:
    sequencer = KeyedSequencer(max_pending=10, max_total=5, max_per_group=2)
    gate = asyncio.Event()

    async def command(key: str, group: str) -> str:
        try:
            async with sequencer.turn(key, group):
                await gate.wait()
            return "done"
        except QueueFull:
            return "too_many_pending"
        except Overloaded:
            return "busy"

    burst = [asyncio.create_task(command(f"s{n}", "burster")) for n in range(4)]
    other = asyncio.create_task(command("v", "victim"))
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*burst) == ["done", "done", "too_many_pending", "too_many_pending"]
    assert await other == "done"


async def test_fair_share_per_socket_and_per_user() -> None:
    share = FairShare(per_key=2, per_group=3)
    async with share.slot("s1", "u"), share.slot("s1", "u"):
        with pytest.raises(QueueFull):
            async with share.slot("s1", "u"):
                pass
        async with share.slot("s2", "u"):
            with pytest.raises(QueueFull):  # the user's share is used up
                async with share.slot("s3", "u"):
                    pass
            async with share.slot("s4", "other"):  # not someone else's
                pass
    assert share.in_use("s1") == 0
