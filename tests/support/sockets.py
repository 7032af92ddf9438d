"""Socket.IO clients for end-to-end tests: `Peer` records every event it receives; the e2e
fixtures (`peers`, `connect`, `chat` in tests/e2e/conftest.py) make and close them.

A peer connects through the gateway, or pinned to replica 1 or 2 on the replica's own port
(`replica_url`) where a test needs clients on different replicas.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import socketio

from tests.support.stack import TestStack

# Quiet periods: how long a test waits to be sure something did NOT arrive, after an event sent
# later to someone else already has.
QUIET_S = 0.7


@dataclass
class Received:
    event: str
    data: Any


class Peer:
    """One Socket.IO client that records every event it receives."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.sio = socketio.AsyncClient(reconnection=False)
        self.received: list[Received] = []
        self.connect_errors: list[Any] = []
        self._changed = asyncio.Condition()
        self.sio.on("*", self._on_any)
        self.sio.on("connect_error", self._on_connect_error)
        self.sio.on("disconnect", self._on_disconnect)
        self.gone = asyncio.Event()

    async def _on_any(self, event: str, *args: Any) -> None:
        async with self._changed:
            self.received.append(Received(event, args[0] if len(args) == 1 else list(args)))
            self._changed.notify_all()

    async def _on_connect_error(self, data: Any) -> None:
        self.connect_errors.append(data)

    async def _on_disconnect(self, *reason: Any) -> None:
        self.gone.set()

    async def wait_disconnected(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self.gone.wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"{self.name} still connected after {timeout}s") from None

    async def connect(
        self, url: str, token: str | None, transports: tuple[str, ...] = ("websocket",)
    ) -> None:
        await self.sio.connect(
            url,
            auth={"token": token} if token is not None else None,
            transports=list(transports),
            wait_timeout=10,
        )

    async def call(self, event: str, *args: Any, timeout: float = 10) -> Any:
        """Emit with an ack and return the ack; several arguments go as several arguments."""
        if not args:
            return await self.sio.call(event, timeout=timeout)
        return await self.sio.call(event, args[0] if len(args) == 1 else args, timeout=timeout)

    async def join(self, conversation_id: str) -> None:
        """Join a conversation's room; the ack must say so."""
        joined = await self.call("joinConversation", {"conversationId": conversation_id})
        assert joined == {"ok": True, "conversationId": conversation_id}, (self.name, joined)

    async def send(self, conversation_id: str, text: str, **extra: Any) -> Any:
        """`sendMessage` with an ack: the stored message (or `{error, code}`)."""
        return await self.call(
            "sendMessage", {"conversationId": conversation_id, "text": text, **extra}
        )

    def events(self, event: str, where: Callable[[Any], bool] = lambda _: True) -> list[Any]:
        return [r.data for r in self.received if r.event == event and where(r.data)]

    async def wait_for(
        self,
        event: str,
        where: Callable[[Any], bool] = lambda _: True,
        *,
        count: int = 1,
        timeout: float = 10,
    ) -> list[Any]:
        async def enough() -> list[Any]:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.events(event, where)) >= count)
            return self.events(event, where)

        try:
            return await asyncio.wait_for(enough(), timeout)
        except TimeoutError:
            seen = [(r.event, str(r.data)[:200]) for r in self.received[-10:]]
            raise AssertionError(
                f"{self.name}: no {count}x {event!r} within {timeout}s; last events: {seen}"
            ) from None

    async def disconnect(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()


def replica_url(stack: TestStack, n: int) -> str:
    """A replica's own port: pins a client to replica `n` (the gateway pins by address, and all
    test clients share 127.0.0.1)."""
    return f"http://127.0.0.1:{stack.port(f'realtime-{n}')}"


def client_message_id() -> str:
    return f"e2e-{uuid.uuid4().hex}"
