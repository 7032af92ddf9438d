"""Private notes (CONTRACT Part 3): staff write them on a conversation they may see; only staff
who may see it read them or hear of them (`note.created` -> `noteCreated`). A note is never a
message: it lives in its own collection (adapters/notes_store.py), so nothing a customer reads
can carry one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from workcity_common.events import Event, NoteCreated, NoteCreatedData, NoteData, UserRef

from workcity_conversations.domain import desk_access, paging, rules
from workcity_conversations.domain.model import Conversation, Person
from workcity_conversations.service_layer.desk_ports import AlsoWrite, DeskChanges, NoteStore
from workcity_conversations.service_layer.desk_shared import conversation_or_404, staff_audience
from workcity_conversations.service_layer.ports import Directory
from workcity_conversations.service_layer.views import PRODUCER, now_ms


@dataclass(frozen=True, slots=True)
class NoteLimits:
    max_chars: int = 4000
    page_default: int = 200
    page_max: int = 500


class NotesService:
    def __init__(
        self,
        store: NoteStore,
        desk: DeskChanges,
        directory: Directory,
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
    ) -> tuple[NoteData, NoteCreated]:
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
        event = NoteCreated(producer=PRODUCER, data=NoteCreatedData(note=note, staff_ids=audience))
        return note, event

    async def record(self, author: Person, conversation: Conversation, text: Any) -> dict[str, Any]:
        """Store a note by `author`, already allowed to write it."""
        note, event = await self._note(
            author, conversation, rules.message_text(text, self.limits.max_chars)
        )
        await self._store.add(note, lambda: [event])
        return note.to_api()

    def written_with(self, author: Person, text: Any) -> AlsoWrite:
        """A note by `author` written in a desk change's own transaction (a transfer's: its
        author may transfer, and may no longer see the conversation afterwards); it reaches the
        staff who may see the conversation after the change."""
        clean = rules.message_text(text, self.limits.max_chars)

        async def write(handle: Any, after: Conversation) -> list[Event]:
            note, event = await self._note(author, after, clean)
            await self._store.insert(note, handle)
            return [event]

        return write

    async def list(
        self, caller: Person, conversation_id: Any, limit: str | None, after: str | None
    ) -> list[dict[str, Any]]:
        conversation = await conversation_or_404(self._desk, conversation_id)
        await self._require_sees(caller, conversation)
        size = paging.page_limit(limit, self.limits.page_default, self.limits.page_max)
        mark = rules.parse_id(after, "after") if after is not None else None
        notes = await self._store.of_conversation(conversation.id, size, mark)
        people = await self._directory.get_many({n.author.id for n in notes})
        out = []
        for note in notes:
            author = people.get(note.author.id)
            shown = UserRef(id=note.author.id, email=author.email if author else "")
            out.append(note.model_copy(update={"author": shown}).to_api())
        return out

    async def _require_sees(self, caller: Person, conversation: Conversation) -> None:
        desk_access.require_staff_sees(
            caller, conversation, await self._desk.team_ids_of(caller.id)
        )
