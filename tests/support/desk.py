"""The support desk's set-ups for end-to-end tests: users and teams made through the admin API,
a socket `Listener` recording the desk's events, and the REST steps many desk tests take."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import socketio

from tests.support.stack import TestStack
from tests.support.users import TestUser, new_user


async def make_users(http: httpx.AsyncClient, stack: TestStack, *roles: str) -> list[TestUser]:
    return [await new_user(http, stack, role) for role in roles]


async def make_team(
    http: httpx.AsyncClient, admin: TestUser, members: list[TestUser], **extra: Any
) -> str:
    created = await http.post(
        "/api/teams", json={"name": f"team-{uuid.uuid4().hex[:10]}", **extra}, headers=admin.headers
    )
    assert created.status_code == 201, created.text
    team_id = str(created.json()["_id"])
    put = await http.put(
        f"/api/teams/{team_id}/members",
        json={"userIds": [m.id for m in members]},
        headers=admin.headers,
    )
    assert put.status_code == 200, put.text
    return team_id


async def get_conversation(http: httpx.AsyncClient, cid: str, user: TestUser) -> dict[str, Any]:
    got = await http.get(f"/api/conversations/{cid}", headers=user.headers)
    assert got.status_code == 200, got.text
    return dict(got.json())


async def say(http: httpx.AsyncClient, cid: str, user: TestUser, text: str) -> dict[str, Any]:
    sent = await http.post(
        f"/api/conversations/{cid}/messages", json={"text": text}, headers=user.headers
    )
    assert sent.status_code == 201, sent.text
    return dict(sent.json())


async def set_status(http: httpx.AsyncClient, cid: str, user: TestUser, **body: Any) -> Any:
    changed = await http.patch(f"/api/conversations/{cid}/status", json=body, headers=user.headers)
    assert changed.status_code == 200, changed.text
    return changed.json()


async def wait_online(http: httpx.AsyncClient, admin: TestUser, agent: TestUser) -> None:
    """Wait until the desk has heard (presence.changed) that the agent's socket is connected."""
    for _ in range(100):
        agents = (await http.get("/api/agents", headers=admin.headers)).json()
        if next(a for a in agents if a["_id"] == agent.id)["online"]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the agent never came online")


class Listener:
    """A socket.io client recording the desk's events."""

    def __init__(self, user: TestUser) -> None:
        self.user = user
        self.client = socketio.AsyncClient()
        self.events: list[tuple[str, Any]] = []
        for name in ("conversationUpdated", "conversationQueued", "conversationAssigned"):
            self.client.on(name, self._recorder(name))

    def _recorder(self, name: str) -> Any:
        async def record(data: Any) -> None:
            self.events.append((name, data))

        return record

    async def connect(self, stack: TestStack) -> Listener:
        await self.client.connect(
            stack.gateway_url,
            socketio_path="/socket.io",
            auth={"token": self.user.token},
            headers={"Origin": stack.gateway_url},
            transports=["websocket"],
        )
        return self

    async def wait_for(self, name: str, match: Any, timeout_s: float = 10.0) -> Any:
        for _ in range(int(timeout_s * 20)):
            for event, data in self.events:
                if event == name and match(data):
                    return data
            await asyncio.sleep(0.05)
        raise AssertionError(f"{self.user.role} got no {name}; got {self.events}")
