"""Read positions and unread counts, all from per-conversation sequence numbers.

Every message has a `seq` (1, 2, 3, ...). A participant's read position is the highest seq they
have read; it only moves forward. Unread = messages after the read position, less deleted ones.
Deleted seqs are kept on the conversation only while some participant's position is below them
(once everyone has read past a seq, it can no longer change anyone's count).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def next_read_position(current: int, requested: int | None, last_seq: int) -> int:
    """Where a read mark moves: `None` means everything so far; past the end counts as the end;
    never backwards."""
    target = last_seq if requested is None else min(requested, last_seq)
    return max(current, target)


def unread_count(last_seq: int, read_seq: int, deleted_seqs: Iterable[int]) -> int:
    if read_seq >= last_seq:
        return 0
    deleted_after = sum(1 for seq in set(deleted_seqs) if read_seq < seq <= last_seq)
    return max(0, last_seq - read_seq - deleted_after)


def lowest_read_position(participants: Iterable[str], reads: Mapping[str, int]) -> int:
    """Deleted seqs at or below this no longer matter to anyone's unread count."""
    return min((reads.get(p, 0) for p in participants), default=0)


def deleted_seq_matters(seq: int, participants: Iterable[str], reads: Mapping[str, int]) -> bool:
    return seq > lowest_read_position(participants, reads)


def unread_from(read_seq: int, handled_seq: int) -> int:
    """Messages after this seq are unread and not yet handled by the asker (the notifications
    service's last email or drop)."""
    return max(read_seq, handled_seq, 0)
