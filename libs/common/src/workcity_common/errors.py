"""Errors as the contract wants them: JSON `{msg, code}`, never FastAPI's `{detail}`, never a
stack trace. `msg` is what the original frontend shows; `code` is for programs. A `DomainError`
gets its status from the one table (`workcity_common.error_table`); this is the FastAPI side."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from workcity_common.domain_errors import DomainError
from workcity_common.error_table import HTTP_STATUS, error_body, http_body, http_status

log = logging.getLogger(__name__)


# Starlette's own refusals (unknown route, wrong method) get the code of their status's kind.
_HTTP_CODES = {405: "method_not_allowed"} | {
    status: kind.default_code for kind, status in list(HTTP_STATUS.items())[::-1]
}


def _describe(error: Mapping[str, Any]) -> dict[str, Any]:
    location = [str(part) for part in error.get("loc", ()) if part != "body"]
    return {"field": ".".join(location) or None, "problem": error.get("msg", "invalid")}


def validation_error_body(raw: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The 400 answer to a request pydantic refused (`raw`: its `errors()`)."""
    if any(e.get("type") == "json_invalid" for e in raw):
        return error_body("invalid_json", "Request body is not valid JSON")
    errors = [_describe(e) for e in raw]
    first = errors[0] if errors else {"field": None, "problem": "invalid request"}
    problem = str(first["problem"])
    msg = f"{first['field']}: {problem}" if first["field"] else problem
    return error_body("validation_error", msg, errors=errors)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain_error(_: Request, exc: DomainError) -> JSONResponse:
        status = http_status(exc)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        if status == 503:
            headers = {"Retry-After": "1"}  # load shed: a moment later it may well succeed
        if status == 429 and "retryAfter" in exc.extra:
            headers = {"Retry-After": str(exc.extra["retryAfter"])}
        return JSONResponse(http_body(exc), status, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_error_body(exc.errors()), 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        msg = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return JSONResponse(error_body(code, msg), exc.status_code, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return JSONResponse(error_body("internal_error", "Internal server error"), 500)
