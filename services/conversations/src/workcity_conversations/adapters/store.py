"""Conversations and messages in MongoDB.

Every write that others must hear about is one transaction that also stores its events in the
outbox (`Outbox.commit`); the relay publishes them after the commit. The events are built by a
callback from what the transaction actually wrote (the assigned `seq`, the read positions), so an
event never describes a write that did not happen.

Documents:
- conversations `{_id, participants: [userId], pair_key, last_seq, last_message_id,
  last_activity, reads: {userId: seq}, read_at: {userId: time}, deleted_seqs, created_at,
  updated_at}`; `last_activity` is the ObjectId of the latest message (or of the conversation
  itself), so "most recently active first" is one index walk and a unique, stable page cursor.
- messages `{_id, conversation, seq, sender, text, attachments, client_message_id?, edited,
  created_at, updated_at}`.

Sends are committed in groups: while one transaction runs, the sends that arrive (for any
conversation) queue up, and the next transaction stores them all with three requests and a
commit, however many messages and conversations it holds: one `bulk_write` claims every
conversation's seqs and moves the senders' read positions, one insert stores the messages, one
the events. The claim needs each conversation's `last_seq` and the senders' read positions before
the write; the store keeps the last state it knows of each conversation and makes the claim
conditional on it (`last_seq` and those read positions still as remembered). A conversation
another process changed meanwhile fails the condition: the transaction is aborted and the group
is tried again, planned this time from those conversations as read inside the transaction (a
later write by the other process is then a write conflict, which the transaction retry handles).
Sends of one process never conflict with each other on a conversation document.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError
from workcity_common.database import Document
from workcity_common.events import Event
from workcity_common.outbox import Outbox

from workcity_conversations.domain import desk
from workcity_conversations.domain.errors import Busy, NotFound
from workcity_conversations.domain.model import Attachment, Conversation, Csat, Message
from workcity_conversations.domain.paging import ConversationPage, MessagePage
from workcity_conversations.domain.reads import (
    deleted_seq_matters,
    lowest_read_position,
    next_read_position,
)

T = TypeVar("T")

# Index names are fixed so the explain test (and an operator) can refer to them.
IDX_PAIR = "pair_key_unique"
IDX_INBOX = "participants_activity"
IDX_HISTORY = "conversation_seq_unique"
IDX_IDEMPOTENCY = "conversation_sender_client_message_id_unique"

CONVERSATION_INDEXES = [
    # One conversation per pair of users, also when two creates race.
    IndexModel([("pair_key", ASCENDING)], name=IDX_PAIR, unique=True),
    # The caller's conversations, most recently active first (multikey on participants).
    IndexModel([("participants", ASCENDING), ("last_activity", DESCENDING)], name=IDX_INBOX),
]
MESSAGE_INDEXES = [
    # History pages, catch-up after a seq, the latest message before a deleted one, and the
    # guarantee that a seq is never used twice in a conversation.
    IndexModel([("conversation", ASCENDING), ("seq", ASCENDING)], name=IDX_HISTORY, unique=True),
    # Idempotent sends. Partial, so messages without a client id never collide. `$gt: ""` rather
    # than `$type: "string"`: both servers accept it, and an equality query on a (non-empty)
    # string id implies it, so the planner picks this index for the lookup.
    IndexModel(
        [("conversation", ASCENDING), ("sender", ASCENDING), ("client_message_id", ASCENDING)],
        name=IDX_IDEMPOTENCY,
        unique=True,
        partialFilterExpression={"client_message_id": {"$gt": ""}},
    ),
]


# Most sends stored by one transaction.
MAX_SEND_GROUP = 128
# The state of this many conversations is remembered (least recently used ones are dropped).
STATE_CACHE_SIZE = 50_000
# A group is tried this often when other processes keep changing its conversations.
CLAIM_ATTEMPTS = 3


class ConversationExists(Exception):
    """A create lost the race for the pair's unique key: the other conversation stands."""


class DuplicateClientMessage(Exception):
    """A send reused a `clientMessageId` already stored by another (concurrent) send."""


def _oid(value: str) -> ObjectId:
    return ObjectId(value)


