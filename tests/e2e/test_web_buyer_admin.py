"""The web app's buyer face and admin page in Chromium, through a gateway serving web/dist with
production settings: an attachment from the buyer previewed and downloaded byte for byte by the
agent; a network drop on the agent's side while the buyer writes, with nothing lost or doubled
after it; the satisfaction prompt after a resolve, its rating stored; an admin setting up a staff
account, a team, its member and capacity through the page, then the account's role changed, the
account disabled and enabled again and the team renamed, as the API then shows. No page may report a console error
(beyond the dropped network's own failed requests while it is down). Screenshots of the buyer's
chat and the admin page are saved (WORKCITY_SCREENSHOT_DIR, default .dev/screenshots)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import struct
import uuid
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.async_api import Browser, Page, expect

from tests.support.stack import TestStack
from tests.support.users import TestUser, new_user
from tests.support.web_app import Watched, open_page, shot, sign_in, team_of

PRODUCTION = {"ENVIRONMENT": "production"}
# A Windows program's first bytes: refused whatever its name says.
EXE = b"MZ\x90\x00" + bytes(60)
REFUSED_UPLOAD = "the server responded with a status of 415"


def png(width: int, height: int) -> bytes:
    """A real (decodable) PNG: a colour gradient, so the preview has something to show."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 160)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@dataclass
class Case:
    """A support conversation in a claim-only team, claimed by its agent through the API."""

    admin: TestUser
    agent: TestUser
    buyer: TestUser
    team: str
    conversation_id: str


async def support_case(http: httpx.AsyncClient, stack: TestStack, first: str) -> Case:
    admin = await new_user(http, stack, "admin")
    agent = await new_user(http, stack, "agent")
    buyer = await new_user(http, stack, "customer")
    team = await team_of(http, admin, agent, autoAssign=False)
    teams = await http.get("/api/support/teams", headers=buyer.headers)
    team_id = next(t["_id"] for t in teams.json() if t["name"] == team)
    opened = await http.post(
        "/api/support", json={"text": first, "teamId": team_id}, headers=buyer.headers
    )
    assert opened.status_code == 201, opened.text
    conversation_id = opened.json()["_id"]
    claimed = await http.post(f"/api/conversations/{conversation_id}/claim", headers=agent.headers)
    assert claimed.status_code == 200, claimed.text
    return Case(admin, agent, buyer, team, conversation_id)


@contextlib.asynccontextmanager
async def both_sides(
    stack: TestStack, browser: Browser, web_dist: Path, case: Case
) -> AsyncIterator[tuple[Watched, Watched]]:
    """The buyer (phone-sized) and the agent, each signed in on the conversation's own link."""
    with stack.extra_gateway({**PRODUCTION, "FRONTEND_DIR": str(web_dist)}) as gateway:
        agent_context = await browser.new_context(
            viewport={"width": 1280, "height": 860}, accept_downloads=True
        )
        buyer_context = await browser.new_context(viewport={"width": 430, "height": 900})
        try:
            link = f"{gateway}/chat/{case.conversation_id}"
            agent_view = await open_page(agent_context, link)
            await sign_in(agent_view.page, case.agent.email, case.agent.password)
            buyer_view = await open_page(buyer_context, link)
            await sign_in(buyer_view.page, case.buyer.email, case.buyer.password)
            for view in (agent_view, buyer_view):
                thread = view.page.get_by_test_id("thread")
                await expect(thread.get_by_test_id("message")).to_have_count(1)
            yield buyer_view, agent_view
        finally:
            await agent_context.close()
            await buyer_context.close()


async def send(page: Page, text: str) -> None:
    await page.get_by_label("Message").fill(text)
    await page.get_by_role("button", name="Send", exact=True).click()


