"""Stopping background tasks at shutdown, within a bound.

One `task.cancel()` followed by `await task` can wait forever: on Python 3.11,
`asyncio.wait_for` returns the awaited result instead of raising when its task is cancelled in
the same loop step as that result arrives (bpo-42130; fixed in 3.12), and aiosmtplib, aiormq and
PyMongo await through it. A loop whose cancel was lost that way runs on, and a lifespan waiting
for it never ends (the notifications service hung so in its shutdown, right after an email went
out). So: cancel again while it runs on, and give up, logged, after a bound (the lifespan's
own bound on each close is `workcity_common.lifespan`).
"""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

# How often a task still running after a cancel is cancelled again.
RECANCEL_INTERVAL_S = 0.1


async def cancel_and_wait(task: asyncio.Task[object], timeout_s: float) -> bool:
    """Cancel `task` (again every RECANCEL_INTERVAL_S while it runs on) and wait for it to end,
    at most `timeout_s`. False, logged, if it is still running then."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not task.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.error("a task did not stop when cancelled", extra={"task": task.get_name()})
            return False
        task.cancel()
        # asyncio.wait, unlike wait_for, never cancels what it waits for on a timeout.
        await asyncio.wait([task], timeout=min(RECANCEL_INTERVAL_S, remaining))
    if not task.cancelled() and task.exception() is not None:
        log.error(
            "a task failed before it was stopped",
            extra={"task": task.get_name()},
            exc_info=task.exception(),
        )
    return True
