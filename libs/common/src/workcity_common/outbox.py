"""Transactional outbox: an event is stored in the same transaction as the write that causes it,
and a relay publishes stored events to RabbitMQ and deletes them (published: done).

One outbox document per transaction holds all its events, in order (`{_id, events: [...],
published, created_at}`): a transaction that reports fifty messages costs one insert and, once
published, one delete, not fifty of each (docs/decisions/0001: the database's cost is per
document written).

RabbitMQ being down, or the process dying between the write and the publish, delays events;
it never drops them. Events of one writer go out in the order they were committed. Several
replicas running relays at once may publish an event twice; consumers skip duplicates by event id.

The relay's fast path costs no database read: `commit` hands the entries it just committed to the
relay in memory, and the relay publishes them (confirms pipelined) and deletes a whole batch
with one request. The database stays the source of truth: the relay also polls it for
unpublished entries (at start, every poll interval, and whenever the fast path fails or overflows),
which covers a crashed process, another replica's leftovers and writes made with `add` directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from bson import ObjectId
from pymongo import ASCENDING, DeleteOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection

from workcity_common.broker import Broker, BrokerUnavailable
from workcity_common.bulk import Targeted, insert
from workcity_common.database import Document
from workcity_common.events import Event, UnknownEvent, parse_event, utcnow
from workcity_common.pipe_metrics import OutboxMetrics

log = logging.getLogger(__name__)

T = TypeVar("T")
# An outbox document: its id and the events of its transaction, in order.
Entry = tuple[ObjectId, list[Event]]


@dataclass(frozen=True, slots=True)
class StagedEntry:
    """An outbox entry that a unit of work writes itself (`write`, in one request with its own
    writes: workcity_common.bulk); the unit of work returns it in place of its events."""

    entry: Entry
    write: Targeted


# A unit of work: makes its writes with the session and returns its result and the events that
# report those writes (or the entry it wrote for them).
UnitOfWork = Callable[[AsyncClientSession], Awaitable[tuple[T, Sequence[Event] | StagedEntry]]]

# Committed entries waiting in memory for the relay; beyond this they are left to the poll.
MAX_COMMITTED_IN_MEMORY = 10_000
# An unpublished entry this old is taken by the routine poll of any relay.
STRANDED_AFTER_S = 5.0
# How often the relay reads the outbox's backlog for /metrics (two indexed requests).
BACKLOG_INTERVAL_S = 15.0


class Outbox:
    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection
        self._written = asyncio.Event()
        # Entries committed by this process and not yet published, in commit order.
        self._committed: deque[Entry] = deque()
        # Set when something may be in the database that the fast path does not know of.
        self._poll_wanted = True

    async def create_indexes(self) -> None:
        # The relay's scan for what is left to publish. (Published entries are deleted, so no
        # retention index: an outbox entry is a write and a delete, the cheapest pair there is.)
        await self.collection.create_index([("published", ASCENDING), ("_id", ASCENDING)])

    async def add(self, events: Sequence[Event], session: AsyncClientSession | None) -> None:
        """Store `events`; pass the session of the transaction that makes the write they report."""
        await self._insert(events, session)

    async def _insert(
        self, events: Sequence[Event], session: AsyncClientSession | None
    ) -> list[Entry]:
        if not events:
            return []
        entry, doc = _new_entry(events)
        await self.collection.insert_one(doc, session=session)
        return [entry]

    def stage(self, events: Sequence[Event]) -> StagedEntry:
        """The outbox document of `events`, for a unit of work to write with its own writes."""
        entry, doc = _new_entry(events)
        return StagedEntry(entry, insert(self.collection, doc))

    async def commit(self, work: UnitOfWork[T]) -> T:
        """Run `work` in a transaction that also stores its events; hand them to the relay once
        committed.

        The transaction is retried on transient errors (with_transaction), so `work` must only
        write through the session it is given.
        """
        stored: list[Entry] = []

        async def in_transaction(session: AsyncClientSession) -> T:
            result, events = await work(session)
            # A retried attempt replaces what an aborted one stored.
            if isinstance(events, StagedEntry):
                stored[:] = [events.entry]
            else:
                stored[:] = await self._insert(events, session)
            return result

        # Not causally consistent: a retried attempt would carry `readConcern.afterClusterTime`
        # on its first statement, which SecantusDB refuses on `bulkWrite` (workcity_common.bulk);
        # each attempt is a transaction of its own on the primary, which needs no such read.
        async with self.collection.database.client.start_session(
            causal_consistency=False
        ) as session:
            result = await session.with_transaction(in_transaction)
        self._hand_over(stored)
        return result

    def _hand_over(self, entries: Sequence[Entry]) -> None:
        if entries:
            if len(self._committed) + len(entries) > MAX_COMMITTED_IN_MEMORY:
                # No relay is keeping up (or none runs here): the database has them all.
                self._committed.clear()
                self._poll_wanted = True
            else:
                self._committed.extend(entries)
        self._written.set()

    def notify_committed(self) -> None:
        """Wake the relay now instead of at its next poll (after a commit made with `add`)."""
        self._poll_wanted = True
        self._written.set()

    def take_committed(self, limit: int) -> list[Entry]:
        """Entries committed here and not yet published, oldest first, up to `limit` events (at
        least one entry)."""
        taken: list[Entry] = []
        events = 0
        while self._committed and (not taken or events + len(self._committed[0][1]) <= limit):
            entry = self._committed.popleft()
            taken.append(entry)
            events += len(entry[1])
        return taken

    def forget_committed(self, ids: set[ObjectId]) -> None:
        """Drop entries a poll has published from the fast path's queue."""
        if ids and self._committed:
            self._committed = deque(e for e in self._committed if e[0] not in ids)

    def want_poll(self) -> None:
        self._poll_wanted = True

    def poll_wanted(self) -> bool:
        wanted, self._poll_wanted = self._poll_wanted, False
        return wanted

    async def wait_for_writes(self, timeout: float) -> bool:
        """Wait for a commit (True) or `timeout` seconds (False)."""
        # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that
        # arrives as the event is set, and the relay would then never stop.
        woken = False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._written.wait()
                woken = True
        self._written.clear()
        return woken

    async def pending(self, limit: int, older_than_s: float = 0.0) -> list[Document]:
        """Unpublished entries, oldest first; with `older_than_s`, only those written at least
        that long ago (the ones no relay is about to publish)."""
        query: Document = {"published": False}
        if older_than_s > 0:
            query["_id"] = {
                "$lt": ObjectId.from_datetime(utcnow() - timedelta(seconds=older_than_s))
            }
        cursor = self.collection.find(query).sort("_id", ASCENDING).limit(limit)
        return await cursor.to_list(length=limit)

    async def mark_published(self, ids: Sequence[ObjectId]) -> None:
        """Done with these entries: they are deleted (the consumers have the events; keeping a
        copy would cost every event an update now and a delete later)."""
        if not ids:
            return
        # One request of single-document deletes by `_id` rather than one delete with `$in`:
        # each is a point lookup on every server (docs/decisions/0001).
        await self.collection.bulk_write(
            [DeleteOne({"_id": entry_id}) for entry_id in ids], ordered=False
        )

    async def backlog(self) -> tuple[int, float]:
        """(unpublished entries, age in seconds of the oldest: 0 when none), for the metrics."""
        unpublished = {"published": False}
        count = await self.collection.count_documents(unpublished)
        oldest = await self.collection.find_one(
            unpublished, sort=[("_id", ASCENDING)], projection={"created_at": 1}
        )
        if oldest is None:
            return count, 0.0
        return count, max((utcnow() - oldest["created_at"]).total_seconds(), 0.0)


