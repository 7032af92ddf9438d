"""The typed events the services exchange over RabbitMQ, and `parse_event` to read one.

Every event travels in one envelope (`envelope.py`); the schemas are grouped by the domain that
produces them (`users`, `conversations`, `messages`, `desk`, `presence`). Producers build the typed
model; consumers get the typed model back from `parse_event`, never a dict to pick apart. Import
the names from here.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from pydantic import Field, TypeAdapter, ValidationError

from workcity_common.events.conversations import (
    ConversationCreated,
    ConversationData,
    ConversationDeleted,
    ConversationDeletedData,
    ConversationEventData,
    ConversationUpdated,
    ConversationUpdatedData,
    CsatData,
    TeamRef,
    UserRef,
)
from workcity_common.events.desk import (
    CsatRequested,
    CsatRequestedData,
    NoteCreated,
    NoteCreatedData,
    NoteData,
)
from workcity_common.events.envelope import (
    STAFF_ROLES,
    Event,
    EventData,
    Role,
    iso,
    utcnow,
)
from workcity_common.events.messages import (
    MESSAGE_CREATED_VERSION,
    AttachmentData,
    MessageCreated,
    MessageData,
    MessageDeleted,
    MessageDeletedData,
    MessageEventData,
    MessageRead,
    MessageReadData,
    MessageUpdated,
    SenderRead,
)
from workcity_common.events.presence import (
    PresenceChanged,
    PresenceData,
)
from workcity_common.events.users import (
    SessionData,
    UserData,
    UserDisabled,
    UserLoggedOut,
    UserRegistered,
    UserUpdated,
)

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


__all__ = [
    "KNOWN_EVENT_TYPES",
    "MESSAGE_CREATED_VERSION",
    "STAFF_ROLES",
    "AnyEvent",
    "AttachmentData",
    "ConversationCreated",
    "ConversationData",
    "ConversationDeleted",
    "ConversationDeletedData",
    "ConversationEventData",
    "ConversationUpdated",
    "ConversationUpdatedData",
    "CsatData",
    "CsatRequested",
    "CsatRequestedData",
    "Event",
    "EventData",
    "MessageCreated",
    "MessageData",
    "MessageDeleted",
    "MessageDeletedData",
    "MessageEventData",
    "MessageRead",
    "MessageReadData",
    "MessageUpdated",
    "NoteCreated",
    "NoteCreatedData",
    "NoteData",
    "PresenceChanged",
    "PresenceData",
    "Role",
    "SenderRead",
    "SessionData",
    "TeamRef",
    "UnknownEvent",
    "UserData",
    "UserDisabled",
    "UserLoggedOut",
    "UserRef",
    "UserRegistered",
    "UserUpdated",
    "iso",
    "parse_event",
    "utcnow",
]
