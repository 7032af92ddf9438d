"""The notifications service under test (real composition root) and the test's side of it: its
own conversations answering the unread question (`Chats`), events published on the test's own
exchange."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.broker import Broker
from workcity_common.events import (
    Event,
    MessageCreated,
    MessageData,
    MessageDeleted,
    MessageDeletedData,
    MessageEventData,
    MessageRead,
    MessageReadData,
    PresenceChanged,
    PresenceData,
    UserData,
    UserRef,
    UserRegistered,
    utcnow,
)
from workcity_notifications.adapters.store import IDLE
from workcity_notifications.domain.model import Unread
from workcity_notifications.domain.rules import PendingMessage
from workcity_notifications.main import create_app
from workcity_notifications.service_layer.ports import MailSender
from workcity_notifications.settings import NotificationsSettings

from tests.integration.conversations.conftest import wait_for_consumer

DELAY_S = 1.0

CUSTOMER = UserRef(id=str(ObjectId()), email="customer@x.test", role="customer")
AGENT = UserData(id=str(ObjectId()), email="agent@x.test", role="agent")


class Chats:
    """The conversations the test made, answering as the conversations service's internal
    unread route: others' messages after the reader's position and `after_seq`, none deleted."""

    def __init__(self) -> None:
        self.by_id: dict[str, Conversation] = {}
        self.away = False
        self.asked = 0

    async def unread(
        self, conversation_id: str, user_id: str, after_seq: int, limit: int
    ) -> Unread | None:
        self.asked += 1
        if self.away:
            raise ConnectionError("conversations service away")
        chat = self.by_id.get(conversation_id)
        if chat is None:
            return None
        start = max(after_seq, chat.reads.get(user_id, 0))
        unread = [
            m
            for seq, (sender, m) in sorted(chat.stored.items())
            if seq > start and sender != user_id
        ]
        return Unread(last_seq=chat.seq, count=len(unread), messages=unread[:limit])


CHATS = Chats()


@asynccontextmanager
async def running(
    settings: NotificationsSettings, mongo_db: AsyncDatabase, mail_sender: MailSender | None = None
) -> AsyncIterator[None]:
    app = create_app(
        settings, mongo_client=mongo_db.client, message_source=CHATS, mail_sender=mail_sender
    )
    async with app.router.lifespan_context(app):
        await wait_for_consumer(settings.amqp_url, settings.events_queue)
        await wait_for_consumer(settings.amqp_url, settings.users_queue)
        yield


class Conversation:
    def __init__(self, publisher: Broker) -> None:
        self.id = str(ObjectId())
        self.seq = 0
        self.message_ids: list[str] = []
        # seq -> (sender id, message) while not deleted; user id -> read position
        self.stored: dict[int, tuple[str, PendingMessage]] = {}
        self.reads: dict[str, int] = {}
        self._publisher = publisher
        CHATS.by_id[self.id] = self

    async def send(self, text: str, sender: UserRef = CUSTOMER) -> MessageCreated:
        self.seq += 1
        now = utcnow()
        event = MessageCreated(
            producer="conversations",
            data=MessageEventData(
                message=MessageData(
                    id=str(ObjectId()),
                    conversation_id=self.id,
                    seq=self.seq,
                    sender=sender,
                    text=text,
                    created_at=now,
                    updated_at=now,
                ),
                participant_ids=[CUSTOMER.id, AGENT.id],
            ),
        )
        self.message_ids.append(event.data.message.id)
        self.stored[self.seq] = (
            sender.id,
            PendingMessage(event.data.message.id, self.seq, sender.email, text, now),
        )
        self.reads[sender.id] = self.seq  # a send reads the conversation up to it
        await self._publisher.publish(event)
        return event

    async def read(self, user_id: str, seq: int) -> None:
        self.reads[user_id] = max(self.reads.get(user_id, 0), seq)
        await self._publisher.publish(
            MessageRead(
                producer="conversations",
                data=MessageReadData(
                    conversation_id=self.id,
                    user_id=user_id,
                    seq=seq,
                    read_at=utcnow(),
                    participant_ids=[CUSTOMER.id, AGENT.id],
                ),
            )
        )

    async def delete(self, index: int) -> None:
        self.stored.pop(index + 1, None)
        await self._publisher.publish(
            MessageDeleted(
                producer="conversations",
                data=MessageDeletedData(
                    conversation_id=self.id,
                    message_id=self.message_ids[index],
                    seq=index + 1,
                    participant_ids=[CUSTOMER.id, AGENT.id],
                ),
            )
        )


async def publish(broker: Broker, *events: Event) -> None:
    for event in events:
        await broker.publish(event)


def agent_registered() -> UserRegistered:
    return UserRegistered(producer="auth", data=AGENT)


def presence(online: bool) -> PresenceChanged:
    return PresenceChanged(
        producer="realtime",
        data=PresenceData(user_id=AGENT.id, online=online, last_seen=None if online else utcnow()),
    )


def pending(conversation_id: str | None = None) -> dict[str, object]:
    """Wake-ups with an email pending (the others are idle)."""
    query: dict[str, object] = {"due_at": {"$lt": IDLE}}
    if conversation_id is not None:
        query["conversation_id"] = conversation_id
    return query


async def quiet_period(mongo_db: AsyncDatabase, conversation_id: str) -> None:
    """Past the delay, and the scheduler has nothing left for the conversation."""
    await asyncio.sleep(DELAY_S + 1.0)
    for _ in range(50):
        if await mongo_db["wakeups"].count_documents(pending(conversation_id)) == 0:
            return
        await asyncio.sleep(0.1)
