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

from collections.abc import Callable, Iterator, Sequence
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
from workcity_conversations.domain import activity, desk_queue
from workcity_conversations.domain.errors import Conflict, NotFound
from workcity_conversations.domain.model import Conversation
from workcity_conversations.service_layer.desk_ports import (
    AlsoWrite,
    AtCapacity,
    DeskEvents,
    InboxPage,
    InboxQuery,
    OpenRequestExists,
    Plan,
    SupportRequest,
)

IDX_QUEUE = "desk_queue_by_priority"
IDX_ASSIGNEE = "desk_assignee"
IDX_TEAM_STATUS = "desk_team_status"
IDX_STATUS = "desk_status"
IDX_SNOOZED = "desk_snoozed_until"
IDX_OPEN_REQUEST = "desk_open_request_unique"
# A desk change retried this often when another writer keeps changing the conversation.
CHANGE_ATTEMPTS = 5


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

    async def open_support(
        self, request: SupportRequest, events: Callable[[Conversation], Sequence[Event]]
    ) -> Conversation:
        """A new support conversation and its events; `OpenRequestExists` when the customer's
        unresolved request in that team exists already."""
        doc = _support_doc(request)

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
            fields = {**plan.set, "priority_rank": rank}
            if fields.get("team") is not None:
                fields["team"] = ObjectId(fields["team"])  # a transfer's: ids stored as ObjectId
            update: Document = {"$inc": {"version": 1}, "$set": fields}
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

    async def inbox(self, query: InboxQuery) -> InboxPage:
        """A page of the inbox and the counts of the mine, unassigned and team views, read from
        one snapshot (a read-only transaction): the counts match the items whatever commits
        meanwhile."""
        queries = _inbox_queries(query)
        where = queries[query.view]
        if query.view == "unassigned":
            sort = desk_queue.QUEUE_SORT
            after = desk_queue.after_cursor(query.cursor)
        else:
            sort = [("last_activity", DESCENDING)]
            after = {"last_activity": {"$lt": ObjectId(query.cursor)}} if query.cursor else None
        if after:
            where = {"$and": [where, after]}

        async def read(session: AsyncClientSession) -> tuple[list[Document], dict[str, int]]:
            cursor = self.conversations.find(where, session=session).sort(sort).limit(query.limit)
            docs = await cursor.to_list(length=query.limit)
            counts = {
                name: await self.conversations.count_documents(queries[name], session=session)
                for name in ("mine", "unassigned", "team")
            }
            return docs, counts

        async with self.conversations.database.client.start_session() as session:
            docs, counts = await session.with_transaction(
                read, read_concern=ReadConcern("snapshot")
            )
        page = [conversation_from_doc(d) for d in docs]
        next_cursor = None
        if docs and len(docs) == query.limit:
            next_cursor = (
                desk_queue.cursor_of(page[-1])
                if query.view == "unassigned"
                else str(docs[-1]["last_activity"])
            )
        return InboxPage(page, counts, next_cursor)


def _inbox_queries(query: InboxQuery) -> dict[str, Document]:
    """Each view's filter."""
    team_keys = [ObjectId(t) for t in query.team_ids]
    team_filter: Document = {"team": {"$in": team_keys}}
    mine: Document = {"assignee": query.caller_id, "status": query.status}
    if query.team_id is not None:
        mine["team"] = ObjectId(query.team_id)
    narrowed = {"team": ObjectId(query.team_id)} if query.team_id else {}
    return {
        "mine": mine,
        "unassigned": {**team_filter, "status": query.status, "assignee": None},
        "team": {**team_filter, "status": query.status},
        "all": {"status": query.status, **narrowed},
    }


def _support_doc(request: SupportRequest) -> Document:
    """A new support request's conversation document."""
    conversation_id = ObjectId()
    return {
        "_id": conversation_id,
        "participants": [request.customer_id],
        "pair_key": f"support:{conversation_id}",
        "last_seq": 0,
        "last_message_id": None,
        "last_activity": conversation_id,
        "reads": {},
        "read_at": {},
        "deleted_seqs": [],
        "created_at": request.now,
        "updated_at": request.now,
        "status": "open",
        "assignee": None,
        "team": ObjectId(request.team_id),
        "priority": None,
        "labels": [],
        "waiting_since": request.now,
        "snoozed_until": None,
        "version": 1,
        "customer": request.customer_id,
        "subject": request.subject,
        "order_id": request.order_id,
        "open_key": request.open_key,
    }


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