async def test_an_image_from_the_buyer_is_previewed_and_downloaded_by_the_agent(
    http: httpx.AsyncClient, stack: TestStack, browser: Browser, web_dist: Path
) -> None:
    case = await support_case(http, stack, "The mug arrived broken.")
    photo = png(96, 64)
    async with both_sides(stack, browser, web_dist, case) as (buyer_view, agent_view):
        buyer, agent = buyer_view.page, agent_view.page
        # The buyer picks a file (the chooser a person sees), which uploads at once.
        async with buyer.expect_file_chooser() as chosen:
            await buyer.get_by_role("button", name="Attach files").click()
        chooser = await chosen.value
        await chooser.set_files(
            files=[{"name": "broken mug.png", "mimeType": "image/png", "buffer": photo}]
        )
        pending = buyer.get_by_test_id("pending-attachments")
        await expect(pending).to_contain_text("broken mug.png")
        await send(buyer, "Here is a photo.")
        await expect(pending).to_have_count(0)

        # The agent's thread shows the message with the image itself, decoded at its size.
        agent_thread = agent.get_by_test_id("thread")
        message = agent_thread.get_by_test_id("message").filter(has_text="Here is a photo.")
        preview = message.get_by_test_id("attachment-preview")
        await expect(preview).to_be_visible()
        await expect(preview).to_have_attribute("alt", "broken mug.png")
        natural = await preview.evaluate("(img) => [img.naturalWidth, img.naturalHeight]")
        assert natural == [96, 64]
        # The buyer sees their own preview too.
        await expect(
            buyer.get_by_test_id("thread").get_by_test_id("attachment-preview")
        ).to_be_visible()

        # Downloaded under its name, the very bytes the buyer sent.
        async with agent.expect_download() as downloading:
            await message.get_by_role("button", name="Download").click()
        download = await downloading.value
        assert download.suggested_filename == "broken mug.png"
        saved = await download.path()
        assert saved is not None and saved.read_bytes() == photo

        # What the API holds: one message carrying the one attachment.
        messages = await http.get(
            f"/api/conversations/{case.conversation_id}/messages", headers=case.agent.headers
        )
        (with_file,) = [m for m in messages.json() if m["attachments"]]
        assert with_file["text"] == "Here is a photo."
        assert [(a["filename"], a["size"]) for a in with_file["attachments"]] == [
            ("broken mug.png", len(photo))
        ]
        await shot(buyer, "buyer-attachment")

        # A program is refused (415): the buyer is told why in words, nothing waits to be sent.
        async with buyer.expect_file_chooser() as chosen:
            await buyer.get_by_role("button", name="Attach files").click()
        chooser = await chosen.value
        await chooser.set_files(
            files=[{"name": "setup.exe", "mimeType": "application/octet-stream", "buffer": EXE}]
        )
        await expect(pending.get_by_role("alert")).to_have_text(
            re.compile(r"^setup\.exe: Executable files are not allowed")
        )
        await expect(pending.locator(".mantine-Badge-root")).to_have_count(0)
        # (Chromium logs the refused upload itself as a console error: the one expected.)
        # A screenshot pasted into the composer is attached too.
        await buyer.get_by_label("Message").evaluate(
            """(box, bytes) => {
                const data = new DataTransfer();
                data.items.add(new File([new Uint8Array(bytes)], "pasted.png", {type: "image/png"}));
                box.dispatchEvent(new ClipboardEvent("paste", {clipboardData: data, bubbles: true}));
            }""",
            list(photo),
        )
        await expect(pending.locator(".mantine-Badge-root")).to_contain_text("pasted.png")
        unexpected = [p for p in buyer_view.problems if REFUSED_UPLOAD not in p]
        assert unexpected == [] and len(buyer_view.problems) <= 1, buyer_view.problems
        assert agent_view.problems == []


async def test_a_network_drop_loses_nothing_and_says_why_a_send_failed(
    http: httpx.AsyncClient, stack: TestStack, browser: Browser, web_dist: Path
) -> None:
    case = await support_case(http, stack, "Where is my order?")
    async with both_sides(stack, browser, web_dist, case) as (buyer_view, agent_view):
        buyer, agent = buyer_view.page, agent_view.page
        await send(agent, "Let me look.")
        await expect(buyer.get_by_test_id("message")).to_have_count(2)

        # The agent's network drops while the buyer writes three messages.
        await agent.context.set_offline(True)
        await expect(agent.get_by_test_id("connection")).to_have_text("reconnecting…")
        meanwhile = ["Order WC-77.", "It was due on Monday.", "Any news?"]
        for text in meanwhile:
            await send(buyer, text)
            await expect(buyer.get_by_test_id("thread").get_by_text(text)).to_be_visible()
        # A reply written while offline is not lost: the agent is told why in words, the text
        # stays in the composer.
        await send(agent, "Found it.")
        failed = agent.get_by_test_id("thread").get_by_role("alert")
        await expect(failed.filter(has_text="Cannot reach the server").first).to_be_visible()
        await expect(agent.get_by_label("Message")).to_have_value("Found it.")

        # Back online: the thread catches up by seq, every message once, in order.
        await agent.context.set_offline(False)
        await expect(agent.get_by_test_id("connection")).to_have_text("online")
        agent_messages = agent.get_by_test_id("thread").get_by_test_id("message")
        await expect(agent_messages).to_have_count(5)
        await agent.get_by_role("button", name="Send", exact=True).click()
        expected = ["Where is my order?", "Let me look.", *meanwhile, "Found it."]
        for page in (agent, buyer):
            messages = page.get_by_test_id("thread").get_by_test_id("message")
            await expect(messages).to_have_count(len(expected))
            for i, text in enumerate(expected):
                await expect(messages.nth(i)).to_contain_text(text)
                await expect(messages.nth(i)).to_have_attribute("data-seq", str(i + 1))
        stored = await http.get(
            f"/api/conversations/{case.conversation_id}/messages", headers=case.agent.headers
        )
        assert [m["text"] for m in stored.json()] == expected
        # Only the dropped network's own failures were reported meanwhile.
        assert all("ERR_INTERNET_DISCONNECTED" in p for p in agent_view.problems), (
            agent_view.problems
        )
        assert buyer_view.problems == []


