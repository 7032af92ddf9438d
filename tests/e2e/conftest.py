"""End-to-end fixtures: the whole stack behind nginx, started once per session.

`stack` is the stack `scripts/dev` runs, on free ports with its own run directory, RabbitMQ
virtual host and raised login limits (or, with WORKCITY_GATEWAY_URL set, a stack already running).
`http` is an httpx client on the gateway. Every test here is marked `e2e`; at the end of the
session no process of the stack may have logged a Python traceback.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser

from scripts.devstack.web import build_web
from tests.support.browser import launched_chromium
from tests.support.stack import TestStack, sigterm_as_interrupt
from tests.support.web_app import SCREENSHOTS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    e2e_dir = os.path.dirname(__file__)
    for item in items:
        if str(item.path).startswith(e2e_dir):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def stack() -> Iterator[TestStack]:
    external = os.environ.get("WORKCITY_GATEWAY_URL")
    if external:
        yield TestStack.external(external)
        return
    with sigterm_as_interrupt():
        local = TestStack.start_local()
        try:
            yield local
        finally:
            local.stop()
    # Checked after the stop, so a traceback written while shutting down counts too.
    fail_on_tracebacks(local)


@pytest.fixture(scope="session", autouse=True)
def no_tracebacks_in_logs(stack: TestStack) -> Iterator[None]:
    yield
    if stack.dev is None:  # an external stack: its logs are checked here, if we have them
        fail_on_tracebacks(stack)


def fail_on_tracebacks(stack: TestStack) -> None:
    found = stack.tracebacks()
    if found:
        listing = "\n".join(found[:20])
        pytest.fail(
            f"{len(found)} Python traceback(s) in the stack's logs ({stack.log_dir}):\n{listing}",
            pytrace=False,
        )


@pytest.fixture
async def http(stack: TestStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30.0) as client:
        yield client


@pytest.fixture
async def browser(stack: TestStack) -> AsyncIterator[Browser]:
    """Chromium for the web app's tests (tests/e2e/test_browser.py has its own)."""
    stack.require_service("realtime")
    stack.require_service("conversations")
    async with launched_chromium() as launched:
        yield launched


@pytest.fixture
async def web_dist() -> Path:
    """web/ built into the directory a gateway serves (skips without Node.js and npm)."""
    dist = await asyncio.to_thread(build_web, lambda line: print(f"[web] {line}"))
    if dist is None:
        pytest.skip("Node.js and npm are needed to build web/ (scripts/test installs them)")
    await asyncio.to_thread(SCREENSHOTS.mkdir, parents=True, exist_ok=True)
    return dist
