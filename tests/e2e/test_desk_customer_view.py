"""The customer's view of a conversation (CONTRACT Part 3: customers see `status` and `assignee`
of the desk's state only), from the customer's side: every route and socket event that carries a
conversation to them, through the gateway."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.support.desk import Listener, make_team, make_users
from tests.support.stack import TestStack

pytestmark = pytest.mark.usefixtures("stack")

# The desk's internals a customer must never receive.
STAFF_ONLY = {"team", "priority", "labels", "waitingSince", "snoozedUntil", "version"}


def _leaks(conversation: dict[str, Any]) -> set[str]:
    return STAFF_ONLY & set(conversation)


async def _created(listener: Listener, cid: str) -> dict[str, Any]:
    for _ in range(200):
        for name, data in listener.events:
            if name == "conversationCreated" and data["_id"] == cid:
                return dict(data)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no conversationCreated for {cid}: {listener.events}")


async def test_a_customer_never_receives_the_desk_internals(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    customer, agent, admin = await make_users(http, stack, "customer", "agent", "admin")
    team = await make_team(http, admin, [agent], autoAssign=False)
    listeners = [Listener(u) for u in (customer, agent)]
    for listener in listeners:
        listener.client.on("conversationCreated", listener._recorder("conversationCreated"))
        await listener.connect(stack)
    them, staff = listeners
    try:
        # A support request: the customer hears of it with their view only.
        opened = await http.post(
            "/api/support", json={"teamId": team, "text": "hi"}, headers=customer.headers
        )
        assert opened.status_code == 201, opened.text
        cid = opened.json()["_id"]
        assert _leaks(opened.json()) == set()
        event = await _created(them, cid)
        assert _leaks(event) == set(), event
        assert (event["status"], event["assignee"]) == ("open", None)
        await http.patch(
            f"/api/conversations/{cid}",
            json={"priority": "urgent", "addLabels": ["angry"]},
            headers=admin.headers,
        )
        # A direct chat with a staff member (Part 1): the customer's view to the customer, the
        # whole state to the staff member.
        direct = await http.post(
            "/api/conversations", json={"recipientId": agent.id}, headers=customer.headers
        )
        assert direct.status_code == 201, direct.text
        assert _leaks(direct.json()) == set()
        did = direct.json()["_id"]
        assert _leaks(await _created(them, did)) == set()
        theirs = await _created(staff, did)
        assert STAFF_ONLY <= set(theirs) and theirs["team"]["name"] == "Support"
        # Every route that answers a conversation to the customer.
        listing = await http.get("/api/conversations", headers=customer.headers)
        assert {c["_id"] for c in listing.json()} >= {cid, did}
        assert [c["_id"] for c in listing.json() if _leaks(c)] == []
        for one in (cid, did):
            single = await http.get(f"/api/conversations/{one}", headers=customer.headers)
            assert single.status_code == 200 and _leaks(single.json()) == set(), single.text
        again = await http.post("/api/support", json={"teamId": team}, headers=customer.headers)
        assert again.status_code == 200 and _leaks(again.json()) == set()
        heard = [data.get("conversation", data) for _, data in them.events]
        assert len(heard) >= 2 and [c for c in heard if _leaks(c)] == []
    finally:
        for listener in listeners:
            await listener.client.disconnect()
