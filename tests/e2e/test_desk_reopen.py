"""A customer's message on a pending, snoozed or resolved support conversation reopens it
(CONTRACT Part 3): its assignee kept only if eligible (available, connected, under capacity),
else back to the queue; `waitingSince` is the oldest customer message staff have not answered.
Through the gateway, with the socket events each side receives."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.support.desk import (
    Listener,
    get_conversation,
    make_team,
    make_users,
    say,
    set_status,
    wait_online,
)
from tests.support.stack import TestStack

pytestmark = pytest.mark.usefixtures("stack")


async def test_waiting_since_follows_the_unanswered_customer_message(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    customer, agent, admin = await make_users(http, stack, "customer", "agent", "admin")
    team = await make_team(http, admin, [agent], autoAssign=False)
    opened = await http.post(
        "/api/support", json={"teamId": team, "text": "hello?"}, headers=customer.headers
    )
    cid = opened.json()["_id"]
    first = await get_conversation(http, cid, agent)
    assert first["waitingSince"] is not None and first["version"] == 1
    assert (await http.post(f"/api/conversations/{cid}/claim", headers=agent.headers)).is_success
    # Staff answer: nobody waits any more. The wait moves with the messages, in their own
    # transaction: not a desk change of its own (no version, no conversationUpdated).
    await say(http, cid, agent, "here")
    answered = await get_conversation(http, cid, agent)
    assert (answered["waitingSince"], answered["version"]) == (None, 2)
    # The customer writes twice: the wait starts at the first of them.
    asked = await say(http, cid, customer, "one more thing")
    await say(http, cid, customer, "and another")
    waiting = await get_conversation(http, cid, agent)
    assert waiting["waitingSince"] == asked["createdAt"] and waiting["version"] == 2
    assert waiting["status"] == "open" and waiting["assignee"]["_id"] == agent.id


async def test_a_customer_message_reopens_a_resolved_conversation_into_the_queue(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    """Its assignee is not connected (not eligible): back to the queue, and everyone hears."""
    customer, agent, admin = await make_users(http, stack, "customer", "agent", "admin")
    team = await make_team(http, admin, [agent], autoAssign=False)
    await http.put(
        "/api/agents/me/availability", json={"availability": "available"}, headers=agent.headers
    )
    cid = (
        await http.post(
            "/api/support", json={"teamId": team, "text": "hi"}, headers=customer.headers
        )
    ).json()["_id"]
    assert (await http.post(f"/api/conversations/{cid}/claim", headers=agent.headers)).is_success
    await say(http, cid, agent, "done, bye")
    resolved = await set_status(http, cid, agent, status="resolved")
    assert (resolved["status"], resolved["waitingSince"]) == ("resolved", None)
    sockets = [await Listener(u).connect(stack) for u in (customer, admin)]
    try:
        asked = await say(http, cid, customer, "it broke again")
        after = await get_conversation(http, cid, admin)
        assert (after["status"], after["assignee"], after["waitingSince"]) == (
            "open",
            None,
            asked["createdAt"],
        )
        assert after["version"] == resolved["version"] + 1
        queue = await http.get("/api/inbox", params={"view": "unassigned"}, headers=agent.headers)
        assert [c["_id"] for c in queue.json()["items"]] == [cid]
        staff = await sockets[1].wait_for(
            "conversationUpdated", lambda d: d["conversation"]["version"] == after["version"]
        )
        assert sorted(staff["changes"]) == ["assignee", "status"]
        assert staff["actor"]["_id"] == customer.id
        seen = await sockets[0].wait_for(
            "conversationUpdated",
            lambda d: d["conversation"]["_id"] == cid and d["conversation"]["status"] == "open",
        )
        assert (seen["conversation"]["assignee"], sorted(seen["changes"])) == (
            None,
            ["assignee", "status"],
        )
        assert "waitingSince" not in seen["conversation"] and "version" not in seen["conversation"]
        # It is the customer's unresolved request in that team again.
        again = await http.post("/api/support", json={"teamId": team}, headers=customer.headers)
        assert (again.status_code, again.json()["_id"]) == (200, cid)
    finally:
        for listener in sockets:
            await listener.client.disconnect()


async def test_reopening_keeps_an_eligible_assignee_and_not_one_at_capacity(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    customer, other, agent, admin = await make_users(
        http, stack, "customer", "customer", "agent", "admin"
    )
    team = await make_team(http, admin, [agent], autoAssign=False, capacity=1)
    await http.put(
        "/api/agents/me/availability", json={"availability": "available"}, headers=agent.headers
    )
    listener = await Listener(agent).connect(stack)
    try:
        await wait_online(http, admin, agent)
        first = (
            await http.post("/api/support", json={"teamId": team}, headers=customer.headers)
        ).json()["_id"]
        second = (
            await http.post("/api/support", json={"teamId": team}, headers=other.headers)
        ).json()["_id"]
        for cid in (first, second):
            claimed = await http.post(f"/api/conversations/{cid}/claim", headers=agent.headers)
            assert claimed.is_success, claimed.text
        # Pending frees the capacity (only open ones count): a message brings it back to them.
        await set_status(http, first, agent, status="pending")
        await set_status(http, second, agent, status="resolved")
        await say(http, first, customer, "any news?")
        kept = await get_conversation(http, first, agent)
        assert (kept["status"], kept["assignee"]["_id"]) == ("open", agent.id)
        # Now at capacity (1 open): the other reopened request goes back to the queue.
        snoozed = await set_status(
            http,
            second,
            agent,
            status="snoozed",
            snoozedUntil=(datetime.now(UTC) + timedelta(hours=1)).isoformat(),
        )
        assert snoozed["status"] == "snoozed"
        await say(http, second, other, "hello again")
        queued = await get_conversation(http, second, agent)
        assert (queued["status"], queued["assignee"], queued["snoozedUntil"]) == (
            "open",
            None,
            None,
        )
        agents = (await http.get("/api/agents", headers=admin.headers)).json()
        assert next(a for a in agents if a["_id"] == agent.id)["openAssigned"] == 1
        await listener.wait_for("conversationQueued", lambda d: d["conversation"]["_id"] == second)
    finally:
        await listener.client.disconnect()
