"""Every failure of a socket handler becomes an `{error, code}` ack, never an exception."""

from typing import Any

import pytest
from workcity_common.broker import BrokerUnavailable
from workcity_common.domain_errors import Busy, NotFound, Unavailable
from workcity_common.error_table import from_http
from workcity_realtime.domain.ordering import Overloaded, QueueFull
from workcity_realtime.domain.payloads import InvalidPayload
from workcity_realtime.entrypoints.sockets import answered
from workcity_realtime.service_layer.hub import Refused


@pytest.mark.parametrize(
    ("failure", "code"),
    [
        (InvalidPayload("text must be a string"), "invalid_payload"),
        (Refused("You are not a participant", "forbidden"), "forbidden"),
        (NotFound("Conversation not found"), "not_found"),
        (from_http(403, "not_participant", "Not a participant"), "not_participant"),
        (Unavailable(), "unavailable"),
        (from_http(502, None, None), "unavailable"),
        (Busy(), "busy"),
        (from_http(503, "busy", "The chat service is busy, try again"), "busy"),
        (Overloaded("s1"), "busy"),
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
