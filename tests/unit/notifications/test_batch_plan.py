"""domain/batch.plan: a batch of events gives the same schedule as the events one by one."""

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
from workcity_notifications.domain.batch import pair_key, plan, recipient_keys

C1, C2 = "c" * 24, "d" * 24
CUSTOMER = UserRef(id="u-customer", email="customer@x.test", role="customer")
AGENT = UserRef(id="u-agent", email="agent@x.test", role="agent")
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DELAY, WINDOW = timedelta(minutes=2), timedelta(minutes=10)


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


def read(conversation: str, user: UserRef, seq: int) -> MessageRead:
    return MessageRead(
        producer="conversations",
        data=MessageReadData(
            conversation_id=conversation,
            user_id=user.id,
            seq=seq,
            read_at=T0,
            participant_ids=[CUSTOMER.id, AGENT.id],
        ),
    )


def deleted(conversation: str, seq: int) -> MessageDeleted:
    return MessageDeleted(
        producer="conversations",
        data=MessageDeletedData(
            conversation_id=conversation,
            message_id=f"{conversation}-{seq}",
            seq=seq,
            participant_ids=[CUSTOMER.id, AGENT.id],
        ),
    )


def test_reads_and_deletes_in_the_batch_cancel_what_it_added() -> None:
    events = [
        created(C1, 1),
        created(C1, 2),
        read(C1, AGENT, 1),
        created(C1, 3),
        created(C1, 4),
        deleted(C1, 4),
        created(C2, 1),
        read(C2, AGENT, 1),
    ]
    result = plan(events, {}, {}, delay=DELAY, window=WINDOW)
    agent_c1 = pair_key(C1, AGENT.id)
    assert [m.seq for m in result.adds[agent_c1].messages] == [2, 3]
    # Due from the batch's first added message (seq 1 was added, then read: the time stays).
    assert result.adds[agent_c1].due_at == T0 + timedelta(seconds=1) + DELAY
    assert pair_key(C2, AGENT.id) not in result.adds  # read within the batch
    assert result.reads == {
        pair_key(C1, CUSTOMER.id): 4,  # the sender has read their own messages
        agent_c1: 1,
        pair_key(C2, CUSTOMER.id): 1,
        pair_key(C2, AGENT.id): 1,
    }
    assert result.deleted == {C1: {f"{C1}-4"}}
    assert result.senders == {CUSTOMER.id: CUSTOMER}


def test_stored_reads_and_the_window_count() -> None:
    agent_c1 = pair_key(C1, AGENT.id)
    events = [created(C1, 5), created(C1, 6)]
    assert recipient_keys(events) == {agent_c1}
    sent = T0 - timedelta(minutes=1)
    result = plan(events, {agent_c1: 5}, {agent_c1: sent}, delay=DELAY, window=WINDOW)
    assert [m.seq for m in result.adds[agent_c1].messages] == [6]  # 5 was read already
    assert result.adds[agent_c1].due_at == sent + WINDOW  # not within the last email's window


def test_the_last_presence_of_a_user_wins_and_strange_events_are_reported() -> None:
    online = PresenceChanged(
        producer="realtime", data=PresenceData(user_id=AGENT.id, online=True, last_seen=None)
    )
    offline = PresenceChanged(
        producer="realtime", data=PresenceData(user_id=AGENT.id, online=False, last_seen=T0)
    )
    result = plan([online, offline], {}, {}, delay=DELAY, window=WINDOW)
    assert result.presence == {AGENT.id: (False, offline.occurred_at)}
    assert result.adds == {} and result.unexpected == []
