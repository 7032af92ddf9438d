"""`EventConsumer`, the one consumer base.

A durable queue bound to the event types it handles, prefetch, a per-event timeout, ack after
success, duplicates skipped by event id, a failing event retried once and then parked in the
queue's dead-letter queue, with the event id in the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol, TypeVar

import aio_pika
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage

from workcity_common.broker.acks import AckWindow
from workcity_common.broker.connection import Broker
from workcity_common.events import Event, UnknownEvent, parse_event, utcnow

log = logging.getLogger(__name__)

DEAD_LETTER_EXCHANGE_SUFFIX = ".dead"

T = TypeVar("T")


class ProcessedEvents(Protocol):
    """Remembers which event ids a consumer has handled, so a redelivery is skipped."""

    async def seen(self, event_id: str) -> bool: ...

    async def remember(self, event_id: str) -> None: ...


class InMemoryProcessedEvents:
    """For consumers without a database (realtime): the last `size` event ids."""

    def __init__(self, size: int = 100_000) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    async def seen(self, event_id: str) -> bool:
        return event_id in self._ids

    async def remember(self, event_id: str) -> None:
        self._ids[event_id] = None
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)


EventHandler = Callable[[Event], Awaitable[None]]
BatchEventHandler = Callable[[Sequence[Event]], Awaitable[None]]


def readable_event(message: AbstractIncomingMessage) -> Event | None:
    """The delivery's event, or None (logged) for one this service cannot read."""
    try:
        return parse_event(message.body)
    except UnknownEvent as exc:
        log.warning(
            "dropping an event this service cannot read",
            extra={"message_id": message.message_id, "error": str(exc)},
        )
        return None


