"""The support desk against the real SecantusDB, with two conversations service instances (each
its own MongoDB client, store and process-local locks) sharing one database, as two replicas do:
capacity holds and exactly one claim wins however the requests race."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.events import utcnow
from workcity_conversations.main import create_app
from workcity_conversations.settings import ConversationsSettings

from tests.integration.conversations.conftest import Tokens, auth, wait_for_consumer

pytestmark = pytest.mark.integration


@pytest.fixture
async def two(
    settings: ConversationsSettings,
    mongo_uri: str,
    mongo_db: AsyncDatabase,
    tokens: Tokens,
    rabbit_cleanup: list[str],
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """Two instances of the service on one database (a long sweep: only the triggers assign)."""
    quiet = settings.model_copy(update={"desk_sweep_interval_seconds": 3600.0})
    async with AsyncExitStack() as stack:
        clients = []
        for index in range(2):
            client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri, tz_aware=True)
            stack.push_async_callback(client.close)
            app = create_app(quiet, mongo_client=client, token_verifier=tokens.verifier())
            await stack.enter_async_context(app.router.lifespan_context(app))
            http = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=f"http://conversations-{index}"
            )
            await stack.enter_async_context(http)
            clients.append(http)
        await wait_for_consumer(settings.amqp_url, settings.users_queue)
        yield clients


async def _team(http: httpx.AsyncClient, admin: dict[str, str], capacity: int) -> str:
    response = await http.post(
        "/api/teams",
        json={"name": f"team-{uuid.uuid4().hex[:10]}", "capacity": capacity},
        headers=admin,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["_id"])


async def test_racing_claims_of_one_conversation_exactly_one_wins(
    two: list[httpx.AsyncClient], make_user: Callable[..., Any], tokens: Tokens
) -> None:
    admin = auth(tokens, await make_user("admin"))
    customer = auth(tokens, await make_user("customer"))
    agents = [await make_user("agent") for _ in range(8)]
    team = await _team(two[0], admin, 5)
    members = {"userIds": [a.id for a in agents]}
    assert (await two[0].put(f"/api/teams/{team}/members", json=members, headers=admin)).is_success
    for round_ in range(3):
        opened = await two[round_ % 2].post(
            "/api/support", json={"teamId": team, "text": f"help {round_}"}, headers=customer
        )
        assert opened.status_code == 201, opened.text
        conversation = opened.json()["_id"]
        claims = await asyncio.gather(
            *(
                two[i % 2].post(
                    f"/api/conversations/{conversation}/claim", headers=auth(tokens, agent)
                )
                for i, agent in enumerate(agents)
            )
        )
        statuses = sorted(c.status_code for c in claims)
        assert statuses == [200] + [409] * 7, [c.text for c in claims]
        winner = next(c.json() for c in claims if c.status_code == 200)
        losers = [c.json() for c in claims if c.status_code == 409]
        assert all(b["code"] == "already_assigned" for b in losers)
        assert {b["assignee"] for b in losers} == {winner["assignee"]["_id"]}
        assert winner["assignee"]["_id"] in [p["_id"] for p in winner["participants"]]
        # Resolve it, so the customer's next request in this team is a new conversation.
        resolved = await two[0].patch(
            f"/api/conversations/{conversation}/status", json={"status": "resolved"}, headers=admin
        )
        assert resolved.status_code == 200, resolved.text


async def test_auto_assignment_never_exceeds_capacity_across_two_instances(
    two: list[httpx.AsyncClient], make_user: Callable[..., Any], tokens: Tokens
) -> None:
    admin = auth(tokens, await make_user("admin"))
    agents = [await make_user("agent") for _ in range(3)]
    team = await _team(two[0], admin, 2)
    members = {"userIds": [a.id for a in agents]}
    assert (await two[0].put(f"/api/teams/{team}/members", json=members, headers=admin)).is_success
    for index, agent in enumerate(agents):
        headers = auth(tokens, agent)
        answer = await two[index % 2].put(
            "/api/agents/me/availability", json={"availability": "available"}, headers=headers
        )
        assert answer.status_code == 200, answer.text
    # Online: the realtime service's presence, as its event would record it.
    for agent in agents:
        await _mark_online(two, agent.id)
    customers = [await make_user("customer") for _ in range(12)]
    opened = await asyncio.gather(
        *(
            two[i % 2].post("/api/support", json={"teamId": team}, headers=auth(tokens, c))
            for i, c in enumerate(customers)
        )
    )
    assert [o.status_code for o in opened] == [201] * 12
    # The triggers of both instances race to hand the queue out; capacity 2 x 3 agents = 6.
    counts: dict[str, int] = {}
    for _ in range(100):
        listing = (await two[0].get("/api/agents", headers=admin)).json()
        counts = {a["_id"]: a["openAssigned"] for a in listing if a["_id"] in members["userIds"]}
        if sum(counts.values()) >= 6:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # any assignment still racing would show now
    listing = (await two[1].get("/api/agents", headers=admin)).json()
    counts = {a["_id"]: a["openAssigned"] for a in listing if a["_id"] in members["userIds"]}
    assert counts == {a.id: 2 for a in agents}
    everything = await two[0].get(
        "/api/inbox", params={"view": "all", "teamId": team}, headers=admin
    )
    assert everything.status_code == 200, everything.text
    assert len(everything.json()["items"]) == 12
    queue = await two[1].get(
        "/api/inbox", params={"view": "unassigned"}, headers=auth(tokens, agents[0])
    )
    assert queue.status_code == 200, queue.text
    assert queue.json()["counts"] == {"mine": 2, "unassigned": 6, "team": 12}
    assert len(queue.json()["items"]) == 6


async def _mark_online(two: list[httpx.AsyncClient], user_id: str) -> None:
    app = two[0]._transport.app  # type: ignore[attr-defined]
    await app.state.teams.presence_changed(user_id, online=True, at=utcnow())


async def test_an_agent_in_many_teams_gets_no_more_than_capacity_when_all_drain_at_once(
    two: list[httpx.AsyncClient], make_user: Callable[..., Any], tokens: Tokens
) -> None:
    """Five teams drained at once on two instances, each with a conversation for the one agent
    they share: without the atomic claim, each drain counts 0 open and all five assign."""
    admin = auth(tokens, await make_user("admin"))
    agent = await make_user("agent")
    teams = [await _team(two[0], admin, 1) for _ in range(5)]
    for team in teams:
        members = {"userIds": [agent.id]}
        assert (
            await two[0].put(f"/api/teams/{team}/members", json=members, headers=admin)
        ).is_success
        customer = auth(tokens, await make_user("customer"))
        opened = await two[1].post("/api/support", json={"teamId": team}, headers=customer)
        assert opened.status_code == 201, opened.text
    await _mark_online(two, agent.id)
    await two[0].put(
        "/api/agents/me/availability",
        json={"availability": "available"},
        headers=auth(tokens, agent),
    )
    desks = [c._transport.app.state.desk.assigner for c in two]  # type: ignore[attr-defined]
    await asyncio.gather(*(desk.drain(team) for team in teams for desk in desks))
    await asyncio.sleep(0.5)  # the availability trigger's own drains finish too
    listing = (await two[1].get("/api/agents", headers=admin)).json()
    assert next(a["openAssigned"] for a in listing if a["_id"] == agent.id) == 1
    mine = await two[0].get("/api/inbox", params={"view": "mine"}, headers=auth(tokens, agent))
    assert mine.json()["counts"]["mine"] == 1
    assert mine.json()["counts"]["unassigned"] == 4
