"""Canned responses through the gateway (CONTRACT Part 3): scoped personal / team / global, unique
within their scope, searchable by short code and text, and from the attacker's side: customers,
staff outside the team, another agent's personal ones."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.support.api import UNKNOWN_ID, assert_json_error
from tests.support.desk import make_team, make_users
from tests.support.stack import TestStack
from tests.support.users import TestUser

pytestmark = pytest.mark.usefixtures("stack")
URL = "/api/canned-responses"


async def _create(http: httpx.AsyncClient, who: TestUser, **body: Any) -> dict[str, Any]:
    response = await http.post(URL, json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


# Global ones are shared by every test (and every run against a long-lived stack): each test's
# carry this tag, and the others' are left out of what is compared.
TAG = f"-{uuid.uuid4().hex[:6]}"


async def _codes(http: httpx.AsyncClient, who: TestUser, q: str | None = None) -> list[str]:
    response = await http.get(URL, params={"q": q} if q is not None else {}, headers=who.headers)
    assert response.status_code == 200, response.text
    return [
        f"{c['scope']}:{c['shortCode']}".replace(TAG, "")
        for c in response.json()
        if c["scope"] != "global" or c["shortCode"].endswith(TAG)
    ]


async def test_scopes_uniqueness_and_search(http: httpx.AsyncClient, stack: TestStack) -> None:
    agent, mate, outsider, admin = await make_users(http, stack, "agent", "agent", "agent", "admin")
    team = await make_team(http, admin, [agent, mate])
    other = await make_team(http, admin, [outsider])
    mine = await _create(
        http, agent, scope="personal", shortCode="greet", text="Hello, THANKS for waiting"
    )
    assert (mine["scope"], mine["shortCode"], mine["teamId"], mine["authorId"]) == (
        "personal",
        "greet",
        None,
        agent.id,
    )
    # Unique within a scope, whatever the case; the same code in another scope is fine.
    taken = await http.post(
        URL, json={"scope": "personal", "shortCode": "GREET", "text": "x"}, headers=agent.headers
    )
    assert_json_error(taken, 409, "short_code_taken")
    await _create(http, mate, scope="personal", shortCode="greet", text="Hi from mate")
    refund = await _create(
        http, agent, scope="team", teamId=team, shortCode="refund", text="Refunds take 5 days"
    )
    assert refund["teamId"] == team
    assert_json_error(
        await http.post(
            URL,
            json={"scope": "team", "teamId": team, "shortCode": "Refund", "text": "y"},
            headers=mate.headers,
        ),
        409,
        "short_code_taken",
    )
    await _create(http, outsider, scope="team", teamId=other, shortCode="refund", text="Other")
    await _create(
        http, admin, scope="global", shortCode=f"shipping{TAG}", text="Orders ship in 2 days"
    )
    await _create(http, admin, scope="global", shortCode=f"greet{TAG}", text="Welcome to Workcity")

    # Each lists their own, their teams' and the global ones, by short code.
    assert await _codes(http, agent) == [
        "personal:greet",
        "global:greet",
        "team:refund",
        "global:shipping",
    ]
    assert sorted(await _codes(http, mate)) == sorted(
        ["personal:greet", "global:greet", "team:refund", "global:shipping"]
    )
    assert sorted(await _codes(http, outsider)) == [
        "global:greet",
        "global:shipping",
        "team:refund",
    ]
    # Search on short code or text, any case; a pattern is taken literally.
    assert await _codes(http, agent, "ship") == ["global:shipping"]
    assert await _codes(http, agent, "thanks") == ["personal:greet"]
    assert await _codes(http, agent, "5 DAYS") == ["team:refund"]
    assert await _codes(http, agent, ".*") == []
    assert await _codes(http, agent, "   ") == await _codes(http, agent)
    assert_json_error(await http.get(URL, params={"q": "x" * 101}, headers=agent.headers), 400)

    # Two creates of one code in one scope at the same moment: exactly one wins.
    racing = await asyncio.gather(
        *(
            http.post(
                URL,
                json={"scope": "personal", "shortCode": "race", "text": f"t{i}"},
                headers=agent.headers,
            )
            for i in range(4)
        )
    )
    assert sorted(r.status_code for r in racing) == [201, 409, 409, 409], [r.text for r in racing]


async def test_who_may_write_change_and_delete(http: httpx.AsyncClient, stack: TestStack) -> None:
    customer, agent, mate, outsider, admin = await make_users(
        http, stack, "customer", "agent", "agent", "agent", "admin"
    )
    team = await make_team(http, admin, [agent, mate])
    secret = await _create(http, agent, scope="personal", shortCode="mine", text="my own words")
    shared = await _create(
        http, agent, scope="team", teamId=team, shortCode="shared", text="team words"
    )
    glob = await _create(http, admin, scope="global", shortCode=f"hello{TAG}", text="hello all")

    # Customers: 403 everywhere; nobody signed in: 401.
    assert_json_error(await http.get(URL, headers=customer.headers), 403)
    body = {"scope": "personal", "shortCode": "c", "text": "c"}
    assert_json_error(await http.post(URL, json=body, headers=customer.headers), 403)
    for item in (secret, shared, glob):
        path = f"{URL}/{item['_id']}"
        assert_json_error(await http.patch(path, json={"text": "x"}, headers=customer.headers), 403)
        assert_json_error(await http.delete(path, headers=customer.headers), 403)
    assert_json_error(await http.get(URL), 401)

    # Another agent's personal one: invisible and untouchable (unknown to them, even to edit).
    secret_path = f"{URL}/{secret['_id']}"
    for other in (mate, outsider):
        assert "personal:mine" not in await _codes(http, other)
        assert_json_error(
            await http.patch(secret_path, json={"text": "hijacked"}, headers=other.headers),
            404,
            "canned_not_found",
        )
        assert_json_error(await http.delete(secret_path, headers=other.headers), 404)
    # A team's: its members see it, only its author (or an admin) changes it; outsiders never.
    shared_path = f"{URL}/{shared['_id']}"
    assert_json_error(
        await http.patch(shared_path, json={"text": "x"}, headers=mate.headers), 403, "not_author"
    )
    assert_json_error(await http.delete(shared_path, headers=outsider.headers), 404)
    team_body = {"scope": "team", "teamId": team, "shortCode": "sneaky", "text": "x"}
    assert_json_error(await http.post(URL, json=team_body, headers=outsider.headers), 403)
    # Global ones: only admins write, change or delete them.
    global_body = {"scope": "global", "shortCode": "g", "text": "x"}
    assert_json_error(await http.post(URL, json=global_body, headers=agent.headers), 403)
    glob_path = f"{URL}/{glob['_id']}"
    assert_json_error(await http.patch(glob_path, json={"text": "x"}, headers=agent.headers), 403)
    assert_json_error(await http.delete(glob_path, headers=agent.headers), 403)

    # Bad input: 400 JSON, an unknown team or response 404.
    for bad in (
        {"scope": "world", "shortCode": "a", "text": "a"},
        {"scope": "personal", "shortCode": "has space", "text": "a"},
        {"scope": "personal", "shortCode": "", "text": "a"},
        {"scope": "personal", "shortCode": "a", "text": "  "},
        {"scope": "personal", "shortCode": "a", "text": 5},
        {"scope": "personal", "shortCode": "x" * 33, "text": "a"},
        {"scope": "team", "shortCode": "a", "text": "a"},
        {"scope": "team", "teamId": "x", "shortCode": "a", "text": "a"},
        {"scope": "personal", "shortCode": "a", "text": "x" * 4001},
        ["not", "an", "object"],
    ):
        assert_json_error(await http.post(URL, json=bad, headers=agent.headers), 400)
    unknown_team = {"scope": "team", "teamId": UNKNOWN_ID, "shortCode": "a", "text": "a"}
    assert_json_error(await http.post(URL, json=unknown_team, headers=agent.headers), 404)
    assert_json_error(await http.patch(f"{URL}/x", json={"text": "a"}, headers=agent.headers), 400)
    assert_json_error(await http.delete(f"{URL}/{UNKNOWN_ID}", headers=agent.headers), 404)
    for bad in ({}, {"scope": "global"}, {"shortCode": "a b"}, {"text": ""}):
        assert_json_error(await http.patch(secret_path, json=bad, headers=agent.headers), 400)

    # Its author changes it; an admin changes or deletes anyone's.
    changed = await http.patch(
        secret_path, json={"shortCode": "Mine2", "text": "new words"}, headers=agent.headers
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["shortCode"], changed.json()["text"]) == ("Mine2", "new words")
    assert changed.json()["updatedAt"] >= changed.json()["createdAt"]
    by_admin = await http.patch(shared_path, json={"text": "fixed"}, headers=admin.headers)
    assert (by_admin.status_code, by_admin.json()["text"]) == (200, "fixed")
    deleted = await http.delete(secret_path, headers=admin.headers)
    assert deleted.status_code == 204
    assert "personal:Mine2" not in await _codes(http, agent)
    assert (await http.delete(shared_path, headers=agent.headers)).status_code == 204
    left = await _codes(http, mate)
    assert "global:hello" in left and "team:shared" not in left
