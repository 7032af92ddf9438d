"""`OrderedBatchConsumer`: `EventConsumer` for a handler that takes events in order, many at a time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from workcity_common.broker.connection import Broker
from workcity_common.broker.consumer import (
    BatchEventHandler,
    EventConsumer,
    ProcessedEvents,
    settle,
)
from workcity_common.events import Event

log = logging.getLogger(__name__)


class OrderedBatchConsumer(EventConsumer):
    """Events handed to `batch_handler` in publish order, up to `max_batch` at a time.

    For a queue whose events must be applied in order (with `x-single-active-consumer`, one
    replica at a time) by a handler whose cost is its database round trips: one event at a time
    pays them per event, a batch pays them once. Deliveries are buffered as they arrive (up to
    `max_batch` unacknowledged, the prefetch) and one worker hands everything buffered to the
    handler; a batch is acked once handled and its event ids remembered. A batch that fails is
    handled again one event at a time, so only the event at fault is retried (and then parked in
    the dead-letter queue, as `EventConsumer` does).

    With `linger_s`, the worker waits that long after the first event of a batch for more to
    arrive (or until `max_batch` are buffered): for a handler that is not in a hurry, fewer and
    fuller batches, whose writes to the same documents coalesce.
    """

    def __init__(
        self,
        broker: Broker,
        *,
        queue_name: str,
        event_types: Iterable[str],
        batch_handler: BatchEventHandler,
        processed: ProcessedEvents,
        max_batch: int = 256,
        linger_s: float = 0.0,
        handler_timeout_s: float = 30.0,
        queue_arguments: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(
            broker,
            queue_name=queue_name,
            event_types=event_types,
            handler=self._handle_one,
            processed=processed,
            prefetch=max_batch,
            handler_timeout_s=handler_timeout_s,
            queue_arguments=queue_arguments,
        )
        self._batch_handler = batch_handler
        self._max_batch = max_batch
        self._linger_s = linger_s
        self._buffer: list[tuple[AbstractIncomingMessage, Event]] = []
        self._arrived = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None

    def start(self) -> None:
        super().start()
        if self._worker is None:
            self._worker = asyncio.create_task(self._work(), name=f"consume-{self.queue_name}")

    async def close(self) -> None:
        """Stop handing out batches (the unacknowledged ones are redelivered to the next
        consumer)."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None

    async def _handle_one(self, event: Event) -> None:
        await self._batch_handler([event])

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        event = await self._received(message)
        if event is None:
            return
        # Appended before any await: the buffer is in delivery order.
        self._buffer.append((message, event))
        self._arrived.set()

    async def _work(self) -> None:
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            if self._linger_s > 0:
                await self._linger()
            while self._buffer:
                batch = self._buffer[: self._max_batch]
                del self._buffer[: self._max_batch]
                await self._handle_batch(batch)

    async def _linger(self) -> None:
        deadline = asyncio.get_running_loop().time() + self._linger_s
        while len(self._buffer) < self._max_batch:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._arrived.wait()
            self._arrived.clear()

    async def _handle_batch(self, batch: Sequence[tuple[AbstractIncomingMessage, Event]]) -> None:
        try:
            # One call per id: cheap with the in-memory ids; a database store would pay a round
            # trip per event here (notifications needs none: its writes are idempotent).
            seen = {event.id for _, event in batch if await self._processed.seen(event.id)}
        except Exception:
            log.exception("could not read processed event ids; the batch is redelivered")
            for message, _ in batch:
                await settle(message.nack(requeue=True))
            return
        fresh: list[tuple[AbstractIncomingMessage, Event]] = []
        taken: set[str] = set()
        for message, event in batch:
            if event.id in seen or event.id in taken:
                await self._duplicate(message, event)
            else:
                taken.add(event.id)
                fresh.append((message, event))
        if not fresh:
            return
        try:
            await self._handle(self._batch_handler, [event for _, event in fresh])
            for _, event in fresh:
                await self._processed.remember(event.id)
        except Exception:
            if len(fresh) == 1:
                await self._failed(*fresh[0])
                return
            log.warning(
                "event batch failed; handling its events one at a time",
                extra={"events": len(fresh)},
                exc_info=True,
            )
            for one in fresh:
                await self._handle_batch([one])
            return
        self.metrics.handled.inc(len(fresh))
        for message, _ in fresh:
            await settle(message.ack())
