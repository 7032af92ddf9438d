"""Stopping background tasks at shutdown (workcity_common.tasks): a cancel that Python 3.11's
asyncio.wait_for loses does not keep a shutdown waiting forever."""

from __future__ import annotations

import asyncio
import sys

import pytest
from workcity_common.tasks import cancel_and_wait


class LosesCancels:
    """A loop like the notifications scheduler's, awaiting through asyncio.wait_for (as
    aiosmtplib's reads do). `answer()` completes what it waits for; a cancel in the same loop
    step is then lost on Python 3.11 (bpo-42130)."""

    def __init__(self) -> None:
        self.waiting = asyncio.Event()
        self.rounds = 0
        self._reply: asyncio.Future[None] | None = None

    async def run(self) -> None:
        while True:
            self._reply = asyncio.get_running_loop().create_future()
            self.waiting.set()
            await asyncio.wait_for(self._reply, timeout=30)
            self.waiting.clear()
            self.rounds += 1
            await asyncio.sleep(0.01)

    def answer(self) -> None:
        assert self._reply is not None
        self._reply.set_result(None)


async def started(loop_: LosesCancels) -> asyncio.Task[None]:
    task = asyncio.create_task(loop_.run(), name="loses-cancels")
    await asyncio.wait_for(loop_.waiting.wait(), timeout=5)
    return task


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="asyncio.wait_for loses no cancel there")
async def test_one_cancel_can_be_lost_so_awaiting_the_task_would_hang() -> None:
    loop_ = LosesCancels()
    task = await started(loop_)
    loop_.answer()
    task.cancel()  # the same loop step as the answer
    done, _ = await asyncio.wait([task], timeout=0.5)
    assert not done and loop_.rounds >= 1  # it ran on: the cancel was lost
    task.cancel()
    await asyncio.wait([task], timeout=1)
    assert task.cancelled()


async def test_cancel_and_wait_cancels_again_until_the_task_ends() -> None:
    loop_ = LosesCancels()
    task = await started(loop_)
    loop_.answer()
    async with asyncio.timeout(5):
        assert await cancel_and_wait(task, timeout_s=3)
    assert task.cancelled()


async def test_cancel_and_wait_gives_up_after_its_bound(caplog: pytest.LogCaptureFixture) -> None:
    released = False

    async def stubborn() -> None:
        while not released:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn(), name="stubborn")
    await asyncio.sleep(0)
    started_at = asyncio.get_running_loop().time()
    assert not await cancel_and_wait(task, timeout_s=0.3)
    assert asyncio.get_running_loop().time() - started_at < 1.0
    assert "did not stop" in caplog.text
    released = True
    await task
