"""The desk's periodic sweep (DESK_SWEEP_INTERVAL_SECONDS) is the safety net of the queue's
triggers (issue 15 "The queue drains by itself"): capacity freed without its trigger (a process
that committed a resolve and died before handing the queue out; here the resolve is written to
the database while no conversations process runs, then again while one runs) is still handed out,
at start-up and then every interval."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.support.desk import Listener, make_team, make_users
from tests.support.stack import TestStack
from tests.support.users import TestUser

pytestmark = pytest.mark.usefixtures("stack")


def _resolved_without_trigger(db: Database[Any], cid: str) -> None:
    """What a resolve's transaction writes, with no drain after it."""
    result = db["conversations"].update_one(
        {"_id": ObjectId(cid), "status": "open"},
        {"$set": {"status": "resolved"}, "$unset": {"open_key": ""}, "$inc": {"version": 1}},
    )
    assert result.modified_count == 1


async def _assignee(http: httpx.AsyncClient, cid: str, viewer: TestUser) -> Any:
    got = await http.get(f"/api/conversations/{cid}", headers=viewer.headers)
    assert got.status_code == 200, got.text
    return got.json()["assignee"]


async def _wait_assigned(http: httpx.AsyncClient, cid: str, viewer: TestUser, s: float) -> Any:
    for _ in range(int(s * 10)):
        if (assignee := await _assignee(http, cid, viewer)) is not None:
            return assignee
        await asyncio.sleep(0.1)
    return None


async def test_the_sweep_hands_out_capacity_freed_without_a_trigger(
    http: httpx.AsyncClient, stack: TestStack, conversations_db: Database[Any]
) -> None:
    admin, agent, *customers = await make_users(
        http, stack, "admin", "agent", "customer", "customer", "customer"
    )
    team = await make_team(http, admin, [agent], capacity=1)
    listener = await Listener(agent).connect(stack)
    try:
        await http.put(
            "/api/agents/me/availability",
            json={"availability": "available"},
            headers=agent.headers,
        )
        opened = []
        for customer in customers[:2]:
            answer = await http.post(
                "/api/support", json={"teamId": team}, headers=customer.headers
            )
            assert answer.status_code in (200, 201), answer.text
            opened.append(answer.json()["_id"])
        first, second = opened
        assert await _wait_assigned(http, first, admin, 10) is not None
        await asyncio.sleep(0.5)
        assert await _assignee(http, second, admin) is None  # at capacity: queued

        with stack.service_stopped("conversations"):
            # Capacity freed while no process runs: nobody hears of it.
            _resolved_without_trigger(conversations_db, first)
            with stack.extra_process("conversations", DESK_SWEEP_INTERVAL_SECONDS="1") as url:
                async with httpx.AsyncClient(base_url=url, timeout=30.0) as direct:
                    # The sweep at start-up hands it out.
                    taken = await _wait_assigned(direct, second, admin, 5)
                    assert taken == {"_id": agent.id, "email": agent.email}
                    third = await direct.post(
                        "/api/support", json={"teamId": team}, headers=customers[2].headers
                    )
                    assert third.status_code == 201, third.text
                    tid = third.json()["_id"]
                    await asyncio.sleep(1.5)
                    assert await _assignee(direct, tid, admin) is None  # at capacity again
                    # Freed again without a trigger while it runs: the next sweep catches it.
                    _resolved_without_trigger(conversations_db, second)
                    taken = await _wait_assigned(direct, tid, admin, 5)
                    assert taken == {"_id": agent.id, "email": agent.email}
    finally:
        await listener.client.disconnect()
