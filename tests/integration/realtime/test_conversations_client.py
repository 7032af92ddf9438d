"""The realtime service's client of the conversations API (aiohttp) against a stand-in server:
bodies, the user's token, errors as the hub expects them, paging, an unreachable service."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from workcity_common.domain_errors import Busy, Forbidden, Unavailable
from workcity_common.send_batch import SEND_BATCH_PATH
from workcity_realtime.adapters.conversations import HttpConversations, HttpSession

from tests.support.servers import free_port

pytestmark = pytest.mark.integration

CID = "0123456789abcdef01234567"
BUSY = "b" * 24
SEEN = web.AppKey("seen", list)
SERVICE_TOKEN = "service-token-0123456789"


def stand_in() -> web.Application:
    seen: list[dict[str, Any]] = []

    async def post_message(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append({"auth": request.headers.get("Authorization"), "body": body})
        if request.match_info["cid"] != CID:
            return web.json_response(
                {"msg": "Not a participant", "code": "not_participant"}, status=403
            )
        return web.json_response({"_id": "m1", "seq": 1, **body}, status=201)

    async def broken(request: web.Request) -> web.Response:
        if request.match_info["cid"] == BUSY:
            return web.json_response({"msg": "Busy", "code": "busy"}, status=503)
        return web.json_response({"msg": "boom", "code": "internal_error"}, status=500)

    async def conversation(request: web.Request) -> web.Response:
        if request.match_info["cid"] != CID:
            body = {"msg": "Conversation not found", "code": "not_found"}
            return web.json_response(body, status=404)
        return web.json_response({"_id": CID})

    async def conversations(request: web.Request) -> web.Response:
        # Two pages: the first names the second's cursor in a header.
        if request.query.get("before") == "c2":
            return web.json_response([{"_id": "b"}])
        return web.json_response([{"_id": "a"}], headers={"X-Next-Cursor": "c2"})

    async def messages(request: web.Request) -> web.Response:
        after = int(request.query["after_seq"])
        return web.json_response([{"seq": after + 1}, {"seq": after + 2}])

    async def batch(request: web.Request) -> web.Response:
        # The conversations service's batch route, answering each item as its single call would.
        if request.headers.get("Authorization") != f"Bearer {SERVICE_TOKEN}":
            body = {"msg": "Invalid service token", "code": "unauthorized"}
            return web.json_response(body, status=401)
        items = (await request.json())["items"]
        seen.append({"batch": [(i["token"], i["body"]["text"]) for i in items]})
        results: list[dict[str, Any]] = []
        for i in items:
            if i["conversationId"] == CID:
                results.append({"message": {"_id": "m1", **i["body"]}})
            elif i["conversationId"] == BUSY:
                results.append({"status": 503, "code": "busy", "msg": "Busy"})
            else:
                results.append(
                    {"status": 403, "code": "not_participant", "msg": "Not a participant"}
                )
        return web.json_response({"results": results})

    app = web.Application()
    app[SEEN] = seen
    app.router.add_post(SEND_BATCH_PATH, batch)
    app.router.add_post("/api/conversations/{cid}/messages", post_message)
    app.router.add_post("/api/conversations/{cid}/read", broken)
    app.router.add_get("/api/conversations", conversations)
    app.router.add_get("/api/conversations/{cid}/messages", messages)
    app.router.add_get("/api/conversations/{cid}", conversation)
    return app


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    server = TestServer(stand_in(), host="127.0.0.1", port=free_port())
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture
async def client(server: TestServer) -> AsyncIterator[HttpConversations]:
    session = HttpSession(str(server.make_url("/")), timeout_s=5, max_connections=4)
    yield HttpConversations(session)
    await session.aclose()


async def test_a_send_carries_the_users_token_and_returns_the_stored_message(
    client: HttpConversations, server: TestServer
) -> None:
    stored = await client.post_message("tok-1", CID, {"text": "hi"})
    assert stored == {"_id": "m1", "seq": 1, "text": "hi"}
    again = await client.post_message("tok-2", CID, {"text": "again"})
    assert again["text"] == "again"
    assert server.app[SEEN] == [
        {"auth": "Bearer tok-1", "body": {"text": "hi"}},
        {"auth": "Bearer tok-2", "body": {"text": "again"}},
    ]


async def test_a_refusal_and_a_failure_are_told_apart(client: HttpConversations) -> None:
    # Read back through the error table: the kind and code it was raised with, never a status.
    with pytest.raises(Forbidden) as refused:
        await client.post_message("tok", "f" * 24, {"text": "hi"})
    assert (refused.value.code, refused.value.msg) == ("not_participant", "Not a participant")
    with pytest.raises(Unavailable) as failed:
        await client.mark_read("tok", CID, 3)
    assert not isinstance(failed.value, Busy)
    assert failed.value.code == "unavailable"
    with pytest.raises(Busy):
        await client.mark_read("tok", BUSY, 3)
    assert await client.is_member("tok", CID) is True
    assert await client.is_member("tok", "f" * 24) is False


async def test_pages_and_queries(client: HttpConversations) -> None:
    assert [c["_id"] for c in await client.list_conversations("tok")] == ["a", "b"]
    assert await client.messages_after("tok", CID, 7, 50) == [{"seq": 8}, {"seq": 9}]


async def test_an_unreachable_service_is_unavailable() -> None:
    session = HttpSession(f"http://127.0.0.1:{free_port()}", timeout_s=2, max_connections=1)
    try:
        with pytest.raises(Unavailable):
            await HttpConversations(session).post_message("tok", CID, {"text": "hi"})
    finally:
        await session.aclose()


async def batched(server: TestServer, service_token: str) -> tuple[HttpConversations, HttpSession]:
    session = HttpSession(str(server.make_url("/")), timeout_s=5, max_connections=4)
    client = HttpConversations(session, internal_token=service_token, send_batch_max=10)
    return client, session


async def test_batched_sends_carry_each_users_token_and_are_answered_one_by_one(
    server: TestServer,
) -> None:
    client, session = await batched(server, SERVICE_TOKEN)
    try:
        outcomes = await asyncio.gather(
            client.post_message("tok-1", CID, {"text": "a"}),
            client.post_message("tok-2", "f" * 24, {"text": "b"}),
            client.post_message("tok-3", BUSY, {"text": "c"}),
            client.post_message("tok-4", CID, {"text": "d"}),
            return_exceptions=True,
        )
    finally:
        await client.aclose()
        await session.aclose()
    assert outcomes[0] == {"_id": "m1", "text": "a"}
    assert isinstance(outcomes[1], Forbidden)
    assert (outcomes[1].code, outcomes[1].msg) == ("not_participant", "Not a participant")
    assert isinstance(outcomes[2], Busy)
    assert outcomes[3] == {"_id": "m1", "text": "d"}
    # Posted in one pass of the event loop, so all in the first call, in order.
    assert server.app[SEEN] == [
        {"batch": [("tok-1", "a"), ("tok-2", "b"), ("tok-3", "c"), ("tok-4", "d")]}
    ]


async def test_a_batch_refused_as_a_whole_goes_one_by_one_through_the_public_route(
    server: TestServer,
) -> None:
    client, session = await batched(server, "a-wrong-service-token")
    try:
        stored = await client.post_message("tok-1", CID, {"text": "hi"})
        with pytest.raises(Forbidden):
            await client.post_message("tok-2", "f" * 24, {"text": "no"})
    finally:
        await client.aclose()
        await session.aclose()
    assert stored == {"_id": "m1", "seq": 1, "text": "hi"}
    assert server.app[SEEN] == [
        {"auth": "Bearer tok-1", "body": {"text": "hi"}},
        {"auth": "Bearer tok-2", "body": {"text": "no"}},
    ]


async def test_a_batch_to_an_unreachable_service_is_unavailable_for_each_send() -> None:
    session = HttpSession(f"http://127.0.0.1:{free_port()}", timeout_s=2, max_connections=1)
    client = HttpConversations(session, internal_token=SERVICE_TOKEN, send_batch_max=10)
    try:
        outcomes = await asyncio.gather(
            *(client.post_message("tok", CID, {"text": str(n)}) for n in range(3)),
            return_exceptions=True,
        )
    finally:
        await client.aclose()
        await session.aclose()
    assert all(type(o) is Unavailable for o in outcomes)
