"""The one table from a kind of refusal to what a client sees: the HTTP status of the JSON answer
`{msg, code}` (entrypoints' error handlers) and the socket ack `{error, code}` (realtime). Realtime
reads the conversations service's answers back through the same table, so an error keeps its kind
across the hop. Framework-free: FastAPI's handlers live in `workcity_common.errors`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from workcity_common.domain_errors import (
    Busy,
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    Throttled,
    TooLarge,
    Unauthenticated,
    Unavailable,
    UnsupportedType,
)

# Unavailable before Busy: a 503 read back is Busy only when its code says so.
HTTP_STATUS: Final[Mapping[type[DomainError], int]] = {
    DomainError: 400,
    Invalid: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    TooLarge: 413,
    UnsupportedType: 415,
    Throttled: 429,
    Unavailable: 503,
    Busy: 503,
}


def kind_of(error: DomainError) -> type[DomainError]:
    """The nearest class of the error that the table knows (a service's own subclasses map as
    their base does)."""
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return cls  # type: ignore[return-value]
    return DomainError  # unreachable: every error is a DomainError


def http_status(error: DomainError) -> int:
    return HTTP_STATUS[kind_of(error)]


def error_body(code: str, msg: str, **extra: Any) -> dict[str, Any]:
    return {"msg": msg, "code": code, **extra}


def http_body(error: DomainError) -> dict[str, Any]:
    return error_body(error.code, error.msg, **error.extra)


def socket_ack(error: DomainError) -> dict[str, Any]:
    return {"error": error.msg, "code": error.code}


def from_http(status: int, code: str | None, msg: str | None) -> DomainError:
    """Another service's error answer as the error it was raised as (any 5xx: Unavailable)."""
    if status >= 500:
        return Busy() if status == 503 and code == Busy.default_code else Unavailable()
    kind = next(
        (k for k, s in HTTP_STATUS.items() if s == status and k is not DomainError), Invalid
    )
    return kind(msg or "Request refused", code or f"http_{status}")