async def test_unread_badge_then_after_a_resolve_the_buyer_rates_it(
    http: httpx.AsyncClient, stack: TestStack, browser: Browser, web_dist: Path
) -> None:
    case = await support_case(http, stack, "Can I change my address?")
    async with both_sides(stack, browser, web_dist, case) as (buyer_view, agent_view):
        buyer, agent = buyer_view.page, agent_view.page
        # The buyer looks elsewhere (Contact support) when the agent answers: the conversation's
        # unread badge and the tab's title count it, live; opening it reads it.
        await buyer.get_by_role("button", name="Contact support").click()
        await send(agent, "Done: the new address is on the order.")
        item = buyer.get_by_test_id("conversation-item")
        await expect(item.get_by_test_id("unread")).to_have_text("1")
        await expect(buyer).to_have_title("(1) Workcity Chat")
        await item.click()
        await expect(buyer.get_by_test_id("message")).to_have_count(2)
        await expect(item.get_by_test_id("unread")).to_have_count(0)
        await expect(buyer).to_have_title("Workcity Chat")
        answer = agent.get_by_test_id("message").filter(has_text="Done: the new address")
        await expect(answer).to_have_attribute("data-read", "true")
        await expect(buyer.get_by_test_id("rating-prompt")).to_have_count(0)

        # The agent resolves it; the buyer is asked at once (csatRequested) and answers.
        await agent.get_by_role("textbox", name="Status").click()
        await agent.get_by_role("option", name="resolved").click()
        prompt = buyer.get_by_test_id("rating-prompt")
        await expect(prompt).to_be_visible()
        await expect(
            buyer.get_by_test_id("conversation-header").get_by_test_id("status")
        ).to_have_text("resolved")
        # A resolved conversation is a past one in the buyer's list.
        await expect(
            buyer.get_by_test_id("past-conversations").get_by_test_id("conversation-item")
        ).to_have_count(1)
        await prompt.get_by_role("button", name="4 of 5").click()
        await expect(prompt.get_by_role("button", name="4 of 5")).to_have_attribute(
            "aria-pressed", "true"
        )
        await prompt.get_by_label("Comment (optional)").fill("Quick and friendly.")
        await shot(buyer, "buyer-rating")
        await prompt.get_by_role("button", name="Send rating").click()
        await expect(buyer.get_by_test_id("rating-given")).to_contain_text("4 of 5")

        conversation = await http.get(
            f"/api/conversations/{case.conversation_id}", headers=case.agent.headers
        )
        csat = conversation.json()["csat"]
        assert (csat["rating"], csat["comment"]) == (4, "Quick and friendly.")
        # Once per resolution: after a reload it is remembered, not asked again.
        await buyer.reload()
        await expect(buyer.get_by_test_id("rating-given")).to_contain_text("4 of 5")
        await expect(buyer.get_by_test_id("rating-prompt")).to_have_count(0)
        assert buyer_view.problems == []
        assert agent_view.problems == []


