"""Realtime service settings (environment variables; see the README's configuration table)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from workcity_common import cors
from workcity_common.settings import (
    MessageLimitSettings,
    ServiceSettings,
    TokenVerifierSettings,
)


class RealtimeSettings(ServiceSettings, MessageLimitSettings):
    """The message limits `sendMessage` checks come with `MessageLimitSettings`, the
    conversations service's own (same variables, names and bounds), so both refuse alike."""

    service_name: str = "realtime"

    # Where `sendMessage`, `markRead`, `sync` and membership checks go (internal base URL).
    conversations_url: str = Field(
        default="http://127.0.0.1:8002", validation_alias="CONVERSATIONS_URL"
    )
    conversations_timeout_s: float = Field(
        default=10.0, gt=0, le=120, validation_alias="CONVERSATIONS_TIMEOUT_SECONDS"
    )
    # One keep-alive pool per replica for every call to the conversations service.
    conversations_max_connections: int = Field(
        default=100, ge=1, le=10_000, validation_alias="CONVERSATIONS_MAX_CONNECTIONS"
    )

    # Browsers' origins allowed to open a socket, by the gateway's rule (workcity_common.cors):
    # CORS_ORIGINS ("*" or a comma-separated list), else FRONTEND_URL's origin in production,
    # else any origin in development and test. The page's own origin is always allowed.
    cors_origins: str | None = Field(default=None, validation_alias="CORS_ORIGINS")
    frontend_url: str | None = Field(default=None, validation_alias="FRONTEND_URL")

    # Engine.IO heartbeat: the server pings every interval and drops a client that has not
    # answered within the timeout.
    ping_interval_s: float = Field(
        default=25.0, gt=0, validation_alias="SOCKET_PING_INTERVAL_SECONDS"
    )
    ping_timeout_s: float = Field(
        default=20.0, gt=0, validation_alias="SOCKET_PING_TIMEOUT_SECONDS"
    )
    # Largest Engine.IO packet accepted; a bigger one closes the connection (protocol rule).
    max_payload_bytes: int = Field(
        default=1_000_000, ge=1024, le=100_000_000, validation_alias="SOCKET_MAX_PAYLOAD_BYTES"
    )
    # Sends and read marks of one socket waiting for their turn; beyond this the socket is told
    # to slow down instead of queueing without bound.
    max_pending_per_socket: int = Field(
        default=100, ge=1, le=10_000, validation_alias="SOCKET_MAX_PENDING_COMMANDS"
    )
    # Sends and read marks waiting or running on this whole replica; beyond, a new one is
    # answered `{error, code: "busy"}` at once (the client retries with its clientMessageId).
    max_pending_per_replica: int = Field(
        default=200, ge=1, le=100_000, validation_alias="REPLICA_MAX_PENDING_COMMANDS"
    )
    # An Engine.IO session that has not completed the Socket.IO connect (authenticated) this long
    # after opening is ended; without it a session answering pings lives for ever.
    connect_deadline_s: float = Field(
        default=10.0, gt=0, le=600, validation_alias="SOCKET_CONNECT_DEADLINE_SECONDS"
    )
    # Engine.IO session ids start with "<prefix>." so the gateway routes a long-polling
    # session's requests to the replica holding it (gateway/README.md); empty: plain ids.
    sid_prefix: str = Field(
        default="", pattern=r"^[A-Za-z0-9]{0,16}$", validation_alias="SOCKET_SID_PREFIX"
    )
    # Sockets one user may hold open on one replica; the next connect is refused
    # (`connect_error` "Too many connections", code `too_many_sockets`).
    max_sockets_per_user: int = Field(
        default=20, ge=1, le=10_000, validation_alias="SOCKET_MAX_PER_USER"
    )
    # Bytes of packets waiting to be written to one socket (plus a little per packet); a socket
    # further behind is disconnected instead of queueing without bound: it catches up by `seq`.
    max_queued_bytes: int = Field(
        default=1_000_000, ge=10_000, le=1_000_000_000, validation_alias="SOCKET_MAX_QUEUED_BYTES"
    )
    # The replica's own messages to RabbitMQ (typing and presence between replicas,
    # `presence.changed`) waiting to be published; beyond, while the broker stalls, new ones are
    # dropped (all best effort: the next heartbeat repairs presence).
    max_outgoing: int = Field(
        default=1000, ge=10, le=1_000_000, validation_alias="REPLICA_MAX_OUTGOING_MESSAGES"
    )
    # Sends, read marks and joins of all one user's sockets waiting or running: one user's burst
    # is refused as theirs (`too_many_pending`) before it fills REPLICA_MAX_PENDING_COMMANDS.
    max_pending_per_user: int = Field(
        default=50, ge=1, le=100_000, validation_alias="USER_MAX_PENDING_COMMANDS"
    )
    # Calls to the conversations service of `sync`, joins and typing's membership checks running
    # at once per socket and per user; beyond, `too_many_pending` at once. Together with the
    # chained sends they keep one user's share of CONVERSATIONS_MAX_CONNECTIONS small.
    max_calls_per_socket: int = Field(
        default=4, ge=1, le=1000, validation_alias="SOCKET_MAX_CONCURRENT_CALLS"
    )
    max_calls_per_user: int = Field(
        default=10, ge=1, le=10_000, validation_alias="USER_MAX_CONCURRENT_CALLS"
    )
    # While a call with sends is in flight to the conversations service, the sends that arrive
    # wait and go together in the next call, at most this many (with INTERNAL_API_TOKEN; at most
    # the conversations service's INTERNAL_SEND_BATCH_MAX). 0: every send its own call.
    send_batch_max: int = Field(default=64, ge=0, le=1000, validation_alias="SEND_BATCH_MAX")
    # Calls with sends in flight at once: a send goes alone while fewer are, and waits for the
    # next batch once this many are.
    send_calls_max: int = Field(default=8, ge=1, le=1000, validation_alias="SEND_CALLS_MAX")
    # Read by uvicorn itself (`--ws-per-message-deflate` from the environment) as it starts the
    # server, not by the app; declared so the deployment files set only variables a setting
    # names. The image, compose, Kubernetes and scripts/dev set false (README).
    ws_per_message_deflate: bool = Field(
        default=False, validation_alias="UVICORN_WS_PER_MESSAGE_DEFLATE"
    )
    # A granted `joinConversation` is remembered this long per user and conversation.
    membership_cache_s: float = Field(
        default=30.0, ge=0, le=3600, validation_alias="MEMBERSHIP_CACHE_SECONDS"
    )
    # A socket's repeated `typing` for one conversation is passed on at most once per this many
    # seconds (0: every one); `stopTyping` always goes through.
    typing_throttle_s: float = Field(
        default=1.0, ge=0, le=60, validation_alias="TYPING_THROTTLE_SECONDS"
    )
    sync_max_limit: int = Field(default=200, ge=1, le=1000, validation_alias="SYNC_MAX_LIMIT")

    # RabbitMQ names. Unset, they are `realtime.cluster` and `realtime.events` with the default
    # EVENTS_EXCHANGE, and carry the exchange's name otherwise, so a stack isolated by its own
    # EVENTS_EXCHANGE is isolated here too.
    # Presence and control messages between replicas (a fanout exchange, one queue per replica).
    cluster_exchange: str = Field(default="", validation_alias="CLUSTER_EXCHANGE")
    # Each replica's own queue of domain events is named `<EVENTS_QUEUE>.<REPLICA_ID>`.
    events_queue: str = Field(default="", validation_alias="EVENTS_QUEUE")
    # A replica's queue outlives a broker restart or a lost connection (its events wait there)
    # and is deleted once unused this long (the replica is gone).
    events_queue_expires_s: float = Field(
        default=300.0, ge=10, le=86_400, validation_alias="EVENTS_QUEUE_EXPIRES_SECONDS"
    )
    # A replica acks its handled events together: every EVENTS_ACK_EVERY (kept below
    # BROKER_PREFETCH) or this long after the first unacked one. A copy redelivered after a lost
    # connection is skipped by event id; 1 acks each event alone.
    events_ack_every: int = Field(default=16, ge=1, le=1000, validation_alias="EVENTS_ACK_EVERY")
    events_ack_delay_s: float = Field(
        default=0.05, gt=0, le=5, validation_alias="EVENTS_ACK_DELAY_SECONDS"
    )
    # Each replica announces its online users this often; a replica not heard from for
    # PRESENCE_TTL_SECONDS is presumed dead and its users go offline.
    presence_heartbeat_s: float = Field(
        default=5.0, gt=0, le=300, validation_alias="PRESENCE_HEARTBEAT_SECONDS"
    )
    presence_ttl_s: float = Field(
        default=15.0, gt=0, le=3600, validation_alias="PRESENCE_TTL_SECONDS"
    )
    # A disabled user's still-valid access tokens are refused at connect this long (at least
    # the access-token lifetime).
    disabled_user_memory_s: float = Field(
        default=3600.0, gt=0, validation_alias="DISABLED_USER_MEMORY_SECONDS"
    )
    # The auth service's access-token lifetime (the same variable): a disabled user's token must
    # not outlive the memory of the disable, so a longer lifetime is refused at start-up.
    access_token_ttl_s: int = Field(default=900, ge=1, validation_alias="ACCESS_TOKEN_TTL_SECONDS")
    # Auth's internal listing: a replica reads the disabled users from it at start-up, so one
    # started after a disable refuses the user's still-valid tokens too. Unset: off.
    auth_internal_url: str | None = Field(default=None, validation_alias="AUTH_INTERNAL_URL")
    internal_api_token: SecretStr | None = Field(
        default=None, validation_alias="INTERNAL_API_TOKEN"
    )
    # A name for this replica in logs and presence messages (defaults to host:pid).
    replica_id: str = Field(default="", validation_alias="REPLICA_ID")

    @model_validator(mode="after")
    def _check(self) -> RealtimeSettings:
        suffix = "" if self.events_exchange == "chat.events" else f"@{self.events_exchange}"
        for name, base in (
            ("cluster_exchange", "realtime.cluster"),
            ("events_queue", "realtime.events"),
        ):
            if not getattr(self, name):
                object.__setattr__(self, name, base + suffix)
        _ = self.allowed_origins  # a malformed origin stops the start, not the first browser
        if self.presence_ttl_s <= self.presence_heartbeat_s:
            raise ValueError("PRESENCE_TTL_SECONDS must be longer than PRESENCE_HEARTBEAT_SECONDS")
        if self.auth_internal_url or self.internal_api_token is not None:
            token = self.internal_api_token.get_secret_value() if self.internal_api_token else ""
            self.require_real_secret("INTERNAL_API_TOKEN", token)
        if self.access_token_ttl_s > self.disabled_user_memory_s:
            raise ValueError(
                "ACCESS_TOKEN_TTL_SECONDS must not exceed DISABLED_USER_MEMORY_SECONDS: a "
                "disabled user's tokens would be accepted again once the replica forgot them"
            )
        return self

    @property
    def allowed_origins(self) -> frozenset[str] | None:
        """Origins allowed besides the page's own; None: any."""
        return cors.allowed_origins(
            cors_origins=self.cors_origins,
            frontend_url=self.frontend_url,
            environment=self.environment,
        )


class Settings:
    """Both halves, built once in `create_app`: the service's own environment and where tokens'
    keys come from."""

    def __init__(
        self,
        realtime: RealtimeSettings | None = None,
        tokens: TokenVerifierSettings | None = None,
    ) -> None:
        self.realtime = realtime or RealtimeSettings()
        self.tokens = tokens or TokenVerifierSettings()
