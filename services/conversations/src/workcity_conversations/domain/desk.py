"""The support desk's records and input rules (CONTRACT Part 3): teams, agents' availability and
capacity, a conversation's status, priority and labels. Pure: no I/O."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from workcity_conversations.domain.errors import InvalidInput

Status = Literal["open", "pending", "snoozed", "resolved"]
Availability = Literal["available", "busy", "offline"]
Priority = Literal["low", "medium", "high", "urgent"]
View = Literal["mine", "unassigned", "team", "all"]

STATUSES: tuple[str, ...] = get_args(Status)
AVAILABILITIES: tuple[str, ...] = get_args(Availability)
PRIORITIES: tuple[str, ...] = get_args(Priority)
VIEWS: tuple[str, ...] = get_args(View)
# Statuses a customer message turns back into `open`.
REOPENED_BY_CUSTOMER: frozenset[str] = frozenset({"pending", "snoozed", "resolved"})

DEFAULT_TEAM_NAME = "Support"
TEAM_NAME_MAX_CHARS = 80
LABEL_MAX_CHARS = 50
SUBJECT_MAX_CHARS = 200
ORDER_ID_MAX_CHARS = 100
# Capacity beyond this is a typo, not a plan.
CAPACITY_MAX = 1000
_LABEL = re.compile(r"^[\w\- .:/#]+$")


@dataclass(frozen=True, slots=True)
class Team:
    id: str
    name: str
    is_default: bool
    auto_assign: bool
    capacity: int
    members: tuple[str, ...]

    def to_api(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "name": self.name,
            "isDefault": self.is_default,
            "autoAssign": self.auto_assign,
            "capacity": self.capacity,
            "members": list(self.members),
        }


@dataclass(frozen=True, slots=True)
class Agent:
    """A staff member as the desk sees them. `online`/`last_seen` come from the realtime
    service's presence events; `availability` only ever from a person."""

    id: str
    availability: str = "offline"
    capacity: int | None = None  # the agent's own override of their teams' capacity
    online: bool = False
    last_seen: datetime | None = None
    last_assigned_at: datetime | None = None


# --- input -----------------------------------------------------------------------------------


