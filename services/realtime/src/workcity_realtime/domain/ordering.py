"""Keeps one socket's commands in the order it sent them without serialising anyone else.

python-socketio runs every incoming event as its own task, so two `sendMessage`s of one client
could reach the conversations service in either order. Handlers for the same key (the socket id)
chain: each waits for the previous one to finish, whatever its outcome. Tasks start in arrival
order and take their place in the chain before their first `await`, so the chain order is the
order the client sent them. Different keys never wait for each other.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator


class QueueFull(Exception):
    """The key already has as many commands waiting as allowed."""


class Overloaded(Exception):
    """All keys together already have as many commands waiting as allowed."""


class KeyedSequencer:
    def __init__(self, max_pending: int, max_total: int | None = None) -> None:
        self._max_pending = max_pending
        # Commands waiting or running over all keys: beyond, new ones are refused at once
        # (a replica past saturation would otherwise queue everyone's for longer and longer).
        self._max_total = max_total
        self._total = 0
        self._tails: dict[str, asyncio.Future[None]] = {}
        self._pending: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def turn(self, key: str) -> AsyncIterator[None]:
        # Everything up to the first await runs synchronously: the chain order is fixed here.
        if self._pending.get(key, 0) >= self._max_pending:
            raise QueueFull(key)
        if self._max_total is not None and self._total >= self._max_total:
            raise Overloaded(key)
        previous = self._tails.get(key)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[key] = done
        self._pending[key] = self._pending.get(key, 0) + 1
        self._total += 1
        try:
            if previous is not None and not previous.done():
                # Shielded: if this task is cancelled, `previous` must still complete normally.
                await asyncio.shield(previous)
            yield
        finally:
            done.set_result(None)
            self._total -= 1
            self._pending[key] -= 1
            if self._tails.get(key) is done:
                del self._tails[key]
            if not self._pending[key]:
                del self._pending[key]

    def pending(self, key: str) -> int:
        return self._pending.get(key, 0)
