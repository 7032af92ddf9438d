"""The fault drills' checker (bench/drills/checker.py): every kind of loss, duplicate and
disorder it must find, from hand-made records."""

from __future__ import annotations

from bench.drills.checker import (
    Delivery,
    Outage,
    SendRecord,
    StoredMessage,
    check,
    out_of_order,
    per_second,
    recovery_time,
    seq_gaps,
)

CONV = "c1"
ALICE, BOB = "alice", "bob"
PARTICIPANTS = {CONV: (ALICE, BOB)}


def sent(n: int, *, at: float = 0.0, acked_after: float | None = 0.05) -> SendRecord:
    record = SendRecord(f"cid{n}", CONV, ALICE, first_at=at, attempts=1)
    if acked_after is not None:
        record.acked_at = at + acked_after
        record.message_id, record.seq = f"m{n}", n
    return record


def stored(n: int, client_id: str | None = None) -> StoredMessage:
    return StoredMessage(f"m{n}", CONV, n, ALICE, client_id or f"cid{n}")


def got(user: str, n: int, *, live: bool = True, at: float = 0.1, connection: int = 1) -> Delivery:
    return Delivery(user, CONV, f"m{n}", n, at, live, connection)


def everyone_got(ns: range) -> list[Delivery]:
    return [got(user, n, at=n * 0.01 + 0.1) for n in ns for user in (ALICE, BOB)]


def test_a_clean_run_passes_and_counts_everything() -> None:
    figures = check(
        [sent(n) for n in range(1, 4)],
        [stored(n) for n in range(1, 4)],
        everyone_got(range(1, 4)),
        PARTICIPANTS,
    )
    assert figures.passed
    assert (figures.acknowledged, figures.stored, figures.expected_deliveries) == (3, 3, 6)
    assert (figures.delivered_live, figures.delivered_catch_up) == (6, 0)
    assert figures.lost == figures.duplicated == figures.out_of_order == 0
    assert figures.recovered_s is None  # no fault, nothing to recover from


def test_acknowledged_but_not_stored_is_lost() -> None:
    figures = check([sent(1), sent(2)], [stored(1)], [got(ALICE, 1), got(BOB, 1)], PARTICIPANTS)
    assert figures.lost_not_stored == 1
    assert not figures.passed
    assert "cid2 acknowledged as m2, not stored" in figures.lost_examples[0]


def test_stored_but_never_reaching_a_participant_is_lost_and_catch_up_is_not() -> None:
    deliveries = [got(ALICE, 1), got(BOB, 1), got(ALICE, 2), got(BOB, 2, live=False)]
    deliveries += [got(ALICE, 3)]  # bob never gets message 3, live or by sync
    figures = check(
        [sent(n) for n in (1, 2, 3)], [stored(n) for n in (1, 2, 3)], deliveries, PARTICIPANTS
    )
    assert (figures.delivered_live, figures.delivered_catch_up) == (4, 1)
    assert figures.lost_not_delivered == 1
    assert figures.lost_examples == ["c1#3 never reached bob"]


def test_stored_twice_and_shown_twice_are_duplicates() -> None:
    # The same clientMessageId stored as two messages; message 1 arrives live twice at bob.
    figures = check(
        [sent(1), sent(2)],
        [stored(1), stored(2), stored(3, client_id="cid2")],
        [*everyone_got(range(1, 4)), got(BOB, 1, at=0.5)],
        PARTICIPANTS,
    )
    assert figures.duplicated_stored == 1
    assert figures.shown_twice == 1
    assert figures.duplicated == 2


def test_a_message_received_live_and_again_by_catch_up_is_not_a_duplicate() -> None:
    deliveries = [*everyone_got(range(1, 2)), got(BOB, 1, live=False, at=1.0, connection=2)]
    figures = check([sent(1)], [stored(1)], deliveries, PARTICIPANTS)
    assert figures.duplicated == 0
    assert figures.passed


