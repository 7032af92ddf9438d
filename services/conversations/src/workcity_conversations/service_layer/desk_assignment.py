"""The desk's system side (CONTRACT Part 3 rules): auto-assignment, handing a team's queue out
(the higher priority first, then the longest waiting) to eligible members within their
capacity, and the reopens the system decides: a snooze ending, a customer's message on a
pending, snoozed or resolved conversation. Every change goes through `DeskStore.change`, with
the system as the activity's actor."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from workcity_conversations.domain import desk
from workcity_conversations.domain.errors import NotFound
from workcity_conversations.domain.model import Conversation, Person
from workcity_conversations.service_layer.desk_events import ChangeEvents
from workcity_conversations.service_layer.desk_ports import (
    AtCapacity,
    DeskChanges,
    OpenRequestExists,
    Plan,
)
from workcity_conversations.service_layer.desk_shared import DeskLimits
from workcity_conversations.service_layer.ports import Directory
from workcity_conversations.service_layer.service import ConversationService
from workcity_conversations.service_layer.views import now_ms

log = logging.getLogger(__name__)


class Assigner:
    def __init__(
        self,
        store: DeskChanges,
        directory: Directory,
        conversations: ConversationService,
        limits: DeskLimits,
    ) -> None:
        self._store = store
        self._directory = directory
        self._conversations = conversations
        self.limits = limits
        # Teams being drained by this process right now (another drain of one is redundant).
        self._draining: dict[str, asyncio.Task[None]] = {}

    async def reopen_due_snoozes(self) -> int:
        """Snoozed conversations whose `snoozedUntil` has come reopen; each keeps its assignee
        only if that agent is eligible (available, connected, under capacity), else goes back to
        the queue. Returns how many reopened."""
        now = now_ms()
        reopened = 0
        for due in await self._store.due_snoozes(now, limit=100):
            keep = await self._eligible_capacity(due)
            try:
                changed = await self._reopen(due.id, now, keep)
            except AtCapacity:
                changed = await self._reopen(due.id, now, None)
            if changed is not None:
                reopened += 1
                if changed.team_id and changed.assignee_id is None:
                    self.drain_soon([changed.team_id])
        return reopened

    async def message_sent(
        self, sender: Person, conversation_id: str, seq: int, at: datetime
    ) -> None:
        """After a customer's message on a pending, snoozed or resolved conversation (the only
        messages the service calls this for): it reopens (its assignee kept only if eligible,
        else back to the queue). The wait (`waitingSince`) moved in the send's own transaction.
        Only the latest message decides: a later one's own call covers this one's (their calls
        may run in either order)."""
        current = await self._store.conversation(conversation_id)
        if current is None or current.team_id is None or current.last_seq != seq:
            return
        from_customer = not sender.is_support
        _, changes = desk.message_effect(
            current.status,
            current.waiting_since,
            current.snoozed_until,
            current.assignee_id,
            from_customer=from_customer,
            at=at,
            keep_assignee=True,
        )
        if not changes:
            return
        reopens = "status" in changes
        keep = await self._eligible_capacity(current) if reopens else None
        # A resolved request reopened is the customer's unresolved one in its team again.
        open_key = await self._reopened_key(current) if current.status == "resolved" else None

        def decide(c: Conversation) -> Plan | None:
            # `keep` and `open_key` as they are at this attempt.
            if c.last_seq != seq:
                return None
            kept = keep is not None and keep[0] == c.assignee_id
            fields, changes = desk.message_effect(
                c.status,
                c.waiting_since,
                c.snoozed_until,
                c.assignee_id,
                from_customer=from_customer,
                at=at,
                keep_assignee=kept,
            )
            if not changes:
                return None
            reopening = "status" in changes
            if reopening and open_key is not None and c.status == "resolved":
                fields["open_key"] = open_key
            return Plan(changes=changes, set=fields, claim=keep if kept and reopening else None)

        while True:
            try:
                _, after, plan = await self._store.change(
                    conversation_id, decide, self._events(sender, by_system=True), now_ms()
                )
            except AtCapacity:
                keep = None  # the agent filled up meanwhile: back to the queue
                continue
            except OpenRequestExists:
                if open_key is None:
                    raise
                open_key = None  # the customer opened another request there meanwhile
                continue
            break
        if plan is not None and "status" in plan.changes and after.assignee_id is None:
            self.drain_soon([current.team_id])

    async def _reopened_key(self, conversation: Conversation) -> str | None:
        """The `open_key` of a support request being reopened, unless the customer has another
        unresolved request in its team by now."""
        customer = await self._store.customer_of(conversation.id)
        if customer is None or conversation.team_id is None:
            return None
        key = f"{customer}:{conversation.team_id}"
        return None if await self._store.open_request(key) is not None else key

    async def _eligible_capacity(self, conversation: Conversation) -> tuple[str, int] | None:
        """(assignee, their capacity) when the assignee may keep it, else None."""
        if conversation.assignee_id is None or conversation.team_id is None:
            return None
        team = await self._store.team(conversation.team_id)
        agent = (await self._store.agents_by_id([conversation.assignee_id]))[
            conversation.assignee_id
        ]
        grace = timedelta(seconds=self.limits.presence_grace_s)
        if team is None or agent.availability != "available":
            return None
        if not desk.is_connected(agent, now_ms(), grace):
            return None
        return agent.id, desk.capacity_of(agent, team)

    async def _reopen(
        self, conversation_id: str, now: datetime, keep: tuple[str, int] | None
    ) -> Conversation | None:
        def decide(current: Conversation) -> Plan | None:
            if current.status != "snoozed" or (
                current.snoozed_until is not None and current.snoozed_until > now
            ):
                return None
            fields: dict[str, Any] = {"status": "open", "snoozed_until": None}
            changes = ["status", "snoozedUntil"]
            if keep is None and current.assignee_id is not None:
                fields["assignee"] = None
                changes.append("assignee")
            claim = keep if keep is not None and keep[0] == current.assignee_id else None
            return Plan(changes=changes, set=fields, claim=claim)

        _, after, plan = await self._store.change(conversation_id, decide, self._events(None), now)
        return after if plan is not None else None

    # --- auto-assignment ------------------------------------------------------------------------

    def drain_soon(self, team_ids: Iterable[str]) -> None:
        """Hand out the queues of these teams in the background (capacity may have freed up)."""
        for team_id in team_ids:
            running = self._draining.get(team_id)
            if running is not None and not running.done():
                continue
            task = asyncio.create_task(self._drain_logged(team_id), name=f"drain-{team_id}")
            self._draining[team_id] = task

    async def _drain_logged(self, team_id: str) -> None:
        try:
            await self.drain(team_id)
        except Exception:
            log.exception("draining a team's queue failed", extra={"team": team_id})

    async def close(self) -> None:
        for task in self._draining.values():
            task.cancel()
        await asyncio.gather(*self._draining.values(), return_exceptions=True)

    async def drain_all(self) -> int:
        assigned = 0
        for team in await self._store.all_teams():
            assigned += await self.drain(team.id)
        return assigned

    async def drain(self, team_id: str) -> int:
        """Assign the team's queue, longest waiting first, while an eligible member has room.
        Returns how many were assigned."""
        assigned = 0
        while True:
            team = await self._store.team(team_id)
            if team is None or not team.auto_assign or not team.members:
                return assigned
            conversation = await self._store.next_in_queue(team_id)
            if conversation is None:
                return assigned
            now = now_ms()
            agents = await self._store.agents_by_id(team.members)
            counts = await self._store.open_counts(team.members)
            order = desk.pick_order(
                list(agents.values()),
                counts,
                team,
                now,
                timedelta(seconds=self.limits.presence_grace_s),
            )
            if not order:
                return assigned
            if await self._assign_to_first(conversation, team, order):
                assigned += 1

    async def _assign_to_first(
        self, conversation: Conversation, team: desk.Team, order: Sequence[desk.Agent]
    ) -> bool:
        for agent in order:
            limit = desk.capacity_of(agent, team)

            def decide(
                current: Conversation, agent_id: str = agent.id, cap: int = limit
            ) -> Plan | None:
                if (
                    current.assignee_id is not None
                    or current.status != "open"
                    or current.team_id != team.id
                ):
                    return None  # someone else took it: the loop picks the next one
                return assign_plan(current, agent_id, cap, now_ms())

            try:
                _, _, plan = await self._store.change(
                    conversation.id, decide, self._events(None), now_ms()
                )
            except AtCapacity:
                continue  # filled up meanwhile: the next best agent
            except NotFound:
                return False
            return plan is not None
        return False

    def _events(self, actor: Person | None, *, by_system: bool = False) -> ChangeEvents:
        return ChangeEvents(
            self._store, self._directory, self._conversations, actor, by_system=by_system
        )


def assign_plan(current: Conversation, agent_id: str, cap: int | None, now: datetime) -> Plan:
    counts_open = current.status == "open"
    return Plan(
        changes=["assignee"],
        set={"assignee": agent_id, "assigned_at": now},
        add_participant=agent_id if agent_id not in current.participants else None,
        claim=(agent_id, cap) if counts_open else None,
    )
