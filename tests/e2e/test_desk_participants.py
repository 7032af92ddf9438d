"""A desk change that adds a participant or moves a conversation to another team reaches the
realtime service's per-replica state at once (issue 15 "Participants"): the new assignee and the
customer become contacts (each sees the other in `onlineUsers`), and a staff member refused the
room before a transfer into their team may join it right after (no remembered refusal)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.support.desk import Listener, make_team, make_users
from tests.support.stack import TestStack

pytestmark = pytest.mark.usefixtures("stack")


def _online_ids(listener: Listener) -> set[str]:
    lists = [data for name, data in listener.events if name == "onlineUsers"]
    return {u["_id"] for u in lists[-1]} if lists else set()


async def _sees_online(listener: Listener, user_id: str) -> None:
    for _ in range(100):
        if user_id in _online_ids(listener):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{listener.user.role} never saw {user_id} online: {listener.events}")


async def test_an_assignee_becomes_a_contact_and_a_transfer_opens_the_room(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    customer, agent, mate, other, admin = await make_users(
        http, stack, "customer", "agent", "agent", "agent", "admin"
    )
    team = await make_team(http, admin, [agent, mate], autoAssign=False)
    other_team = await make_team(http, admin, [other], autoAssign=False)
    listeners = [Listener(u) for u in (customer, agent, other, mate)]
    for listener in listeners:
        for name in ("onlineUsers", "newMessage"):
            listener.client.on(name, listener._recorder(name))
        await listener.connect(stack)
    them, mine, theirs, watcher = listeners
    try:
        opened = await http.post("/api/support", json={"teamId": team}, headers=customer.headers)
        cid = opened.json()["_id"]
        watching: Any = await watcher.client.call("joinConversation", cid, timeout=10)
        assert watching.get("ok"), watching
        refused: Any = await theirs.client.call("joinConversation", cid, timeout=10)
        assert refused.get("error"), refused
        await asyncio.sleep(0.5)
        assert agent.id not in _online_ids(them)
        claimed = await http.post(f"/api/conversations/{cid}/claim", headers=agent.headers)
        assert claimed.status_code == 200, claimed.text
        await _sees_online(them, agent.id)
        await _sees_online(mine, customer.id)
        moved = await http.post(
            f"/api/conversations/{cid}/transfer", json={"teamId": other_team}, headers=agent.headers
        )
        assert moved.status_code == 200, moved.text
        await theirs.wait_for("conversationQueued", lambda d: d["conversation"]["_id"] == cid)
        joined: Any = await theirs.client.call("joinConversation", cid, timeout=10)
        assert joined.get("ok"), joined
        sent = await http.post(
            f"/api/conversations/{cid}/messages",
            json={"text": "still there?"},
            headers=customer.headers,
        )
        assert sent.status_code == 201, sent.text
        await theirs.wait_for("newMessage", lambda d: d["_id"] == sent.json()["_id"])
        await asyncio.sleep(0.5)
        assert [d for name, d in watcher.events if name == "newMessage"] == []
    finally:
        for listener in listeners:
            await listener.client.disconnect()
