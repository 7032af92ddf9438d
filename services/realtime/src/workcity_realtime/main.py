"""Composition root: builds the realtime service from its adapters.

`create_app()` is what uvicorn runs (`uvicorn workcity_realtime.main:create_app --factory
--ws websockets`): a python-socketio ASGI app at `/socket.io` in front of a small FastAPI app
for `/healthz`, `/readyz`, `/metrics` and `/docs`. Tests pass their own settings or adapters.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import asdict

import httpx
import socketio
from fastapi import FastAPI
from workcity_common.app import create_service_app
from workcity_common.auth_users import AuthUserSource
from workcity_common.broker import Broker, BrokerUnavailable
from workcity_common.lifespan import service_lifespan
from workcity_common.logging import configure_logging
from workcity_common.tokens import TokenVerifier

from workcity_realtime.adapters.cluster import ClusterBus
from workcity_realtime.adapters.conversations import (
    ConversationsPort,
    HttpConversations,
    make_http_client,
)
from workcity_realtime.adapters.engine import ChatServer
from workcity_realtime.adapters.outbound import BufferedCluster, OutgoingBuffer, buffered_events
from workcity_realtime.adapters.sockets import LocalManager, OrjsonModule, SocketIOEmitter
from workcity_realtime.domain.payloads import PayloadLimits
from workcity_realtime.entrypoints import sockets
from workcity_realtime.entrypoints.events import make_consumer
from workcity_realtime.service_layer.hub import Hub, HubLimits
from workcity_realtime.settings import Settings

log = logging.getLogger(__name__)

DESCRIPTION = """Socket.IO (protocol v4) at `/socket.io`: connect with `auth: {token}`.

Client events (each answers its ack with a result or `{error, code}`): `joinConversation`,
`leaveConversation`, `sendMessage {conversationId, text, clientMessageId?, attachments?}`,
`markRead {conversationId, seq?}`, `sync {conversationId, afterSeq, limit?}`,
`typing` / `stopTyping {conversationId}`, `authenticate {token}` (swap in a fresh token).

