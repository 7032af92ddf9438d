"""A test's own queue on the events exchange, read by polling, so it keeps working across a
RabbitMQ stop_app/start_app. Used by the integration and the end-to-end tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import aio_pika
from workcity_common.events import Event, parse_event


class Tap:
    """A test's own queue on the exchange, read by polling (survives a broker restart)."""

    def __init__(self, url: str, exchange: str, queue: str, keys: Iterable[str]) -> None:
        self.url, self.exchange, self.queue_name, self.keys = url, exchange, queue, tuple(keys)
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._queue: aio_pika.abc.AbstractQueue | None = None

    async def start(self) -> Tap:
        self._connection = await aio_pika.connect_robust(self.url, reconnect_interval=0.5)
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange(
            self.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        self._queue = await channel.declare_queue(self.queue_name, durable=True)
        for key in self.keys:
            await self._queue.bind(exchange, routing_key=key)
        return self

    async def collect(self, count: int, timeout_s: float = 30.0) -> list[Event]:
        """Wait until `count` events arrived (or time is up), then a little longer for extras."""
        assert self._connection is not None
        events: list[Event] = []
        deadline = time.monotonic() + timeout_s
        settle_until: float | None = None
        while time.monotonic() < deadline:
            try:
                if self._queue is None:  # after a broker restart: a fresh channel
                    channel = await self._connection.channel()
                    self._queue = await channel.declare_queue(self.queue_name, durable=True)
                while (message := await self._queue.get(no_ack=True, fail=False)) is not None:
                    events.append(parse_event(message.body))
            except Exception:
                self._queue = None
            if len(events) >= count:
                settle_until = settle_until or time.monotonic() + 0.5
                if time.monotonic() >= settle_until:
                    break
            await asyncio.sleep(0.1)
        return events

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def delete(self) -> None:
        """Remove the queue (end-to-end taps live on a shared broker)."""
        if self._connection is None:
            return
        channel = await self._connection.channel()
        await channel.queue_delete(self.queue_name)
        await channel.close()
