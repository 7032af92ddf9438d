"""Composition root: builds the conversations service from its adapters.

`create_app()` is what uvicorn runs (`--factory`); tests pass their own settings, MongoDB client,
broker, token verifier or user source.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from dataclasses import asdict
from datetime import timedelta

import httpx
from fastapi import FastAPI
from pymongo import AsyncMongoClient
from starlette.middleware import Middleware
from workcity_common.app import create_service_app
from workcity_common.body_limit import BodySizeLimit
from workcity_common.broker import Broker
from workcity_common.database import (
    Document,
    command_counters,
    install_database_error_handler,
    make_mongo_client,
    ping,
)
from workcity_common.lifespan import service_lifespan
from workcity_common.logging import configure_logging
from workcity_common.outbox import Outbox, OutboxRelay
from workcity_common.send_batch import SEND_BATCH_PATH, batch_body_max_bytes
from workcity_common.settings import TokenVerifierSettings
from workcity_common.tokens import TokenVerifier
from workcity_common.user_directory import (
    AuthUserSource,
    UserDirectoryCopy,
    UserSource,
    auth_user_source,
)

from workcity_conversations.adapters.attachments import AttachmentStore
from workcity_conversations.adapters.canned_store import CannedStore
from workcity_conversations.adapters.desk_store import DeskStore
from workcity_conversations.adapters.directory import MongoProcessedEvents, UserDirectory
from workcity_conversations.adapters.notes_store import NotesStore
from workcity_conversations.adapters.store import ConversationStore
from workcity_conversations.entrypoints import http
from workcity_conversations.entrypoints.activity_http import activity as activity_routes
from workcity_conversations.entrypoints.canned_http import canned as canned_routes
from workcity_conversations.entrypoints.desk_http import desk as desk_routes
from workcity_conversations.entrypoints.desk_scheduler import DeskScheduler
from workcity_conversations.entrypoints.internal import internal
from workcity_conversations.entrypoints.notes_http import notes as notes_routes
from workcity_conversations.entrypoints.presence import make_presence_consumer
from workcity_conversations.service_layer.activity_service import ActivityService
from workcity_conversations.service_layer.canned_service import CannedLimits, CannedService
from workcity_conversations.service_layer.csat_service import CsatService
from workcity_conversations.service_layer.desk_service import DeskService
from workcity_conversations.service_layer.desk_shared import DeskLimits
from workcity_conversations.service_layer.desk_teams import TeamsService
from workcity_conversations.service_layer.notes_service import NoteLimits, NotesService
from workcity_conversations.service_layer.service import ConversationService, Limits
from workcity_conversations.settings import ConversationsSettings

DESCRIPTION = """Conversations, messages and read state of Workcity Chat. Every message has a
per-conversation `seq`; sends are idempotent with `clientMessageId`; every change is published as
an event (`conversation.*`, `message.*`) through a transactional outbox."""


# An upload's body is the file plus multipart framing (boundaries, part headers, small form
# fields): the body may exceed ATTACHMENT_MAX_BYTES by this much before it is cut off unread; the
# file's own size is checked exactly while it streams.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


log = logging.getLogger(__name__)


def limits_from(settings: ConversationsSettings) -> Limits:
    return Limits(
        **asdict(settings.message_limits()),
        messages_page_default=settings.messages_page_default,
        messages_page_max=settings.messages_page_max,
        conversations_page_default=settings.conversations_page_default,
        conversations_page_max=settings.conversations_page_max,
        attachment_max_bytes=settings.attachment_max_bytes,
        attachment_quota_bytes=settings.attachment_quota_bytes,
        attachment_unattached_ttl_s=settings.attachment_unattached_ttl_s,
        message_created_version=settings.message_created_version,
    )


def desk_limits_from(settings: ConversationsSettings) -> DeskLimits:
    return DeskLimits(
        default_capacity=settings.desk_default_capacity,
        presence_grace_s=settings.desk_presence_grace_seconds,
        inbox_page_default=settings.inbox_page_default,
        inbox_page_max=settings.inbox_page_max,
        max_labels=settings.desk_max_labels,
        max_team_members=settings.desk_max_team_members,
    )


def create_app(
    settings: ConversationsSettings | None = None,
    *,
    mongo_client: AsyncMongoClient[Document] | None = None,
    broker: Broker | None = None,
    token_verifier: TokenVerifier | None = None,
    user_source: UserSource | None = None,
) -> FastAPI:
    settings = settings or ConversationsSettings()
    configure_logging("conversations", settings.log_level)
    client = mongo_client or make_mongo_client(settings.mongo_uri, "workcity-conversations")
    db = client[settings.mongo_db]
    broker = broker or Broker(settings.amqp_url, settings.events_exchange)
    http_client = httpx.AsyncClient()

    outbox = Outbox(db["outbox"])
    relay = OutboxRelay(outbox, broker, poll_interval_s=settings.outbox_poll_interval_s)
    store = ConversationStore(
        db,
        outbox,
        max_queued_sends=settings.send_queue_max,
        commit_timeout_s=settings.send_commit_timeout_seconds,
        set_aside_max_s=settings.send_set_aside_max_seconds,
    )
    files = AttachmentStore(db)
    desk_store = DeskStore(db, outbox)
    notes_store = NotesStore(db, outbox)
    canned_store = CannedStore(db)
    source = user_source or auth_user_source(settings, http_client)
    directory = UserDirectory(db, lookup=source if isinstance(source, AuthUserSource) else None)
    processed = MongoProcessedEvents(
        db["processed_events"], timedelta(seconds=settings.processed_events_ttl_s)
    )
    users = UserDirectoryCopy(
        broker,
        db,
        directory,
        processed,
        settings,
        queue_name=settings.users_queue,
        http_client=http_client,
        source=source,
    )

    async def sweep_attachments() -> None:
        """Uploads no message took expire (every replica sweeps; a delete is idempotent)."""
        while True:
            await asyncio.sleep(settings.attachment_sweep_interval_s)
            try:
                await app.state.service.files.expire_unattached_files()
            except Exception:
                log.exception("attachment sweep failed; trying again later")

    lifespan = service_lifespan(
        prepare=[
            store.create_indexes,
            files.create_indexes,
            directory.create_indexes,
            outbox.create_indexes,
            processed.create_indexes,
            desk_store.create_indexes,
            desk_store.ensure_default_team,
            notes_store.create_indexes,
            canned_store.create_indexes,
        ],
        # presence and scheduler are built below, once the app exists: looked up when run.
        start=[
            users.start,
            lambda: presence.start(),
            broker.start,
            relay.start,
            lambda: scheduler.start(),
        ],
        tasks={"attachment-sweep": sweep_attachments},
        close=[
            lambda: scheduler.close(),
            users.close,
            relay.close,
            broker.close,
            http_client.aclose,
            *([client.close] if mongo_client is None else []),
        ],
        close_timeout_s=settings.shutdown_step_timeout_s,
    )

    app = create_service_app(
        service="conversations",
        title="Workcity Chat — conversations",
        description=DESCRIPTION,
        readiness={"mongodb": lambda: ping(db)},
        degraded_by={"rabbitmq": broker.check, "user_events": users.check},
        lifespan=lifespan,
        metrics_collectors=[*command_counters(client), broker.metrics, relay.metrics],
    )
    install_database_error_handler(app)
    # Innermost (appended, not `add_middleware`, which wraps everything): a refused body still
    # gets a request id, an access-log line and a metric from the common middleware.
    upload_limit = (
        "POST",
        re.compile(http.UPLOAD_PATH),
        settings.attachment_max_bytes + MULTIPART_OVERHEAD_BYTES,
    )
    # A batch of sends may hold INTERNAL_SEND_BATCH_MAX of them (each item is checked against
    # MAX_REQUEST_BODY_BYTES as its own request would be).
    batch_limit = (
        "POST",
        re.compile(re.escape(SEND_BATCH_PATH)),
        batch_body_max_bytes(settings.internal_send_batch_max),
    )
    app.user_middleware.append(
        Middleware(
            BodySizeLimit,
            max_bytes=settings.max_request_body_bytes,
            overrides=[upload_limit, batch_limit],
        )
    )
    app.state.settings = settings

    async def team_names(ids: Iterable[str]) -> dict[str, str]:
        return {t.id: t.name for t in (await desk_store.teams_by_id(ids)).values()}

    async def default_team() -> str | None:
        return (await desk_store.default_team()).id

    async def forget_desk_records(conversation_id: str) -> None:
        await notes_store.delete_of_conversation(conversation_id)
        await desk_store.activity.delete_of_conversation(conversation_id)

    service = ConversationService(
        store,
        directory,
        files,
        limits_from(settings),
        team_names=team_names,
        default_team=default_team,
        teams_of=desk_store.team_ids_of,
        forget_desk_records=forget_desk_records,
        message_sent=lambda *args: app.state.desk.assigner.message_sent(*args),
    )
    app.state.service = service
    app.state.store = store
    app.state.directory = directory
    app.state.notes = notes = NotesService(
        notes_store,
        desk_store,
        directory,
        NoteLimits(
            max_chars=settings.desk_note_max_chars,
            page_default=settings.desk_list_page_default,
            page_max=settings.desk_list_page_max,
        ),
    )
    app.state.canned = CannedService(
        canned_store,
        desk_store,
        CannedLimits(
            text_max_chars=settings.canned_text_max_chars,
            short_code_max_chars=settings.canned_short_code_max_chars,
            max_per_scope=settings.canned_max_per_scope,
            search_max=settings.canned_search_max,
        ),
    )
    app.state.activity = ActivityService(
        desk_store,
        desk_store.activity,
        directory,
        service,
        page_default=settings.desk_list_page_default,
        page_max=settings.desk_list_page_max,
    )
    app.state.csat = CsatService(
        desk_store, directory, service, comment_max_chars=settings.csat_comment_max_chars
    )
    app.state.desk = desk = DeskService(
        desk_store, directory, service, desk_limits_from(settings), notes=notes
    )
    scheduler = DeskScheduler(
        desk.assigner, settings.desk_sweep_interval_seconds, settings.desk_snooze_poll_seconds
    )
    app.state.teams = teams = TeamsService(
        desk_store, directory, desk_limits_from(settings), desk.assigner.drain_soon
    )
    presence = make_presence_consumer(
        broker,
        teams,
        processed,
        queue_name=settings.presence_queue,
        prefetch=settings.broker_prefetch,
        handler_timeout_s=settings.event_handler_timeout_s,
    )
    app.state.token_verifier = token_verifier or TokenVerifier.from_settings(
        TokenVerifierSettings(), http_client
    )
    app.include_router(http.conversations)
    app.include_router(http.messages)
    app.include_router(http.attachments)
    app.include_router(desk_routes)
    app.include_router(notes_routes)
    app.include_router(canned_routes)
    app.include_router(activity_routes)
    app.include_router(internal)
    return app
