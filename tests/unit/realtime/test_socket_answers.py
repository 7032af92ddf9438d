"""Every failure of a socket handler becomes an `{error, code}` ack, never an exception."""

import asyncio
from typing import Any

import pytest
from workcity_common.broker import BrokerUnavailable
from workcity_realtime.adapters.conversations import (
    ConversationsBusy,
    ConversationsError,
    ConversationsUnavailable,
    HttpConversations,
)
from workcity_realtime.domain.ordering import QueueFull
from workcity_realtime.domain.payloads import InvalidPayload
from workcity_realtime.entrypoints.sockets import answered
from workcity_realtime.hub import Refused


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (InvalidPayload("text must be a string"), "invalid_payload"),
        (Refused("You are not a participant", "forbidden"), "forbidden"),
        (ConversationsError(404, "not_found", "Conversation not found"), "not_found"),
        (ConversationsUnavailable("timeout"), "unavailable"),
        (ConversationsBusy("100 sends in flight"), "busy"),
        (QueueFull("s1"), "too_many_pending"),
        (BrokerUnavailable("down"), "unavailable"),
        (ConnectionRefusedError("amqp"), "unavailable"),
        (RuntimeError("a bug"), "internal_error"),
    ],
)
async def test_failures_become_error_acks(failure: Exception, code: str) -> None:
    @answered("sendMessage")
    async def handler(sid: str, *args: Any) -> dict[str, Any]:
        raise failure

    answer = await handler("s1", {"x": 1})
    assert answer["code"] == code
    assert isinstance(answer["error"], str) and answer["error"]


async def test_success_passes_through() -> None:
    @answered("joinConversation")
    async def handler(sid: str, *args: Any) -> dict[str, Any]:
        return {"ok": True, "args": list(args)}

    assert await handler("s1") == {"ok": True, "args": []}


async def test_sends_beyond_the_in_flight_limit_are_refused_busy_at_once() -> None:
    conversations = HttpConversations(http=None, max_sends_in_flight=2)  # type: ignore[arg-type]
    release = asyncio.Event()
    calls = 0

    async def call(*_: Any, **__: Any) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        await release.wait()
        return {"_id": "m"}

    conversations._call = call  # type: ignore[method-assign]
    waiting = [asyncio.create_task(conversations.post_message("t", "c", {})) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(ConversationsBusy):
        await conversations.post_message("t", "c", {})
    assert calls == 2  # the refused one never reached the conversations service
    release.set()
    assert await asyncio.gather(*waiting) == [{"_id": "m"}, {"_id": "m"}]
    # Room again once they are answered.
    assert await conversations.post_message("t", "c", {}) == {"_id": "m"}
