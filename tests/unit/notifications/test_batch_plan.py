"""domain/batch: which messages of a batch ask for a wake-up (a write), and which are found by
one already pending (no write)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workcity_common.events import (
    MessageCreated,
    MessageData,
    MessageDeleted,
    MessageDeletedData,
    MessageEventData,
    MessageRead,
    MessageReadData,
    PresenceChanged,
    PresenceData,
    UserRef,
)
from workcity_notifications.domain.batch import PendingDue, pair_key, plan

C1, C2 = "c" * 24, "d" * 24
CUSTOMER = UserRef(id="u-customer", email="customer@x.test", role="customer")
AGENT = UserRef(id="u-agent", email="agent@x.test", role="agent")
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DELAY = timedelta(minutes=2)


def created(conversation: str, seq: int, sender: UserRef = CUSTOMER) -> MessageCreated:
    at = T0 + timedelta(seconds=seq)
    return MessageCreated(
        producer="conversations",
        data=MessageEventData(
            message=MessageData(
                id=f"{conversation}-{seq}",
                conversation_id=conversation,
                seq=seq,
                sender=sender,
                text=f"text {seq}",
                created_at=at,
                updated_at=at,
            ),
            participant_ids=[CUSTOMER.id, AGENT.id],
        ),
    )


def test_a_busy_conversation_asks_for_one_wake_up_per_recipient() -> None:
    events = [created(C1, 1), created(C1, 2, AGENT), created(C1, 3), created(C2, 1)]
    result = plan(events, {}, delay=DELAY)
    assert set(result.wakes) == {
        pair_key(C1, AGENT.id),
        pair_key(C1, CUSTOMER.id),
        pair_key(C2, AGENT.id),
    }
    to_agent = result.wakes[pair_key(C1, AGENT.id)]
    # Due a delay after the first message it is for; it covers seqs 1..3 of the batch.
    assert to_agent.due_at == T0 + timedelta(seconds=1) + DELAY
    assert (to_agent.first_seq, to_agent.last_seq) == (1, 3)
    assert result.wakes[pair_key(C1, CUSTOMER.id)].first_seq == 2
    assert result.senders.keys() == {CUSTOMER.id, AGENT.id}


def test_messages_before_a_pending_wake_up_need_no_write() -> None:
    pending = {pair_key(C1, AGENT.id): T0 + timedelta(seconds=30)}
    result = plan([created(C1, 5), created(C1, 29)], pending, delay=DELAY)
    assert result.wakes == {}


def test_a_message_at_or_after_the_pending_due_time_asks_again() -> None:
    # That wake-up may already have asked before this message was stored.
    pending = {pair_key(C1, AGENT.id): T0 + timedelta(seconds=30)}
    result = plan([created(C1, 29), created(C1, 30), created(C1, 31)], pending, delay=DELAY)
    wake = result.wakes[pair_key(C1, AGENT.id)]
    assert (wake.first_seq, wake.last_seq) == (30, 31)
    assert wake.due_at == T0 + timedelta(seconds=30) + DELAY


def test_reads_and_deletions_are_ignored_presence_kept_others_reported() -> None:
    at = T0 + timedelta(seconds=5)
    events = [
        MessageRead(
            producer="conversations",
            data=MessageReadData(
                conversation_id=C1,
                user_id=AGENT.id,
                seq=3,
                read_at=at,
                participant_ids=[CUSTOMER.id, AGENT.id],
            ),
        ),
        MessageDeleted(
            producer="conversations",
            data=MessageDeletedData(
                conversation_id=C1, message_id="m", seq=1, participant_ids=[AGENT.id]
            ),
        ),
        PresenceChanged(producer="realtime", data=PresenceData(user_id=AGENT.id, online=True)),
    ]
    result = plan(events, {}, delay=DELAY)
    assert result.wakes == {} and result.unexpected == []
    assert result.presence[AGENT.id][0] is True


def test_the_memory_forgets_past_wake_ups() -> None:
    memory = PendingDue()
    memory.remember({"a": T0, "b": T0 + DELAY})
    memory.forget_before(T0 + timedelta(seconds=1))
    assert dict(memory.view()) == {"b": T0 + DELAY}
