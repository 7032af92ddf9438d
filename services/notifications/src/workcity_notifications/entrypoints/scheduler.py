"""The scheduler loop: every poll interval, send (or drop, or put off) the batches that are due.
Every replica runs one; claims keep them from sending the same email twice."""

from __future__ import annotations

import asyncio
import logging

from workcity_notifications.notifier import Notifier

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, notifier: Notifier, poll_interval_s: float) -> None:
        self._notifier = notifier
        self._interval = poll_interval_s
        self._task: asyncio.Task[None] | None = None
        self.last_run_ok = False

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="notification-scheduler")

    async def _run(self) -> None:
        while True:
            try:
                await self._notifier.run_due()
                self.last_run_ok = True
            except asyncio.CancelledError:
                raise
            except Exception:
                # MongoDB away, say: the batches stay stored; try again next round.
                self.last_run_ok = False
                log.exception("scheduler round failed")
            await asyncio.sleep(self._interval)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
