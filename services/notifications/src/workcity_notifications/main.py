"""Composition root: builds the notifications service from its adapters.

`create_app()` is what uvicorn runs (`--factory`); tests pass their own settings, MongoDB client,
broker, mail sender or user source. No public routes: only /healthz, /readyz, /metrics, /docs.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from workcity_common.app import create_service_app
from workcity_common.broker import Broker, InMemoryProcessedEvents, OrderedBatchConsumer
from workcity_common.database import (
    Document,
    install_database_error_handler,
    make_mongo_client,
    ping,
)
from workcity_common.lifespan import service_lifespan
from workcity_common.logging import configure_logging
from workcity_common.user_directory import MongoProcessedEvents, UserDirectoryCopy, UserSource

from workcity_notifications.adapters.conversations import ConversationsSource
from workcity_notifications.adapters.directory import Directory
from workcity_notifications.adapters.smtp import SmtpConfig, SmtpSender
from workcity_notifications.adapters.store import NotificationStore
from workcity_notifications.domain.email import mail_domain
from workcity_notifications.entrypoints.events import (
    SCHEDULE_EVENT_TYPES,
    schedule_handler,
)
from workcity_notifications.entrypoints.scheduler import Scheduler
from workcity_notifications.service_layer.notifier import Notifier, Timing
from workcity_notifications.service_layer.ports import MailSender, MessageSource
from workcity_notifications.settings import NotificationsSettings

log = logging.getLogger(__name__)

DESCRIPTION = """Email notifications of Workcity Chat: a participant who has not read a message
within a delay and is not online gets one email per conversation (messages batched), at most one per
window. Consumes message.*, presence.changed and user.* events; no public routes."""


def timing_from(settings: NotificationsSettings) -> Timing:
    return Timing(
        delay=timedelta(seconds=settings.notify_delay_s),
        window=timedelta(seconds=settings.notify_window_s),
        claim=timedelta(seconds=settings.notify_claim_s),
        retry_max=timedelta(seconds=settings.notify_retry_max_s),
        presence_max_age=timedelta(seconds=settings.presence_max_age_s),
        settle=timedelta(seconds=settings.event_batch_linger_s),
        email_max_messages=settings.notify_email_max_messages,
    )


def conversations_source(
    settings: NotificationsSettings, http_client: httpx.AsyncClient
) -> ConversationsSource:
    token = settings.internal_api_token
    return ConversationsSource(
        http_client,
        settings.conversations_url,
        token.get_secret_value() if token else "",
        settings.conversations_timeout_s,
    )


def smtp_from(settings: NotificationsSettings) -> SmtpConfig:
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        mail_from=settings.mail_from,
        starttls=settings.smtp_starttls,
        tls=settings.smtp_tls,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        timeout_s=settings.smtp_timeout_s,
    )


def create_app(
    settings: NotificationsSettings | None = None,
    *,
    mongo_client: AsyncMongoClient[Document] | None = None,
    broker: Broker | None = None,
    mail_sender: MailSender | None = None,
    user_source: UserSource | None = None,
    message_source: MessageSource | None = None,
) -> FastAPI:
    settings = settings or NotificationsSettings()
    configure_logging("notifications", settings.log_level)
    client = mongo_client or make_mongo_client(settings.mongo_uri, "workcity-notifications")
    db = client[settings.mongo_db]
    broker = broker or Broker(settings.amqp_url, settings.events_exchange)
    http_client = httpx.AsyncClient()

    timing = timing_from(settings)
    store = NotificationStore(db, sent_log_ttl=timing.window + timedelta(days=1))
    directory = Directory(db)
    notifier = Notifier(
        store,
        directory,
        mail_sender or SmtpSender(smtp_from(settings)),
        message_source or conversations_source(settings, http_client),
        frontend_url=settings.frontend_url,
        mail_domain=mail_domain(settings.mail_from),
        timing=timing,
    )
    scheduler = Scheduler(
        notifier, settings.notify_poll_interval_s, stop_grace_s=settings.notify_stop_grace_s
    )
    processed = MongoProcessedEvents(
        db["processed_events"], timedelta(seconds=settings.processed_events_ttl_s)
    )
    schedule_consumer = OrderedBatchConsumer(
        broker,
        queue_name=settings.events_queue,
        event_types=SCHEDULE_EVENT_TYPES,
        batch_handler=schedule_handler(notifier),
        # The schedule's writes are idempotent (see adapters/store.py): a redelivered event
        # changes nothing, so no stored event ids; the memory only skips copies that arrive
        # while the first is being handled.
        processed=InMemoryProcessedEvents(),
        # One replica at a time, in batches: its memory of pending wake-ups then saves the
        # writes of a busy conversation (domain/batch.py).
        max_batch=settings.event_batch_max,
        linger_s=settings.event_batch_linger_s,
        handler_timeout_s=settings.event_handler_timeout_s,
        queue_arguments={"x-single-active-consumer": True},
    )
    users = UserDirectoryCopy(
        broker,
        db,
        directory,
        processed,
        settings,
        queue_name=settings.users_queue,
        http_client=http_client,
        source=user_source,
    )

    async def migrate() -> None:
        moved = await store.migrate()
        if moved:
            log.info("pending emails moved to wake-ups", extra={"count": moved})

    lifespan = service_lifespan(
        prepare=[store.create_indexes, migrate, directory.create_indexes, processed.create_indexes],
        # users last: its readiness check then covers both queues
        start=[schedule_consumer.start, users.start, broker.start, scheduler.start],
        close=[
            scheduler.close,
            schedule_consumer.close,
            users.close,
            broker.close,
            http_client.aclose,
            *([client.close] if mongo_client is None else []),
        ],
        close_timeout_s=settings.shutdown_step_timeout_s,
    )

    app = create_service_app(
        service="notifications",
        title="Workcity Chat — notifications",
        description=DESCRIPTION,
        readiness={"mongodb": lambda: ping(db), "rabbitmq": broker.check, "events": users.check},
        metrics_collectors=[broker.metrics],
        lifespan=lifespan,
    )
    install_database_error_handler(app)
    app.state.settings = settings
    app.state.notifier = notifier
    return app
