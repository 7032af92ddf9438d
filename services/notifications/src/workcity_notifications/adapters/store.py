"""This service's MongoDB: the pending emails' wake-ups (`wakeups`) and the sent log.

`wakeups` has one document per (conversation, recipient) that ever had an email pending:
`due_at` (when to ask the conversations service what the recipient has not read; `IDLE` when
nothing is pending), `seen_seq` (the highest message that asked for a wake-up), `done_seq` (every
message up to it was emailed, dropped or read when last asked). No message is stored: a message
costs a write only when no wake-up pending for its pair finds it (domain/batch.py), so a busy
conversation costs one write per pending email, not one per message.

The scheduler claims a due document by key with a conditional update (a lease, `claimed_until`), so two
replicas never handle the same email, and a replica that dies mid-send leaves it to another once
the lease ends. An email is written into its wake-up (`outgoing`) before it is handed to SMTP and
removed once it is recorded sent: whoever claims the wake-up next sends that same email again,
with the same `Message-ID`, instead of composing another.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.database import Document

from workcity_notifications.domain.batch import Wake
from workcity_notifications.domain.email import Email
from workcity_notifications.domain.model import Claimed, Outgoing

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# "Nothing pending": later than any real due time, so `$min` replaces it and the due index's
# range never reaches it.
IDLE = datetime(3000, 1, 1, tzinfo=UTC)
IDX_DUE = "due_claimed"


def _outgoing_doc(outgoing: Outgoing) -> dict[str, Any]:
    e = outgoing.email
    return {
        "to": e.to,
        "subject": e.subject,
        "text": e.text,
        "html": e.html,
        "message_id": e.message_id,
        "covered_seq": outgoing.covered_seq,
    }


def _outgoing_from(doc: Mapping[str, Any]) -> Outgoing:
    email = Email(doc["to"], doc["subject"], doc["text"], doc["html"], doc["message_id"])
    return Outgoing(email, int(doc["covered_seq"]))


def _released(due_at: datetime, attempts: int = 0) -> dict[str, Any]:
    return {"due_at": due_at, "claimed_until": EPOCH, "claim": None, "attempts": attempts}


class NotificationStore:
    def __init__(self, db: AsyncDatabase[Document], *, sent_log_ttl: timedelta) -> None:
        self.wakeups = db["wakeups"]
        self.sent = db["sent"]
        # Before the wake-ups: one document per pending email with its messages (see migrate).
        self.legacy_pending = db["pending"]
        self._sent_log_ttl = sent_log_ttl

    async def create_indexes(self) -> None:
        await self.wakeups.create_index(
            [("due_at", ASCENDING), ("claimed_until", ASCENDING)], name=IDX_DUE
        )
        # The sent log only matters for the window; older entries go by themselves.
        await self.sent.create_index(
            [("sent_at", ASCENDING)], expireAfterSeconds=int(self._sent_log_ttl.total_seconds())
        )

    async def migrate(self) -> int:
        """Turn the previous version's pending emails into wake-ups (once; idempotent), so an
        email pending across the upgrade is still sent, with its messages and not older ones."""
        moved = 0
        async for doc in self.legacy_pending.find({}):
            seqs = [int(m["seq"]) for m in doc.get("messages") or []]
            if seqs:
                wake = Wake(
                    doc["conversation_id"], doc["recipient_id"], doc["due_at"], min(seqs), max(seqs)
                )
                await self.wakeups.bulk_write([_wake_op(doc["_id"], wake)])
                moved += 1
            await self.legacy_pending.delete_one({"_id": doc["_id"]})
        return moved

    # --- from events --------------------------------------------------------------------------

    async def schedule(self, wakes: Mapping[str, Wake]) -> dict[str, datetime]:
        """Ask for these wake-ups (the earliest due time wins; a document's first wake-up starts
        after the messages before its first); returns each pair's due time now stored."""
        if not wakes:
            return {}
        keys = sorted(wakes)
        await self.wakeups.bulk_write([_wake_op(k, wakes[k]) for k in keys], ordered=False)
        docs = self.wakeups.find({"_id": {"$in": keys}}, {"due_at": 1})
        return {doc["_id"]: doc["due_at"] async for doc in docs}

    # --- the scheduler ------------------------------------------------------------------------

    async def due_keys(self, now: datetime, due_by: datetime, limit: int) -> list[str]:
        """Up to `limit` wake-ups due by `due_by` that no live claim holds, earliest first (to
        be claimed one by one with `claim`)."""
        docs = (
            self.wakeups.find(
                {"due_at": {"$lte": due_by}, "claimed_until": {"$lte": now}}, {"_id": 1}
            )
            .sort("due_at", ASCENDING)
            .limit(limit)
        )
        return [doc["_id"] async for doc in docs]

    async def claim(
        self, key: str, now: datetime, lease: timedelta, *, due_by: datetime
    ) -> Claimed | None:
        """Take this wake-up for `lease` if it is still due by `due_by` and no live claim holds
        it (another replica may have taken it since `due_keys`).

        A conditional update by `_id`, then a read by `_id`: SecantusDB reads every due document
        for a search of the due range (claimed ones included: with 200 due, 12 ms of its CPU per
        claim, a burst of n due wake-ups n squared), and its `findAndModify` scans even by `_id`
        (6 ms against 1.2 for these two requests; bench/dbcost.py). Between the two a message may
        move `seen_seq` or `due_at` on: the claim then covers that message too."""
        token = uuid.uuid4().hex
        taken = await self.wakeups.update_one(
            {"_id": key, "due_at": {"$lte": due_by}, "claimed_until": {"$lte": now}},
            {"$set": {"claimed_until": now + lease, "claim": token}},
        )
        if taken.modified_count != 1:
            return None
        doc = await self.wakeups.find_one({"_id": key})
        if doc is None:
            return None
        done_seq = int(doc.get("done_seq", 0))
        return Claimed(
            key=doc["_id"],
            conversation_id=doc["conversation_id"],
            recipient_id=doc["recipient_id"],
            due_at=doc["due_at"],
            done_seq=done_seq,
            attempts=int(doc.get("attempts", 0)),
            token=token,
            outgoing=_outgoing_from(doc["outgoing"]) if doc.get("outgoing") else None,
            seen_seq=int(doc.get("seen_seq", done_seq)),
        )

    async def last_sent_at(self, key: str) -> datetime | None:
        doc = await self.sent.find_one({"_id": key})
        return doc["sent_at"] if doc else None

    async def intend(self, claimed: Claimed, outgoing: Outgoing) -> bool:
        """Record the email before SMTP sees it; False if the claim was lost meanwhile (its lease
        ran out and another replica holds it now): then it is not sent here."""
        result = await self.wakeups.update_one(
            {"_id": claimed.key, "claim": claimed.token},
            {"$set": {"outgoing": _outgoing_doc(outgoing)}},
        )
        return result.matched_count == 1

    async def record_sent(self, claimed: Claimed, at: datetime) -> None:
        await self.sent.update_one({"_id": claimed.key}, {"$set": {"sent_at": at}}, upsert=True)

    async def finish(self, claimed: Claimed, covered_seq: int, next_due: datetime) -> None:
        """Every message up to `covered_seq` is handled (sent, dropped or read). Idle, unless a
        message after it asked for a wake-up meanwhile: then due at `next_due`. The email it sent,
        if any, is no longer kept."""
        done = {"$max": {"done_seq": covered_seq}, "$unset": {"outgoing": ""}}
        idle = await self.wakeups.update_one(
            {"_id": claimed.key, "claim": claimed.token, "seen_seq": {"$lte": covered_seq}},
            {"$set": _released(IDLE), **done},
        )
        if idle.matched_count == 0:
            await self.wakeups.update_one(
                {"_id": claimed.key, "claim": claimed.token},
                {"$set": _released(next_due), **done},
            )

    async def postpone(self, claimed: Claimed, retry_at: datetime, attempts: int) -> None:
        await self.wakeups.update_one(
            {"_id": claimed.key, "claim": claimed.token}, {"$set": _released(retry_at, attempts)}
        )


def _wake_op(key: str, wake: Wake) -> UpdateOne:
    return UpdateOne(
        {"_id": key},
        {
            "$min": {"due_at": wake.due_at},
            "$max": {"seen_seq": wake.last_seq},
            "$setOnInsert": {
                "conversation_id": wake.conversation_id,
                "recipient_id": wake.recipient_id,
                "done_seq": wake.first_seq - 1,
                "claimed_until": EPOCH,
                "claim": None,
                "attempts": 0,
            },
        },
        upsert=True,
    )
