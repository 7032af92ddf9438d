"""What publishing and consuming an event costs in CPU (this process and the RabbitMQ node), two
ways each, interleaved round by round so that a busy machine hurts both alike.

`publish`: `Broker.publish_many` of batches of `--batch` events into three durable queues (the
stack's two realtime replicas and notifications), against the same through aio-pika's
`Exchange.publish` (how `Broker` published before 8cd134e: the channel's lock held until each
frame was on the socket). `acks`: events published at `--rate` per second into two durable
queues, each consumed by an `EventConsumer` acking every event alone (`ack_every=1`) or together
(16, the realtime default). Everything is declared under a scratch exchange and deleted after.

    AMQP_URL=... RABBITMQ_NODENAME=... uv run python bench/brokercost.py publish --batch 4
    AMQP_URL=... RABBITMQ_NODENAME=... uv run python bench/brokercost.py acks
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import aio_pika
from aio_pika.abc import AbstractExchange
from workcity_common.broker import Broker, EventConsumer, InMemoryProcessedEvents
from workcity_common.events import Event, UserData, UserRegistered

if __package__ in (None, ""):
    # Run as a script: make the repository root importable (bench.*).
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.proccpu import cpu_seconds
from bench.proccpu import rabbit_node_pid as node_pid

URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")


def events(count: int) -> list[Event]:
    return [
        UserRegistered(
            producer="bench", data=UserData(id=f"u{n}", email=f"u{n}@example.com", role="customer")
        )
        for n in range(count)
    ]


async def through_exchange_publish(exchange: AbstractExchange, batch: Sequence[Event]) -> None:
    async def one(event: Event) -> None:
        message = aio_pika.Message(
            event.to_bytes(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=event.id,
            type=event.type,
            timestamp=event.occurred_at,
            app_id=event.producer,
        )
        await exchange.publish(message, routing_key=event.type, mandatory=False)

    await asyncio.gather(*(one(event) for event in batch))


async def publish_round(name: str, way: str, batch: int, count: int) -> tuple[float, float]:
    broker = Broker(URL, f"{name}.events")
    broker.start()
    await broker.wait_ready(10)
    connection = await aio_pika.connect(URL)
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        f"{name}.events", aio_pika.ExchangeType.TOPIC, durable=True
    )
    queues = [await channel.declare_queue(f"{name}.q{i}", durable=True) for i in range(3)]
    for queue in queues:
        await queue.bind(exchange, routing_key="user.*")
    todo = events(count)
    node = node_pid()
    started, node_started = time.process_time(), cpu_seconds(node)
    for i in range(0, count, batch):
        if way == "new":
            await broker.publish_many(todo[i : i + batch])
        else:
            await through_exchange_publish(broker._ready_exchange(), todo[i : i + batch])
    spent = time.process_time() - started, cpu_seconds(node) - node_started
    for queue in queues:
        await queue.delete(if_empty=False)
    await exchange.delete()
    await connection.close()
    await broker.close()
    return spent


async def acks_round(name: str, every: int, rate: float, count: int) -> tuple[float, float]:
    publisher = Broker(URL, f"{name}.events")
    consumers_broker = Broker(URL, f"{name}.events")
    handled = 0
    all_in = asyncio.Event()

    async def handler(_: Event) -> None:
        nonlocal handled
        handled += 1
        if handled == 2 * count:
            all_in.set()

    consumers = [
        EventConsumer(
            consumers_broker,
            queue_name=f"{name}.r{i}",
            event_types=["user.*"],
            handler=handler,
            processed=InMemoryProcessedEvents(),
            prefetch=32,
            dead_letter=False,
            ack_every=every,
        )
        for i in range(2)
    ]
    for consumer in consumers:
        consumer.start()
    publisher.start()
    consumers_broker.start()
    await publisher.wait_ready(10)
    await consumers_broker.wait_ready(10)
    await asyncio.sleep(0.5)  # subscribed
    node = node_pid()
    started, node_started, wall = time.process_time(), cpu_seconds(node), time.monotonic()
    for i, event in enumerate(events(count)):
        await publisher.publish_many([event])
        await asyncio.sleep(max(0.0, wall + (i + 1) / rate - time.monotonic()))
    await asyncio.wait_for(all_in.wait(), 60)
    await asyncio.sleep(0.2)  # the last acks
    spent = time.process_time() - started, cpu_seconds(node) - node_started
    await consumers_broker.close()
    await publisher.close()
    connection = await aio_pika.connect(URL)
    async with connection:
        channel = await connection.channel()
        for i in range(2):
            await channel.queue_delete(f"{name}.r{i}")
        await channel.exchange_delete(f"{name}.events")
    return spent


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["publish", "acks"])
    parser.add_argument("--batch", type=int, default=4, help="publish: events per publish_many")
    parser.add_argument("--rate", type=float, default=200, help="acks: events per second")
    parser.add_argument("--events", type=int, default=0, help="per round (2,000 / 750)")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    ways = ["old", "new"] if args.what == "publish" else ["1", "16"]
    count = args.events or (2000 if args.what == "publish" else 750)
    results: dict[str, list[tuple[float, float]]] = {way: [] for way in ways}
    for _ in range(args.rounds):
        for way in ways:
            name = f"brokercost_{uuid.uuid4().hex[:8]}"
            if args.what == "publish":
                spent = await publish_round(name, way, args.batch, count)
            else:
                spent = await acks_round(name, int(way), args.rate, count)
            results[way].append(spent)
    label = "publish" if args.what == "publish" else "ack_every"
    for way, rows in results.items():
        mine = " ".join(f"{p / count * 1e6:.0f}" for p, _ in rows)
        theirs = " ".join(f"{n / count * 1e6:.0f}" for _, n in rows)
        print(f"{label}={way}: this process {mine} | rabbitmq {theirs} (us per event, by round)")


if __name__ == "__main__":
    asyncio.run(main())