class OutboxRelay:
    """Publishes what the outbox holds, in commit order, and marks it published. `batch`: at
    most this many events per publish from the fast path (at least one entry), this many outbox
    documents per read of the database."""

    def __init__(
        self,
        outbox: Outbox,
        broker: Broker,
        *,
        poll_interval_s: float = 1.0,
        batch: int = 200,
        backlog_interval_s: float = BACKLOG_INTERVAL_S,
    ) -> None:
        self._outbox = outbox
        self._broker = broker
        self._poll_interval_s = poll_interval_s
        self._batch = batch
        self._backlog_interval_s = backlog_interval_s
        self._task: asyncio.Task[None] | None = None
        # The service adds it to /metrics.
        self.metrics = OutboxMetrics()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        last_poll = last_backlog = -float("inf")
        while True:
            if time.monotonic() - last_backlog >= self._backlog_interval_s:
                last_backlog = time.monotonic()
                await self.read_backlog()
            try:
                wanted = self._outbox.poll_wanted()
                if wanted or time.monotonic() - last_poll >= self._poll_interval_s:
                    last_poll = time.monotonic()
                    # The routine poll looks only for entries left behind (by a process that
                    # died, or a failed publish); recent ones are on some relay's fast path, and
                    # picking them up here would publish them twice.
                    older_than_s = 0.0 if wanted else STRANDED_AFTER_S
                    while (await self._publish_pending_batch(older_than_s))[0]:
                        pass  # a full batch: there may be more right away
                while await self.publish_committed():
                    pass
            except asyncio.CancelledError:
                raise
            except BrokerUnavailable as exc:
                self._outbox.want_poll()
                log.warning("outbox relay waiting for rabbitmq", extra={"error": str(exc)})
            except Exception:
                self._outbox.want_poll()
                log.exception("outbox relay failed; retrying")
            await self._outbox.wait_for_writes(self._poll_interval_s)
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                # Python 3.11's asyncio.timeout can turn a cancellation that coincides with its
                # own expiry into a TimeoutError (swallowed above): stop anyway, or close() and
                # the service's shutdown wait forever.
                raise asyncio.CancelledError

    async def read_backlog(self) -> None:
        """Read what waits in the outbox into the metrics."""
        try:
            entries, oldest_age_s = await self._outbox.backlog()
        except Exception as exc:
            log.warning("could not read the outbox backlog", extra={"error": repr(exc)})
            return
        self.metrics.backlog.set(entries)
        self.metrics.oldest_age.set(oldest_age_s)

    async def publish_committed(self) -> int:
        """Publish one batch of what this process committed (no database read); returns how
        many events went out."""
        entries = self._outbox.take_committed(self._batch)
        if not entries:
            return 0
        try:
            done, published = await self._publish(entries)
        except BaseException:
            # Whatever did not go out is still unpublished in the database: the poll takes over.
            self._outbox.want_poll()
            raise
        if done < len(entries):
            self._outbox.want_poll()
        return published

    async def publish_pending(self, older_than_s: float = 0.0) -> int:
        """Publish one batch read from the database; returns how many events went out."""
        return (await self._publish_pending_batch(older_than_s))[1]

    async def _publish_pending_batch(self, older_than_s: float) -> tuple[bool, int]:
        """(whether the batch read was full and all published: look again, events published)"""
        docs = await self._outbox.pending(self._batch, older_than_s)
        entries: list[Entry] = []
        for doc in docs:
            events: list[Event] = []
            for stored in doc["events"]:
                try:
                    events.append(parse_event(stored))
                except UnknownEvent:
                    log.error(
                        "outbox entry holds an event that is not known; skipped",
                        extra={"id": str(doc["_id"])},
                    )
            entries.append((doc["_id"], events))
        done, published = await self._publish(entries)
        self._outbox.forget_committed({entry_id for entry_id, _ in entries[:done]})
        if done < len(entries):
            self._outbox.want_poll()
        return len(docs) == self._batch and done == len(entries), published

    async def _publish(self, entries: Sequence[Entry]) -> tuple[int, int]:
        """Publish the entries' events in order (confirms awaited together) and mark the
        entries whose events all went out; stops at the first failure. Returns (entries done,
        events published). An entry published in part stays: its events go out again later,
        and consumers skip the copies by event id."""
        events = [event for _, entry_events in entries for event in entry_events]
        published = 0
        try:
            published = await self._broker.publish_many(events)
        except Exception:
            self.metrics.publish_failures.inc()
            raise
        finally:
            done = _published_prefix([len(entry_events) for _, entry_events in entries], published)
            if done:
                await self._outbox.mark_published([entry_id for entry_id, _ in entries[:done]])
        self.metrics.published.inc(published)
        if published < len(events):
            self.metrics.publish_failures.inc()  # stopped part way
        return done, published


def _new_entry(events: Sequence[Event]) -> tuple[Entry, Document]:
    entry_id = ObjectId()
    doc = {
        "_id": entry_id,
        "events": [event.model_dump(mode="json") for event in events],
        "published": False,
        "created_at": utcnow(),
    }
    return (entry_id, list(events)), doc


def _published_prefix(sizes: Sequence[int], published: int) -> int:
    """How many leading entries (of `sizes` events each) are done when the first `published`
    events went out."""
    count = 0
    for size in sizes:
        if size > published:
            break
        published -= size
        count += 1
    return count
