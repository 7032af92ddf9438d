"""The seq claim of a send group: one conditional update per conversation that claims its sends'
seqs and moves the senders' read positions, planned with the messages, answers and events from
the state this process knows of each conversation (`domain.sends` does the arithmetic).

The claim holds only if the conversation is still as planned (its `last_seq`, participants and
the senders' read positions, and its status when a customer sends): another process's write in
between makes it change nothing, which the caller sees in the modified count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import UpdateOne
from workcity_common.database import Document
from workcity_common.events import Event

from workcity_conversations.adapters.conversation_docs import (
    message_from_doc,
    new_message_doc,
    oid,
)
from workcity_conversations.domain import desk
from workcity_conversations.domain.model import Attachment, Conversation, Message
from workcity_conversations.domain.sends import NewMessage, last_send_of_each_sender, plan_sends
from workcity_conversations.service_layer.ports import SendEvents


@dataclass(eq=False)
class QueuedSend:
    """One queued send and where its outcome goes."""

    conversation_id: str
    message_id: ObjectId
    sender_id: str
    text: str
    client_message_id: str | None
    now: datetime
    attachments: Sequence[Attachment]
    events: SendEvents
    result: asyncio.Future[tuple[Conversation, Message]]
    # A customer's message starts the desk's wait, a staff member's ends it (`waiting_since`).
    from_customer: bool = False
    abandoned: bool = False

    @property
    def new_message(self) -> NewMessage:
        return NewMessage(str(self.message_id), self.sender_id, self.now, self.from_customer)

    def settle(self, outcome: tuple[Conversation, Message] | BaseException) -> None:
        if self.result.done():
            return
        if isinstance(outcome, BaseException):
            self.result.set_exception(outcome)
            if self.abandoned:
                self.result.exception()  # nobody waits for it: mark it retrieved
        else:
            self.result.set_result(outcome)


def claim(state: Conversation, sends: Sequence[QueuedSend], namespace: str) -> UpdateOne:
    """The update that claims `len(sends)` seqs of a conversation and moves each sender's read
    position to their last message, if the conversation is still as `state` says (its
    `last_seq` and the senders' read positions); otherwise it changes nothing, which the caller
    sees in the modified count. The condition is inside the update rather than in its filter:
    a filter of `_id` alone is a point lookup on every server."""
    offset = last_send_of_each_sender([send.new_message for send in sends])
    last_of = {send.sender_id: send for send in sends}
    unchanged: list[Document] = [
        {"$eq": ["$last_seq", state.last_seq]},
        # Participants only grow (the desk adds an assignee): the same count, the same people.
        {"$eq": [{"$size": "$participants"}, len(state.participants)]},
    ]
    if any(send.from_customer for send in sends):
        # The caller reopens a pending, snoozed or resolved conversation after a customer's
        # message on the status this send saw: it must be the stored one (the desk's writes
        # do not pass through this process's memory; a stale one is re-read, see SendQueue).
        unchanged.append({"$eq": [{"$ifNull": ["$status", "open"]}, state.status]})
    for sender in offset:
        # -1 stands for "no read position yet" (stored positions are never negative).
        unchanged.append(
            {"$eq": [{"$ifNull": [f"$reads.{sender}", -1]}, state.reads.get(sender, -1)]}
        )
    positions = [
        {"$add": ["$last_seq", offset[p]]} if p in offset else {"$ifNull": [f"$reads.{p}", 0]}
        for p in state.participants
    ]
    newest = sends[-1]

    def when_unchanged(value: Any, field: str) -> Document:
        return {"$cond": ["$_claimable", value, f"${field}"]}

    # An update pipeline: the first stage decides, the second reads the document as it was
    # before the update in every expression, the last removes the decision.
    update: Document = {
        "last_seq": when_unchanged({"$add": ["$last_seq", len(sends)]}, "last_seq"),
        "last_message_id": when_unchanged({"$literal": newest.message_id}, "last_message_id"),
        "updated_at": when_unchanged({"$literal": newest.now}, "updated_at"),
        "last_activity": when_unchanged(
            {"$max": ["$last_activity", {"$literal": newest.message_id}]}, "last_activity"
        ),
        "waiting_since": when_unchanged(_waiting_since_after(sends), "waiting_since"),
        # Deleted seqs everyone has now read past no longer matter to any unread count.
        "deleted_seqs": when_unchanged(
            {
                "$filter": {
                    "input": {"$ifNull": ["$deleted_seqs", []]},
                    "as": "seq",
                    "cond": {"$gt": ["$$seq", {"$min": positions}]},
                }
            },
            "deleted_seqs",
        ),
    }
    for sender, index in offset.items():
        update[f"reads.{sender}"] = when_unchanged(
            {"$add": ["$last_seq", index]}, f"reads.{sender}"
        )
        update[f"read_at.{sender}"] = when_unchanged(
            {"$literal": last_of[sender].now}, f"read_at.{sender}"
        )
    return UpdateOne(
        {"_id": oid(state.id)},
        [
            {"$set": {"_claimable": {"$and": unchanged}}},
            {"$set": update},
            {"$unset": "_claimable"},
        ],
        namespace=namespace,
    )


def _waiting_since_after(sends: Sequence[QueuedSend]) -> Any:
    """The stored `waiting_since` after `sends` (desk.wait_after_messages on the server's value:
    a staff message in the group decides it alone; customers' alone keep a running wait)."""
    messages = [(send.from_customer, send.now) for send in sends]
    if all(from_customer for from_customer, _ in messages):
        return {"$ifNull": ["$waiting_since", {"$literal": messages[0][1]}]}
    return {"$literal": desk.wait_after_messages(None, messages)}


@dataclass(frozen=True, slots=True)
class GroupPlan:
    """What a group's transaction writes and answers."""

    claims: list[UpdateOne]
    outcomes: list[tuple[Conversation, Message]]  # per send, in arrival order
    states: list[Conversation]  # each conversation after the group
    events: list[Event]
    message_docs: list[Document]  # in (conversation, seq) order


def plan_group(
    group: Sequence[QueuedSend],
    by_conversation: Mapping[str, Sequence[QueuedSend]],
    known: Mapping[str, Conversation],
    conversations: str,
) -> GroupPlan:
    """The claims (of the collection named `conversations`), outcomes, new conversation states,
    events and message documents of a group, from the state of its conversations before it."""
    claims: list[UpdateOne] = []
    states: dict[str, Conversation] = {}
    outcome_of: dict[int, tuple[Conversation, Message]] = {}
    docs: list[Document] = []
    events_of: dict[int, Sequence[Event]] = {}
    for conversation_id, sends in by_conversation.items():
        state = known[conversation_id]
        claims.append(claim(state, sends, conversations))
        planned = plan_sends(state, [send.new_message for send in sends])
        for send, sent in zip(sends, planned, strict=True):
            doc = new_message_doc(
                oid(conversation_id),
                sent.seq,
                message_id=send.message_id,
                sender_id=send.sender_id,
                text=send.text,
                attachments=send.attachments,
                client_message_id=send.client_message_id,
                now=send.now,
            )
            docs.append(doc)
            message = message_from_doc(doc)
            outcome_of[id(send)] = (sent.after, message)
            events_of[id(send)] = send.events(sent.after, message, sent.read_before)
            states[conversation_id] = sent.after
    # Messages and events in arrival order (per conversation that is seq order).
    return GroupPlan(
        claims=claims,
        outcomes=[outcome_of[id(send)] for send in group],
        states=list(states.values()),
        events=[event for send in group for event in events_of[id(send)]],
        message_docs=sorted(docs, key=lambda d: (str(d["conversation"]), d["seq"])),
    )
