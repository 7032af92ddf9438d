"""Wrong passwords in a row per email, shared by every auth replica (MongoDB).

The key is a hash of the normalized email, whether or not an account has it: an unknown email
is throttled exactly like a known one, so the throttle never tells which accounts exist, and no
address typed by a stranger is stored in clear."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.database import Document, update_by_id_and_read
from workcity_common.events import utcnow

from workcity_auth.domain.model import FailureCount


def _key(email: str) -> str:
    return hashlib.sha256(email.encode("utf-8")).hexdigest()


class LoginFailures:
    def __init__(self, db: AsyncDatabase[Document], forget_after_s: float) -> None:
        self._failures = db["login_failures"]
        self._forget_after = timedelta(seconds=forget_after_s)

    async def create_indexes(self) -> None:
        # A count not added to for `forget_after` is removed by MongoDB's TTL monitor (and
        # ignored before that by `get`).
        await self._failures.create_index("expires_at", expireAfterSeconds=0)

    async def get(self, email: str) -> FailureCount | None:
        """The wrong passwords in a row for this email, if any are remembered."""
        doc = await self._failures.find_one({"_id": _key(email)})
        if doc is None or doc["expires_at"] <= utcnow():
            return None
        return FailureCount(int(doc["failures"]), doc["blocked_until"])

    async def record_failure(self, email: str) -> int:
        """One more wrong password; returns the failures in a row so far."""
        now = utcnow()
        doc = await update_by_id_and_read(
            self._failures,
            {"_id": _key(email), "expires_at": {"$gt": now}},
            {"$inc": {"failures": 1}, "$set": {"expires_at": now + self._forget_after}},
        )
        if doc is not None:
            return int(doc["failures"])
        # None yet, or only an expired count the TTL monitor has not removed: start again.
        await self._failures.replace_one(
            {"_id": _key(email)},
            {"failures": 1, "blocked_until": now, "expires_at": now + self._forget_after},
            upsert=True,
        )
        return 1

    async def block(self, email: str, until: datetime) -> None:
        await self._failures.update_one(
            {"_id": _key(email)},
            {"$set": {"blocked_until": until, "expires_at": until + self._forget_after}},
        )

    async def clear(self, email: str) -> None:
        await self._failures.delete_one({"_id": _key(email)})
