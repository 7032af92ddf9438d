"""Socket.IO handlers: authenticate the handshake, turn each client event into one hub call, and
answer its ack. Handlers take `*args` because clients send whatever they like (no payload, extra
arguments); anything wrong becomes an `{error, code}` ack and the socket stays connected.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import socketio
from aio_pika.exceptions import AMQPError
from workcity_common import cors
from workcity_common.broker import BrokerUnavailable
from workcity_common.domain_errors import (
    DomainError,
    Forbidden,
    Invalid,
    Unauthenticated,
    Unavailable,
)
from workcity_common.error_table import socket_ack
from workcity_common.tokens import InvalidToken, TokenVerifier

from workcity_realtime.domain import payloads
from workcity_realtime.service_layer.hub import Hub

log = logging.getLogger(__name__)

Handler = Callable[..., Awaitable[dict[str, Any]]]

CLIENT_EVENTS = frozenset(
    {
        "joinConversation",
        "leaveConversation",
        "sendMessage",
        "markRead",
        "sync",
        "typing",
        "stopTyping",
        "authenticate",
    }
)


def answered(event: str) -> Callable[[Handler], Callable[..., Awaitable[dict[str, Any]]]]:
    """Every outcome of a handler is an ack value; nothing escapes to python-socketio (which
    would log a traceback and leave the client's ack unanswered)."""

    def wrap(handler: Handler) -> Callable[..., Awaitable[dict[str, Any]]]:
        @functools.wraps(handler)
        async def run(sid: str, *args: Any) -> dict[str, Any]:
            try:
                return await handler(sid, *args)
            except DomainError as exc:
                return socket_ack(exc)
            except (ConnectionError, AMQPError, BrokerUnavailable) as exc:
                # RabbitMQ down: emits to other replicas (typing) cannot go out right now.
                log.warning("broker unavailable", extra={"event": event, "error": repr(exc)})
                return socket_ack(Unavailable())
            except Exception:
                log.exception("socket handler failed", extra={"event": event, "sid": sid})
                return {"error": "Internal error", "code": "internal_error"}

        return run

    return wrap


def _first(args: tuple[Any, ...]) -> Any:
    return args[0] if args else None


def origin_check(
    origins: frozenset[str] | None,
) -> str | Callable[[str | None, dict[str, Any]], bool]:
    """python-socketio's `cors_allowed_origins`: "*" for any origin, else a check that also lets
    in the page's own origin (as the gateway or ingress saw it, X-Forwarded-*, else Host)."""
    if origins is None:
        return "*"

    def allowed(origin: str | None, environ: dict[str, Any]) -> bool:
        host = environ.get("HTTP_X_FORWARDED_HOST") or environ.get("HTTP_HOST")
        scheme = environ.get("HTTP_X_FORWARDED_PROTO") or environ.get("wsgi.url_scheme", "http")
        own = f"{scheme.split(',')[0].strip()}://{host.split(',')[0].strip()}" if host else None
        return cors.allows(origins, origin, own_origin=own)

    return allowed


def register(server: socketio.AsyncServer, hub: Hub, verifier: TokenVerifier) -> None:
    async def authenticate_token(raw: Any, environ: dict[str, Any]) -> Any:
        token = payloads.token_of(raw)
        if token is None:
            # Non-browser clients may send the usual header instead of `auth`.
            token = payloads.token_of(environ.get("HTTP_AUTHORIZATION"))
        try:
            return token, await verifier.verify(token)
        except InvalidToken as exc:
            raise socketio.exceptions.ConnectionRefusedError(
                f"Authentication error: {exc}"
            ) from None

    @server.event
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token, claims = await authenticate_token(auth, environ)
        try:
            await hub.connect(sid, claims, token)
        except DomainError as exc:
            log.info("connection refused", extra={"user_id": claims.user_id, "code": exc.code})
            raise socketio.exceptions.ConnectionRefusedError(exc.msg, {"code": exc.code}) from None

    @server.event
    async def disconnect(sid: str, reason: Any = None) -> None:
        try:
            await hub.disconnect(sid)
        except Exception:
            log.exception("disconnect handling failed", extra={"sid": sid})

    @server.on("joinConversation")
    @answered("joinConversation")
    async def join_conversation(sid: str, *args: Any) -> dict[str, Any]:
        return await hub.join(sid, _first(args))

    @server.on("leaveConversation")
    @answered("leaveConversation")
    async def leave_conversation(sid: str, *args: Any) -> dict[str, Any]:
        return await hub.leave(sid, _first(args))

    @server.on("sendMessage")
    @answered("sendMessage")
    async def send_message(sid: str, *args: Any) -> dict[str, Any]:
        return await hub.send_message(sid, _first(args))

    @server.on("markRead")
    @answered("markRead")
    async def mark_read(sid: str, *args: Any) -> dict[str, Any]:
        return await hub.mark_read(sid, _first(args))

    @server.on("sync")
    @answered("sync")
    async def sync(sid: str, *args: Any) -> dict[str, Any]:
        return await hub.sync(sid, _first(args))

    @server.on("typing")
    @answered("typing")
    async def typing(sid: str, *args: Any) -> dict[str, Any]:
        return await hub.typing(sid, _first(args), started=True)

    @server.on("stopTyping")
    @answered("stopTyping")
    async def stop_typing(sid: str, *args: Any) -> dict[str, Any]:
        return await hub.typing(sid, _first(args), started=False)

    @server.on("authenticate")
    @answered("authenticate")
    async def authenticate(sid: str, *args: Any) -> dict[str, Any]:
        token = payloads.token_of(_first(args))
        try:
            claims = await verifier.verify(token)
        except InvalidToken as exc:
            return socket_ack(Unauthenticated(f"Authentication error: {exc}"))
        if hub.is_disabled(claims.user_id):
            return socket_ack(
                Forbidden("Authentication error: account disabled", "account_disabled")
            )
        if hub.session_ended(claims.session_id):
            return socket_ack(Unauthenticated("Authentication error: logged out", "logged_out"))
        assert token is not None  # verify() refuses a missing token
        return await hub.refresh_token(sid, claims, token)

    @server.on("*")
    async def unknown(event: str, sid: str, *args: Any) -> dict[str, Any]:
        return socket_ack(Invalid(f"Unknown event {str(event)[:100]!r}", "unknown_event"))
