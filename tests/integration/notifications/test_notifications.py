"""The notifications service (real composition root) against SecantusDB, RabbitMQ and a real
SMTP server: events are published on the test's own exchange, emails counted at the server. The
conversations service's answer to "what is unread?" comes from the test's own conversations
(`Chats` in service.py, the same rules; tests/e2e/test_notifications.py asks the real service)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.broker import Broker
from workcity_common.events import utcnow
from workcity_notifications.adapters.store import IDLE
from workcity_notifications.domain.rules import PendingMessage
from workcity_notifications.settings import NotificationsSettings

from tests.integration.notifications.service import (
    AGENT,
    CHATS,
    CUSTOMER,
    DELAY_S,
    Conversation,
    agent_registered,
    pending,
    presence,
    publish,
    quiet_period,
    running,
)
from tests.support.mail import MailCatcher


async def test_offline_recipient_gets_one_email_for_three_quick_messages(
    settings: NotificationsSettings, mongo_db: AsyncDatabase, publisher: Broker, mail: MailCatcher
) -> None:
    async with running(settings, mongo_db):
        await publish(publisher, agent_registered())
        chat = Conversation(publisher)
        for text in ("first <b>question</b>", "second", "third"):
            await chat.send(text)
        emails = await mail.wait_for(AGENT.email)
        await asyncio.sleep(1.0)  # nothing else follows
        emails = mail.to(AGENT.email)
    assert len(emails) == 1
    [received] = emails
    assert received.subject == "3 unread messages from customer@x.test on Workcity Chat"
    text = received.body("plain")
    assert all(t in text for t in ("first <b>question</b>", "second", "third"))
    assert f"https://chat.example/chat/{chat.id}" in text
    html = received.body("html")
    assert "first &lt;b&gt;question&lt;/b&gt;" in html
    assert "<b>question" not in html
    # The sender is never emailed about their own messages.
    assert mail.to(CUSTOMER.email) == []
    assert await mongo_db["wakeups"].count_documents(pending()) == 0
    assert await mongo_db["sent"].count_documents({}) == 1


async def test_online_recipient_gets_none(
    settings: NotificationsSettings, mongo_db: AsyncDatabase, publisher: Broker, mail: MailCatcher
) -> None:
    async with running(settings, mongo_db):
        await publish(publisher, agent_registered(), presence(online=True))
        chat = Conversation(publisher)
        await chat.send("are you there?")
        await quiet_period(mongo_db, chat.id)
    assert mail.received == []


async def test_recipient_who_went_offline_is_emailed(
    settings: NotificationsSettings, mongo_db: AsyncDatabase, publisher: Broker, mail: MailCatcher
) -> None:
    async with running(settings, mongo_db):
        await publish(publisher, agent_registered(), presence(online=True), presence(online=False))
        chat = Conversation(publisher)
        await chat.send("hello")
        assert len(await mail.wait_for(AGENT.email)) == 1


async def test_reading_in_time_sends_none(
    settings: NotificationsSettings, mongo_db: AsyncDatabase, publisher: Broker, mail: MailCatcher
) -> None:
    async with running(settings, mongo_db):
        await publish(publisher, agent_registered())
        chat = Conversation(publisher)
        await chat.send("one")
        await chat.send("two")
        await chat.read(AGENT.id, 2)
        await quiet_period(mongo_db, chat.id)
    assert mail.received == []


async def test_a_partial_read_leaves_the_rest_in_the_email(
    settings: NotificationsSettings, mongo_db: AsyncDatabase, publisher: Broker, mail: MailCatcher
) -> None:
    async with running(settings, mongo_db):
        await publish(publisher, agent_registered())
        chat = Conversation(publisher)
        await chat.send("already seen")
        await chat.read(AGENT.id, 1)
        await chat.send("still unread")
        [received] = await mail.wait_for(AGENT.email)
    assert "still unread" in received.body("plain")
    assert "already seen" not in received.body("plain")


async def test_deleting_every_pending_message_cancels_the_email(
    settings: NotificationsSettings, mongo_db: AsyncDatabase, publisher: Broker, mail: MailCatcher
) -> None:
    async with running(settings, mongo_db):
        await publish(publisher, agent_registered())
        chat = Conversation(publisher)
        await chat.send("oops")
        await chat.send("oops again")
        await chat.delete(0)
        await chat.delete(1)
        await quiet_period(mongo_db, chat.id)
    assert mail.received == []


async def test_one_email_per_window_later_messages_wait(
    settings: NotificationsSettings, mongo_db: AsyncDatabase, publisher: Broker, mail: MailCatcher
) -> None:
    async with running(settings, mongo_db):
        await publish(publisher, agent_registered())
        chat = Conversation(publisher)
        await chat.send("first")
        await mail.wait_for(AGENT.email)
        await chat.send("after the first email")
        await asyncio.sleep(DELAY_S + 1.5)
        assert len(mail.to(AGENT.email)) == 1
        wakeup = await mongo_db["wakeups"].find_one(pending(chat.id))
        assert wakeup is not None
        sent = await mongo_db["sent"].find_one({})
        assert sent is not None
        # Due when the window after the first email ends (10 minutes here).
        assert wakeup["due_at"] - sent["sent_at"] == timedelta(seconds=600)


async def test_a_restart_before_the_delay_still_sends_exactly_once(
    settings: NotificationsSettings, mongo_db: AsyncDatabase, publisher: Broker, mail: MailCatcher
) -> None:
    chat = Conversation(publisher)
    async with running(settings, mongo_db):
        await publish(publisher, agent_registered())
        await chat.send("before the restart")

        async def scheduled() -> bool:
            return await mongo_db["wakeups"].count_documents(pending(chat.id)) == 1

        for _ in range(100):
            if await scheduled():
                break
            await asyncio.sleep(0.05)
        assert await scheduled()
    assert mail.received == []  # stopped before the delay ran out
    await asyncio.sleep(DELAY_S)
    async with running(settings, mongo_db):
        emails = await mail.wait_for(AGENT.email)
        await asyncio.sleep(1.0)
    assert len(mail.to(AGENT.email)) == len(emails) == 1
    assert "before the restart" in emails[0].body("plain")


async def test_two_replicas_send_once(
    settings: NotificationsSettings, mongo_db: AsyncDatabase, publisher: Broker, mail: MailCatcher
) -> None:
    async with running(settings, mongo_db), running(settings, mongo_db):
        await publish(publisher, agent_registered())
        chats = [Conversation(publisher) for _ in range(4)]
        for chat in chats:
            await chat.send(f"hello from {chat.id}")
        await mail.wait_for(AGENT.email, count=4)
        await asyncio.sleep(1.0)
    assert len(mail.to(AGENT.email)) == 4


async def test_a_failing_smtp_server_is_retried_and_nothing_lost(
    settings: NotificationsSettings, mongo_db: AsyncDatabase, publisher: Broker, mail: MailCatcher
) -> None:
    mail.refuse = True
    async with running(settings, mongo_db):
        await publish(publisher, agent_registered())
        chat = Conversation(publisher)
        await chat.send("keep me")
        for _ in range(100):
            doc = await mongo_db["wakeups"].find_one({"conversation_id": chat.id})
            if doc and doc.get("attempts", 0) >= 1:
                break
            await asyncio.sleep(0.1)
        assert doc is not None and doc["attempts"] >= 1
        # The first retry comes 5 s later.
        mail.refuse = False
        [received] = await mail.wait_for(AGENT.email, timeout_s=20)
    assert "keep me" in received.body("plain")


async def test_events_queued_while_stopped_are_applied_as_a_batch_with_the_same_outcome(
    settings: NotificationsSettings, mongo_db: AsyncDatabase, publisher: Broker, mail: MailCatcher
) -> None:
    async with running(settings, mongo_db):  # declares the queues
        await publish(publisher, agent_registered())
        await asyncio.sleep(0.3)
    # While the service is down: unread messages, messages read in time, a deleted message,
    # interleaved across conversations. They are one batch when it starts again.
    unread, read, partly_deleted = (Conversation(publisher) for _ in range(3))
    for n in range(3):
        await unread.send(f"unread {n}")
        await read.send(f"read {n}")
        await partly_deleted.send(f"kept {n}" if n < 2 else "deleted 2")
    await read.read(AGENT.id, 3)
    await partly_deleted.delete(2)
    async with running(settings, mongo_db):
        emails = await mail.wait_for(AGENT.email, count=2)
        await asyncio.sleep(1.0)
    emails = mail.to(AGENT.email)
    assert len(emails) == 2
    by_link = {
        chat.id: [e for e in emails if f"/chat/{chat.id}" in e.body("plain")]
        for chat in (unread, read, partly_deleted)
    }
    assert len(by_link[unread.id]) == 1 and len(by_link[partly_deleted.id]) == 1
    assert by_link[read.id] == []
    unread_text = by_link[unread.id][0].body("plain")
    assert all(f"unread {n}" in unread_text for n in range(3))
    kept_text = by_link[partly_deleted.id][0].body("plain")
    assert "kept 0" in kept_text and "kept 1" in kept_text and "deleted 2" not in kept_text
    assert await mongo_db["wakeups"].count_documents(pending()) == 0
    # One wake-up per conversation and recipient, none per message; the senders' own messages
    # ask for nothing (a send reads the conversation).
    assert await mongo_db["wakeups"].count_documents({}) == 3
    assert await mongo_db["wakeups"].count_documents({"recipient_id": CUSTOMER.id}) == 0


async def test_a_message_event_redelivered_after_its_email_is_not_emailed_again(
    settings: NotificationsSettings, mongo_db: AsyncDatabase, publisher: Broker, mail: MailCatcher
) -> None:
    chat = Conversation(publisher)
    async with running(settings, mongo_db):
        await publish(publisher, agent_registered())
        event = await chat.send("only once")
        await mail.wait_for(AGENT.email)
    # A new process (nothing in memory): the same event again, as after a redelivery.
    async with running(settings, mongo_db):
        await publish(publisher, event)
        await asyncio.sleep(DELAY_S + 1.5)
    assert len(mail.to(AGENT.email)) == 1
    assert await mongo_db["wakeups"].count_documents(pending()) == 0


async def test_a_read_before_the_due_time_cancels_though_its_batch_lingers_past_it(
    settings: NotificationsSettings, mongo_db: AsyncDatabase, publisher: Broker, mail: MailCatcher
) -> None:
    # Due 2 s after the message; batches linger 1 s. The read (at 1.5 s) is applied at about
    # 2.5 s, after the due time: the scheduler waits the linger out before deciding.
    lingering = settings.model_copy(update={"notify_delay_s": 2.0, "event_batch_linger_s": 1.0})
    async with running(lingering, mongo_db):
        await publish(publisher, agent_registered())
        chat = Conversation(publisher)
        await chat.send("read just in time")
        await asyncio.sleep(1.5)
        await chat.read(AGENT.id, 1)
        await asyncio.sleep(3.0)
    assert mail.to(AGENT.email) == []
    assert await mongo_db["wakeups"].count_documents(pending()) == 0


async def test_messages_found_by_a_pending_wake_up_cost_no_write(
    settings: NotificationsSettings, mongo_db: AsyncDatabase, publisher: Broker, mail: MailCatcher
) -> None:
    async with running(settings, mongo_db):
        await publish(publisher, agent_registered())
        chat = Conversation(publisher)
        await chat.send("first")
        for _ in range(100):
            if await mongo_db["wakeups"].count_documents(pending(chat.id)) == 1:
                break
            await asyncio.sleep(0.05)
        # Within the delay: the wake-up already pending finds these; nothing is written.
        for n in range(2, 6):
            await chat.send(f"message {n}")
        await asyncio.sleep(0.5)
        [doc] = await mongo_db["wakeups"].find({"conversation_id": chat.id}).to_list()
        assert doc["seen_seq"] == 1
        [received] = await mail.wait_for(AGENT.email)
    assert received.subject == "5 unread messages from customer@x.test on Workcity Chat"
    assert all(f"message {n}" in received.body("plain") for n in range(2, 6))


async def test_the_conversations_service_away_at_the_due_time_is_asked_again(
    settings: NotificationsSettings, mongo_db: AsyncDatabase, publisher: Broker, mail: MailCatcher
) -> None:
    CHATS.away = True
    try:
        async with running(settings, mongo_db):
            await publish(publisher, agent_registered())
            chat = Conversation(publisher)
            await chat.send("still there")
            for _ in range(100):
                doc = await mongo_db["wakeups"].find_one({"conversation_id": chat.id})
                if doc and doc.get("attempts", 0) >= 1:
                    break
                await asyncio.sleep(0.1)
            assert doc is not None and doc["attempts"] >= 1
            CHATS.away = False  # the first retry comes 5 s later
            [received] = await mail.wait_for(AGENT.email, timeout_s=20)
    finally:
        CHATS.away = False
    assert "still there" in received.body("plain")


async def test_a_message_that_asks_while_its_wake_up_is_handled_gets_a_later_one(
    settings: NotificationsSettings, mongo_db: AsyncDatabase
) -> None:
    from workcity_notifications.adapters.store import NotificationStore
    from workcity_notifications.domain.batch import Wake

    store = NotificationStore(mongo_db, sent_log_ttl=timedelta(days=1))
    now = utcnow().replace(microsecond=0)  # as stored (milliseconds)
    conv = str(ObjectId())
    key = f"{conv}:{AGENT.id}"
    await store.schedule({key: Wake(conv, AGENT.id, now, 1, 1)})
    assert await store.due_keys(now, now, 10) == [key]
    claimed = await store.claim(key, now, timedelta(seconds=60), due_by=now)
    assert claimed is not None and claimed.done_seq == 0 and claimed.seen_seq == 1
    # Claimed: neither listed nor claimed again while the lease holds.
    assert await store.due_keys(now, now, 10) == []
    assert await store.claim(key, now, timedelta(seconds=60), due_by=now) is None
    # Message 2 arrives after the conversations service answered "up to seq 1".
    await store.schedule({key: Wake(conv, AGENT.id, now + timedelta(seconds=5), 2, 2)})
    later = now + timedelta(seconds=600)
    await store.finish(claimed, covered_seq=1, next_due=later)
    doc = await mongo_db["wakeups"].find_one({"_id": key})
    assert doc is not None
    assert (doc["due_at"], doc["done_seq"], doc["claim"]) == (later, 1, None)
    # Without a newer message, the same finish leaves it idle.
    claimed = await store.claim(key, later, timedelta(seconds=60), due_by=later)
    assert claimed is not None and claimed.done_seq == 1 and claimed.seen_seq == 2
    await store.finish(claimed, covered_seq=2, next_due=later)
    doc = await mongo_db["wakeups"].find_one({"_id": key})
    assert doc is not None and doc["due_at"] == IDLE and doc["done_seq"] == 2


async def test_an_email_pending_before_the_upgrade_is_still_sent(
    settings: NotificationsSettings, mongo_db: AsyncDatabase, publisher: Broker, mail: MailCatcher
) -> None:
    chat = Conversation(publisher)
    chat.seq = 4
    chat.stored = {
        seq: (CUSTOMER.id, PendingMessage(f"m{seq}", seq, CUSTOMER.email, f"old {seq}", utcnow()))
        for seq in (3, 4)
    }
    # The previous version's document: the batch's messages, seqs 3 and 4 (1 and 2 were
    # emailed before).
    await mongo_db["pending"].insert_one(
        {
            "_id": f"{chat.id}:{AGENT.id}",
            "conversation_id": chat.id,
            "recipient_id": AGENT.id,
            "due_at": utcnow(),
            "messages": [{"id": f"m{s}", "seq": s} for s in (3, 4)],
        }
    )
    async with running(settings, mongo_db):
        await publish(publisher, agent_registered())
        [received] = await mail.wait_for(AGENT.email)
    assert await mongo_db["pending"].count_documents({}) == 0
    assert "old 3" in received.body("plain") and "old 4" in received.body("plain")
