"""A conversation's activity (CONTRACT Part 3): one structured entry per desk change of a field,
worked out from the conversation before and after the change, and the line a client shows for
it, rendered from the entry (never stored as text). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from workcity_conversations.domain.model import Conversation

Kind = Literal["status", "assignee", "team", "priority", "labels", "csat"]
KINDS: tuple[str, ...] = get_args(Kind)
SYSTEM = "The system"


@dataclass(frozen=True, slots=True)
class Entry:
    """`before`/`after`: a status, user id, team id, priority, list of labels or rating.
    `actor_id` None: the system (auto-assignment, a reopen, a snooze ending)."""

    kind: str
    before: Any
    after: Any
    actor_id: str | None
    at: datetime


def entries(
    before: Conversation, after: Conversation, actor_id: str | None, at: datetime
) -> list[Entry]:
    pairs: list[tuple[str, Any, Any]] = [
        ("status", before.status, after.status),
        ("assignee", before.assignee_id, after.assignee_id),
        ("team", before.team_id, after.team_id),
        ("priority", before.priority, after.priority),
        ("labels", list(before.labels), list(after.labels)),
    ]
    out = [Entry(k, old, new, actor_id, at) for k, old, new in pairs if old != new]
    rated = after.csat.rating if after.csat else None
    if rated is not None and (before.csat is None or before.csat.rating is None):
        out.append(Entry("csat", None, rated, actor_id, at))
    return out


def render(
    kind: str,
    before: Any,
    after: Any,
    actor: str | None,
    emails: Mapping[str, str],
    team_names: Mapping[str, str],
) -> str:
    """The system line of an entry; `actor` is the actor's email (None: the system)."""
    who = actor or SYSTEM

    def person(user_id: str) -> str:
        return emails.get(user_id) or "someone"

    def team(team_id: str | None) -> str:
        return team_names.get(team_id or "") or "no team"

    if kind == "status":
        return f"{who} changed the status from {before} to {after}"
    if kind == "assignee":
        if after is None:
            return f"{who} unassigned {person(before)}"
        if before is None:
            return f"{who} assigned it to {person(after)}"
        return f"{who} reassigned it from {person(before)} to {person(after)}"
    if kind == "team":
        return f"{who} moved it from {team(before)} to {team(after)}"
    if kind == "priority":
        return f"{who} set the priority to {after or 'none'}"
    if kind == "labels":
        added = [x for x in after if x not in before]
        removed = [x for x in before if x not in after]
        parts = [f"added {', '.join(added)}"] if added else []
        parts += [f"removed {', '.join(removed)}"] if removed else []
        return f"{who} {' and '.join(parts)} (labels)"
    return f"{who} rated the conversation {after} out of 5"
