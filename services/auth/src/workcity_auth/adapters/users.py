"""Users in MongoDB. Every write that others must hear about stores its event in the outbox in
the same transaction (`Outbox.commit`)."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ASCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from workcity_common.database import Document
from workcity_common.events import (
    Event,
    Role,
    UserDisabled,
    UserRegistered,
    UserUpdated,
    utcnow,
)
from workcity_common.outbox import Outbox

from workcity_auth.domain.model import User
from workcity_auth.service_layer.ports import EmailTaken

PRODUCER = "auth"


def user_from_doc(doc: Document) -> User:
    return User(
        id=str(doc["_id"]),
        email=doc["email"],
        role=doc["role"],
        name=doc.get("name"),
        disabled=bool(doc.get("disabled", False)),
        password_hash=doc["password_hash"],
        created_at=doc["created_at"],
        updated_at=doc.get("updated_at") or doc["created_at"],
    )


class UserRepository:
    def __init__(self, db: AsyncDatabase[Document], outbox: Outbox) -> None:
        self._users = db["users"]
        self._outbox = outbox

    async def create_indexes(self) -> None:
        await self._users.create_index("email", unique=True)
        await self._users.create_index([("role", ASCENDING), ("email", ASCENDING)])

    async def create(self, *, email: str, password_hash: str, role: Role, name: str | None) -> User:
        now = utcnow()
        doc: Document = {
            "_id": ObjectId(),
            "email": email,
            "password_hash": password_hash,
            "role": role,
            "name": name,
            "disabled": False,
            "created_at": now,
            "updated_at": now,
        }
        user = user_from_doc(doc)

        async def work(session: AsyncClientSession) -> tuple[User, list[Event]]:
            await self._users.insert_one(doc, session=session)
            return user, [UserRegistered(producer=PRODUCER, data=user.event_data())]

        try:
            return await self._outbox.commit(work)
        except DuplicateKeyError:
            raise EmailTaken(email) from None

    async def by_email(self, email: str) -> User | None:
        doc = await self._users.find_one({"email": email})
        return user_from_doc(doc) if doc else None

    async def by_id(self, user_id: str) -> User | None:
        if not ObjectId.is_valid(user_id):
            return None
        doc = await self._users.find_one({"_id": ObjectId(user_id)})
        return user_from_doc(doc) if doc else None

    async def all(self) -> list[User]:
        return [user_from_doc(d) async for d in self._users.find().sort("created_at", ASCENDING)]

    async def page_after(self, after_id: str | None, limit: int) -> list[User]:
        """Users in ascending id order, starting after `after_id` (for a paged full copy)."""
        query: dict[str, Any] = {"_id": {"$gt": ObjectId(after_id)}} if after_id else {}
        cursor = self._users.find(query).sort("_id", ASCENDING).limit(limit)
        return [user_from_doc(d) async for d in cursor]

    async def support_staff(self, roles: frozenset[str], exclude_id: str) -> list[User]:
        query: dict[str, Any] = {
            "role": {"$in": sorted(roles)},
            "disabled": {"$ne": True},
            "_id": {"$ne": ObjectId(exclude_id)},
        }
        return [user_from_doc(d) async for d in self._users.find(query).sort("email", ASCENDING)]

    async def update(
        self, user_id: str, *, role: Role | None = None, disabled: bool | None = None
    ) -> User | None:
        changes: dict[str, Any] = {}
        if role is not None:
            changes["role"] = role
        if disabled is not None:
            changes["disabled"] = disabled

        async def work(session: AsyncClientSession) -> tuple[User | None, list[Event]]:
            # A read, then the update, in the transaction: one findAndModify would cost a read
            # of every user on SecantusDB (workcity_common.database).
            before = await self._users.find_one({"_id": ObjectId(user_id)}, session=session)
            if before is None:
                return None, []
            await self._users.update_one(
                {"_id": before["_id"]},
                {"$set": {**changes, "updated_at": utcnow()}},
                session=session,
            )
            after = user_from_doc({**before, **changes, "updated_at": utcnow()})
            if user_from_doc(before).event_data() == after.event_data():
                return after, []  # nothing others can see changed: no event
            event_type = (
                UserDisabled if after.disabled and not before.get("disabled") else UserUpdated
            )
            return after, [event_type(producer=PRODUCER, data=after.event_data())]

        return await self._outbox.commit(work)
