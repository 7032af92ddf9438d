"""Our own web app (web/, built into the directory the gateway serves) in a real browser:
Chromium driven by Playwright, a buyer and an agent in two browser contexts, through the gateway.

A support case: the agent signs in and switches to available; a buyer signs up, contacts
support (a team, an order number, a first message), is auto-assigned to that agent and sees who
handles it; messages go both ways with typing and read ticks; the buyer's network drops while
the agent writes, and once it is back the thread shows every message once. Screenshots of the main screens
are saved (WORKCITY_SCREENSHOT_DIR, default .dev/screenshots)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from pathlib import Path

import httpx
from playwright.async_api import Browser, expect

from tests.support.stack import TestStack
from tests.support.users import new_user, short_token
from tests.support.web_app import (
    agent_and_buyer,
    available_agent,
    open_page,
    shot,
    sign_in,
    team_of,
)


async def test_a_support_case_between_a_buyer_and_an_agent(
    http: httpx.AsyncClient, stack: TestStack, browser: Browser, web_dist: Path
) -> None:
    admin = await new_user(http, stack, "admin")
    agent = await new_user(http, stack, "agent")
    team = await team_of(http, admin, agent)
    buyer_email = f"e2e-buyer-{uuid.uuid4().hex[:12]}@workcity.example"
    buyer_password = f"pw-{uuid.uuid4().hex[:12]}"

    # Production settings: the page's own origin only, the gateway's page policy (CSP).
    environ = {"ENVIRONMENT": "production", "FRONTEND_DIR": str(web_dist)}
    with stack.extra_gateway(environ) as gateway:
        # The buyer on a phone-sized screen.
        async with agent_and_buyer(browser) as (agent_context, buyer_context):
            # The agent: signs in, becomes available (connected, so eligible).
            agent_view = await open_page(agent_context, f"{gateway}/")
            agent_page = agent_view.page
            await available_agent(agent_page, http, admin, agent)
            await expect(agent_page.get_by_test_id("count-mine")).to_have_text("0")

            # The buyer: signs up, contacts support in the agent's team.
            buyer_view = await open_page(buyer_context, f"{gateway}/")
            buyer = buyer_view.page
            await shot(buyer, "sign-in")
            await buyer.get_by_role("button", name="Create an account").click()
            await buyer.get_by_label("Email").fill(buyer_email)
            await buyer.get_by_label("Password").fill(buyer_password)
            await buyer.get_by_role("button", name="Sign up").click()
            await expect(buyer.get_by_test_id("me")).to_have_text(buyer_email)
            await buyer.get_by_role("textbox", name="Team").click()
            await buyer.get_by_role("option", name=team).click()
            await buyer.get_by_label("Order number (optional)").fill("WC-1042")
            await buyer.get_by_label("How can we help?").fill("My parcel never arrived.")
            await shot(buyer, "buyer-contact-support")
            await buyer.get_by_role("button", name="Start the conversation").click()

            # Auto-assigned to the available agent: the buyer sees who handles it, live.
            header = buyer.get_by_test_id("conversation-header")
            await expect(header.get_by_test_id("handler")).to_have_text(f"Handled by {agent.email}")
            await expect(header.get_by_test_id("status")).to_have_text("open")
            await expect(header).to_contain_text("Order WC-1042")
            await expect(buyer.get_by_test_id("message")).to_have_count(1)

            # The agent's inbox counts it as theirs; they open it and see the first message.
            await expect(agent_page.get_by_test_id("count-mine")).to_have_text("1")
            await agent_page.get_by_test_id("inbox-item").first.click()
            agent_thread = agent_page.get_by_test_id("thread")
            await expect(agent_thread.get_by_text("My parcel never arrived.")).to_be_visible()
            await expect(agent_page.get_by_test_id("handler")).to_contain_text("assigned to you")
            await expect(agent_page.get_by_test_id("handler")).to_contain_text("order WC-1042")
            # The buyer became the agent's contact: their presence shows.
            await expect(agent_page.get_by_test_id("customer-presence")).to_have_text("online")
            # The agent read it: the buyer's message gets its second tick.
            first = buyer.get_by_test_id("message").first
            await expect(first).to_have_attribute("data-read", "true")

            # The agent types (the buyer sees it) and replies.
            composer = agent_page.get_by_label("Message")
            await composer.press_sequentially("Sorry to hear")
            await expect(buyer.get_by_test_id("typing")).to_contain_text(f"{agent.email} is typing")
            await composer.fill("Sorry to hear that! I am checking order WC-1042 now.")
            await composer.press("Enter")
            reply = buyer.get_by_test_id("message").filter(has_text="checking order WC-1042")
            await expect(reply).to_have_attribute("data-mine", "false")
            await expect(buyer.get_by_test_id("typing")).to_have_count(0)

            # The buyer answers; the agent sees it and the buyer's tick turns to read.
            await buyer.get_by_label("Message").fill("Thank you!")
            await buyer.get_by_role("button", name="Send").click()
            await expect(agent_thread.get_by_text("Thank you!")).to_be_visible()
            thanks = buyer.get_by_test_id("message").filter(has_text="Thank you!")
            await expect(thanks).to_have_attribute("data-read", "true")
            await expect(buyer.get_by_test_id("message")).to_have_count(3)
            await shot(buyer, "buyer-conversation")
            await shot(agent_page, "agent-console")
            assert buyer_view.problems == []

            # The buyer's network drops; the agent writes meanwhile; back online, the thread
            # shows what arrived, each message once (catch-up by seq).
            await buyer_context.set_offline(True)
            await expect(buyer.get_by_test_id("connection")).to_have_text("reconnecting…")
            for text in ("Found it: it is at the depot.", "It will be delivered tomorrow."):
                await composer.fill(text)
                await composer.press("Enter")
                await expect(agent_thread.get_by_text(text)).to_be_visible()
            await expect(buyer.get_by_test_id("message")).to_have_count(3)
            await buyer_context.set_offline(False)
            await expect(buyer.get_by_test_id("connection")).to_have_text("online")
            await expect(buyer.get_by_test_id("message")).to_have_count(5)
            # (In the thread: the conversation list shows the last message too.)
            buyer_thread = buyer.get_by_test_id("thread")
            await expect(buyer_thread.get_by_text("It will be delivered tomorrow.")).to_be_visible()
            # Only the dropped network's own failures were reported meanwhile.
            assert all("ERR_INTERNET_DISCONNECTED" in p for p in buyer_view.problems), (
                buyer_view.problems
            )

            # The agent resolves it: the buyer sees the status change live.
            await agent_page.get_by_role("textbox", name="Status").click()
            await agent_page.get_by_role("option", name="resolved").click()
            await expect(header.get_by_test_id("status")).to_have_text("resolved")
            await expect(agent_page.get_by_test_id("count-mine")).to_have_text("0")
            await shot(buyer, "buyer-resolved")
            assert agent_view.problems == []


async def test_the_queue_claim_transfer_and_a_token_gone_bad(
    http: httpx.AsyncClient, stack: TestStack, browser: Browser, web_dist: Path
) -> None:
    admin = await new_user(http, stack, "admin")
    agent = await new_user(http, stack, "agent")
    customer = await new_user(http, stack, "customer")
    # A team that waits for a claim, and another to transfer to.
    team = await team_of(http, admin, agent, autoAssign=False)
    other = await team_of(http, admin, agent)

    environ = {"ENVIRONMENT": "production", "FRONTEND_DIR": str(web_dist)}
    with stack.extra_gateway(environ) as gateway:
        buyer_screen = {"viewport": {"width": 1100, "height": 800}}
        async with agent_and_buyer(browser, buyer_screen) as (agent_context, buyer_context):
            agent_view = await open_page(agent_context, f"{gateway}/")
            agent_page = agent_view.page
            await sign_in(agent_page, agent.email, agent.password)
            await expect(agent_page.get_by_test_id("count-unassigned")).to_have_text("0")

            buyer_view = await open_page(buyer_context, f"{gateway}/")
            buyer = buyer_view.page
            await sign_in(buyer, customer.email, customer.password)
            await buyer.get_by_role("textbox", name="Team").click()
            await buyer.get_by_role("option", name=team).click()
            await buyer.get_by_label("How can we help?").fill("Wrong size delivered.")
            await buyer.get_by_role("button", name="Start the conversation").click()
            header = buyer.get_by_test_id("conversation-header")
            await expect(header.get_by_test_id("handler")).to_have_text("Waiting for an agent…")

            # The queue's count follows live; the agent reads it, claims it and may reply.
            await expect(agent_page.get_by_test_id("count-unassigned")).to_have_text("1")
            await agent_page.get_by_test_id("tab-unassigned").click()
            await agent_page.get_by_test_id("inbox-item").first.click()
            thread = agent_page.get_by_test_id("thread")
            await expect(thread.get_by_text("Wrong size delivered.")).to_be_visible()
            await expect(thread.get_by_text("Claim this conversation to reply.")).to_be_visible()
            await agent_page.get_by_role("button", name="Claim").click()
            await expect(agent_page.get_by_test_id("handler")).to_contain_text("assigned to you")
            await expect(agent_page.get_by_test_id("count-unassigned")).to_have_text("0")
            await expect(agent_page.get_by_test_id("count-mine")).to_have_text("1")
            await expect(header.get_by_test_id("handler")).to_have_text(f"Handled by {agent.email}")
            await agent_page.get_by_label("Message").fill("I will swap it for you.")
            await agent_page.get_by_role("button", name="Send").click()
            await expect(
                buyer.get_by_test_id("thread").get_by_text("I will swap it")
            ).to_be_visible()

            # Transferred to another team's queue: unassigned again, as the buyer sees.
            await agent_page.get_by_role("button", name="Transfer").click()
            dialog = agent_page.get_by_role("dialog", name="Transfer to another team")
            await dialog.get_by_role("textbox", name="Team", exact=True).click()
            await agent_page.get_by_role("option", name=other).click()
            await dialog.get_by_role("button", name="Transfer").click()
            await expect(agent_page.get_by_test_id("handler")).to_contain_text(f"{other} ·")
            await expect(header.get_by_test_id("handler")).to_have_text("Waiting for an agent…")
            assert agent_view.problems == []
            assert buyer_view.problems == []

            # The stored access token is unusable (as after a laptop slept past its expiry):
            # the app refreshes it before any request or socket handshake and goes on.
            await buyer.evaluate(
                """() => {
                    const key = "workcity.session";
                    const session = JSON.parse(localStorage.getItem(key));
                    session.token = "not-a-valid-token";
                    localStorage.setItem(key, JSON.stringify(session));
                }"""
            )
            await buyer.reload()
            # (Reloading also revalidates the page: a 304 that must keep the page's policy.)
            await expect(buyer.get_by_test_id("connection")).to_have_text("online")
            await expect(buyer.get_by_test_id("conversation-item")).to_have_count(1)
            token = await buyer.evaluate(
                "() => JSON.parse(localStorage.getItem('workcity.session')).token"
            )
            assert token != "not-a-valid-token"
            me = await http.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
            assert me.status_code == 200 and me.json()["email"] == customer.email
            # It was refreshed before use: the bad token was never presented.
            assert buyer_view.problems == []

            # The socket outlives its access token: the token (re-signed to end in 12 s) is
            # refreshed before its end and handed to the socket, or the socket connects again
            # after the server ends it; either way live messages keep arriving.
            page_token = await buyer.evaluate(
                "() => JSON.parse(localStorage.getItem('workcity.session')).token"
            )
            short = short_token(stack, replace(customer, token=page_token), 12)
            await buyer.evaluate(
                """(token) => {
                    const session = JSON.parse(localStorage.getItem("workcity.session"));
                    localStorage.setItem("workcity.session", JSON.stringify({...session, token}));
                }""",
                short,
            )
            await buyer.reload()
            await expect(buyer.get_by_test_id("connection")).to_have_text("online")
            await asyncio.sleep(15)
            conversations = await http.get("/api/conversations", headers=customer.headers)
            (conversation,) = conversations.json()
            sent = await http.post(
                f"/api/conversations/{conversation['_id']}/messages",
                json={"text": "Sent from my phone after the token expired."},
                headers=customer.headers,
            )
            assert sent.status_code == 201, sent.text
            await buyer.get_by_test_id("conversation-item").first.click()
            await expect(
                buyer.get_by_test_id("thread").get_by_text("Sent from my phone after")
            ).to_be_visible()
            await expect(buyer.get_by_test_id("connection")).to_have_text("online")
            assert buyer_view.problems == []

            # A link to the conversation (as in notification emails) opens it, on both sides.
            link = f"{gateway}/chat/{conversation['_id']}"
            for page in (buyer, agent_page):
                await page.goto(link)
                thread = page.get_by_test_id("thread")
                await expect(thread.get_by_text("Wrong size delivered.")).to_be_visible()
            assert buyer_view.problems == []
            assert agent_view.problems == []
