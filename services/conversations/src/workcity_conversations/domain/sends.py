"""What sends do to a conversation's seqs and read positions, before anything is stored.

A send takes the conversation's next seq and moves its sender's read position to it (the sender
has read their own message); deleted seqs everyone has now read past no longer matter; the desk's
wait moves by `desk.wait_after_messages`. The store claims the seqs in one write and builds the
messages, answers and events from the states planned here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from workcity_conversations.domain import desk
from workcity_conversations.domain.model import Conversation
from workcity_conversations.domain.reads import lowest_read_position


@dataclass(frozen=True, slots=True)
class NewMessage:
    """One send as the seq arithmetic sees it."""

    message_id: str
    sender_id: str
    sent_at: datetime
    from_customer: bool = False


@dataclass(frozen=True, slots=True)
class PlannedSend:
    """A planned send: its seq, the sender's read position before it, the conversation after."""

    seq: int
    read_before: int
    after: Conversation


def plan_sends(state: Conversation, sends: Sequence[NewMessage]) -> list[PlannedSend]:
    """The sends of one conversation, in order, from its state before the first of them."""
    reads = dict(state.reads)
    read_at = dict(state.read_at)
    deleted = list(state.deleted_seqs)
    waiting = state.waiting_since
    planned: list[PlannedSend] = []
    for index, send in enumerate(sends, start=1):
        seq = state.last_seq + index
        read_before = reads.get(send.sender_id, 0)
        reads[send.sender_id] = seq
        read_at[send.sender_id] = send.sent_at
        lowest = lowest_read_position(state.participants, reads)
        deleted = [x for x in deleted if x > lowest]
        waiting = desk.wait_after_messages(waiting, [(send.from_customer, send.sent_at)])
        after = replace(
            state,
            last_seq=seq,
            updated_at=send.sent_at,
            last_message_id=send.message_id,
            reads=dict(reads),
            read_at=dict(read_at),
            deleted_seqs=tuple(deleted),
            waiting_since=waiting,
        )
        planned.append(PlannedSend(seq=seq, read_before=read_before, after=after))
    return planned


def last_send_of_each_sender(sends: Sequence[NewMessage]) -> dict[str, int]:
    """Each sender's position (1-based) of their last send in `sends`: where the claim moves
    their read position, as an offset from the conversation's `last_seq`."""
    offset: dict[str, int] = {}
    for index, send in enumerate(sends, start=1):
        offset[send.sender_id] = index
    return offset
