"""OrderedBatchConsumer against the machine's RabbitMQ: what queues up while a batch is handled
comes as the next batch, in publish order; duplicates are skipped; a poison event in a batch
fails alone and is dead-lettered, the rest of its batch handled once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import aio_pika
import pytest
from workcity_common.broker import Broker, InMemoryProcessedEvents, OrderedBatchConsumer
from workcity_common.events import Event, UserData, UserRegistered

from tests.integration.common.test_broker_and_outbox import delete_queues, started, user_event

pytestmark = pytest.mark.integration


async def start(
    rabbit_url: str,
    unique_name: str,
    queue: str,
    handler: Callable[[Sequence[Event]], Awaitable[None]],
    max_batch: int,
    linger_s: float = 0.0,
) -> tuple[Broker, OrderedBatchConsumer]:
    return await started(
        rabbit_url,
        unique_name,
        lambda broker: OrderedBatchConsumer(
            broker,
            queue_name=queue,
            event_types=["user.*"],
            batch_handler=handler,
            processed=InMemoryProcessedEvents(),
            max_batch=max_batch,
            linger_s=linger_s,
            handler_timeout_s=10,
        ),
    )


async def test_batches_keep_publish_order_skip_duplicates_and_park_the_poison(
    rabbit_url: str,
    unique_name: str,
    broker: Broker,
) -> None:
    batches: list[list[str]] = []
    attempts: dict[str, int] = {}
    gate = asyncio.Event()

    async def handler(events: Sequence[Event]) -> None:
        ids = [e.data.id for e in events]
        for i in ids:
            attempts[i] = attempts.get(i, 0) + 1
        if ids == ["u0"]:
            await gate.wait()  # the rest is published meanwhile and must queue up
        if "poison" in ids:
            raise RuntimeError("cannot handle this one")
        batches.append(ids)

    queue = f"{unique_name}.batched"
    consumer_broker, consumer = await start(rabbit_url, unique_name, queue, handler, 64)
    try:
        await broker.publish(user_event(0))
        for _ in range(100):
            if attempts.get("u0"):
                break
            await asyncio.sleep(0.02)
        assert attempts.get("u0") == 1
        events = [user_event(n) for n in range(1, 21)]
        poison = UserRegistered(
            producer="test", data=UserData(id="poison", email="p@example.com", role="customer")
        )
        await broker.publish_many([*events[:10], events[4], poison, *events[10:]])
        await asyncio.sleep(0.3)  # all delivered into the buffer while u0's batch waits
        gate.set()
        for _ in range(200):
            if sum(len(b) for b in batches) >= 21 and attempts.get("poison") == 3:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)

        handled = [i for batch in batches for i in batch]
        assert handled == [f"u{n}" for n in range(21)]  # each once, in publish order
        # The burst came as one batch (with the poison), failed, then went one event at a time.
        assert attempts["u1"] == 2 and attempts["u20"] == 2
        assert attempts["poison"] == 3  # in the batch, alone, alone again once redelivered
        assert attempts["u5"] == 2  # its duplicate copy was skipped
        connection = await aio_pika.connect(rabbit_url)
        async with connection:
            channel = await connection.channel()
            dead = await channel.declare_queue(f"{queue}.dead", durable=True, passive=True)
            parked = []
            while (message := await dead.get(no_ack=True, fail=False)) is not None:
                parked.append(message.body)
        assert len(parked) == 1 and b"poison" in parked[0]
    finally:
        await consumer.close()
        await consumer_broker.close()
        await delete_queues(rabbit_url, queue, f"{queue}.dead")


async def test_a_clean_burst_is_one_batch(
    rabbit_url: str,
    unique_name: str,
    broker: Broker,
) -> None:
    batches: list[list[str]] = []
    gate = asyncio.Event()

    async def handler(events: Sequence[Event]) -> None:
        ids = [e.data.id for e in events]
        if ids == ["u0"]:
            await gate.wait()
        batches.append(ids)

    queue = f"{unique_name}.burst"
    consumer_broker, consumer = await start(rabbit_url, unique_name, queue, handler, 16)
    try:
        await broker.publish(user_event(0))
        await asyncio.sleep(0.3)
        await broker.publish_many([user_event(n) for n in range(1, 41)])
        await asyncio.sleep(0.3)
        gate.set()
        for _ in range(100):
            if sum(len(b) for b in batches) >= 41:
                break
            await asyncio.sleep(0.05)
        assert [i for b in batches for i in b] == [f"u{n}" for n in range(41)]
        # At most max_batch (the prefetch) unacknowledged at once: with u0 in its handler, 15
        # more are delivered and wait; they are the next batch, the rest arrive as acks free room.
        assert batches[0] == ["u0"]
        assert batches[1] == [f"u{n}" for n in range(1, 16)]
        assert max(len(b) for b in batches) <= 16
        assert len(batches) < 41  # batched, not one by one
    finally:
        await consumer.close()
        await consumer_broker.close()
        await delete_queues(rabbit_url, queue, f"{queue}.dead")


async def test_with_a_linger_events_a_moment_apart_are_one_batch(
    rabbit_url: str, unique_name: str, broker: Broker
) -> None:
    batches: list[list[str]] = []

    async def handler(events: Sequence[Event]) -> None:
        batches.append([e.data.id for e in events])

    queue = f"{unique_name}.linger"
    consumer_broker, consumer = await start(rabbit_url, unique_name, queue, handler, 100, 1.0)
    try:
        for n in range(5):
            await broker.publish(user_event(n))
            await asyncio.sleep(0.1)
        for _ in range(100):
            if batches:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert batches == [[f"u{n}" for n in range(5)]]
    finally:
        await consumer.close()
        await consumer_broker.close()
        await delete_queues(rabbit_url, queue, f"{queue}.dead")
