"""What the desk's use-case modules share: their limits, finding a conversation or a staff user,
and who hears of a conversation's facts (the audiences are worked out by this service, which owns
teams and roles; the realtime service only turns them into emits to user rooms)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from workcity_conversations.domain import rules
from workcity_conversations.domain.errors import InvalidInput, NotFound
from workcity_conversations.domain.model import Conversation, Person
from workcity_conversations.service_layer.desk_ports import DeskChanges, TeamStore
from workcity_conversations.service_layer.ports import Directory


@dataclass(frozen=True, slots=True)
class DeskLimits:
    default_capacity: int = 5
    presence_grace_s: float = 60.0
    inbox_page_default: int = 50
    inbox_page_max: int = 200
    max_labels: int = 20
    max_team_members: int = 1000


async def conversation_or_404(store: DeskChanges, conversation_id: Any) -> Conversation:
    key = rules.parse_id(conversation_id, "conversation")
    conversation = await store.conversation(key)
    if conversation is None:
        raise NotFound("Conversation not found")
    return conversation


async def staff_audience(
    store: TeamStore,
    directory: Directory,
    team_id: str | None,
    assignee_id: str | None,
    participants: Iterable[str],
) -> list[str]:
    """Every staff user who may see a conversation: admins, its team's members, its assignee and
    its staff participants. Never a customer."""
    ids = set(await store.admin_ids())
    if team_id:
        team = await store.team(team_id)
        if team:
            ids.update(team.members)
    if assignee_id:
        ids.add(assignee_id)
    people = await directory.get_many(participants)
    ids.update(p.id for p in people.values() if p.is_support)
    return sorted(ids)


async def require_staff_user(directory: Directory, user_id: str) -> Person:
    person = await directory.get(user_id)
    if person is None:
        raise NotFound("User not found", "user_not_found")
    if not person.is_support:
        raise InvalidInput("not_staff", "Not a staff member")
    return person
