"""Private notes in MongoDB, in a collection of their own.

Documents: notes `{_id, conversation, author, text, created_at}`. No customer path reads this
collection: history, `lastMessage`, unread counts, `sync`, attachments and the notification emails
all come from `messages` and the conversation document, so a note cannot leak through them (in
Chatwoot a note was a message with a flag, and leaked into customer emails)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.database import Document
from workcity_common.events import Event, NoteData, UserRef
from workcity_common.outbox import Outbox

IDX_NOTES = "notes_conversation_created"


def after_in_order(fields: Sequence[str], values: Sequence[Any]) -> Document:
    """The filter for "after this document" in the ascending order of `fields` (a keyset page):
    greater in the first field, or equal in it and after it in the others."""
    first, *rest = fields
    head, *tail = values
    if not rest:
        return {first: {"$gt": head}}
    return {"$or": [{first: {"$gt": head}}, {first: head, **after_in_order(rest, tail)}]}


async def page_of_conversation(
    collection: AsyncCollection[Document],
    conversation_id: str,
    order: Sequence[str],
    limit: int,
    after: str | None,
) -> list[Document]:
    """A page of a conversation's documents in the ascending order of `order`; `after`: the id
    of the document the page follows (one of another conversation, or unknown: an empty page)."""
    query: Document = {"conversation": ObjectId(conversation_id)}
    if after is not None:
        mark = await collection.find_one({"_id": ObjectId(after), **query})
        if mark is None:
            return []
        query = {"$and": [query, after_in_order(order, [mark[k] for k in order])]}
    cursor = collection.find(query).sort([(k, ASCENDING) for k in order])
    return await cursor.limit(limit).to_list(length=limit)


class NotesStore:
    def __init__(self, db: AsyncDatabase[Document], outbox: Outbox) -> None:
        self.notes = db["notes"]
        self._outbox = outbox

    async def create_indexes(self) -> None:
        await self.notes.create_indexes(
            [
                IndexModel(
                    [("conversation", ASCENDING), ("created_at", ASCENDING), ("_id", ASCENDING)],
                    name=IDX_NOTES,
                )
            ]
        )

    async def add(self, note: NoteData, events: Callable[[], Sequence[Event]]) -> None:
        """Store a note and its event (`note.created`) in one transaction."""

        async def work(session: AsyncClientSession) -> tuple[None, Sequence[Event]]:
            await self.insert(note, session)
            return None, events()

        await self._outbox.commit(work)

    async def insert(self, note: NoteData, session: AsyncClientSession) -> None:
        """A note within a transaction of the caller's (whose outbox takes its event)."""
        doc = {
            "_id": ObjectId(note.id),
            "conversation": ObjectId(note.conversation_id),
            "author": note.author.id,
            "text": note.text,
            "created_at": note.created_at,
        }
        await self.notes.insert_one(doc, session=session)

    async def of_conversation(
        self, conversation_id: str, limit: int, after: str | None
    ) -> list[NoteData]:
        """A conversation's notes, oldest first; `after`: a note id, the page after it."""
        docs = await page_of_conversation(
            self.notes, conversation_id, ["created_at", "_id"], limit, after
        )
        return [
            NoteData(
                id=str(d["_id"]),
                conversation_id=conversation_id,
                author=UserRef(id=d["author"], email=""),
                text=d["text"],
                created_at=d["created_at"],
            )
            for d in docs
        ]

    async def delete_of_conversation(self, conversation_id: str) -> None:
        await self.notes.delete_many({"conversation": ObjectId(conversation_id)})
