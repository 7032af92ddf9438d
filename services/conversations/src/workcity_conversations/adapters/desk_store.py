"""The support desk in MongoDB: the desk fields of conversations (teams and agents:
adapters/teams_store.py).

Documents: conversations gain `status, assignee, team, priority, labels, waiting_since, snoozed_until,
  queue_since, version, customer, subject, order_id, open_key`.

Every desk change of a conversation is one transaction (`change`): the conversation read in the
transaction, the change decided by a pure function, the write made conditional on the version
read, and its events stored in the outbox. Capacity is never "count, then assign" across two
steps: an assignment first writes the agent's document (so two assignments to one agent cannot
both commit: the second meets a write conflict and is retried from a fresh snapshot), then counts
the agent's open conversations inside the same transaction, and only then assigns.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from pymongo.read_concern import ReadConcern
from workcity_common.database import Document
from workcity_common.events import Event
from workcity_common.outbox import Outbox

from workcity_conversations.adapters.activity_store import ActivityStore
from workcity_conversations.adapters.conversation_docs import conversation_from_doc
from workcity_conversations.adapters.teams_store import TeamsStore
from workcity_conversations.desk_ports import AtCapacity, DeskEvents, OpenRequestExists, Plan
from workcity_conversations.domain import activity, desk_queue
from workcity_conversations.domain.errors import Conflict, NotFound
from workcity_conversations.domain.model import Conversation

IDX_QUEUE = "desk_queue_by_priority"
IDX_ASSIGNEE = "desk_assignee"
IDX_TEAM_STATUS = "desk_team_status"
IDX_STATUS = "desk_status"
IDX_SNOOZED = "desk_snoozed_until"
IDX_OPEN_REQUEST = "desk_open_request_unique"
# A desk change retried this often when another writer keeps changing the conversation.
CHANGE_ATTEMPTS = 5


# More writes in a desk change's transaction, given the conversation after it; their events.
AlsoWrite = Callable[[AsyncClientSession, Conversation], Awaitable[Sequence[Event]]]


class _Stale(Exception):
    """The conversation changed between the read and the write of a desk change."""


class DeskStore(TeamsStore):
    """Teams and agents (TeamsStore), and the desk's changes of conversations."""

    def __init__(self, db: AsyncDatabase[Document], outbox: Outbox) -> None:
        super().__init__(db)
        self._outbox = outbox
        self.activity = ActivityStore(db)

    async def create_indexes(self) -> None:
        await super().create_indexes()
        await self.conversations.create_indexes(
            [
                # A team's queue: the higher priority first, then the longest waiting.
                IndexModel(
                    [
                        ("team", ASCENDING),
                        ("status", ASCENDING),
                        ("assignee", ASCENDING),
                        ("priority_rank", DESCENDING),
                        ("waiting_since", ASCENDING),
                    ],
                    name=IDX_QUEUE,
                ),
                # An agent's conversations of a status (their inbox, their open count).
                IndexModel(
                    [("assignee", ASCENDING), ("status", ASCENDING), ("last_activity", DESCENDING)],
                    name=IDX_ASSIGNEE,
                ),
                IndexModel(
                    [("team", ASCENDING), ("status", ASCENDING), ("last_activity", DESCENDING)],
                    name=IDX_TEAM_STATUS,
                ),
                IndexModel([("status", ASCENDING), ("last_activity", DESCENDING)], name=IDX_STATUS),
                # Snoozes that are due.
                IndexModel([("status", ASCENDING), ("snoozed_until", ASCENDING)], name=IDX_SNOOZED),
                # One unresolved support request per customer and team, also when two race.
                IndexModel(
                    [("open_key", ASCENDING)],
                    name=IDX_OPEN_REQUEST,
                    unique=True,
                    partialFilterExpression={"open_key": {"$gt": ""}},
                ),
            ]
        )
        await self.activity.create_indexes()

    # --- conversations --------------------------------------------------------------------------

    async def conversation(self, conversation_id: str) -> Conversation | None:
        doc = await self.conversations.find_one({"_id": ObjectId(conversation_id)})
        return conversation_from_doc(doc) if doc else None

    async def open_request(self, open_key: str) -> Conversation | None:
        doc = await self.conversations.find_one({"open_key": open_key})
        return conversation_from_doc(doc) if doc else None

    async def customer_of(self, conversation_id: str) -> str | None:
        doc = await self.conversations.find_one({"_id": ObjectId(conversation_id)}, {"customer": 1})
        return doc.get("customer") if doc else None

    async def insert_conversation(
        self, doc: Document, events: Callable[[Conversation], Sequence[Event]]
    ) -> Conversation:
        """A new support conversation and its events; `OpenRequestExists` when the customer's
        unresolved request in that team exists already."""

        async def work(session: AsyncClientSession) -> tuple[Conversation, Sequence[Event]]:
            await self.conversations.insert_one(
                {"priority_rank": desk_queue.rank(doc.get("priority")), **doc}, session=session
            )
            conversation = conversation_from_doc(doc)
            return conversation, events(conversation)

        with _open_request_taken():
            return await self._outbox.commit(work)

    async def change(
        self,
        conversation_id: str,
        decide: Callable[[Conversation], Plan | None],
        events: DeskEvents,
        now: datetime,
        also: AlsoWrite | None = None,
    ) -> tuple[Conversation, Conversation, Plan | None]:
        """One desk change of a conversation, atomically: (before, after, plan); plan None when
        `decide` found nothing to change (nothing written, no event). `also` writes with it, in
        its transaction, changed or not (a transfer's note)."""
        key = ObjectId(conversation_id)
        for _ in range(CHANGE_ATTEMPTS):
            try:
                work = self._change_work(key, decide, events, now, also)
                with _open_request_taken():
                    return await self._outbox.commit(work)
            except _Stale:
                continue
        raise Conflict("The conversation keeps changing; try again")

    def _change_work(
        self,
        key: ObjectId,
        decide: Callable[[Conversation], Plan | None],
        events: DeskEvents,
        now: datetime,
        also: AlsoWrite | None,
    ) -> Any:
        async def work(
            session: AsyncClientSession,
        ) -> tuple[tuple[Conversation, Conversation, Plan | None], Sequence[Event]]:
            doc = await self.conversations.find_one({"_id": key}, session=session)
            if doc is None:
                raise NotFound("Conversation not found")
            before = conversation_from_doc(doc)
            plan = decide(before)
            if plan is None:
                return (before, before, None), (await also(session, before) if also else [])
            if plan.claim is not None:
                agent_id, limit = plan.claim
                # The agent's document first: a concurrent assignment to the same agent now
                # conflicts with this transaction instead of both counting the same total.
                await self.agents.update_one(
                    {"_id": agent_id},
                    {"$set": {"last_assigned_at": now}},
                    upsert=True,
                    session=session,
                )
                if limit is not None:
                    count = await self.conversations.count_documents(
                        {"assignee": agent_id, "status": "open"}, session=session
                    )
                    if count >= limit:
                        raise AtCapacity
            # Every change restates the priority's rank: the queue's order needs it on every
            # conversation that can be queued (those created before it existed included).
            rank = desk_queue.rank(plan.set.get("priority", before.priority))
            update: Document = {"$inc": {"version": 1}, "$set": {**plan.set, "priority_rank": rank}}
            if plan.unset:
                update["$unset"] = {name: "" for name in plan.unset}
            if plan.add_participant:
                update["$addToSet"] = {"participants": plan.add_participant}
            result = await self.conversations.update_one(
                {"_id": key, "version": doc.get("version", 0)}, update, session=session
            )
            if result.modified_count != 1:
                raise _Stale
            after_doc = await self.conversations.find_one({"_id": key}, session=session)
            assert after_doc is not None
            after = conversation_from_doc(after_doc)
            entries = activity.entries(before, after, events.activity_actor, now)
            await self.activity.record(session, after.id, after.version, entries)
            extra = await also(session, after) if also else []
            return (before, after, plan), [*await events(before, after, plan), *extra]

        return work

    async def due_snoozes(self, now: datetime, limit: int) -> list[Conversation]:
        docs = self.conversations.find({"status": "snoozed", "snoozed_until": {"$lte": now}}).limit(
            limit
        )
        return [conversation_from_doc(d) async for d in docs]

    async def next_in_queue(self, team_id: str) -> Conversation | None:
        doc = await self.conversations.find_one(
            {"team": ObjectId(team_id), "status": "open", "assignee": None},
            sort=desk_queue.QUEUE_SORT,
        )
        return conversation_from_doc(doc) if doc else None

    async def inbox(
        self, query: Document, sort: list[tuple[str, int]], limit: int, after: Document | None
    ) -> list[Conversation]:
        if after:
            query = {"$and": [query, after]}
        docs = await self.conversations.find(query).sort(sort).limit(limit).to_list(length=limit)
        return [conversation_from_doc(d) for d in docs]

    async def inbox_with_counts(
        self,
        query: Document,
        sort: list[tuple[str, int]],
        limit: int,
        after: Document | None,
        counted: dict[str, Document],
    ) -> tuple[list[Conversation], dict[str, int]]:
        """A page of `query` and the count of each of `counted`, read from one snapshot (a
        read-only transaction): the counts match the items whatever commits meanwhile."""

        async def read(session: AsyncClientSession) -> tuple[list[Conversation], dict[str, int]]:
            where = {"$and": [query, after]} if after else query
            cursor = self.conversations.find(where, session=session).sort(sort).limit(limit)
            page = [conversation_from_doc(d) for d in await cursor.to_list(length=limit)]
            counts = {
                name: await self.conversations.count_documents(q, session=session)
                for name, q in counted.items()
            }
            return page, counts

        async with self.conversations.database.client.start_session() as session:
            return await session.with_transaction(read, read_concern=ReadConcern("snapshot"))

    async def raw_inbox_docs(
        self, query: Document, sort: list[tuple[str, int]], limit: int
    ) -> list[Document]:
        return await self.conversations.find(query).sort(sort).limit(limit).to_list(length=limit)

    async def count(self, query: Document) -> int:
        return await self.conversations.count_documents(query)


@contextmanager
def _open_request_taken() -> Iterator[None]:
    """A write that broke the one-unresolved-request-per-customer-and-team index raises
    `OpenRequestExists`."""
    try:
        yield
    except DuplicateKeyError as exc:
        if IDX_OPEN_REQUEST in str(exc):
            raise OpenRequestExists from exc
        raise
