"""The RabbitMQ connection (aio-pika): one topic exchange, persistent messages, publisher confirms.

`Broker` keeps trying in the background while RabbitMQ is unreachable at start-up (the service
still starts; /readyz says not ready), and aio-pika's robust connection restores channels, queues
and consumers after a later outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aio_pika.connection import make_url

from workcity_common.events import Event
from workcity_common.pipe_metrics import BrokerMetrics

log = logging.getLogger(__name__)

# How often the consumers' queue depths are read for /metrics (a passive declare per queue).
QUEUE_DEPTH_INTERVAL_S = 15.0
# close() waits at most this long for each of its background tasks to end.
CLOSE_WAIT_S = 5.0


class BrokerUnavailable(RuntimeError):
    """RabbitMQ cannot take the event now; the caller keeps it and retries later."""


class Broker:
    def __init__(
        self,
        url: str,
        exchange_name: str,
        *,
        reconnect_interval_s: float = 1.0,
        depth_interval_s: float = QUEUE_DEPTH_INTERVAL_S,
    ) -> None:
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
        # The consumers on this connection count into it; the service adds it to /metrics.
        self.metrics = BrokerMetrics()
        self._watched: list[str] = []
        self._depth_interval_s = depth_interval_s
        self._depths: asyncio.Task[None] | None = None
        self._closing = False

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
        self._depths = asyncio.create_task(self._read_depths(), name="broker-queue-depths")

    def watch_queue(self, name: str) -> None:
        """Report this queue's depth in the metrics (consumers call it once subscribed)."""
        if name not in self._watched:
            self._watched.append(name)

    async def _read_depths(self) -> None:
        # Stops on `_closing` too: aio-pika can swallow a cancellation that arrives while a
        # channel opens, and the loop would then outlive close().
        while not self._closing:
            # A first read only after one interval: a short-lived process (a test) never reads.
            await asyncio.sleep(self._depth_interval_s)
            if self._watched and self.is_connected and not self._closing:
                try:
                    await self.read_queue_depths()
                except Exception as exc:
                    log.warning("could not read queue depths", extra={"error": repr(exc)})

    async def read_queue_depths(self) -> None:
        """Read the ready messages of every watched queue into the metrics."""
        assert self._connection is not None
        # A channel of its own: a queue gone meanwhile (404) closes the channel it was asked on.
        channel = await self._connection.channel()
        try:
            for name in list(self._watched):
                if channel.is_closed:
                    channel = await self._connection.channel()
                try:
                    queue = await channel.declare_queue(name, passive=True)
                except aio_pika.exceptions.ChannelClosed:
                    continue
                count = queue.declaration_result.message_count
                self.metrics.depth.labels(name).set(count or 0)
        except Exception:
            await _close_channel(channel)
            raise
        # Not in a `finally`: when cancelled (the broker closing) nothing more is asked on a
        # channel whose last request was cut short; closing the connection takes it along.
        await _close_channel(channel)

    async def close(self) -> None:
        self._closing = True
        for task in (self._connect_task, self._depths):
            if task is not None:
                task.cancel()
                await asyncio.wait({task}, timeout=CLOSE_WAIT_S)
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
        (a round trip per event would cap a relay at one event per round trip).

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

    async def _send(self, exchange: AbstractExchange, event: Event) -> None:
        message = aio_pika.Message(
            event.to_bytes(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=event.id,
            type=event.type,
            timestamp=event.occurred_at,
            app_id=event.producer,
        )
        publishing = self._publish_channel
        if publishing is None or publishing.is_closed:
            raise aio_pika.exceptions.ChannelInvalidStateError("the publish channel is closed")
        # aiormq itself rather than Exchange.publish, for wait=False: the frame is queued for
        # the connection's writer and the channel's lock released at once, instead of holding
        # it until the frame is on the socket. A batch's publishes then cost a third less CPU
        # (bench/RESULTS.md, issue 12); the confirm is still awaited, and the frames still
        # leave in call order (queued under that FIFO lock).
        channel = await publishing.get_underlay_channel()
        # Not mandatory: an event nobody has subscribed to yet is not an error.
        await channel.basic_publish(  # type: ignore[call-arg]  # `wait`: aiormq's Channel only
            message.body,
            exchange=exchange.name,
            routing_key=event.type,
            properties=message.properties,
            mandatory=False,
            wait=False,
        )


async def _close_channel(channel: AbstractChannel) -> None:
    if not channel.is_closed:
        with contextlib.suppress(Exception):
            await channel.close()
