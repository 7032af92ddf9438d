"""The seq and read-position arithmetic of sends (domain/sends.py) and of history pages
(`paging.page_span`), without a database: what the store's send groups and history reads plan
from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from workcity_conversations.domain.model import Conversation
from workcity_conversations.domain.paging import MessagePage, page_span
from workcity_conversations.domain.sends import NewMessage, last_send_of_each_sender, plan_sends

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def conversation(**fields: object) -> Conversation:
    base: dict[str, object] = {
        "id": "c1",
        "participants": ("alice", "bob"),
        "last_seq": 4,
        "created_at": T0,
        "updated_at": T0,
    }
    return Conversation(**{**base, **fields})  # type: ignore[arg-type]


def send(sender: str, minute: int, *, customer: bool = False) -> NewMessage:
    return NewMessage(f"m{minute}", sender, T0 + timedelta(minutes=minute), customer)


def test_sends_take_the_next_seqs_and_move_the_senders_read_positions() -> None:
    state = conversation(reads={"alice": 2, "bob": 4})
    planned = plan_sends(state, [send("alice", 1), send("bob", 2), send("alice", 3)])
    assert [p.seq for p in planned] == [5, 6, 7]
    assert [p.read_before for p in planned] == [2, 4, 5]
    last = planned[-1].after
    assert last.last_seq == 7
    assert dict(last.reads) == {"alice": 7, "bob": 6}
    assert last.read_at["bob"] == T0 + timedelta(minutes=2)
    assert last.last_message_id == "m3"
    assert last.updated_at == T0 + timedelta(minutes=3)
    # Each planned state is the conversation right after its own send.
    assert planned[0].after.last_seq == 5 and dict(planned[0].after.reads)["bob"] == 4
    assert state.last_seq == 4  # the state it was planned from is untouched


def test_a_first_send_counts_as_having_read_nothing_before() -> None:
    [planned] = plan_sends(conversation(last_seq=0), [send("alice", 1)])
    assert planned.seq == 1 and planned.read_before == 0


def test_deleted_seqs_are_dropped_once_everyone_has_read_past_them() -> None:
    state = conversation(last_seq=6, reads={"alice": 6, "bob": 1}, deleted_seqs=(2, 5))
    [planned] = plan_sends(state, [send("bob", 1)])
    assert planned.after.deleted_seqs == ()
    [kept] = plan_sends(state, [send("alice", 1)])
    assert kept.after.deleted_seqs == (2, 5)  # bob has still not read past them


def test_the_desk_wait_starts_with_a_customer_and_ends_with_staff() -> None:
    planned = plan_sends(
        conversation(),
        [send("alice", 1, customer=True), send("alice", 2, customer=True), send("bob", 3)],
    )
    assert [p.after.waiting_since for p in planned] == [
        T0 + timedelta(minutes=1),
        T0 + timedelta(minutes=1),
        None,
    ]


def test_last_send_of_each_sender() -> None:
    sends = [send("alice", 1), send("bob", 2), send("alice", 3)]
    assert last_send_of_each_sender(sends) == {"alice": 3, "bob": 2}


def test_page_span_latest_and_before() -> None:
    assert page_span(MessagePage(limit=50), 120) == (71, 120)
    assert page_span(MessagePage(limit=50), 10) == (1, 10)
    assert page_span(MessagePage(limit=3, before_seq=10), 120) == (7, 9)
    assert page_span(MessagePage(limit=3, before_seq=500), 120) == (118, 120)


def test_page_span_after_and_between() -> None:
    assert page_span(MessagePage(limit=5, after_seq=10), 120) == (11, 15)
    assert page_span(MessagePage(limit=5, after_seq=118), 120) == (119, 120)
    assert page_span(MessagePage(limit=50, after_seq=10, before_seq=13), 120) == (11, 12)


def test_page_span_of_an_empty_page_is_none() -> None:
    assert page_span(MessagePage(limit=50), 0) is None
    assert page_span(MessagePage(limit=5, after_seq=120), 120) is None
    assert page_span(MessagePage(limit=5, before_seq=1), 120) is None
    assert page_span(MessagePage(limit=5, after_seq=3, before_seq=4), 120) is None
