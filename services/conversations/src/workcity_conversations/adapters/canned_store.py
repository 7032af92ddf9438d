"""Canned responses in MongoDB.

Documents: canned_responses `{_id, scope, scope_key, author, team, short_code, code_key, text,
created_at, updated_at}`; `scope_key` is `personal:<userId>`, `team:<teamId>` or `global`, and
(`scope_key`, `code_key` = the short code in lower case) is unique, so a short code is unique
within its scope also when two creates race."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from workcity_common.database import Document, update_by_id_and_read
from workcity_common.domain_errors import Conflict

from workcity_conversations.domain.canned import Canned, scope_key

IDX_CANNED_CODE = "canned_scope_code_unique"


def _taken() -> Conflict:
    return Conflict("This shortCode is taken in that scope", "short_code_taken")


def canned_from_doc(doc: Document) -> Canned:
    return Canned(
        id=str(doc["_id"]),
        scope=doc["scope"],
        author_id=doc["author"],
        team_id=doc.get("team"),
        short_code=doc["short_code"],
        text=doc["text"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )


class CannedStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.canned = db["canned_responses"]

    async def create_indexes(self) -> None:
        await self.canned.create_indexes(
            [
                IndexModel(
                    [("scope_key", ASCENDING), ("code_key", ASCENDING)],
                    name=IDX_CANNED_CODE,
                    unique=True,
                )
            ]
        )

    async def count_in_scope(self, scope_key: str) -> int:
        return await self.canned.count_documents({"scope_key": scope_key})

    async def create(self, canned: Canned) -> Canned:
        doc = {
            "_id": ObjectId(canned.id),
            "scope": canned.scope,
            "scope_key": scope_key(canned.scope, canned.author_id, canned.team_id),
            "author": canned.author_id,
            "team": canned.team_id,
            "short_code": canned.short_code,
            "code_key": canned.short_code.lower(),
            "text": canned.text,
            "created_at": canned.created_at,
            "updated_at": canned.updated_at,
        }
        try:
            await self.canned.insert_one(doc)
        except DuplicateKeyError:
            raise _taken() from None
        return canned_from_doc(doc)

    async def get(self, canned_id: str) -> Canned | None:
        doc = await self.canned.find_one({"_id": ObjectId(canned_id)})
        return canned_from_doc(doc) if doc else None

    async def update(
        self, canned_id: str, short_code: str | None, text: str | None, now: datetime
    ) -> Canned | None:
        fields: Document = {} if text is None else {"text": text}
        if short_code is not None:
            fields.update(short_code=short_code, code_key=short_code.lower())
        try:
            doc = await update_by_id_and_read(
                self.canned, {"_id": ObjectId(canned_id)}, {"$set": {**fields, "updated_at": now}}
            )
        except DuplicateKeyError:
            raise _taken() from None
        return canned_from_doc(doc) if doc else None

    async def delete(self, canned_id: str) -> None:
        await self.canned.delete_one({"_id": ObjectId(canned_id)})

    async def search(self, scope_keys: list[str], q: str | None, limit: int) -> list[Canned]:
        """Those in the scopes, whose short code or text holds `q` (any case), by short code."""
        query: dict[str, Any] = {"scope_key": {"$in": scope_keys}}
        if q:
            literal = re.escape(q)
            query["$or"] = [
                {"code_key": {"$regex": re.escape(q.lower())}},
                {"text": {"$regex": literal, "$options": "i"}},
            ]
        cursor = self.canned.find(query).sort([("code_key", ASCENDING), ("_id", ASCENDING)])
        return [canned_from_doc(d) for d in await cursor.limit(limit).to_list(length=limit)]
