"""A socket lives no longer than its access token: at the token's `exp` the socket is told
(`sessionExpired {code: "token_expired"}`) and disconnected, unless it sent `authenticate` with a
fresh token before (which moves its end). Without this a socket opened with a 15-minute token
kept every room for as long as it stayed connected, after a logout or a lost refresh alike."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class TokenExpiry:
    def __init__(
        self,
        on_expired: Callable[[str], Awaitable[None]],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._on_expired = on_expired
        self._clock = clock
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._running: set[asyncio.Task[None]] = set()

    def arm(self, sid: str, expires_at: float) -> None:
        """(Re)schedule the socket's end at `expires_at` (epoch seconds)."""
        self.cancel(sid)
        delay = max(0.0, expires_at - self._clock())
        self._timers[sid] = asyncio.get_running_loop().call_later(delay, self._fire, sid)

    def cancel(self, sid: str) -> None:
        timer = self._timers.pop(sid, None)
        if timer is not None:
            timer.cancel()

    def _fire(self, sid: str) -> None:
        self._timers.pop(sid, None)
        task = asyncio.create_task(self._expire(sid), name=f"token-expired-{sid}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _expire(self, sid: str) -> None:
        try:
            await self._on_expired(sid)
        except Exception:
            log.exception("could not end a socket whose token expired", extra={"sid": sid})

    async def close(self) -> None:
        for sid in list(self._timers):
            self.cancel(sid)
        for task in list(self._running):
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
