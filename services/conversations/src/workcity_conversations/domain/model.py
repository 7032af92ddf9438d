"""The records the rules work on. Plain data, no I/O; the adapters fill them from MongoDB."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from workcity_common.events import STAFF_ROLES, Role

SUPPORT_ROLES: frozenset[Role] = STAFF_ROLES


@dataclass(frozen=True, slots=True)
class Person:
    """A user as this service knows them (its copy of the auth service's directory)."""

    id: str
    email: str
    role: Role
    name: str | None = None
    disabled: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_support(self) -> bool:
        return self.role in SUPPORT_ROLES


@dataclass(frozen=True, slots=True)
class Csat:
    """The satisfaction survey of a conversation's latest resolution by staff (`round` counts
    them): asked at `requested_at`, answered once (`rating` 1-5) or not yet."""

    round: int
    requested_at: datetime
    rating: int | None = None
    comment: str | None = None
    rated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    participants: tuple[str, ...]
    last_seq: int
    created_at: datetime
    updated_at: datetime
    last_message_id: str | None = None
    # user id -> the highest seq that user has read (absent: nothing read yet).
    reads: Mapping[str, int] = field(default_factory=dict)
    read_at: Mapping[str, datetime] = field(default_factory=dict)
    # Seqs of deleted messages that someone may still count as unread (see reads.py).
    deleted_seqs: tuple[int, ...] = ()
    # The support desk's state (domain/desk.py); changed only by the desk's own writes.
    status: str = "open"
    assignee_id: str | None = None
    team_id: str | None = None
    priority: str | None = None
    labels: tuple[str, ...] = ()
    waiting_since: datetime | None = None
    snoozed_until: datetime | None = None
    version: int = 0
    # What the customer said when opening it through POST /api/support (never changed after).
    subject: str | None = None
    order_id: str | None = None
    csat: Csat | None = None

    def has_participant(self, user_id: str) -> bool:
        return user_id in self.participants

    def read_position(self, user_id: str) -> int:
        return self.reads.get(user_id, 0)

    def read_by(self, seq: int) -> list[str]:
        """Who has read the message at `seq` (the original's `readBy`), derived from positions."""
        return [p for p in self.participants if self.read_position(p) >= seq]


@dataclass(frozen=True, slots=True)
class Attachment:
    id: str
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    conversation_id: str
    seq: int
    sender_id: str
    text: str
    created_at: datetime
    updated_at: datetime
    client_message_id: str | None = None
    attachments: tuple[Attachment, ...] = ()
    edited: bool = False


@dataclass(frozen=True, slots=True)
class StoredFile:
    """An uploaded file: what a message shows of it, and whose it is."""

    meta: Attachment
    conversation_id: str
    uploader_id: str
    uploaded_at: datetime | None = None
