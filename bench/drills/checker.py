"""The drill checker: accounts for every message of a drill, from three records that never trust
each other — what the clients were acknowledged, what the conversations' histories hold at the
end, and what each client's socket received (live or by catch-up).

Pure: no I/O, so its rules are unit-tested with hand-made records (tests/unit/bench/).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.stats import percentile

# After a fault, the stack has recovered once every send is acknowledged within this long again
# (and every client is connected and caught up).
PROMPT_ACK_S = 1.0
# ... and every message reaches all its participants within this long of its first attempt.
PROMPT_DELIVERY_S = 2.0


@dataclass
class SendRecord:
    """One message a client wanted to send (one `clientMessageId`, however many attempts)."""

    client_id: str
    conversation_id: str
    sender_id: str
    first_at: float
    attempts: int = 0
    acked_at: float | None = None
    message_id: str | None = None
    seq: int | None = None
    # An acknowledgement naming another message than the first one did: idempotency broken.
    conflicting_acks: int = 0
    errors: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Delivery:
    """A message a participant's client received: `live` (newMessage) or by catch-up (sync)."""

    user_id: str
    conversation_id: str
    message_id: str
    seq: int
    at: float
    live: bool
    # Which connection of that client got it (a reconnect starts a new one).
    connection: int


@dataclass(frozen=True)
class StoredMessage:
    message_id: str
    conversation_id: str
    seq: int
    sender_id: str
    client_id: str | None


@dataclass(frozen=True)
class Outage:
    """A client's connection lost at `lost_at`, back and caught up at `back_at` (None: never)."""

    user_id: str
    lost_at: float
    back_at: float | None


@dataclass
class Figures:
    acknowledged: int
    unacknowledged: int
    stored: int
    expected_deliveries: int
    delivered_live: int
    delivered_catch_up: int
    lost_not_stored: int
    lost_not_delivered: int
    duplicated_stored: int
    shown_twice: int
    out_of_order: int
    seq_gaps: int
    conflicting_acks: int
    recovered_s: float | None
    ack_p50_ms: float | None
    ack_p99_ms: float | None
    delivery_p50_ms: float | None
    delivery_p99_ms: float | None
    retried_sends: int
    reconnects: int
    errors: dict[str, int]
    lost_examples: list[str]

    @property
    def lost(self) -> int:
        return self.lost_not_stored + self.lost_not_delivered

    @property
    def duplicated(self) -> int:
        return self.duplicated_stored + self.shown_twice

    @property
    def passed(self) -> bool:
        return (
            self.lost == 0
            and self.unacknowledged == 0
            and self.duplicated == 0
            and self.out_of_order == 0
            and self.seq_gaps == 0
            and self.conflicting_acks == 0
        )

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data.update(lost=self.lost, duplicated=self.duplicated, passed=self.passed)
        return data


def check(
    sends: Sequence[SendRecord],
    stored: Sequence[StoredMessage],
    deliveries: Sequence[Delivery],
    participants: Mapping[str, Sequence[str]],
    outages: Sequence[Outage] = (),
    fault_at: float | None = None,
) -> Figures:
    """`participants`: conversation id -> the user ids whose clients must end up with every
    message of it (each was connected, or reconnected, to the end of the drill)."""
    acked = [s for s in sends if s.message_id is not None]
    by_client_id: dict[str, list[StoredMessage]] = defaultdict(list)
    for message in stored:
        if message.client_id is not None:
            by_client_id[message.client_id].append(message)
    stored_ids = {m.message_id for m in stored}

    lost_not_stored = [s for s in acked if s.message_id not in stored_ids]
    duplicated_stored = sum(len(found) - 1 for found in by_client_id.values() if len(found) > 1)

    received: dict[tuple[str, str], list[Delivery]] = defaultdict(list)
    for delivery in deliveries:
        received[(delivery.user_id, delivery.message_id)].append(delivery)

    live = catch_up = 0
    missing: list[str] = []
    for message in stored:
        for user_id in participants.get(message.conversation_id, ()):
            got = received.get((user_id, message.message_id), [])
            if any(d.live for d in got):
                live += 1
            elif got:
                catch_up += 1
            else:
                missing.append(f"{message.conversation_id}#{message.seq} never reached {user_id}")

    shown_twice = sum(
        sum(1 for d in got if d.live) - 1
        for got in received.values()
        if sum(1 for d in got if d.live) > 1
    )
    first_emit = {s.message_id: s.first_at for s in acked}
    delivery_ms = [
        (d.at - first_emit[d.message_id]) * 1000
        for d in deliveries
        if d.live and d.message_id in first_emit
    ]
    ack_ms = [(s.acked_at - s.first_at) * 1000 for s in acked if s.acked_at is not None]
    errors: Counter[str] = Counter()
    for send in sends:
        errors.update(send.errors)

    return Figures(
        acknowledged=len(acked),
        unacknowledged=len(sends) - len(acked),
        stored=len(stored),
        expected_deliveries=sum(len(participants.get(m.conversation_id, ())) for m in stored),
        delivered_live=live,
        delivered_catch_up=catch_up,
        lost_not_stored=len(lost_not_stored),
        lost_not_delivered=len(missing),
        duplicated_stored=duplicated_stored,
        shown_twice=shown_twice,
        out_of_order=out_of_order(deliveries),
        seq_gaps=seq_gaps(stored),
        conflicting_acks=sum(s.conflicting_acks for s in sends),
        recovered_s=recovery_time(sends, outages, fault_at, everyone_by(received, participants)),
        ack_p50_ms=percentile(ack_ms, 50),
        ack_p99_ms=percentile(ack_ms, 99),
        delivery_p50_ms=percentile(delivery_ms, 50),
        delivery_p99_ms=percentile(delivery_ms, 99),
        retried_sends=sum(1 for s in sends if s.attempts > 1),
        reconnects=len(outages),
        errors=dict(errors),
        lost_examples=[
            f"{s.conversation_id}: {s.client_id} acknowledged as {s.message_id}, not stored"
            for s in lost_not_stored[:5]
        ]
        + missing[:5],
    )


