"""The desk's safety net: every `interval_s` the queues of every auto-assigning team are handed
out again, so a conversation whose trigger was missed (the process restarted between a change
that freed capacity and its drain, a presence event lost) is still assigned."""

from __future__ import annotations

import asyncio
import logging

from workcity_conversations.desk_service import DeskService

log = logging.getLogger(__name__)


class DeskScheduler:
    def __init__(self, desk: DeskService, interval_s: float) -> None:
        self._desk = desk
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="desk-sweep")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._desk.close()

    async def _run(self) -> None:
        while True:
            try:
                assigned = await self._desk.drain_all()
                if assigned:
                    log.info("desk sweep assigned conversations", extra={"assigned": assigned})
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("desk sweep failed; trying again at the next interval")
            await asyncio.sleep(self._interval_s)
