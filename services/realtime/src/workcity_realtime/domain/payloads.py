"""What clients may send over the socket, checked before anything leaves this service.

Pure functions: a payload in, a typed command out, or `InvalidPayload` with a message the client
can show. The conversations service checks the same rules again (it is the authority); checking
here answers malformed input at once and keeps it off the network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from workcity_common.domain_errors import Invalid
from workcity_common.message_limits import MessageLimits

# fullmatch, not `$`: `$` also matches before a trailing newline.
OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")


class InvalidPayload(Invalid):
    default_code = "invalid_payload"


@dataclass(frozen=True, slots=True)
class PayloadLimits(MessageLimits):
    """What one socket payload may hold: a message as the conversations service allows it
    (`MessageLimits`, shared), and a `sync` page."""

    sync_max_limit: int = 200


@dataclass(frozen=True, slots=True)
class SendMessage:
    conversation_id: str
    text: str
    client_message_id: str | None
    attachments: tuple[str, ...]

    def to_request(self) -> dict[str, Any]:
        body: dict[str, Any] = {"text": self.text}
        if self.client_message_id is not None:
            body["clientMessageId"] = self.client_message_id
        if self.attachments:
            body["attachments"] = list(self.attachments)
        return body


@dataclass(frozen=True, slots=True)
class MarkRead:
    conversation_id: str
    seq: int | None


@dataclass(frozen=True, slots=True)
class Sync:
    conversation_id: str
    after_seq: int
    limit: int


def _object(payload: Any, what: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise InvalidPayload(f"{what} expects an object")
    return payload


def _conversation_id(value: Any) -> str:
    if value is None:
        raise InvalidPayload("conversationId is required")
    if not isinstance(value, str) or not OBJECT_ID.fullmatch(value):
        raise InvalidPayload("conversationId must be a conversation id", "invalid_id")
    return value.lower()


def _non_negative_int(value: Any, name: str) -> int:
    # bool is an int in Python; `true` is not a sequence number.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidPayload(f"{name} must be a whole number")
    if value < 0:
        raise InvalidPayload(f"{name} must not be negative")
    return value


def conversation_ref(payload: Any) -> str:
    """`joinConversation` / `leaveConversation` / `typing` take the id itself (as the original
    frontend sends it) or `{conversationId}`."""
    if isinstance(payload, dict):
        return _conversation_id(payload.get("conversationId"))
    return _conversation_id(payload)


def send_message(payload: Any, limits: PayloadLimits) -> SendMessage:
    data = _object(payload, "sendMessage")
    conversation_id = _conversation_id(data.get("conversationId"))
    text = data.get("text", "")
    if not isinstance(text, str):
        raise InvalidPayload("text must be a string")
    if len(text.strip()) > limits.message_max_chars:
        raise InvalidPayload(
            f"text is longer than {limits.message_max_chars} characters", "text_too_long"
        )
    attachments_in = data.get("attachments")
    if attachments_in is None:
        attachments: tuple[str, ...] = ()
    elif isinstance(attachments_in, list) and all(
        isinstance(a, str) and OBJECT_ID.fullmatch(a) for a in attachments_in
    ):
        if len(attachments_in) > limits.max_attachments:
            raise InvalidPayload(f"at most {limits.max_attachments} attachments")
        attachments = tuple(a.lower() for a in attachments_in)
    else:
        raise InvalidPayload("attachments must be a list of attachment ids")
    if not text.strip() and not attachments:
        raise InvalidPayload("Message text is required", "empty_message")
    client_message_id = data.get("clientMessageId")
    if client_message_id is not None and (
        not isinstance(client_message_id, str)
        or not client_message_id.strip()
        or len(client_message_id) > limits.client_message_id_max_chars
    ):
        raise InvalidPayload(
            f"clientMessageId must be a string of 1 to {limits.client_message_id_max_chars} characters",
            "invalid_client_message_id",
        )
    return SendMessage(conversation_id, text, client_message_id, attachments)


def mark_read(payload: Any) -> MarkRead:
    if isinstance(payload, str):
        return MarkRead(_conversation_id(payload), None)
    data = _object(payload, "markRead")
    seq = data.get("seq")
    return MarkRead(
        _conversation_id(data.get("conversationId")),
        None if seq is None else _non_negative_int(seq, "seq"),
    )


def sync(payload: Any, limits: PayloadLimits) -> Sync:
    data = _object(payload, "sync")
    after_seq = data.get("afterSeq", 0)
    limit = data.get("limit", limits.sync_max_limit)
    limit = _non_negative_int(limit, "limit")
    if limit == 0:
        raise InvalidPayload("limit must be at least 1")
    return Sync(
        _conversation_id(data.get("conversationId")),
        _non_negative_int(after_seq, "afterSeq"),
        min(limit, limits.sync_max_limit),
    )


def token_of(auth: Any) -> str | None:
    """The handshake's `auth: {token}`; a bare string or `Bearer <token>` is accepted too."""
    token = auth.get("token") if isinstance(auth, dict) else auth
    if not isinstance(token, str):
        return None
    token = token.strip()
    if token.lower().startswith("bearer "):
        token = token[7:].strip()
    return token or None
