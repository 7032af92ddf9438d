"""`GET /api/inbox` counts are exact under concurrent changes (issue 15 "Counts are exact"): in
every answer, the count of the view asked for equals the items it lists, while claims, status
changes and unassignments run at the same time; and once quiet, every count equals what its view
lists and what the conversations say."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx
import pytest

from tests.support.desk import make_team, make_users
from tests.support.stack import TestStack
from tests.support.users import TestUser, new_user

pytestmark = pytest.mark.usefixtures("stack")

CHANGE_SECONDS = 6.0


async def _inbox(
    http: httpx.AsyncClient, user: TestUser, view: str, status: str, team: str
) -> dict[str, Any]:
    got = await http.get(
        "/api/inbox",
        params={"view": view, "status": status, "teamId": team, "limit": "200"},
        headers=user.headers,
    )
    assert got.status_code == 200, got.text
    return dict(got.json())


async def test_inbox_counts_equal_the_views_under_concurrent_changes(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    admin, *agents = await make_users(http, stack, "admin", "agent", "agent", "agent")
    team = await make_team(http, admin, agents, autoAssign=False)
    customers = await asyncio.gather(*(new_user(http, stack) for _ in range(10)))
    cids = []
    for customer in customers:
        opened = await http.post("/api/support", json={"teamId": team}, headers=customer.headers)
        assert opened.status_code == 201, opened.text
        cids.append(opened.json()["_id"])
    rng = random.Random(15)
    deadline = time.monotonic() + CHANGE_SECONDS
    mismatches: list[str] = []
    reads = 0

    async def change() -> None:
        while time.monotonic() < deadline:
            cid, agent = rng.choice(cids), rng.choice(agents)
            action = rng.choice(("claim", "status", "status", "unassign"))
            if action == "claim":
                await http.post(f"/api/conversations/{cid}/claim", headers=agent.headers)
            elif action == "status":
                await http.patch(
                    f"/api/conversations/{cid}/status",
                    json={"status": rng.choice(("open", "pending", "resolved"))},
                    headers=admin.headers,
                )
            else:
                await http.put(
                    f"/api/conversations/{cid}/assignee",
                    json={"assigneeId": None},
                    headers=admin.headers,
                )

    async def read() -> None:
        nonlocal reads
        while time.monotonic() < deadline:
            user = rng.choice(agents)
            view, status = (
                rng.choice(("mine", "unassigned", "team")),
                rng.choice(("open", "pending")),
            )
            body = await _inbox(http, user, view, status, team)
            reads += 1
            if body["counts"][view] != len(body["items"]):
                mismatches.append(
                    f"{view}/{status}: {body['counts']} vs {len(body['items'])} items"
                )

    await asyncio.gather(*(change() for _ in range(4)), *(read() for _ in range(3)))
    assert reads > 20
    assert mismatches == [], mismatches[:5]

    # Quiet: every count of every agent equals its view, and the conversations themselves.
    states = {}
    for cid in cids:
        got = (await http.get(f"/api/conversations/{cid}", headers=admin.headers)).json()
        states[cid] = (got["status"], (got["assignee"] or {}).get("_id"))
    for status in ("open", "pending", "resolved"):
        for agent in agents:
            listed = {
                view: {c["_id"] for c in (await _inbox(http, agent, view, status, team))["items"]}
                for view in ("mine", "unassigned", "team")
            }
            body = await _inbox(http, agent, "mine", status, team)
            assert body["counts"] == {view: len(ids) for view, ids in listed.items()}
            assert listed["mine"] == {c for c, s in states.items() if s == (status, agent.id)}
            assert listed["unassigned"] == {c for c, s in states.items() if s == (status, None)}
            assert listed["team"] == {c for c, s in states.items() if s[0] == status}