Server events: `newMessage`, `messageUpdated`, `messageDeleted`, `messageRead` (to the
conversation's room), `messageNotification`, `conversationCreated`, `conversationDeleted` (to the
participants), `typing`, `userTyping`, `stopTyping`, `userStopTyping`, `presence` (to contacts),
`onlineUsers` (the user and their online contacts).
This page documents the HTTP side: health, readiness and metrics."""


class RealtimeApp(socketio.ASGIApp):
    """The ASGI app, keeping a handle on its hub (tests and debugging look at it)."""

    def __init__(self, server: socketio.AsyncServer, api: FastAPI, hub: Hub) -> None:
        super().__init__(server, other_asgi_app=api, socketio_path="socket.io")
        self.hub = hub


DISABLED_LOAD_PAGE = 1000  # users per page of auth's listing at start-up


def default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def create_app(
    settings: Settings | None = None,
    *,
    broker: Broker | None = None,
    conversations: ConversationsPort | None = None,
    verifier: TokenVerifier | None = None,
) -> RealtimeApp:
    settings = settings or Settings()
    config = settings.realtime
    configure_logging("realtime", config.log_level)
    replica_id = config.replica_id or default_replica_id()

    http = make_http_client(
        config.conversations_url,
        config.conversations_timeout_s,
        config.conversations_max_connections,
    )
    jwks_http = httpx.AsyncClient(timeout=5.0)
    verifier = verifier or TokenVerifier.from_settings(settings.tokens, jwks_http)
    broker = broker or Broker(config.amqp_url, config.events_exchange)

    server = ChatServer(
        async_mode="asgi",
        client_manager=LocalManager(config.max_queued_bytes),
        connect_deadline_s=config.connect_deadline_s,
        sid_prefix=config.sid_prefix,
        cors_allowed_origins=sockets.origin_check(config.allowed_origins),
        ping_interval=config.ping_interval_s,
        ping_timeout=config.ping_timeout_s,
        max_http_buffer_size=config.max_payload_bytes,
        logger=False,
        engineio_logger=False,
        json=OrjsonModule,
    )
    cluster = ClusterBus(broker, config.cluster_exchange, replica_id)
    # What the replica publishes itself never makes a socket handler wait for RabbitMQ.
    outgoing = OutgoingBuffer(config.max_outgoing)
    internal_token = (
        config.internal_api_token.get_secret_value() if config.internal_api_token else None
    )
    http_conversations = HttpConversations(
        http,
        internal_token=internal_token,
        send_batch_max=config.send_batch_max,
        send_calls_max=config.send_calls_max,
    )
    hub = Hub(
        SocketIOEmitter(server),
        conversations or http_conversations,
        BufferedCluster(cluster, outgoing),
        HubLimits(
            payload=PayloadLimits(
                **asdict(config.message_limits()), sync_max_limit=config.sync_max_limit
            ),
            membership_cache_s=config.membership_cache_s,
            max_pending_per_socket=config.max_pending_per_socket,
            max_pending_per_replica=config.max_pending_per_replica,
            presence_ttl_s=config.presence_ttl_s,
            disabled_user_memory_s=config.disabled_user_memory_s,
            typing_throttle_s=config.typing_throttle_s,
            max_sockets_per_user=config.max_sockets_per_user,
            max_pending_per_user=config.max_pending_per_user,
            max_calls_per_socket=config.max_calls_per_socket,
            max_calls_per_user=config.max_calls_per_user,
        ),
        publish_event=buffered_events(broker.publish, outgoing),
    )
    sockets.register(server, hub, verifier)
    consumer = make_consumer(
        broker,
        hub,
        queue_name=f"{config.events_queue}.{replica_id}",
        queue_expires_s=config.events_queue_expires_s,
        prefetch=config.broker_prefetch,
        handler_timeout_s=config.event_handler_timeout_s,
        ack_every=config.events_ack_every,
        ack_delay_s=config.events_ack_delay_s,
    )

    async def heartbeats() -> None:
        while True:
            await asyncio.sleep(config.presence_heartbeat_s)
            try:
                await hub.heartbeat()
            except Exception:
                log.exception("presence heartbeat failed")

    async def remember_disabled_users() -> None:
        """Disabled users are otherwise known only from events this replica heard: read them
        from auth's listing once, so a replica started after a disable refuses the user's
        still-valid tokens too (retried until auth answers)."""
        if not config.auth_internal_url:
            return
        source = AuthUserSource(jwks_http, config.auth_internal_url, internal_token or "")
        while True:
            try:
                after, found = None, 0
                while True:
                    page = await source.page(after, DISABLED_LOAD_PAGE)
                    for user, _version in page.users:
                        if user.disabled:
                            await hub.user_access_changed(user.id, disabled=True)
                            found += 1
                    if page.next is None or not page.users:
                        break
                    after = page.next
                log.info("disabled users loaded", extra={"disabled": found})
                return
            except Exception as exc:
                log.warning(
                    "could not load the disabled users; retrying", extra={"error": repr(exc)}
                )
                await asyncio.sleep(5)

    async def cluster_ready() -> None:
        if not cluster.ready:
            raise BrokerUnavailable("cluster bus not subscribed")

    def wire_broker() -> None:
        cluster.start(hub.handle_cluster)
        consumer.start()
        broker.on_ready(hub.hello)  # after the cluster queue exists, so the answers reach us
        # Events published while this replica was cut off wait in its queue; a queue that
        # expired meanwhile lost them, so every room here is caught up from the store too.
        broker.on_reconnect(hub.delivery.catch_up)
        broker.start()
        log.info("realtime replica started", extra={"replica": replica_id})

    async def flush_outgoing() -> None:
        await outgoing.flush(timeout_s=2.0)  # the `bye` and last presence changes

    lifespan = service_lifespan(
        start=[outgoing.start, wire_broker],
        tasks={"presence-heartbeats": heartbeats, "disabled-users": remember_disabled_users},
        close=[
            hub.goodbye,
            flush_outgoing,
            outgoing.close,
            hub.close,
            consumer.flush_acks,
            broker.close,
            http_conversations.aclose,
            http.aclose,
            jwks_http.aclose,
        ],
        close_timeout_s=config.shutdown_step_timeout_s,
    )

    api = create_service_app(
        service="realtime",
        title="Workcity Chat realtime",
        description=DESCRIPTION,
        readiness={},  # it serves sockets without the broker; only fan-out waits for it
        degraded_by={"broker": broker.check, "cluster": cluster_ready},
        metrics_collectors=[broker.metrics],
        lifespan=lifespan,
    )
    return RealtimeApp(server, api, hub)
