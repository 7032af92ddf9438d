"""Private notes (CONTRACT Part 3): staff write them on a conversation they may see; only staff
who may see it read them or hear of them (`note.created` -> `noteCreated`). A note is never a
message: it lives in its own collection (adapters/notes_store.py), so nothing a customer reads
can carry one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.client_session import AsyncClientSession
from workcity_common.database import Document
from workcity_common.events import Event, NoteCreated, NoteCreatedData, NoteData, UserRef

from workcity_conversations.adapters.desk_store import DeskStore
from workcity_conversations.adapters.directory import UserDirectory
from workcity_conversations.adapters.notes_store import NotesStore
from workcity_conversations.desk_ports import AlsoWrite
from workcity_conversations.desk_shared import conversation_or_404, staff_audience
from workcity_conversations.domain import desk_access, paging, rules
from workcity_conversations.domain.model import Conversation, Person
from workcity_conversations.views import PRODUCER, now_ms


@dataclass(frozen=True, slots=True)
class NoteLimits:
    max_chars: int = 4000
    page_default: int = 200
    page_max: int = 500


class NotesService:
    def __init__(
        self,
        store: NotesStore,
        desk: DeskStore,
        directory: UserDirectory,
        limits: NoteLimits | None = None,
    ) -> None:
        self._store = store
        self._desk = desk
        self._directory = directory
        self.limits = limits or NoteLimits()

    async def add(self, caller: Person, conversation_id: Any, text: Any) -> dict[str, Any]:
        conversation = await conversation_or_404(self._desk, conversation_id)
        await self._require_sees(caller, conversation)
        return await self.record(caller, conversation, text)

    async def _note(
        self, author: Person, conversation: Conversation, text: str
    ) -> tuple[NoteData, Document, NoteCreated]:
        """A note by `author` on `conversation` (as it is now, for the audience) and its event."""
        now = now_ms()
        note = NoteData(
            id=str(ObjectId()),
            conversation_id=conversation.id,
            author=UserRef(id=author.id, email=author.email, role=author.role),
            text=text,
            created_at=now,
        )
        audience = await staff_audience(
            self._desk,
            self._directory,
            conversation.team_id,
            conversation.assignee_id,
            conversation.participants,
        )
        doc = {
            "_id": ObjectId(note.id),
            "conversation": ObjectId(conversation.id),
            "author": author.id,
            "text": text,
            "created_at": now,
        }
        event = NoteCreated(producer=PRODUCER, data=NoteCreatedData(note=note, staff_ids=audience))
        return note, doc, event

    async def record(self, author: Person, conversation: Conversation, text: Any) -> dict[str, Any]:
        """Store a note by `author`, already allowed to write it."""
        note, doc, event = await self._note(
            author, conversation, rules.message_text(text, self.limits.max_chars)
        )
        await self._store.add(doc, lambda: [event])
        return note.to_api()

    def written_with(self, author: Person, text: Any) -> AlsoWrite:
        """A note by `author` written in a desk change's own transaction (a transfer's: its
        author may transfer, and may no longer see the conversation afterwards); it reaches the
        staff who may see the conversation after the change."""
        clean = rules.message_text(text, self.limits.max_chars)

        async def write(session: AsyncClientSession, after: Conversation) -> list[Event]:
            _, doc, event = await self._note(author, after, clean)
            await self._store.insert(doc, session)
            return [event]

        return write

    async def list(
        self, caller: Person, conversation_id: Any, limit: str | None, after: str | None
    ) -> list[dict[str, Any]]:
        conversation = await conversation_or_404(self._desk, conversation_id)
        await self._require_sees(caller, conversation)
        size = paging.page_limit(limit, self.limits.page_default, self.limits.page_max)
        mark = rules.parse_id(after, "after") if after is not None else None
        docs = await self._store.of_conversation(conversation.id, size, mark)
        people = await self._directory.get_many({d["author"] for d in docs})
        out = []
        for doc in docs:
            author = people.get(doc["author"])
            note = NoteData(
                id=str(doc["_id"]),
                conversation_id=conversation.id,
                author=UserRef(id=doc["author"], email=author.email if author else ""),
                text=doc["text"],
                created_at=doc["created_at"],
            )
            out.append(note.to_api())
        return out

    async def _require_sees(self, caller: Person, conversation: Conversation) -> None:
        desk_access.require_staff_sees(
            caller, conversation, await self._desk.team_ids_of(caller.id)
        )