class EventConsumer:
    """Consume `event_types` from a durable queue named `queue_name` and call `handler`."""

    def __init__(
        self,
        broker: Broker,
        *,
        queue_name: str,
        event_types: Iterable[str],
        handler: EventHandler,
        processed: ProcessedEvents,
        prefetch: int = 32,
        handler_timeout_s: float = 30.0,
        queue_arguments: dict[str, Any] | None = None,
        dead_letter: bool = True,
        ack_every: int = 1,
        ack_delay_s: float = 0.05,
    ) -> None:
        self._broker = broker
        # ack_every > 1: handled events are acked together (AckWindow), for a consumer that
        # skips a redelivered copy anyway; below the prefetch, or deliveries pause until the
        # delay acks them.
        self._ack_window = (
            AckWindow(min(ack_every, prefetch), ack_delay_s) if ack_every > 1 else None
        )
        # False for a queue of one replica's (realtime): a dead-letter queue per replica would
        # outlive it; an event that fails twice there is dropped (logged).
        self._dead_letter = dead_letter
        # Extra x-arguments for the queue, e.g. {"x-single-active-consumer": True} where the
        # events must be handled in order by one replica at a time.
        self._queue_arguments = dict(queue_arguments or {})
        self.queue_name = queue_name
        self.event_types = tuple(event_types)
        self._handler = handler
        self._processed = processed
        self._prefetch = prefetch
        self._timeout = handler_timeout_s
        # Event ids being handled right now: a second copy delivered while the first is still in
        # its handler is dropped here (the processed store only knows finished events).
        self._in_flight: set[str] = set()
        self.metrics = broker.metrics.queue(queue_name)

    def start(self) -> None:
        self._broker.on_ready(self._subscribe)

    async def _subscribe(self) -> None:
        channel = await self._broker.channel(self._prefetch)
        exchange = await self._broker.declare_exchange(channel)
        if not self._dead_letter:
            queue = await channel.declare_queue(
                self.queue_name, durable=True, arguments=self._queue_arguments
            )
            await self._bind_and_consume(queue, exchange)
            return
        dead_exchange = await channel.declare_exchange(
            self._broker.exchange_name + DEAD_LETTER_EXCHANGE_SUFFIX,
            aio_pika.ExchangeType.DIRECT,
            durable=True,
        )
        dead_queue = await channel.declare_queue(
            self.queue_name + DEAD_LETTER_EXCHANGE_SUFFIX, durable=True
        )
        await dead_queue.bind(dead_exchange, routing_key=self.queue_name)
        queue = await channel.declare_queue(
            self.queue_name,
            durable=True,
            arguments={
                **self._queue_arguments,
                "x-dead-letter-exchange": dead_exchange.name,
                "x-dead-letter-routing-key": self.queue_name,
            },
        )
        await self._bind_and_consume(queue, exchange)

    async def _bind_and_consume(self, queue: Any, exchange: AbstractExchange) -> None:
        for event_type in self.event_types:
            await queue.bind(exchange, routing_key=event_type)
        await queue.consume(self._on_message)
        self._broker.watch_queue(self.queue_name)
        log.info("consuming", extra={"queue": self.queue_name, "events": list(self.event_types)})

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        if self._ack_window is not None:
            self._ack_window.received(message)  # before any await: in delivery order
        event = await self._received(message)
        if event is None:
            return
        if event.id in self._in_flight:
            await self._duplicate(message, event)
            return
        self._in_flight.add(event.id)
        try:
            if await self._processed.seen(event.id):
                await self._duplicate(message, event)
                return
            await self._handle(self._handler, event)
            await self._processed.remember(event.id)
        except Exception:
            await self._failed(message, event)
            return
        finally:
            self._in_flight.discard(event.id)
        self.metrics.handled.inc()
        if self._ack_window is not None:
            await self._ack_window.handled(message, settle)
        else:
            await message.ack()

    async def flush_acks(self) -> None:
        """Send the acks that wait in the window (before the connection closes)."""
        if self._ack_window is not None:
            await self._ack_window.flush(settle)

    def _answered(self, message: AbstractIncomingMessage) -> None:
        if self._ack_window is not None:
            self._ack_window.answered(message)

    async def _received(self, message: AbstractIncomingMessage) -> Event | None:
        """The delivery's event, its lag observed; None for one this service cannot read (the
        delivery is then rejected: dead-lettered)."""
        event = readable_event(message)
        if event is None:
            self.metrics.dead_lettered_unreadable.inc()
            self._answered(message)
            await settle(message.reject(requeue=False))
            return None
        if event.occurred_at.tzinfo is not None:  # a naive time cannot be compared: no lag
            lag = (utcnow() - event.occurred_at).total_seconds()
            self.metrics.lag.observe(max(lag, 0.0))
        return event

    async def _handle(self, handler: Callable[[T], Awaitable[None]], events: T) -> None:
        """Call the handler within the per-call timeout, timed."""
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._timeout):
                await handler(events)
        finally:
            self.metrics.handling.observe(time.perf_counter() - started)

    async def _duplicate(self, message: AbstractIncomingMessage, event: Event) -> None:
        log.info("duplicate event ignored", extra={"event_id": event.id, "type": event.type})
        self.metrics.duplicates.inc()
        self._answered(message)
        await settle(message.ack())

    async def _failed(self, message: AbstractIncomingMessage, event: Event) -> None:
        """Try once more (another replica, or after a passing fault), then park it."""
        log.exception(
            "event handler failed",
            extra={"event_id": event.id, "type": event.type, "redelivered": message.redelivered},
        )
        self.metrics.failed.inc()
        if message.redelivered:
            self.metrics.dead_lettered_failing.inc()
        self._answered(message)
        await settle(message.nack(requeue=not message.redelivered))


async def settle(answer: Awaitable[None]) -> None:
    """Ack or nack; on a channel that has closed meanwhile there is nothing to answer (the
    broker redelivers the message, and the processed ids make that harmless)."""
    try:
        await answer
    except Exception as exc:
        log.warning("could not answer a delivery", extra={"error": repr(exc)})
