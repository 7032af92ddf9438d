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

Sends to one conversation are committed in groups: while a send's transaction runs, the sends that
arrive for the same conversation queue up, and the next transaction stores them all (one update
claims their seqs, one insert stores them, one insert their events). A busy conversation costs a
handful of database requests per group instead of per message, and sends of one process never
conflict with each other on the conversation document (which would abort and retry them).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError
from workcity_common.database import Document
from workcity_common.events import Event
from workcity_common.outbox import Outbox

from workcity_conversations.domain.errors import NotFound
from workcity_conversations.domain.model import Attachment, Conversation, Message
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
MAX_SEND_GROUP = 64
# Participants of this many conversations are remembered (they never change).
PARTICIPANTS_CACHE_SIZE = 50_000


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

    message_id: ObjectId
    sender_id: str
    text: str
    client_message_id: str | None
    now: datetime
    attachments: Sequence[Attachment]
    events: SendEvents
    result: asyncio.Future[tuple[Conversation, Message]]
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


@dataclass
class KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it."""

    _locks: dict[str, tuple[asyncio.Lock, int]] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key) or (asyncio.Lock(), 0)
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


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


class ConversationStore:
    def __init__(self, db: AsyncDatabase[Document], outbox: Outbox) -> None:
        self.conversations = db["conversations"]
        self.messages = db["messages"]
        self._outbox = outbox
        self._locks = KeyedLocks()
        self._queued: dict[str, list[_Send]] = {}
        self._participants: OrderedDict[str, tuple[str, ...]] = OrderedDict()

    async def create_indexes(self) -> None:
        await self.conversations.create_indexes(CONVERSATION_INDEXES)
        await self.messages.create_indexes(MESSAGE_INDEXES)

    # --- reads ----------------------------------------------------------------------------------

    async def conversation(self, conversation_id: str) -> Conversation | None:
        doc = await self.conversations.find_one({"_id": _oid(conversation_id)})
        if doc is None:
            return None
        conversation = conversation_from_doc(doc)
        self._remember_participants(conversation.id, conversation.participants)
        return conversation

    async def participants(self, conversation_id: str) -> tuple[str, ...] | None:
        """Who is in a conversation (None: no such conversation). Participants never change, so
        the answer is remembered; a deleted conversation is caught by the write that follows."""
        known = self._participants.get(conversation_id)
        if known is not None:
            self._participants.move_to_end(conversation_id)
            return known
        doc = await self.conversations.find_one(
            {"_id": _oid(conversation_id)}, projection={"participants": 1}
        )
        if doc is None:
            return None
        participants = tuple(doc["participants"])
        self._remember_participants(conversation_id, participants)
        return participants

    def _remember_participants(self, conversation_id: str, participants: tuple[str, ...]) -> None:
        self._participants[conversation_id] = participants
        self._participants.move_to_end(conversation_id)
        while len(self._participants) > PARTICIPANTS_CACHE_SIZE:
            self._participants.popitem(last=False)

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

    async def history(self, conversation_id: str, page: MessagePage) -> list[Message]:
        """Oldest first, whichever end the page is taken from."""
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
    ) -> tuple[Conversation, Message]:
        """Store a message with the conversation's next seq. The seq comes from the conversation's
        `last_seq`, claimed inside the transaction: concurrent writers conflict on that document
        and are retried, so seqs are unique and gapless; an aborted send (a duplicate client id)
        rolls its claim back with everything else. `events` also gets the sender's read position
        before the send.

        The send joins the conversation's queue; whoever holds the conversation's lock commits
        everything queued (see the module docstring), so this returns once a transaction that
        held this send has committed."""
        send = _Send(
            message_id=_oid(message_id),
            sender_id=sender_id,
            text=text,
            client_message_id=client_message_id,
            now=now,
            attachments=attachments,
            events=events,
            result=asyncio.get_running_loop().create_future(),
        )
        queue = self._queued.setdefault(conversation_id, [])
        queue.append(send)
        try:
            async with self._locks.hold(conversation_id):
                while not send.result.done():
                    group = self._take_group(conversation_id)
                    if not group:
                        break  # ours is in a group an interrupted holder left committing
                    # Shielded: the group's other senders wait for it even if we are cancelled.
                    await asyncio.shield(
                        asyncio.ensure_future(self._commit_group(conversation_id, group))
                    )
        except BaseException:
            send.abandoned = True
            pending = self._queued.get(conversation_id)
            if pending is not None and send in pending:
                pending.remove(send)
            raise
        finally:
            if not self._queued.get(conversation_id):
                self._queued.pop(conversation_id, None)
        return await send.result

    def _take_group(self, conversation_id: str) -> list[_Send]:
        queue = self._queued.get(conversation_id) or []
        group = queue[:MAX_SEND_GROUP]
        del queue[:MAX_SEND_GROUP]
        return group

    async def _commit_group(self, conversation_id: str, group: list[_Send]) -> None:
        """Commit `group` in one transaction and settle every send in it (never raises)."""
        try:
            outcomes = await self._store_group(conversation_id, group)
        except (DuplicateKeyError, BulkWriteError) as exc:
            if not _reuses_client_id(exc):
                for send in group:
                    send.settle(exc)
            elif len(group) > 1:
                # One of them reuses a client id: store them one by one, only that one fails.
                for send in group:
                    await self._commit_group(conversation_id, [send])
            else:
                [send] = group
                send.settle(DuplicateClientMessage(send.client_message_id or ""))
        except Exception as exc:
            for send in group:
                send.settle(exc)
        else:
            for send, outcome in zip(group, outcomes, strict=True):
                send.settle(outcome)

    async def _store_group(
        self, conversation_id: str, group: Sequence[_Send]
    ) -> list[tuple[Conversation, Message]]:
        oid = _oid(conversation_id)
        participants = await self.participants(conversation_id)
        if participants is None:
            raise NotFound("Conversation not found")
        # Each sender's read position moves to their last message of the group (1-based index
        # past the current last_seq); everyone else's stays.
        last_of: dict[str, _Send] = {}
        offset: dict[str, int] = {}
        for index, send in enumerate(group, start=1):
            last_of[send.sender_id] = send
            offset[send.sender_id] = index
        positions = [
            {"$add": ["$last_seq", offset[p]]} if p in offset else {"$ifNull": [f"$reads.{p}", 0]}
            for p in participants
        ]
        newest = group[-1]
        # One update claims the group's seqs and moves the senders' read positions; every
        # expression reads the document as it was before, which is also what it returns.
        claim: Document = {
            "last_seq": {"$add": ["$last_seq", len(group)]},
            "last_message_id": {"$literal": newest.message_id},
            "updated_at": {"$literal": newest.now},
            "last_activity": {"$max": ["$last_activity", {"$literal": newest.message_id}]},
            # Deleted seqs everyone has now read past no longer matter to any unread count.
            "deleted_seqs": {
                "$filter": {
                    "input": {"$ifNull": ["$deleted_seqs", []]},
                    "as": "seq",
                    "cond": {"$gt": ["$$seq", {"$min": positions}]},
                }
            },
        }
        for sender, index in offset.items():
            claim[f"reads.{sender}"] = {"$add": ["$last_seq", index]}
            claim[f"read_at.{sender}"] = {"$literal": last_of[sender].now}

        async def work(
            session: AsyncClientSession,
        ) -> tuple[list[tuple[Conversation, Message]], Sequence[Event]]:
            before = await self.conversations.find_one_and_update(
                {"_id": oid},
                [{"$set": claim}],
                return_document=ReturnDocument.BEFORE,
                session=session,
            )
            if before is None:
                raise NotFound("Conversation not found")
            members = tuple(before["participants"])
            last_seq = int(before.get("last_seq", 0))
            reads = {k: int(v) for k, v in (before.get("reads") or {}).items()}
            read_at = dict(before.get("read_at") or {})
            deleted = [int(x) for x in before.get("deleted_seqs") or ()]
            docs: list[Document] = []
            outcomes: list[tuple[Conversation, Message]] = []
            events: list[Event] = []
            for index, send in enumerate(group, start=1):
                seq = last_seq + index
                read_before = reads.get(send.sender_id, 0)
                reads[send.sender_id] = seq
                read_at[send.sender_id] = send.now
                lowest = lowest_read_position(members, reads)
                deleted = [x for x in deleted if x > lowest]
                doc = _message_doc(oid, seq, send)
                docs.append(doc)
                after = Conversation(
                    id=conversation_id,
                    participants=members,
                    last_seq=seq,
                    created_at=before["created_at"],
                    updated_at=send.now,
                    last_message_id=str(send.message_id),
                    reads=dict(reads),
                    read_at=dict(read_at),
                    deleted_seqs=tuple(deleted),
                )
                message = message_from_doc(doc)
                outcomes.append((after, message))
                events.extend(send.events(after, message, read_before))
            await self.messages.insert_many(docs, ordered=True, session=session)
            return outcomes, events

        return await self._outbox.commit(work)

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

        return await self._outbox.commit(work)

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

        # Under the conversation's lock: a concurrent send of this process would otherwise
        # conflict with it on the conversation document.
        async with self._locks.hold(conversation_id):
            return await self._outbox.commit(work)

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
        self._participants.pop(conversation_id, None)
        return deleted
