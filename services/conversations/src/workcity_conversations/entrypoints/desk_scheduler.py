"""The desk's timers. Snoozed conversations reopen when due. And the safety net: every `interval_s` the queues of every auto-assigning team are handed
out again, so a conversation whose trigger was missed (the process restarted between a change
that freed capacity and its drain, a presence event lost) is still assigned."""

from __future__ import annotations

import asyncio
import logging

from workcity_conversations.service_layer.desk_assignment import Assigner

log = logging.getLogger(__name__)


class DeskScheduler:
    def __init__(self, desk: Assigner, interval_s: float, snooze_poll_s: float = 1.0) -> None:
        self._desk = desk
        self._interval_s = interval_s
        self._snooze_poll_s = snooze_poll_s
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name="desk-sweep"),
            asyncio.create_task(self._snoozes(), name="desk-snoozes"),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._desk.close()

    async def _snoozes(self) -> None:
        """Snoozed conversations reopen at their time (checked every `snooze_poll_s`)."""
        while True:
            try:
                await self._desk.reopen_due_snoozes()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reopening snoozed conversations failed; trying again")
            await asyncio.sleep(self._snooze_poll_s)

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
