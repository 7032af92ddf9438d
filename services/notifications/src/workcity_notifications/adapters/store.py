"""This service's MongoDB: scheduled emails (`pending`), read positions, the sent log.

`pending` has one document per (conversation, recipient): the unread messages of that batch and
when its email is due. Every change is a single-document update (upserts, `$push`, `$pull`), so
concurrent events and replicas never lose a message; the scheduler claims a due document with
`find_one_and_update` (a lease, `claimed_until`), so two replicas never send the same email, and a
replica that dies mid-send leaves it to another once the lease ends.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from workcity_common.database import Document

from workcity_notifications.domain.rules import PendingMessage

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
IDX_DUE = "due_claimed"
IDX_CONVERSATION = "conversation"


def pair_key(conversation_id: str, user_id: str) -> str:
    return f"{conversation_id}:{user_id}"


def _message_doc(m: PendingMessage) -> Document:
    return {
        "id": m.id,
        "seq": m.seq,
        "sender_email": m.sender_email,
        "text": m.text,
        "created_at": m.created_at,
    }


def _message(doc: Document) -> PendingMessage:
    return PendingMessage(
        id=doc["id"],
        seq=int(doc["seq"]),
        sender_email=doc["sender_email"],
        text=doc["text"],
        created_at=doc["created_at"],
    )


@dataclass(frozen=True, slots=True)
class Claimed:
    key: str
    conversation_id: str
    recipient_id: str
    messages: list[PendingMessage]
    due_at: datetime
    attempts: int
    token: str


class NotificationStore:
    def __init__(self, db: AsyncDatabase[Document], *, sent_log_ttl: timedelta) -> None:
        self.pending = db["pending"]
        self.reads = db["read_positions"]
        self.sent = db["sent"]
        self._sent_log_ttl = sent_log_ttl

    async def create_indexes(self) -> None:
        await self.pending.create_index(
            [("due_at", ASCENDING), ("claimed_until", ASCENDING)], name=IDX_DUE
        )
        await self.pending.create_index([("conversation_id", ASCENDING)], name=IDX_CONVERSATION)
        # The sent log only matters for the window; older entries go by themselves.
        await self.sent.create_index(
            [("sent_at", ASCENDING)], expireAfterSeconds=int(self._sent_log_ttl.total_seconds())
        )

    # --- facts from events --------------------------------------------------------------------

    async def read_seq(self, conversation_id: str, user_id: str) -> int:
        doc = await self.reads.find_one({"_id": pair_key(conversation_id, user_id)})
        return int(doc["seq"]) if doc else 0

    async def last_sent_at(self, conversation_id: str, user_id: str) -> datetime | None:
        doc = await self.sent.find_one({"_id": pair_key(conversation_id, user_id)})
        return doc["sent_at"] if doc else None

    async def add_message(
        self, conversation_id: str, recipient_id: str, message: PendingMessage, due: datetime
    ) -> bool:
        """Put `message` into the recipient's batch for the conversation (a new batch is due at
        `due`; an existing one keeps its time). False if it was there already."""
        key = pair_key(conversation_id, recipient_id)
        try:
            result = await self.pending.update_one(
                {"_id": key, "messages.id": {"$ne": message.id}},
                {
                    "$setOnInsert": {
                        "conversation_id": conversation_id,
                        "recipient_id": recipient_id,
                        "due_at": due,
                        "claimed_until": EPOCH,
                        "claim": None,
                        "attempts": 0,
                    },
                    "$push": {"messages": _message_doc(message)},
                },
                upsert=True,
            )
        except DuplicateKeyError:
            return False  # the batch exists and already holds this message (a replay)
        return result.modified_count > 0 or result.upserted_id is not None

    async def apply_read(self, conversation_id: str, user_id: str, seq: int) -> None:
        key = pair_key(conversation_id, user_id)
        # Kept apart from the batch: a read that overtakes its message's event still counts.
        await self.reads.update_one({"_id": key}, {"$max": {"seq": seq}}, upsert=True)
        await self.pending.update_one({"_id": key}, {"$pull": {"messages": {"seq": {"$lte": seq}}}})
        await self.pending.delete_one({"_id": key, "messages": {"$size": 0}})

    async def apply_delete(self, conversation_id: str, message_id: str) -> None:
        await self.pending.update_many(
            {"conversation_id": conversation_id}, {"$pull": {"messages": {"id": message_id}}}
        )
        await self.pending.delete_many(
            {"conversation_id": conversation_id, "messages": {"$size": 0}}
        )

    async def pending_for(self, conversation_id: str, recipient_id: str) -> Document | None:
        return await self.pending.find_one({"_id": pair_key(conversation_id, recipient_id)})

    # --- the scheduler ------------------------------------------------------------------------

    async def claim_due(self, now: datetime, lease: timedelta) -> Claimed | None:
        """Take one due batch that no live replica holds, for `lease`."""
        token = uuid.uuid4().hex
        doc = await self.pending.find_one_and_update(
            {"due_at": {"$lte": now}, "claimed_until": {"$lte": now}},
            {"$set": {"claimed_until": now + lease, "claim": token}},
            sort=[("due_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        if doc is None:
            return None
        return Claimed(
            key=doc["_id"],
            conversation_id=doc["conversation_id"],
            recipient_id=doc["recipient_id"],
            messages=[_message(m) for m in doc.get("messages", [])],
            due_at=doc["due_at"],
            attempts=int(doc.get("attempts", 0)),
            token=token,
        )

    async def record_sent(self, claimed: Claimed, at: datetime) -> None:
        await self.sent.update_one({"_id": claimed.key}, {"$set": {"sent_at": at}}, upsert=True)

    async def finish(self, claimed: Claimed, next_due: datetime) -> None:
        """Remove the messages this batch covered (sent or dropped). Messages that joined while it
        was being sent stay, due at `next_due`."""
        ids = [m.id for m in claimed.messages]
        release: dict[str, Any] = {
            "due_at": next_due,
            "claimed_until": EPOCH,
            "claim": None,
            "attempts": 0,
        }
        await self.pending.update_one(
            {"_id": claimed.key, "claim": claimed.token},
            {"$pull": {"messages": {"id": {"$in": ids}}}, "$set": release},
        )
        await self.pending.delete_one({"_id": claimed.key, "messages": {"$size": 0}})

    async def postpone(self, claimed: Claimed, retry_at: datetime, attempts: int) -> None:
        await self.pending.update_one(
            {"_id": claimed.key, "claim": claimed.token},
            {
                "$set": {
                    "due_at": retry_at,
                    "claimed_until": EPOCH,
                    "claim": None,
                    "attempts": attempts,
                }
            },
        )
