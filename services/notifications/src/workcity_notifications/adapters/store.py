"""This service's MongoDB: scheduled emails (`pending`), read positions, the sent log.

`pending` has one document per (conversation, recipient): the unread messages of that batch and
when its email is due. Events arrive in batches (see `domain/batch.py`) and are written with one
bulk request per collection; every change is idempotent (`$max`, upserts with `$addToSet`,
`$pull`; a message already emailed or dropped is below the pair's `done_seq` and not scheduled
again), so a redelivered event changes nothing and no event ids are stored; the scheduler claims a
due document with
`find_one_and_update` (a lease, `claimed_until`), so two replicas never send the same email, and a
replica that dies mid-send leaves it to another once the lease ends.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DeleteMany, ReturnDocument, UpdateMany, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.database import Document

from workcity_notifications.domain.batch import SchedulePlan, pair_key
from workcity_notifications.domain.rules import PendingMessage

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
IDX_DUE = "due_claimed"
IDX_CONVERSATION = "conversation"


# Writes per request: a big batch goes as several requests, in order, so the database server
# (one process for every service) takes the others' requests in between instead of stalling them.
BULK_CHUNK = 64


async def _bulk_in_chunks(collection: AsyncCollection[Document], ops: Sequence[Any]) -> None:
    for start in range(0, len(ops), BULK_CHUNK):
        await collection.bulk_write(list(ops[start : start + BULK_CHUNK]), ordered=True)


def _message_doc(m: PendingMessage) -> Document:
    # Milliseconds, as MongoDB keeps them: a redelivered message then equals the stored one
    # and `$addToSet` does not add it twice.
    created_at = m.created_at.replace(microsecond=m.created_at.microsecond // 1000 * 1000)
    return {
        "id": m.id,
        "seq": m.seq,
        "sender_email": m.sender_email,
        "text": m.text,
        "created_at": created_at,
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
        return int(doc.get("seq", 0)) if doc else 0

    async def last_sent_at(self, conversation_id: str, user_id: str) -> datetime | None:
        doc = await self.sent.find_one({"_id": pair_key(conversation_id, user_id)})
        return doc["sent_at"] if doc else None

    async def handled_seqs(self, keys: Iterable[str]) -> dict[str, int]:
        """For these pair keys, the seq up to which no message needs an email any more: read
        by the recipient, or already in an email that was sent or dropped (absent: none)."""
        docs = self.reads.find({"_id": {"$in": sorted(keys)}})
        return {
            doc["_id"]: max(int(doc.get("seq", 0)), int(doc.get("done_seq", 0)))
            async for doc in docs
        }

    async def last_sent_many(self, keys: Iterable[str]) -> dict[str, datetime]:
        docs = self.sent.find({"_id": {"$in": sorted(keys)}})
        return {doc["_id"]: doc["sent_at"] async for doc in docs}

    async def apply(self, plan: SchedulePlan) -> None:
        """Write a batch's plan: read positions, then the pending emails (pulls, adds, and the
        batches left empty), each one bulk request."""
        await _bulk_in_chunks(
            self.reads,
            [
                UpdateOne({"_id": key}, {"$max": {"seq": seq}}, upsert=True)
                for key, seq in plan.reads.items()
            ],
        )
        ops: list[UpdateOne | UpdateMany | DeleteMany] = [
            UpdateOne({"_id": key}, {"$pull": {"messages": {"seq": {"$lte": seq}}}})
            for key, seq in plan.reads.items()
        ]
        ops += [
            UpdateMany(
                {"conversation_id": conversation_id},
                {"$pull": {"messages": {"id": {"$in": sorted(ids)}}}},
            )
            for conversation_id, ids in plan.deleted.items()
        ]
        ops += [
            UpdateOne(
                {"_id": key},
                {
                    "$setOnInsert": {
                        "conversation_id": batch.conversation_id,
                        "recipient_id": batch.recipient_id,
                        "due_at": batch.due_at,
                        "claimed_until": EPOCH,
                        "claim": None,
                        "attempts": 0,
                    },
                    "$addToSet": {"messages": {"$each": [_message_doc(m) for m in batch.messages]}},
                },
                upsert=True,
            )
            for key, batch in plan.adds.items()
        ]
        if plan.reads:
            ops.append(DeleteMany({"_id": {"$in": sorted(plan.reads)}, "messages": {"$size": 0}}))
        if plan.deleted:
            ops.append(
                DeleteMany(
                    {"conversation_id": {"$in": sorted(plan.deleted)}, "messages": {"$size": 0}}
                )
            )
        # In order: a batch's adds are never covered by its own pulls (see domain/batch.py).
        await _bulk_in_chunks(self.pending, ops)

    # --- the scheduler ------------------------------------------------------------------------

    async def claim_due(
        self, now: datetime, lease: timedelta, *, due_by: datetime | None = None
    ) -> Claimed | None:
        """Take one batch due by `due_by` (default: now) that no live replica holds, for
        `lease`."""
        token = uuid.uuid4().hex
        doc = await self.pending.find_one_and_update(
            {"due_at": {"$lte": due_by or now}, "claimed_until": {"$lte": now}},
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
        was being sent stay, due at `next_due`. Their seqs are remembered as handled, so a
        redelivered event of one of them does not schedule it again."""
        ids = [m.id for m in claimed.messages]
        if claimed.messages:
            await self.reads.update_one(
                {"_id": claimed.key},
                {"$max": {"done_seq": max(m.seq for m in claimed.messages)}},
                upsert=True,
            )
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
