"""Canned responses (CONTRACT Part 3): staff list theirs, their teams' and the global ones
(searched by `q` on short code or text), write personal ones, team ones for their teams and (as
admins) global ones; their author or an admin changes or deletes one. Customers: 403."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bson import ObjectId

from workcity_conversations.domain import canned, desk_access, rules
from workcity_conversations.domain.canned import Canned
from workcity_conversations.domain.errors import Conflict, InvalidInput, NotFound
from workcity_conversations.domain.model import Person
from workcity_conversations.service_layer.desk_ports import CannedResponses, TeamStore
from workcity_conversations.service_layer.views import now_ms


@dataclass(frozen=True, slots=True)
class CannedLimits:
    text_max_chars: int = 4000
    short_code_max_chars: int = 32
    max_per_scope: int = 500
    search_max: int = 100


class CannedService:
    def __init__(
        self, store: CannedResponses, desk: TeamStore, limits: CannedLimits | None = None
    ) -> None:
        self._store = store
        self._desk = desk
        self.limits = limits or CannedLimits()

    async def search(self, caller: Person, q: str | None) -> list[dict[str, Any]]:
        desk_access.require_staff(caller)
        term = canned.search(q)
        keys = canned.visible_keys(caller, await self._desk.team_ids_of(caller.id))
        found = await self._store.search(keys, term, self.limits.search_max)
        return [c.to_api() for c in found]

    async def create(self, caller: Person, body: dict[str, Any]) -> dict[str, Any]:
        desk_access.require_staff(caller)
        scope = canned.scope(body.get("scope"))
        code = canned.short_code(body.get("shortCode"), self.limits.short_code_max_chars)
        text = canned.text(body.get("text"), self.limits.text_max_chars)
        team_id = None
        if scope == "team":
            if body.get("teamId") is None:
                raise InvalidInput("invalid_body", "A team canned response needs teamId")
            team_id = rules.parse_id(body["teamId"], "team")
            if await self._desk.team(team_id) is None:
                raise NotFound("Team not found", "team_not_found")
        canned.require_may_write(caller, scope, team_id, await self._desk.team_ids_of(caller.id))
        key = canned.scope_key(scope, caller.id, team_id)
        # A soft cap (two racing creates may pass it by one): it bounds a scope, not a count.
        if await self._store.count_in_scope(key) >= self.limits.max_per_scope:
            raise Conflict(
                f"At most {self.limits.max_per_scope} canned responses in one scope",
                "canned_limit_reached",
            )
        now = now_ms()
        created = await self._store.create(
            Canned(str(ObjectId()), scope, caller.id, team_id, code, text, now, now)
        )
        return created.to_api()

    async def update(self, caller: Person, canned_id: Any, body: dict[str, Any]) -> dict[str, Any]:
        current = await self._changeable(caller, canned_id)
        if "scope" in body or "teamId" in body:
            raise InvalidInput("invalid_body", "scope cannot change: create a new one instead")
        code = text = None
        if "shortCode" in body:
            code = canned.short_code(body["shortCode"], self.limits.short_code_max_chars)
        if "text" in body:
            text = canned.text(body["text"], self.limits.text_max_chars)
        if code is None and text is None:
            raise InvalidInput("invalid_body", "Nothing to change: shortCode or text")
        updated = await self._store.update(current.id, code, text, now_ms())
        if updated is None:
            raise NotFound("Canned response not found", "canned_not_found")
        return updated.to_api()

    async def delete(self, caller: Person, canned_id: Any) -> None:
        current = await self._changeable(caller, canned_id)
        await self._store.delete(current.id)

    async def _changeable(self, caller: Person, canned_id: Any) -> Canned:
        desk_access.require_staff(caller)
        key = rules.parse_id(canned_id, "canned response")
        current = await self._store.get(key)
        if current is None:
            raise NotFound("Canned response not found", "canned_not_found")
        canned.require_may_change(caller, current, await self._desk.team_ids_of(caller.id))
        return current
