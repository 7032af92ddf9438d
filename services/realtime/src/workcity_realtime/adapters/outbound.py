"""The replica's own messages to RabbitMQ, published by one task from a bounded buffer.

What a replica publishes itself is best effort: typing and presence on the cluster bus (a lost
presence message is repaired by the next heartbeat, typing is not a stored fact) and
`presence.changed`. Awaited in the socket handlers, a publish that RabbitMQ does not confirm (a
memory or disk alarm blocks publishers, the network stalls without breaking the connection) held
every `typing` ack and every connect, and each waiting publish kept its task and frame: without
bound. Here callers only `offer`; one task publishes in order; while the broker stalls the buffer
fills to `max_items` and what comes beyond is dropped and counted (a warning once per stall).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from workcity_common.events import Event

log = logging.getLogger(__name__)

Send = Callable[[], Awaitable[None]]

# One publish that takes longer than this is given up (the next one is tried), so a single lost
# confirm does not hold the buffer; while the broker stalls every one times out alike.
PUBLISH_TIMEOUT_S = 10.0


class OutgoingBuffer:
    def __init__(self, max_items: int, *, publish_timeout_s: float = PUBLISH_TIMEOUT_S) -> None:
        self._max = max_items
        self._timeout = publish_timeout_s
        self._items: deque[tuple[str, Send]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()  # nothing waiting, nothing being sent
        self._idle.set()
        self.dropped = 0
        self._full_warned = False

    def __len__(self) -> int:
        return len(self._items)

    def offer(self, kind: str, send: Send) -> bool:
        """Queue one publish; False (dropped) when the buffer is full."""
        if len(self._items) >= self._max:
            self.dropped += 1
            if not self._full_warned:
                self._full_warned = True
                log.warning(
                    "outgoing buffer full, dropping the replica's messages to rabbitmq",
                    extra={"max": self._max, "kind": kind},
                )
            return False
        self._items.append((kind, send))
        self._idle.clear()
        self._wake.set()
        return True

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="outgoing-buffer")

    async def _run(self) -> None:
        while True:
            if not self._items:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            kind, send = self._items.popleft()
            try:
                async with asyncio.timeout(self._timeout):
                    await send()
            except Exception as exc:  # TimeoutError included: best effort, logged
                log.warning(
                    "replica message not published", extra={"kind": kind, "error": repr(exc)}
                )
            if self._full_warned and len(self._items) < self._max // 2:
                self._full_warned = False
                log.info("outgoing buffer draining again", extra={"dropped": self.dropped})

    async def flush(self, timeout_s: float) -> None:
        """Wait (at most `timeout_s`) until everything offered so far has been tried."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


class BufferedCluster:
    """The cluster bus as the presence keeper sees it: `publish` queues and returns at once."""

    def __init__(self, bus: Any, buffer: OutgoingBuffer) -> None:
        self._bus = bus
        self._buffer = buffer
        self.replica_id: str = bus.replica_id

    async def publish(self, message: Any) -> None:
        bus = self._bus

        async def send() -> None:
            await bus.publish(message)

        self._buffer.offer(message.kind, send)


def buffered_events(
    publish: Callable[[Event], Awaitable[None]], buffer: OutgoingBuffer
) -> Callable[[Event], Awaitable[None]]:
    """`presence.changed` (and any other event the replica publishes itself) through the buffer."""

    async def offer(event: Event) -> None:
        async def send() -> None:
            await publish(event)

        buffer.offer(event.type, send)

    return offer