def conversation_from_doc(doc: Document) -> Conversation:
    last_message = doc.get("last_message_id")
    return Conversation(
        id=str(doc["_id"]),
        participants=tuple(doc["participants"]),
        last_seq=int(doc.get("last_seq", 0)),
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        last_message_id=str(last_message) if last_message is not None else None,
        reads={k: int(v) for k, v in (doc.get("reads") or {}).items()},
        read_at=dict(doc.get("read_at") or {}),
        deleted_seqs=tuple(int(s) for s in doc.get("deleted_seqs") or ()),
        status=doc.get("status", "open"),
        assignee_id=doc.get("assignee"),
        team_id=str(doc["team"]) if doc.get("team") is not None else None,
        priority=doc.get("priority"),
        labels=tuple(doc.get("labels") or ()),
        waiting_since=doc.get("waiting_since"),
        snoozed_until=doc.get("snoozed_until"),
        version=int(doc.get("version", 0)),
        subject=doc.get("subject"),
        order_id=doc.get("order_id"),
        csat=_csat(doc.get("csat")),
    )


def _csat(doc: Document | None) -> Csat | None:
    if not doc:
        return None
    return Csat(
        round=int(doc["round"]),
        requested_at=doc["requested_at"],
        rating=doc.get("rating"),
        comment=doc.get("comment"),
        rated_at=doc.get("rated_at"),
    )


