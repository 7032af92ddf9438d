"""The conversations service's REST API, called with the user's own token (so the rules of who may
post or read live in one place), over one pooled keep-alive aiohttp session per replica.

aiohttp rather than httpx: every `sendMessage` is one of these calls, and it is the cheaper
client per call (docs/decisions/0002).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

import aiohttp
import orjson
from workcity_common.domain_errors import (
    Busy,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    Unavailable,
)
from workcity_common.error_table import from_http
from workcity_common.send_batch import SEND_BATCH_PATH

from workcity_realtime.adapters.send_batches import BatchRefused, QueuedSend, SendBatcher

log = logging.getLogger(__name__)

# The conversations service pages its list; the next page's cursor comes in this header.
NEXT_CURSOR_HEADER = "X-Next-Cursor"
CONVERSATION_PAGE = 200
# An idle pooled connection is closed after this, before uvicorn's own keep-alive timeout (5 s)
# closes it from the other side: a call reusing it just as the server closes it would fail.
KEEPALIVE_S = 3.0
MAX_CONVERSATION_PAGES = 50


class ConversationsPort(Protocol):
    async def post_message(
        self, token: str, conversation_id: str, body: dict[str, Any]
    ) -> dict[str, Any]: ...

    async def mark_read(
        self, token: str, conversation_id: str, seq: int | None
    ) -> dict[str, Any]: ...

    async def messages_after(
        self, token: str, conversation_id: str, after_seq: int, limit: int
    ) -> list[dict[str, Any]]: ...

    async def is_member(self, token: str, conversation_id: str) -> bool: ...

    async def list_conversations(self, token: str) -> list[dict[str, Any]]: ...


class HttpSession:
    """One keep-alive connection pool to the conversations service, opened on first use (an
    aiohttp session must be made inside the running event loop) and closed at shutdown."""

    def __init__(self, base_url: str, timeout_s: float, max_connections: int) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s, connect=min(timeout_s, 5.0))
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=self._max_connections,
                    keepalive_timeout=KEEPALIVE_S,
                    ttl_dns_cache=300,
                ),
                timeout=self._timeout,
                headers={"User-Agent": "workcity-realtime"},
                # Calls to the internal service never go through a proxy from the environment.
                trust_env=False,
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def make_http_client(base_url: str, timeout_s: float, max_connections: int) -> HttpSession:
    return HttpSession(base_url, timeout_s, max_connections)


class HttpConversations:
    def __init__(
        self,
        http: HttpSession,
        *,
        internal_token: str | None = None,
        send_batch_max: int = 0,
        send_calls_max: int = 1,
    ) -> None:
        """With the service's token and a batch size, sends go in batches (adapters/
        send_batches.py); without, each through the public route."""
        self._http = http
        self._internal_token = internal_token
        self._batcher = (
            SendBatcher(self._post_batch, self._post_one, send_batch_max, send_calls_max)
            if internal_token and send_batch_max > 0
            else None
        )

    async def aclose(self) -> None:
        if self._batcher is not None:
            await self._batcher.aclose()

    async def _call(
        self,
        method: str,
        path: str,
        token: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        request_id: str | None = None,
        cursor_into: list[str] | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {token}"}
        if request_id:
            headers["X-Request-ID"] = request_id
        data = None
        if json is not None:
            data = orjson.dumps(json)
            headers["Content-Type"] = "application/json"
        query = {k: str(v) for k, v in params.items()} if params else None
        try:
            async with self._http.session().request(
                method, self._http.base_url + path, data=data, params=query, headers=headers
            ) as response:
                status, reason = response.status, response.reason
                cursor = response.headers.get(NEXT_CURSOR_HEADER)
                raw = await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            # No answer: the client may retry (a send with the same clientMessageId).
            log.warning(
                "conversations service unavailable",
                extra={"call": f"{method} {path}", "error": repr(exc)},
            )
            raise Unavailable() from exc
        body = _json_or_none(raw)
        if status >= 400:
            raise _refusal(status, reason, body, f"{method} {path}")
        if cursor_into is not None and cursor:
            cursor_into.append(cursor)
        return body

    async def post_message(
        self, token: str, conversation_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        if self._batcher is not None:
            return await self._batcher.post_message(token, conversation_id, body)
        return await self._post_one(token, conversation_id, body)

    async def _post_one(
        self, token: str, conversation_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", f"/api/conversations/{conversation_id}/messages", token, json=body
        )
        return result

    async def _post_batch(self, sends: Sequence[QueuedSend]) -> list[dict[str, Any] | DomainError]:
        """One call for several users' sends (workcity_common.send_batch), with the service's
        token; each send's own token rides in its item and is checked there."""
        items = [
            {"token": s.token, "conversationId": s.conversation_id, "body": s.body} for s in sends
        ]
        headers = {
            "Authorization": f"Bearer {self._internal_token}",
            "Content-Type": "application/json",
        }
        call = f"POST {SEND_BATCH_PATH}"
        try:
            async with self._http.session().post(
                self._http.base_url + SEND_BATCH_PATH,
                data=orjson.dumps({"items": items}),
                headers=headers,
            ) as response:
                status, reason = response.status, response.reason
                raw = await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            log.warning(
                "conversations service unavailable", extra={"call": call, "error": repr(exc)}
            )
            raise Unavailable() from exc
        body = _json_or_none(raw)
        if 400 <= status < 500:
            raise BatchRefused(status)
        if status >= 300:
            raise _refusal(status, reason, body, call)
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list) or len(results) != len(sends):
            log.error("malformed answer to a batch of sends", extra={"status": status})
            raise Unavailable()
        return [_outcome(result, call) for result in results]

    async def mark_read(self, token: str, conversation_id: str, seq: int | None) -> dict[str, Any]:
        body = {} if seq is None else {"seq": seq}
        result = await self._call(
            "POST", f"/api/conversations/{conversation_id}/read", token, json=body
        )
        return result if isinstance(result, dict) else {}

    async def messages_after(
        self, token: str, conversation_id: str, after_seq: int, limit: int
    ) -> list[dict[str, Any]]:
        result = await self._call(
            "GET",
            f"/api/conversations/{conversation_id}/messages",
            token,
            params={"after_seq": after_seq, "limit": limit},
        )
        return _as_list(result, "messages")

    async def is_member(self, token: str, conversation_id: str) -> bool:
        """Participants (and admins) may read a conversation: the same rule decides who may
        listen to its room."""
        try:
            await self._call("GET", f"/api/conversations/{conversation_id}", token)
        except (Invalid, Forbidden, NotFound):
            return False
        return True

    async def list_conversations(self, token: str) -> list[dict[str, Any]]:
        """Every conversation of the caller, page by page (bounded: a user in more than
        `MAX_CONVERSATION_PAGES` pages gets presence for the most recent ones)."""
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {"limit": CONVERSATION_PAGE}
        for _ in range(MAX_CONVERSATION_PAGES):
            body, cursor = await self._call_paged("/api/conversations", token, params)
            items.extend(_as_list(body, "conversations"))
            if not cursor:
                break
            params = {"limit": CONVERSATION_PAGE, "before": cursor}
        return items

    async def _call_paged(
        self, path: str, token: str, params: dict[str, Any]
    ) -> tuple[Any, str | None]:
        cursors: list[str] = []
        body = await self._call("GET", path, token, params=params, cursor_into=cursors)
        return body, cursors[0] if cursors else None


