"""GET /api/support/teams: the teams a buyer may choose in "Contact support" — ids and names
only, for anyone signed in; nothing without a token."""

from __future__ import annotations

import uuid

import httpx

from tests.support.stack import TestStack
from tests.support.users import new_user


async def test_a_customer_sees_team_names_and_nothing_more(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    stack.require_service("conversations")
    admin = await new_user(http, stack, "admin")
    agent = await new_user(http, stack, "agent")
    customer = await new_user(http, stack, "customer")
    name = f"Billing {uuid.uuid4().hex[:6]}"
    created = await http.post(
        "/api/teams", json={"name": name, "capacity": 3}, headers=admin.headers
    )
    assert created.status_code == 201, created.text
    team_id = created.json()["_id"]
    members = await http.put(
        f"/api/teams/{team_id}/members", json={"userIds": [agent.id]}, headers=admin.headers
    )
    assert members.status_code == 200, members.text

    answer = await http.get("/api/support/teams", headers=customer.headers)
    assert answer.status_code == 200, answer.text
    teams = answer.json()
    assert {"_id": team_id, "name": name, "isDefault": False} in teams
    assert [t["name"] for t in teams if t["isDefault"]] == ["Support"]
    # Who is in a team and its capacity stay with staff.
    assert all(set(t) == {"_id", "name", "isDefault"} for t in teams)
    assert (await http.get("/api/teams", headers=customer.headers)).status_code == 403


async def test_without_a_token_it_is_401(http: httpx.AsyncClient, stack: TestStack) -> None:
    stack.require_service("conversations")
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        answer = await http.get("/api/support/teams", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["msg"]


async def test_the_order_number_and_subject_reach_both_sides(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    stack.require_service("conversations")
    admin = await new_user(http, stack, "admin")
    agent = await new_user(http, stack, "agent")
    customer = await new_user(http, stack, "customer")
    created = await http.post(
        "/api/teams",
        json={"name": f"Orders {uuid.uuid4().hex[:6]}", "autoAssign": False},
        headers=admin.headers,
    )
    team_id = created.json()["_id"]
    await http.put(
        f"/api/teams/{team_id}/members", json={"userIds": [agent.id]}, headers=admin.headers
    )
    opened = await http.post(
        "/api/support",
        json={"teamId": team_id, "text": "late", "orderId": "WC-77", "subject": "Late parcel"},
        headers=customer.headers,
    )
    assert opened.status_code == 201, opened.text
    assert (opened.json()["orderId"], opened.json()["subject"]) == ("WC-77", "Late parcel")
    mine = await http.get("/api/conversations", headers=customer.headers)
    (listed,) = [c for c in mine.json() if c["_id"] == opened.json()["_id"]]
    assert (listed["orderId"], listed["subject"]) == ("WC-77", "Late parcel")
    queue = await http.get(
        "/api/inbox", params={"view": "unassigned", "teamId": team_id}, headers=agent.headers
    )
    (item,) = queue.json()["items"]
    assert (item["orderId"], item["subject"]) == ("WC-77", "Late parcel")
    # A conversation opened without them (Part 1) carries nulls, not missing keys.
    direct = await http.post(
        "/api/conversations", json={"recipientId": agent.id}, headers=customer.headers
    )
    assert (direct.json()["orderId"], direct.json()["subject"]) == (None, None)
