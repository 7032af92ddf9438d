"""note.created and csat.requested (producer: conversations; the support desk)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from workcity_common.events.conversations import UserRef
from workcity_common.events.envelope import Event, EventData, iso


class NoteData(EventData):
    """A private note: staff only, never part of a conversation's messages."""

    id: str
    conversation_id: str
    author: UserRef
    text: str
    created_at: datetime

    def to_api(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "conversation": self.conversation_id,
            "author": {"_id": self.author.id, "email": self.author.email},
            "text": self.text,
            "createdAt": iso(self.created_at),
        }


class NoteCreatedData(EventData):
    note: NoteData
    staff_ids: list[str]  # every staff user who may see the conversation; never a customer


class NoteCreated(Event):
    type: Literal["note.created"] = "note.created"
    data: NoteCreatedData


class CsatRequestedData(EventData):
    """Staff resolved the conversation: its customers are asked to rate it."""

    conversation_id: str
    customer_ids: list[str]


class CsatRequested(Event):
    type: Literal["csat.requested"] = "csat.requested"
    data: CsatRequestedData
