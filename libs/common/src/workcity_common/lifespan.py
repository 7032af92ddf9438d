"""The start-up and shutdown every service's `main.py` goes through, written once.

Start-up, in order: `prepare` (indexes, migrations: a failure stops the start), `start` (consumers,
relays: they run in the background), `tasks` (loops of the service's own), then `ready` (work that
needs the started parts, such as creating the first admin); then what start-up made is left out of
later garbage collections (`gc.freeze`, below). Shutdown: the tasks are cancelled (again while one
runs on, each at most `close_timeout_s`), then each `close` step runs in the order given, each
bounded by `close_timeout_s`. A close that hangs (a broker connection stuck under load) or fails is
logged and left behind, so the steps after it still run and the process still stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any

from workcity_common.tasks import cancel_and_wait

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[Any]]
Loop = Callable[[], Coroutine[Any, Any, Any]]


def service_lifespan(
    *,
    prepare: Sequence[Step] = (),
    start: Sequence[Callable[[], Any]] = (),
    tasks: dict[str, Loop] | None = None,
    ready: Sequence[Step] = (),
    close: Sequence[Step] = (),
    close_timeout_s: float,
) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """A lifespan for `create_service_app(lifespan=...)` (any ASGI app's)."""

    @contextlib.asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:
        for step in prepare:
            await step()
        for begin in start:
            begin()
        running: list[asyncio.Task[Any]] = [
            asyncio.create_task(run(), name=name) for name, run in (tasks or {}).items()
        ]
        try:
            for step in ready:
                await step()
            freeze_startup_heap()
            yield
        finally:
            gc.unfreeze()  # several apps may start and stop in one process (the tests)
            # Cancelled again while they run on, bounded: a cancel can be lost (tasks.py).
            for task in running:
                await cancel_and_wait(task, close_timeout_s)
            for index, step in enumerate(close):
                await close_bounded(step, close_timeout_s, index=index)

    return lifespan


def freeze_startup_heap() -> None:
    """Leave every object start-up made (modules, classes, the framework's routes and models:
    most of a service's 100,000+ objects) out of later garbage collections. A full collection
    scanned them all each time and stopped the process for 100-500 ms (bench/RESULTS.md, issue
    12), a latency spike for every message in flight; they live as long as the process anyway."""
    gc.collect()
    gc.freeze()


async def close_bounded(step: Step, timeout_s: float, *, index: int = 0) -> bool:
    """Run one shutdown step for at most `timeout_s`; True if it finished cleanly. Not
    `asyncio.wait_for`: that waits for a step that ignores its cancellation, which is the hang
    this is for."""
    name = f"{index}: {getattr(step, '__qualname__', repr(step))}"
    task = asyncio.ensure_future(step())
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if not done:
        task.cancel()
        log.warning("shutdown step timed out; left behind", extra={"step": name})
        return False
    if task.cancelled():
        return False
    error = task.exception()
    if error is not None:
        log.warning("shutdown step failed", extra={"step": name, "error": repr(error)})
        return False
    return True