def message_from_doc(doc: Document) -> Message:
    return Message(
        id=str(doc["_id"]),
        conversation_id=str(doc["conversation"]),
        seq=int(doc["seq"]),
        sender_id=doc["sender"],
        text=doc["text"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        client_message_id=doc.get("client_message_id"),
        attachments=tuple(
            Attachment(
                id=str(a["_id"]),
                filename=a["filename"],
                content_type=a["content_type"],
                size=int(a["size"]),
            )
            for a in doc.get("attachments") or ()
        ),
        edited=bool(doc.get("edited", False)),
    )


SendEvents = Callable[[Conversation, Message, int], Sequence[Event]]


@dataclass(eq=False)
class _Send:
    """One queued send and where its outcome goes."""

    conversation_id: str
    message_id: ObjectId
    sender_id: str
    text: str
    client_message_id: str | None
    now: datetime
    attachments: Sequence[Attachment]
    events: SendEvents
    result: asyncio.Future[tuple[Conversation, Message]]
    # A customer's message starts the desk's wait, a staff member's ends it (`waiting_since`).
    from_customer: bool = False
    abandoned: bool = False

    def settle(self, outcome: tuple[Conversation, Message] | BaseException) -> None:
        if self.result.done():
            return
        if isinstance(outcome, BaseException):
            self.result.set_exception(outcome)
            if self.abandoned:
                self.result.exception()  # nobody waits for it: mark it retrieved
        else:
            self.result.set_result(outcome)


class _Conflicted(Exception):
    """A transaction still meeting write conflicts after the commit timeout: a transaction that
    will not finish soon (one a killed process left open until the server reaps it) holds a
    conversation of the group."""


class _StaleState(Exception):
    """A conversation changed since this process last saw it (another process wrote to it)."""

    def __init__(self) -> None:
        super().__init__("conversation state changed")


def _page_span(page: MessagePage, last_seq: int) -> tuple[int, int] | None:
    """The seqs a page holds when no message in it was deleted (None: an empty page)."""
    if page.after_seq is None:
        high = last_seq if page.before_seq is None else min(page.before_seq - 1, last_seq)
        low = max(1, high - page.limit + 1)
    else:
        low = page.after_seq + 1
        high = min(last_seq, page.after_seq + page.limit)
        if page.before_seq is not None:
            high = min(high, page.before_seq - 1)
    return (low, high) if low <= high else None


def _reuses_client_id(exc: DuplicateKeyError | BulkWriteError) -> bool:
    """Whether a failed insert broke the idempotency index (a send repeating a client id)."""
    if isinstance(exc, BulkWriteError):
        return any(
            error.get("code") == 11000 and IDX_IDEMPOTENCY in str(error.get("errmsg", ""))
            for error in exc.details.get("writeErrors", [])
        )
    return IDX_IDEMPOTENCY in str(exc)


def _message_doc(conversation: ObjectId, seq: int, send: _Send) -> Document:
    doc: Document = {
        "_id": send.message_id,
        "conversation": conversation,
        "seq": seq,
        "sender": send.sender_id,
        "text": send.text,
        "attachments": [
            {
                "_id": _oid(a.id),
                "filename": a.filename,
                "content_type": a.content_type,
                "size": a.size,
            }
            for a in send.attachments
        ],
        "edited": False,
        "created_at": send.now,
        "updated_at": send.now,
    }
    if send.client_message_id is not None:
        doc["client_message_id"] = send.client_message_id
    return doc


def _claim(state: Conversation, sends: Sequence[_Send]) -> UpdateOne:
    """The update that claims `len(sends)` seqs of a conversation and moves each sender's read
    position to their last message, if the conversation is still as `state` says (its
    `last_seq` and the senders' read positions); otherwise it changes nothing, which the caller
    sees in the modified count. The condition is inside the update rather than in its filter:
    a filter of `_id` alone is a point lookup on every server."""
    offset: dict[str, int] = {}
    last_of: dict[str, _Send] = {}
    for index, send in enumerate(sends, start=1):
        offset[send.sender_id] = index
        last_of[send.sender_id] = send
    unchanged: list[Document] = [
        {"$eq": ["$last_seq", state.last_seq]},
        # Participants only grow (the desk adds an assignee): the same count, the same people.
        {"$eq": [{"$size": "$participants"}, len(state.participants)]},
    ]
    if any(send.from_customer for send in sends):
        # The caller reopens a pending, snoozed or resolved conversation after a customer's
        # message on the status this send saw: it must be the stored one (the desk's writes
        # do not pass through this process's memory; a stale one is re-read, see _store_group).
        unchanged.append({"$eq": [{"$ifNull": ["$status", "open"]}, state.status]})
    for sender in offset:
        # -1 stands for "no read position yet" (stored positions are never negative).
        unchanged.append(
            {"$eq": [{"$ifNull": [f"$reads.{sender}", -1]}, state.reads.get(sender, -1)]}
        )
    positions = [
        {"$add": ["$last_seq", offset[p]]} if p in offset else {"$ifNull": [f"$reads.{p}", 0]}
        for p in state.participants
    ]
    newest = sends[-1]

    def when_unchanged(value: Any, field: str) -> Document:
        return {"$cond": ["$_claimable", value, f"${field}"]}

    # An update pipeline: the first stage decides, the second reads the document as it was
    # before the update in every expression, the last removes the decision.
    claim: Document = {
        "last_seq": when_unchanged({"$add": ["$last_seq", len(sends)]}, "last_seq"),
        "last_message_id": when_unchanged({"$literal": newest.message_id}, "last_message_id"),
        "updated_at": when_unchanged({"$literal": newest.now}, "updated_at"),
        "last_activity": when_unchanged(
            {"$max": ["$last_activity", {"$literal": newest.message_id}]}, "last_activity"
        ),
        "waiting_since": when_unchanged(_waiting_since_after(sends), "waiting_since"),
        # Deleted seqs everyone has now read past no longer matter to any unread count.
        "deleted_seqs": when_unchanged(
            {
                "$filter": {
                    "input": {"$ifNull": ["$deleted_seqs", []]},
                    "as": "seq",
                    "cond": {"$gt": ["$$seq", {"$min": positions}]},
                }
            },
            "deleted_seqs",
        ),
    }
    for sender, index in offset.items():
        claim[f"reads.{sender}"] = when_unchanged({"$add": ["$last_seq", index]}, f"reads.{sender}")
        claim[f"read_at.{sender}"] = when_unchanged(
            {"$literal": last_of[sender].now}, f"read_at.{sender}"
        )
    return UpdateOne(
        {"_id": _oid(state.id)},
        [
            {"$set": {"_claimable": {"$and": unchanged}}},
            {"$set": claim},
            {"$unset": "_claimable"},
        ],
    )


def _waiting_since_after(sends: Sequence[_Send]) -> Any:
    """The stored `waiting_since` after `sends` (desk.wait_after_messages on the server's value:
    a staff message in the group decides it alone; customers' alone keep a running wait)."""
    messages = [(send.from_customer, send.now) for send in sends]
    if all(from_customer for from_customer, _ in messages):
        return {"$ifNull": ["$waiting_since", {"$literal": messages[0][1]}]}
    return {"$literal": desk.wait_after_messages(None, messages)}


class ConversationStore:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        outbox: Outbox,
        *,
        max_queued_sends: int = 1000,
        commit_timeout_s: float = 2.0,
        set_aside_max_s: float = 10.0,
    ) -> None:
        self.conversations = db["conversations"]
        self.messages = db["messages"]
        self._outbox = outbox
        # One transaction of this store at a time (sends in groups, read marks): they never
        # conflict with each other on a conversation document.
        self._write_lock = asyncio.Lock()
        self._queued: list[_Send] = []
        self._max_queued = max_queued_sends
        # A group's transaction retried on write conflicts past this is given up (the driver
        # would retry for 120 s while every other send waits behind the write lock).
        self._commit_timeout_s = commit_timeout_s
        # conversation id -> (until when its sends are answered `busy` at once, how long the
        # last setting aside was): doubled while it stays locked, up to set_aside_max_s.
        self._set_aside: dict[str, tuple[float, float]] = {}
        self._set_aside_max_s = set_aside_max_s
        # conversation id -> its state as of this process's last read or write of it
        self._known: OrderedDict[str, Conversation] = OrderedDict()

    async def create_indexes(self) -> None:
        await self.conversations.create_indexes(CONVERSATION_INDEXES)
        await self.messages.create_indexes(MESSAGE_INDEXES)

    # --- reads ----------------------------------------------------------------------------------

    async def conversation(self, conversation_id: str) -> Conversation | None:
        doc = await self.conversations.find_one({"_id": _oid(conversation_id)})
        return conversation_from_doc(doc) if doc else None

    async def participants(
        self, conversation_id: str, *, fresh: bool = False
    ) -> tuple[str, ...] | None:
        """Who is in a conversation (None: no such conversation). Participants only ever grow (the
        desk adds an assignee), so the remembered state answers unless `fresh`; a deleted
        conversation is caught by the write that follows."""
        if fresh:
            self._known.pop(conversation_id, None)
        known = self._known.get(conversation_id)
        if known is None:
            await self._load([conversation_id])
            known = self._known.get(conversation_id)
        return known.participants if known is not None else None

    async def _load(self, conversation_ids: Sequence[str]) -> None:
        """Read the current state of conversations (one request) and remember it."""
        if not conversation_ids:
            return
        for conversation_id in conversation_ids:
            self._known.pop(conversation_id, None)
        for conversation in (await self._read_states(conversation_ids)).values():
            self._remember(conversation)

    async def _read_states(
        self, conversation_ids: Iterable[str], session: AsyncClientSession | None = None
    ) -> dict[str, Conversation]:
        """The current state of these conversations (absent: no such conversation)."""
        ids = [_oid(c) for c in dict.fromkeys(conversation_ids)]
        docs = self.conversations.find({"_id": {"$in": ids}}, session=session)
        return {str(d["_id"]): conversation_from_doc(d) async for d in docs}

    def _remember(self, conversation: Conversation) -> None:
        self._known[conversation.id] = conversation
        self._known.move_to_end(conversation.id)
        while len(self._known) > STATE_CACHE_SIZE:
            self._known.popitem(last=False)

    async def conversation_of_pair(self, key: str) -> Conversation | None:
        doc = await self.conversations.find_one({"pair_key": key})
        return conversation_from_doc(doc) if doc else None

    async def conversations_of(
        self, user_id: str, page: ConversationPage
    ) -> tuple[list[Conversation], str | None]:
        """One page of the user's conversations, most recently active first, and the cursor for
        the next page (None on the last page)."""
        query: Document = {"participants": user_id}
        if page.before is not None:
            query["last_activity"] = {"$lt": _oid(page.before)}
        cursor = self.conversations.find(query).sort("last_activity", DESCENDING).limit(page.limit)
        docs = await cursor.to_list(length=page.limit)
        next_cursor = str(docs[-1]["last_activity"]) if len(docs) == page.limit else None
        return [conversation_from_doc(d) for d in docs], next_cursor

    async def message(self, message_id: str) -> Message | None:
        doc = await self.messages.find_one({"_id": _oid(message_id)})
        return message_from_doc(doc) if doc else None

    async def messages_by_id(self, message_ids: Iterable[str]) -> dict[str, Message]:
        ids = sorted({_oid(m) for m in message_ids})
        if not ids:
            return {}
        found = self.messages.find({"_id": {"$in": ids}})
        return {str(d["_id"]): message_from_doc(d) async for d in found}

    async def message_by_client_id(
        self, conversation_id: str, sender_id: str, client_message_id: str
    ) -> Message | None:
        doc = await self.messages.find_one(
            {
                "conversation": _oid(conversation_id),
                "sender": sender_id,
                "client_message_id": client_message_id,
            }
        )
        return message_from_doc(doc) if doc else None

    async def history(
        self, conversation_id: str, page: MessagePage, last_seq: int | None = None
    ) -> list[Message]:
        """Oldest first, whichever end the page is taken from.

        With the conversation's `last_seq`, the page's seqs are known in advance (seqs are
        gapless until messages are deleted): one bounded range is read, never more than the page.
        (Without it, "the latest 50" is an index walk from the end, which SecantusDB does by
        reading the whole conversation.) A range with deleted messages in it comes back short;
        then the general query finds the page."""
        if last_seq is not None:
            span = _page_span(page, last_seq)
            if span is None:
                return []
            low, high = span
            docs = await (
                self.messages.find(
                    {"conversation": _oid(conversation_id), "seq": {"$gte": low, "$lte": high}}
                )
                .sort("seq", ASCENDING)
                .to_list(length=high - low + 1)
            )
            if len(docs) == high - low + 1:
                return [message_from_doc(d) for d in docs]
        query: Document = {"conversation": _oid(conversation_id)}
        seq_range: dict[str, int] = {}
        if page.after_seq is not None:
            seq_range["$gt"] = page.after_seq
        if page.before_seq is not None:
            seq_range["$lt"] = page.before_seq
        if seq_range:
            query["seq"] = seq_range
        direction = DESCENDING if page.from_the_end else ASCENDING
        cursor = self.messages.find(query).sort("seq", direction).limit(page.limit)
        docs = await cursor.to_list(length=page.limit)
        if page.from_the_end:
            docs.reverse()
        return [message_from_doc(d) for d in docs]

    # --- writes (each one transaction, events included) -----------------------------------------

    async def create_conversation(
        self,
        conversation: Conversation,
        key: str,
        events: Callable[[Conversation], Sequence[Event]],
    ) -> Conversation:
        doc: Document = {
            "_id": _oid(conversation.id),
            "participants": list(conversation.participants),
            "pair_key": key,
            "last_seq": 0,
            "last_message_id": None,
            "last_activity": _oid(conversation.id),
            "reads": {},
            "read_at": {},
            "deleted_seqs": [],
            "created_at": conversation.created_at,
            "updated_at": conversation.updated_at,
            # The desk's fields (adapters/desk_store.py).
            "status": conversation.status,
            "assignee": conversation.assignee_id,
            "team": _oid(conversation.team_id) if conversation.team_id else None,
            "priority": None,
            "labels": [],
            "waiting_since": None,
            "version": conversation.version,
        }

        async def work(session: AsyncClientSession) -> tuple[Conversation, Sequence[Event]]:
            await self.conversations.insert_one(doc, session=session)
            return conversation, events(conversation)

        try:
            return await self._outbox.commit(work)
        except DuplicateKeyError as exc:
            raise ConversationExists(key) from exc

    async def append_message(
        self,
        *,
        conversation_id: str,
        message_id: str,
        sender_id: str,
        text: str,
        client_message_id: str | None,
        now: datetime,
        events: SendEvents,
        attachments: Sequence[Attachment] = (),
        from_customer: bool = False,
    ) -> tuple[Conversation, Message]:
        """Store a message with the conversation's next seq, in the same transaction as its
        events. Seqs are unique and gapless: the claim of a seq is part of the transaction, and
        an aborted send (a duplicate client id) gives its seq back with everything else.
        `events` also gets the sender's read position before the send.

        The send joins the queue; whoever holds the write lock commits everything queued (see
        the module docstring), so this returns once a transaction that held this send has
        committed. Raises `Busy` when `max_queued_sends` are waiting already."""
        if len(self._queued) >= self._max_queued:
            raise Busy
        send = _Send(
            conversation_id=conversation_id,
            message_id=_oid(message_id),
            sender_id=sender_id,
            text=text,
            client_message_id=client_message_id,
            now=now,
            attachments=attachments,
            events=events,
            result=asyncio.get_running_loop().create_future(),
            from_customer=from_customer,
        )
        self._queued.append(send)
        try:
            async with self._write_lock:
                while not send.result.done():
                    group = self._queued[:MAX_SEND_GROUP]
                    del self._queued[:MAX_SEND_GROUP]
                    if not group:
                        break  # ours is in a group an interrupted holder left committing
                    # Shielded: the group's other senders wait for it even if we are cancelled.
                    await asyncio.shield(asyncio.ensure_future(self._commit_group(group)))
        except BaseException:
            send.abandoned = True
            if send in self._queued:
                self._queued.remove(send)
            raise
        return await send.result

    async def _commit_group(self, group: list[_Send]) -> None:
        """Commit `group` in one transaction and settle every send in it (never raises). A group
        of several that fails is tried again one send at a time, so only the send at fault (a
        reused client id, a deleted conversation, a conversation locked by a transaction that
        will not finish) fails."""
        now = asyncio.get_running_loop().time()
        if len(self._set_aside) > 1000:  # bounded: forget pauses already over
            self._set_aside = {k: v for k, v in self._set_aside.items() if v[0] > now}
        aside = [s for s in group if self._set_aside.get(s.conversation_id, (0.0, 0.0))[0] > now]
        for send in aside:
            send.settle(Busy())
        group = [s for s in group if s not in aside]
        if not group:
            return
        try:
            outcomes = await self._store_group(group)
        except Exception as exc:
            # Whatever the transaction did, what this process remembers of these conversations
            # may be wrong now.
            for conversation_id in {send.conversation_id for send in group}:
                self._known.pop(conversation_id, None)
            if len(group) > 1:
                for send in group:
                    await self._commit_group([send])
                return
            [send] = group
            if isinstance(exc, DuplicateKeyError | BulkWriteError) and _reuses_client_id(exc):
                send.settle(DuplicateClientMessage(send.client_message_id or ""))
            elif isinstance(exc, _Conflicted):
                # Answered `busy` (its client retries with the same clientMessageId); its
                # conversation's next sends too for a while, without holding up anyone else.
                last = self._set_aside.get(send.conversation_id, (0.0, 0.0))[1]
                pause = min(self._set_aside_max_s, max(self._commit_timeout_s, 2 * last))
                until = asyncio.get_running_loop().time() + pause
                self._set_aside[send.conversation_id] = (until, pause)
                send.settle(Busy())
            else:
                send.settle(exc)
        else:
            for send, outcome in zip(group, outcomes, strict=True):
                self._set_aside.pop(send.conversation_id, None)
                send.settle(outcome)

    async def _store_group(self, group: Sequence[_Send]) -> list[tuple[Conversation, Message]]:
        conversation_ids = list(dict.fromkeys(send.conversation_id for send in group))
        await self._load([c for c in conversation_ids if c not in self._known])
        missing = [c for c in conversation_ids if c not in self._known]
        if missing:
            raise NotFound("Conversation not found")
        for attempt in range(CLAIM_ATTEMPTS):
            # The first attempt plans from what this process remembers (no read). Once that was
            # stale, another process is writing these conversations too: plan from a read inside
            # the transaction, so a write that lands after it is a write conflict, which
            # with_transaction retries, instead of a lost race (rereading outside the
            # transaction can lose to the other process every time).
            try:
                outcomes, latest = await self._outbox.commit(
                    self._within_commit_timeout(self._claim_and_insert(group, reread=attempt > 0))
                )
            except _StaleState:
                if attempt == CLAIM_ATTEMPTS - 1:
                    raise
                continue
            for conversation in latest:
                self._remember(conversation)
            return outcomes
        raise AssertionError("unreachable")

    def _within_commit_timeout(
        self, work: Callable[[AsyncClientSession], Awaitable[T]]
    ) -> Callable[[AsyncClientSession], Awaitable[T]]:
        """`work`, refused once the commit timeout has passed since its first attempt: the
        driver calls it again after each write conflict, and stops at an error of another kind
        (aborting the transaction)."""
        deadline = asyncio.get_running_loop().time() + self._commit_timeout_s

        async def bounded(session: AsyncClientSession) -> T:
            if asyncio.get_running_loop().time() > deadline:
                raise _Conflicted
            return await work(session)

        return bounded

    def _claim_and_insert(
        self, group: Sequence[_Send], *, reread: bool
    ) -> Callable[
        [AsyncClientSession],
        Awaitable[
            tuple[tuple[list[tuple[Conversation, Message]], list[Conversation]], Sequence[Event]]
        ],
    ]:
        """The transaction of a group: planned from the remembered state of its conversations,
        or with `reread` from their state read in the transaction."""
        by_conversation: dict[str, list[_Send]] = {}
        for send in group:
            by_conversation.setdefault(send.conversation_id, []).append(send)

        async def work(
            session: AsyncClientSession,
        ) -> tuple[tuple[list[tuple[Conversation, Message]], list[Conversation]], Sequence[Event]]:
            known: Mapping[str, Conversation] = self._known
            if reread:
                known = await self._read_states(by_conversation, session)
                if len(known) != len(by_conversation):
                    raise NotFound("Conversation not found")
            claims, outcomes, states, events, by_seq = self._plan(group, by_conversation, known)
            claimed = await self.conversations.bulk_write(claims, ordered=False, session=session)
            # Every claim that held changes `last_seq`; one that did not changes nothing.
            if claimed.modified_count != len(claims):
                raise _StaleState
            await self.messages.insert_many(by_seq, ordered=True, session=session)
            return (outcomes, states), events

        return work

    @staticmethod
    def _plan(
        group: Sequence[_Send],
        by_conversation: Mapping[str, Sequence[_Send]],
        known: Mapping[str, Conversation],
    ) -> tuple[
        list[UpdateOne],
        list[tuple[Conversation, Message]],
        list[Conversation],
        list[Event],
        list[Document],
    ]:
        """The claims, outcomes, new conversation states, events and message documents of a
        group, from the state of its conversations before it."""
        claims: list[UpdateOne] = []
        states: dict[str, Conversation] = {}
        outcome_of: dict[int, tuple[Conversation, Message]] = {}
        docs: list[Document] = []
        events_of: dict[int, Sequence[Event]] = {}
        for conversation_id, sends in by_conversation.items():
            state = known[conversation_id]
            claims.append(_claim(state, sends))
            reads = dict(state.reads)
            read_at = dict(state.read_at)
            deleted = list(state.deleted_seqs)
            waiting = state.waiting_since
            for index, send in enumerate(sends, start=1):
                seq = state.last_seq + index
                read_before = reads.get(send.sender_id, 0)
                reads[send.sender_id] = seq
                read_at[send.sender_id] = send.now
                lowest = lowest_read_position(state.participants, reads)
                deleted = [x for x in deleted if x > lowest]
                doc = _message_doc(_oid(conversation_id), seq, send)
                docs.append(doc)
                waiting = desk.wait_after_messages(waiting, [(send.from_customer, send.now)])
                after = replace(
                    state,
                    last_seq=seq,
                    updated_at=send.now,
                    last_message_id=str(send.message_id),
                    reads=dict(reads),
                    read_at=dict(read_at),
                    deleted_seqs=tuple(deleted),
                    waiting_since=waiting,
                )
                message = message_from_doc(doc)
                outcome_of[id(send)] = (after, message)
                events_of[id(send)] = send.events(after, message, read_before)
                states[conversation_id] = after
        # Messages and events in arrival order (per conversation that is seq order).
        outcomes = [outcome_of[id(send)] for send in group]
        events = [event for send in group for event in events_of[id(send)]]
        by_seq = sorted(docs, key=lambda d: (str(d["conversation"]), d["seq"]))
        return claims, outcomes, list(states.values()), events, by_seq

    async def edit_message(
        self,
        message_id: str,
        text: str,
        now: datetime,
        events: Callable[[Conversation, Message], Sequence[Event]],
    ) -> tuple[Conversation, Message]:
        async def work(
            session: AsyncClientSession,
        ) -> tuple[tuple[Conversation, Message], Sequence[Event]]:
            doc = await self.messages.find_one_and_update(
                {"_id": _oid(message_id)},
                {"$set": {"text": text, "edited": True, "updated_at": now}},
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            if doc is None:
                raise NotFound("Message not found")
            conv = await self.conversations.find_one({"_id": doc["conversation"]}, session=session)
            if conv is None:
                raise NotFound("Message not found")
            conversation, message = conversation_from_doc(conv), message_from_doc(doc)
            return (conversation, message), events(conversation, message)

        return await self._outbox.commit(work)

    async def delete_message(
        self, message_id: str, events: Callable[[Conversation, Message], Sequence[Event]]
    ) -> Message:
        async def work(session: AsyncClientSession) -> tuple[Message, Sequence[Event]]:
            doc = await self.messages.find_one_and_delete(
                {"_id": _oid(message_id)}, session=session
            )
            if doc is None:
                raise NotFound("Message not found")
            message = message_from_doc(doc)
            conv = await self.conversations.find_one({"_id": doc["conversation"]}, session=session)
            if conv is None:
                raise NotFound("Message not found")
            conversation = conversation_from_doc(conv)
            update: dict[str, Any] = {}
            if deleted_seq_matters(message.seq, conversation.participants, conversation.reads):
                update["$addToSet"] = {"deleted_seqs": message.seq}
            if conversation.last_message_id == message.id:
                previous = await self.messages.find_one(
                    {"conversation": doc["conversation"], "seq": {"$lt": message.seq}},
                    sort=[("seq", DESCENDING)],
                    session=session,
                )
                update["$set"] = {"last_message_id": previous["_id"] if previous else None}
            if update:
                await self.conversations.update_one(
                    {"_id": doc["conversation"]}, update, session=session
                )
            return message, events(conversation, message)

        deleted = await self._outbox.commit(work)
        # Its deleted seqs and last message changed: read the conversation again when needed.
        self._known.pop(deleted.conversation_id, None)
        return deleted

    async def attachments_in_use(self, conversation_id: str, attachment_ids: set[str]) -> set[str]:
        """Those of the ids that a message of the conversation still carries. Reads the
        conversation's attachment ids by the history index and filters here (only when a message
        with files is deleted): a filter on `attachments._id` would need an index every send
        pays for, and SecantusDB's planner scans the collection for such a conjunction."""
        cursor = self.messages.find(
            {"conversation": _oid(conversation_id)}, {"_id": 0, "attachments._id": 1}
        )
        carried = {str(a["_id"]) async for m in cursor for a in m.get("attachments") or ()}
        return carried & attachment_ids

    async def mark_read(
        self,
        conversation_id: str,
        user_id: str,
        requested_seq: int | None,
        now: datetime,
        events: Callable[[Conversation, int, datetime], Sequence[Event]],
    ) -> tuple[int, datetime | None]:
        """Move the user's read position forward; returns the position and when it was set.
        A mark that does not move it writes nothing and reports nothing."""
        # A mark that does not move the position (a client re-marking what it already read, or a
        # burst of them) is answered from a plain read: no write lock, no transaction, so it
        # cannot hold up this process's sends. Positions only move forward, so "not moved" read
        # here stays true; a mark that moves it is checked again in the transaction.
        doc = await self.conversations.find_one({"_id": _oid(conversation_id)})
        if doc is None:
            raise NotFound("Conversation not found")
        seen = conversation_from_doc(doc)
        current = seen.read_position(user_id)
        if next_read_position(current, requested_seq, seen.last_seq) == current:
            return current, seen.read_at.get(user_id)

        async def work(
            session: AsyncClientSession,
        ) -> tuple[tuple[int, datetime | None], Sequence[Event]]:
            doc = await self.conversations.find_one({"_id": _oid(conversation_id)}, session=session)
            if doc is None:
                raise NotFound("Conversation not found")
            conversation = conversation_from_doc(doc)
            current = conversation.read_position(user_id)
            position = next_read_position(current, requested_seq, conversation.last_seq)
            if position == current:
                return (current, conversation.read_at.get(user_id)), []
            reads = {**conversation.reads, user_id: position}
            await self.conversations.update_one(
                {"_id": doc["_id"]},
                {
                    "$set": {f"reads.{user_id}": position, f"read_at.{user_id}": now},
                    "$pull": {
                        "deleted_seqs": {
                            "$lte": lowest_read_position(conversation.participants, reads)
                        }
                    },
                },
                session=session,
            )
            return (position, now), events(conversation, position, now)

        # Under the write lock: a send of this process would otherwise conflict with it on the
        # conversation document.
        async with self._write_lock:
            try:
                return await self._outbox.commit(work)
            finally:
                self._known.pop(conversation_id, None)

    async def delete_conversation(
        self, conversation_id: str, events: Callable[[Conversation], Sequence[Event]]
    ) -> Conversation:
        async def work(session: AsyncClientSession) -> tuple[Conversation, Sequence[Event]]:
            doc = await self.conversations.find_one_and_delete(
                {"_id": _oid(conversation_id)}, session=session
            )
            if doc is None:
                raise NotFound("Conversation not found")
            await self.messages.delete_many({"conversation": doc["_id"]}, session=session)
            conversation = conversation_from_doc(doc)
            return conversation, events(conversation)

        deleted = await self._outbox.commit(work)
        self._known.pop(conversation_id, None)
        return deleted
