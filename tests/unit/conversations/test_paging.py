from __future__ import annotations

import pytest
from workcity_common.domain_errors import DomainError
from workcity_common.error_table import http_status
from workcity_conversations.domain.paging import (
    ConversationPage,
    MessagePage,
    conversation_page,
    message_page,
)


def page(
    limit: str | None = None, after: str | None = None, before: str | None = None
) -> MessagePage:
    return message_page(limit, after, before, default=50, maximum=200)


def test_defaults() -> None:
    assert page() == MessagePage(limit=50)
    assert page().from_the_end


def test_limit_is_capped_not_refused() -> None:
    assert page("200").limit == 200
    assert page("201").limit == 200
    assert page("999999999").limit == 200


def test_after_and_before() -> None:
    assert page("10", "0") == MessagePage(limit=10, after_seq=0)
    assert not page("10", "0").from_the_end
    assert page(before="7") == MessagePage(limit=50, before_seq=7)
    assert page(before="7").from_the_end
    assert page(after="3", before="9") == MessagePage(limit=50, after_seq=3, before_seq=9)


@pytest.mark.parametrize(
    ("limit", "after", "before"),
    [
        ("-1", None, None),
        ("0", None, None),
        ("abc", None, None),
        ("1.5", None, None),
        ("", None, None),
        (" 5", None, None),
        ("+5", None, None),
        ("1e3", None, None),
        (None, "-1", None),
        (None, "x", None),
        (None, None, "-3"),
        (None, None, "1" * 16),
    ],
)
def test_bad_parameters_are_400(limit: str | None, after: str | None, before: str | None) -> None:
    with pytest.raises(DomainError) as caught:
        page(limit, after, before)
    assert (http_status(caught.value), caught.value.code) == (400, "invalid_query")


def test_conversation_page() -> None:
    assert conversation_page(None, None, default=100, maximum=200) == ConversationPage(limit=100)
    cursor = "6566f1d2c3b4a59687a1b2c3"
    assert conversation_page("5", cursor, default=100, maximum=200) == ConversationPage(5, cursor)
    with pytest.raises(DomainError) as caught:
        conversation_page(None, "nope", default=100, maximum=200)
    assert http_status(caught.value) == 400
