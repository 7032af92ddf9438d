"""An email the SMTP server took but the service never recorded as sent (it died in between, or
the server's answer was lost) is sent again as the same message: the same `Message-ID` and the
same content, which a receiver that de-duplicates by Message-ID shows once (RELIABILITY.md,
defect 4). Exactly once is not possible over SMTP; this is at least once, the same message."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiosmtplib
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.broker import Broker
from workcity_notifications.adapters.smtp import SmtpSender
from workcity_notifications.domain.email import Email
from workcity_notifications.main import smtp_from
from workcity_notifications.settings import NotificationsSettings

from tests.integration.notifications.service import (
    AGENT,
    Conversation,
    agent_registered,
    publish,
    running,
)
from tests.support.mail import MailCatcher, Received


class SendsThen:
    """Hands the first email to the real SMTP server, then does `after` (hang as a process that
    died before its next write, or raise as on a lost answer); the next ones are plain sends."""

    def __init__(self, settings: NotificationsSettings, after: Callable[[], object]) -> None:
        self._smtp = SmtpSender(smtp_from(settings))
        self._after = after
        self.calls = 0

    async def send(self, email: Email) -> None:
        self.calls += 1
        await self._smtp.send(email)
        if self.calls == 1:
            outcome = self._after()
            if asyncio.iscoroutine(outcome):
                await outcome


async def lost_answer() -> None:
    raise aiosmtplib.SMTPServerDisconnected("connection lost before the reply to DATA")


def same_message(first: Received, second: Received) -> None:
    assert first.message["Message-ID"] == second.message["Message-ID"]
    assert first.message["Message-ID"].startswith("<notify.")
    assert first.subject == second.subject
    assert first.body("plain") == second.body("plain")


async def test_an_email_cut_off_after_the_server_took_it_is_sent_again_as_the_same_message(
    settings: NotificationsSettings, mongo_db: AsyncDatabase, publisher: Broker, mail: MailCatcher
) -> None:
    # A claim lapses 2 s after it was taken; the stop cancels a send after 0.2 s.
    short = settings.model_copy(
        update={"notify_claim_s": 2.0, "smtp_timeout_s": 1.0, "notify_stop_grace_s": 0.2}
    )
    dies = SendsThen(short, after=lambda: asyncio.Event().wait())
    chat = Conversation(publisher)
    async with running(short, mongo_db, mail_sender=dies):
        await publish(publisher, agent_registered())
        await chat.send("before the crash")
        [first] = await mail.wait_for(AGENT.email)
        doc = await mongo_db["wakeups"].find_one({"conversation_id": chat.id})
        assert doc is not None
        # Recorded before SMTP saw it, with the Message-ID the server got.
        assert doc["outgoing"]["message_id"] == first.message["Message-ID"]
    # Stopped with the email in SMTP's hands and not recorded sent. A message meanwhile.
    await chat.send("after the crash")
    async with running(short, mongo_db):
        emails = await mail.wait_for(AGENT.email, count=2)
        await asyncio.sleep(1.0)
    assert len(mail.to(AGENT.email)) == len(emails) == 2
    same_message(first, emails[1])
    assert "after the crash" not in emails[1].body("plain")  # exactly that email again
    doc = await mongo_db["wakeups"].find_one({"conversation_id": chat.id})
    assert doc is not None and "outgoing" not in doc
    # Message 2 waits for the window after the email (sent once, by the sent log).
    assert (doc["done_seq"], doc["seen_seq"]) == (1, 2)
    assert await mongo_db["sent"].count_documents({}) == 1


async def test_a_lost_answer_from_the_server_is_retried_as_the_same_message(
    settings: NotificationsSettings, mongo_db: AsyncDatabase, publisher: Broker, mail: MailCatcher
) -> None:
    sender = SendsThen(settings, after=lost_answer)
    async with running(settings, mongo_db, mail_sender=sender):
        await publish(publisher, agent_registered())
        chat = Conversation(publisher)
        await chat.send("keep me")
        [first] = await mail.wait_for(AGENT.email)
        await chat.send("while it was retried")
        # The first retry comes 5 s later.
        emails = await mail.wait_for(AGENT.email, count=2, timeout_s=20)
    assert sender.calls == 2
    assert len(emails) == 2
    same_message(first, emails[1])
    assert "while it was retried" not in emails[1].body("plain")
