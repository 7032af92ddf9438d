"""Paging parameters, parsed from raw query strings so that a bad one is a clear 400."""

from __future__ import annotations

import re
from dataclasses import dataclass

from workcity_conversations.domain.errors import InvalidInput
from workcity_conversations.domain.rules import parse_id

# At most 15 digits: a seq or limit beyond that is nonsense and would overflow BSON int64 math.
_NON_NEGATIVE_INT = re.compile(r"^[0-9]{1,15}$")


def non_negative_int(name: str, raw: str | None) -> int | None:
    if raw is None:
        return None
    if not _NON_NEGATIVE_INT.match(raw):
        raise InvalidInput("invalid_query", f"{name} must be a non-negative integer")
    return int(raw)


def page_limit(raw: str | None, default: int, maximum: int) -> int:
    limit = non_negative_int("limit", raw)
    if limit is None:
        return default
    if limit < 1:
        raise InvalidInput("invalid_query", "limit must be at least 1")
    return min(limit, maximum)


@dataclass(frozen=True, slots=True)
class MessagePage:
    """`after_seq`: the first `limit` messages after it. `before_seq`: the `limit` messages just
    before it. Neither: the latest `limit`. Both: the first `limit` strictly between them.
    Answers are always oldest first."""

    limit: int
    after_seq: int | None = None
    before_seq: int | None = None

    @property
    def from_the_end(self) -> bool:
        """Whether the page is taken from the newest end (then reversed for the answer)."""
        return self.after_seq is None


def message_page(
    limit: str | None,
    after_seq: str | None,
    before_seq: str | None,
    *,
    default: int,
    maximum: int,
) -> MessagePage:
    return MessagePage(
        limit=page_limit(limit, default, maximum),
        after_seq=non_negative_int("after_seq", after_seq),
        before_seq=non_negative_int("before_seq", before_seq),
    )


@dataclass(frozen=True, slots=True)
class ConversationPage:
    """Most recently active first; `before` is the cursor the previous page ended with."""

    limit: int
    before: str | None = None


def conversation_page(
    limit: str | None, before: str | None, *, default: int, maximum: int
) -> ConversationPage:
    cursor = parse_id(before, "cursor") if before is not None else None
    return ConversationPage(limit=page_limit(limit, default, maximum), before=cursor)


def page_span(page: MessagePage, last_seq: int) -> tuple[int, int] | None:
    """The seqs `page` holds when no message in it was deleted (seqs are gapless until then), as
    `(low, high)`; None: the page is empty."""
    if page.after_seq is None:
        high = last_seq if page.before_seq is None else min(page.before_seq - 1, last_seq)
        low = max(1, high - page.limit + 1)
    else:
        low = page.after_seq + 1
        high = min(last_seq, page.after_seq + page.limit)
        if page.before_seq is not None:
            high = min(high, page.before_seq - 1)
    return (low, high) if low <= high else None
