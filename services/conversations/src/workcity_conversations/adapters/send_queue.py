"""Sends committed in groups.

While one transaction runs, the sends that arrive (for any conversation) queue up, and the next
transaction stores them all, however many messages and conversations it holds: its writes claim
every conversation's seqs and move the senders' read positions (adapters/send_claim.py), store the
messages and the outbox entry with their events, in one client-level `bulkWrite`
(workcity_common.bulk) for a small group or one bulk per collection for a large one, then the
commit. The claim needs each conversation's `last_seq` and the senders' read positions before the
write; the queue plans from the last state this process knows of each conversation and makes the
claim conditional on it. A conversation another process changed meanwhile fails the condition: the
transaction is aborted and the group is tried again, planned this time from those conversations as
read inside the transaction (a later write by the other process is then a write conflict, which the
transaction retry handles). Sends of one process never conflict with each other on a conversation
document.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError
from workcity_common.bulk import MultiCollectionWriter, Targeted, insert
from workcity_common.database import Document
from workcity_common.outbox import Outbox, StagedEntry

from workcity_conversations.adapters.conversation_docs import reuses_client_id, reuses_seq
from workcity_conversations.adapters.conversation_states import ConversationStates
from workcity_conversations.adapters.send_claim import QueuedSend, plan_group
from workcity_conversations.domain.errors import Busy, NotFound
from workcity_conversations.domain.model import Conversation, Message
from workcity_conversations.service_layer.ports import DuplicateClientMessage

T = TypeVar("T")

# Most sends stored by one transaction.
MAX_SEND_GROUP = 128
# A group is tried this often when other processes keep changing its conversations.
CLAIM_ATTEMPTS = 3
# A group of at most this many sends is written in one request (`bulkWrite`), a larger one with
# one per collection: SecantusDB's server CPU per message, one request against one per
# collection (bench/RESULTS.md, issue 12): 2.5 against 3.3 ms for a group of 1, even at 5,
# 1.1 against 0.85 at 50. On MongoDB either way costs about the same per write.
ONE_REQUEST_MAX_SENDS = 3

Outcomes = list[tuple[Conversation, Message]]


class _Conflicted(Exception):
    """A transaction still meeting write conflicts after the commit timeout: a transaction that
    will not finish soon (one a killed process left open until the server reaps it) holds a
    conversation of the group."""


class _StaleState(Exception):
    """A conversation changed since this process last saw it (another process wrote to it)."""

    def __init__(self) -> None:
        super().__init__("conversation state changed")


class SendQueue:
    def __init__(
        self,
        messages: AsyncCollection[Document],
        outbox: Outbox,
        states: ConversationStates,
        write_lock: asyncio.Lock,
        *,
        max_queued_sends: int,
        commit_timeout_s: float,
        set_aside_max_s: float,
    ) -> None:
        self._messages = messages
        self._conversations = states.collection
        self._outbox = outbox
        self._writer = MultiCollectionWriter(messages.database.client)
        self._states = states
        # Shared with the store's read marks: one transaction of the store at a time.
        self._write_lock = write_lock
        self._queued: list[QueuedSend] = []
        self._max_queued = max_queued_sends
        # A group's transaction retried on write conflicts past this is given up (the driver
        # would retry for 120 s while every other send waits behind the write lock).
        self._commit_timeout_s = commit_timeout_s
        # conversation id -> (until when its sends are answered `busy` at once, how long the
        # last setting aside was): doubled while it stays locked, up to set_aside_max_s.
        self._set_aside: dict[str, tuple[float, float]] = {}
        self._set_aside_max_s = set_aside_max_s

    async def submit(self, send: QueuedSend) -> tuple[Conversation, Message]:
        """Queue a send; whoever holds the write lock commits everything queued, so this returns
        once a transaction that held this send has committed. Raises `Busy` when
        `max_queued_sends` are waiting already."""
        if len(self._queued) >= self._max_queued:
            raise Busy
        self._queued.append(send)
        try:
            async with self._write_lock:
                # Sends started together (a realtime replica's batch, one task each, in order)
                # queue up in this one pass of the event loop: the first one to hold the lock
                # would otherwise commit alone and the rest in a second transaction.
                await asyncio.sleep(0)
                while not send.result.done():
                    group = self._queued[:MAX_SEND_GROUP]
                    del self._queued[:MAX_SEND_GROUP]
                    if not group:
                        break  # ours is in a group an interrupted holder left committing
                    # Shielded: the group's other senders wait for it even if we are cancelled.
                    await asyncio.shield(asyncio.ensure_future(self._commit_group(group)))
        except BaseException:
            send.abandoned = True
            if send in self._queued:
                self._queued.remove(send)
            raise
        return await send.result

    async def _commit_group(self, group: list[QueuedSend]) -> None:
        """Commit `group` in one transaction and settle every send in it (never raises). A group
        of several that fails is tried again one send at a time, so only the send at fault (a
        reused client id, a deleted conversation, a conversation locked by a transaction that
        will not finish) fails."""
        now = asyncio.get_running_loop().time()
        if len(self._set_aside) > 1000:  # bounded: forget pauses already over
            self._set_aside = {k: v for k, v in self._set_aside.items() if v[0] > now}
        aside = [s for s in group if self._set_aside.get(s.conversation_id, (0.0, 0.0))[0] > now]
        for send in aside:
            send.settle(Busy())
        group = [s for s in group if s not in aside]
        if not group:
            return
        try:
            outcomes = await self._store_group(group)
        except Exception as exc:
            # Whatever the transaction did, what this process remembers of these conversations
            # may be wrong now.
            for conversation_id in {send.conversation_id for send in group}:
                self._states.forget(conversation_id)
            if len(group) > 1:
                for send in group:
                    await self._commit_group([send])
                return
            [send] = group
            if isinstance(exc, DuplicateKeyError | BulkWriteError) and reuses_client_id(exc):
                send.settle(DuplicateClientMessage(send.client_message_id or ""))
            elif isinstance(exc, _Conflicted):
                # Answered `busy` (its client retries with the same clientMessageId); its
                # conversation's next sends too for a while, without holding up anyone else.
                last = self._set_aside.get(send.conversation_id, (0.0, 0.0))[1]
                pause = min(self._set_aside_max_s, max(self._commit_timeout_s, 2 * last))
                until = asyncio.get_running_loop().time() + pause
                self._set_aside[send.conversation_id] = (until, pause)
                send.settle(Busy())
            else:
                send.settle(exc)
        else:
            for send, outcome in zip(group, outcomes, strict=True):
                self._set_aside.pop(send.conversation_id, None)
                send.settle(outcome)

    async def _store_group(self, group: Sequence[QueuedSend]) -> Outcomes:
        conversation_ids = list(dict.fromkeys(send.conversation_id for send in group))
        await self._states.load([c for c in conversation_ids if c not in self._states.known])
        missing = [c for c in conversation_ids if c not in self._states.known]
        if missing:
            raise NotFound("Conversation not found")
        for attempt in range(CLAIM_ATTEMPTS):
            # The first attempt plans from what this process remembers (no read). Once that was
            # stale, another process is writing these conversations too: plan from a read inside
            # the transaction, so a write that lands after it is a write conflict, which
            # with_transaction retries, instead of a lost race (rereading outside the
            # transaction can lose to the other process every time).
            try:
                outcomes, latest = await self._outbox.commit(
                    self._within_commit_timeout(self._claim_and_insert(group, reread=attempt > 0))
                )
            except _StaleState:
                if attempt == CLAIM_ATTEMPTS - 1:
                    raise
                continue
            for conversation in latest:
                self._states.remember(conversation)
            return outcomes
        raise AssertionError("unreachable")

    def _within_commit_timeout(
        self, work: Callable[[AsyncClientSession], Awaitable[T]]
    ) -> Callable[[AsyncClientSession], Awaitable[T]]:
        """`work`, refused once the commit timeout has passed since its first attempt: the
        driver calls it again after each write conflict, and stops at an error of another kind
        (aborting the transaction)."""
        deadline = asyncio.get_running_loop().time() + self._commit_timeout_s

        async def bounded(session: AsyncClientSession) -> T:
            if asyncio.get_running_loop().time() > deadline:
                raise _Conflicted
            return await work(session)

        return bounded

    def _claim_and_insert(
        self, group: Sequence[QueuedSend], *, reread: bool
    ) -> Callable[
        [AsyncClientSession],
        Awaitable[tuple[tuple[Outcomes, list[Conversation]], StagedEntry]],
    ]:
        """The transaction of a group: planned from the remembered state of its conversations,
        or with `reread` from their state read in the transaction."""
        by_conversation: dict[str, list[QueuedSend]] = {}
        for send in group:
            by_conversation.setdefault(send.conversation_id, []).append(send)

        async def work(
            session: AsyncClientSession,
        ) -> tuple[tuple[Outcomes, list[Conversation]], StagedEntry]:
            known: Mapping[str, Conversation] = self._states.known
            if reread:
                known = await self._states.read(by_conversation, session)
                if len(known) != len(by_conversation):
                    raise NotFound("Conversation not found")
            plan = plan_group(group, by_conversation, known, self._conversations.full_name)
            entry = self._outbox.stage(plan.events)
            writes: list[Targeted] = [(self._conversations, claim) for claim in plan.claims]
            writes += [insert(self._messages, doc) for doc in plan.message_docs]
            writes.append(entry.write)
            # Every claim that held changes `last_seq`; one that did not changes nothing, and
            # its messages are written anyway (one request) unless their seqs are taken: either
            # way the transaction is aborted and the group planned again.
            try:
                modified = await self._writer.write(
                    writes, session, together=len(group) <= ONE_REQUEST_MAX_SENDS
                )
            except BulkWriteError as exc:
                if reuses_seq(exc):
                    raise _StaleState from exc
                raise
            if modified != len(plan.claims):
                raise _StaleState
            return (plan.outcomes, plan.states), entry

        return work
