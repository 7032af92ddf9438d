"""The events of one desk change (CONTRACT Part 3's socket events come from them): who changed
what, and who hears of it. `conversation.updated` to the staff who may see the conversation (and
its customers when status or assignee changed), `csat.requested` to its customers when staff
resolved it. The desk store also reads `activity_actor`, whom the change's activity entries
credit (None: the system)."""

from __future__ import annotations

from collections.abc import Sequence

from workcity_common.events import (
    ConversationUpdated,
    ConversationUpdatedData,
    CsatRequested,
    CsatRequestedData,
    Event,
    UserRef,
)

from workcity_conversations.domain import csat
from workcity_conversations.domain.model import Conversation, Person
from workcity_conversations.service_layer.desk_ports import Plan, TeamStore
from workcity_conversations.service_layer.desk_shared import staff_audience
from workcity_conversations.service_layer.ports import Directory
from workcity_conversations.service_layer.service import ConversationService
from workcity_conversations.service_layer.views import PRODUCER, conversation_data


class ChangeEvents:
    def __init__(
        self,
        store: TeamStore,
        directory: Directory,
        conversations: ConversationService,
        actor: Person | None,
        *,
        by_system: bool = False,
    ) -> None:
        """`actor`: who asked (None: the system). `by_system`: the change is the system's rule
        though a person's act set it off (a customer's message reopening the conversation)."""
        self._store = store
        self._directory = directory
        self._conversations = conversations
        self.actor = actor
        self.activity_actor = None if by_system or actor is None else actor.id

    async def __call__(
        self, before: Conversation, after: Conversation, plan: Plan
    ) -> Sequence[Event]:
        people = await self._directory.get_many(
            [*after.participants, *([after.assignee_id] if after.assignee_id else [])]
        )
        names = await self._conversations.team_names([after.team_id] if after.team_id else [])
        data = conversation_data(after, people, names)
        staff = await staff_audience(
            self._store, self._directory, after.team_id, after.assignee_id, after.participants
        )
        customers = [
            p for p in after.participants if (who := people.get(p)) is None or not who.is_support
        ]
        assignee_changed = before.assignee_id != after.assignee_id
        queued = (
            after.assignee_id is None
            and after.status == "open"
            and (
                before.assignee_id is not None
                or before.team_id != after.team_id
                or before.status != "open"  # reopened into the queue
            )
        )
        team = await self._store.team(after.team_id) if queued and after.team_id else None
        events: list[Event] = [
            ConversationUpdated(
                producer=PRODUCER,
                data=ConversationUpdatedData(
                    conversation=data,
                    changes=plan.changes,
                    actor=actor_ref(self.actor) if self.actor else None,
                    staff_ids=staff,
                    customer_ids=customers
                    if assignee_changed or before.status != after.status
                    else [],
                    queued_for=list(team.members) if team else [],
                    assigned_from=before.assignee_id if assignee_changed else None,
                    assigned_to=after.assignee_id if assignee_changed else None,
                ),
            )
        ]
        if customers and csat.newly_asked(before.csat, after.csat):
            events.append(
                CsatRequested(
                    producer=PRODUCER,
                    data=CsatRequestedData(conversation_id=after.id, customer_ids=customers),
                )
            )
        return events


def actor_ref(person: Person) -> UserRef:
    return UserRef(id=person.id, email=person.email, role=person.role)
