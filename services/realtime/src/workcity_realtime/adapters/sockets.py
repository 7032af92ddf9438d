"""The Socket.IO server as the hub sees it: emit to rooms, join and leave, disconnect.

Every emit reaches this replica's own sockets only: each replica consumes the domain events
itself, and what crosses replicas (typing, presence) travels on the cluster bus.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

import orjson
import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet

from workcity_realtime.adapters import engine

log = logging.getLogger(__name__)


class Emitter(Protocol):
    async def emit(
        self,
        event: str,
        data: Any,
        *,
        to: str | list[str],
        skip_sid: str | None = None,
    ) -> None: ...

    async def enter_room(self, sid: str, room: str) -> None: ...

    async def leave_room(self, sid: str, room: str) -> None: ...

    def rooms(self, sid: str) -> list[str]: ...

    def members(self, room: str) -> list[str]: ...

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
    ) -> None:
        await self._server.emit(event, data, to=to, skip_sid=skip_sid)

    async def enter_room(self, sid: str, room: str) -> None:
        await self._server.enter_room(sid, room)

    async def leave_room(self, sid: str, room: str) -> None:
        await self._server.leave_room(sid, room)

    def rooms(self, sid: str) -> list[str]:
        return list(self._server.rooms(sid))

    def members(self, room: str) -> list[str]:
        return [sid for sid, _ in self._server.manager.get_participants("/", room)]

    async def close_room(self, room: str) -> None:
        await self._server.close_room(room)

    async def disconnect(self, sid: str) -> None:
        # Only sockets of this replica: every replica handles `user.disabled` for its own.
        await self._server.disconnect(sid)


def user_room(user_id: str) -> str:
    return f"user:{user_id}"


def conversation_room(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


class OrjsonModule:
    """A `json` module for python-socketio (packets and the manager's messages): orjson encodes
    and decodes several times faster than the standard library, and every emit goes through it."""

    @staticmethod
    def dumps(value: Any, **_: Any) -> str:
        # python-socketio passes the standard library's formatting options; orjson's output is
        # already compact.
        return orjson.dumps(value).decode()

    @staticmethod
    def loads(value: str | bytes, **_: Any) -> Any:
        return orjson.loads(value)


class LocalManager(socketio.AsyncManager):
    """python-socketio's in-process manager, cheaper per emit.

    Every replica gets each domain event from its own queue and emits to its own sockets only,
    so no emit crosses to another replica. The packet is encoded once and queued on each socket
    in turn: the stock `emit` makes a task per recipient and waits for them all, though queueing a
    packet on a socket never waits (the socket's writer sends it), and in a fan-out that
    bookkeeping cost more than the queueing itself. Emits with an ack callback take
    python-socketio's own path.

    A socket with more than `max_queued_bytes` still waiting to be written gets nothing more: it
    is disconnected (`engine.drop_laggard`, in a task of its own) and catches up by `seq` when it
    connects again."""

    def __init__(self, max_queued_bytes: int | None = None) -> None:
        super().__init__()
        self._max_queued_bytes = max_queued_bytes
        self._dropping: set[str] = set()
        self._drops: set[asyncio.Task[None]] = set()

    async def emit(  # type: ignore[override]
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        if callback is not None:
            await super().emit(
                event,
                data,
                namespace,
                room=room,
                skip_sid=skip_sid,
                callback=callback,
                to=to,
                **kwargs,
            )
            return
        namespace = namespace or "/"
        if namespace not in self.rooms:
            return
        args = list(data) if isinstance(data, tuple) else ([] if data is None else [data])
        skipped = set(skip_sid) if isinstance(skip_sid, list) else {skip_sid}
        encoded = self.server.packet_class(
            sio_packet.EVENT, namespace=namespace, data=[event, *args]
        ).encode()
        packets = [
            eio_packet.Packet(eio_packet.MESSAGE, part)
            for part in (encoded if isinstance(encoded, list) else [encoded])
        ]
        limit = self._max_queued_bytes
        for sid, eio_sid in self.get_participants(namespace, to or room):
            if sid in skipped or sid in self._dropping:
                continue
            if limit is not None and engine.queued_bytes(self.server, eio_sid) > limit:
                self._drop(sid, eio_sid)
                continue
            for part in packets:
                await self.server._send_eio_packet(eio_sid, part)

    def _drop(self, sid: str, eio_sid: str) -> None:
        self._dropping.add(sid)

        async def drop() -> None:
            try:
                await engine.drop_laggard(self.server, sid, eio_sid)
            except Exception:
                log.exception("could not disconnect a socket too far behind", extra={"sid": sid})
            finally:
                self._dropping.discard(sid)

        task = asyncio.create_task(drop(), name=f"drop-laggard-{sid}")
        self._drops.add(task)
        task.add_done_callback(self._drops.discard)
