"""The store's writes other than sends, each one transaction with its events (`Outbox.commit`):
creating and deleting conversations, editing and deleting messages, read marks. Part of
`ConversationStore` (adapters/store.py), whose state they share."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from pymongo import DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError
from workcity_common.database import Document, read_and_delete_by_id, update_by_id_and_read
from workcity_common.events import Event
from workcity_common.outbox import Outbox

from workcity_conversations.adapters.conversation_docs import (
    conversation_from_doc,
    message_from_doc,
    new_conversation_doc,
    oid,
)
from workcity_conversations.adapters.conversation_states import ConversationStates
from workcity_conversations.domain.errors import NotFound
from workcity_conversations.domain.model import Conversation, Message
from workcity_conversations.domain.reads import (
    deleted_seq_matters,
    lowest_read_position,
    next_read_position,
)
from workcity_conversations.service_layer.ports import ConversationExists


class ConversationWrites:
    conversations: AsyncCollection[Document]
    messages: AsyncCollection[Document]
    _outbox: Outbox
    _states: ConversationStates
    # One transaction of the store at a time (sends in groups, read marks).
    _write_lock: asyncio.Lock

    async def create_conversation(
        self,
        conversation: Conversation,
        key: str,
        events: Callable[[Conversation], Sequence[Event]],
    ) -> Conversation:
        doc = new_conversation_doc(conversation, key)

        async def work(session: AsyncClientSession) -> tuple[Conversation, Sequence[Event]]:
            await self.conversations.insert_one(doc, session=session)
            return conversation, events(conversation)

        try:
            return await self._outbox.commit(work)
        except DuplicateKeyError as exc:
            raise ConversationExists(key) from exc

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
            doc = await update_by_id_and_read(
                self.messages,
                {"_id": oid(message_id)},
                {"$set": {"text": text, "edited": True, "updated_at": now}},
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
            doc = await read_and_delete_by_id(
                self.messages, {"_id": oid(message_id)}, session=session
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
        self._states.forget(deleted.conversation_id)
        return deleted

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
        doc = await self.conversations.find_one({"_id": oid(conversation_id)})
        if doc is None:
            raise NotFound("Conversation not found")
        seen = conversation_from_doc(doc)
        current = seen.read_position(user_id)
        if next_read_position(current, requested_seq, seen.last_seq) == current:
            return current, seen.read_at.get(user_id)

        async def work(
            session: AsyncClientSession,
        ) -> tuple[tuple[int, datetime | None], Sequence[Event]]:
            doc = await self.conversations.find_one({"_id": oid(conversation_id)}, session=session)
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
                self._states.forget(conversation_id)

    async def delete_conversation(
        self, conversation_id: str, events: Callable[[Conversation], Sequence[Event]]
    ) -> Conversation:
        async def work(session: AsyncClientSession) -> tuple[Conversation, Sequence[Event]]:
            doc = await read_and_delete_by_id(
                self.conversations, {"_id": oid(conversation_id)}, session=session
            )
            if doc is None:
                raise NotFound("Conversation not found")
            await self.messages.delete_many({"conversation": doc["_id"]}, session=session)
            conversation = conversation_from_doc(doc)
            return conversation, events(conversation)

        deleted = await self._outbox.commit(work)
        self._states.forget(conversation_id)
        return deleted
