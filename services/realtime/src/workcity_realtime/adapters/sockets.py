"""The Socket.IO server as the hub sees it: emit to rooms, join and leave, disconnect.

Emits go through the server's client manager (python-socketio's `AsyncAioPikaManager`), which
delivers them on this replica and publishes them to the other replicas; `local_only` skips the
publish for what every replica works out for its own sockets (presence).
"""

from __future__ import annotations

from typing import Any, Protocol

import socketio


class Emitter(Protocol):
    async def emit(
        self,
        event: str,
        data: Any,
        *,
        to: str | list[str],
        skip_sid: str | None = None,
        local_only: bool = False,
    ) -> None: ...

    async def enter_room(self, sid: str, room: str) -> None: ...

    async def leave_room(self, sid: str, room: str) -> None: ...

    def rooms(self, sid: str) -> list[str]: ...

    async def close_room(self, room: str) -> None: ...

    async def disconnect(self, sid: str) -> None: ...


class SocketIOEmitter:
    def __init__(self, server: socketio.AsyncServer) -> None:
        self._server = server

    async def emit(
        self,
        event: str,
        data: Any,
        *,
        to: str | list[str],
        skip_sid: str | None = None,
        local_only: bool = False,
    ) -> None:
        await self._server.emit(event, data, to=to, skip_sid=skip_sid, ignore_queue=local_only)

    async def enter_room(self, sid: str, room: str) -> None:
        await self._server.enter_room(sid, room)

    async def leave_room(self, sid: str, room: str) -> None:
        await self._server.leave_room(sid, room)

    def rooms(self, sid: str) -> list[str]:
        return list(self._server.rooms(sid))

    async def close_room(self, room: str) -> None:
        await self._server.close_room(room)

    async def disconnect(self, sid: str) -> None:
        # Only sockets of this replica are disconnected here; other replicas are told through
        # the cluster bus and disconnect their own.
        await self._server.disconnect(sid, ignore_queue=True)


def user_room(user_id: str) -> str:
    return f"user:{user_id}"


def conversation_room(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"
