"""Conversations and messages in MongoDB.

Every write that others must hear about is one transaction that also stores its events in the
outbox (`Outbox.commit`); the relay publishes them after the commit. The events are built by a
callback from what the transaction actually wrote (the assigned `seq`, the read positions), so an
event never describes a write that did not happen.

The store is put together from: the documents, their indexes and mappers
(adapters/conversation_docs.py); what this process knows of each conversation
(adapters/conversation_states.py); sends, committed in groups (adapters/send_queue.py) with one
seq claim per conversation (adapters/send_claim.py); the other writes
(adapters/conversation_writes.py); and the reads, here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from datetime import datetime

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.database import Document
from workcity_common.outbox import Outbox

from workcity_conversations.adapters.conversation_docs import (
    CONVERSATION_INDEXES,
    MESSAGE_INDEXES,
    conversation_from_doc,
    message_from_doc,
    oid,
)
from workcity_conversations.adapters.conversation_states import ConversationStates
from workcity_conversations.adapters.conversation_writes import ConversationWrites
from workcity_conversations.adapters.send_claim import QueuedSend
from workcity_conversations.adapters.send_queue import SendQueue
from workcity_conversations.domain.model import Attachment, Conversation, Message
from workcity_conversations.domain.paging import ConversationPage, MessagePage, page_span
from workcity_conversations.service_layer.ports import SendEvents


class ConversationStore(ConversationWrites):
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
        self._states = ConversationStates(self.conversations)
        self._sends = SendQueue(
            self.messages,
            outbox,
            self._states,
            self._write_lock,
            max_queued_sends=max_queued_sends,
            commit_timeout_s=commit_timeout_s,
            set_aside_max_s=set_aside_max_s,
        )

    async def create_indexes(self) -> None:
        await self.conversations.create_indexes(CONVERSATION_INDEXES)
        await self.messages.create_indexes(MESSAGE_INDEXES)

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

        Sends are committed in groups (adapters/send_queue.py): this returns once a transaction
        that held this send has committed. Raises `Busy` when `max_queued_sends` are waiting
        already, `DuplicateClientMessage` when a concurrent send stored its client id first."""
        send = QueuedSend(
            conversation_id=conversation_id,
            message_id=oid(message_id),
            sender_id=sender_id,
            text=text,
            client_message_id=client_message_id,
            now=now,
            attachments=attachments,
            events=events,
            result=asyncio.get_running_loop().create_future(),
            from_customer=from_customer,
        )
        return await self._sends.submit(send)

    # --- reads ----------------------------------------------------------------------------------

    async def conversation(self, conversation_id: str) -> Conversation | None:
        doc = await self.conversations.find_one({"_id": oid(conversation_id)})
        return conversation_from_doc(doc) if doc else None

    async def participants(
        self, conversation_id: str, *, fresh: bool = False
    ) -> tuple[str, ...] | None:
        """Who is in a conversation (None: no such conversation). Participants only ever grow (the
        desk adds an assignee), so the remembered state answers unless `fresh`; a deleted
        conversation is caught by the write that follows."""
        if fresh:
            self._states.forget(conversation_id)
        known = self._states.get(conversation_id)
        if known is None:
            await self._states.load([conversation_id])
            known = self._states.get(conversation_id)
        return known.participants if known is not None else None

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
            query["last_activity"] = {"$lt": oid(page.before)}
        cursor = self.conversations.find(query).sort("last_activity", DESCENDING).limit(page.limit)
        docs = await cursor.to_list(length=page.limit)
        next_cursor = str(docs[-1]["last_activity"]) if len(docs) == page.limit else None
        return [conversation_from_doc(d) for d in docs], next_cursor

    async def message(self, message_id: str) -> Message | None:
        doc = await self.messages.find_one({"_id": oid(message_id)})
        return message_from_doc(doc) if doc else None

    async def messages_by_id(self, message_ids: Iterable[str]) -> dict[str, Message]:
        ids = sorted({oid(m) for m in message_ids})
        if not ids:
            return {}
        found = self.messages.find({"_id": {"$in": ids}})
        return {str(d["_id"]): message_from_doc(d) async for d in found}

    async def messages_of_others(
        self, conversation_id: str, user_id: str, after_seq: int, limit: int
    ) -> list[Message]:
        # A bounded range of the (conversation, seq) index.
        where = {"conversation": oid(conversation_id), "seq": {"$gt": after_seq}}
        docs = self.messages.find({**where, "sender": {"$ne": user_id}}).sort("seq", ASCENDING)
        return [message_from_doc(d) for d in await docs.to_list(length=limit)]

    async def message_by_client_id(
        self, conversation_id: str, sender_id: str, client_message_id: str
    ) -> Message | None:
        doc = await self.messages.find_one(
            {
                "conversation": oid(conversation_id),
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
        gapless until messages are deleted): one bounded range is read, never more than the page
        (docs/decisions/0001). A range with deleted messages in it comes back short; then the
        general query finds the page."""
        if last_seq is not None:
            span = page_span(page, last_seq)
            if span is None:
                return []
            low, high = span
            docs = await (
                self.messages.find(
                    {"conversation": oid(conversation_id), "seq": {"$gte": low, "$lte": high}}
                )
                .sort("seq", ASCENDING)
                .to_list(length=high - low + 1)
            )
            if len(docs) == high - low + 1:
                return [message_from_doc(d) for d in docs]
        query: Document = {"conversation": oid(conversation_id)}
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

    async def attachments_in_use(self, conversation_id: str, attachment_ids: set[str]) -> set[str]:
        """Those of the ids that a message of the conversation still carries. Reads the
        conversation's attachment ids by the history index and filters here (only when a message
        with files is deleted): a filter on `attachments._id` would need an index every send
        pays for (docs/decisions/0001)."""
        cursor = self.messages.find(
            {"conversation": oid(conversation_id)}, {"_id": 0, "attachments._id": 1}
        )
        carried = {str(a["_id"]) async for m in cursor for a in m.get("attachments") or ()}
        return carried & attachment_ids
