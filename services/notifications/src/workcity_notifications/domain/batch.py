"""What a batch of events, in publish order, changes in the schedule: pure, so the store can write
it with a few bulk requests instead of several round trips per event.

Applying the plan gives the same documents as applying the events one by one: a read position
only grows; a message is added to its recipient's batch unless the recipient had read past it (by
the end of the batch) or it was deleted (within the batch); stored messages up to the new read
position, or deleted, are pulled. Within one batch the pulls come before the adds, which is
equivalent because an added message is never covered by the batch's own reads or deletes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from workcity_common.events import (
    Event,
    MessageCreated,
    MessageDeleted,
    MessageRead,
    PresenceChanged,
    UserRef,
)

from workcity_notifications.domain import rules


def pair_key(conversation_id: str, user_id: str) -> str:
    return f"{conversation_id}:{user_id}"


@dataclass(slots=True)
class NewBatch:
    """Messages to add to the (conversation, recipient) batch; `due_at` if the batch is new."""

    conversation_id: str
    recipient_id: str
    due_at: datetime
    messages: list[rules.PendingMessage] = field(default_factory=list)


@dataclass(slots=True)
class SchedulePlan:
    # pair key -> the highest read position the batch reports (applied with $max)
    reads: dict[str, int] = field(default_factory=dict)
    # conversation id -> ids of messages deleted in the batch
    deleted: dict[str, set[str]] = field(default_factory=dict)
    # pair key -> messages to add to that recipient's pending email
    adds: dict[str, NewBatch] = field(default_factory=dict)
    # user id -> a message sender, learned in case no user event names them yet
    senders: dict[str, UserRef] = field(default_factory=dict)
    # user id -> the last presence news of the batch (online, when)
    presence: dict[str, tuple[bool, datetime]] = field(default_factory=dict)
    # event types this queue should not carry
    unexpected: list[str] = field(default_factory=list)


def recipient_keys(events: Iterable[Event]) -> set[str]:
    """The (conversation, recipient) pairs whose stored read position and last email the plan
    needs."""
    keys: set[str] = set()
    for event in events:
        if isinstance(event, MessageCreated):
            m = event.data.message
            for recipient in rules.recipients(event.data.participant_ids, m.sender.id):
                keys.add(pair_key(m.conversation_id, recipient))
    return keys


def plan(
    events: Sequence[Event],
    handled: Mapping[str, int],
    last_sent: Mapping[str, datetime],
    *,
    delay: timedelta,
    window: timedelta,
) -> SchedulePlan:
    """The changes of `events` (publish order) given, for `recipient_keys(events)`, the seq up to
    which messages are handled (read, or emailed already) and the time of the last email."""
    result = SchedulePlan()
    known_reads = dict(handled)

    def read(key: str, seq: int) -> None:
        result.reads[key] = max(result.reads.get(key, 0), seq)
        known_reads[key] = max(known_reads.get(key, 0), seq)
        batch = result.adds.get(key)
        if batch is not None:
            batch.messages = rules.unread_after_read(batch.messages, seq)

    for event in events:
        match event:
            case MessageCreated():
                m = event.data.message
                result.senders.setdefault(m.sender.id, m.sender)
                # Sending implies the sender has seen the conversation up to here.
                read(pair_key(m.conversation_id, m.sender.id), m.seq)
                pending = rules.PendingMessage(
                    id=m.id,
                    seq=m.seq,
                    sender_email=m.sender.email,
                    text=m.text,
                    created_at=m.created_at,
                )
                for recipient in rules.recipients(event.data.participant_ids, m.sender.id):
                    key = pair_key(m.conversation_id, recipient)
                    if m.seq <= known_reads.get(key, 0):
                        continue  # read before its event reached us, or a redelivery
                    batch = result.adds.get(key)
                    if batch is None:
                        due = rules.due_at(m.created_at, delay, last_sent.get(key), window)
                        batch = result.adds[key] = NewBatch(m.conversation_id, recipient, due)
                    batch.messages.append(pending)
            case MessageRead():
                r = event.data
                read(pair_key(r.conversation_id, r.user_id), r.seq)
            case MessageDeleted():
                d = event.data
                result.deleted.setdefault(d.conversation_id, set()).add(d.message_id)
                for batch in result.adds.values():
                    if batch.conversation_id == d.conversation_id:
                        batch.messages = rules.unread_after_delete(batch.messages, d.message_id)
            case PresenceChanged():
                result.presence[event.data.user_id] = (event.data.online, event.occurred_at)
            case _:
                result.unexpected.append(event.type)
    result.adds = {key: batch for key, batch in result.adds.items() if batch.messages}
    return result
