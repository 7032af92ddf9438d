"""The support desk's teams and agents (CONTRACT Part 3 "Teams, agents, capacity"): teams and
their members, agents' availability, capacity and presence. Whatever may let an agent take more
conversations hands the affected teams' queues out again (`drain_soon`, from the assignment use
cases in desk_service.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from workcity_conversations.domain import desk, desk_access, rules
from workcity_conversations.domain.errors import InvalidInput
from workcity_conversations.domain.model import Person
from workcity_conversations.service_layer.desk_ports import TeamStore
from workcity_conversations.service_layer.desk_shared import DeskLimits, require_staff_user
from workcity_conversations.service_layer.ports import Directory
from workcity_conversations.service_layer.views import now_ms


class TeamsService:
    def __init__(
        self,
        store: TeamStore,
        directory: Directory,
        limits: DeskLimits,
        drain_soon: Callable[[Iterable[str]], None],
    ) -> None:
        self._store = store
        self._directory = directory
        self.limits = limits
        self._drain_soon = drain_soon

    # --- teams ----------------------------------------------------------------------------------

    async def list_teams(self, caller: Person) -> list[dict[str, Any]]:
        desk_access.require_staff(caller)
        return [t.to_api() for t in await self._store.all_teams()]

    async def support_teams(self, caller: Person) -> list[dict[str, Any]]:
        # A buyer chooses the team in "Contact support": names only, never members or capacity.
        return [
            {"_id": t.id, "name": t.name, "isDefault": t.is_default}
            for t in await self._store.all_teams()
        ]

    async def create_team(self, caller: Person, body: dict[str, Any]) -> dict[str, Any]:
        desk_access.require_admin(caller)
        name = desk.team_name(body.get("name"))
        auto_assign = desk.flag(body.get("autoAssign", True), "autoAssign")
        capacity = desk.capacity(body.get("capacity", self.limits.default_capacity))
        return (await self._store.create_team(name, auto_assign, capacity)).to_api()

    async def update_team(
        self, caller: Person, team_id: Any, body: dict[str, Any]
    ) -> dict[str, Any]:
        desk_access.require_admin(caller)
        key = rules.parse_id(team_id, "team")
        fields: dict[str, Any] = {}
        if "name" in body:
            fields["name"] = desk.team_name(body["name"])
        if "autoAssign" in body:
            fields["auto_assign"] = desk.flag(body["autoAssign"], "autoAssign")
        if "capacity" in body:
            fields["capacity"] = desk.capacity(body["capacity"])
        if not fields:
            raise InvalidInput("invalid_body", "Nothing to change: name, autoAssign or capacity")
        team = await self._store.update_team(key, fields)
        self._drain_soon([team.id])  # capacity raised or auto-assignment switched on
        return team.to_api()

    async def set_members(self, caller: Person, team_id: Any, user_ids: Any) -> dict[str, Any]:
        desk_access.require_admin(caller)
        key = rules.parse_id(team_id, "team")
        if not isinstance(user_ids, list):
            raise InvalidInput("invalid_body", "userIds must be a list of user ids")
        ids = list(dict.fromkeys(rules.parse_id(u, "user") for u in user_ids))
        if len(ids) > self.limits.max_team_members:
            raise InvalidInput("invalid_body", f"At most {self.limits.max_team_members} members")
        people = await self._directory.get_many(ids)
        for user_id in ids:
            # An account the admin has just created may not have reached this service's copy
            # yet (its event is on the way): `get` asks auth for it.
            person = people.get(user_id) or await self._directory.get(user_id)
            if person is None:
                raise InvalidInput("unknown_user", f"Unknown user {user_id}")
            if not person.is_support:
                raise InvalidInput("not_staff", "Only staff may be team members")
        team = await self._store.update_team(key, {"members": ids})
        self._drain_soon([team.id])
        return team.to_api()

    # --- agents ---------------------------------------------------------------------------------

    async def list_agents(self, caller: Person) -> list[dict[str, Any]]:
        desk_access.require_staff(caller)
        staff = await self._store.staff()
        ids = [d["_id"] for d in staff]
        agents = await self._store.agents_by_id(ids)
        counts = await self._store.open_counts()
        teams = await self._store.all_teams()
        now = now_ms()
        grace = timedelta(seconds=self.limits.presence_grace_s)
        return [
            {
                "_id": d["_id"],
                "email": d["email"],
                "role": d["role"],
                "availability": agents[d["_id"]].availability,
                "online": desk.is_connected(agents[d["_id"]], now, grace),
                "openAssigned": counts.get(d["_id"], 0),
                "capacity": agents[d["_id"]].capacity,
                "teams": [t.id for t in teams if d["_id"] in t.members],
            }
            for d in staff
            if not d.get("disabled")
        ]

    async def set_availability(self, caller: Person, target: Any, value: Any) -> dict[str, Any]:
        desk_access.require_staff(caller)
        user_id = caller.id if target == "me" else rules.parse_id(target, "user")
        if user_id != caller.id:
            desk_access.require_admin(caller)
        availability = desk.availability(value)
        await require_staff_user(self._directory, user_id)
        await self._store.set_agent(user_id, {"availability": availability})
        if availability == "available":
            self._drain_soon(await self._store.team_ids_of(user_id))
        return {"_id": user_id, "availability": availability}

    async def set_capacity(self, caller: Person, target: Any, value: Any) -> dict[str, Any]:
        desk_access.require_admin(caller)
        user_id = rules.parse_id(target, "user")
        capacity = None if value is None else desk.capacity(value)
        await require_staff_user(self._directory, user_id)
        await self._store.set_agent(user_id, {"capacity": capacity})
        self._drain_soon(await self._store.team_ids_of(user_id))
        return {"_id": user_id, "capacity": capacity}

    async def presence_changed(self, user_id: str, *, online: bool, at: datetime) -> None:
        """The realtime service saw a user's first socket connect (online) or last one go; only
        staff are recorded. An agent coming online may take conversations at once."""
        person = await self._directory.get(user_id)
        if person is None or not person.is_support:
            return
        if await self._store.record_presence(user_id, online, at) and online:
            self._drain_soon(await self._store.team_ids_of(user_id))
