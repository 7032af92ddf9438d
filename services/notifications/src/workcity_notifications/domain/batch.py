"""What a batch of events, in publish order, changes in the schedule: pure.

The service does not track messages or reads (ARCHITECTURE.md, "the message path has a
budget"): it keeps one wake-up per (conversation, recipient) with an email pending, and when the
wake-up is due it asks the conversations service what that recipient has not read. A message
needs no write when a wake-up already pending for its pair is due after it was created: that
wake-up's question (asked at least `settle` after its due time) finds it. Otherwise the message
asks for a wake-up `delay` after it (the store keeps the earliest, and the highest seq it saw, so
a wake-up that is being handled as the message arrives is followed by another).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from workcity_common.events import Event, MessageCreated, PresenceChanged, UserRef

from workcity_notifications.domain import rules

# Events this queue carried before the service stopped tracking reads and deletions (its
# durable queue may keep their bindings): the conversations service answers for them now.
IGNORED_TYPES = frozenset({"message.read", "message.deleted"})


def pair_key(conversation_id: str, user_id: str) -> str:
    return f"{conversation_id}:{user_id}"


@dataclass(slots=True)
class Wake:
    """A wake-up to ask for: due `delay` after the first message it is for; `first_seq` and
    `last_seq` bound the batch's messages that need it."""

    conversation_id: str
    recipient_id: str
    due_at: datetime
    first_seq: int
    last_seq: int


@dataclass(slots=True)
class SchedulePlan:
    # pair key -> the wake-up its messages need
    wakes: dict[str, Wake] = field(default_factory=dict)
    # user id -> a message sender, learned in case no user event names them yet
    senders: dict[str, UserRef] = field(default_factory=dict)
    # user id -> the last presence news of the batch (online, when)
    presence: dict[str, tuple[bool, datetime]] = field(default_factory=dict)
    # event types this queue should not carry
    unexpected: list[str] = field(default_factory=list)


def plan(
    events: Sequence[Event], pending_due: Mapping[str, datetime], *, delay: timedelta
) -> SchedulePlan:
    """The changes of `events` (publish order), given the due time of wake-ups known to be
    pending (by pair key; a missing or past one only costs a write)."""
    result = SchedulePlan()
    for event in events:
        match event:
            case MessageCreated():
                m = event.data.message
                result.senders.setdefault(m.sender.id, m.sender)
                for recipient in rules.recipients(event.data.participant_ids, m.sender.id):
                    key = pair_key(m.conversation_id, recipient)
                    wake = result.wakes.get(key)
                    if wake is not None:
                        wake.first_seq = min(wake.first_seq, m.seq)
                        wake.last_seq = max(wake.last_seq, m.seq)
                        continue
                    due = pending_due.get(key)
                    if due is not None and m.created_at < due:
                        continue  # the pending wake-up finds it
                    result.wakes[key] = Wake(
                        m.conversation_id, recipient, m.created_at + delay, m.seq, m.seq
                    )
            case PresenceChanged():
                result.presence[event.data.user_id] = (event.data.online, event.occurred_at)
            case _ if event.type in IGNORED_TYPES:
                pass
            case _:
                result.unexpected.append(event.type)
    return result


class PendingDue:
    """This process's memory of pending wake-ups (pair key -> due time), so that the messages
    of a busy conversation cost no write. Only a hint: a missing entry costs one write, and a
    stale one is never later than the stored due time (the store only moves it later, or to
    "idle" after asking, which covers every message created before it)."""

    def __init__(self) -> None:
        self._due: dict[str, datetime] = {}

    def view(self) -> Mapping[str, datetime]:
        return self._due

    def remember(self, due: Mapping[str, datetime]) -> None:
        self._due.update(due)

    def forget_before(self, moment: datetime) -> None:
        """Past wake-ups say nothing about new messages: forget them (the memory stays as small
        as the number of pending emails)."""
        for key in [k for k, d in self._due.items() if d < moment]:
            del self._due[key]

    def keys(self) -> Iterable[str]:
        return self._due.keys()