def _as_list(result: Any, key: str) -> list[dict[str, Any]]:
    # The original API answers bare arrays; accept an envelope too if one is added later.
    if isinstance(result, dict):
        result = result.get(key, [])
    return [item for item in result if isinstance(item, dict)] if isinstance(result, list) else []


def _json_or_none(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


def _refusal(status: int, reason: str | None, body: Any, call: str) -> DomainError:
    """The conversations service's refusal as the error it raised: the same kind and code reach
    the socket's ack."""
    fields = body if isinstance(body, dict) else {}
    code, message = fields.get("code"), fields.get("msg") or reason
    error = from_http(status, str(code) if code else None, str(message) if message else None)
    if isinstance(error, Unavailable) and not isinstance(error, Busy):
        log.warning("conversations service unavailable", extra={"call": call, "status": status})
    return error


def _outcome(result: Any, call: str) -> dict[str, Any] | DomainError:
    """One send's answer in a batch: its message, or the refusal its single call would get."""
    if isinstance(result, dict):
        message = result.get("message")
        if isinstance(message, dict):
            return message
        status = result.get("status")
        if isinstance(status, int) and not isinstance(status, bool) and status >= 400:
            return _refusal(status, None, result, call)
    log.error("malformed answer to a send in a batch")
    return Unavailable()
