"""Refresh tokens: random, stored only as a SHA-256 hash, rotated on every use.

Each login starts a family; a refresh spends the presented token and issues the next one of
the same family. A family ends `family_ttl` after its login however often it is refreshed (no
token of it expires later), so a stolen refresh token is not good forever. Presenting an already spent token means it was copied: the whole family (that
login) is revoked, the thief's copy and the owner's alike.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from datetime import datetime, timedelta

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.database import Document, update_by_id_and_read
from workcity_common.events import Event, SessionData, UserLoggedOut, utcnow
from workcity_common.outbox import Outbox

from workcity_auth.domain.model import IssuedRefreshToken, RefreshFamily
from workcity_auth.service_layer.ports import RefreshRejected

PRODUCER = "auth"

log = logging.getLogger(__name__)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class RefreshTokenRepository:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        ttl_s: int,
        family_ttl_s: int,
        outbox: Outbox | None = None,
    ) -> None:
        # With an outbox, a revoked family is announced (`user.logged_out`) in the same
        # transaction: realtime drops the sockets opened with that login's access tokens.
        self._outbox = outbox
        self._tokens = db["refresh_tokens"]
        self._ttl = timedelta(seconds=ttl_s)
        self._family_ttl = timedelta(seconds=family_ttl_s)

    async def create_indexes(self) -> None:
        await self._tokens.create_index("family_id")
        await self._tokens.create_index("user_id")
        # MongoDB's TTL monitor removes expired tokens.
        await self._tokens.create_index("expires_at", expireAfterSeconds=0)

    async def issue(
        self, user_id: str, family_id: str | None = None, family_ends_at: datetime | None = None
    ) -> IssuedRefreshToken:
        """A token of a new family (a login), or the next of `family_id` (a refresh)."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        family = family_id or uuid.uuid4().hex
        ends_at = family_ends_at or now + self._family_ttl
        await self._tokens.insert_one(
            {
                "_id": _digest(token),
                "family_id": family,
                "user_id": user_id,
                "created_at": now,
                "family_ends_at": ends_at,
                "expires_at": min(now + self._ttl, ends_at),
                "used_at": None,
                "revoked": False,
            }
        )
        return IssuedRefreshToken(token=token, family_id=family, user_id=user_id)

    async def rotate(self, token: str) -> IssuedRefreshToken:
        now = utcnow()
        # Only one refresh can spend it (the update's condition); the fields read after it
        # (user, family, its end) never change.
        spent = await update_by_id_and_read(
            self._tokens,
            {"_id": _digest(token), "used_at": None, "revoked": False, "expires_at": {"$gt": now}},
            {"$set": {"used_at": now}},
        )
        if spent is None:
            known = await self._tokens.find_one({"_id": _digest(token)})
            if known is not None and known.get("used_at") is not None and not known["revoked"]:
                log.warning(
                    "refresh token reused: revoking its login",
                    extra={"user_id": known["user_id"], "family_id": known["family_id"]},
                )
                await self.revoke_family(known["family_id"], known["user_id"])
            raise RefreshRejected
        # Tokens stored before families had an end: theirs is counted from this refresh.
        return await self.issue(spent["user_id"], spent["family_id"], spent.get("family_ends_at"))

    async def family_of(self, token: str) -> RefreshFamily | None:
        doc = await self._tokens.find_one({"_id": _digest(token)})
        return RefreshFamily(doc["family_id"], doc["user_id"]) if doc else None

    async def revoke_family(self, family_id: str, user_id: str) -> None:
        if self._outbox is None:
            await self._tokens.update_many({"family_id": family_id}, {"$set": {"revoked": True}})
            return

        async def work(session: AsyncClientSession) -> tuple[None, list[Event]]:
            await self._tokens.update_many(
                {"family_id": family_id}, {"$set": {"revoked": True}}, session=session
            )
            ended = SessionData(user_id=user_id, session_id=family_id)
            return None, [UserLoggedOut(producer=PRODUCER, data=ended)]

        await self._outbox.commit(work)

    async def revoke_user(self, user_id: str) -> None:
        await self._tokens.update_many({"user_id": user_id}, {"$set": {"revoked": True}})
