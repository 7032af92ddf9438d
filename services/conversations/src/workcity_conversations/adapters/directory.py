"""This service's own copy of the user directory, so populating participants and senders never
calls the auth service.

Fed from three sources, reconciled by a version (the time of the fact it records), newest wins:
- `user.*` events (version: the event's `occurred_at`);
- the one-off bootstrap sync from the auth service (version: the user's `updatedAt` there);
- a verified access token of a user not yet known (version: the epoch, so any real fact wins).
  It closes the gap between a signup and its event: a new user may act at once;
- a look-up in the auth service (`lookup`, its internal `GET /internal/users/:id`) when a user
  is asked for and not known (version: the user's `updatedAt`): a recipient created a moment
  ago, whose `user.registered` event has not arrived yet, can be messaged at once.

Every request needs its caller, and every message its participants: entries read here are kept
in memory for `CACHE_SECONDS`. A fact applied by this process replaces its entry at once; one
applied by another replica (they share the users queue) is seen here within `CACHE_SECONDS`.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from workcity_common.database import Document
from workcity_common.events import UserData, utcnow
from workcity_common.tokens import TokenClaims
from workcity_common.user_directory import MongoProcessedEvents, UserLookup
from workcity_common.versioned import create_version_index, upsert_if_newer

from workcity_conversations.domain.model import Person

log = logging.getLogger(__name__)

__all__ = ["MongoProcessedEvents", "UserDirectory", "person_from_doc"]

# The version of an entry made from token claims: older than any event or sync record.
TOKEN_VERSION = datetime(1970, 1, 1, tzinfo=UTC)
IDX_VERSION = "id_version"
# How long a directory entry read from the database is used without reading it again.
CACHE_SECONDS = 10.0
CACHE_SIZE = 100_000


def person_from_doc(doc: Document) -> Person:
    return Person(
        id=doc["_id"],
        email=doc["email"],
        role=doc["role"],
        name=doc.get("name"),
        disabled=bool(doc.get("disabled", False)),
    )


class UserDirectory:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        cache_seconds: float = CACHE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        lookup: UserLookup | None = None,
    ) -> None:
        self.users = db["users"]
        self._lookup = lookup
        self._cache_seconds = cache_seconds
        self._monotonic = monotonic
        # user id -> (entry, when it was read), least recently read first
        self._cache: OrderedDict[str, tuple[Person, float]] = OrderedDict()
        # Bumped by every write here: a read that overlapped one is not kept.
        self._generation = 0

    async def create_indexes(self) -> None:
        await create_version_index(self.users, "version", IDX_VERSION)

    async def get(self, user_id: str) -> Person | None:
        found = (await self.get_many([user_id])).get(user_id)
        if found is None and self._lookup is not None:
            found = await self._look_up(user_id)
        return found

    async def _look_up(self, user_id: str) -> Person | None:
        assert self._lookup is not None
        try:
            fetched = await self._lookup.one(user_id)
        except Exception as exc:  # auth unreachable: the user stays unknown for now
            log.warning("user look-up failed", extra={"user_id": user_id, "error": repr(exc)})
            return None
        if fetched is None:
            return None
        user, version = fetched
        await self.apply(user, version, source="auth.lookup")
        return (await self.get_many([user_id])).get(user_id)

    async def get_many(self, user_ids: Iterable[str]) -> dict[str, Person]:
        found: dict[str, Person] = {}
        missing: list[str] = []
        now = self._monotonic()
        for user_id in set(user_ids):
            cached = self._cache.get(user_id)
            if cached is not None and now - cached[1] < self._cache_seconds:
                found[user_id] = cached[0]
            else:
                missing.append(user_id)
        if missing:
            generation = self._generation
            read = {
                d["_id"]: person_from_doc(d)
                async for d in self.users.find({"_id": {"$in": sorted(missing)}})
            }
            found.update(read)
            if generation == self._generation:
                for person in read.values():
                    self._remember(person, now)
        return found

    def _remember(self, person: Person, now: float) -> None:
        self._cache[person.id] = (person, now)
        self._cache.move_to_end(person.id)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)

    def _forget(self, user_id: str) -> None:
        self._generation += 1
        self._cache.pop(user_id, None)

    async def apply(self, user: UserData, version: datetime, source: str) -> bool:
        """Record `user` as of `version` unless a newer record is stored; True if it was applied.
        Idempotent: the same fact applied twice changes nothing the second time."""
        fields = {
            "email": user.email,
            "role": user.role,
            "name": user.name,
            "disabled": user.disabled,
            "source": source,
            "synced_at": utcnow(),
        }
        # Forgotten before and after the write: a read overlapping it is never kept.
        self._forget(user.id)
        try:
            applied = await upsert_if_newer(self.users, user.id, "version", version, fields)
        finally:
            self._forget(user.id)
        if not applied and source != "reconcile":  # stale: the usual outcome of a reconcile
            log.info(
                "stale user fact ignored",
                extra={"user_id": user.id, "source": source, "version": version.isoformat()},
            )
        return applied

    async def ensure_from_claims(self, claims: TokenClaims) -> Person:
        """The caller as the directory knows them; added from the token if not known yet."""
        known = await self.get(claims.user_id)
        if known is not None:
            return known
        try:
            await self.users.update_one(
                {"_id": claims.user_id},
                {
                    "$setOnInsert": {
                        "email": claims.email,
                        "role": claims.role,
                        "name": None,
                        "disabled": False,
                        "version": TOKEN_VERSION,
                        "source": "token",
                        "synced_at": utcnow(),
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:
            pass  # a concurrent request or event inserted them first
        self._forget(claims.user_id)
        stored = await self.get(claims.user_id)
        if stored is None:  # pragma: no cover - only if someone deletes it in between
            raise RuntimeError(f"user {claims.user_id} vanished from the directory")
        return stored
