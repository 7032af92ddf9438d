"""The scheduler loop's stop (entrypoints/scheduler.py): the email being sent at shutdown is let
finish, and a cancel the loop loses (Python 3.11's wait_for, under aiosmtplib) does not keep the
shutdown waiting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from workcity_notifications.entrypoints.scheduler import Scheduler
from workcity_notifications.service_layer.notifier import Notifier


class Sending:
    """run_due that is sending an email (0.3 s) when the stop comes; counts rounds."""

    def __init__(self) -> None:
        self.rounds = 0
        self.sent = 0
        self.busy = asyncio.Event()

    async def run_due(self, limit: int = 100, stop: Callable[[], bool] = lambda: False) -> int:
        self.rounds += 1
        if stop() or self.sent:
            return 0
        self.busy.set()
        await asyncio.sleep(0.3)
        self.sent += 1
        return 1


class LosesTheCancel:
    """run_due whose await swallows a cancel once, as asyncio.wait_for does on 3.11 when its
    answer arrives in the same loop step."""

    def __init__(self) -> None:
        self.rounds = 0
        self.busy = asyncio.Event()

    async def run_due(self, limit: int = 100, stop: Callable[[], bool] = lambda: False) -> int:
        self.rounds += 1
        self.busy.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            pass  # lost
        return 0


def scheduler(notifier: object, grace_s: float) -> Scheduler:
    return Scheduler(cast(Notifier, notifier), 0.05, stop_grace_s=grace_s)


async def test_the_email_being_sent_at_shutdown_is_let_finish() -> None:
    notifier = Sending()
    s = scheduler(notifier, grace_s=5)
    s.start()
    await asyncio.wait_for(notifier.busy.wait(), 5)
    started = asyncio.get_running_loop().time()
    await s.close()
    assert notifier.sent == 1  # not cut off mid-send
    assert asyncio.get_running_loop().time() - started < 1.0  # no need to wait out the grace


async def test_a_lost_cancel_does_not_keep_the_shutdown_waiting() -> None:
    notifier = LosesTheCancel()
    s = scheduler(notifier, grace_s=0.2)
    s.start()
    await asyncio.wait_for(notifier.busy.wait(), 5)
    async with asyncio.timeout(3):
        await s.close()
    assert notifier.rounds == 1  # ended after the round whose cancel it lost
