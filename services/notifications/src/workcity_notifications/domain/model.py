"""What the use cases pass between the service layer and its ports: a claimed wake-up, the email
it is about to send, and the conversations service's answer about unread messages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workcity_notifications.domain.email import Email
from workcity_notifications.domain.rules import PendingMessage


@dataclass(frozen=True, slots=True)
class Unread:
    # The conversation's last seq when asked: every message up to it is accounted for.
    last_seq: int
    # How many unread there are in all (`messages` holds the oldest of them, up to a limit).
    count: int
    messages: list[PendingMessage]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An email about to be handed to SMTP, and the last message it accounts for."""

    email: Email
    covered_seq: int


@dataclass(frozen=True, slots=True)
class Claimed:
    key: str
    conversation_id: str
    recipient_id: str
    due_at: datetime
    done_seq: int
    attempts: int
    token: str
    # An email a previous claim recorded and may or may not have got through SMTP.
    outgoing: Outgoing | None = None
    # The highest message that asked for a wake-up when it was claimed.
    seen_seq: int = 0
