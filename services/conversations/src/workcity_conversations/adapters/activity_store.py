"""A conversation's activity in MongoDB: `activity {_id, conversation, type, from, to, actor, at,
version, n}`, one document per changed field of a desk change, written by `DeskStore.change` in
the change's own transaction (so an entry exists exactly when its change does). `version` is the
conversation's version after the change and `n` the entry's place in it: the order of the
changes themselves, whichever process made them."""

from __future__ import annotations

from collections.abc import Sequence

from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.database import Document

from workcity_conversations.adapters.notes_store import page_of_conversation
from workcity_conversations.domain.activity import Entry

IDX_ACTIVITY = "activity_conversation_order"
ORDER = ["version", "n", "_id"]


class ActivityStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.activity = db["activity"]

    async def create_indexes(self) -> None:
        await self.activity.create_indexes(
            [
                IndexModel(
                    [("conversation", ASCENDING), ("version", ASCENDING), ("n", ASCENDING)],
                    name=IDX_ACTIVITY,
                )
            ]
        )

    async def record(
        self,
        session: AsyncClientSession,
        conversation_id: str,
        version: int,
        entries: Sequence[Entry],
    ) -> None:
        if not entries:
            return
        docs = [
            {
                "_id": ObjectId(),
                "conversation": ObjectId(conversation_id),
                "type": e.kind,
                "from": e.before,
                "to": e.after,
                "actor": e.actor_id,
                "at": e.at,
                "version": version,
                "n": n,
            }
            for n, e in enumerate(entries)
        ]
        await self.activity.insert_many(docs, session=session)

    async def of_conversation(
        self, conversation_id: str, limit: int, after: str | None
    ) -> list[tuple[str, Entry]]:
        """A conversation's entries in the order of its changes; `after`: an entry id."""
        docs = await page_of_conversation(self.activity, conversation_id, ORDER, limit, after)
        return [
            (str(d["_id"]), Entry(d["type"], d["from"], d["to"], d["actor"], d["at"])) for d in docs
        ]

    async def delete_of_conversation(self, conversation_id: str) -> None:
        await self.activity.delete_many({"conversation": ObjectId(conversation_id)})
