"""The event envelope and the typed events the services exchange over RabbitMQ.

Every event travels in one envelope: `id` (uuid), `type` (also the routing key), `version`,
`occurred_at`, `producer`, `data`. Producers build the typed model; consumers get the typed model
back from `parse_event`, never a dict to pick apart.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

Role = Literal["admin", "agent", "customer", "designer", "merchant"]
# Staff (CONTRACT Part 3): everyone but customers; they see a conversation's whole desk state.
STAFF_ROLES: frozenset[Role] = frozenset({"admin", "agent", "designer", "merchant"})


def utcnow() -> datetime:
    return datetime.now(UTC)


class EventData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Event(BaseModel):
    """The envelope. Subclasses fix `type` to a literal and `data` to a model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: str
    version: int = 1
    occurred_at: datetime = Field(default_factory=utcnow)
    producer: str
    data: Any

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))


# --- user.* (producer: auth) ---------------------------------------------------------------


class UserData(EventData):
    """The public part of a user: what other services keep a copy of."""

    id: str
    email: str
    role: Role
    name: str | None = None
    disabled: bool = False


class UserRegistered(Event):
    type: Literal["user.registered"] = "user.registered"
    data: UserData


class UserUpdated(Event):
    type: Literal["user.updated"] = "user.updated"
    data: UserData


class UserDisabled(Event):
    type: Literal["user.disabled"] = "user.disabled"
    data: UserData


class SessionData(EventData):
    user_id: str
    session_id: str  # the refresh-token family: access tokens carry it as `sid`


class UserLoggedOut(Event):
    """A login ended (logout, or a stolen refresh token's family revoked): its access tokens are
    valid until they expire, so realtime drops the sockets opened with them."""

    type: Literal["user.logged_out"] = "user.logged_out"
    data: SessionData


# --- conversation.* and message.* (producer: conversations) ----------------------------------
# Payloads are snake_case; `to_api()` gives the contract's JSON shape, so the REST answers of the
# conversations service and the socket emits of the realtime service are the same by construction.


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Public: every answer formats its times the same way.
iso = _iso


class UserRef(EventData):
    id: str
    email: str
    role: Role | None = None
    name: str | None = None

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {"_id": self.id, "email": self.email}
        if self.role is not None:
            out["role"] = self.role
        if self.name is not None:
            out["name"] = self.name
        return out


class AttachmentData(EventData):
    id: str
    filename: str
    content_type: str
    size: int

    def to_api(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "filename": self.filename,
            "contentType": self.content_type,
            "size": self.size,
        }


class MessageData(EventData):
    id: str
    conversation_id: str
    seq: int
    sender: UserRef
    text: str
    attachments: list[AttachmentData] = []
    client_message_id: str | None = None
    read_by: list[str] = []
    created_at: datetime
    updated_at: datetime
    edited: bool = False

    def to_api(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "conversation": self.conversation_id,
            "seq": self.seq,
            "sender": self.sender.to_api(),
            "text": self.text,
            "attachments": [a.to_api() for a in self.attachments],
            "clientMessageId": self.client_message_id,
            "readBy": list(self.read_by),
            "edited": self.edited,
            "createdAt": _iso(self.created_at),
            "updatedAt": _iso(self.updated_at),
        }


class TeamRef(EventData):
    id: str
    name: str

    def to_api(self) -> dict[str, Any]:
        return {"_id": self.id, "name": self.name}


class CsatData(EventData):
    """The satisfaction survey of the conversation's latest resolution by staff."""

    requested_at: datetime
    rating: int | None = None
    comment: str | None = None
    rated_at: datetime | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "requestedAt": _iso(self.requested_at),
            "rating": self.rating,
            "comment": self.comment,
            "ratedAt": _iso(self.rated_at) if self.rated_at else None,
        }


class ConversationData(EventData):
    id: str
    participants: list[UserRef]
    last_seq: int = 0
    created_at: datetime
    updated_at: datetime
    # The support desk's state of the conversation (CONTRACT Part 3).
    status: str = "open"
    assignee: UserRef | None = None
    team: TeamRef | None = None
    priority: str | None = None
    labels: list[str] = []
    waiting_since: datetime | None = None
    snoozed_until: datetime | None = None
    version: int = 0
    # Given by the customer in POST /api/support; shown to both sides.
    subject: str | None = None
    order_id: str | None = None
    csat: CsatData | None = None

    @property
    def participant_ids(self) -> list[str]:
        return [p.id for p in self.participants]

    def to_api(self) -> dict[str, Any]:
        """The staff view: everything."""
        return {
            **self.customer_api(),
            "team": self.team.to_api() if self.team else None,
            "priority": self.priority,
            "labels": list(self.labels),
            "waitingSince": _iso(self.waiting_since) if self.waiting_since else None,
            "snoozedUntil": _iso(self.snoozed_until) if self.snoozed_until else None,
            "version": self.version,
        }

    def customer_api(self) -> dict[str, Any]:
        """The customer's view: of the desk state, only `status` and `assignee`."""
        return {
            "_id": self.id,
            "participants": [p.to_api() for p in self.participants],
            "lastSeq": self.last_seq,
            "createdAt": _iso(self.created_at),
            "updatedAt": _iso(self.updated_at),
            "status": self.status,
            "assignee": (
                {"_id": self.assignee.id, "email": self.assignee.email} if self.assignee else None
            ),
            # The customer's own words, so both views carry them.
            "subject": self.subject,
            "orderId": self.order_id,
            # The customer's own rating of the latest resolution (null: never asked).
            "csat": self.csat.to_api() if self.csat else None,
        }


