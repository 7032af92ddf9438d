"""The conversations service end to end, through the gateway, with users made through the auth
service like a frontend makes them: every route, who may call it, and bad input on each."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.api import assert_json_error, open_conversation
from tests.support.stack import TestStack
from tests.support.users import TestUser, new_user

UNKNOWN_ID = "6566f1d2c3b4a59687a1b2c3"
BAD_IDS = ["123", "zzzzzzzzzzzzzzzzzzzzzzzz", "6566f1d2c3b4a59687a1b2c3aa", "%20", "null"]
ACTORS = ("customer_a", "customer_b", "agent", "admin")


@dataclass(frozen=True)
class Cast:
    """Customer A and the agent share conversations; customer B is a stranger to them; the
    admin is in none of them."""

    customer_a: TestUser
    customer_b: TestUser
    agent: TestUser
    admin: TestUser

    def __getitem__(self, name: str) -> TestUser:
        user: TestUser = getattr(self, name)
        return user


@pytest.fixture(scope="module")
async def cast(stack: TestStack) -> AsyncIterator[Cast]:
    stack.require_service("auth")
    stack.require_service("conversations")
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30.0) as http:
        yield Cast(
            customer_a=await new_user(http, stack, "customer"),
            customer_b=await new_user(http, stack, "customer"),
            agent=await new_user(http, stack, "agent"),
            admin=await new_user(http, stack, "admin"),
        )


async def send(
    http: httpx.AsyncClient, sender: TestUser, conv_id: str, text: str
) -> dict[str, Any]:
    response = await http.post(
        f"/api/conversations/{conv_id}/messages", json={"text": text}, headers=sender.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# --- every route, as the original frontend and the new one use them --------------------------


async def test_a_support_conversation_from_start_to_end(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    stack.require_service("conversations")
    customer = await new_user(http, stack, "customer")
    agent = await new_user(http, stack, "agent")

    # Both create paths; the second call, from either side, returns the same conversation.
    created = await http.post(
        "/api/conversations/create", json={"recipientId": agent.id}, headers=customer.headers
    )
    assert created.status_code == 201, created.text
    conv = created.json()
    assert [p["_id"] for p in conv["participants"]] == [customer.id, agent.id]
    assert [p["email"] for p in conv["participants"]] == [customer.email, agent.email]
    assert (conv["lastMessage"], conv["unreadCount"]) == (None, 0)
    again = await http.post(
        "/api/conversations", json={"recipientId": customer.id}, headers=agent.headers
    )
    assert (again.status_code, again.json()["_id"]) == (200, conv["_id"])

    # Send: the original's message shape plus seq and clientMessageId.
    first = await http.post(
        f"/api/conversations/{conv['_id']}/messages",
        json={"text": "  Where is my order?  ", "clientMessageId": "web-1"},
        headers=customer.headers,
    )
    assert first.status_code == 201, first.text
    message = first.json()
    assert message["text"] == "Where is my order?"
    assert message["conversation"] == conv["_id"]
    assert message["sender"]["_id"] == customer.id
    assert message["sender"]["email"] == customer.email
    assert message["readBy"] == [customer.id]
    assert (message["seq"], message["clientMessageId"]) == (1, "web-1")
    for field in ("_id", "createdAt", "updatedAt"):
        assert isinstance(message[field], str) and message[field]
    # A retry with the same clientMessageId answers with the first message.
    retry = await http.post(
        f"/api/conversations/{conv['_id']}/messages",
        json={"text": "Where is my order?", "clientMessageId": "web-1"},
        headers=customer.headers,
    )
    assert (retry.status_code, retry.json()) == (201, message)
    reply = await send(http, agent, conv["_id"], "Let me check.")
    assert reply["seq"] == 2

    # The list: most recent activity, lastMessage populated, unread count for the caller.
    listing = await http.get("/api/conversations", headers=customer.headers)
    assert listing.status_code == 200
    [item] = [c for c in listing.json() if c["_id"] == conv["_id"]]
    assert item["lastMessage"]["_id"] == reply["_id"]
    assert item["lastMessage"]["sender"]["_id"] == agent.id
    assert item["unreadCount"] == 1

    # History by both paths, oldest first.
    for path in (f"/api/conversations/{conv['_id']}/messages", f"/api/messages/{conv['_id']}"):
        history = await http.get(path, headers=agent.headers)
        assert history.status_code == 200, history.text
        assert [m["seq"] for m in history.json()] == [1, 2]

    # Read receipts: forward only, a seq past the end counts as the end.
    read = await http.post(
        f"/api/conversations/{conv['_id']}/read", json={"seq": 99}, headers=customer.headers
    )
    assert read.status_code == 200, read.text
    assert {k: read.json()[k] for k in ("conversationId", "userId", "seq")} == {
        "conversationId": conv["_id"],
        "userId": customer.id,
        "seq": 2,
    }
    back = await http.post(
        f"/api/conversations/{conv['_id']}/read", json={"seq": 1}, headers=customer.headers
    )
    assert back.json()["seq"] == 2
    listing = await http.get("/api/conversations", headers=customer.headers)
    assert [c["unreadCount"] for c in listing.json() if c["_id"] == conv["_id"]] == [0]
    history = (await http.get(f"/api/messages/{conv['_id']}", headers=agent.headers)).json()
    assert sorted(history[1]["readBy"]) == sorted([customer.id, agent.id])

    # Edit (sender), delete (sender), then the conversation.
    edited = await http.patch(
        f"/api/messages/{reply['_id']}", json={"text": "Checking now."}, headers=agent.headers
    )
    assert (edited.status_code, edited.json()["text"]) == (200, "Checking now.")
    deleted = await http.delete(f"/api/messages/{reply['_id']}", headers=agent.headers)
    assert deleted.status_code == 200, deleted.text
    assert_json_error(
        await http.delete(f"/api/messages/{reply['_id']}", headers=agent.headers), 404
    )
    one = await http.get(f"/api/conversations/{conv['_id']}", headers=customer.headers)
    assert one.json()["lastMessage"]["_id"] == message["_id"]
    gone = await http.delete(f"/api/conversations/{conv['_id']}", headers=customer.headers)
    assert gone.status_code == 200, gone.text
    assert_json_error(await http.get(f"/api/messages/{conv['_id']}", headers=customer.headers), 404)
    listing = await http.get("/api/conversations", headers=customer.headers)
    assert conv["_id"] not in [c["_id"] for c in listing.json()]


async def test_history_paging_and_the_limit_cap(
    http: httpx.AsyncClient, stack: TestStack, cast: Cast
) -> None:
    customer = await new_user(http, stack, "customer")
    conv_id = await open_conversation(http, customer, cast.agent)
    for i in range(205):
        await send(http, customer, conv_id, f"m{i + 1}")
    path = f"/api/conversations/{conv_id}/messages"

    async def seqs(**params: Any) -> list[int]:
        response = await http.get(path, params=params, headers=cast.agent.headers)
        assert response.status_code == 200, response.text
        return [m["seq"] for m in response.json()]

    assert await seqs() == list(range(156, 206))  # the latest 50 by default
    assert await seqs(limit=1000) == list(range(6, 206))  # capped at 200
    assert await seqs(after_seq=200) == [201, 202, 203, 204, 205]
    assert await seqs(after_seq=10, limit=3) == [11, 12, 13]
    assert await seqs(before_seq=4) == [1, 2, 3]
    assert await seqs(before_seq=100, limit=2) == [98, 99]


async def test_racing_creates_return_one_conversation(
    http: httpx.AsyncClient, stack: TestStack, cast: Cast
) -> None:
    customer = await new_user(http, stack, "customer")
    responses = await asyncio.gather(
        *(
            http.post(
                "/api/conversations",
                json={"recipientId": cast.agent.id},
                headers=customer.headers,
            )
            for _ in range(6)
        )
    )
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
    assert len({r.json()["_id"] for r in responses}) == 1


async def test_concurrent_retries_of_one_send_store_one_message(
    http: httpx.AsyncClient, stack: TestStack, cast: Cast
) -> None:
    customer = await new_user(http, stack, "customer")
    conv_id = await open_conversation(http, customer, cast.agent)
    client_id = f"retry-{uuid.uuid4().hex}"
    responses = await asyncio.gather(
        *(
            http.post(
                f"/api/conversations/{conv_id}/messages",
                json={"text": "once", "clientMessageId": client_id},
                headers=customer.headers,
            )
            for _ in range(6)
        )
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["_id"] for r in responses}) == 1
    history = await http.get(f"/api/messages/{conv_id}", headers=customer.headers)
    assert [m["seq"] for m in history.json()] == [1]


async def test_who_may_open_a_conversation(
    http: httpx.AsyncClient, stack: TestStack, cast: Cast
) -> None:
    newcomer = await new_user(http, stack, "customer")
    designer = await new_user(http, stack, "designer")
    merchant = await new_user(http, stack, "merchant")

    async def open_(opener: TestUser, recipient_id: str) -> httpx.Response:
        return await http.post(
            "/api/conversations", json={"recipientId": recipient_id}, headers=opener.headers
        )

    for staff in (cast.agent, designer, merchant, cast.admin):
        assert (await open_(newcomer, staff.id)).status_code == 201
    assert_json_error(await open_(newcomer, cast.customer_b.id), 403, "recipient_not_allowed")
    assert_json_error(await open_(newcomer, newcomer.id), 400, "self_conversation")
    assert_json_error(await open_(newcomer, UNKNOWN_ID), 404, "recipient_not_found")
    for staff in (designer, merchant):
        assert (await open_(staff, cast.customer_b.id)).status_code == 201
        assert (await open_(staff, cast.agent.id)).status_code in (200, 201)


# --- the authorization matrix: customer A, customer B, agent, admin x every route -------------


@pytest.fixture(scope="module")
async def shared_conversation(stack: TestStack, cast: Cast) -> AsyncIterator[str]:
    """A conversation of customer A and the agent, with a message from each."""
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30.0) as http:
        conv_id = await open_conversation(http, cast.customer_a, cast.agent)
        await send(http, cast.customer_a, conv_id, "hello from A")
        await send(http, cast.agent, conv_id, "hello from the agent")
        yield conv_id


READ_ROUTES = {"customer_a": 200, "customer_b": 403, "agent": 200, "admin": 200}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/conversations/{conv}", READ_ROUTES),
        ("/api/conversations/{conv}/messages", READ_ROUTES),
        ("/api/messages/{conv}", READ_ROUTES),
    ],
)
async def test_matrix_reading(
    http: httpx.AsyncClient,
    cast: Cast,
    shared_conversation: str,
    path: str,
    expected: dict[str, int],
) -> None:
    for actor in ACTORS:
        response = await http.get(
            path.format(conv=shared_conversation), headers=cast[actor].headers
        )
        assert response.status_code == expected[actor], (actor, response.text)
        if response.status_code == 403:
            assert_json_error(response, 403, "not_participant")


async def test_matrix_listing(
    http: httpx.AsyncClient, cast: Cast, shared_conversation: str
) -> None:
    sees = {"customer_a": True, "customer_b": False, "agent": True, "admin": False}
    for actor in ACTORS:
        response = await http.get("/api/conversations", headers=cast[actor].headers)
        assert response.status_code == 200, (actor, response.text)
        ids = [c["_id"] for c in response.json()]
        assert (shared_conversation in ids) is sees[actor], actor


async def test_matrix_opening(
    http: httpx.AsyncClient, cast: Cast, shared_conversation: str
) -> None:
    # Everyone opens a conversation with customer A.
    expected = {"customer_a": 400, "customer_b": 403, "agent": 200, "admin": 201}
    for actor in ACTORS:
        response = await http.post(
            "/api/conversations/create",
            json={"recipientId": cast.customer_a.id},
            headers=cast[actor].headers,
        )
        assert response.status_code == expected[actor], (actor, response.text)
        if actor == "agent":
            assert response.json()["_id"] == shared_conversation


async def test_matrix_sending_and_reading_marks(
    http: httpx.AsyncClient, cast: Cast, shared_conversation: str
) -> None:
    writes = {"customer_a": 201, "customer_b": 403, "agent": 201, "admin": 403}
    reads = {"customer_a": 200, "customer_b": 403, "agent": 200, "admin": 403}
    for actor in ACTORS:
        sent = await http.post(
            f"/api/conversations/{shared_conversation}/messages",
            json={"text": f"from {actor}"},
            headers=cast[actor].headers,
        )
        assert sent.status_code == writes[actor], (actor, sent.text)
        read = await http.post(
            f"/api/conversations/{shared_conversation}/read", headers=cast[actor].headers
        )
        assert read.status_code == reads[actor], (actor, read.text)


async def test_matrix_editing_and_deleting_messages(
    http: httpx.AsyncClient, cast: Cast, shared_conversation: str
) -> None:
    edits = {"customer_a": 200, "customer_b": 403, "agent": 403, "admin": 403}
    deletes = {"customer_a": 200, "customer_b": 403, "agent": 403, "admin": 200}
    for actor in ACTORS:
        mine = await send(http, cast.customer_a, shared_conversation, f"A's, for {actor}")
        edit = await http.patch(
            f"/api/messages/{mine['_id']}", json={"text": "edited"}, headers=cast[actor].headers
        )
        assert edit.status_code == edits[actor], (actor, edit.text)
        delete = await http.delete(f"/api/messages/{mine['_id']}", headers=cast[actor].headers)
        assert delete.status_code == deletes[actor], (actor, delete.text)
        if delete.status_code != 200:
            assert_json_error(delete, 403, "not_sender")


async def test_matrix_deleting_conversations(
    http: httpx.AsyncClient, stack: TestStack, cast: Cast
) -> None:
    expected = {"customer_a": 200, "customer_b": 403, "agent": 200, "admin": 200}
    for actor in ACTORS:
        # Each round a conversation of its own: a new customer (in the role of customer A) and
        # the agent; the shared conversation stays for the other tests.
        owner = await new_user(http, stack, "customer")
        conv_id = await open_conversation(http, owner, cast.agent)
        caller = owner if actor == "customer_a" else cast[actor]
        response = await http.delete(f"/api/conversations/{conv_id}", headers=caller.headers)
        assert response.status_code == expected[actor], (actor, response.text)
        if expected[actor] == 403:
            assert_json_error(response, 403, "not_participant")
        else:
            assert response.json() == {"msg": "Conversation deleted", "_id": conv_id}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/conversations"),
        ("POST", "/api/conversations"),
        ("POST", "/api/conversations/create"),
        ("GET", f"/api/conversations/{UNKNOWN_ID}"),
        ("DELETE", f"/api/conversations/{UNKNOWN_ID}"),
        ("GET", f"/api/conversations/{UNKNOWN_ID}/messages"),
        ("POST", f"/api/conversations/{UNKNOWN_ID}/messages"),
        ("POST", f"/api/conversations/{UNKNOWN_ID}/read"),
        ("GET", f"/api/messages/{UNKNOWN_ID}"),
        ("PATCH", f"/api/messages/{UNKNOWN_ID}"),
        ("DELETE", f"/api/messages/{UNKNOWN_ID}"),
    ],
)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer", "Bearer not.a.jwt", "Basic YTpi", "Bearer " + "x" * 2000]
)
async def test_no_valid_token_is_401_on_every_route(
    http: httpx.AsyncClient, cast: Cast, method: str, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    body = {"text": "hi", "recipientId": cast.agent.id} if method in ("POST", "PATCH") else None
    response = await http.request(method, path, json=body, headers=headers)
    assert_json_error(response, 401, "unauthorized")


# --- bad input on every route -----------------------------------------------------------------

ID_ROUTES = [
    ("GET", "/api/conversations/{id}"),
    ("DELETE", "/api/conversations/{id}"),
    ("GET", "/api/conversations/{id}/messages"),
    ("POST", "/api/conversations/{id}/messages"),
    ("POST", "/api/conversations/{id}/read"),
    ("GET", "/api/messages/{id}"),
    ("PATCH", "/api/messages/{id}"),
    ("DELETE", "/api/messages/{id}"),
]


@pytest.mark.parametrize(("method", "path"), ID_ROUTES)
async def test_malformed_ids_are_400_and_unknown_ids_404_on_every_route(
    http: httpx.AsyncClient, cast: Cast, method: str, path: str
) -> None:
    body = {"text": "hi"} if method in ("POST", "PATCH") else None
    for bad in BAD_IDS:
        response = await http.request(
            method, path.format(id=bad), json=body, headers=cast.customer_a.headers
        )
        assert_json_error(response, 400, "invalid_id")
    response = await http.request(
        method, path.format(id=UNKNOWN_ID), json=body, headers=cast.customer_a.headers
    )
    assert_json_error(response, 404, "not_found")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"recipientId": 12345},
        {"recipientId": None},
        {"recipientId": {"$ne": None}},
        {"recipientId": ["6566f1d2c3b4a59687a1b2c3"]},
        {"recipientId": "not-an-id"},
        [],
        "6566f1d2c3b4a59687a1b2c3",
        123,
    ],
)
@pytest.mark.parametrize("path", ["/api/conversations", "/api/conversations/create"])
async def test_bad_create_bodies_are_400(
    http: httpx.AsyncClient, cast: Cast, path: str, body: Any
) -> None:
    response = await http.post(path, json=body, headers=cast.customer_a.headers)
    assert_json_error(response, 400)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "validation_error"),
        ({"text": 42}, "validation_error"),
        ({"text": None}, "validation_error"),
        ({"text": ["a"]}, "validation_error"),
        ({"text": {"$gt": ""}}, "validation_error"),
        ({"text": ""}, "empty_text"),
        ({"text": " \n\t "}, "empty_text"),
        ({"text": "x" * 4001}, "text_too_long"),
        ({"text": "ok", "clientMessageId": 1}, "validation_error"),
        ({"text": "ok", "clientMessageId": ""}, "invalid_client_message_id"),
        ({"text": "ok", "clientMessageId": "x" * 129}, "invalid_client_message_id"),
        ({"text": "ok", "clientMessageId": "with space"}, "invalid_client_message_id"),
        ([], "validation_error"),
    ],
)
async def test_bad_message_bodies_are_400(
    http: httpx.AsyncClient, cast: Cast, shared_conversation: str, body: Any, code: str
) -> None:
    response = await http.post(
        f"/api/conversations/{shared_conversation}/messages",
        json=body,
        headers=cast.customer_a.headers,
    )
    assert_json_error(response, 400, code)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "validation_error"),
        ({"text": 1}, "validation_error"),
        ({"text": "   "}, "empty_text"),
        ({"text": "y" * 4001}, "text_too_long"),
    ],
)
async def test_bad_edit_bodies_are_400(
    http: httpx.AsyncClient, cast: Cast, shared_conversation: str, body: Any, code: str
) -> None:
    mine = await send(http, cast.customer_a, shared_conversation, "to be edited")
    response = await http.patch(
        f"/api/messages/{mine['_id']}", json=body, headers=cast.customer_a.headers
    )
    assert_json_error(response, 400, code)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"seq": -1}, "invalid_seq"),
        ({"seq": "2"}, "validation_error"),
        ({"seq": 2.5}, "validation_error"),
        ({"seq": False}, "validation_error"),
        ({"seq": [1]}, "validation_error"),
        ({"seq": 10**40}, "invalid_seq"),
        ("seq", "validation_error"),
    ],
)
async def test_bad_read_bodies_are_400(
    http: httpx.AsyncClient, cast: Cast, shared_conversation: str, body: Any, code: str
) -> None:
    response = await http.post(
        f"/api/conversations/{shared_conversation}/read",
        json=body,
        headers=cast.customer_a.headers,
    )
    assert_json_error(response, 400, code)


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "-1"},
        {"limit": "0"},
        {"limit": "ten"},
        {"limit": "1.5"},
        {"after_seq": "-1"},
        {"after_seq": "abc"},
        {"before_seq": "-7"},
        {"before_seq": "9" * 20},
    ],
)
@pytest.mark.parametrize("path", ["/api/conversations/{conv}/messages", "/api/messages/{conv}"])
async def test_bad_history_parameters_are_400(
    http: httpx.AsyncClient, cast: Cast, shared_conversation: str, path: str, params: Any
) -> None:
    response = await http.get(
        path.format(conv=shared_conversation), params=params, headers=cast.customer_a.headers
    )
    assert_json_error(response, 400, "invalid_query")


@pytest.mark.parametrize("params", [{"limit": "-1"}, {"limit": "x"}, {"before": "nope"}])
async def test_bad_list_parameters_are_400(
    http: httpx.AsyncClient, cast: Cast, params: Any
) -> None:
    response = await http.get("/api/conversations", params=params, headers=cast.customer_a.headers)
    assert_json_error(response, 400)


async def test_malformed_json_and_oversized_bodies_are_4xx_json(
    http: httpx.AsyncClient, cast: Cast, shared_conversation: str
) -> None:
    headers = {**cast.customer_a.headers, "Content-Type": "application/json"}
    targets = [
        ("POST", "/api/conversations"),
        ("POST", f"/api/conversations/{shared_conversation}/messages"),
        ("POST", f"/api/conversations/{shared_conversation}/read"),
        ("PATCH", f"/api/messages/{UNKNOWN_ID}"),
    ]
    for method, path in targets:
        broken = await http.request(
            method, path, content=b'{"text": "unterminated', headers=headers
        )
        assert_json_error(broken, 400, "invalid_json")
        huge = b'{"text": "' + b"x" * 200_000 + b'"}'
        oversized = await http.request(method, path, content=huge, headers=headers)
        assert_json_error(oversized, 413, "payload_too_large")
