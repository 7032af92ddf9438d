"""Acknowledging deliveries together: one `basic.ack` with `multiple=True` for many handled events.

Each ack is a frame the consumer writes and RabbitMQ processes; for a consumer whose events are
cheap to handle again (realtime: its handled-event ids skip a redelivered copy) acking every few
events, or every `delay_s`, is enough. An ack with `multiple=True` also acknowledges every earlier
delivery of the channel, so it is sent only for a tag below which every delivery is finished:
handled (waiting for this ack) or already answered on its own (a duplicate, a reject, a nack).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Protocol

log = logging.getLogger(__name__)


class Delivery(Protocol):
    """What the window needs of a delivery (aio-pika's IncomingMessage)."""

    @property
    def channel(self) -> object: ...

    @property
    def delivery_tag(self) -> int | None: ...

    def ack(self, multiple: bool = False) -> Awaitable[None]: ...


class AckFrontier:
    """The deliveries of one channel in delivery order, and which of them are finished.

    Pure bookkeeping: `take()` says which delivery to ack with `multiple=True` (the last handled
    one below which nothing is unfinished) and forgets everything up to it.
    """

    def __init__(self) -> None:
        # tag -> (delivery, state): None unfinished, True handled (to ack), False answered.
        self._open: OrderedDict[int, tuple[Delivery, bool | None]] = OrderedDict()
        self.waiting = 0  # handled and not yet acked

    def received(self, tag: int, delivery: Delivery) -> None:
        self._open[tag] = (delivery, None)

    def handled(self, tag: int) -> None:
        self._finish(tag, to_ack=True)

    def answered(self, tag: int) -> None:
        """Settled on its own (acked, nacked or rejected): never covered by a multiple ack."""
        self._finish(tag, to_ack=False)

    def _finish(self, tag: int, *, to_ack: bool) -> None:
        entry = self._open.get(tag)
        if entry is None or entry[1] is not None:
            return
        self._open[tag] = (entry[0], to_ack)
        if to_ack:
            self.waiting += 1

    def take(self) -> Delivery | None:
        """The delivery to ack with `multiple=True` now, or None (nothing finished to ack below
        the first unfinished one)."""
        last: Delivery | None = None
        while self._open:
            tag, (delivery, state) = next(iter(self._open.items()))
            if state is None:
                break
            del self._open[tag]
            if state:
                last = delivery
                self.waiting -= 1
        return last


class AckWindow:
    """Acks handled deliveries `every` at a time or `delay_s` after the first unacked one.

    `every` must stay below the channel's prefetch, or RabbitMQ stops delivering before a batch
    fills (the delay would still ack it). A new channel (after a reconnect) starts a new window:
    the old channel's unacked deliveries were requeued by RabbitMQ and come again.
    """

    def __init__(self, every: int, delay_s: float) -> None:
        self._every = max(1, every)
        self._delay_s = delay_s
        self._channel: object = None
        self._frontier = AckFrontier()
        self._timer: asyncio.TimerHandle | None = None
        self._acks: set[asyncio.Task[None]] = set()

    def received(self, delivery: Delivery) -> None:
        """Call in delivery order (before the first await of the message's handling)."""
        channel = _channel_of(delivery)
        if delivery.delivery_tag is None or channel is None:
            return
        if channel is not self._channel:
            self._channel = channel
            self._frontier = AckFrontier()
            self._cancel_timer()
        self._frontier.received(delivery.delivery_tag, delivery)

    def answered(self, delivery: Delivery) -> None:
        if self._mine(delivery):
            assert delivery.delivery_tag is not None
            self._frontier.answered(delivery.delivery_tag)

    async def handled(
        self, delivery: Delivery, settle: Callable[[Awaitable[None]], Awaitable[None]]
    ) -> None:
        """The delivery is done: ack it (and the finished ones before it) now or soon."""
        if not self._mine(delivery):
            await settle(delivery.ack())  # no window knows it: ack it alone
            return
        assert delivery.delivery_tag is not None
        self._frontier.handled(delivery.delivery_tag)
        if self._frontier.waiting >= self._every:
            await self._ack(settle)
        elif self._timer is None and self._frontier.waiting:
            self._timer = asyncio.get_running_loop().call_later(
                self._delay_s, self._ack_later, settle
            )

    async def flush(self, settle: Callable[[Awaitable[None]], Awaitable[None]]) -> None:
        """Ack whatever can be acked now (before closing the connection)."""
        await self._ack(settle)
        if self._acks:
            await asyncio.gather(*self._acks, return_exceptions=True)

    def _mine(self, delivery: Delivery) -> bool:
        channel = _channel_of(delivery)
        return (
            delivery.delivery_tag is not None and channel is not None and channel is self._channel
        )

    def _ack_later(self, settle: Callable[[Awaitable[None]], Awaitable[None]]) -> None:
        self._timer = None
        task = asyncio.get_running_loop().create_task(self._ack(settle), name="ack-deliveries")
        self._acks.add(task)
        task.add_done_callback(self._acks.discard)

    async def _ack(self, settle: Callable[[Awaitable[None]], Awaitable[None]]) -> None:
        self._cancel_timer()
        last = self._frontier.take()
        if self._frontier.waiting and self._timer is None:
            # Handled ones stuck behind an unfinished delivery: try again after the delay.
            self._timer = asyncio.get_running_loop().call_later(
                self._delay_s, self._ack_later, settle
            )
        if last is not None:
            await settle(last.ack(multiple=True))

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _channel_of(delivery: Delivery) -> object | None:
    """The delivery's channel, None once it has closed (aio-pika raises then)."""
    try:
        return delivery.channel
    except Exception:
        return None
