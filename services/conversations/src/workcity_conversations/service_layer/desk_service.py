"""The support desk's conversation use cases (CONTRACT Part 3), one method per route
(auto-assignment and the system's reopens: desk_assignment.py; teams and agents: desk_teams.py;
notes, canned responses, activity and satisfaction: modules of their own). Routes call these; they validate with `domain.desk`, authorize with `domain.desk_access`, and
change conversations through their store's `change` (one transaction, events in the outbox). Their
ports: `SupportDeskStore` (desk_ports.py), `Directory` (ports.py) and `TransferNotes` below."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from workcity_common.events import (
    ConversationCreated,
    ConversationEventData,
    ConversationUpdated,
    ConversationUpdatedData,
    Event,
)

from workcity_conversations.domain import csat, desk, desk_access, desk_queue, paging, rules
from workcity_conversations.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from workcity_conversations.domain.model import Conversation, Person
from workcity_conversations.service_layer.desk_assignment import Assigner, assign_plan
from workcity_conversations.service_layer.desk_events import ChangeEvents, actor_ref
from workcity_conversations.service_layer.desk_ports import (
    AlsoWrite,
    InboxQuery,
    OpenRequestExists,
    Plan,
    SupportDeskStore,
    SupportRequest,
)
from workcity_conversations.service_layer.desk_shared import (
    DeskLimits,
    conversation_or_404,
    require_staff_user,
    staff_audience,
)
from workcity_conversations.service_layer.notes_service import NoteLimits
from workcity_conversations.service_layer.ports import Directory
from workcity_conversations.service_layer.service import ConversationService
from workcity_conversations.service_layer.views import PRODUCER, conversation_data, now_ms


class TransferNotes(Protocol):
    """A transfer's note, a private note written in the transfer's transaction
    (notes_service.py)."""

    limits: NoteLimits

    def written_with(self, author: Person, text: Any) -> AlsoWrite: ...


class DeskService:
    def __init__(
        self,
        store: SupportDeskStore,
        directory: Directory,
        conversations: ConversationService,
        limits: DeskLimits | None = None,
        *,
        notes: TransferNotes,
    ) -> None:
        self._notes = notes  # a transfer's note becomes a private note
        self._store = store
        self._directory = directory
        self._conversations = conversations
        self.limits = limits or DeskLimits()
        # Auto-assignment and the system's reopens.
        self.assigner = Assigner(store, directory, conversations, self.limits)

    # --- support conversations ------------------------------------------------------------------

    async def open_support(
        self, caller: Person, body: dict[str, Any]
    ) -> tuple[dict[str, Any], bool]:
        if caller.is_support:
            raise Forbidden("Only customers open support conversations", "customers_only")
        text = body.get("text")
        if text is not None:
            rules.message_text(text, self._conversations.limits.message_max_chars)
        subject = desk.optional_text(body.get("subject"), "subject", desk.SUBJECT_MAX_CHARS)
        order_id = desk.optional_text(body.get("orderId"), "orderId", desk.ORDER_ID_MAX_CHARS)
        if body.get("teamId") is None:
            team = await self._store.default_team()
        else:
            found = await self._store.team(rules.parse_id(body["teamId"], "team"))
            if found is None:
                raise NotFound("Team not found", "team_not_found")
            team = found
        request = SupportRequest(caller.id, team.id, subject, order_id, now_ms())
        open_key = request.open_key
        existing = await self._store.open_request(open_key)
        created = existing is None
        if existing is None:
            audience = await self._staff_audience(team.id, None, [])

            def events(conversation: Conversation) -> list[Event]:
                data = conversation_data(conversation, {caller.id: caller}, {team.id: team.name})
                return [
                    ConversationCreated(
                        producer=PRODUCER, data=ConversationEventData(conversation=data)
                    ),
                    ConversationUpdated(
                        producer=PRODUCER,
                        data=ConversationUpdatedData(
                            conversation=data,
                            changes=["status", "team"],
                            actor=actor_ref(caller),
                            staff_ids=audience,
                            queued_for=list(team.members),
                        ),
                    ),
                ]

            try:
                conversation = await self._store.open_support(request, events)
            except OpenRequestExists:
                existing = await self._store.open_request(open_key)
                if existing is None:
                    raise Conflict("Try again") from None
                created = False
            else:
                self.assigner.drain_soon([team.id])
        if existing is not None:
            conversation = existing
        if created and text is not None:
            await self._conversations.send(caller, conversation.id, text)
        return await self._conversations.get_conversation(caller, conversation.id), created

    # --- the inbox ------------------------------------------------------------------------------

    async def inbox(
        self,
        caller: Person,
        view: str | None,
        status: str | None,
        team_id: str | None,
        limit: str | None,
        cursor: str | None,
    ) -> dict[str, Any]:
        desk_access.require_staff(caller)
        chosen = desk.view(view)
        wanted = desk.status_filter(status)
        size = paging.page_limit(limit, self.limits.inbox_page_default, self.limits.inbox_page_max)
        if chosen == "all":
            desk_access.require_admin(caller)
        mine_teams = await self._store.team_ids_of(caller.id)
        teams = sorted(mine_teams)
        narrowed_to = None
        if team_id is not None:
            narrowed_to = rules.parse_id(team_id, "team")
            if not caller.is_admin and narrowed_to not in mine_teams:
                raise Forbidden("You are not a member of this team", "not_in_team")
            teams = [narrowed_to]
        if chosen == "unassigned":
            desk_queue.parse_cursor(cursor)  # a malformed cursor is a 400
        elif cursor:
            cursor = rules.parse_id(cursor, "cursor")
        page = await self._store.inbox(
            InboxQuery(chosen, caller.id, teams, narrowed_to, wanted, size, cursor)
        )
        items = [await self._conversations.item(c, caller) for c in page.items]
        return {"items": items, "nextCursor": page.next_cursor, "counts": page.counts}

    # --- assignment and status ------------------------------------------------------------------

    async def claim(self, caller: Person, conversation_id: Any) -> dict[str, Any]:
        conversation = await self._conversation(conversation_id)
        desk_access.require_may_claim(
            caller, conversation, await self._store.team_ids_of(caller.id)
        )

        def decide(current: Conversation) -> Plan:
            if current.assignee_id is not None:
                raise Conflict(
                    "This conversation has an assignee",
                    "already_assigned",
                    assignee=current.assignee_id,
                )
            return assign_plan(current, caller.id, None, now_ms())

        await self._store.change(conversation.id, decide, self._events(caller), now_ms())
        return await self._conversations.get_conversation(caller, conversation.id)

    async def set_status(
        self, caller: Person, conversation_id: Any, value: Any, snoozed_until: Any
    ) -> dict[str, Any]:
        new_status = desk.status(value)
        now = now_ms()
        until = desk.snooze_until(snoozed_until, now) if new_status == "snoozed" else None
        conversation = await self._conversation(conversation_id)
        desk_access.require_may_handle(
            caller, conversation, await self._store.team_ids_of(caller.id)
        )

        def decide(current: Conversation) -> Plan | None:
            if current.status == new_status and current.snoozed_until == until:
                return None
            fields: dict[str, Any] = {"status": new_status, "snoozed_until": until}
            changes = ["status"] if current.status != new_status else []
            if current.snoozed_until != until:
                changes.append("snoozedUntil")
            claim = None
            if new_status == "open" and current.assignee_id:
                claim = (current.assignee_id, None)  # a person decided: no capacity check
            if new_status == "resolved" and current.status != "resolved":
                fields["csat"] = csat.asked_on_resolve(current.csat, now)  # by staff: ask
            # A resolved request no longer blocks the customer's next one in that team.
            unset = ["open_key"] if new_status == "resolved" else []
            return Plan(changes=changes, set=fields, unset=unset, claim=claim)

        _, after, plan = await self._store.change(
            conversation.id, decide, self._events(caller), now
        )
        if plan is not None and new_status != "open" and after.team_id:
            self.assigner.drain_soon([after.team_id])  # capacity freed
        return await self._conversations.get_conversation(caller, conversation.id)

    async def assign(
        self, caller: Person, conversation_id: Any, assignee_id: Any, force: Any
    ) -> dict[str, Any]:
        forced = desk.flag(force, "force") if force is not None else False
        target = None if assignee_id is None else rules.parse_id(assignee_id, "assignee")
        conversation = await self._conversation(conversation_id)
        target_teams: set[str] = set()
        limit: int | None = None
        if target is not None:
            await require_staff_user(self._directory, target)
            target_teams = await self._store.team_ids_of(target)
        desk_access.require_may_assign(caller, conversation, target, target_teams, force=forced)
        if target is not None and not forced:
            agent = (await self._store.agents_by_id([target]))[target]
            team = await self._store.team(conversation.team_id) if conversation.team_id else None
            limit = (
                desk.capacity_of(agent, team)
                if team
                else agent.capacity
                if agent.capacity is not None
                else self.limits.default_capacity
            )

        def decide(current: Conversation) -> Plan | None:
            if current.assignee_id == target:
                return None
            if target is None:
                return Plan(changes=["assignee"], set={"assignee": None})
            return assign_plan(current, target, limit, now_ms())

        _, after, plan = await self._store.change(
            conversation.id, decide, self._events(caller), now_ms()
        )
        if plan is not None and after.team_id:
            self.assigner.drain_soon(
                [after.team_id]
            )  # back in the queue, or the old assignee has room
        return await self._conversations.get_conversation(caller, conversation.id)

    async def transfer(
        self, caller: Person, conversation_id: Any, team_id: Any, note: Any
    ) -> dict[str, Any]:
        key = rules.parse_id(team_id, "team")
        text = desk.optional_text(note, "note", self._notes.limits.max_chars)
        conversation = await self._conversation(conversation_id)
        desk_access.require_may_handle(
            caller, conversation, await self._store.team_ids_of(caller.id)
        )
        team = await self._store.team(key)
        if team is None:
            raise NotFound("Team not found", "team_not_found")

        def decide(current: Conversation) -> Plan | None:
            if current.team_id == team.id and current.assignee_id is None:
                return None
            changes = [
                c
                for c, moved in (
                    ("team", current.team_id != team.id),
                    ("assignee", current.assignee_id is not None),
                )
                if moved
            ]
            return Plan(changes=changes, set={"team": team.id, "assignee": None})

        note = self._notes.written_with(caller, text) if text else None
        _, after, plan = await self._store.change(
            conversation.id, decide, self._events(caller), now_ms(), also=note
        )
        if plan is not None:
            self.assigner.drain_soon([t for t in (team.id, conversation.team_id) if t])
        # Not re-checked: a member of the old team may no longer see it, yet moved it.
        return await self._conversations.item(after, caller)

    async def update_fields(
        self, caller: Person, conversation_id: Any, body: dict[str, Any]
    ) -> dict[str, Any]:
        conversation = await self._conversation(conversation_id)
        desk_access.require_staff_sees(
            caller, conversation, await self._store.team_ids_of(caller.id)
        )
        has_priority = "priority" in body
        new_priority = desk.priority(body.get("priority")) if has_priority else None
        add = desk.labels(body.get("addLabels"), self.limits.max_labels)
        remove = desk.labels(body.get("removeLabels"), self.limits.max_labels)
        if not has_priority and not add and not remove:
            raise InvalidInput(
                "invalid_body", "Nothing to change: priority, addLabels, removeLabels"
            )

        def decide(current: Conversation) -> Plan | None:
            # From the labels read in this transaction: concurrent edits both stick.
            labels = [x for x in current.labels if x not in remove]
            labels += [x for x in add if x not in labels]
            if len(labels) > self.limits.max_labels:
                raise InvalidInput("invalid_labels", f"At most {self.limits.max_labels} labels")
            fields: dict[str, Any] = {}
            changes: list[str] = []
            if has_priority and new_priority != current.priority:
                fields["priority"], changes = new_priority, ["priority"]
            if labels != list(current.labels):
                fields["labels"] = labels
                changes.append("labels")
            return Plan(changes=changes, set=fields) if changes else None

        await self._store.change(conversation.id, decide, self._events(caller), now_ms())
        return await self._conversations.get_conversation(caller, conversation.id)

    # --- events ---------------------------------------------------------------------------------

    def _events(self, actor: Person) -> ChangeEvents:
        return ChangeEvents(self._store, self._directory, self._conversations, actor)

    async def _staff_audience(
        self, team_id: str | None, assignee_id: str | None, participants: Iterable[str]
    ) -> list[str]:
        return await staff_audience(
            self._store, self._directory, team_id, assignee_id, participants
        )

    async def _conversation(self, conversation_id: Any) -> Conversation:
        return await conversation_or_404(self._store, conversation_id)
