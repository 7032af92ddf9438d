"""The internal unread route the notifications service asks when an email is due: what a
participant has not read, after what it handled already; only for callers with the service
token (the gateway does not route /internal: tests/deploy/test_gateway_config.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from bson import ObjectId
from workcity_conversations.settings import ConversationsSettings

from tests.integration.conversations.conftest import (
    SERVICE_AUTH,
    Running,
    Tokens,
    auth,
    open_chat,
    with_internal_token,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def settings(settings: ConversationsSettings) -> ConversationsSettings:
    return with_internal_token(settings)


def unread_path(conversation_id: str) -> str:
    return f"/internal/conversations/{conversation_id}/unread"


async def test_unread_after_the_read_position_and_what_was_handled(
    running: Running, make_user: Callable[..., Any]
) -> None:
    customer, agent, cid = await open_chat(running, make_user)
    ids = []
    for n in range(1, 6):
        sent = await running.service.send(customer, cid, f"text {n}")
        ids.append(sent.message["_id"])
    await running.service.send(agent, cid, "a reply")  # seq 6: reads up to it for the agent
    await running.service.send(customer, cid, "after the reply")  # seq 7
    await running.service.delete_message(customer, ids[4])  # seq 5

    for_agent = await running.http.get(
        unread_path(cid), params={"userId": agent.id}, headers=SERVICE_AUTH
    )
    assert for_agent.status_code == 200, for_agent.text
    body = for_agent.json()
    assert (body["lastSeq"], body["readSeq"], body["unreadCount"]) == (7, 6, 1)
    assert [(m["seq"], m["text"], m["senderEmail"]) for m in body["messages"]] == [
        (7, "after the reply", customer.email)
    ]

    # The customer has read their own sends up to 7; nothing of others after that.
    for_customer = await running.http.get(
        unread_path(cid), params={"userId": customer.id, "afterSeq": 0}, headers=SERVICE_AUTH
    )
    assert for_customer.json()["messages"] == []

    # After what the asker handled, and at most `limit`, oldest first.
    await running.service.mark_read(agent, cid, 0)  # never backwards: still 6
    await running.service.send(customer, cid, "eight")
    await running.service.send(customer, cid, "nine")
    page = await running.http.get(
        unread_path(cid),
        params={"userId": agent.id, "afterSeq": 7, "limit": 1},
        headers=SERVICE_AUTH,
    )
    body = page.json()
    assert [m["seq"] for m in body["messages"]] == [8]
    assert body["unreadCount"] == 2


async def test_unknown_conversation_and_bad_input(
    running: Running, make_user: Callable[..., Any]
) -> None:
    _, agent, cid = await open_chat(running, make_user)
    gone = await running.http.get(
        unread_path(str(ObjectId())), params={"userId": agent.id}, headers=SERVICE_AUTH
    )
    assert gone.status_code == 404 and gone.json()["code"] == "conversation_not_found"
    for path, params in [
        (unread_path("not-an-id"), {"userId": agent.id}),
        (unread_path(cid), {"userId": "not-an-id"}),
        (unread_path(cid), {}),
        (unread_path(cid), {"userId": agent.id, "afterSeq": "-1"}),
        (unread_path(cid), {"userId": agent.id, "limit": "0"}),
        (unread_path(cid), {"userId": agent.id, "afterSeq": "x"}),
    ]:
        response = await running.http.get(path, params=params, headers=SERVICE_AUTH)
        assert response.status_code == 400, (path, params, response.text)
        assert response.json()["code"] in {"validation_error", "invalid_id"}


async def test_a_non_participant_has_nothing_unread(
    running: Running, make_user: Callable[..., Any]
) -> None:
    customer, _, cid = await open_chat(running, make_user)
    await running.service.send(customer, cid, "private")
    stranger = await make_user("agent")
    response = await running.http.get(
        unread_path(cid), params={"userId": stranger.id}, headers=SERVICE_AUTH
    )
    assert response.status_code == 200 and response.json()["messages"] == []


async def test_only_callers_with_the_service_token(
    running: Running, make_user: Callable[..., Any], tokens: Tokens
) -> None:
    customer, agent, cid = await open_chat(running, make_user)
    await running.service.send(customer, cid, "secret")
    params = {"userId": agent.id}
    # A participant's own access token is not the service token.
    for headers in [{}, {"Authorization": "Bearer wrong"}, auth(tokens, agent)]:
        response = await running.http.get(unread_path(cid), params=params, headers=headers)
        assert response.status_code == 401, response.text
        assert "secret" not in response.text


async def test_switched_off_without_a_token(
    running: Running, make_user: Callable[..., Any]
) -> None:
    running.app.state.settings = running.settings.model_copy(update={"internal_api_token": None})
    _, agent, cid = await open_chat(running, make_user)
    response = await running.http.get(
        unread_path(cid), params={"userId": agent.id}, headers=SERVICE_AUTH
    )
    assert response.status_code == 404 and response.json()["code"] == "not_found"
