"""Settings every service shares, read from environment variables (pydantic-settings).

Each service subclasses `ServiceSettings` (a service that owns a database: `DatabaseSettings`)
with its own fields. Settings are built once in the service's composition root and passed in;
nothing reads the environment at import time.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from workcity_common.message_limits import MessageLimits

# Values that are fine on a laptop and must never reach production.
# The development admin password documented for scripts/dev and docker compose is one of them.
PLACEHOLDER_SECRETS = frozenset(
    {
        "",
        "changeme",
        "change-me",
        "admin123",
        "password",
        "secret",
        "admin-dev-password",
        "workcity-dev-internal-token",
    }
)


class ServiceSettings(BaseSettings):
    # An empty variable counts as unset: docker compose passes `${X:-}` as "" when X is not set.
    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", frozen=True, env_ignore_empty=True
    )

    environment: Literal["development", "test", "production"] = Field(
        default="development", validation_alias="ENVIRONMENT"
    )
    log_level: str = Field(default="INFO", validation_alias="LOG_LEVEL")
    service_name: str = "service"

    amqp_url: str = Field(default="amqp://guest:guest@127.0.0.1:5672/", validation_alias="AMQP_URL")
    events_exchange: str = Field(default="chat.events", validation_alias="EVENTS_EXCHANGE")

    # Each shutdown step (closing a consumer, the broker connection, a client) may take this
    # long; one that hangs is left behind so the process still stops.
    shutdown_step_timeout_s: float = Field(
        default=5.0, gt=0, le=60, validation_alias="SHUTDOWN_STEP_TIMEOUT_SECONDS"
    )
    # Consumers take at most this many unacknowledged events at a time.
    broker_prefetch: int = Field(default=32, ge=1, le=10_000, validation_alias="BROKER_PREFETCH")
    # A handler that runs longer than this is treated as failed (the event is retried once).
    event_handler_timeout_s: float = Field(
        default=30.0, gt=0, validation_alias="EVENT_HANDLER_TIMEOUT_SECONDS"
    )

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @model_validator(mode="after")
    def _production_broker_credentials(self) -> ServiceSettings:
        # RabbitMQ's default guest/guest (or no password at all) is a placeholder secret too.
        url = urlsplit(self.amqp_url)
        if self.is_production and (
            (url.username or "guest") == "guest"
            or (url.password or "").lower() in PLACEHOLDER_SECRETS | {"guest"}
        ):
            raise ValueError(
                "AMQP_URL must carry a real RabbitMQ user and password in production, not guest"
            )
        return self

    def require_real_secret(self, name: str, value: str) -> None:
        """Refuse a placeholder secret outside development and tests."""
        if self.is_production and value.strip().lower() in PLACEHOLDER_SECRETS:
            raise ValueError(f"{name} must be set to a real secret in production")


class DatabaseSettings(ServiceSettings):
    """For services that own a MongoDB database (realtime has none)."""

    mongo_uri: str = Field(
        default="mongodb://127.0.0.1:27017/?retryWrites=false", validation_alias="MONGO_URI"
    )
    mongo_db: str = Field(default="", validation_alias="MONGO_DB")
    # The outbox relay looks for unpublished events at least this often (a write also wakes it).
    outbox_poll_interval_s: float = Field(
        default=1.0, gt=0, validation_alias="OUTBOX_POLL_INTERVAL_SECONDS"
    )

    @model_validator(mode="after")
    def _default_db_name(self) -> DatabaseSettings:
        if not self.mongo_db:
            object.__setattr__(self, "mongo_db", f"workcity_{self.service_name}")
        return self


class MessageLimitSettings(BaseSettings):
    """What one message may carry: the same variables, names and bounds in conversations (which
    enforces them) and realtime (which checks them before the call), so both refuse alike."""

    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", frozen=True, env_ignore_empty=True
    )

    # Longest message text, in characters after trimming.
    message_max_chars: int = Field(
        default=4000, ge=1, le=100_000, validation_alias="MESSAGE_MAX_CHARS"
    )
    # Longest `clientMessageId` a client may attach to a send (the idempotency key).
    client_message_id_max_chars: int = Field(
        default=128, ge=8, le=1024, validation_alias="CLIENT_MESSAGE_ID_MAX_CHARS"
    )
    max_attachments: int = Field(default=10, ge=0, le=100, validation_alias="MAX_ATTACHMENTS")

    def message_limits(self) -> MessageLimits:
        return MessageLimits(
            message_max_chars=self.message_max_chars,
            client_message_id_max_chars=self.client_message_id_max_chars,
            max_attachments=self.max_attachments,
        )


class TokenVerifierSettings(BaseSettings):
    """Where services find the auth service's public keys."""

    model_config = SettingsConfigDict(
        env_file=None, extra="ignore", frozen=True, env_ignore_empty=True
    )

    jwks_url: str = Field(
        default="http://127.0.0.1:8001/api/auth/.well-known/jwks.json", validation_alias="JWKS_URL"
    )
    jwt_issuer: str = Field(default="workcity-auth", validation_alias="JWT_ISSUER")
    jwt_audience: str = Field(default="workcity", validation_alias="JWT_AUDIENCE")
    # Keys are cached this long; an unknown `kid` triggers a refresh sooner (key rotation).
    jwks_cache_seconds: float = Field(default=300.0, gt=0, validation_alias="JWKS_CACHE_SECONDS")
    # An unknown `kid` refreshes the key set at most this often, so bad tokens cannot flood auth.
    jwks_min_refresh_seconds: float = Field(
        default=5.0, ge=0, validation_alias="JWKS_MIN_REFRESH_SECONDS"
    )
    # After a failed fetch, none other before max(1 s, JWKS_MIN_REFRESH_SECONDS), doubling with
    # each failure in a row up to this.
    jwks_max_backoff_seconds: float = Field(
        default=60.0, gt=0, le=3600, validation_alias="JWKS_MAX_BACKOFF_SECONDS"
    )


