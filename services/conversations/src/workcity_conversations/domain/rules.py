"""Who may do what, and what valid input looks like. Pure functions; they raise the errors of
`errors.py` so every entrypoint answers a broken rule the same way."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from workcity_conversations.domain.errors import Forbidden, InvalidInput
from workcity_conversations.domain.model import Conversation, Message, Person

# fullmatch, not `$`: `$` also matches before a trailing newline, which ObjectId() refuses.
_OBJECT_ID = re.compile(r"[0-9a-fA-F]{24}")
# Client message ids are opaque to us, but they end up in logs and indexes: printable ASCII only.
_CLIENT_MESSAGE_ID = re.compile(r"^[\x21-\x7e]+$")


def parse_id(value: Any, what: str) -> str:
    """A MongoDB ObjectId as 24 hex characters (normalized to lower case), else 400."""
    if not isinstance(value, str) or not _OBJECT_ID.fullmatch(value):
        raise InvalidInput("invalid_id", f"Invalid {what} id")
    return value.lower()


def message_text(raw: Any, max_chars: int, *, allow_empty: bool = False) -> str:
    """Message text: a string, trimmed, not empty (unless `allow_empty`: a message that carries
    attachments), at most `max_chars` characters."""
    if not isinstance(raw, str):
        raise InvalidInput("invalid_text", "Message text must be a string")
    text = raw.strip()
    if not text and not allow_empty:
        raise InvalidInput("empty_text", "Message text cannot be empty")
    if len(text) > max_chars:
        raise InvalidInput("text_too_long", f"Message text is longer than {max_chars} characters")
    return text


def attachment_ids(raw: Any, max_count: int) -> list[str]:
    """Attachment ids of a message: absent/null/empty, or a list of at most `max_count` ids
    (normalized; a repeated id counts once, the first position kept)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidInput("invalid_attachments", "attachments must be a list of attachment ids")
    ids = list(dict.fromkeys(parse_id(a, "attachment") for a in raw))
    if len(ids) > max_count:
        raise InvalidInput("too_many_attachments", f"At most {max_count} attachments per message")
    return ids


def client_message_id(raw: Any, max_chars: int) -> str | None:
    """The client's idempotency key: absent/null, or 1..max_chars printable ASCII characters."""
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw or len(raw) > max_chars:
        raise InvalidInput(
            "invalid_client_message_id",
            f"clientMessageId must be a string of 1 to {max_chars} characters",
        )
    if not _CLIENT_MESSAGE_ID.match(raw):
        raise InvalidInput(
            "invalid_client_message_id", "clientMessageId may only hold printable ASCII characters"
        )
    return raw


def pair_key(a: str, b: str) -> str:
    """The same key for the same two users in either order: one conversation per pair."""
    first, second = sorted((a, b))
    return f"{first}:{second}"


_ROLE_RANK = {"customer": 0, "agent": 1, "designer": 1, "merchant": 1, "admin": 2}


def bounded_by_token(person: Person, token_role: str) -> Person:
    """The caller with no more rights than their token states: the directory copy is fresher
    (a demotion counts at once), but a copy gone wrong (a lost event) must not raise anyone
    above what auth signed."""
    if _ROLE_RANK.get(person.role, 0) > _ROLE_RANK.get(token_role, 0):
        return dataclasses.replace(person, role=token_role)  # type: ignore[arg-type]
    return person


def require_active(caller: Person) -> None:
    if caller.disabled:
        raise Forbidden("Account disabled", "account_disabled")


def check_new_conversation(opener: Person, recipient: Person) -> None:
    """Customers talk to support staff; support staff talk to anyone; nobody to themselves."""
    if opener.id == recipient.id:
        raise InvalidInput("self_conversation", "Cannot start a conversation with yourself")
    if recipient.disabled:
        raise InvalidInput("recipient_disabled", "This user is not available")
    if not opener.is_support and not recipient.is_support:
        raise Forbidden(
            "Customers can only start conversations with support staff", "recipient_not_allowed"
        )


def can_view(caller: Person, conversation: Conversation) -> bool:
    return conversation.has_participant(caller.id) or caller.is_admin


def require_viewer(caller: Person, conversation: Conversation) -> None:
    """Reading a conversation and its history: participants and admins."""
    if not can_view(caller, conversation):
        raise Forbidden("Not a participant of this conversation", "not_participant")


def require_participant(caller: Person, conversation: Conversation) -> None:
    """Writing into a conversation (send, mark read): participants only, admins included."""
    require_one_of(caller, conversation.participants)


def require_one_of(caller: Person, participants: Sequence[str]) -> None:
    """`require_participant` when only the participants are at hand."""
    if caller.id not in participants:
        raise Forbidden("Not a participant of this conversation", "not_participant")


def require_can_delete_conversation(caller: Person, conversation: Conversation) -> None:
    if not can_view(caller, conversation):
        raise Forbidden("Not a participant of this conversation", "not_participant")


def require_can_delete_message(caller: Person, message: Message) -> None:
    if message.sender_id != caller.id and not caller.is_admin:
        raise Forbidden("Only the sender or an admin can delete this message", "not_sender")


def require_can_edit_message(caller: Person, message: Message) -> None:
    if message.sender_id != caller.id:
        raise Forbidden("Only the sender can edit this message", "not_sender")


def desk_owner(opener: Person, recipient: Person) -> Person | None:
    """The staff member a customer's direct chat is assigned to (None: no customer in it)."""
    if opener.is_support and not recipient.is_support:
        return opener
    if recipient.is_support and not opener.is_support:
        return recipient
    return None


def read_mark_seq(raw: Any) -> int | None:
    """A read mark's `seq`: a non-negative integer (JSON's safe range), or None for everything."""
    if raw is not None and (
        not isinstance(raw, int) or isinstance(raw, bool) or raw < 0 or raw > 2**53
    ):
        raise InvalidInput("invalid_seq", "seq must be a non-negative integer")
    return raw
