"""The support desk through the gateway (CONTRACT Part 3): teams, agents, support conversations,
the inbox, claims and statuses, each from the side of who may and who may not."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.support.api import UNKNOWN_ID, assert_json_error
from tests.support.desk import Listener, make_team, make_users
from tests.support.stack import TestStack
from tests.support.users import new_user


async def test_teams_default_and_admin_only_management(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    customer, agent, admin = await make_users(http, stack, "customer", "agent", "admin")
    teams = await http.get("/api/teams", headers=agent.headers)
    assert teams.status_code == 200, teams.text
    defaults = [t for t in teams.json() if t["isDefault"]]
    assert [t["name"] for t in defaults] == ["Support"]
    assert_json_error(await http.get("/api/teams", headers=customer.headers), 403)
    assert_json_error(await http.get("/api/teams"), 401)
    body = {"name": f"team-{uuid.uuid4().hex[:8]}"}
    assert_json_error(await http.post("/api/teams", json=body, headers=agent.headers), 403)
    assert_json_error(await http.post("/api/teams", json=body, headers=customer.headers), 403)
    created = await http.post("/api/teams", json=body, headers=admin.headers)
    assert created.status_code == 201, created.text
    team = created.json()
    assert (team["autoAssign"], team["capacity"], team["members"]) == (True, 5, [])
    assert_json_error(await http.post("/api/teams", json=body, headers=admin.headers), 409)
    path = f"/api/teams/{team['_id']}"
    assert_json_error(await http.patch(path, json={"capacity": 3}, headers=agent.headers), 403)
    patched = await http.patch(
        path, json={"capacity": 3, "autoAssign": False}, headers=admin.headers
    )
    assert (patched.status_code, patched.json()["capacity"]) == (200, 3), patched.text
    for bad in ({"capacity": -1}, {"capacity": "5"}, {"autoAssign": "yes"}, {"name": ""}, {}, []):
        assert_json_error(await http.patch(path, json=bad, headers=admin.headers), 400)
    members = f"{path}/members"
    assert_json_error(
        await http.put(members, json={"userIds": [agent.id]}, headers=agent.headers), 403
    )
    assert_json_error(
        await http.put(members, json={"userIds": [customer.id]}, headers=admin.headers), 400
    )
    assert_json_error(await http.put(members, json={"userIds": ["x"]}, headers=admin.headers), 400)
    assert_json_error(
        await http.put(
            f"/api/teams/{UNKNOWN_ID}/members", json={"userIds": []}, headers=admin.headers
        ),
        404,
    )
    put = await http.put(members, json={"userIds": [agent.id]}, headers=admin.headers)
    assert put.json()["members"] == [agent.id]


async def test_agents_availability_and_capacity_rights(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    customer, agent, other, admin = await make_users(
        http, stack, "customer", "agent", "agent", "admin"
    )
    listing = await http.get("/api/agents", headers=agent.headers)
    assert listing.status_code == 200, listing.text
    me = next(a for a in listing.json() if a["_id"] == agent.id)
    assert (me["availability"], me["online"], me["openAssigned"], me["capacity"]) == (
        "offline",
        False,
        0,
        None,
    )
    assert customer.id not in [a["_id"] for a in listing.json()]
    assert_json_error(await http.get("/api/agents", headers=customer.headers), 403)
    avail = {"availability": "available"}
    ok = await http.put("/api/agents/me/availability", json=avail, headers=agent.headers)
    assert ok.json() == {"_id": agent.id, "availability": "available"}
    assert_json_error(
        await http.put("/api/agents/me/availability", json=avail, headers=customer.headers), 403
    )
    # Another agent's availability: admins only.
    theirs = f"/api/agents/{other.id}/availability"
    assert_json_error(await http.put(theirs, json=avail, headers=agent.headers), 403)
    assert (await http.put(theirs, json=avail, headers=admin.headers)).status_code == 200
    assert_json_error(
        await http.put(
            f"/api/agents/{customer.id}/availability", json=avail, headers=admin.headers
        ),
        400,
    )
    for bad in ({"availability": "away"}, {"availability": None}, {}):
        assert_json_error(
            await http.put("/api/agents/me/availability", json=bad, headers=agent.headers), 400
        )
    capacity = f"/api/agents/{agent.id}/capacity"
    assert_json_error(await http.put(capacity, json={"capacity": 9}, headers=agent.headers), 403)
    assert_json_error(await http.put(capacity, json={"capacity": 9}, headers=customer.headers), 403)
    assert_json_error(await http.put(capacity, json={"capacity": 1.5}, headers=admin.headers), 400)
    assert (
        await http.put(capacity, json={"capacity": 0}, headers=admin.headers)
    ).status_code == 200
    listing = (await http.get("/api/agents", headers=admin.headers)).json()
    me = next(a for a in listing if a["_id"] == agent.id)
    assert (me["availability"], me["capacity"]) == ("available", 0)


async def test_support_request_queue_claim_and_status(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    customer, stranger, agent, rival, outsider, admin = await make_users(
        http, stack, "customer", "customer", "agent", "agent", "agent", "admin"
    )
    team = await make_team(http, admin, [agent, rival], autoAssign=False)
    assert_json_error(await http.post("/api/support", json={}, headers=agent.headers), 403)
    assert_json_error(
        await http.post("/api/support", json={"teamId": UNKNOWN_ID}, headers=customer.headers), 404
    )
    assert_json_error(
        await http.post("/api/support", json={"text": 5, "teamId": team}, headers=customer.headers),
        400,
    )
    opened = await http.post(
        "/api/support",
        json={"teamId": team, "text": "my order is late", "orderId": "A-1"},
        headers=customer.headers,
    )
    assert opened.status_code == 201, opened.text
    conversation = opened.json()
    assert (conversation["status"], conversation["assignee"]) == ("open", None)
    assert "team" not in conversation  # the customer's view
    cid = conversation["_id"]
    again = await http.post("/api/support", json={"teamId": team}, headers=customer.headers)
    assert (again.status_code, again.json()["_id"]) == (200, cid)

    # The queue of the team: its members see it, counted exactly; others cannot see it.
    queue = await http.get("/api/inbox", params={"view": "unassigned"}, headers=agent.headers)
    assert queue.status_code == 200, queue.text
    assert [c["_id"] for c in queue.json()["items"]] == [cid]
    assert queue.json()["counts"] == {"mine": 0, "unassigned": 1, "team": 1}
    item = queue.json()["items"][0]
    assert item["team"]["_id"] == team and item["version"] == 1 and item["waitingSince"]
    assert (await http.get(f"/api/conversations/{cid}", headers=agent.headers)).status_code == 200
    messages = await http.get(f"/api/conversations/{cid}/messages", headers=agent.headers)
    assert [m["text"] for m in messages.json()] == ["my order is late"]
    for attacker in (outsider, stranger):
        assert_json_error(
            await http.get(f"/api/conversations/{cid}", headers=attacker.headers), 403
        )
        assert_json_error(
            await http.post(f"/api/conversations/{cid}/claim", headers=attacker.headers), 403
        )
        assert_json_error(
            await http.patch(
                f"/api/conversations/{cid}/status",
                json={"status": "resolved"},
                headers=attacker.headers,
            ),
            403,
        )
    assert_json_error(await http.get("/api/inbox", headers=customer.headers), 403)
    assert_json_error(
        await http.get("/api/inbox", params={"view": "all"}, headers=agent.headers), 403
    )
    assert_json_error(
        await http.get("/api/inbox", params={"teamId": team}, headers=outsider.headers), 403
    )
    for bad in ({"view": "everything"}, {"status": "closed"}, {"limit": "-1"}, {"teamId": "x"}):
        assert_json_error(await http.get("/api/inbox", params=bad, headers=agent.headers), 400)

    # Two members claim at once: exactly one wins; the assignee joins the conversation.
    claims = await asyncio.gather(
        http.post(f"/api/conversations/{cid}/claim", headers=agent.headers),
        http.post(f"/api/conversations/{cid}/claim", headers=rival.headers),
    )
    assert sorted(c.status_code for c in claims) == [200, 409], [c.text for c in claims]
    won = next(c for c in claims if c.status_code == 200).json()
    lost = next(c for c in claims if c.status_code == 409).json()
    owner = agent if won["assignee"]["_id"] == agent.id else rival
    assert lost == {**lost, "code": "already_assigned", "assignee": owner.id}
    assert won["version"] == 2 and owner.id in [p["_id"] for p in won["participants"]]
    sent = await http.post(
        f"/api/conversations/{cid}/messages", json={"text": "on it"}, headers=owner.headers
    )
    assert sent.status_code == 201, sent.text
    mine = await http.get("/api/inbox", headers=owner.headers)
    assert [c["_id"] for c in mine.json()["items"]] == [cid]
    assert mine.json()["counts"] == {"mine": 1, "unassigned": 0, "team": 1}

    # Statuses: bad ones 400, the same one again 200 without a change, snoozed needs a time.
    path = f"/api/conversations/{cid}/status"
    for bad in (
        {"status": "closed"},
        {"status": "snoozed"},
        {"status": "snoozed", "snoozedUntil": "2000-01-01T00:00:00Z"},
    ):
        assert_json_error(await http.patch(path, json=bad, headers=owner.headers), 400)
    pending = await http.patch(path, json={"status": "pending"}, headers=owner.headers)
    assert (pending.json()["status"], pending.json()["version"]) == ("pending", 3)
    same = await http.patch(path, json={"status": "pending"}, headers=owner.headers)
    assert (same.status_code, same.json()["version"]) == (200, 3)
    seen = await http.get("/api/conversations", headers=customer.headers)
    mine_as_customer = next(c for c in seen.json() if c["_id"] == cid)
    assert mine_as_customer["status"] == "pending"
    assert mine_as_customer["assignee"] == {"_id": owner.id, "email": owner.email}
    assert "labels" not in mine_as_customer
    resolved = await http.patch(path, json={"status": "resolved"}, headers=admin.headers)
    assert resolved.json()["status"] == "resolved"
    # A resolved request does not stop the next one.
    fresh = await http.post("/api/support", json={"teamId": team}, headers=customer.headers)
    assert fresh.status_code == 201 and fresh.json()["_id"] != cid


async def test_auto_assignment_waits_for_an_eligible_agent(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    """Available but not connected is not eligible: the request waits in the queue, and is
    assigned at once when the agent connects (the realtime service's presence event)."""
    import socketio

    customer, agent, admin = await make_users(http, stack, "customer", "agent", "admin")
    team = await make_team(http, admin, [agent], capacity=1)
    await http.put(
        "/api/agents/me/availability", json={"availability": "available"}, headers=agent.headers
    )
    first = (
        await http.post("/api/support", json={"teamId": team}, headers=customer.headers)
    ).json()
    await asyncio.sleep(1.0)
    queue = await http.get("/api/inbox", params={"view": "unassigned"}, headers=agent.headers)
    assert queue.json()["counts"]["unassigned"] == 1
    client = socketio.AsyncClient()
    await client.connect(
        stack.gateway_url,
        socketio_path="/socket.io",
        auth={"token": agent.token},
        transports=["websocket"],
    )
    try:
        for _ in range(100):
            got = (
                await http.get(f"/api/conversations/{first['_id']}", headers=agent.headers)
            ).json()
            if got["assignee"]:
                break
            await asyncio.sleep(0.1)
        assert got["assignee"] == {"_id": agent.id, "email": agent.email}
        # At capacity (1): the next request waits in the queue.
        other = await new_user(http, stack, "customer")
        second = (
            await http.post("/api/support", json={"teamId": team}, headers=other.headers)
        ).json()
        await asyncio.sleep(1.0)
        got = (await http.get(f"/api/conversations/{second['_id']}", headers=agent.headers)).json()
        assert got["assignee"] is None
        # Capacity frees up (resolved): the queue drains by itself.
        await http.patch(
            f"/api/conversations/{first['_id']}/status",
            json={"status": "resolved"},
            headers=agent.headers,
        )
        for _ in range(100):
            got = (
                await http.get(f"/api/conversations/{second['_id']}", headers=agent.headers)
            ).json()
            if got["assignee"]:
                break
            await asyncio.sleep(0.1)
        assert got["assignee"] == {"_id": agent.id, "email": agent.email}
    finally:
        await client.disconnect()


pytestmark = pytest.mark.usefixtures("stack")


async def test_desk_changes_reach_staff_and_the_customer_as_socket_events(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    customer, agent, outsider, admin = await make_users(
        http, stack, "customer", "agent", "agent", "admin"
    )
    team = await make_team(http, admin, [agent], autoAssign=False)
    sockets = [await Listener(u).connect(stack) for u in (customer, agent, outsider, admin)]
    by_role = {
        "customer": sockets[0],
        "agent": sockets[1],
        "outsider": sockets[2],
        "admin": sockets[3],
    }
    try:
        opened = await http.post("/api/support", json={"teamId": team}, headers=customer.headers)
        cid = opened.json()["_id"]
        queued = await by_role["agent"].wait_for(
            "conversationQueued", lambda d: d["conversation"]["_id"] == cid
        )
        assert queued["conversation"]["team"]["_id"] == team
        claimed = await http.post(f"/api/conversations/{cid}/claim", headers=agent.headers)
        assert claimed.status_code == 200, claimed.text
        assigned = await by_role["agent"].wait_for(
            "conversationAssigned", lambda d: d["conversation"]["_id"] == cid
        )
        assert (assigned["from"], assigned["to"]) == (None, agent.id)
        created = await by_role["admin"].wait_for(
            "conversationUpdated", lambda d: d["conversation"]["_id"] == cid
        )
        assert (created["changes"], created["conversation"]["version"]) == (["status", "team"], 1)
        update = await by_role["admin"].wait_for(
            "conversationUpdated",
            lambda d: d["conversation"]["_id"] == cid and d["conversation"]["version"] == 2,
        )
        assert update["changes"] == ["assignee"] and update["conversation"]["version"] == 2
        assert update["actor"]["_id"] == agent.id
        seen = await by_role["customer"].wait_for(
            "conversationUpdated", lambda d: d["conversation"]["_id"] == cid
        )
        assert seen["conversation"]["assignee"] == {"_id": agent.id, "email": agent.email}
        assert "team" not in seen["conversation"] and "labels" not in seen["conversation"]
        # A staff member of the team may watch the conversation's room.
        joined = await by_role["agent"].client.call("joinConversation", cid, timeout=10)
        assert joined.get("ok"), joined
        refused = await by_role["outsider"].client.call("joinConversation", cid, timeout=10)
        assert refused.get("error"), refused

        # A staff socket away during a change catches up by re-reading the inbox.
        await by_role["agent"].client.disconnect()
        await http.patch(
            f"/api/conversations/{cid}/status", json={"status": "pending"}, headers=admin.headers
        )
        await by_role["admin"].wait_for(
            "conversationUpdated", lambda d: d["conversation"]["version"] == 3
        )
        inbox = await http.get("/api/inbox", params={"status": "pending"}, headers=agent.headers)
        item = next(c for c in inbox.json()["items"] if c["_id"] == cid)
        assert (item["status"], item["version"]) == ("pending", 3)
        await asyncio.sleep(0.5)
        # Nobody outside the conversation's team heard of any of it.
        assert [e for e in by_role["outsider"].events if e[1]["conversation"]["_id"] == cid] == []
    finally:
        for listener in sockets:
            if listener.client.connected:
                await listener.client.disconnect()


async def test_reassign_transfer_and_labels_with_their_rights(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    customer, agent, mate, outsider, admin = await make_users(
        http, stack, "customer", "agent", "agent", "agent", "admin"
    )
    team = await make_team(http, admin, [agent, mate], autoAssign=False, capacity=1)
    other_team = await make_team(http, admin, [outsider], autoAssign=False)
    cid = (await http.post("/api/support", json={"teamId": team}, headers=customer.headers)).json()[
        "_id"
    ]
    path = f"/api/conversations/{cid}/assignee"
    # Only admins assign an unowned conversation; customers and outsiders never.
    for attacker in (customer, agent, outsider):
        assert_json_error(
            await http.put(path, json={"assigneeId": agent.id}, headers=attacker.headers), 403
        )
    assert_json_error(await http.put(path, json={}, headers=admin.headers), 400)
    assert_json_error(await http.put(path, json={"assigneeId": "x"}, headers=admin.headers), 400)
    assert_json_error(
        await http.put(path, json={"assigneeId": customer.id}, headers=admin.headers), 400
    )
    given = await http.put(path, json={"assigneeId": agent.id}, headers=admin.headers)
    assert given.json()["assignee"]["_id"] == agent.id, given.text
    # Its assignee hands it to a team mate, not to someone outside the team, and cannot force.
    assert_json_error(
        await http.put(path, json={"assigneeId": outsider.id}, headers=agent.headers), 403
    )
    assert_json_error(
        await http.put(path, json={"assigneeId": mate.id, "force": True}, headers=agent.headers),
        403,
    )
    handed = await http.put(path, json={"assigneeId": mate.id}, headers=agent.headers)
    assert handed.json()["assignee"]["_id"] == mate.id, handed.text
    # The previous assignee keeps the history they had (still a participant).
    assert (await http.get(f"/api/conversations/{cid}/messages", headers=agent.headers)).is_success
    # At capacity (1): 409 unless an admin forces it.
    second = (
        await http.post(
            "/api/support", json={"teamId": team}, headers=(await new_user(http, stack)).headers
        )
    ).json()["_id"]
    full = await http.put(
        f"/api/conversations/{second}/assignee", json={"assigneeId": mate.id}, headers=admin.headers
    )
    assert_json_error(full, 409, "at_capacity")
    forced = await http.put(
        f"/api/conversations/{second}/assignee",
        json={"assigneeId": mate.id, "force": True},
        headers=admin.headers,
    )
    assert forced.status_code == 200, forced.text
    # Labels by delta, priority; customers and outsiders may not.
    labels = f"/api/conversations/{cid}"
    for attacker in (customer, outsider):
        assert_json_error(
            await http.patch(labels, json={"addLabels": ["vip"]}, headers=attacker.headers), 403
        )
    for bad in ({"priority": "asap"}, {"addLabels": "vip"}, {}):
        assert_json_error(await http.patch(labels, json=bad, headers=mate.headers), 400)
    both = await asyncio.gather(
        http.patch(labels, json={"addLabels": ["vip"]}, headers=mate.headers),
        http.patch(
            labels, json={"addLabels": ["refund"], "priority": "high"}, headers=agent.headers
        ),
    )
    assert [b.status_code for b in both] == [200, 200], [b.text for b in both]
    got = (await http.get(labels, headers=admin.headers)).json()
    assert sorted(got["labels"]) == ["refund", "vip"] and got["priority"] == "high"
    # Transfer: into the other team's queue, unassigned; its status kept; the new team sees it.
    transfer = f"/api/conversations/{cid}/transfer"
    assert_json_error(
        await http.post(transfer, json={"teamId": other_team}, headers=outsider.headers), 403
    )
    assert_json_error(
        await http.post(transfer, json={"teamId": other_team}, headers=customer.headers), 403
    )
    assert_json_error(
        await http.post(transfer, json={"teamId": UNKNOWN_ID}, headers=mate.headers), 404
    )
    moved = await http.post(
        transfer, json={"teamId": other_team, "note": "billing"}, headers=mate.headers
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["team"]["_id"], moved.json()["assignee"]) == (other_team, None)
    queue = await http.get("/api/inbox", params={"view": "unassigned"}, headers=outsider.headers)
    assert cid in [c["_id"] for c in queue.json()["items"]]
    assert (await http.get(labels, headers=mate.headers)).status_code == 200  # still a participant


async def test_a_snoozed_conversation_reopens_at_its_time_into_the_queue(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    """Its assignee is not connected, so not eligible: it goes back to the queue."""
    from datetime import UTC, datetime, timedelta

    customer, agent, admin = await make_users(http, stack, "customer", "agent", "admin")
    team = await make_team(http, admin, [agent], autoAssign=False)
    cid = (await http.post("/api/support", json={"teamId": team}, headers=customer.headers)).json()[
        "_id"
    ]
    assert (await http.post(f"/api/conversations/{cid}/claim", headers=agent.headers)).is_success
    until = (datetime.now(UTC) + timedelta(seconds=2)).isoformat().replace("+00:00", "Z")
    snoozed = await http.patch(
        f"/api/conversations/{cid}/status",
        json={"status": "snoozed", "snoozedUntil": until},
        headers=agent.headers,
    )
    assert snoozed.json()["status"] == "snoozed" and snoozed.json()["snoozedUntil"], snoozed.text
    got: dict[str, Any] = {}
    for _ in range(100):
        got = (await http.get(f"/api/conversations/{cid}", headers=agent.headers)).json()
        if got["status"] == "open":
            break
        await asyncio.sleep(0.1)
    assert (got["status"], got["snoozedUntil"], got["assignee"]) == ("open", None, None)