class UserDirectorySettings(DatabaseSettings):
    """For services that keep a copy of the user directory (workcity_common.user_directory)."""

    # Ids of handled user.* events are remembered this long (redeliveries come within minutes).
    processed_events_ttl_s: int = Field(
        default=14 * 86_400, ge=60, validation_alias="PROCESSED_EVENTS_TTL_SECONDS"
    )
    # One-off copy of the user directory from the auth service, for users who signed up before
    # this service's event queue existed. Off when AUTH_INTERNAL_URL is unset.
    auth_internal_url: str | None = Field(default=None, validation_alias="AUTH_INTERNAL_URL")
    internal_api_token: SecretStr | None = Field(
        default=None, validation_alias="INTERNAL_API_TOKEN"
    )
    user_sync_page_size: int = Field(
        default=500, ge=1, le=5_000, validation_alias="USER_SYNC_PAGE_SIZE"
    )
    # Wait this long between attempts while the auth service cannot answer the copy.
    user_sync_retry_s: float = Field(
        default=5.0, gt=0, le=3_600, validation_alias="USER_SYNC_RETRY_SECONDS"
    )
    # After the one-off copy, the whole directory is compared with auth's this often: a user.*
    # event lost to the dead-letter queue must not leave the copy wrong (a demoted admin) for good.
    user_reconcile_interval_s: float = Field(
        default=3600.0, gt=0, le=7 * 86_400, validation_alias="USER_RECONCILE_INTERVAL_SECONDS"
    )

    @model_validator(mode="after")
    def _real_internal_token(self) -> UserDirectorySettings:
        # The token is used both ways: to call auth, and to answer other services' calls.
        if self.auth_internal_url or self.internal_api_token is not None:
            token = self.internal_api_token.get_secret_value() if self.internal_api_token else ""
            self.require_real_secret("INTERNAL_API_TOKEN", token)
        return self
