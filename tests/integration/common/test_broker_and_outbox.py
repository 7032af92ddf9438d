"""The shared broker adapter and outbox relay against the real RabbitMQ and SecantusDB."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import aio_pika
import pytest
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.broker import Broker, EventConsumer, InMemoryProcessedEvents
from workcity_common.events import Event, UserData, UserRegistered
from workcity_common.outbox import Outbox, OutboxRelay

from tests.support.events import EventTap
from tests.support.outbox import pending_event_count

pytestmark = pytest.mark.integration


def user_event(n: int) -> UserRegistered:
    return UserRegistered(
        producer="test", data=UserData(id=f"u{n}", email=f"u{n}@example.com", role="customer")
    )


async def raw_publish(rabbit_url: str, exchange: str, body: bytes, key: str) -> None:
    connection = await aio_pika.connect(rabbit_url)
    async with connection:
        channel = await connection.channel()
        ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        await ex.publish(aio_pika.Message(body), routing_key=key)


ConsumerT = TypeVar("ConsumerT", bound=EventConsumer)


async def started(
    rabbit_url: str, unique_name: str, make: Callable[[Broker], ConsumerT]
) -> tuple[Broker, ConsumerT]:
    """A consumer (made by `make` on a broker of its own) subscribed to the test's exchange."""
    broker = Broker(rabbit_url, f"{unique_name}.events", reconnect_interval_s=0.2)
    consumer = make(broker)
    consumer.start()
    broker.start()
    await broker.wait_ready(10)
    await asyncio.sleep(0.3)  # subscription declared
    return broker, consumer


async def start_consumer(
    rabbit_url: str, unique_name: str, handler, queue: str, **options: Any
) -> tuple[Broker, EventConsumer]:
    """An `EventConsumer` of user events; `options` go to it (prefetch, say)."""
    return await started(
        rabbit_url,
        unique_name,
        lambda broker: EventConsumer(
            broker,
            queue_name=queue,
            event_types=["user.*"],
            handler=handler,
            processed=InMemoryProcessedEvents(),
            **{"handler_timeout_s": 5, **options},
        ),
    )


async def delete_queues(rabbit_url: str, *names: str) -> None:
    connection = await aio_pika.connect(rabbit_url)
    async with connection:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)


async def test_duplicates_are_handled_once_and_failures_are_dead_lettered(
    rabbit_url: str, unique_name: str, broker: Broker
) -> None:
    handled: list[str] = []
    attempts: dict[str, int] = {}

    async def handler(event: Event) -> None:
        attempts[event.data.id] = attempts.get(event.data.id, 0) + 1
        if event.data.id == "poison":
            raise RuntimeError("cannot handle this one")
        await asyncio.sleep(0.05)  # long enough for a second copy to arrive meanwhile
        handled.append(event.data.id)

    queue = f"{unique_name}.consumer"
    consumer_broker, _ = await start_consumer(rabbit_url, unique_name, handler, queue)
    try:
        once = user_event(1)
        await broker.publish(once)
        await broker.publish(once)  # redelivery of the same event id
        await broker.publish(user_event(2))
        poison = UserRegistered(
            producer="test", data=UserData(id="poison", email="p@example.com", role="customer")
        )
        await broker.publish(poison)
        await raw_publish(rabbit_url, f"{unique_name}.events", b"garbage", "user.registered")
        for _ in range(100):
            if len(handled) >= 2 and attempts.get("poison") == 2:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        assert sorted(handled) == ["u1", "u2"]
        assert attempts["u1"] == 1
        assert attempts["poison"] == 2  # tried, retried once, then parked
        connection = await aio_pika.connect(rabbit_url)
        async with connection:
            channel = await connection.channel()
            dead = await channel.declare_queue(f"{queue}.dead", durable=True, passive=True)
            parked = []
            while (message := await dead.get(no_ack=True, fail=False)) is not None:
                parked.append(message.body)
        assert len(parked) == 2  # the poison event and the garbage
        assert b"garbage" in parked
    finally:
        await consumer_broker.close()
        await delete_queues(rabbit_url, queue, f"{queue}.dead")


async def test_relay_publishes_in_write_order_and_marks_published(
    rabbit_url: str, unique_name: str, broker: Broker, mongo_db: AsyncDatabase
) -> None:
    tap = await EventTap(rabbit_url, broker.exchange_name, ["user.*"], f"{unique_name}.tap").start()
    outbox = Outbox(mongo_db["outbox"])
    await outbox.create_indexes()
    events = [user_event(n) for n in range(30)]

    async def write(n: int):
        async def work(session):
            await mongo_db["things"].insert_one({"n": n}, session=session)
            return n, [events[n]]

        return await outbox.commit(work)

    for n in range(30):  # written before any relay runs: as if the service died after the write
        await write(n)
    assert await pending_event_count(outbox.collection) == 30

    relay = OutboxRelay(outbox, broker, poll_interval_s=0.1, batch=7)
    relay.start()
    try:
        received = await tap.collect(30)
    finally:
        await relay.close()
        await tap.close()
    assert [e.id for e in received] == [e.id for e in events]
    assert await pending_event_count(outbox.collection) == 0


async def test_failed_transaction_stores_no_event(mongo_db: AsyncDatabase) -> None:
    outbox = Outbox(mongo_db["outbox"])

    async def work(session):
        await mongo_db["things"].insert_one({"n": 1}, session=session)
        await outbox.add([user_event(1)], session)
        raise ValueError("business rule broken after the writes")

    with pytest.raises(ValueError):
        await outbox.commit(work)
    assert await mongo_db["things"].count_documents({}) == 0
    assert await pending_event_count(outbox.collection) == 0