def test_out_of_order_is_per_connection_and_ignores_catch_up() -> None:
    deliveries = [
        got(BOB, 2, at=1.0),
        got(BOB, 1, at=1.1),  # below 2 on the same connection: out of order
        got(BOB, 1, at=1.2, connection=2),  # a new connection starts afresh
        got(ALICE, 3, at=1.0),
        got(ALICE, 2, at=1.1, live=False),  # catch-up fills in below: fine
    ]
    assert out_of_order(deliveries) == 1


def test_seq_gaps_count_missing_and_repeated_positions() -> None:
    assert seq_gaps([stored(1), stored(2), stored(3)]) == 0
    assert seq_gaps([stored(1), stored(3)]) == 1
    assert seq_gaps([stored(1), stored(2), StoredMessage("x", CONV, 2, BOB, None)]) == 1


def test_an_ack_naming_another_message_fails_the_drill() -> None:
    record = sent(1)
    record.conflicting_acks = 1
    figures = check([record], [stored(1)], everyone_got(range(1, 2)), PARTICIPANTS)
    assert figures.conflicting_acks == 1
    assert not figures.passed


def test_recovery_is_the_end_of_the_last_mostly_slow_second_or_the_last_reconnect() -> None:
    fault = 10.0
    sends = [sent(n, at=9.0 + n * 0.1) for n in range(10)]  # prompt before the fault
    sends += [sent(100 + n, at=10.0 + n * 0.1, acked_after=4.0) for n in range(10)]  # slow 0..1 s
    sends += [sent(200 + n, at=11.0 + n * 0.1, acked_after=3.0) for n in range(10)]  # slow 1..2 s
    sends += [sent(300, at=12.5, acked_after=1.5)]  # one slow one in a prompt second
    sends += [sent(400 + n, at=12.0 + n * 0.1) for n in range(10)]
    assert recovery_time(sends, [], fault) == 2.0
    # A client back only 3.5 s after the fault sets the time instead.
    assert recovery_time(sends, [Outage(BOB, 10.2, 13.5)], fault) == 3.5
    # Unaffected: 0. Never acknowledged or never back: it did not recover.
    assert recovery_time([sent(1, at=11.0)], [], fault) == 0.0
    assert recovery_time([sent(1, at=11.0, acked_after=None)], [], fault) is None
    assert recovery_time([sent(1, at=11.0)], [Outage(BOB, 10.5, None)], fault) is None


def test_a_send_waiting_when_the_fault_struck_counts_from_the_fault() -> None:
    waiting = sent(1, at=9.5, acked_after=5.0)  # answered at 14.5, long after the fault at 10
    assert recovery_time([waiting], [], 10.0) == 1.0


def test_per_second_rows() -> None:
    rows = per_second(
        [sent(1, at=0.2), sent(2, at=0.7, acked_after=2.0), sent(3, at=1.5, acked_after=None)], 0.0
    )
    assert rows == [
        {"second": 0, "sends": 2, "prompt": 1, "slowest_ms": 2000},
        {"second": 1, "sends": 1, "prompt": 0, "slowest_ms": None},
    ]


def test_recovery_waits_for_deliveries_too() -> None:
    # Acknowledged at once, but the broker was down: delivered 5 s late in the first second.
    sends = [sent(n, at=10.0 + n * 0.1) for n in range(10)]
    sends += [sent(n, at=11.0 + (n - 10) * 0.1) for n in range(10, 20)]
    late = {f"m{n}": 15.0 for n in range(10)} | {f"m{n}": 11.5 for n in range(10, 20)}
    assert recovery_time(sends, [], 10.0) == 0.0
    assert recovery_time(sends, [], 10.0, late) == 1.0
    # Never delivered counts as slow (the loss itself is counted as lost).
    assert recovery_time(sends, [], 10.0, {**late, **{f"m{n}": None for n in range(10, 20)}}) == 2.0


def test_the_fault_and_the_slow_delivery_show_in_the_figures() -> None:
    deliveries = [got(ALICE, 1, at=10.1), got(BOB, 1, at=14.0)]
    figures = check([sent(1, at=10.0)], [stored(1)], deliveries, PARTICIPANTS, fault_at=10.0)
    assert figures.recovered_s == 1.0
    assert figures.passed  # late is not lost
