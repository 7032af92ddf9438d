"""Canned responses (CONTRACT Part 3): records, input rules and who may see or change one. Pure.

A response is `personal` (its author's own), `team` (that team's members) or `global` (every
staff member; only admins write them). Its `shortCode` is unique within its scope, compared without
case: one personal scope per user, one per team, one global."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from workcity_common.events import iso

from workcity_conversations.domain.errors import Forbidden, InvalidInput, NotFound
from workcity_conversations.domain.model import Person

Scope = Literal["personal", "team", "global"]
SCOPES: tuple[str, ...] = get_args(Scope)
SEARCH_MAX_CHARS = 100
_SHORT_CODE = re.compile(r"^[\w\-.]+$")


@dataclass(frozen=True, slots=True)
class Canned:
    id: str
    scope: str
    author_id: str
    team_id: str | None
    short_code: str
    text: str
    created_at: datetime
    updated_at: datetime

    def to_api(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "shortCode": self.short_code,
            "text": self.text,
            "scope": self.scope,
            "teamId": self.team_id,
            "authorId": self.author_id,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


def scope_key(scope: str, author_id: str, team_id: str | None) -> str:
    """The uniqueness scope of a short code."""
    if scope == "personal":
        return f"personal:{author_id}"
    if scope == "team":
        return f"team:{team_id}"
    return "global"


def visible_keys(caller: Person, teams: Collection[str]) -> list[str]:
    """The scopes a staff member lists: their own, their teams', the global one."""
    return [scope_key("personal", caller.id, None), *(f"team:{t}" for t in sorted(teams)), "global"]


# --- input -----------------------------------------------------------------------------------


def scope(raw: Any) -> str:
    if raw not in SCOPES:
        raise InvalidInput("invalid_scope", f"scope must be one of {', '.join(SCOPES)}")
    return str(raw)


def short_code(raw: Any, max_chars: int) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("invalid_short_code", "shortCode must be a non-empty string")
    code = raw.strip()
    if len(code) > max_chars or not _SHORT_CODE.match(code):
        raise InvalidInput(
            "invalid_short_code",
            f"shortCode is at most {max_chars} letters, digits or - _ . (no spaces)",
        )
    return code


def text(raw: Any, max_chars: int) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidInput("invalid_text", "text must be a non-empty string")
    clean = raw.strip()
    if len(clean) > max_chars:
        raise InvalidInput("text_too_long", f"text is longer than {max_chars} characters")
    return clean


def search(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    if len(raw) > SEARCH_MAX_CHARS:
        raise InvalidInput("invalid_query", f"q is longer than {SEARCH_MAX_CHARS} characters")
    return raw.strip()


# --- who may ---------------------------------------------------------------------------------


def require_may_write(
    caller: Person, chosen: str, team_id: str | None, teams: Collection[str]
) -> None:
    """Personal: any staff member. Team: its members (and admins). Global: admins."""
    if chosen == "global" and not caller.is_admin:
        raise Forbidden("Only admins write global canned responses", "admin_only")
    if chosen == "team" and not caller.is_admin and team_id not in teams:
        raise Forbidden("You are not a member of this team", "not_in_team")


def require_may_change(caller: Person, canned: Canned, teams: Collection[str]) -> None:
    """Its author or an admin. One the caller may not even see (another's personal one, another
    team's) is answered as unknown: its existence is not theirs to learn."""
    if caller.is_admin or canned.author_id == caller.id:
        return
    visible = canned.scope == "global" or (canned.scope == "team" and canned.team_id in teams)
    if not visible:
        raise NotFound("Canned response not found", "canned_not_found")
    raise Forbidden("Only its author or an admin may change it", "not_author")
