"""Socket payload validation: what is refused, and what each refusal says."""

from typing import Any

import pytest
from workcity_realtime.domain import payloads
from workcity_realtime.domain.payloads import InvalidPayload, PayloadLimits

CID = "64b7f0c2a1b2c3d4e5f60718"
LIMITS = PayloadLimits(message_max_chars=20, max_attachments=2, sync_max_limit=50)


def test_send_message_builds_the_api_body() -> None:
    command = payloads.send_message(
        {"conversationId": CID.upper(), "text": "hi", "clientMessageId": "c-1"}, LIMITS
    )
    assert command.conversation_id == CID
    assert command.to_request() == {"text": "hi", "clientMessageId": "c-1"}


def test_text_length_counts_after_trimming() -> None:
    command = payloads.send_message({"conversationId": CID, "text": "  " + "x" * 20 + "  "}, LIMITS)
    assert len(command.text) == 24


def test_send_message_with_attachments_only() -> None:
    command = payloads.send_message(
        {"conversationId": CID, "text": "", "attachments": [CID]}, LIMITS
    )
    assert command.to_request() == {"text": "", "attachments": [CID]}


@pytest.mark.parametrize(
    ("payload", "code", "message"),
    [
        (None, "invalid_payload", "sendMessage expects an object"),
        ("hello", "invalid_payload", "sendMessage expects an object"),
        ({"text": "hi"}, "invalid_payload", "conversationId is required"),
        ({"conversationId": 5, "text": "hi"}, "invalid_id", "conversationId must be"),
        ({"conversationId": "nope", "text": "hi"}, "invalid_id", "conversationId must be"),
        ({"conversationId": CID + "\n", "text": "hi"}, "invalid_id", "conversationId must be"),
        ({"conversationId": CID}, "empty_message", "Message text is required"),
        ({"conversationId": CID, "text": "   "}, "empty_message", "Message text is required"),
        ({"conversationId": CID, "text": 42}, "invalid_payload", "text must be a string"),
        ({"conversationId": CID, "text": ["a"]}, "invalid_payload", "text must be a string"),
        ({"conversationId": CID, "text": "x" * 21}, "text_too_long", "longer than 20"),
        (
            {"conversationId": CID, "text": "hi", "clientMessageId": 7},
            "invalid_client_message_id",
            "clientMessageId",
        ),
        (
            {"conversationId": CID, "text": "hi", "clientMessageId": "x" * 129},
            "invalid_client_message_id",
            "clientMessageId",
        ),
        (
            {"conversationId": CID, "text": "hi", "clientMessageId": " "},
            "invalid_client_message_id",
            "clientMessageId",
        ),
        (
            {"conversationId": CID, "text": "hi", "attachments": "x"},
            "invalid_payload",
            "attachments must be",
        ),
        (
            {"conversationId": CID, "text": "hi", "attachments": [CID, CID, CID]},
            "invalid_payload",
            "at most 2 attachments",
        ),
    ],
)
def test_send_message_refusals(payload: Any, code: str, message: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        payloads.send_message(payload, LIMITS)
    assert caught.value.code == code
    assert message in caught.value.msg


def test_conversation_ref_takes_id_or_object() -> None:
    assert payloads.conversation_ref(CID) == CID
    assert payloads.conversation_ref({"conversationId": CID}) == CID
    for bad in (None, 12, {}, {"conversationId": None}, "zz" * 12, [CID]):
        with pytest.raises(InvalidPayload):
            payloads.conversation_ref(bad)


def test_mark_read() -> None:
    assert payloads.mark_read({"conversationId": CID}).seq is None
    assert payloads.mark_read({"conversationId": CID, "seq": 3}).seq == 3
    assert payloads.mark_read(CID).conversation_id == CID
    for bad in (
        {"conversationId": CID, "seq": -1},
        {"conversationId": CID, "seq": True},
        {"conversationId": CID, "seq": "3"},
        {"conversationId": CID, "seq": 1.5},
    ):
        with pytest.raises(InvalidPayload):
            payloads.mark_read(bad)


def test_sync_caps_the_limit() -> None:
    command = payloads.sync({"conversationId": CID, "afterSeq": 4, "limit": 1000}, LIMITS)
    assert (command.after_seq, command.limit) == (4, 50)
    assert payloads.sync({"conversationId": CID}, LIMITS).after_seq == 0
    bad: Any
    for bad in (
        {"conversationId": CID, "afterSeq": -1},
        {"conversationId": CID, "limit": 0},
        {"conversationId": CID, "afterSeq": "1"},
        [],
    ):
        with pytest.raises(InvalidPayload):
            payloads.sync(bad, LIMITS)


def test_token_of() -> None:
    assert payloads.token_of({"token": "abc"}) == "abc"
    assert payloads.token_of({"token": "Bearer abc"}) == "abc"
    assert payloads.token_of("Bearer abc") == "abc"
    assert payloads.token_of({"token": "  "}) is None
    assert payloads.token_of({"token": 5}) is None
    assert payloads.token_of(None) is None
