"""Every use case of the desk's `TeamsService` (service_layer/desk_teams.py) against in-memory fakes
of its ports: who may manage teams and agents, what bad input is refused, and which changes hand the
affected teams' queues out again (`drain_soon`). The teams store itself is checked against the
database by tests/e2e/test_desk.py and tests/integration/conversations/test_desk_concurrency.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Iterable
from datetime import timedelta

import pytest
from workcity_common.domain_errors import DomainError
from workcity_conversations.domain.desk import Agent
from workcity_conversations.service_layer.desk_shared import DeskLimits
from workcity_conversations.service_layer.desk_teams import TeamsService
from workcity_conversations.service_layer.views import now_ms

from tests.unit.conversations.desk_fakes import FakeTeamStore
from tests.unit.conversations.fakes import FakeDirectory, oid
from tests.unit.conversations.test_service import person


@dataclasses.dataclass
class Desk:
    teams: TeamsService
    store: FakeTeamStore
    drained: list[str]
    directory: FakeDirectory


ADMIN, AGENT, CUSTOMER = person("admin"), person("agent"), person()
GONE = person("agent", disabled=True)


def desk(limits: DeskLimits | None = None) -> Desk:
    store = FakeTeamStore(ADMIN, AGENT, GONE)
    drained: list[str] = []

    def drain_soon(team_ids: Iterable[str]) -> None:
        drained.extend(team_ids)

    directory = FakeDirectory(ADMIN, AGENT, CUSTOMER, GONE)
    teams = TeamsService(store, directory, limits or DeskLimits(), drain_soon)
    return Desk(teams, store, drained, directory)


async def refused(code: str, call: Awaitable[object]) -> None:
    with pytest.raises(DomainError) as error:
        await call
    assert error.value.code == code


async def test_admins_create_teams_with_the_default_capacity() -> None:
    d = desk(DeskLimits(default_capacity=3))
    team = await d.teams.create_team(ADMIN, {"name": "  Billing   team "})
    assert (team["name"], team["capacity"], team["autoAssign"]) == ("Billing team", 3, True)
    await refused("admin_only", d.teams.create_team(AGENT, {"name": "Sales"}))
    await refused("team_exists", d.teams.create_team(ADMIN, {"name": "billing TEAM"}))
    await refused("invalid_name", d.teams.create_team(ADMIN, {"name": " "}))
    await refused("invalid_capacity", d.teams.create_team(ADMIN, {"name": "X", "capacity": -1}))
    await refused("invalid_body", d.teams.create_team(ADMIN, {"name": "X", "autoAssign": "yes"}))


async def test_staff_list_teams_and_anyone_sees_their_names() -> None:
    d = desk()
    team = await d.teams.create_team(ADMIN, {"name": "Billing"})
    assert [t["_id"] for t in await d.teams.list_teams(AGENT)] == [team["_id"]]
    await refused("staff_only", d.teams.list_teams(CUSTOMER))
    assert await d.teams.support_teams(CUSTOMER) == [
        {"_id": team["_id"], "name": "Billing", "isDefault": False}
    ]


async def test_a_team_update_hands_its_queue_out_again() -> None:
    d = desk()
    team = await d.teams.create_team(ADMIN, {"name": "Billing", "autoAssign": False})
    changed = await d.teams.update_team(ADMIN, team["_id"], {"capacity": 9, "autoAssign": True})
    assert (changed["capacity"], changed["autoAssign"]) == (9, True)
    assert d.drained == [team["_id"]]
    await refused("invalid_body", d.teams.update_team(ADMIN, team["_id"], {}))
    await refused("team_not_found", d.teams.update_team(ADMIN, oid(), {"capacity": 1}))
    await refused("admin_only", d.teams.update_team(AGENT, team["_id"], {"capacity": 1}))


async def test_members_are_known_staff_within_the_limit() -> None:
    d = desk(DeskLimits(max_team_members=2))
    team = await d.teams.create_team(ADMIN, {"name": "Billing"})
    changed = await d.teams.set_members(ADMIN, team["_id"], [AGENT.id, ADMIN.id, AGENT.id])
    assert changed["members"] == [AGENT.id, ADMIN.id]  # duplicates once
    assert d.drained == [team["_id"]]
    for ids, code in [
        ("not a list", "invalid_body"),
        ([CUSTOMER.id], "not_staff"),
        ([oid()], "unknown_user"),
        ([AGENT.id, ADMIN.id, GONE.id], "invalid_body"),
        (["x"], "invalid_id"),
    ]:
        await refused(code, d.teams.set_members(ADMIN, team["_id"], ids))


async def test_a_just_created_agent_is_looked_up_before_its_event_arrives() -> None:
    d = desk()
    team = await d.teams.create_team(ADMIN, {"name": "Billing"})
    newcomer = person("agent")
    d.directory.only_in_auth[newcomer.id] = newcomer
    changed = await d.teams.set_members(ADMIN, team["_id"], [AGENT.id, newcomer.id])
    assert changed["members"] == [AGENT.id, newcomer.id]


async def test_agents_list_shows_availability_presence_load_and_teams() -> None:
    d = desk(DeskLimits(presence_grace_s=60))
    team = await d.teams.create_team(ADMIN, {"name": "Billing"})
    await d.teams.set_members(ADMIN, team["_id"], [AGENT.id])
    d.store.agents[AGENT.id] = Agent(
        AGENT.id, "available", 2, False, now_ms() - timedelta(seconds=5)
    )
    d.store.open[AGENT.id] = 1
    agents = {a["_id"]: a for a in await d.teams.list_agents(AGENT)}
    assert set(agents) == {ADMIN.id, AGENT.id}  # the disabled one is left out
    assert agents[AGENT.id] == {
        "_id": AGENT.id,
        "email": AGENT.email,
        "role": "agent",
        "availability": "available",
        "online": True,  # disconnected within the grace
        "openAssigned": 1,
        "capacity": 2,
        "teams": [team["_id"]],
    }
    assert agents[ADMIN.id]["online"] is False and agents[ADMIN.id]["openAssigned"] == 0
    await refused("staff_only", d.teams.list_agents(CUSTOMER))


async def test_availability_is_ones_own_unless_admin_and_available_drains() -> None:
    d = desk()
    team = await d.teams.create_team(ADMIN, {"name": "Billing"})
    await d.teams.set_members(ADMIN, team["_id"], [AGENT.id])
    d.drained.clear()
    assert await d.teams.set_availability(AGENT, "me", "busy") == {
        "_id": AGENT.id,
        "availability": "busy",
    }
    assert d.drained == []
    await d.teams.set_availability(ADMIN, AGENT.id, "available")
    assert d.store.agents[AGENT.id].availability == "available" and d.drained == [team["_id"]]
    await refused("admin_only", d.teams.set_availability(AGENT, ADMIN.id, "busy"))
    await refused("invalid_availability", d.teams.set_availability(AGENT, "me", "asleep"))
    await refused("not_staff", d.teams.set_availability(ADMIN, CUSTOMER.id, "busy"))
    await refused("staff_only", d.teams.set_availability(CUSTOMER, "me", "busy"))


async def test_capacity_is_set_by_admins_and_drains() -> None:
    d = desk()
    team = await d.teams.create_team(ADMIN, {"name": "Billing"})
    await d.teams.set_members(ADMIN, team["_id"], [AGENT.id])
    d.drained.clear()
    assert await d.teams.set_capacity(ADMIN, AGENT.id, 7) == {"_id": AGENT.id, "capacity": 7}
    assert await d.teams.set_capacity(ADMIN, AGENT.id, None) == {"_id": AGENT.id, "capacity": None}
    assert d.drained == [team["_id"], team["_id"]]
    await refused("admin_only", d.teams.set_capacity(AGENT, AGENT.id, 1))
    await refused("user_not_found", d.teams.set_capacity(ADMIN, oid(), 1))


async def test_presence_is_recorded_for_staff_and_coming_online_drains() -> None:
    d = desk()
    team = await d.teams.create_team(ADMIN, {"name": "Billing"})
    await d.teams.set_members(ADMIN, team["_id"], [AGENT.id])
    d.drained.clear()
    now = now_ms()
    await d.teams.presence_changed(AGENT.id, online=True, at=now)
    assert d.store.agents[AGENT.id].online and d.drained == [team["_id"]]
    await d.teams.presence_changed(AGENT.id, online=False, at=now - timedelta(seconds=1))
    assert d.store.agents[AGENT.id].online  # an older fact arriving late changes nothing
    await d.teams.presence_changed(AGENT.id, online=False, at=now + timedelta(seconds=1))
    assert not d.store.agents[AGENT.id].online and d.drained == [team["_id"]]
    await d.teams.presence_changed(CUSTOMER.id, online=True, at=now)
    await d.teams.presence_changed(oid(), online=True, at=now)
    assert set(d.store.agents) == {AGENT.id}
