from __future__ import annotations

from datetime import UTC, datetime

import pytest
from workcity_common.domain_errors import DomainError
from workcity_common.error_table import http_status
from workcity_conversations.domain import rules
from workcity_conversations.domain.model import Conversation, Message, Person

NOW = datetime(2026, 1, 1, tzinfo=UTC)
A = "a" * 24
B = "b" * 24
C = "c" * 24


def person(user_id: str, role: str, disabled: bool = False) -> Person:
    return Person(id=user_id, email=f"{role}@x.test", role=role, disabled=disabled)  # type: ignore[arg-type]


def conversation(*participants: str) -> Conversation:
    return Conversation(
        id="f" * 24, participants=participants, last_seq=0, created_at=NOW, updated_at=NOW
    )


def message(sender: str) -> Message:
    return Message(
        id="e" * 24,
        conversation_id="f" * 24,
        seq=1,
        sender_id=sender,
        text="hi",
        created_at=NOW,
        updated_at=NOW,
    )


def error_of(call: object, *args: object) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call(*args)  # type: ignore[operator]
    return caught.value


@pytest.mark.parametrize("value", ["6566f1d2c3b4a59687a1b2c3", "6566F1D2C3B4A59687A1B2C3"])
def test_parse_id_accepts_object_id_hex_and_lowercases(value: str) -> None:
    assert rules.parse_id(value, "conversation") == value.lower()


@pytest.mark.parametrize(
    "value",
    [
        "",
        "123",
        "x" * 24,
        "6566f1d2c3b4a59687a1b2c",
        "6566f1d2c3b4a59687a1b2c3d",
        12,
        None,
        "abcdefghijkl",
        ["6566f1d2c3b4a59687a1b2c3"],
        "6566f1d2c3b4a59687a1b2c\n",
        "6566f1d2c3b4a59687a1b2c3\n",  # `$` matched before a trailing newline: was a 500
    ],
)
def test_parse_id_rejects_anything_else_with_400(value: object) -> None:
    error = error_of(rules.parse_id, value, "conversation")
    assert (http_status(error), error.code, error.msg) == (
        400,
        "invalid_id",
        "Invalid conversation id",
    )


def test_message_text_is_trimmed() -> None:
    assert rules.message_text("  hello there \n", 4000) == "hello there"


def test_message_text_at_the_limit_is_accepted_and_one_over_is_not() -> None:
    assert rules.message_text("x" * 10, 10) == "x" * 10
    # Surrounding whitespace does not count.
    assert rules.message_text("  " + "x" * 10 + "  ", 10) == "x" * 10
    error = error_of(rules.message_text, "x" * 11, 10)
    assert (http_status(error), error.code) == (400, "text_too_long")


@pytest.mark.parametrize("value", ["", "   ", "\n\t "])
def test_empty_message_text_is_refused(value: str) -> None:
    error = error_of(rules.message_text, value, 4000)
    assert (http_status(error), error.code, error.msg) == (
        400,
        "empty_text",
        "Message text cannot be empty",
    )


@pytest.mark.parametrize("value", [None, 5, ["hi"], {"text": "hi"}, True])
def test_message_text_must_be_a_string(value: object) -> None:
    assert error_of(rules.message_text, value, 4000).code == "invalid_text"


def test_client_message_id() -> None:
    assert rules.client_message_id(None, 16) is None
    assert rules.client_message_id("abc-123_X.y:z", 16) == "abc-123_X.y:z"
    for bad in ("", "x" * 17, "has space", "ünïcode", 7, ["a"]):
        assert error_of(rules.client_message_id, bad, 16).code == "invalid_client_message_id"


def test_pair_key_is_the_same_in_either_order() -> None:
    assert rules.pair_key(A, B) == rules.pair_key(B, A) == f"{A}:{B}"


@pytest.mark.parametrize("support", ["agent", "designer", "merchant", "admin"])
def test_customers_may_open_conversations_with_support_roles(support: str) -> None:
    rules.check_new_conversation(person(A, "customer"), person(B, support))


def test_customers_may_not_open_conversations_with_customers() -> None:
    error = error_of(rules.check_new_conversation, person(A, "customer"), person(B, "customer"))
    assert (http_status(error), error.code) == (403, "recipient_not_allowed")


@pytest.mark.parametrize("opener", ["agent", "designer", "merchant", "admin"])
@pytest.mark.parametrize("recipient", ["customer", "agent", "designer", "merchant", "admin"])
def test_support_roles_may_open_conversations_with_anyone(opener: str, recipient: str) -> None:
    rules.check_new_conversation(person(A, opener), person(B, recipient))


def test_nobody_opens_a_conversation_with_themselves() -> None:
    error = error_of(rules.check_new_conversation, person(A, "agent"), person(A, "agent"))
    assert (http_status(error), error.code) == (400, "self_conversation")


def test_disabled_users_cannot_be_added() -> None:
    error = error_of(
        rules.check_new_conversation, person(A, "agent"), person(B, "customer", disabled=True)
    )
    assert (http_status(error), error.code) == (400, "recipient_disabled")


def test_disabled_callers_are_refused() -> None:
    rules.require_active(person(A, "customer"))
    error = error_of(rules.require_active, person(A, "customer", disabled=True))
    assert (http_status(error), error.code) == (403, "account_disabled")


def test_viewing_participants_and_admins() -> None:
    conv = conversation(A, B)
    rules.require_viewer(person(A, "customer"), conv)
    rules.require_viewer(person(C, "admin"), conv)
    assert http_status(error_of(rules.require_viewer, person(C, "agent"), conv)) == 403


def test_writing_is_for_participants_only_even_admins() -> None:
    conv = conversation(A, B)
    rules.require_participant(person(B, "agent"), conv)
    assert http_status(error_of(rules.require_participant, person(C, "admin"), conv)) == 403


def test_deleting_a_conversation_participants_and_admins() -> None:
    conv = conversation(A, B)
    rules.require_can_delete_conversation(person(A, "customer"), conv)
    rules.require_can_delete_conversation(person(C, "admin"), conv)
    assert (
        http_status(error_of(rules.require_can_delete_conversation, person(C, "agent"), conv))
        == 403
    )


def test_deleting_a_message_sender_or_admin_editing_sender_only() -> None:
    msg = message(A)
    rules.require_can_delete_message(person(A, "customer"), msg)
    rules.require_can_delete_message(person(C, "admin"), msg)
    assert error_of(rules.require_can_delete_message, person(B, "agent"), msg).code == "not_sender"
    rules.require_can_edit_message(person(A, "customer"), msg)
    assert http_status(error_of(rules.require_can_edit_message, person(C, "admin"), msg)) == 403


@pytest.mark.parametrize(
    ("copy_role", "token_role", "expected"),
    [
        ("admin", "agent", "agent"),  # the copy missed a demotion: the token bounds it
        ("admin", "customer", "customer"),
        ("agent", "customer", "customer"),
        ("agent", "admin", "agent"),  # a fresher demotion in the copy counts at once
        ("customer", "admin", "customer"),
        ("merchant", "agent", "merchant"),  # same rights: the fresher copy
        ("admin", "admin", "admin"),
    ],
)
def test_the_caller_never_has_more_rights_than_the_token_states(
    copy_role: str, token_role: str, expected: str
) -> None:
    assert rules.bounded_by_token(person("u1", copy_role), token_role).role == expected
