"""Fixtures of the notifications service's integration tests: a real SMTP server, the service's
settings on the test's own database, exchange and queues, and a publisher of events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.broker import Broker
from workcity_notifications.settings import NotificationsSettings

from tests.integration.conversations.conftest import delete_rabbit_objects
from tests.integration.notifications.service import DELAY_S
from tests.support.mail import MailCatcher


@pytest.fixture
def mail() -> Iterator[MailCatcher]:
    catcher = MailCatcher().start()
    yield catcher
    catcher.stop()


@pytest.fixture
async def settings(
    mongo_db: AsyncDatabase, rabbit_url: str, unique_name: str, mail: MailCatcher
) -> AsyncIterator[NotificationsSettings]:
    settings = NotificationsSettings(  # type: ignore[call-arg]
        ENVIRONMENT="test",
        MONGO_DB=mongo_db.name,
        AMQP_URL=rabbit_url,
        EVENTS_EXCHANGE=f"{unique_name}.events",
        EVENTS_QUEUE=f"{unique_name}.notifications",
        USERS_QUEUE=f"{unique_name}.users",
        NOTIFY_DELAY_SECONDS=DELAY_S,
        NOTIFY_WINDOW_SECONDS=600,
        NOTIFY_POLL_INTERVAL_SECONDS=0.2,
        EVENT_BATCH_LINGER_SECONDS=0.2,
        SMTP_PORT=mail.port,
        FRONTEND_URL="https://chat.example",
    )
    yield settings
    queues = [settings.events_queue, settings.users_queue]
    await delete_rabbit_objects(
        rabbit_url,
        [*queues, *(q + ".dead" for q in queues)],
        [settings.events_exchange, settings.events_exchange + ".dead"],
    )


@pytest.fixture
async def publisher(settings: NotificationsSettings) -> AsyncIterator[Broker]:
    broker = Broker(settings.amqp_url, settings.events_exchange)
    broker.start()
    await broker.wait_ready(20)
    yield broker
    await broker.close()
