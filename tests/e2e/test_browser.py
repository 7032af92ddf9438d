"""The original frontend's flows in a real browser (Chromium through Playwright): a page served
from another origin than the gateway (allowed by FRONTEND_URL, as the original's environment
would have it) and the same page served by the gateway itself. No CORS or console error may
appear; a page on an origin that is not allowed is blocked, so the checks are not vacuous."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser

from tests.support.browser import build_page, launched_chromium, node_modules_ready, static_site
from tests.support.stack import TestStack

PAGE_TIMEOUT_MS = 60_000
EXPECTED = {
    "signupMsg": "Customer account registered successfully!",
    "createUserMsg": "User with role 'agent' created successfully!",
    "history": ["hello from the shop", "how can I help?"],
    "sentSeq": 1,
}


@pytest.fixture
async def browser(stack: TestStack) -> AsyncIterator[Browser]:
    stack.require_service("realtime")
    await asyncio.to_thread(node_modules_ready)
    async with launched_chromium() as launched:
        yield launched


async def run_page(browser: Browser, url: str) -> tuple[dict[str, Any], list[str]]:
    """Loads the page, waits for its result; returns it with every console error and failed
    request the browser reported."""
    page = await browser.new_page()
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.method} {r.url} {r.failure}"))
    try:
        await page.goto(url)
        # A selector, not wait_for_function: that evaluates strings, which the gateway's page
        # policy (no 'unsafe-eval') rightly forbids.
        await page.wait_for_selector("main[data-finished]", timeout=PAGE_TIMEOUT_MS)
        result: dict[str, Any] = await page.evaluate("window.__result")
    finally:
        await page.close()
    return result, problems


def admin(stack: TestStack) -> dict[str, str]:
    return {"email": stack.admin_email, "password": stack.admin_password}


def assert_flows_worked(result: dict[str, Any], problems: list[str]) -> None:
    assert result["ok"], result
    assert problems == []
    for key, value in EXPECTED.items():
        assert result[key] == value, key
    assert result["typing"].startswith("browser-customer-")
    assert result["agentGot"].startswith("browser-customer-")
    assert result["customerGot"].startswith("browser-agent-")
    # The customer themself is in their own online list.
    assert any(email.startswith("browser-customer-") for email in result["customerOnline"])


async def test_a_frontend_on_another_origin_allowed_by_frontend_url(
    stack: TestStack, browser: Browser, tmp_path: Path
) -> None:
    page_dir = tmp_path / "site"
    page_dir.mkdir()
    with static_site(page_dir) as site:
        page_origin = site.replace("127.0.0.1", "localhost")
        environ = {"ENVIRONMENT": "production", "FRONTEND_URL": page_origin}
        with stack.extra_gateway(environ) as gateway:
            build_page(
                page_dir, api_base_url=f"{gateway}/api", socket_url=gateway, admin=admin(stack)
            )
            result, problems = await run_page(browser, f"{page_origin}/")
    assert_flows_worked(result, problems)


async def test_a_frontend_on_an_origin_not_allowed_is_blocked(
    stack: TestStack, browser: Browser, tmp_path: Path
) -> None:
    page_dir = tmp_path / "site"
    page_dir.mkdir()
    with static_site(page_dir) as site:
        environ = {"ENVIRONMENT": "production", "FRONTEND_URL": "https://shop.example"}
        with stack.extra_gateway(environ) as gateway:
            build_page(
                page_dir, api_base_url=f"{gateway}/api", socket_url=gateway, admin=admin(stack)
            )
            result, problems = await run_page(browser, f"{site}/")
    assert not result["ok"]
    assert any("CORS policy" in p for p in problems), problems


async def test_a_frontend_served_by_the_gateway(
    stack: TestStack, browser: Browser, tmp_path: Path
) -> None:
    page_dir = tmp_path / "dist"
    page_dir.mkdir()
    # Built as the README says: the API at the page's own origin, no CORS involved (production:
    # no other origin is allowed at all).
    with stack.extra_gateway({"ENVIRONMENT": "production", "FRONTEND_DIR": str(page_dir)}) as gw:
        build_page(page_dir, api_base_url="/api", socket_url=gw, admin=admin(stack))
        result, problems = await run_page(browser, f"{gw}/chat/some-client-route")
    assert_flows_worked(result, problems)
