"""Errors as the contract wants them: JSON `{msg, code}`, never FastAPI's `{detail}`, never a
stack trace. `msg` is what the original frontend shows; `code` is for programs."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, code: str, msg: str, **extra: Any) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg
        self.extra = extra


def bad_request(msg: str, code: str = "bad_request") -> ApiError:
    return ApiError(400, code, msg)


def unauthorized(msg: str = "Not authenticated") -> ApiError:
    return ApiError(401, "unauthorized", msg)


def forbidden(msg: str = "Forbidden") -> ApiError:
    return ApiError(403, "forbidden", msg)


def not_found(msg: str = "Not found") -> ApiError:
    return ApiError(404, "not_found", msg)


def error_body(code: str, msg: str, **extra: Any) -> dict[str, Any]:
    return {"msg": msg, "code": code, **extra}


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def _describe(error: dict[str, Any]) -> dict[str, Any]:
    location = [str(part) for part in error.get("loc", ()) if part != "body"]
    return {"field": ".".join(location) or None, "problem": error.get("msg", "invalid")}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        if exc.status == 503:
            headers = {"Retry-After": "1"}  # load shed: a moment later it may well succeed
        if exc.status == 429 and "retryAfter" in exc.extra:
            headers = {"Retry-After": str(exc.extra["retryAfter"])}
        return JSONResponse(error_body(exc.code, exc.msg, **exc.extra), exc.status, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_describe(e) for e in exc.errors()]
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            return JSONResponse(error_body("invalid_json", "Request body is not valid JSON"), 400)
        first = errors[0] if errors else {"field": None, "problem": "invalid request"}
        problem = str(first["problem"])
        msg = f"{first['field']}: {problem}" if first["field"] else problem
        return JSONResponse(error_body("validation_error", msg, errors=errors), 400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        msg = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return JSONResponse(error_body(code, msg), exc.status_code, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", extra={"path": request.url.path})
        return JSONResponse(error_body("internal_error", "Internal server error"), 500)
