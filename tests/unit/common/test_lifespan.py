"""The one start-up and shutdown of every service (workcity_common.lifespan): steps in order,
background tasks cancelled first, and a close that hangs or fails cannot stall the others."""

from __future__ import annotations

import asyncio
import gc
import time

import pytest
from workcity_common.lifespan import close_bounded, service_lifespan


async def test_steps_run_in_order_and_tasks_are_cancelled_before_the_closes() -> None:
    seen: list[str] = []

    def step(name: str):  # type: ignore[no-untyped-def]
        async def run() -> None:
            seen.append(name)

        return run

    async def loop() -> None:
        seen.append("task started")
        try:
            await asyncio.Event().wait()
        finally:
            seen.append("task cancelled")

    lifespan = service_lifespan(
        prepare=[step("indexes")],
        start=[lambda: seen.append("consumer")],
        tasks={"loop": loop},
        ready=[step("admin")],
        close=[step("close consumer"), step("close broker")],
        close_timeout_s=1.0,
    )
    async with lifespan(None):
        await asyncio.sleep(0)
        seen.append("serving")
    assert seen == [
        "indexes",
        "consumer",
        "admin",
        "task started",
        "serving",
        "task cancelled",
        "close consumer",
        "close broker",
    ]


async def test_a_hung_or_failing_close_does_not_stall_the_shutdown(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed: list[str] = []

    async def hangs_even_when_cancelled() -> None:
        # A close stuck under load whose own clean-up hangs too: `asyncio.wait_for` would wait
        # for that clean-up; the shutdown must not.
        try:
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(3600)

    async def fails() -> None:
        raise ConnectionResetError("broker gone")

    async def last() -> None:
        closed.append("client")

    lifespan = service_lifespan(close=[hangs_even_when_cancelled, fails, last], close_timeout_s=0.2)
    started = time.monotonic()
    async with lifespan(None):
        pass
    assert time.monotonic() - started < 2.0
    assert closed == ["client"]
    messages = [(r.getMessage(), getattr(r, "step", "")) for r in caplog.records]
    assert any(m == "shutdown step timed out; left behind" and "hangs" in s for m, s in messages)
    assert any(m == "shutdown step failed" and "fails" in s for m, s in messages)


async def test_a_failed_prepare_stops_the_start_before_anything_runs() -> None:
    started: list[str] = []

    async def broken_indexes() -> None:
        raise RuntimeError("database down")

    lifespan = service_lifespan(
        prepare=[broken_indexes], start=[lambda: started.append("consumer")], close_timeout_s=1
    )
    with pytest.raises(RuntimeError, match="database down"):
        async with lifespan(None):
            pass
    assert started == []


async def test_close_bounded_reports_a_clean_close() -> None:
    async def fine() -> None:
        await asyncio.sleep(0)

    assert await close_bounded(fine, 1.0) is True


async def test_a_task_that_loses_its_cancel_does_not_stall_the_shutdown() -> None:
    # Python 3.11's asyncio.wait_for drops a cancel that comes with its answer (tasks.py); a loop
    # awaiting through it then runs on after one cancel.
    rounds = 0

    async def loses_one_cancel() -> None:
        nonlocal rounds
        lost = False
        while True:
            rounds += 1
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                if lost:
                    raise
                lost = True

    closed: list[str] = []

    async def close() -> None:
        closed.append("close")

    lifespan = service_lifespan(tasks={"loop": loses_one_cancel}, close=[close], close_timeout_s=2)
    async with asyncio.timeout(5):
        async with lifespan(None):
            await asyncio.sleep(0.1)
    assert closed == ["close"] and rounds >= 2


async def test_what_start_up_made_is_left_out_of_garbage_collections_while_serving() -> None:
    made_at_start: list[object] = []

    async def prepare() -> None:
        made_at_start.append({"a": [1, 2]})

    lifespan = service_lifespan(prepare=[prepare], close_timeout_s=1.0)
    assert gc.get_freeze_count() == 0
    async with lifespan(None):
        # Frozen: no collection scans them any more (gc.get_objects lists what collections see).
        assert gc.get_freeze_count() > 0
        assert not any(seen is made_at_start[0] for seen in gc.get_objects())
    # Given back at shutdown (several apps may start and stop in one process).
    assert gc.get_freeze_count() == 0
    assert any(seen is made_at_start[0] for seen in gc.get_objects())
