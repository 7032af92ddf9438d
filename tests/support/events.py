"""A test's own tap on the event exchange: a durable queue bound to some routing keys, read by
polling, so it keeps working across a RabbitMQ stop_app/start_app."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import aio_pika
import aiormq
from aio_pika.abc import AbstractQueue, AbstractRobustConnection
from workcity_common.events import Event, parse_event


class EventTap:
    def __init__(self, url: str, exchange: str, keys: Iterable[str], queue_name: str) -> None:
        self._url = url
        self._exchange_name = exchange
        self._keys = tuple(keys)
        self._queue_name = queue_name
        self._connection: AbstractRobustConnection | None = None
        self._queue: AbstractQueue | None = None

    async def start(self) -> EventTap:
        self._connection = await aio_pika.connect_robust(self._url, reconnect_interval=0.5)
        channel = await self._connection.channel()
        exchange = await channel.declare_exchange(
            self._exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
        )
        self._queue = await channel.declare_queue(self._queue_name, durable=True)
        for key in self._keys:
            await self._queue.bind(exchange, routing_key=key)
        return self

    async def collect(self, count: int, timeout_s: float = 15.0) -> list[Event]:
        """Wait for `count` events (fewer if time runs out); then a short wait for extras."""
        assert self._queue is not None
        events: list[Event] = []
        deadline = time.monotonic() + timeout_s
        while len(events) < count and time.monotonic() < deadline:
            events.extend(await self._drain())
            if len(events) < count:
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        events.extend(await self._drain())
        return events

    async def _drain(self) -> list[Event]:
        assert self._queue is not None
        drained: list[Event] = []
        try:
            while (message := await self._queue.get(no_ack=True, fail=False)) is not None:
                drained.append(parse_event(message.body))
        except (aio_pika.exceptions.AMQPError, aiormq.exceptions.ChannelInvalidStateError):
            pass  # reconnecting after a broker restart; poll again
        return drained

    async def close(self) -> None:
        if self._connection is None:
            return
        if self._queue is not None:
            await self._queue.delete(if_unused=False, if_empty=False)
        channel = await self._connection.channel()
        await channel.exchange_delete(self._exchange_name)
        await self._connection.close()
