"""RabbitMQ through aio-pika: one topic exchange, persistent messages, publisher confirms.

`Broker` owns the connection. It keeps trying in the background while RabbitMQ is unreachable at
start-up (the service still starts; /readyz says not ready), and aio-pika's robust connection
restores channels, queues and consumers after a later outage.

`EventConsumer` is the one consumer base: a durable queue bound to the event types it handles,
prefetch, a per-event timeout, ack after success, duplicates skipped by event id, a failing event
retried once and then parked in the queue's dead-letter queue, with the event id in the log.
`OrderedBatchConsumer` is the same for a handler that takes the events in publish order, many at
a time (its database work is per batch, not per event).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

import aio_pika
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)
from aio_pika.connection import make_url

from workcity_common.events import Event, UnknownEvent, parse_event

log = logging.getLogger(__name__)

DEAD_LETTER_EXCHANGE_SUFFIX = ".dead"


class BrokerUnavailable(RuntimeError):
    """RabbitMQ cannot take the event now; the caller keeps it and retries later."""


class Broker:
    def __init__(self, url: str, exchange_name: str, *, reconnect_interval_s: float = 1.0) -> None:
        self._url = url
        self.exchange_name = exchange_name
        self._reconnect_interval_s = reconnect_interval_s
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._ready = asyncio.Event()
        self._connect_task: asyncio.Task[None] | None = None
        self._on_ready: list[Callable[[], Awaitable[None]]] = []
        self._on_reconnect: list[Callable[[], Awaitable[None]]] = []
        self._reconnects: set[asyncio.Task[None]] = set()

    # --- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background, retrying until RabbitMQ answers."""
        if self._connect_task is None:
            self._connect_task = asyncio.create_task(self._connect_forever(), name="broker-connect")

    async def wait_ready(self, timeout: float | None = None) -> None:
        async with asyncio.timeout(timeout):
            await self._ready.wait()

    def on_ready(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run `callback` once connected (consumers register themselves this way)."""
        if self._ready.is_set():
            raise RuntimeError("register on_ready callbacks before the broker connects")
        self._on_ready.append(callback)

    def on_reconnect(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run `callback` after each reconnect, once channels, queues and consumers are restored
        (a consumer that may have missed events catches up this way)."""
        self._on_reconnect.append(callback)

    def _reconnected(self, *_: Any) -> None:
        for callback in self._on_reconnect:
            task = asyncio.create_task(self._run_reconnect_callback(callback), name="reconnected")
            self._reconnects.add(task)
            task.add_done_callback(self._reconnects.discard)

    @staticmethod
    async def _run_reconnect_callback(callback: Callable[[], Awaitable[None]]) -> None:
        try:
            await callback()
        except Exception:
            log.exception("broker reconnect callback failed", extra={"callback": repr(callback)})

    async def _connect_forever(self) -> None:
        while True:
            # Built by hand rather than with connect_robust(): a cancelled first attempt must be
            # closed, or aio-pika's own reconnect task keeps trying after we have shut down.
            connection = aio_pika.RobustConnection(
                make_url(self._url, reconnect_interval=self._reconnect_interval_s),
                reconnect_interval=self._reconnect_interval_s,
            )
            try:
                await connection.connect(timeout=5)
                break
            except asyncio.CancelledError:
                await connection.close()
                raise
            except Exception as exc:
                await connection.close()
                log.warning("rabbitmq not reachable, retrying", extra={"error": repr(exc)})
                await asyncio.sleep(self._reconnect_interval_s)
        self._connection = connection
        connection.reconnect_callbacks.add(self._reconnected)
        self._publish_channel = await connection.channel(publisher_confirms=True)
        self._exchange = await self.declare_exchange(self._publish_channel)
        self._ready.set()
        log.info("connected to rabbitmq", extra={"exchange": self.exchange_name})
        for callback in self._on_ready:
            try:
                await callback()
            except Exception:
                # One consumer that cannot subscribe (a queue declared elsewhere with other
                # arguments, say) must not silently stop the others: log it, go on.
                log.exception("broker start-up callback failed", extra={"callback": repr(callback)})

    async def close(self) -> None:
        if self._connect_task is not None:
            self._connect_task.cancel()
            await asyncio.gather(self._connect_task, return_exceptions=True)
        for task in list(self._reconnects):
            task.cancel()
        await asyncio.gather(*self._reconnects, return_exceptions=True)
        if self._connection is not None:
            await self._connection.close()
        self._ready.clear()

    @property
    def is_connected(self) -> bool:
        return self._connection is not None and self._connection.connected.is_set()

    async def check(self) -> None:
        """For /readyz: raise unless the broker connection is up."""
        if not self.is_connected:
            raise BrokerUnavailable("not connected to rabbitmq")

    # --- topology -----------------------------------------------------------------------------

    async def declare_exchange(self, channel: AbstractChannel) -> AbstractExchange:
        return await channel.declare_exchange(
            self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )

    async def channel(self, prefetch: int) -> AbstractChannel:
        if self._connection is None:
            raise BrokerUnavailable("not connected to rabbitmq")
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        return channel

    # --- publishing ---------------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        """Publish one event and wait for RabbitMQ's confirm. Raises `BrokerUnavailable`."""
        exchange = self._ready_exchange()
        try:
            await self._send(exchange, event)
        except Exception as exc:
            raise BrokerUnavailable(f"publish of {event.type} {event.id} failed: {exc!r}") from exc

    async def publish_many(self, events: Sequence[Event]) -> int:
        """Publish `events` in order, waiting for their confirms together rather than one by one
        (a round trip per event would cap a relay at a few hundred events per second).

        Returns how many leading events were confirmed; raises `BrokerUnavailable` when not even
        the first was. The frames leave in call order (aiormq writes them under a FIFO lock), so
        consumers see the events in this order.
        """
        if not events:
            return 0
        exchange = self._ready_exchange()
        outcomes = await asyncio.gather(
            *(self._send(exchange, event) for event in events), return_exceptions=True
        )
        for done, outcome in enumerate(outcomes):
            if isinstance(outcome, BaseException):
                if isinstance(outcome, asyncio.CancelledError):
                    raise outcome
                if done == 0:
                    first = events[0]
                    raise BrokerUnavailable(
                        f"publish of {first.type} {first.id} failed: {outcome!r}"
                    ) from outcome
                log.warning(
                    "publish failed part way through a batch",
                    extra={"published": done, "error": repr(outcome)},
                )
                return done
        return len(events)

    def _ready_exchange(self) -> AbstractExchange:
        if self._exchange is None or not self.is_connected:
            raise BrokerUnavailable("not connected to rabbitmq")
        return self._exchange

    @staticmethod
    async def _send(exchange: AbstractExchange, event: Event) -> None:
        message = aio_pika.Message(
            event.to_bytes(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=event.id,
            type=event.type,
            timestamp=event.occurred_at,
            app_id=event.producer,
        )
        # Not mandatory: an event nobody has subscribed to yet is not an error.
        await exchange.publish(message, routing_key=event.type, mandatory=False)


# --- consuming --------------------------------------------------------------------------------


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


def _readable_event(message: AbstractIncomingMessage) -> Event | None:
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
    ) -> None:
        self._broker = broker
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
        log.info("consuming", extra={"queue": self.queue_name, "events": list(self.event_types)})

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        event = _readable_event(message)
        if event is None:
            await message.reject(requeue=False)
            return
        if event.id in self._in_flight:
            log.info("duplicate event ignored", extra={"event_id": event.id, "type": event.type})
            await message.ack()
            return
        self._in_flight.add(event.id)
        try:
            if await self._processed.seen(event.id):
                log.info(
                    "duplicate event ignored", extra={"event_id": event.id, "type": event.type}
                )
                await message.ack()
                return
            async with asyncio.timeout(self._timeout):
                await self._handler(event)
            await self._processed.remember(event.id)
        except Exception:
            # Try once more (another replica, or after a passing fault), then park it.
            log.exception(
                "event handler failed",
                extra={
                    "event_id": event.id,
                    "type": event.type,
                    "redelivered": message.redelivered,
                },
            )
            await message.nack(requeue=not message.redelivered)
            return
        finally:
            self._in_flight.discard(event.id)
        await message.ack()


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
        event = _readable_event(message)
        if event is None:
            await message.reject(requeue=False)
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
                await _settle(message.nack(requeue=True))
            return
        fresh: list[tuple[AbstractIncomingMessage, Event]] = []
        taken: set[str] = set()
        for message, event in batch:
            if event.id in seen or event.id in taken:
                log.info(
                    "duplicate event ignored", extra={"event_id": event.id, "type": event.type}
                )
                await _settle(message.ack())
            else:
                taken.add(event.id)
                fresh.append((message, event))
        if not fresh:
            return
        try:
            async with asyncio.timeout(self._timeout):
                await self._batch_handler([event for _, event in fresh])
            for _, event in fresh:
                await self._processed.remember(event.id)
        except Exception:
            if len(fresh) == 1:
                [(message, event)] = fresh
                log.exception(
                    "event handler failed",
                    extra={
                        "event_id": event.id,
                        "type": event.type,
                        "redelivered": message.redelivered,
                    },
                )
                await _settle(message.nack(requeue=not message.redelivered))
                return
            log.warning(
                "event batch failed; handling its events one at a time",
                extra={"events": len(fresh)},
                exc_info=True,
            )
            for one in fresh:
                await self._handle_batch([one])
            return
        for message, _ in fresh:
            await _settle(message.ack())


async def _settle(answer: Awaitable[None]) -> None:
    """Ack or nack; on a channel that has closed meanwhile there is nothing to answer (the
    broker redelivers the message, and the processed ids make that harmless)."""
    try:
        await answer
    except Exception as exc:
        log.warning("could not answer a delivery", extra={"error": repr(exc)})
