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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
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


class ConversationStore:
    def __init__(self, db: AsyncDatabase[Document], outbox: Outbox) -> None:
        self.conversations = db["conversations"]
        self.messages = db["messages"]
        self._outbox = outbox

    async def create_indexes(self) -> None:
        await self.conversations.create_indexes(CONVERSATION_INDEXES)
        await self.messages.create_indexes(MESSAGE_INDEXES)

    # --- reads ----------------------------------------------------------------------------------

    async def conversation(self, conversation_id: str) -> Conversation | None:
        doc = await self.conversations.find_one({"_id": _oid(conversation_id)})
        return conversation_from_doc(doc) if doc else None

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
        events: Callable[[Conversation, Message, int], Sequence[Event]],
        attachments: Sequence[Attachment] = (),
    ) -> tuple[Conversation, Message]:
        """Store a message with the conversation's next seq. The seq comes from `$inc` on the
        conversation inside the transaction: concurrent sends conflict on that document and are
        retried, so seqs are unique and gapless; an aborted send (a duplicate client id) rolls its
        `$inc` back with everything else. `events` also gets the sender's read position before
        the send."""
        mid = _oid(message_id)

        async def work(
            session: AsyncClientSession,
        ) -> tuple[tuple[Conversation, Message], Sequence[Event]]:
            claimed = await self.conversations.find_one_and_update(
                {"_id": _oid(conversation_id)},
                {
                    "$inc": {"last_seq": 1},
                    "$set": {"last_message_id": mid, "updated_at": now},
                    "$max": {"last_activity": mid},
                },
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            if claimed is None:
                raise NotFound("Conversation not found")
            seq = int(claimed["last_seq"])
            doc: Document = {
                "_id": mid,
                "conversation": claimed["_id"],
                "seq": seq,
                "sender": sender_id,
                "text": text,
                "attachments": [
                    {
                        "_id": _oid(a.id),
                        "filename": a.filename,
                        "content_type": a.content_type,
                        "size": a.size,
                    }
                    for a in attachments
                ],
                "edited": False,
                "created_at": now,
                "updated_at": now,
            }
            if client_message_id is not None:
                doc["client_message_id"] = client_message_id
            await self.messages.insert_one(doc, session=session)
            # Sending moves the sender's own read position to their message.
            read_before = int((claimed.get("reads") or {}).get(sender_id, 0))
            reads = {**(claimed.get("reads") or {}), sender_id: seq}
            after = await self.conversations.find_one_and_update(
                {"_id": claimed["_id"]},
                {
                    "$set": {f"reads.{sender_id}": seq, f"read_at.{sender_id}": now},
                    "$pull": {
                        "deleted_seqs": {
                            "$lte": lowest_read_position(claimed["participants"], reads)
                        }
                    },
                },
                return_document=ReturnDocument.AFTER,
                session=session,
            )
            conversation = conversation_from_doc(after)
            message = message_from_doc(doc)
            return (conversation, message), events(conversation, message, read_before)

        try:
            return await self._outbox.commit(work)
        except DuplicateKeyError as exc:
            if client_message_id is not None and IDX_IDEMPOTENCY in str(exc):
                raise DuplicateClientMessage(client_message_id) from exc
            raise

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

        return await self._outbox.commit(work)
