"""End-to-end fixtures: the whole stack behind nginx, started once per session.

`stack` is the stack `scripts/dev` runs, on free ports with its own run directory, RabbitMQ
virtual host and raised login limits (or, with WORKCITY_GATEWAY_URL set, a stack already running).
`http` is an httpx client on the gateway. Every test here is marked `e2e`; at the end of the
session no process of the stack may have logged a Python traceback.

The set-ups many tests share: `chat` (a new customer and agent and their conversation), `peers`
(Socket.IO clients, all disconnected at the end), `connect` (a user's peer through the gateway
or pinned to replica 1 or 2, optionally joined to a room) and `pair` (the chat's customer on
replica 1 and its agent on replica 2, both in the room).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from playwright.async_api import Browser
from pymongo import MongoClient
from pymongo.database import Database

from scripts.devstack.web import build_web
from tests.support.api import Chat, new_chat
from tests.support.browser import launched_chromium
from tests.support.sockets import Peer, replica_url
from tests.support.stack import TestStack, sigterm_as_interrupt
from tests.support.users import TestUser
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


@pytest.fixture
async def chat(http: httpx.AsyncClient, stack: TestStack) -> Chat:
    stack.require_service("conversations")
    return await new_chat(http, stack)


@pytest.fixture
async def peers(stack: TestStack) -> AsyncIterator[Callable[[str], Peer]]:
    """Make a named peer (not yet connected); every one made is disconnected at the end."""
    stack.require_service("realtime")
    made: list[Peer] = []

    def make(name: str) -> Peer:
        made.append(Peer(name))
        return made[-1]

    yield make
    await asyncio.gather(*(p.disconnect() for p in made), return_exceptions=True)


class Connect(Protocol):
    def __call__(
        self,
        user: TestUser,
        replica: int | None = None,
        *,
        join: str | None = None,
        name: str | None = None,
    ) -> Awaitable[Peer]: ...


@pytest.fixture
def connect(stack: TestStack, peers: Callable[[str], Peer]) -> Connect:
    """`await connect(user, 2, join=conversation_id)`: the user's peer on replica 2 (None:
    through the gateway), in the conversation's room when `join` is given."""

    async def connect(
        user: TestUser,
        replica: int | None = None,
        *,
        join: str | None = None,
        name: str | None = None,
    ) -> Peer:
        peer = peers(name or f"{user.role}@{replica or 'gateway'}")
        await peer.connect(
            replica_url(stack, replica) if replica else stack.gateway_url, user.token
        )
        if join is not None:
            await peer.join(join)
        return peer

    return connect


@pytest.fixture
async def pair(chat: Chat, connect: Connect) -> tuple[Peer, Peer]:
    """The chat's customer on replica 1 and its agent on replica 2, both in the room."""
    customer = await connect(chat.customer, 1, join=chat.conversation_id)
    agent = await connect(chat.agent, 2, join=chat.conversation_id)
    return customer, agent


@pytest.fixture
def conversations_db(stack: TestStack) -> Iterator[Database[Any]]:
    """The conversations service's database, read directly (a test that must see what is stored)."""
    stack.require_service("conversations")
    _, env = stack._local().launch_command("conversations")
    with MongoClient(env["MONGO_URI"], tz_aware=True) as client:
        yield client[env.get("MONGO_DB") or "workcity_conversations"]
