"""Satisfaction (CONTRACT Part 3): staff resolving a conversation ask its customer once; the
customer rates it 1-5 once per resolution; a reopen and a second resolve ask again. Pure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from workcity_conversations.domain.errors import Conflict, Forbidden, InvalidInput
from workcity_conversations.domain.model import Conversation, Csat, Person

RATINGS = range(1, 6)


def rating(raw: Any) -> int:
    if not isinstance(raw, int) or isinstance(raw, bool) or raw not in RATINGS:
        raise InvalidInput("invalid_rating", "rating must be an integer from 1 to 5")
    return raw


def comment(raw: Any, max_chars: int) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidInput("invalid_comment", "comment must be a string")
    text = raw.strip()
    if len(text) > max_chars:
        raise InvalidInput("invalid_comment", f"comment is longer than {max_chars} characters")
    return text or None


def asked_on_resolve(previous: Csat | None, now: datetime) -> dict[str, Any]:
    """The `csat` a resolution by staff stores: a new round, not yet answered."""
    return {
        "round": (previous.round if previous else 0) + 1,
        "requested_at": now,
        "rating": None,
        "comment": None,
        "rated_at": None,
    }


def newly_asked(before: Csat | None, after: Csat | None) -> bool:
    return after is not None and (before is None or before.round != after.round)


def require_its_customer(caller: Person, conversation: Conversation) -> None:
    if caller.is_support or not conversation.has_participant(caller.id):
        raise Forbidden("Only its customer rates a conversation", "not_its_customer")


def answer(current: Csat | None, value: int, note: str | None, now: datetime) -> dict[str, Any]:
    """The fields a rating sets: only when asked, once per resolution."""
    if current is None:
        raise Conflict("Nobody asked for a rating yet", "csat_not_requested")
    if current.rating is not None:
        raise Conflict("This resolution is rated already", "already_rated")
    return {"csat.rating": value, "csat.comment": note, "csat.rated_at": now}
