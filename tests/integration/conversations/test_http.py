"""The HTTP surface in process (the app with its real adapters): statuses, shapes, headers,
authentication and bad input. The same routes through the gateway: tests/e2e."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from bson import ObjectId
from workcity_conversations.domain.model import Person

from tests.integration.conversations.conftest import Running, Tokens, auth

pytestmark = pytest.mark.integration

UNKNOWN = "6566f1d2c3b4a59687a1b2c3"


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["msg"], str) and body["msg"]


async def test_health_readiness_and_docs(running: Running) -> None:
    assert (await running.http.get("/healthz")).json() == {"status": "ok"}
    ready = await running.http.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"] == {"mongodb": "ok", "rabbitmq": "ok", "user_events": "ok"}
    spec = (await running.http.get("/openapi.json")).json()
    assert "/api/conversations/{conversation_id}/messages" in spec["paths"]
    assert (await running.http.get("/docs")).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
async def test_missing_or_invalid_tokens_are_401(running: Running, headers: dict[str, str]) -> None:
    for method, path in [
        ("GET", "/api/conversations"),
        ("POST", "/api/conversations"),
        ("GET", f"/api/messages/{UNKNOWN}"),
        ("DELETE", f"/api/messages/{UNKNOWN}"),
    ]:
        response = await running.http.request(method, path, headers=headers)
        assert_error(response, 401, "unauthorized")


async def test_expired_and_non_object_id_subjects_are_401(running: Running, tokens: Tokens) -> None:
    someone = Person(id=str(ObjectId()), email="x@x.test", role="customer")
    expired = {"Authorization": f"Bearer {tokens.token(someone, ttl_s=-60)}"}
    assert_error(await running.http.get("/api/conversations", headers=expired), 401, "unauthorized")
    # A subject that is not an ObjectId never reaches the database (it would become a field name).
    odd = Person(id="a.b$c", email="x@x.test", role="customer")
    response = await running.http.get("/api/conversations", headers=auth(tokens, odd))
    assert_error(response, 401, "unauthorized")


async def test_a_conversation_round_trip(
    running: Running, tokens: Tokens, make_user: Callable[..., Any]
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    http, c, a = running.http, auth(tokens, customer), auth(tokens, agent)

    created = await http.post(
        "/api/conversations/create", json={"recipientId": agent.id}, headers=c
    )
    assert created.status_code == 201
    conv = created.json()
    again = await http.post("/api/conversations", json={"recipientId": customer.id}, headers=a)
    assert (again.status_code, again.json()["_id"]) == (200, conv["_id"])

    sent = await http.post(
        f"/api/conversations/{conv['_id']}/messages",
        json={"text": "hello", "clientMessageId": "c-1"},
        headers=c,
    )
    assert sent.status_code == 201
    assert "idempotent-replayed" not in sent.headers
    retry = await http.post(
        f"/api/conversations/{conv['_id']}/messages",
        json={"text": "hello", "clientMessageId": "c-1"},
        headers=c,
    )
    assert (retry.status_code, retry.headers["idempotent-replayed"]) == (201, "true")
    assert retry.json() == sent.json()

    for path in (f"/api/conversations/{conv['_id']}/messages", f"/api/messages/{conv['_id']}"):
        history = await http.get(path, headers=a)
        assert history.status_code == 200
        assert [m["text"] for m in history.json()] == ["hello"]

    listing = (await http.get("/api/conversations", headers=a)).json()
    assert listing[0]["unreadCount"] == 1
    assert listing[0]["lastMessage"]["sender"]["email"] == customer.email

    read = await http.post(f"/api/conversations/{conv['_id']}/read", headers=a)
    assert (read.status_code, read.json()["seq"]) == (200, 1)
    read = await http.post(f"/api/conversations/{conv['_id']}/read", json={"seq": 0}, headers=a)
    assert (read.status_code, read.json()["seq"]) == (200, 1)

    message_id = sent.json()["_id"]
    edited = await http.patch(f"/api/messages/{message_id}", json={"text": "hello!"}, headers=c)
    assert (edited.status_code, edited.json()["text"], edited.json()["edited"]) == (
        200,
        "hello!",
        True,
    )
    deleted = await http.delete(f"/api/messages/{message_id}", headers=c)
    assert deleted.json() == {"msg": "Message deleted", "_id": message_id}
    assert_error(await http.delete(f"/api/messages/{message_id}", headers=c), 404, "not_found")

    one = await http.get(f"/api/conversations/{conv['_id']}", headers=c)
    assert (one.status_code, one.json()["lastMessage"]) == (200, None)
    gone = await http.delete(f"/api/conversations/{conv['_id']}", headers=a)
    assert gone.json() == {"msg": "Conversation deleted", "_id": conv["_id"]}
    assert_error(await http.get(f"/api/conversations/{conv['_id']}", headers=c), 404, "not_found")


async def test_conversation_list_paging_header(
    running: Running, tokens: Tokens, make_user: Callable[..., Any]
) -> None:
    agent = await make_user("agent")
    a = auth(tokens, agent)
    for _ in range(3):
        customer = await make_user("customer")
        response = await running.http.post(
            "/api/conversations", json={"recipientId": customer.id}, headers=a
        )
        assert response.status_code == 201
    first = await running.http.get("/api/conversations", params={"limit": 2}, headers=a)
    assert len(first.json()) == 2
    cursor = first.headers["x-next-cursor"]
    second = await running.http.get(
        "/api/conversations", params={"limit": 2, "before": cursor}, headers=a
    )
    assert len(second.json()) == 1
    assert "x-next-cursor" not in second.headers
    assert_error(
        await running.http.get("/api/conversations", params={"before": "zzz"}, headers=a),
        400,
        "invalid_id",
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "validation_error"),
        ({"recipientId": 5}, "validation_error"),
        ({"recipientId": None}, "validation_error"),
        ({"recipientId": ["x"]}, "validation_error"),
        ({"recipientId": "not-an-id"}, "invalid_id"),
        ({"recipientId": UNKNOWN}, "recipient_not_found"),
        ([1, 2], "validation_error"),
        ("just a string", "validation_error"),
    ],
)
async def test_open_conversation_bad_bodies(
    running: Running, tokens: Tokens, make_user: Callable[..., Any], body: Any, code: str
) -> None:
    customer = await make_user("customer")
    response = await running.http.post(
        "/api/conversations", json=body, headers=auth(tokens, customer)
    )
    assert_error(response, 404 if code == "recipient_not_found" else 400, code)


async def test_malformed_json_and_oversized_bodies(
    running: Running, tokens: Tokens, make_user: Callable[..., Any]
) -> None:
    customer = await make_user("customer")
    headers = {**auth(tokens, customer), "Content-Type": "application/json"}
    response = await running.http.post("/api/conversations", content=b"{nope", headers=headers)
    assert_error(response, 400, "invalid_json")
    huge = b'{"text": "' + b"x" * (running.settings.max_request_body_bytes + 1) + b'"}'
    response = await running.http.post(
        f"/api/conversations/{UNKNOWN}/messages", content=huge, headers=headers
    )
    assert_error(response, 413, "payload_too_large")
    # Refused inside the common middleware: it still carries a request id (and is logged).
    assert response.headers["x-request-id"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "validation_error"),
        ({"text": 12}, 400, "validation_error"),
        ({"text": None}, 400, "validation_error"),
        ({"text": "   "}, 400, "empty_text"),
        ({"text": "x" * 4001}, 400, "text_too_long"),
        ({"text": "hi", "clientMessageId": 7}, 400, "validation_error"),
        ({"text": "hi", "clientMessageId": ""}, 400, "invalid_client_message_id"),
        ({"text": "hi", "clientMessageId": "x" * 200}, 400, "invalid_client_message_id"),
        ({"text": "hi", "attachments": ["a"]}, 400, "invalid_id"),
        ({"text": "hi", "attachments": ["0123456789abcdef01234567"]}, 400, "invalid_attachment"),
        ({"text": "hi", "attachments": "a"}, 400, "validation_error"),
    ],
)
async def test_send_bad_bodies(
    running: Running,
    tokens: Tokens,
    make_user: Callable[..., Any],
    body: Any,
    status: int,
    code: str,
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    c = auth(tokens, customer)
    conv = (
        await running.http.post("/api/conversations", json={"recipientId": agent.id}, headers=c)
    ).json()
    response = await running.http.post(
        f"/api/conversations/{conv['_id']}/messages", json=body, headers=c
    )
    assert_error(response, status, code)


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"limit": "-1"}, "invalid_query"),
        ({"limit": "abc"}, "invalid_query"),
        ({"limit": "0"}, "invalid_query"),
        ({"after_seq": "-5"}, "invalid_query"),
        ({"after_seq": "1.5"}, "invalid_query"),
        ({"before_seq": "x"}, "invalid_query"),
    ],
)
async def test_history_bad_parameters(
    running: Running, tokens: Tokens, make_user: Callable[..., Any], params: Any, code: str
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    c = auth(tokens, customer)
    conv = (
        await running.http.post("/api/conversations", json={"recipientId": agent.id}, headers=c)
    ).json()
    response = await running.http.get(
        f"/api/conversations/{conv['_id']}/messages", params=params, headers=c
    )
    assert_error(response, 400, code)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"seq": -1}, "invalid_seq"),
        ({"seq": "3"}, "validation_error"),
        ({"seq": 1.5}, "validation_error"),
        ({"seq": True}, "validation_error"),
        ({"seq": 10**30}, "invalid_seq"),
    ],
)
async def test_read_bad_bodies(
    running: Running, tokens: Tokens, make_user: Callable[..., Any], body: Any, code: str
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    c = auth(tokens, customer)
    conv = (
        await running.http.post("/api/conversations", json={"recipientId": agent.id}, headers=c)
    ).json()
    response = await running.http.post(
        f"/api/conversations/{conv['_id']}/read", json=body, headers=c
    )
    assert_error(response, 400, code)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/conversations/{bad}"),
        ("DELETE", "/api/conversations/{bad}"),
        ("GET", "/api/conversations/{bad}/messages"),
        ("POST", "/api/conversations/{bad}/messages"),
        ("POST", "/api/conversations/{bad}/read"),
        ("GET", "/api/messages/{bad}"),
        ("PATCH", "/api/messages/{bad}"),
        ("DELETE", "/api/messages/{bad}"),
    ],
)
@pytest.mark.parametrize("bad", ["123", "zzzzzzzzzzzzzzzzzzzzzzzz", "6566f1d2c3b4a59687a1b2c3aa"])
async def test_malformed_ids_are_400_on_every_route(
    running: Running,
    tokens: Tokens,
    make_user: Callable[..., Any],
    method: str,
    path: str,
    bad: str,
) -> None:
    customer = await make_user("customer")
    body = {"text": "hi"} if method in ("POST", "PATCH") else None
    response = await running.http.request(
        method, path.format(bad=bad), json=body, headers=auth(tokens, customer)
    )
    assert_error(response, 400, "invalid_id")
