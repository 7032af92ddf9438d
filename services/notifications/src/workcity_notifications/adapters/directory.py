"""This service's copies of the user directory (email, disabled) and of presence.

Users come from `user.*` events and the one-off bootstrap from auth (version: the time of the
fact, newest wins; the shared `UserDirectorySync` feeds `apply`), and from message senders (version:
the epoch, so any real fact wins). Presence comes from realtime's `presence.changed` events; the
latest `occurred_at` wins, so duplicates and late events are harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError
from workcity_common.database import Document
from workcity_common.events import UserData, UserRef, utcnow
from workcity_common.versioned import create_version_index, upsert_if_newer

from workcity_notifications.domain.rules import Recipient

log = logging.getLogger(__name__)

SENDER_VERSION = datetime(1970, 1, 1, tzinfo=UTC)
DUPLICATE_KEY = 11000


class Directory:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.users = db["users"]
        self.presence = db["presence"]

    async def create_indexes(self) -> None:
        await create_version_index(self.users, "version", "id_version")
        await create_version_index(self.presence, "at", "id_at")

    async def apply(self, user: UserData, version: datetime, source: str) -> bool:
        """A `UserSink` for events and the bootstrap copy."""
        return await upsert_if_newer(
            self.users,
            user.id,
            "version",
            version,
            {
                "email": user.email,
                "disabled": user.disabled,
                "source": source,
                "synced_at": utcnow(),
            },
        )

    async def learn_senders(self, senders: Iterable[UserRef]) -> None:
        """Message senders not known yet (any event or copy overrides them)."""
        now = utcnow()
        ops = [
            UpdateOne(
                {"_id": sender.id},
                {
                    "$setOnInsert": {
                        "email": sender.email,
                        "disabled": False,
                        "version": SENDER_VERSION,
                        "source": "message",
                        "synced_at": now,
                    }
                },
                upsert=True,
            )
            for sender in senders
        ]
        if not ops:
            return
        try:
            await self.users.bulk_write(ops, ordered=False)
        except BulkWriteError as exc:
            # Inserted concurrently by the user events: known now, which is all this wanted.
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise

    async def recipient(self, user_id: str) -> Recipient | None:
        doc = await self.users.find_one({"_id": user_id})
        if doc is None:
            return None
        return Recipient(id=user_id, email=doc["email"], disabled=bool(doc.get("disabled")))

    async def apply_presence(self, user_id: str, online: bool, at: datetime) -> bool:
        # MongoDB keeps milliseconds: a connect and a disconnect within the same one compare
        # equal, and the later event (the queue is in publish order) must win.
        return await upsert_if_newer(
            self.presence, user_id, "at", at, {"online": online}, ties_win=True
        )

    async def presence_of(self, user_id: str) -> tuple[bool | None, datetime | None]:
        doc = await self.presence.find_one({"_id": user_id})
        if doc is None:
            return None, None
        return bool(doc.get("online")), doc.get("at")
