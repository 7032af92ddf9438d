"""Realtime service settings (environment variables; see the README's configuration table)."""

from __future__ import annotations

from pydantic import Field, model_validator
from workcity_common.settings import ServiceSettings, TokenVerifierSettings


class RealtimeSettings(ServiceSettings):
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

    # Browsers' origins allowed to open a socket: "*" or a comma-separated list. Unset: any
    # origin in development and test, only the gateway's own origin in production.
    cors_origins: str | None = Field(default=None, validation_alias="CORS_ORIGINS")

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
    # Longest message text (characters after trimming) and `clientMessageId` accepted by
    # `sendMessage`: the conversations service's limits, same names, so both refuse alike.
    max_message_length: int = Field(
        default=4000, ge=1, le=100_000, validation_alias="MESSAGE_MAX_CHARS"
    )
    max_client_message_id: int = Field(
        default=128, ge=8, le=1024, validation_alias="CLIENT_MESSAGE_ID_MAX_CHARS"
    )
    max_attachments: int = Field(default=10, ge=0, le=100, validation_alias="MAX_ATTACHMENTS")
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
        if self.presence_ttl_s <= self.presence_heartbeat_s:
            raise ValueError("PRESENCE_TTL_SECONDS must be longer than PRESENCE_HEARTBEAT_SECONDS")
        return self

    @property
    def cors_allowed_origins(self) -> str | list[str] | None:
        """For python-socketio: "*", a list, or None (same origin as the request only)."""
        if self.cors_origins is None or not self.cors_origins.strip():
            return None if self.is_production else "*"
        value = self.cors_origins.strip()
        if value == "*":
            return "*"
        return [origin.strip() for origin in value.split(",") if origin.strip()]


class Settings:
    """Both halves, built once in `create_app`."""

    def __init__(
        self,
        service: RealtimeSettings | None = None,
        tokens: TokenVerifierSettings | None = None,
    ) -> None:
        self.service = service or RealtimeSettings()
        self.tokens = tokens or TokenVerifierSettings()
