"""The order of a team's unassigned queue: the higher priority first (urgent, high, medium, low,
none), then the longest waiting. The inbox's `unassigned` view and auto-assignment both follow
it. A conversation stores its priority's rank (`priority_rank`) so the order is one index walk.
Pure: sort keys and page cursors as MongoDB filter documents, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from workcity_conversations.domain.errors import InvalidInput
from workcity_conversations.domain.model import Conversation

PRIORITY_RANK: dict[str | None, int] = {None: 0, "low": 1, "medium": 2, "high": 3, "urgent": 4}
# Descending rank, then ascending wait (no wait: null, first), then id.
QUEUE_SORT: list[tuple[str, int]] = [("priority_rank", -1), ("waiting_since", 1), ("_id", 1)]


def rank(priority: str | None) -> int:
    return PRIORITY_RANK.get(priority, 0)


def cursor_of(conversation: Conversation) -> str:
    since = conversation.waiting_since
    ms = str(int(since.timestamp() * 1000)) if since is not None else "n"
    return f"{rank(conversation.priority)}_{ms}_{conversation.id}"


def parse_cursor(cursor: str | None) -> tuple[int, datetime | None, str] | None:
    """(rank, waiting since, id) of a cursor from `cursor_of`; a malformed one is a 400."""
    if not cursor:
        return None
    parts = cursor.split("_")
    if (
        len(parts) != 3
        or not parts[0].isdigit()
        or not (parts[1].isdigit() or parts[1] == "n")
        or not ObjectId.is_valid(parts[2])
    ):
        raise InvalidInput("invalid_query", "Invalid cursor")
    since = None if parts[1] == "n" else datetime.fromtimestamp(int(parts[1]) / 1000, tz=UTC)
    return int(parts[0]), since, parts[2]


def after_cursor(cursor: str | None) -> dict[str, Any] | None:
    """The filter for the queue after `cursor` (from `cursor_of`); a malformed one is a 400."""
    parsed = parse_cursor(cursor)
    if parsed is None:
        return None
    r, since, key = parsed[0], parsed[1], ObjectId(parsed[2])
    lower: list[dict[str, Any]] = [{"priority_rank": {"$lt": r}}]
    if since is None:
        same = [
            {"priority_rank": r, "waiting_since": None, "_id": {"$gt": key}},
            {"priority_rank": r, "waiting_since": {"$ne": None}},
        ]
    else:
        same = [
            {"priority_rank": r, "waiting_since": {"$gt": since}},
            {"priority_rank": r, "waiting_since": since, "_id": {"$gt": key}},
        ]
    return {"$or": lower + same}
