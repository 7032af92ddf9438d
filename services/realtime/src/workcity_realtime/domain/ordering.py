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

from workcity_common.domain_errors import Busy, Throttled


class QueueFull(Throttled):
    """The key already has as many commands waiting as allowed."""

    default_code = "too_many_pending"
    default_msg = "Too many messages waiting, slow down"

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key


class Overloaded(Busy):
    """All keys together already have as many commands waiting as allowed."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key


class KeyedSequencer:
    def __init__(
        self, max_pending: int, max_total: int | None = None, max_per_group: int | None = None
    ) -> None:
        self._max_pending = max_pending
        # Commands waiting or running over all keys: beyond, new ones are refused at once
        # (a replica past saturation would otherwise queue everyone's for longer and longer).
        self._max_total = max_total
        # ... and over the keys of one group (a user's sockets): one user's burst is refused as
        # their own `QueueFull` long before it could fill `max_total` for everyone.
        self._max_per_group = max_per_group
        self._total = 0
        self._tails: dict[str, asyncio.Future[None]] = {}
        self._pending: dict[str, int] = {}
        self._group_pending: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def turn(self, key: str, group: str | None = None) -> AsyncIterator[None]:
        # Everything up to the first await runs synchronously: the chain order is fixed here.
        if self._pending.get(key, 0) >= self._max_pending:
            raise QueueFull(key)
        if (
            group is not None
            and self._max_per_group is not None
            and self._group_pending.get(group, 0) >= self._max_per_group
        ):
            raise QueueFull(group)
        if self._max_total is not None and self._total >= self._max_total:
            raise Overloaded(key)
        previous = self._tails.get(key)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[key] = done
        self._pending[key] = self._pending.get(key, 0) + 1
        if group is not None:
            self._group_pending[group] = self._group_pending.get(group, 0) + 1
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
            if group is not None:
                left = self._group_pending.pop(group, 1) - 1
                if left:
                    self._group_pending[group] = left

    def pending(self, key: str) -> int:
        return self._pending.get(key, 0)


class FairShare:
    """Calls to the conversations service that are not chained (`sync`, a `typing`'s membership
    check, a join once its turn came), at most `per_key` at once per socket and `per_group` per
    user; beyond, refused at once (`QueueFull`) rather than queued. The replica's one connection
    pool to the conversations service so keeps room for everyone else: one user's burst waits for
    nobody's share but its own."""

    def __init__(self, per_key: int, per_group: int) -> None:
        self._per_key = per_key
        self._per_group = per_group
        self._keys: dict[str, int] = {}
        self._groups: dict[str, int] = {}

    @contextlib.asynccontextmanager
    async def slot(self, key: str, group: str) -> AsyncIterator[None]:
        if self._keys.get(key, 0) >= self._per_key:
            raise QueueFull(key)
        if self._groups.get(group, 0) >= self._per_group:
            raise QueueFull(group)
        self._keys[key] = self._keys.get(key, 0) + 1
        self._groups[group] = self._groups.get(group, 0) + 1
        try:
            yield
        finally:
            for counts, name in ((self._keys, key), (self._groups, group)):
                left = counts.pop(name, 1) - 1
                if left:
                    counts[name] = left

    def in_use(self, key: str) -> int:
        return self._keys.get(key, 0)
