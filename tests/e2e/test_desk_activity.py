"""Priority and labels, the activity log and satisfaction through the gateway (CONTRACT Part 3):
priority orders the unassigned queue; labels change by delta; every desk change writes one
structured activity entry (the system as actor where no person decided); resolving by staff asks
the customer to rate, once per resolution; each from the attacker's side too."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.api import UNKNOWN_ID, assert_json_error
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
from tests.support.users import TestUser, new_user

pytestmark = pytest.mark.usefixtures("stack")


async def _request(http: httpx.AsyncClient, stack: TestStack, team: str) -> str:
    customer = await new_user(http, stack, "customer")
    opened = await http.post(
        "/api/support", json={"teamId": team, "text": "help"}, headers=customer.headers
    )
    assert opened.status_code == 201, opened.text
    return str(opened.json()["_id"])


async def _patch(http: httpx.AsyncClient, cid: str, who: TestUser, **body: Any) -> Any:
    changed = await http.patch(f"/api/conversations/{cid}", json=body, headers=who.headers)
    assert changed.status_code == 200, changed.text
    return changed.json()


async def _activity(http: httpx.AsyncClient, cid: str, who: TestUser) -> list[dict[str, Any]]:
    got = await http.get(f"/api/conversations/{cid}/activity", headers=who.headers)
    assert got.status_code == 200, got.text
    return list(got.json())


async def test_priority_orders_the_queue_and_auto_assignment(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    agent, admin = await make_users(http, stack, "agent", "admin")
    team = await make_team(http, admin, [agent], autoAssign=False)
    oldest, low, urgent, high = [await _request(http, stack, team) for _ in range(4)]
    await _patch(http, low, agent, priority="low")
    await _patch(http, urgent, agent, priority="urgent")
    await _patch(http, high, agent, priority="high")
    expected = [urgent, high, low, oldest]  # higher first, then the longest waiting
    queue = await http.get("/api/inbox", params={"view": "unassigned"}, headers=agent.headers)
    assert [c["_id"] for c in queue.json()["items"]] == expected
    # Page by page, the same order.
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(6):
        params = {"view": "unassigned", "limit": "1", **({"cursor": cursor} if cursor else {})}
        page = (await http.get("/api/inbox", params=params, headers=agent.headers)).json()
        seen += [c["_id"] for c in page["items"]]
        cursor = page["nextCursor"]
        if not cursor:
            break
    assert seen == expected
    assert_json_error(
        await http.get(
            "/api/inbox", params={"view": "unassigned", "cursor": "1_x"}, headers=agent.headers
        ),
        400,
    )
    # Priority back to none: it waits in line again by its time.
    await _patch(http, urgent, agent, priority=None)
    queue = await http.get("/api/inbox", params={"view": "unassigned"}, headers=agent.headers)
    assert [c["_id"] for c in queue.json()["items"]] == [high, low, oldest, urgent]

    # Auto-assignment hands out in the same order: with room for one, the high one goes first.
    await http.patch(
        f"/api/teams/{team}", json={"autoAssign": True, "capacity": 1}, headers=admin.headers
    )
    await http.put(
        "/api/agents/me/availability", json={"availability": "available"}, headers=agent.headers
    )
    socket = await Listener(agent).connect(stack)
    try:
        await wait_online(http, admin, agent)
        for _ in range(100):
            if (await get_conversation(http, high, agent))["assignee"]:
                break
            await asyncio.sleep(0.1)
        assert (await get_conversation(http, high, agent))["assignee"]["_id"] == agent.id
        # Auto-assignment is the system's act: its activity entry has no actor.
        given = [e for e in await _activity(http, high, agent) if e["type"] == "assignee"]
        assert [(e["from"], e["to"]["_id"], e["actor"]) for e in given] == [(None, agent.id, None)]
        assert given[0]["text"] == f"The system assigned it to {agent.email}"
        assert [
            (await get_conversation(http, c, agent))["assignee"] for c in (low, oldest, urgent)
        ] == [
            None,
            None,
            None,
        ]
    finally:
        await socket.client.disconnect()


async def test_labels_change_by_delta_under_concurrency(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    agents = await make_users(http, stack, *["agent"] * 5)
    admin = await new_user(http, stack, "admin")
    team = await make_team(http, admin, list(agents), autoAssign=False)
    cid = await _request(http, stack, team)
    await _patch(http, cid, admin, addLabels=["keep", "drop"])
    edits = [
        http.patch(f"/api/conversations/{cid}", json={"addLabels": [f"l{i}"]}, headers=a.headers)
        for i, a in enumerate(agents)
    ]
    edits.append(
        http.patch(
            f"/api/conversations/{cid}", json={"removeLabels": ["drop"]}, headers=admin.headers
        )
    )
    answers = await asyncio.gather(*edits)
    assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
    got = await get_conversation(http, cid, admin)
    assert sorted(got["labels"]) == ["keep", "l0", "l1", "l2", "l3", "l4"]
    # Each edit is one entry, from the labels its own transaction read.
    labels = [e for e in await _activity(http, cid, admin) if e["type"] == "labels"]
    assert len(labels) == 7
    for before, after in itertools.pairwise(labels):
        assert after["from"] == before["to"]


async def test_every_desk_change_is_one_activity_entry_in_order(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    customer, stranger, agent, outsider, admin = await make_users(
        http, stack, "customer", "customer", "agent", "agent", "admin"
    )
    team = await make_team(http, admin, [agent], autoAssign=False, capacity=1)
    other = await make_team(http, admin, [outsider], autoAssign=False)
    opened = await http.post(
        "/api/support", json={"teamId": team, "text": "hi"}, headers=customer.headers
    )
    cid = opened.json()["_id"]
    path = f"/api/conversations/{cid}/activity"
    assert await _activity(http, cid, agent) == []  # creation is not a change
    assert (await http.post(f"/api/conversations/{cid}/claim", headers=agent.headers)).is_success
    # A refused change writes nothing: the agent is at capacity (1) with this one open.
    second = await _request(http, stack, team)
    full = await http.put(
        f"/api/conversations/{second}/assignee",
        json={"assigneeId": agent.id},
        headers=admin.headers,
    )
    assert_json_error(full, 409, "at_capacity")
    assert await _activity(http, second, admin) == []
    await _patch(http, cid, agent, priority="high", addLabels=["vip"])
    await set_status(http, cid, agent, status="pending")
    # Reopened by the customer's message: the system's rule; the agent, not connected, is not
    # eligible to keep it.
    await say(http, cid, customer, "still there?")
    until = (datetime.now(UTC) + timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    await set_status(http, cid, agent, status="snoozed", snoozedUntil=until)
    for _ in range(100):  # the snooze ends: reopened by the system, back to the queue
        if (await get_conversation(http, cid, agent))["status"] == "open":
            break
        await asyncio.sleep(0.1)
    moved = await http.post(
        f"/api/conversations/{cid}/transfer", json={"teamId": other}, headers=admin.headers
    )
    assert moved.status_code == 200, moved.text

    entries = await _activity(http, cid, admin)
    rows = [
        (e["type"], e["from"], e["to"], e["actor"]["_id"] if e["actor"] else None) for e in entries
    ]
    me = {"_id": agent.id, "email": agent.email}
    assert rows == [
        ("assignee", None, me, agent.id),
        ("priority", None, "high", agent.id),
        ("labels", [], ["vip"], agent.id),
        ("status", "open", "pending", agent.id),
        ("status", "pending", "open", None),
        ("assignee", me, None, None),
        ("status", "open", "snoozed", agent.id),
        ("status", "snoozed", "open", None),
        ("team", entries[-1]["from"], entries[-1]["to"], admin.id),
    ], rows
    assert (entries[-1]["from"]["_id"], entries[-1]["to"]["_id"]) == (team, other)
    assert entries[0]["actor"] == me and all(e["at"].endswith("Z") for e in entries)
    texts = [e["text"] for e in entries]
    assert texts[0] == f"{agent.email} assigned it to {agent.email}"
    assert texts[4] == "The system changed the status from pending to open"
    assert texts[5] == f"The system unassigned {agent.email}"
    assert texts[2] == f"{agent.email} added vip (labels)"
    ats = [e["at"] for e in entries]
    assert ats == sorted(ats)
    # Paging: after an entry, the ones that follow it.
    page = await http.get(
        path, params={"after": entries[3]["_id"], "limit": "2"}, headers=admin.headers
    )
    assert [e["_id"] for e in page.json()] == [entries[4]["_id"], entries[5]["_id"]]

    # From the attacker's side: customers (its own too), staff outside its team (the agent is
    # still a participant, so may still look).
    assert (await http.get(path, headers=agent.headers)).status_code == 200
    for attacker in (customer, stranger):
        assert_json_error(await http.get(path, headers=attacker.headers), 403)
    lone = await new_user(http, stack, "agent")
    assert_json_error(await http.get(path, headers=lone.headers), 403)
    assert_json_error(await http.get(path), 401)
    assert_json_error(await http.get("/api/conversations/x/activity", headers=admin.headers), 400)
    assert_json_error(
        await http.get(f"/api/conversations/{UNKNOWN_ID}/activity", headers=admin.headers), 404
    )
    for bad in ({"limit": "0"}, {"limit": "x"}, {"after": "x"}):
        assert_json_error(await http.get(path, params=bad, headers=admin.headers), 400)


async def test_staff_resolving_asks_the_customer_once_per_resolution(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    customer, stranger, agent, outsider, admin = await make_users(
        http, stack, "customer", "customer", "agent", "agent", "admin"
    )
    team = await make_team(http, admin, [agent], autoAssign=False)
    cid = (
        await http.post(
            "/api/support", json={"teamId": team, "text": "hi"}, headers=customer.headers
        )
    ).json()["_id"]
    assert (await http.post(f"/api/conversations/{cid}/claim", headers=agent.headers)).is_success
    rate = f"/api/conversations/{cid}/csat"
    # Nothing to rate before staff resolve it.
    assert_json_error(
        await http.post(rate, json={"rating": 5}, headers=customer.headers),
        409,
        "csat_not_requested",
    )
    assert (await get_conversation(http, cid, customer))["csat"] is None
    sockets = {u.id: await Listener(u).connect(stack) for u in (customer, agent, outsider)}
    for listener in sockets.values():
        listener.client.on("csatRequested", listener._recorder("csatRequested"))
    try:
        await set_status(http, cid, agent, status="resolved")
        asked = await sockets[customer.id].wait_for("csatRequested", lambda d: True)
        assert asked == {"conversationId": cid}
        # The same status again asks nothing more.
        await set_status(http, cid, agent, status="resolved")
        survey = (await get_conversation(http, cid, customer))["csat"]
        assert survey["rating"] is None and survey["requestedAt"]

        # Who may not rate, and what is not a rating.
        for attacker in (agent, admin, outsider, stranger):
            assert_json_error(
                await http.post(rate, json={"rating": 5}, headers=attacker.headers), 403
            )
        assert_json_error(await http.post(rate, json={"rating": 5}), 401)
        for bad in (
            {"rating": 0},
            {"rating": 6},
            {"rating": "5"},
            {"rating": 4.5},
            {"rating": True},
            {},
            {"rating": 3, "comment": 7},
            {"rating": 3, "comment": "x" * 1001},
            [5],
        ):
            assert_json_error(await http.post(rate, json=bad, headers=customer.headers), 400)
        assert_json_error(
            await http.post(
                f"/api/conversations/{UNKNOWN_ID}/csat",
                json={"rating": 5},
                headers=customer.headers,
            ),
            404,
        )

        # Rated once, with a comment; twice at the same moment: one wins.
        both = await asyncio.gather(
            http.post(
                rate, json={"rating": 4, "comment": " quick, thanks "}, headers=customer.headers
            ),
            http.post(
                rate, json={"rating": 4, "comment": " quick, thanks "}, headers=customer.headers
            ),
        )
        assert sorted(r.status_code for r in both) == [201, 409], [r.text for r in both]
        rated = next(r for r in both if r.status_code == 201).json()
        assert (rated["conversationId"], rated["rating"], rated["comment"]) == (
            cid,
            4,
            "quick, thanks",
        )
        assert_json_error(
            await http.post(rate, json={"rating": 1}, headers=customer.headers),
            409,
            "already_rated",
        )
        # It shows on the conversation (both views) and in its activity, by the customer.
        assert (await get_conversation(http, cid, agent))["csat"]["rating"] == 4
        assert (await get_conversation(http, cid, customer))["csat"]["comment"] == "quick, thanks"
        last = (await _activity(http, cid, agent))[-1]
        assert (last["type"], last["from"], last["to"], last["actor"]["_id"]) == (
            "csat",
            None,
            4,
            customer.id,
        )
        assert last["text"] == f"{customer.email} rated the conversation 4 out of 5"

        # A reopen and a second resolve ask again; that resolution is rated once more.
        await say(http, cid, customer, "one more thing")
        assert (await get_conversation(http, cid, agent))["status"] == "open"
        await set_status(http, cid, agent, status="resolved")
        for _ in range(100):
            if len([e for e in sockets[customer.id].events if e[0] == "csatRequested"]) == 2:
                break
            await asyncio.sleep(0.05)
        assert [e[1] for e in sockets[customer.id].events if e[0] == "csatRequested"] == [
            {"conversationId": cid}
        ] * 2
        assert (await get_conversation(http, cid, customer))["csat"]["rating"] is None
        again = await http.post(rate, json={"rating": 2}, headers=customer.headers)
        assert (again.status_code, again.json()["rating"]) == (201, 2), again.text
        assert_json_error(await http.post(rate, json={"rating": 2}, headers=customer.headers), 409)
        await asyncio.sleep(0.3)
        # Staff never get csatRequested.
        for staff in (agent, outsider):
            assert [e for e in sockets[staff.id].events if e[0] == "csatRequested"] == []
    finally:
        for listener in sockets.values():
            await listener.client.disconnect()


async def test_racing_changes_leave_one_entry_each_that_committed(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    """Entries are written in the change's transaction: of racing claims only the winner's is
    there (a losing or retried attempt leaves none), and racing status changes leave one entry
    per change that happened, chained from the state each one read."""
    agents = await make_users(http, stack, *["agent"] * 4)
    admin = await new_user(http, stack, "admin")
    team = await make_team(http, admin, list(agents), autoAssign=False)
    cid = await _request(http, stack, team)
    claims = await asyncio.gather(
        *(http.post(f"/api/conversations/{cid}/claim", headers=a.headers) for a in agents)
    )
    assert sorted(c.status_code for c in claims) == [200, 409, 409, 409]
    winner = next(a for a, c in zip(agents, claims, strict=True) if c.status_code == 200)
    statuses = ["pending", "open", "pending", "resolved"]
    changed = await asyncio.gather(
        *(
            http.patch(f"/api/conversations/{cid}/status", json={"status": s}, headers=a.headers)
            for a, s in zip(agents, statuses, strict=True)
        )
    )
    assert [c.status_code for c in changed] == [200] * 4, [c.text for c in changed]
    entries = await _activity(http, cid, admin)
    assert [(e["type"], e["to"]) for e in entries[:1]] == [
        ("assignee", {"_id": winner.id, "email": winner.email})
    ]
    status_entries = entries[1:]
    assert all(e["type"] == "status" for e in status_entries)
    chain = ["open"] + [e["to"] for e in status_entries]
    assert [e["from"] for e in status_entries] == chain[:-1]
    assert chain[-1] == (await get_conversation(http, cid, admin))["status"]
    versions = (await get_conversation(http, cid, admin))["version"]
    # One version per change: the claim, the status changes that changed something.
    assert versions - 1 == 1 + len(status_entries)
