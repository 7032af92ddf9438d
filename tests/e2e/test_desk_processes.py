"""Capacity and claims hold across two OS processes of the conversations service on the real
database (CONTRACT Part 3, issue 15 "Capacity holds under concurrency"): the stack's own process
and a second one started as it was (same database, broker and queues), each sent half of the
requests at once. Agents are online through real sockets (the realtime service's presence
events, consumed by whichever process gets them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from tests.support.desk import Listener, make_team, make_users
from tests.support.stack import TestStack
from tests.support.users import TestUser, new_user

pytestmark = pytest.mark.usefixtures("stack")


@pytest.fixture(scope="module")
def second_process(stack: TestStack) -> Iterator[str]:
    stack.require_service("conversations")
    with stack.extra_process("conversations") as url:
        yield url


@pytest.fixture
async def both(stack: TestStack, second_process: str) -> AsyncIterator[list[httpx.AsyncClient]]:
    """A client on each conversations process, straight to its port (the gateway has one
    upstream)."""
    first = f"http://127.0.0.1:{stack.port('conversations')}"
    async with (
        httpx.AsyncClient(base_url=first, timeout=60.0) as one,
        httpx.AsyncClient(base_url=second_process, timeout=60.0) as two,
    ):
        yield [one, two]


async def _open_counts(
    http: httpx.AsyncClient, admin: TestUser, agents: list[TestUser]
) -> dict[str, int]:
    listing = (await http.get("/api/agents", headers=admin.headers)).json()
    ids = {a.id for a in agents}
    return {a["_id"]: a["openAssigned"] for a in listing if a["_id"] in ids}


async def test_many_customers_at_once_fill_capacity_exactly_across_two_processes(
    http: httpx.AsyncClient, stack: TestStack, both: list[httpx.AsyncClient]
) -> None:
    admin, *agents = await make_users(http, stack, "admin", "agent", "agent", "agent")
    team = await make_team(http, admin, agents, capacity=2)
    listeners = [await Listener(a).connect(stack) for a in agents]
    try:
        for index, agent in enumerate(agents):
            answer = await both[index % 2].put(
                "/api/agents/me/availability",
                json={"availability": "available"},
                headers=agent.headers,
            )
            assert answer.status_code == 200, answer.text
        for _ in range(100):
            listing = (await both[0].get("/api/agents", headers=admin.headers)).json()
            if all(a["online"] for a in listing if a["_id"] in {x.id for x in agents}):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the agents never came online")
        customers = await asyncio.gather(*(new_user(http, stack) for _ in range(16)))
        opened = await asyncio.gather(
            *(
                both[i % 2].post("/api/support", json={"teamId": team}, headers=c.headers)
                for i, c in enumerate(customers)
            )
        )
        assert [o.status_code for o in opened] == [201] * 16, [o.text for o in opened]
        # Both processes' triggers race to hand the queue out: 3 agents x capacity 2 = 6.
        for _ in range(150):
            if sum((await _open_counts(both[0], admin, agents)).values()) >= 6:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)  # an assignment still racing would show now
        for process in both:
            assert await _open_counts(process, admin, agents) == {a.id: 2 for a in agents}
            queue = await process.get(
                "/api/inbox", params={"view": "unassigned"}, headers=agents[0].headers
            )
            assert queue.json()["counts"] == {"mine": 2, "unassigned": 10, "team": 16}
        assigned = [
            c
            for c in (
                (
                    await both[1].get(
                        "/api/inbox",
                        params={"view": "all", "teamId": team, "limit": "50"},
                        headers=admin.headers,
                    )
                ).json()["items"]
            )
            if c["assignee"]
        ]
        assert len(assigned) == 6
        # Every assignment made its agent a participant and was told to them exactly once.
        for agent, listener in zip(agents, listeners, strict=True):
            mine = {c["_id"] for c in assigned if c["assignee"]["_id"] == agent.id}
            for cid in mine:
                await listener.wait_for(
                    "conversationAssigned", lambda d, cid=cid: d["conversation"]["_id"] == cid
                )
            told = [e for e in listener.events if e[0] == "conversationAssigned"]
            assert sorted(d["conversation"]["_id"] for _, d in told) == sorted(mine)
    finally:
        for listener in listeners:
            await listener.client.disconnect()


async def test_racing_claims_on_two_processes_exactly_one_wins(
    http: httpx.AsyncClient, stack: TestStack, both: list[httpx.AsyncClient]
) -> None:
    admin, customer, *agents = await make_users(http, stack, "admin", "customer", *["agent"] * 10)
    team = await make_team(http, admin, agents, autoAssign=False)
    for round_ in range(3):
        opened = await both[round_ % 2].post(
            "/api/support",
            json={"teamId": team, "text": f"help {round_}"},
            headers=customer.headers,
        )
        assert opened.status_code == 201, opened.text
        cid = opened.json()["_id"]
        claims = await asyncio.gather(
            *(
                both[i % 2].post(f"/api/conversations/{cid}/claim", headers=a.headers)
                for i, a in enumerate(agents)
            )
        )
        assert sorted(c.status_code for c in claims) == [200] + [409] * 9, [c.text for c in claims]
        winner: dict[str, Any] = next(c.json() for c in claims if c.status_code == 200)
        losers = [c.json() for c in claims if c.status_code == 409]
        assert {b["code"] for b in losers} == {"already_assigned"}
        assert {b["assignee"] for b in losers} == {winner["assignee"]["_id"]}
        for process in both:
            got = (await process.get(f"/api/conversations/{cid}", headers=admin.headers)).json()
            assert got["assignee"]["_id"] == winner["assignee"]["_id"]
            assert got["version"] == 2  # one change: the winning claim
        resolved = await both[1].patch(
            f"/api/conversations/{cid}/status", json={"status": "resolved"}, headers=admin.headers
        )
        assert resolved.status_code == 200, resolved.text


async def test_an_agent_in_many_teams_never_passes_capacity_when_both_processes_drain(
    http: httpx.AsyncClient, stack: TestStack, both: list[httpx.AsyncClient]
) -> None:
    """One agent shared by six teams of capacity 1, a request waiting in each; the agent turns
    available while both processes hand out all six queues at once (team changes are drain
    triggers): a "count, then assign" would give them one per team."""
    admin, agent = await make_users(http, stack, "admin", "agent")
    teams = [await make_team(http, admin, [agent], capacity=1) for _ in range(6)]
    customers = await asyncio.gather(*(new_user(http, stack) for _ in teams))
    for team, customer in zip(teams, customers, strict=True):
        opened = await http.post("/api/support", json={"teamId": team}, headers=customer.headers)
        assert opened.status_code == 201, opened.text
    listener = await Listener(agent).connect(stack)
    try:
        for _ in range(100):
            listing = (await both[0].get("/api/agents", headers=admin.headers)).json()
            if next(a for a in listing if a["_id"] == agent.id)["online"]:
                break
            await asyncio.sleep(0.1)
        await asyncio.gather(
            both[0].put(
                "/api/agents/me/availability",
                json={"availability": "available"},
                headers=agent.headers,
            ),
            *(
                both[i % 2].patch(f"/api/teams/{t}", json={"capacity": 1}, headers=admin.headers)
                for i, t in enumerate(teams * 2)
            ),
        )
        for _ in range(50):
            if (await _open_counts(both[0], admin, [agent]))[agent.id] >= 1:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.5)
        for process in both:
            assert await _open_counts(process, admin, [agent]) == {agent.id: 1}
    finally:
        await listener.client.disconnect()
