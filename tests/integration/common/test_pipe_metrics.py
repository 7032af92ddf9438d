"""The pipes' metrics move with what happens, against the real RabbitMQ and SecantusDB: a
consumer's handled, failed, dead-lettered, duplicate, handling-time, lag and queue-depth series,
and the outbox relay's backlog, oldest age, published events and publish failures, as a
service's /metrics shows them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx
import pytest
from prometheus_client import CollectorRegistry
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.app import create_service_app
from workcity_common.broker import Broker, EventConsumer, InMemoryProcessedEvents
from workcity_common.events import Event, UserData, UserRegistered
from workcity_common.outbox import Outbox, OutboxRelay
from workcity_common.pipe_metrics import BrokerMetrics, OutboxMetrics

from tests.integration.common.test_broker_and_outbox import raw_publish, start_consumer

pytestmark = pytest.mark.integration


def user_event(n: int) -> UserRegistered:
    return UserRegistered(
        producer="test", data=UserData(id=f"u{n}", email=f"u{n}@example.com", role="customer")
    )


def reader(metrics: BrokerMetrics | OutboxMetrics) -> Callable[..., float]:
    """A sample's value by name and labels (0 when the series does not exist yet)."""
    registry = CollectorRegistry()
    registry.register(metrics)

    def value(name: str, **labels: str) -> float:
        return registry.get_sample_value(name, labels) or 0.0

    return value


def idle_consumer(broker: Broker, queue: str) -> EventConsumer:
    """A consumer of user events that does nothing with them."""
    return EventConsumer(
        broker,
        queue_name=queue,
        event_types=["user.*"],
        handler=lambda _: asyncio.sleep(0),
        processed=InMemoryProcessedEvents(),
    )


async def eventually(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


async def test_a_consumers_counters_follow_its_deliveries(
    rabbit_url: str, unique_name: str, broker: Broker
) -> None:
    queue = f"{unique_name}.q"
    good, bad = user_event(1), user_event(2)

    async def handler(event: Event) -> None:
        if event.id == bad.id:
            raise RuntimeError("this one always fails")

    consuming, _ = await start_consumer(rabbit_url, unique_name, handler, queue)
    value = reader(consuming.metrics)
    try:
        await broker.publish(good)
        await broker.publish(good)  # a redelivered copy, as a second relay would send it
        await broker.publish(bad)
        await raw_publish(rabbit_url, broker.exchange_name, b"not an event", "user.registered")
        await eventually(
            lambda: value("broker_events_dead_lettered_total", queue=queue, reason="failed") == 1
        )
        await eventually(
            lambda: (
                value("broker_events_dead_lettered_total", queue=queue, reason="unreadable") == 1
            )
        )
    finally:
        await consuming.close()
    assert value("broker_events_handled_total", queue=queue) == 1
    assert value("broker_events_duplicate_total", queue=queue) == 1
    assert value("broker_events_failed_total", queue=queue) == 2  # tried, retried, parked
    # Handler calls: the good event and the bad one twice (the copy never reaches the handler).
    assert value("broker_event_handling_seconds_count", queue=queue) == 3
    # Every readable delivery's lag, a fraction of a second here.
    assert value("broker_event_lag_seconds_count", queue=queue) == 4
    assert 0 < value("broker_event_lag_seconds_sum", queue=queue) < 4 * 5


async def test_queue_depth_counts_what_waits_for_a_busy_consumer(
    rabbit_url: str, unique_name: str, broker: Broker
) -> None:
    queue = f"{unique_name}.slow"
    release = asyncio.Event()

    async def handler(_: Event) -> None:
        await release.wait()

    consuming, _ = await start_consumer(rabbit_url, unique_name, handler, queue, prefetch=1)
    value = reader(consuming.metrics)
    try:
        for n in range(4):
            await broker.publish(user_event(n))
        await asyncio.sleep(0.3)
        await consuming.read_queue_depths()
        busy = value("broker_queue_messages", queue=queue)
        release.set()
        await eventually(lambda: value("broker_events_handled_total", queue=queue) == 4)
        await consuming.read_queue_depths()
        drained = value("broker_queue_messages", queue=queue)
    finally:
        release.set()
        await consuming.close()
    assert busy == 3  # one in the handler, three ready
    assert drained == 0


async def test_the_outbox_backlog_grows_while_rabbitmq_is_away_and_drains_after(
    rabbit_url: str, unique_name: str, broker: Broker, mongo_db: AsyncDatabase
) -> None:
    outbox = Outbox(mongo_db["outbox"])
    await outbox.create_indexes()

    async def commit(events: list[Event]) -> None:
        async def work(session):
            await mongo_db["things"].insert_one({"n": len(events)}, session=session)
            return None, events

        await outbox.commit(work)

    # A broker that never connected: the publishes fail, the entries wait.
    offline = OutboxRelay(outbox, Broker(rabbit_url, f"{unique_name}.events"), poll_interval_s=60)
    stuck = reader(offline.metrics)
    await offline.read_backlog()
    assert stuck("outbox_backlog_entries") == 0
    assert stuck("outbox_oldest_unpublished_age_seconds") == 0
    await commit([user_event(1), user_event(2)])
    await commit([user_event(3)])
    await asyncio.sleep(0.2)
    with pytest.raises(Exception, match="not connected"):
        await offline.publish_committed()
    await offline.read_backlog()
    assert stuck("outbox_publish_failures_total") == 1
    assert stuck("outbox_backlog_entries") == 2
    assert stuck("outbox_oldest_unpublished_age_seconds") >= 0.2

    relay = OutboxRelay(outbox, broker, poll_interval_s=60)
    value = reader(relay.metrics)
    assert await relay.publish_pending() == 3
    await relay.read_backlog()
    assert value("outbox_events_published_total") == 3
    assert value("outbox_publish_failures_total") == 0
    assert value("outbox_backlog_entries") == 0
    assert value("outbox_oldest_unpublished_age_seconds") == 0


async def test_a_service_shows_the_pipes_beside_its_http_metrics(
    rabbit_url: str, unique_name: str, broker: Broker, mongo_db: AsyncDatabase
) -> None:
    relay = OutboxRelay(Outbox(mongo_db["outbox"]), broker)
    idle_consumer(broker, f"{unique_name}.shown").metrics.handled.inc()
    app = create_service_app(
        service="test",
        title="test",
        description="",
        readiness={},
        metrics_collectors=[broker.metrics, relay.metrics],
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        await client.get("/healthz")
        text = (await client.get("/metrics")).text
    assert "http_requests_total{" in text
    assert f'broker_events_handled_total{{queue="{unique_name}.shown"}} 1.0' in text
    assert "outbox_backlog_entries 0.0" in text
    assert "outbox_publish_failures_total 0.0" in text


async def test_closing_the_broker_while_it_reads_queue_depths_does_not_hang(
    rabbit_url: str, unique_name: str
) -> None:
    # Reads back to back, so each close cuts one short at another of its requests.
    for n in range(12):
        broker = Broker(rabbit_url, f"{unique_name}.events", depth_interval_s=0.001)
        idle_consumer(broker, f"{unique_name}.close{n}").start()
        broker.start()
        await broker.wait_ready(10)
        await asyncio.sleep(0.05 + 0.01 * n)
        async with asyncio.timeout(10):
            await broker.close()
