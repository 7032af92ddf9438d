"""Refuse oversized request bodies with 413 before they are read into memory (every service).

A declared `Content-Length` over the limit is answered at once; a chunked body is counted as it
streams and cut off at the limit (raised as an HTTP 413, which the app's error handlers turn into
the contract's JSON).

Some routes take larger bodies (attachment uploads): `overrides` maps a method and a path pattern
to their own limit, which replaces the general one for matching requests."""

from __future__ import annotations

import re
from collections.abc import Sequence

import orjson
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from workcity_common.error_table import error_body

Override = tuple[str, re.Pattern[str], int]  # (method, path pattern, limit in bytes)

# A refused body up to this size is read and dropped before the 413 goes out. Closing on a
# proxy that is still sending (nginx buffers the whole body, then forwards it) resets the
# connection, and the client would see the gateway's 502 instead of our 413.
DRAIN_MAX_BYTES = 4 * 1024 * 1024


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, overrides: Sequence[Override] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.overrides = tuple(overrides)

    def _limit(self, scope: Scope) -> int:
        for method, pattern, limit in self.overrides:
            if scope.get("method") == method and pattern.fullmatch(scope.get("path", "")):
                return limit
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_large = int(declared) > limit
            except ValueError:
                too_large = False  # the server rejects a malformed length itself
            if too_large:
                if int(declared) <= DRAIN_MAX_BYTES:
                    await self._drain(receive)
                await self._refuse(send, limit)
                return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, self._msg(limit))
            return message

        await self.app(scope, limited_receive, send)

    @staticmethod
    async def _drain(receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                return

    @staticmethod
    def _msg(limit: int) -> str:
        return too_large_message(limit)

    async def _refuse(self, send: Send, limit: int) -> None:
        body = orjson.dumps(error_body("payload_too_large", self._msg(limit)))
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def too_large_message(limit: int) -> str:
    """The 413's words (the batch of sends answers an oversized item with them too)."""
    return f"Request body is larger than {limit} bytes"
