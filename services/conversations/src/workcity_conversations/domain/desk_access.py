"""Who may do what at the support desk (CONTRACT Part 3). Pure; raises `Forbidden`.

Staff see a conversation when they are its assignee or a participant, are in its team, or are
admins. `teams` is always the caller's own team ids."""

from __future__ import annotations

from collections.abc import Collection

from workcity_conversations.domain.errors import Forbidden
from workcity_conversations.domain.model import Conversation, Person


def require_staff(caller: Person) -> None:
    if not caller.is_support:
        raise Forbidden("Only support staff may do this", "staff_only")


def require_admin(caller: Person) -> None:
    if not caller.is_admin:
        raise Forbidden("Only admins may do this", "admin_only")


def can_see(caller: Person, conversation: Conversation, teams: Collection[str]) -> bool:
    if caller.is_admin or conversation.has_participant(caller.id):
        return True
    if not caller.is_support:
        return False
    return conversation.assignee_id == caller.id or (
        conversation.team_id is not None and conversation.team_id in teams
    )


def require_sees(caller: Person, conversation: Conversation, teams: Collection[str]) -> None:
    if not can_see(caller, conversation, teams):
        raise Forbidden("You may not see this conversation", "not_allowed")


def require_staff_sees(caller: Person, conversation: Conversation, teams: Collection[str]) -> None:
    """Desk changes (priority, labels): staff who may see it; a customer participant may not."""
    require_staff(caller)
    require_sees(caller, conversation, teams)


def _in_team(caller: Person, conversation: Conversation, teams: Collection[str]) -> bool:
    return conversation.team_id is not None and conversation.team_id in teams


def require_may_claim(caller: Person, conversation: Conversation, teams: Collection[str]) -> None:
    require_staff(caller)
    if not (caller.is_admin or _in_team(caller, conversation, teams)):
        raise Forbidden("Only members of its team may claim this conversation", "not_in_team")


def require_may_handle(caller: Person, conversation: Conversation, teams: Collection[str]) -> None:
    """Status changes and transfers: its assignee, a member of its team, or an admin."""
    require_staff(caller)
    if not (
        caller.is_admin
        or conversation.assignee_id == caller.id
        or _in_team(caller, conversation, teams)
    ):
        raise Forbidden(
            "Only its assignee, its team or an admin may change this conversation", "not_allowed"
        )


def require_may_assign(
    caller: Person,
    conversation: Conversation,
    target_id: str | None,
    target_teams: Collection[str],
    *,
    force: bool,
) -> None:
    """An admin assigns anyone (and may `force` past capacity); its assignee may hand it to
    another member of its team, or put it back in the queue (`target_id` None)."""
    require_staff(caller)
    if caller.is_admin:
        return
    if force:
        raise Forbidden("Only admins may force an assignment", "admin_only")
    if conversation.assignee_id != caller.id:
        raise Forbidden("Only its assignee or an admin may reassign it", "not_assignee")
    if target_id is not None and (
        conversation.team_id is None or conversation.team_id not in target_teams
    ):
        raise Forbidden("The new assignee must be a member of its team", "not_in_team")
