"""Our own web app (web/) in Chromium, for the end-to-end tests: a page watched for console
errors, page errors and failed requests; the agent's and the buyer's browser contexts; signing
in (an agent made available); a team with a member; screenshots.

The fixtures that launch the browser and build the app are in tests/e2e/conftest.py
(`browser`, `web_dist`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import Browser, BrowserContext, Page, expect

from scripts.devstack.gateway import REPO_ROOT
from tests.support.users import TestUser

TIMEOUT_MS = 20_000
expect.set_options(timeout=TIMEOUT_MS)
SCREENSHOTS = Path(os.environ.get("WORKCITY_SCREENSHOT_DIR") or REPO_ROOT / ".dev" / "screenshots")
# A phone-sized screen for Playwright's new_context.
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
}


class Watched:
    """A page and every console error, page error and failed request it reported."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        page.on("console", lambda m: self._console(m.type, f"{m.text} {m.location.get('url')}"))
        page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: self._failed(f"{r.method} {r.url} {r.failure}"))

    def _failed(self, request: str) -> None:
        # A request still in flight when the test navigates away is aborted by the navigation.
        if not request.endswith("net::ERR_ABORTED"):
            self.problems.append(f"failed: {request}")

    def _console(self, kind: str, text: str) -> None:
        if kind == "error":
            self.problems.append(f"console: {text}")


@contextlib.asynccontextmanager
async def agent_and_buyer(
    browser: Browser, buyer: dict[str, Any] = PHONE
) -> AsyncIterator[tuple[BrowserContext, BrowserContext]]:
    """Two browser contexts, closed at the end: the agent's desktop and the buyer's screen."""
    agent_context = await browser.new_context(viewport={"width": 1280, "height": 800})
    buyer_context = await browser.new_context(**buyer)
    try:
        yield agent_context, buyer_context
    finally:
        await agent_context.close()
        await buyer_context.close()


async def open_page(context: BrowserContext, url: str) -> Watched:
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    watched = Watched(page)
    await page.goto(url)
    return watched


async def sign_in(page: Page, email: str, password: str) -> None:
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_test_id("me")).to_have_text(email)
    await expect(page.get_by_test_id("connection")).to_have_text("online")


async def team_of(
    http: httpx.AsyncClient, admin: TestUser, agent: TestUser, *also: TestUser, **settings: object
) -> str:
    """A new team (made through the API) whose members are `agent` (and `also`); its name."""
    name = f"Returns {uuid.uuid4().hex[:6]}"
    created = await http.post("/api/teams", json={"name": name, **settings}, headers=admin.headers)
    assert created.status_code == 201, created.text
    members = await http.put(
        f"/api/teams/{created.json()['_id']}/members",
        json={"userIds": [agent.id, *(a.id for a in also)]},
        headers=admin.headers,
    )
    assert members.status_code == 200, members.text
    return name


async def available_agent(
    page: Page, http: httpx.AsyncClient, admin: TestUser, agent: TestUser
) -> None:
    """Signs the agent in and switches them to available; returns once the server has them
    available and connected (so eligible), before any buyer asks."""
    await sign_in(page, agent.email, agent.password)
    await page.get_by_text("Available", exact=True).click()
    for _ in range(50):
        agents = await http.get("/api/agents", headers=admin.headers)
        mine = next(a for a in agents.json() if a["_id"] == agent.id)
        if mine["availability"] == "available" and mine["online"]:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"the agent never became available and online: {mine}")


async def shot(page: Page, name: str, *, full_page: bool = True) -> None:
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page)
