from __future__ import annotations

from datetime import UTC, datetime

import pytest
from workcity_conversations.domain.model import Conversation
from workcity_conversations.domain.reads import (
    deleted_seq_matters,
    lowest_read_position,
    next_read_position,
    unread_count,
)


@pytest.mark.parametrize(
    ("current", "requested", "last_seq", "expected"),
    [
        (0, None, 7, 7),  # no seq: everything so far
        (3, 5, 7, 5),  # forward
        (5, 3, 7, 5),  # never backwards
        (5, 5, 7, 5),  # same place
        (2, 99, 7, 7),  # past the end counts as the end
        (0, 0, 0, 0),  # empty conversation
        (7, None, 7, 7),
    ],
)
def test_next_read_position(
    current: int, requested: int | None, last_seq: int, expected: int
) -> None:
    assert next_read_position(current, requested, last_seq) == expected


@pytest.mark.parametrize(
    ("last_seq", "read_seq", "deleted", "expected"),
    [
        (10, 4, [], 6),
        (10, 10, [], 0),
        (10, 4, [5, 9], 4),  # deleted unread messages do not count
        (10, 4, [2, 3], 6),  # deleted read messages are irrelevant
        (10, 4, [4], 6),  # the read position itself is read
        (10, 4, [10], 5),
        (10, 4, [5, 5], 5),  # a repeated seq counts once
        (10, 0, list(range(1, 11)), 0),  # everything deleted
        (0, 0, [], 0),
        (3, 7, [], 0),  # never negative
    ],
)
def test_unread_count(last_seq: int, read_seq: int, deleted: list[int], expected: int) -> None:
    assert unread_count(last_seq, read_seq, deleted) == expected


def test_lowest_read_position_counts_missing_readers_as_zero() -> None:
    assert lowest_read_position(["a", "b"], {"a": 5, "b": 3}) == 3
    assert lowest_read_position(["a", "b"], {"a": 5}) == 0
    assert lowest_read_position([], {}) == 0


def test_a_deleted_seq_matters_only_above_the_slowest_reader() -> None:
    reads = {"a": 5, "b": 3}
    assert deleted_seq_matters(4, ["a", "b"], reads)
    assert not deleted_seq_matters(3, ["a", "b"], reads)
    assert not deleted_seq_matters(1, ["a", "b"], reads)


def test_read_by_is_derived_from_read_positions() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    conv = Conversation(
        id="f" * 24,
        participants=("a", "b"),
        last_seq=5,
        created_at=now,
        updated_at=now,
        reads={"a": 5, "b": 2},
    )
    assert conv.read_by(2) == ["a", "b"]
    assert conv.read_by(3) == ["a"]
    assert conv.read_position("b") == 2
    assert conv.read_position("c") == 0
