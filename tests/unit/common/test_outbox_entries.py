"""How the relay splits work into outbox entries (one per transaction): pure parts."""

from __future__ import annotations

from bson import ObjectId
from workcity_common.events import UserData, UserRegistered
from workcity_common.outbox import Outbox, _published_prefix


def event(n: int) -> UserRegistered:
    return UserRegistered(
        producer="test", data=UserData(id=f"u{n}", email=f"u{n}@example.com", role="customer")
    )


def test_an_entry_is_done_only_when_all_its_events_went_out() -> None:
    sizes = [2, 3, 1]
    assert _published_prefix(sizes, 0) == 0
    assert _published_prefix(sizes, 1) == 0  # half of the first: it goes out again later
    assert _published_prefix(sizes, 2) == 1
    assert _published_prefix(sizes, 4) == 1
    assert _published_prefix(sizes, 5) == 2
    assert _published_prefix(sizes, 6) == 3


def test_the_fast_path_takes_whole_entries_up_to_the_limit() -> None:
    outbox = Outbox(collection=None)  # type: ignore[arg-type]  # the queue alone, no database
    entries = [(ObjectId(), [event(n) for n in range(size)]) for size in (3, 2, 4, 300)]
    outbox._hand_over(entries)
    assert [len(e) for _, e in outbox.take_committed(5)] == [3, 2]
    assert [len(e) for _, e in outbox.take_committed(5)] == [4]
    # An entry bigger than the limit still goes, alone.
    assert [len(e) for _, e in outbox.take_committed(5)] == [300]
    assert outbox.take_committed(5) == []
