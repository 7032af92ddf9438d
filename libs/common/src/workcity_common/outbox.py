"""Transactional outbox: an event is stored in the same transaction as the write that causes it,
and a relay publishes stored events to RabbitMQ and marks them published.

RabbitMQ being down, or the process dying between the write and the publish, delays events;
it never drops them. Order is the order of the outbox's `_id` (ObjectIds from one process only
grow), so events of one writer go out in the order they were written. Several replicas running
relays at once may publish an event twice; consumers skip duplicates by event id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TypeVar

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from workcity_common.broker import Broker, BrokerUnavailable
from workcity_common.database import Document
from workcity_common.events import Event, UnknownEvent, parse_event, utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")
# A unit of work: makes its writes with the session and returns its result and the events that
# report those writes.
UnitOfWork = Callable[[AsyncClientSession], Awaitable[tuple[T, Sequence[Event]]]]

# Published entries are kept this long (for inspection), then MongoDB's TTL monitor removes them.
PUBLISHED_RETENTION = timedelta(days=7)


class Outbox:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection
        self._written = asyncio.Event()

    async def create_indexes(self) -> None:
        await self.collection.create_index([("published", ASCENDING), ("_id", ASCENDING)])
        await self.collection.create_index(
            "published_at", expireAfterSeconds=int(PUBLISHED_RETENTION.total_seconds())
        )

    async def add(self, events: Sequence[Event], session: AsyncClientSession | None) -> None:
        """Store `events`; pass the session of the transaction that makes the write they report."""
        if not events:
            return
        docs = [
            {
                "_id": ObjectId(),
                "event_id": event.id,
                "type": event.type,
                "event": event.model_dump(mode="json"),
                "published": False,
                "created_at": utcnow(),
            }
            for event in events
        ]
        await self.collection.insert_many(docs, ordered=True, session=session)

    async def commit(self, work: UnitOfWork[T]) -> T:
        """Run `work` in a transaction that also stores its events; wake the relay once committed.

        The transaction is retried on transient errors (with_transaction), so `work` must only
        write through the session it is given.
        """

        async def in_transaction(session: AsyncClientSession) -> T:
            result, events = await work(session)
            await self.add(events, session)
            return result

        async with self.collection.database.client.start_session() as session:
            result = await session.with_transaction(in_transaction)
        self.notify_committed()
        return result

    def notify_committed(self) -> None:
        """Wake the relay now instead of at its next poll (call after the transaction commits)."""
        self._written.set()

    async def wait_for_writes(self, timeout: float) -> None:
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # arrives as the event is set, and the relay would then never stop.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._written.wait()
        self._written.clear()

    async def pending(self, limit: int) -> list[Document]:
        cursor = self.collection.find({"published": False}).sort("_id", ASCENDING).limit(limit)
        return await cursor.to_list(length=limit)

    async def mark_published(self, ids: Sequence[ObjectId]) -> None:
        await self.collection.update_many(
            {"_id": {"$in": list(ids)}}, {"$set": {"published": True, "published_at": utcnow()}}
        )

    async def count_pending(self) -> int:
        return await self.collection.count_documents({"published": False})


class OutboxRelay:
    """Publishes what the outbox holds, oldest first, and marks it published."""

    def __init__(
        self, outbox: Outbox, broker: Broker, *, poll_interval_s: float = 1.0, batch: int = 200
    ) -> None:
        self._outbox = outbox
        self._broker = broker
        self._poll_interval_s = poll_interval_s
        self._batch = batch
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                while await self.publish_pending() == self._batch:
                    pass  # a full batch: there may be more right away
            except asyncio.CancelledError:
                raise
            except BrokerUnavailable as exc:
                log.warning("outbox relay waiting for rabbitmq", extra={"error": str(exc)})
            except Exception:
                log.exception("outbox relay failed; retrying")
            await self._outbox.wait_for_writes(self._poll_interval_s)

    async def publish_pending(self) -> int:
        """Publish one batch; returns how many were published. Stops at the first failure."""
        entries = await self._outbox.pending(self._batch)
        published: list[ObjectId] = []
        try:
            for entry in entries:
                try:
                    event = parse_event(entry["event"])
                except UnknownEvent:
                    log.error(
                        "outbox entry is not a known event; skipped",
                        extra={"id": str(entry["_id"])},
                    )
                    published.append(entry["_id"])
                    continue
                await self._broker.publish(event)
                published.append(entry["_id"])
        finally:
            if published:
                await self._outbox.mark_published(published)
        return len(published)