def out_of_order(deliveries: Iterable[Delivery]) -> int:
    """Live deliveries on one connection whose `seq` is below one that connection already got
    for the same conversation."""
    highest: dict[tuple[str, int, str], int] = {}
    count = 0
    for delivery in sorted(deliveries, key=lambda d: d.at):
        if not delivery.live:
            continue
        key = (delivery.user_id, delivery.connection, delivery.conversation_id)
        if delivery.seq < highest.get(key, 0):
            count += 1
        highest[key] = max(highest.get(key, 0), delivery.seq)
    return count


def seq_gaps(stored: Iterable[StoredMessage]) -> int:
    """Positions missing or taken twice in each conversation's 1, 2, 3, ... (nothing is deleted
    during a drill, so the history must be exactly that)."""
    seqs: dict[str, list[int]] = defaultdict(list)
    for message in stored:
        seqs[message.conversation_id].append(message.seq)
    gaps = 0
    for values in seqs.values():
        distinct = set(values)
        gaps += len(values) - len(distinct)  # a seq taken twice
        gaps += max(distinct) - len(distinct)  # a seq never taken
    return gaps


def everyone_by(
    received: Mapping[tuple[str, str], Sequence[Delivery]],
    participants: Mapping[str, Sequence[str]],
) -> dict[str, float | None]:
    """Message id -> when the last of its conversation's participants had it (None: one never
    did)."""
    latest: dict[str, float | None] = {}
    firsts: dict[tuple[str, str], float] = {
        key: min(d.at for d in got) for key, got in received.items() if got
    }
    conversation_of = {
        message_id: got[0].conversation_id for (_, message_id), got in received.items() if got
    }
    for message_id, conversation_id in conversation_of.items():
        times = [firsts.get((user, message_id)) for user in participants.get(conversation_id, ())]
        latest[message_id] = None if None in times else max(t for t in times if t is not None)
    return latest


def recovery_time(
    sends: Sequence[SendRecord],
    outages: Sequence[Outage],
    fault_at: float | None,
    delivered_at: Mapping[str, float | None] | None = None,
) -> float | None:
    """Seconds from the fault until the stack served as before: messages first tried from then on
    were mostly (at least half in every second) acknowledged within PROMPT_ACK_S and, when
    `delivered_at` is given (message id -> when its last participant had it), received by all
    within PROMPT_DELIVERY_S; and every client that lost its connection was back and caught up.
    A lone slow message on a busy machine does not count; a second in which most were slow does.
    0 when nothing was slowed; None when it never recovered (a send never acknowledged, a client
    never back)."""

    def prompt(send: SendRecord) -> bool:
        if (send.acked_at or 0) - send.first_at > PROMPT_ACK_S:
            return False
        if delivered_at is None:
            return True
        at = delivered_at.get(send.message_id or "")
        return at is not None and at - send.first_at <= PROMPT_DELIVERY_S

    if fault_at is None:
        return None
    buckets: dict[int, list[SendRecord]] = defaultdict(list)
    for send in sends:
        if send.acked_at is None:
            return None
        if send.acked_at > fault_at:
            # Sends still waiting when the fault struck count from the fault's first second.
            buckets[int(max(send.first_at, fault_at) - fault_at)].append(send)
    back = 0.0
    for second, group in buckets.items():
        if sum(1 for s in group if prompt(s)) < len(group) / 2:
            back = max(back, second + 1.0)
    for outage in outages:
        if outage.lost_at < fault_at:
            continue
        if outage.back_at is None:
            return None
        back = max(back, outage.back_at - fault_at)
    return back


def per_second(sends: Sequence[SendRecord], started: float) -> list[dict[str, Any]]:
    """Each second of the load (by first attempt): sends, how many were acknowledged within
    PROMPT_ACK_S, and the slowest acknowledgement (None: one was never acknowledged)."""
    seconds: dict[int, list[SendRecord]] = defaultdict(list)
    for send in sends:
        seconds[int(send.first_at - started)].append(send)
    rows = []
    for second in sorted(seconds):
        group = seconds[second]
        waits = [s.acked_at - s.first_at for s in group if s.acked_at is not None]
        rows.append(
            {
                "second": second,
                "sends": len(group),
                "prompt": sum(1 for w in waits if w <= PROMPT_ACK_S),
                "slowest_ms": round(max(waits) * 1000) if len(waits) == len(group) else None,
            }
        )
    return rows
