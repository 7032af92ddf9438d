"""The internal batch of sends (`POST /internal/messages/batch`, a realtime replica's queued
`sendMessage`s): each item is authorized and answered exactly as its own
`POST /api/conversations/{id}/messages` would be, from the attacker's side too (a forged,
expired or other user's token, or a conversation the user is not in, fails that item alone with
the single call's code and message); the sends are stored in the order of the items; only callers
with the service token (the gateway does not route /internal: tests/e2e/test_auth.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from bson import ObjectId
from workcity_common.send_batch import SEND_BATCH_PATH
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


def item(token: str, conversation_id: str, text: str, **more: Any) -> dict[str, Any]:
    return {"token": token, "conversationId": conversation_id, "body": {"text": text, **more}}


async def single(running: Running, token: str, conversation_id: str, body: Any) -> Any:
    """What the public route answers the same send: `{message}` or `{status, code, msg}`."""
    response = await running.http.post(
        f"/api/conversations/{conversation_id}/messages",
        json=body,
        headers={"Authorization": f"Bearer {token}"} if token else {},
    )
    if response.status_code == 201:
        return {"message": response.json()}
    answer = response.json()
    return {"status": response.status_code, "code": answer["code"], "msg": answer["msg"]}


async def batch(running: Running, items: list[dict[str, Any]], headers: Any = None) -> Any:
    response = await running.http.post(
        SEND_BATCH_PATH, json={"items": items}, headers=SERVICE_AUTH if headers is None else headers
    )
    assert response.status_code == 200, response.text
    return response.json()["results"]


async def test_one_bad_token_among_good_ones_fails_alone_as_the_single_call_would(
    running: Running, make_user: Callable[..., Any], tokens: Tokens
) -> None:
    customer, agent, cid = await open_chat(running, make_user)
    stranger = await make_user("customer")
    good, good_agent = tokens.token(customer), tokens.token(agent)
    forged = good[:-4] + ("AAAA" if not good.endswith("AAAA") else "BBBB")
    expired = tokens.token(customer, ttl_s=-120)
    bad = [
        ("forged", item(forged, cid, "forged")),
        ("expired", item(expired, cid, "expired")),
        ("none", item("", cid, "no token")),
        ("garbage", item("not-a-jwt", cid, "garbage")),
        ("stranger", item(tokens.token(stranger), cid, "not a participant")),
        ("unknown conversation", item(good, str(ObjectId()), "nowhere")),
        ("bad id", item(good, "not-an-id", "bad id")),
        ("empty", item(good, cid, "   ")),
        ("not text", {"token": good, "conversationId": cid, "body": {"text": 5}}),
    ]
    items = [item(good, cid, "first")]
    for _, bad_item in bad:
        items += [bad_item, item(good_agent, cid, "between")]
    results = await batch(running, items)

    assert len(results) == len(items)
    stored = [r["message"] for r in results if "message" in r]
    # Every good send stored, in the order of the items; nothing of the bad ones.
    assert [m["text"] for m in stored] == ["first"] + ["between"] * len(bad)
    assert [m["seq"] for m in stored] == list(range(1, len(bad) + 2))
    history = await running.service.history(customer, cid, None, None, None)
    assert [m["text"] for m in history] == ["first"] + ["between"] * len(bad)

    # Each bad item: the very code and message its single call gets today.
    for (name, bad_item), result in zip(bad, results[1::2], strict=True):
        expected = await single(
            running, bad_item["token"], bad_item["conversationId"], bad_item["body"]
        )
        assert "status" in expected, name
        assert result == expected, name
    codes = {name: r["code"] for (name, _), r in zip(bad, results[1::2], strict=True)}
    assert codes["forged"] == codes["expired"] == codes["none"] == "unauthorized"
    assert codes["stranger"] == "not_participant" and results[9]["status"] == 403


async def test_answers_as_the_single_call_for_retries_and_disabled_users(
    running: Running, make_user: Callable[..., Any], tokens: Tokens
) -> None:
    customer, _agent, cid = await open_chat(running, make_user)
    token = tokens.token(customer)
    [first] = await batch(running, [item(token, cid, "once", clientMessageId="c-1")])
    # The same clientMessageId again, alone and twice in one batch: the first message each time.
    again = await batch(
        running,
        [
            item(token, cid, "once", clientMessageId="c-1"),
            item(token, cid, "x", clientMessageId="c-1"),
        ],
    )
    assert [a["message"]["_id"] for a in again] == [first["message"]["_id"]] * 2
    assert all(a.get("replayed") is True for a in again)
    assert (await running.service.history(customer, cid, None, None, None))[-1]["seq"] == 1

    disabled = await make_user("customer", disabled=True)
    [refused] = await batch(running, [item(tokens.token(disabled), cid, "hi")])
    assert refused == await single(running, tokens.token(disabled), cid, {"text": "hi"})
    assert refused["status"] == 403


async def test_a_body_with_an_integer_beyond_64_bits_is_answered_as_the_single_call(
    running: Running, make_user: Callable[..., Any], tokens: Tokens
) -> None:
    # Found by the fuzz of the internal routes: the body's size check failed to encode it (a 500).
    customer, _agent, cid = await open_chat(running, make_user)
    token = tokens.token(customer)
    huge = 2**70
    [answer] = await batch(running, [item(token, cid, "big", extra=huge)])
    alone = await single(running, token, cid, {"text": "big", "extra": huge})
    assert "message" in answer and "message" in alone
    assert answer["message"]["text"] == alone["message"]["text"] == "big"
    [bad] = await batch(running, [item(token, cid, "big", clientMessageId=huge)])
    assert bad == await single(running, token, cid, {"text": "big", "clientMessageId": huge})
    assert bad["status"] == 400


async def test_only_callers_with_the_service_token(
    running: Running, make_user: Callable[..., Any], tokens: Tokens
) -> None:
    customer, _agent, cid = await open_chat(running, make_user)
    items = [item(tokens.token(customer), cid, "smuggled")]
    # A user's own access token is not the service token.
    for headers in [{}, {"Authorization": "Bearer wrong"}, auth(tokens, customer)]:
        response = await running.http.post(SEND_BATCH_PATH, json={"items": items}, headers=headers)
        assert response.status_code in (401, 403), response.text
        assert response.json()["code"] == "unauthorized"
    assert await running.service.history(customer, cid, None, None, None) == []


async def test_switched_off_without_a_service_token(
    running: Running, make_user: Callable[..., Any], tokens: Tokens
) -> None:
    running.app.state.settings = running.settings.model_copy(update={"internal_api_token": None})
    customer, _, cid = await open_chat(running, make_user)
    response = await running.http.post(
        SEND_BATCH_PATH,
        json={"items": [item(tokens.token(customer), cid, "x")]},
        headers=SERVICE_AUTH,
    )
    assert response.status_code == 404 and response.json()["code"] == "not_found"


async def test_bad_batches_are_refused_whole_with_400(
    running: Running, make_user: Callable[..., Any], tokens: Tokens
) -> None:
    customer, _, cid = await open_chat(running, make_user)
    good = item(tokens.token(customer), cid, "x")
    too_many = [good] * (running.settings.internal_send_batch_max + 1)
    for body in [{}, {"items": "x"}, {"items": [{"token": 1}]}, {"items": too_many}]:
        response = await running.http.post(SEND_BATCH_PATH, json=body, headers=SERVICE_AUTH)
        assert response.status_code == 400, response.text
    assert await running.service.history(customer, cid, None, None, None) == []
