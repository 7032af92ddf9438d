"""The short fault drills' stack: the stack `scripts/dev up --persist` runs (the database drill
stops the database server and starts it again, so its data must be on disk), on free ports, in a
run directory under .dev/e2e/ (reaped like the end-to-end stacks if a session dies), with the
notifications drill's settings. Started once for the folder; at the end no process of it may
have logged a Python traceback."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

from bench.drills.emails import EMAIL_DRILL_ENV
from bench.drills.stack import drill_stack
from scripts.devstack import DEFAULT_PORTS, DevStack
from tests.support.servers import free_port
from tests.support.stack import E2E_ROOT, TestStack, reap_abandoned_stacks, sigterm_as_interrupt


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.drill)


# Module scope: the stack is gone before the end-to-end tests run (they stop the same RabbitMQ).
@pytest.fixture(scope="module")
def drill_stack_dev() -> Iterator[DevStack]:
    reap_abandoned_stacks()
    run_dir = E2E_ROOT / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-drills"
    dev = drill_stack(
        run_dir,
        {name: free_port() for name in DEFAULT_PORTS},
        persist=True,
        env=EMAIL_DRILL_ENV,
        say=lambda line: print(f"[drill stack] {line}", flush=True),
    )
    with sigterm_as_interrupt():
        dev.up()
        try:
            yield dev
        finally:
            dev.down(quiet=True)
    view = TestStack(dev.gateway_url, "", "", dev.config.log_dir, dev=dev)
    found = view.tracebacks()
    if found:
        listing = "\n".join(found[:20])
        pytest.fail(
            f"{len(found)} traceback(s) in the drill stack's logs:\n{listing}", pytrace=False
        )
