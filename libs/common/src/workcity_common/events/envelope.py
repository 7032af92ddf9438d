"""The envelope every event travels in, and what all the event schemas share.

`id` (uuid), `type` (also the routing key), `version`, `occurred_at`, `producer`, `data`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

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


def iso(value: datetime) -> str:
    """Every answer formats its times the same way."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
