"""Each socket's outgoing packets, metered, and a socket too far behind disconnected.

python-engineio queues every packet for a client on an unbounded `asyncio.Queue` that the
socket's writer drains (the websocket task, or the next long-polling GET). A client that never
reads, yet answers (or blindly sends) pongs, keeps its session alive while every broadcast adds to
that queue. `MeteredQueue` counts what waits there; `LocalManager` (adapters/sockets.py) asks
`too_far_behind` before queueing a broadcast and hands a laggard to `drop_laggard`, which throws
its backlog away and ends both its Socket.IO and Engine.IO sessions. The client reconnects and
catches up by `seq` (`sync`), as after any disconnect.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import engineio
import socketio

log = logging.getLogger(__name__)

# Counted per packet on top of its data, so a flood of tiny packets is bounded too.
PACKET_OVERHEAD_BYTES = 64


def _size(item: Any) -> int:
    data = getattr(item, "data", None)
    return PACKET_OVERHEAD_BYTES + (len(data) if isinstance(data, str | bytes) else 0)


class MeteredQueue(asyncio.Queue[Any]):
    """An Engine.IO socket's queue that knows how many bytes wait in it."""

    queued_bytes: int

    def _init(self, maxsize: int) -> None:
        super()._init(maxsize)  # type: ignore[misc]
        self.queued_bytes = 0

    def _put(self, item: Any) -> None:
        self.queued_bytes += _size(item)
        super()._put(item)  # type: ignore[misc]

    def _get(self) -> Any:
        item = super()._get()  # type: ignore[misc]
        self.queued_bytes -= _size(item)
        return item


class MeteredEngineServer(engineio.AsyncServer):  # type: ignore[misc]
    # SOCKET_SID_PREFIX: every session id starts with "<prefix>." so the gateway can send a
    # long-polling session's later requests (which carry `?sid=`) to this replica without any
    # shared state. "." never occurs in python-engineio's own (base64url) ids.
    sid_prefix = ""

    def create_queue(self, *args: Any, **kwargs: Any) -> MeteredQueue:
        return MeteredQueue(*args, **kwargs)

    def generate_id(self) -> str:
        sid = str(super().generate_id())
        return f"{self.sid_prefix}.{sid}" if self.sid_prefix else sid


class ChatServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server on the metered Engine.IO server, with a connect deadline.

    An Engine.IO session lives as long as it answers pings, whether or not it ever completes the
    Socket.IO connect (authenticates): one that has not within `connect_deadline_s` of opening
    is ended (a refused connect does not end the session by itself, so retries count too)."""

    def __init__(
        self,
        *args: Any,
        connect_deadline_s: float | None = None,
        sid_prefix: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.eio.sid_prefix = sid_prefix
        self._connect_deadline_s = connect_deadline_s
        self._deadlines: dict[str, asyncio.TimerHandle] = {}
        self._expiring: set[asyncio.Task[None]] = set()

    def _engineio_server_class(self) -> type[engineio.AsyncServer]:
        return MeteredEngineServer

    async def _handle_eio_connect(self, eio_sid: str, environ: Any) -> Any:
        result = await super()._handle_eio_connect(eio_sid, environ)
        if self._connect_deadline_s is not None:
            loop = asyncio.get_running_loop()
            self._deadlines[eio_sid] = loop.call_later(
                self._connect_deadline_s, self._deadline_passed, eio_sid
            )
        return result

    async def _handle_eio_disconnect(self, eio_sid: str, reason: Any = None) -> None:
        deadline = self._deadlines.pop(eio_sid, None)
        if deadline is not None:
            deadline.cancel()
        await super()._handle_eio_disconnect(eio_sid, reason)

    def _deadline_passed(self, eio_sid: str) -> None:
        self._deadlines.pop(eio_sid, None)
        if self.manager.sid_from_eio_sid(eio_sid, "/") is not None:
            return  # connected in time
        task = asyncio.create_task(self._expire(eio_sid), name=f"connect-deadline-{eio_sid}")
        self._expiring.add(task)
        task.add_done_callback(self._expiring.discard)

    async def _expire(self, eio_sid: str) -> None:
        log.info("ending an Engine.IO session that never connected", extra={"eio_sid": eio_sid})
        await end_engine_session(self, eio_sid)


def queued_bytes(server: socketio.AsyncServer, eio_sid: str) -> int:
    socket = server.eio.sockets.get(eio_sid)
    return int(getattr(socket.queue, "queued_bytes", 0)) if socket is not None else 0


async def drop_laggard(server: socketio.AsyncServer, sid: str, eio_sid: str) -> None:
    """Disconnect a socket that stays too far behind; what it never read is thrown away."""
    socket = server.eio.sockets.get(eio_sid)
    backlog = queued_bytes(server, eio_sid)
    if socket is not None:
        _discard(socket.queue)
    log.warning(
        "disconnecting a socket too far behind", extra={"sid": sid, "queued_bytes": backlog}
    )
    # The Socket.IO session first (our disconnect handler forgets the socket), then the Engine.IO
    # one: a client that never reads would not close it on the DISCONNECT packet itself.
    await server.disconnect(sid)
    await end_engine_session(server, eio_sid)


async def end_engine_session(server: socketio.AsyncServer, eio_sid: str) -> None:
    """Close an Engine.IO session without waiting for its client to read anything. Not
    `eio.disconnect()`: that waits for the queue to be drained by a reader that may never read."""
    socket = server.eio.sockets.get(eio_sid)
    if socket is not None and not socket.closed:
        await socket.close(wait=False, abort=False)
    # As `eio.disconnect()` does: its next request is an unknown session (400), not a closed one
    # (python-engineio answers a POST to a closed session with a 500).
    server.eio.sockets.pop(eio_sid, None)


def _discard(queue: asyncio.Queue[Any]) -> None:
    while True:
        try:
            item = queue.get_nowait()
        except asyncio.QueueEmpty:
            return
        queue.task_done()
        if item is None:  # the writer's stop signal stays
            queue.put_nowait(None)
            return