async def test_an_admin_sets_up_a_team_with_a_member_and_capacity(
    http: httpx.AsyncClient, stack: TestStack, browser: Browser, web_dist: Path
) -> None:
    admin = await new_user(http, stack, "admin")
    agent_email = f"e2e-agent-{uuid.uuid4().hex[:12]}@workcity.example"
    agent_password = f"pw-{uuid.uuid4().hex[:12]}"
    team = f"Refunds {uuid.uuid4().hex[:6]}"
    renamed = f"Returns {uuid.uuid4().hex[:6]}"
    with stack.extra_gateway({**PRODUCTION, "FRONTEND_DIR": str(web_dist)}) as gateway:
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            view = await open_page(context, f"{gateway}/")
            page = view.page
            await sign_in(page, admin.email, admin.password)
            await page.get_by_test_id("page-switch").get_by_text("Admin").click()
            admin_page = page.get_by_test_id("admin-page")
            await expect(admin_page).to_be_visible()
            assert page.url.endswith("/admin")

            # A staff account.
            await admin_page.get_by_label("Email").fill(agent_email)
            await admin_page.get_by_label("Password").fill(agent_password)
            await admin_page.get_by_role("button", name="Create account").click()
            await expect(page.get_by_test_id("account-created")).to_contain_text(agent_email)

            # A team with that member and a capacity of 3.
            await admin_page.get_by_label("Team name").fill(team)
            await admin_page.get_by_label("Capacity per agent").fill("3")
            await admin_page.get_by_role("button", name="Create team").click()
            members = admin_page.get_by_label(f"Members of {team}")
            await members.click()
            await page.get_by_role("option", name=agent_email).click()
            await page.keyboard.press("Escape")
            await admin_page.get_by_role("button", name=f"Save {team}").click()
            summary = admin_page.locator(f'[data-testid="team"][data-team="{team}"]')
            await expect(summary).to_contain_text("1 member · capacity 3")

            # The agent's own capacity: 2.
            await admin_page.get_by_label("Find staff").fill(agent_email)
            row = admin_page.get_by_test_id("staff-row")
            await expect(row).to_have_count(1)
            await expect(row).to_contain_text(team)
            await row.get_by_label(f"Capacity of {agent_email}", exact=True).fill("2")
            set_capacity = row.get_by_role("button", name=f"Set the capacity of {agent_email}")
            await set_capacity.click()
            # Saved and read back: disabled because the value is the stored one, not only while
            # the request is in flight (a loading button is disabled too).
            await expect(set_capacity).to_be_disabled()
            await expect(set_capacity).not_to_have_attribute("data-loading", "true")

            # Its role: designer (auth answers for it at once).
            await row.get_by_role("textbox", name=f"Role of {agent_email}").click()
            await page.get_by_role("option", name="designer", exact=True).click()
            await expect(row.get_by_role("textbox", name=f"Role of {agent_email}")).to_have_value(
                "designer"
            )
            for _ in range(50):
                users = (await http.get("/api/auth/all-users", headers=admin.headers)).json()
                if next(u for u in users if u["email"] == agent_email)["role"] == "designer":
                    break
                await asyncio.sleep(0.1)
            else:
                raise AssertionError("the role never became designer")

            # Disabled: the account may not sign in; enabled again: it may.
            await row.get_by_role("button", name="Disable").click()
            await expect(row.get_by_role("button", name="Enable")).to_be_visible()
            refused = await http.post(
                "/api/auth/login", json={"email": agent_email, "password": agent_password}
            )
            assert refused.status_code in (401, 403), refused.text
            await row.get_by_role("button", name="Enable").click()
            await expect(row.get_by_role("button", name="Disable")).to_be_visible()

            # The team renamed.
            await admin_page.get_by_label(f"Name of {team}").fill(renamed)
            await admin_page.get_by_role("button", name=f"Save {team}").click()
            summary = admin_page.locator(f'[data-testid="team"][data-team="{renamed}"]')
            await expect(summary).to_contain_text("1 member · capacity 3")

            await page.evaluate("() => window.scrollTo(0, 0)")
            await shot(page, "admin-page", full_page=False)

            # At phone width the page still fits: nothing wider than the screen but the staff
            # table, which scrolls inside its own box.
            await page.set_viewport_size({"width": 390, "height": 844})
            await expect(summary).to_be_visible()
            overflow = await page.evaluate(
                """() => [document.documentElement, document.querySelector("header")].map(
                    (e) => e.scrollWidth - window.innerWidth)"""
            )
            assert overflow[0] <= 0 and overflow[1] <= 0, f"px wider than a phone: {overflow}"
            await shot(page, "admin-page-phone")
            assert view.problems == []
        finally:
            await context.close()

    # What the API holds.
    teams = await http.get("/api/teams", headers=admin.headers)
    (made,) = [t for t in teams.json() if t["name"] == renamed]
    agents = await http.get("/api/agents", headers=admin.headers)
    (agent,) = [a for a in agents.json() if a["email"] == agent_email]
    assert (made["capacity"], made["autoAssign"], made["members"]) == (3, True, [agent["_id"]])
    assert (agent["capacity"], agent["teams"]) == (2, [made["_id"]])
    login = await http.post(
        "/api/auth/login", json={"email": agent_email, "password": agent_password}
    )
    assert login.status_code == 200 and login.json()["user"]["role"] == "designer"