class ConversationEventData(EventData):
    conversation: ConversationData


class ConversationCreated(Event):
    type: Literal["conversation.created"] = "conversation.created"
    data: ConversationEventData


class ConversationUpdatedData(EventData):
    """A desk change (status, assignee, team, priority, labels) and who is to hear of it. The
    audiences are worked out by the producer, which owns teams and roles."""

    conversation: ConversationData
    changes: list[str]
    actor: UserRef | None = None  # None: the system (auto-assignment, a snooze ending)
    staff_ids: list[str]  # every staff user who may see the conversation
    customer_ids: list[str] = []  # told (customer view) when status or assignee changed
    queued_for: list[str] = []  # the team's members, when it entered their queue unassigned
    assigned_from: str | None = None
    assigned_to: str | None = None


class ConversationUpdated(Event):
    type: Literal["conversation.updated"] = "conversation.updated"
    data: ConversationUpdatedData


class ConversationDeletedData(EventData):
    conversation_id: str
    participant_ids: list[str]


class ConversationDeleted(Event):
    type: Literal["conversation.deleted"] = "conversation.deleted"
    data: ConversationDeletedData


class SenderRead(EventData):
    """The sender's read position after a send (sending reads the conversation up to the
    message), and where it was before: message.created version 2 carries it instead of a
    separate message.read event."""

    seq: int
    read_at: datetime
    previous_seq: int


class MessageEventData(EventData):
    message: MessageData
    participant_ids: list[str]
    # message.created version 2; absent in version 1, whose producer publishes a message.read
    # after it when the send read others' messages.
    sender_read: SenderRead | None = None


# message.created's current version: 2 carries the sender's read position (`sender_read`).
# Consumers read version 1 too (an older producer during a rolling deploy, or events still queued).
MESSAGE_CREATED_VERSION = 2


class MessageCreated(Event):
    type: Literal["message.created"] = "message.created"
    data: MessageEventData

    def read_receipt(self) -> MessageReadData | None:
        """The receipt the room gets for the sender's read (version 2): only when the send read
        others' messages, as version 1's separate message.read."""
        read = self.data.sender_read
        if read is None or read.previous_seq >= read.seq - 1:
            return None
        m = self.data.message
        return MessageReadData(
            conversation_id=m.conversation_id,
            user_id=m.sender.id,
            seq=read.seq,
            read_at=read.read_at,
            participant_ids=list(self.data.participant_ids),
        )


class MessageUpdated(Event):
    type: Literal["message.updated"] = "message.updated"
    data: MessageEventData


class MessageDeletedData(EventData):
    conversation_id: str
    message_id: str
    seq: int
    participant_ids: list[str]


class MessageDeleted(Event):
    type: Literal["message.deleted"] = "message.deleted"
    data: MessageDeletedData


class MessageReadData(EventData):
    conversation_id: str
    user_id: str
    seq: int
    read_at: datetime
    participant_ids: list[str]

    def to_api(self) -> dict[str, Any]:
        return {
            "conversationId": self.conversation_id,
            "userId": self.user_id,
            "seq": self.seq,
            "readAt": _iso(self.read_at),
        }


class MessageRead(Event):
    type: Literal["message.read"] = "message.read"
    data: MessageReadData


# --- note.created, csat.requested (producer: conversations; the support desk) -----------------


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
            "createdAt": _iso(self.created_at),
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


# --- presence.changed (producer: realtime) ---------------------------------------------------


class PresenceData(EventData):
    """A user got their first socket (online) or lost their last one (offline), cluster-wide.
    Best effort: realtime publishes it without an outbox; the latest `occurred_at` wins."""

    user_id: str
    online: bool
    last_seen: datetime | None = None  # None while online


class PresenceChanged(Event):
    type: Literal["presence.changed"] = "presence.changed"
    data: PresenceData


_EVENT_CLASSES: tuple[type[Event], ...] = (
    UserRegistered,
    UserUpdated,
    UserDisabled,
    UserLoggedOut,
    ConversationCreated,
    ConversationUpdated,
    ConversationDeleted,
    MessageCreated,
    MessageUpdated,
    MessageDeleted,
    MessageRead,
    NoteCreated,
    CsatRequested,
    PresenceChanged,
)
AnyEvent = Annotated[
    UserRegistered
    | UserUpdated
    | UserDisabled
    | UserLoggedOut
    | ConversationCreated
    | ConversationUpdated
    | ConversationDeleted
    | MessageCreated
    | MessageUpdated
    | MessageDeleted
    | MessageRead
    | NoteCreated
    | CsatRequested
    | PresenceChanged,
    Field(discriminator="type"),
]
_any_event: TypeAdapter[Event] = TypeAdapter(AnyEvent)
KNOWN_EVENT_TYPES = frozenset(cls.model_fields["type"].default for cls in _EVENT_CLASSES)


class UnknownEvent(ValueError):
    """An event this version does not know (a newer producer), or a malformed one."""


def parse_event(body: bytes | str | dict[str, Any]) -> Event:
    try:
        raw = body if isinstance(body, dict) else orjson.loads(body)
        if not isinstance(raw, dict) or raw.get("type") not in KNOWN_EVENT_TYPES:
            raise UnknownEvent(
                f"unknown event type: {raw.get('type') if isinstance(raw, dict) else None!r}"
            )
        return _any_event.validate_python(raw)
    except (orjson.JSONDecodeError, ValidationError) as exc:
        raise UnknownEvent(str(exc)) from exc