def team_name(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("invalid_name", "name must be a non-empty string")
    name = " ".join(raw.split())
    if len(name) > TEAM_NAME_MAX_CHARS:
        raise InvalidInput("invalid_name", f"name is longer than {TEAM_NAME_MAX_CHARS} characters")
    return name


def capacity(raw: Any) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= CAPACITY_MAX:
        raise InvalidInput(
            "invalid_capacity", f"capacity must be an integer from 0 to {CAPACITY_MAX}"
        )
    return raw


def flag(raw: Any, name: str) -> bool:
    if not isinstance(raw, bool):
        raise InvalidInput("invalid_body", f"{name} must be true or false")
    return raw


def availability(raw: Any) -> str:
    if raw not in AVAILABILITIES:
        raise InvalidInput(
            "invalid_availability", f"availability must be one of {', '.join(AVAILABILITIES)}"
        )
    return str(raw)


def status(raw: Any) -> str:
    if raw not in STATUSES:
        raise InvalidInput("invalid_status", f"status must be one of {', '.join(STATUSES)}")
    return str(raw)


def priority(raw: Any) -> str | None:
    if raw is not None and raw not in PRIORITIES:
        raise InvalidInput(
            "invalid_priority", f"priority must be null or one of {', '.join(PRIORITIES)}"
        )
    return None if raw is None else str(raw)


def labels(raw: Any, max_count: int) -> list[str]:
    """A list of labels (trimmed, case kept, a repeat counts once), at most `max_count`."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidInput("invalid_labels", "labels must be a list of strings")
    out: list[str] = []
    for item in raw:
        if not isinstance(item, str) or not item.strip():
            raise InvalidInput("invalid_labels", "a label must be a non-empty string")
        label = item.strip()
        if len(label) > LABEL_MAX_CHARS or not _LABEL.match(label):
            raise InvalidInput(
                "invalid_labels",
                f"a label is at most {LABEL_MAX_CHARS} letters, digits, spaces or - _ . : / #",
            )
        if label not in out:
            out.append(label)
    if len(out) > max_count:
        raise InvalidInput("invalid_labels", f"at most {max_count} labels")
    return out


def snooze_until(raw: Any, now: datetime) -> datetime:
    """A future time (ISO-8601 with a time zone) for `snoozed`."""
    if not isinstance(raw, str):
        raise InvalidInput("invalid_snooze", "snoozed needs snoozedUntil, a future ISO-8601 time")
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("invalid_snooze", "snoozedUntil is not an ISO-8601 time") from None
    if when.tzinfo is None:
        raise InvalidInput("invalid_snooze", "snoozedUntil needs a time zone (e.g. Z)")
    if when <= now:
        raise InvalidInput("invalid_snooze", "snoozedUntil must be in the future")
    # Stored to the millisecond, like every time here.
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


def optional_text(raw: Any, name: str, max_chars: int) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidInput("invalid_body", f"{name} must be a string")
    text = raw.strip()
    if len(text) > max_chars:
        raise InvalidInput("invalid_body", f"{name} is longer than {max_chars} characters")
    return text or None


def view(raw: str | None) -> str:
    if raw is None:
        return "mine"
    if raw not in VIEWS:
        raise InvalidInput("invalid_query", f"view must be one of {', '.join(VIEWS)}")
    return raw


def status_filter(raw: str | None) -> str:
    if raw is None:
        return "open"
    if raw not in STATUSES:
        raise InvalidInput("invalid_query", f"status must be one of {', '.join(STATUSES)}")
    return raw


# --- messages --------------------------------------------------------------------------------


def wait_after_messages(
    waiting_since: datetime | None, messages: Sequence[tuple[bool, datetime]]
) -> datetime | None:
    """`waitingSince` after these messages (each `(from_customer, sent_at)`, in seq order): a
    customer's starts the wait if none is running (the oldest unanswered customer message), a
    staff member's answers it. The send's own transaction applies this, so it costs no write of
    its own."""
    for from_customer, at in messages:
        if not from_customer:
            waiting_since = None
        elif waiting_since is None:
            waiting_since = at
    return waiting_since


def message_effect(
    status: str,
    waiting_since: datetime | None,
    snoozed_until: datetime | None,
    assignee_id: str | None,
    *,
    from_customer: bool,
    at: datetime,
    keep_assignee: bool,
) -> tuple[dict[str, Any], list[str]]:
    """The desk fields a new message changes (stored names, API names of what changed).

    A customer's message reopens a pending, snoozed or resolved conversation (its assignee kept
    only when `keep_assignee`: that agent is eligible) and starts `waiting_since` if no wait is
    running (it is the oldest unanswered customer message). A staff message answers: the wait
    ends."""
    fields: dict[str, Any] = {}
    changes: list[str] = []
    if from_customer and status in REOPENED_BY_CUSTOMER:
        fields["status"] = "open"
        changes.append("status")
        if snoozed_until is not None:
            fields["snoozed_until"] = None
            changes.append("snoozedUntil")
        if assignee_id is not None and not keep_assignee:
            fields["assignee"] = None
            changes.append("assignee")
    # The same wait rule the send's own transaction applies.
    waiting = wait_after_messages(waiting_since, [(from_customer, at)])
    if waiting != waiting_since:
        fields["waiting_since"] = waiting
        changes.append("waitingSince")
    return fields, changes


# --- assignment ------------------------------------------------------------------------------


def is_connected(agent: Agent, now: datetime, grace: timedelta) -> bool:
    """Connected, or disconnected less than `grace` ago (a dropped connection coming back)."""
    if agent.online:
        return True
    return agent.last_seen is not None and now - agent.last_seen < grace


def capacity_of(agent: Agent, team: Team) -> int:
    return agent.capacity if agent.capacity is not None else team.capacity


def pick_order(
    agents: Sequence[Agent],
    open_counts: dict[str, int],
    team: Team,
    now: datetime,
    grace: timedelta,
) -> list[Agent]:
    """The eligible members of `team`, best first: available, connected, under capacity; fewest
    open conversations, then longest since their last assignment. The store re-checks capacity
    atomically as it assigns; this only decides whom to try first."""
    never = datetime.min.replace(tzinfo=now.tzinfo)
    eligible = [
        a
        for a in agents
        if a.id in team.members
        and a.availability == "available"
        and is_connected(a, now, grace)
        and open_counts.get(a.id, 0) < capacity_of(a, team)
    ]
    return sorted(
        eligible,
        key=lambda a: (open_counts.get(a.id, 0), a.last_assigned_at or never, a.id),
    )
