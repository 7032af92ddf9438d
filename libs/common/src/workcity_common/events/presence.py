"""presence.changed (producer: realtime)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from workcity_common.events.envelope import Event, EventData


class PresenceData(EventData):
    """A user got their first socket (online) or lost their last one (offline), cluster-wide.
    Best effort: realtime publishes it without an outbox; the latest `occurred_at` wins."""

    user_id: str
    online: bool
    last_seen: datetime | None = None  # None while online


class PresenceChanged(Event):
    type: Literal["presence.changed"] = "presence.changed"
    data: PresenceData
