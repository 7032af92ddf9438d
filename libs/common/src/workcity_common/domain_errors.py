"""The ways a rule says no, as plain exceptions: no web framework, no status codes.

A rule's `code` names the rule that refused (`already_rated`, for programs) and `msg` says it in
words (what the original frontend shows). The class says what kind of no it is; the edges turn
the kind into an HTTP status or a socket ack from one table (`workcity_common.error_table`).
Extra keyword fields (`retryAfter`) ride along into the answer.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    default_code: ClassVar[str] = "bad_request"
    default_msg: ClassVar[str] = "Request refused"

    def __init__(self, msg: str | None = None, code: str | None = None, **extra: Any) -> None:
        self.msg = msg if msg is not None else self.default_msg
        self.code = code if code is not None else self.default_code
        self.extra = extra
        super().__init__(self.msg)


class Invalid(DomainError):
    """The input breaks a rule: fixing the request would help."""


class Unauthenticated(DomainError):
    default_code = "unauthorized"
    default_msg = "Not authenticated"


class Forbidden(DomainError):
    default_code = "forbidden"
    default_msg = "Forbidden"


class NotFound(DomainError):
    default_code = "not_found"
    default_msg = "Not found"


class Conflict(DomainError):
    """The state moved under the request (taken, already done, changed meanwhile)."""

    default_code = "conflict"
    default_msg = "Try again"


class TooLarge(DomainError):
    default_code = "payload_too_large"
    default_msg = "Too large"


class UnsupportedType(DomainError):
    default_code = "unsupported_media_type"
    default_msg = "Unsupported type"


class Throttled(DomainError):
    """Too many attempts from this caller; `retryAfter` (seconds) when known."""

    default_code = "rate_limited"
    default_msg = "Too many requests, slow down"


class Unavailable(DomainError):
    """Something this service needs does not answer: the same request may work later."""

    default_code = "unavailable"
    default_msg = "The chat service is unavailable, try again"


class Busy(Unavailable):
    """Shed at once because too much is waiting already: try again in a moment."""

    default_code = "busy"
    default_msg = "The chat service is busy, try again"
