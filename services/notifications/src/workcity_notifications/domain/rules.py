"""The scheduling rules, pure: who is notified, when an email is due, what cancels it, when a
due email is sent, dropped or put off. The store applies them to MongoDB documents."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal


@dataclass(frozen=True, slots=True)
class PendingMessage:
    id: str
    seq: int
    sender_email: str
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Recipient:
    id: str
    email: str
    disabled: bool = False


def recipients(participant_ids: Iterable[str], sender_id: str) -> list[str]:
    """Everyone in the conversation but the sender, once each."""
    return sorted({p for p in participant_ids if p != sender_id})


def due_at(
    first_created_at: datetime,
    delay: timedelta,
    last_sent_at: datetime | None,
    window: timedelta,
) -> datetime:
    """When the email for a batch that starts with a message created at `first_created_at` goes
    out: after the delay, and not within the window of the previous email. Counted from the
    message's own time, so a late event or a restart does not push the email further back."""
    due = first_created_at + delay
    if last_sent_at is not None:
        due = max(due, last_sent_at + window)
    return due


def is_online(online: bool | None, at: datetime | None, now: datetime, max_age: timedelta) -> bool:
    """Online while the latest presence says so, and that news is not older than `max_age` (a
    realtime cluster that died without a word cannot keep someone online forever). No news:
    offline."""
    if not online or at is None:
        return False
    return now - at <= max_age


Action = Literal["send", "drop", "later"]


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str
    # For "later": when to look again.
    retry_at: datetime | None = None


def decide(
    messages: Sequence[PendingMessage],
    recipient: Recipient | None,
    *,
    online: bool,
    last_sent_at: datetime | None,
    window: timedelta,
    now: datetime,
    unknown_retry: timedelta,
) -> Decision:
    """What to do with a due email, given the recipient's unread messages (the conversations
    service's answer: after their read position and what was emailed or dropped before)."""
    if not messages:
        return Decision("drop", "read")
    if online:
        # They are in the app: they see the messages there (Zulip, Chatwoot do the same).
        return Decision("drop", "online")
    if recipient is None:
        # The user.* event may still be on its way: look again shortly.
        return Decision("later", "unknown_recipient", now + unknown_retry)
    if recipient.disabled:
        return Decision("drop", "disabled")
    if last_sent_at is not None and now < last_sent_at + window:
        return Decision("later", "window", last_sent_at + window)
    return Decision("send", "due")


def retry_backoff(
    attempts: int, maximum: timedelta, base: timedelta = timedelta(seconds=5)
) -> timedelta:
    """Wait before the `attempts`-th retry of a failed send: 5 s, 10 s, 20 s, ... up to `maximum`."""
    return min(maximum, base * (2 ** max(0, min(attempts - 1, 30))))
