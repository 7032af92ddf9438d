"""REST steps end-to-end tests share: a conversation between two users (`chat` in
tests/e2e/conftest.py), the JSON error shape, attachments uploaded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.stack import TestStack
from tests.support.users import TestUser, new_user

UNKNOWN_ID = "6566f1d2c3b4a59687a1b2c3"  # a well-formed id nothing has
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


def assert_json_error(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, f"{response.status_code} {response.text}"
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body.get("msg"), str) and body["msg"], body
    assert isinstance(body.get("code"), str) and body["code"], body
    if code is not None:
        assert body["code"] == code, body


async def open_conversation(http: httpx.AsyncClient, customer: TestUser, agent: TestUser) -> str:
    # The conversations service learns of new users from auth's events: give it a moment.
    deadline = time.monotonic() + 15
    while True:
        response = await http.post(
            "/api/conversations", json={"recipientId": agent.id}, headers=customer.headers
        )
        if response.status_code in (200, 201):
            return str(response.json()["_id"])
        assert response.status_code == 404, response.text
        assert time.monotonic() < deadline, f"recipient never appeared: {response.text}"
        await asyncio.sleep(0.2)


@dataclass
class Chat:
    customer: TestUser
    agent: TestUser
    conversation_id: str

    def __iter__(self) -> Iterator[Any]:
        """`customer, agent, conversation_id = chat`"""
        return iter((self.customer, self.agent, self.conversation_id))


async def new_chat(http: httpx.AsyncClient, stack: TestStack) -> Chat:
    """A new customer and agent, and the customer's conversation with the agent."""
    customer = await new_user(http, stack, "customer")
    agent = await new_user(http, stack, "agent")
    return Chat(customer, agent, await open_conversation(http, customer, agent))


def png(size: int) -> bytes:
    return PNG_HEADER + bytes((i * 31) % 256 for i in range(size - len(PNG_HEADER)))


async def upload(
    http: httpx.AsyncClient, who: TestUser, conversation_id: str, name: str, data: bytes
) -> httpx.Response:
    return await http.post(
        f"/api/conversations/{conversation_id}/attachments",
        files={"file": (name, data, "image/png")},
        headers=who.headers,
    )


async def uploaded(
    http: httpx.AsyncClient, who: TestUser, conversation_id: str, name: str, data: bytes
) -> dict[str, Any]:
    response = await upload(http, who, conversation_id, name, data)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body
