"""The outbox relay's fast path (events handed over in memory at commit, no outbox read) against
the real RabbitMQ and SecantusDB: every event once, in commit order, marked published."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.broker import Broker
from workcity_common.database import Document
from workcity_common.events import Event, UserData, UserRegistered
from workcity_common.outbox import Outbox, OutboxRelay

from tests.support.events import EventTap
from tests.support.outbox import pending_event_count

pytestmark = pytest.mark.integration


class CountingOutbox(Outbox):
    """Counts the relay's reads of the outbox collection."""

    polls = 0

    async def pending(self, limit: int, older_than_s: float = 0.0) -> list[Document]:
        self.polls += 1
        return await super().pending(limit, older_than_s)


def user_event(n: int) -> UserRegistered:
    return UserRegistered(
        producer="test", data=UserData(id=f"u{n}", email=f"u{n}@example.com", role="customer")
    )


async def commit(outbox: Outbox, db: AsyncDatabase, events: Sequence[Event]) -> None:
    async def work(session):
        await db["things"].insert_one({"n": len(events)}, session=session)
        return None, events

    await outbox.commit(work)


async def test_committed_events_go_out_in_order_without_reading_the_outbox(
    rabbit_url: str, unique_name: str, broker: Broker, mongo_db: AsyncDatabase
) -> None:
    tap = await EventTap(rabbit_url, broker.exchange_name, ["user.*"], f"{unique_name}.tap").start()
    outbox = CountingOutbox(mongo_db["outbox"])
    await outbox.create_indexes()
    # A long poll interval: only the start-up poll reads the outbox during this test.
    relay = OutboxRelay(outbox, broker, poll_interval_s=60, batch=5)
    relay.start()
    events = [user_event(n) for n in range(24)]
    try:
        await asyncio.sleep(0.3)
        assert outbox.polls == 1
        for n in range(0, 24, 2):  # two events per transaction
            await commit(outbox, mongo_db, events[n : n + 2])
        received = await tap.collect(24)
        for _ in range(50):  # the mark follows the publish
            if await pending_event_count(outbox.collection) == 0:
                break
            await asyncio.sleep(0.05)
    finally:
        await relay.close()
        await tap.close()
    assert [e.id for e in received] == [e.id for e in events]
    assert await pending_event_count(outbox.collection) == 0
    assert outbox.polls == 1


async def test_an_event_seen_by_both_the_poll_and_the_fast_path_goes_out_once(
    rabbit_url: str, unique_name: str, broker: Broker, mongo_db: AsyncDatabase
) -> None:
    tap = await EventTap(rabbit_url, broker.exchange_name, ["user.*"], f"{unique_name}.tap").start()
    outbox = Outbox(mongo_db["outbox"])
    relay = OutboxRelay(outbox, broker, poll_interval_s=60, batch=100)
    events = [user_event(n) for n in range(6)]
    try:
        for event in events:
            await commit(outbox, mongo_db, [event])
        # The poll finds all six (committed, unpublished); the fast path then has nothing left.
        assert await relay.publish_pending() == 6
        assert await relay.publish_committed() == 0
        received = await tap.collect(6)
    finally:
        await tap.close()
    assert [e.id for e in received] == [e.id for e in events]
    assert await pending_event_count(outbox.collection) == 0


async def test_with_the_broker_gone_the_events_wait_in_the_outbox(
    rabbit_url: str, unique_name: str, mongo_db: AsyncDatabase
) -> None:
    # A broker that never connected: the fast path fails and leaves everything to the poll.
    offline = Broker(rabbit_url, f"{unique_name}.events")
    outbox = Outbox(mongo_db["outbox"])
    relay = OutboxRelay(outbox, offline, poll_interval_s=60)
    await commit(outbox, mongo_db, [user_event(1), user_event(2)])
    with pytest.raises(Exception, match="not connected"):
        await relay.publish_committed()
    assert await pending_event_count(outbox.collection) == 2
    # One document per transaction, its events in order.
    [doc] = await mongo_db["outbox"].find({}).to_list(None)
    assert [e["data"]["id"] for e in doc["events"]] == ["u1", "u2"]
    assert outbox.poll_wanted() is True
