"""The scheduler loop: every poll interval, send (or drop, or put off) the batches that are due.
Every replica runs one; claims keep them from sending the same email twice."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from workcity_common.tasks import cancel_and_wait

from workcity_notifications.service_layer.notifier import Notifier

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, notifier: Notifier, poll_interval_s: float, *, stop_grace_s: float) -> None:
        self._notifier = notifier
        self._interval = poll_interval_s
        self._grace = stop_grace_s
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self.last_run_ok = False

    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="notification-scheduler")

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._notifier.run_due(stop=self._stopping.is_set)
                self.last_run_ok = True
            except asyncio.CancelledError:
                raise
            except Exception:
                # MongoDB away, say: the batches stay stored; try again next round.
                self.last_run_ok = False
                log.exception("scheduler round failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._stopping.wait()

    async def close(self) -> None:
        """Claim no more; the email being sent gets `stop_grace_s` to be sent and recorded (one
        cut off is sent again, as the same message, by the next claim). Then cancelled, which
        takes at most as long again."""
        if self._task is None:
            return
        self._stopping.set()
        await asyncio.wait([self._task], timeout=self._grace)
        if not self._task.done():
            log.warning("an email was still being handled at shutdown; cancelled")
        # Cancelled again while it runs on: a cancel can be lost (workcity_common.tasks).
        await cancel_and_wait(self._task, timeout_s=self._grace)
        self._task = None
