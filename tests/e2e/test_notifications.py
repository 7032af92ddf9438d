"""Email notifications end to end: REST through the gateway, the real services, and the SMTP
server the test stack starts (tests/support/mail.py). The stack runs with NOTIFY_DELAY_SECONDS=2."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.e2e.conftest import Connect
from tests.support.api import Chat
from tests.support.mail import MailCatcher
from tests.support.stack import TestStack
from tests.support.users import TestUser

DELAY_S = 2.0


def catcher(stack: TestStack) -> MailCatcher:
    stack.require_service("notifications")
    stack.require_service("conversations")
    if stack.mail is None:
        pytest.skip("needs the stack the tests start themselves (its SMTP server)")
    return stack.mail


async def send(http: httpx.AsyncClient, user: TestUser, conversation_id: str, text: str) -> int:
    response = await http.post(
        f"/api/conversations/{conversation_id}/messages", json={"text": text}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    return int(response.json()["seq"])


async def test_offline_agent_gets_one_email_for_three_messages(
    http: httpx.AsyncClient, stack: TestStack, chat: Chat
) -> None:
    mail = catcher(stack)
    customer, agent, conv = chat.customer, chat.agent, chat.conversation_id
    texts = ["Where is my order?", "It was due <today> & I'm waiting", "Order #1234"]
    for text in texts:
        await send(http, customer, conv, text)

    emails = await mail.wait_for(agent.email, timeout_s=30)
    await asyncio.sleep(DELAY_S + 1)  # nothing else follows
    assert len(mail.to(agent.email)) == len(emails) == 1
    [email] = emails
    plain, html = email.body("plain"), email.body("html")
    assert all(text in plain for text in texts)
    assert f"/chat/{conv}" in plain
    assert "It was due &lt;today&gt; &amp; I&#x27;m waiting" in html
    assert customer.email in email.subject
    assert mail.to(customer.email) == []


async def test_agent_who_reads_in_time_gets_none(
    http: httpx.AsyncClient, stack: TestStack, chat: Chat
) -> None:
    mail = catcher(stack)
    customer, agent, conv = chat.customer, chat.agent, chat.conversation_id
    seq = await send(http, customer, conv, "quick question")
    read = await http.post(
        f"/api/conversations/{conv}/read", json={"seq": seq}, headers=agent.headers
    )
    assert read.status_code == 200, read.text
    await asyncio.sleep(DELAY_S + 3)
    assert mail.to(agent.email) == []


async def test_agent_with_a_socket_open_gets_none(
    http: httpx.AsyncClient, stack: TestStack, chat: Chat, connect: Connect
) -> None:
    mail = catcher(stack)
    customer, agent, conv = chat.customer, chat.agent, chat.conversation_id
    await connect(agent)
    await asyncio.sleep(0.5)  # presence.changed reaches the notifications service
    await send(http, customer, conv, "are you there?")
    await asyncio.sleep(DELAY_S + 3)
    assert mail.to(agent.email) == []


async def test_a_restart_of_the_notifications_service_still_sends_once(
    http: httpx.AsyncClient, stack: TestStack, chat: Chat
) -> None:
    mail = catcher(stack)
    customer, agent, conv = chat.customer, chat.agent, chat.conversation_id
    await send(http, customer, conv, "sent just before a restart")
    with stack.service_stopped("notifications"):
        await asyncio.sleep(DELAY_S + 1)  # the delay runs out while it is down
        assert mail.to(agent.email) == []
    emails = await mail.wait_for(agent.email, timeout_s=30)
    await asyncio.sleep(DELAY_S + 1)
    assert len(mail.to(agent.email)) == len(emails) == 1
    assert "sent just before a restart" in emails[0].body("plain")
