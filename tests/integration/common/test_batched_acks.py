"""`EventConsumer` with acks sent together (`ack_every`), against the real RabbitMQ: every handled
event is acked in the end, and one handled but not yet acked comes again after a lost
connection instead of being lost."""

from __future__ import annotations

import asyncio

import aio_pika
import pytest
from workcity_common.broker import Broker
from workcity_common.events import Event

from tests.integration.common.test_broker_and_outbox import (
    delete_queues,
    start_consumer,
    user_event,
)

pytestmark = pytest.mark.integration


async def ready_messages(rabbit_url: str, queue: str) -> int:
    connection = await aio_pika.connect(rabbit_url)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0


async def handle_ten(
    rabbit_url: str, unique_name: str, broker: Broker, queue: str, **options: object
) -> tuple[Broker, list[str]]:
    handled: list[str] = []
    all_in = asyncio.Event()

    async def handler(event: Event) -> None:
        handled.append(event.id)
        if len(handled) == 10:
            all_in.set()

    consumer_broker, _ = await start_consumer(
        rabbit_url, unique_name, handler, queue, prefetch=8, **options
    )
    events = [user_event(n) for n in range(10)]
    assert await broker.publish_many(events) == 10
    await asyncio.wait_for(all_in.wait(), 10)
    assert handled == [event.id for event in events]
    return consumer_broker, handled


@pytest.mark.parametrize(
    ("ack_delay_s", "requeued"),
    [
        # The last two (after two batches of four) are acked by the delay.
        pytest.param(0.05, 0, id="all-acked-in-the-end"),
        # They wait for a batch or the delay when the connection goes: RabbitMQ requeues them.
        pytest.param(60, 2, id="handled-not-acked-come-again"),
    ],
)
async def test_events_acked_together(
    rabbit_url: str, unique_name: str, broker: Broker, ack_delay_s: float, requeued: int
) -> None:
    queue = f"{unique_name}.acks"
    consumer_broker, _ = await handle_ten(
        rabbit_url, unique_name, broker, queue, ack_every=4, ack_delay_s=ack_delay_s
    )
    await asyncio.sleep(0.3)
    await consumer_broker.close()
    try:
        assert await ready_messages(rabbit_url, queue) == requeued
    finally:
        await delete_queues(rabbit_url, queue, queue + ".dead")
