"""Acks sent together (broker/acks.py): never ahead of an unfinished delivery."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field

from workcity_common.broker.acks import AckFrontier, AckWindow


@dataclass
class FakeChannel:
    acks: list[tuple[int, bool]] = field(default_factory=list)
    closed: bool = False


@dataclass
class FakeDelivery:
    tag: int
    on: FakeChannel

    @property
    def channel(self) -> FakeChannel:
        if self.on.closed:
            raise RuntimeError("channel closed")  # as aio-pika's ChannelInvalidStateError
        return self.on

    @property
    def delivery_tag(self) -> int:
        return self.tag

    async def ack(self, multiple: bool = False) -> None:
        self.on.acks.append((self.tag, multiple))


async def settle(answer: Awaitable[None]) -> None:
    await answer


def deliveries(channel: FakeChannel, count: int) -> list[FakeDelivery]:
    return [FakeDelivery(tag, channel) for tag in range(1, count + 1)]


def test_the_frontier_stops_at_the_first_unfinished_delivery() -> None:
    one, two, three = deliveries(FakeChannel(), 3)
    frontier = AckFrontier()
    for d in (one, two, three):
        frontier.received(d.tag, d)
    frontier.handled(2)
    assert frontier.take() is None  # 1 is still being handled
    frontier.handled(1)
    assert frontier.take() is two
    frontier.handled(3)
    assert frontier.take() is three
    assert frontier.waiting == 0


def test_a_delivery_answered_alone_is_never_the_multiple_ack() -> None:
    one, two, three = deliveries(FakeChannel(), 3)
    frontier = AckFrontier()
    for d in (one, two, three):
        frontier.received(d.tag, d)
    frontier.handled(1)
    frontier.answered(2)  # a duplicate acked, or a failure nacked, on its own
    assert frontier.take() is one  # not 2: acking it again would close the channel
    frontier.answered(3)
    assert frontier.take() is None


async def test_the_window_acks_every_n_handled_deliveries_with_one_multiple_ack() -> None:
    channel = FakeChannel()
    window = AckWindow(every=3, delay_s=60)
    batch = deliveries(channel, 7)
    for d in batch:
        window.received(d)
    for d in batch:
        await window.handled(d, settle)
    assert channel.acks == [(3, True), (6, True)]
    await window.flush(settle)
    assert channel.acks == [(3, True), (6, True), (7, True)]


async def test_the_window_acks_a_partial_batch_after_the_delay() -> None:
    channel = FakeChannel()
    window = AckWindow(every=10, delay_s=0.01)
    one, two = deliveries(channel, 2)
    window.received(one)
    window.received(two)
    await window.handled(two, settle)
    await asyncio.sleep(0.05)
    assert channel.acks == []  # 1 unfinished: nothing may be acked yet
    await window.handled(one, settle)
    await asyncio.sleep(0.05)
    assert channel.acks == [(2, True)]


async def test_a_new_channel_starts_a_new_window() -> None:
    old, new = FakeChannel(), FakeChannel()
    window = AckWindow(every=2, delay_s=60)
    stale = FakeDelivery(1, old)
    window.received(stale)
    old.closed = True  # the connection was lost; RabbitMQ requeued delivery 1
    fresh = deliveries(new, 2)
    for d in fresh:
        window.received(d)
    await window.handled(stale, settle)  # answered alone, on its own (closed) channel
    for d in fresh:
        await window.handled(d, settle)
    assert old.acks == [(1, False)]
    assert new.acks == [(2, True)]
