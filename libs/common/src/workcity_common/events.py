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


AnyEvent = Annotated[UserRegistered | UserUpdated | UserDisabled, Field(discriminator="type")]
_any_event: TypeAdapter[Event] = TypeAdapter(AnyEvent)
KNOWN_EVENT_TYPES = frozenset(
    cls.model_fields["type"].default for cls in (UserRegistered, UserUpdated, UserDisabled)
)


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
