"""Notifications service settings (environment variables; see the README's configuration table)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from workcity_common.settings import UserDirectorySettings


class NotificationsSettings(UserDirectorySettings):
    service_name: str = "notifications"

    # A message unread this long (and its recipient offline) is emailed; later messages of the
    # same conversation within the delay join the same email.
    notify_delay_s: float = Field(
        default=120.0, gt=0, le=86_400, validation_alias="NOTIFY_DELAY_SECONDS"
    )
    # At most one email per conversation and recipient within this window.
    notify_window_s: float = Field(
        default=600.0, ge=0, le=7 * 86_400, validation_alias="NOTIFY_WINDOW_SECONDS"
    )
    # The scheduler looks for due emails this often.
    notify_poll_interval_s: float = Field(
        default=1.0, gt=0, le=60, validation_alias="NOTIFY_POLL_INTERVAL_SECONDS"
    )
    # A replica that claimed an email owns it this long; if it dies, another takes it over after.
    notify_claim_s: float = Field(
        default=120.0, gt=0, le=3_600, validation_alias="NOTIFY_CLAIM_SECONDS"
    )
    # Failed sends are retried with exponential backoff up to this wait.
    notify_retry_max_s: float = Field(
        default=600.0, gt=0, le=86_400, validation_alias="NOTIFY_RETRY_MAX_SECONDS"
    )
    # Events of the schedule queue handled per batch (also its prefetch): a batch costs a few
    # bulk writes whatever its size, and writes to the same documents coalesce within it.
    event_batch_max: int = Field(default=1000, ge=1, le=10_000, validation_alias="EVENT_BATCH_MAX")
    # How long a batch waits for more events after its first (emails wait minutes anyway; a
    # due email waits this much longer, so reads made before its time are applied first).
    event_batch_linger_s: float = Field(
        default=5.0, ge=0, le=60, validation_alias="EVENT_BATCH_LINGER_SECONDS"
    )
    # "Online" older than this is not believed (a realtime cluster that died without saying so).
    presence_max_age_s: float = Field(
        default=12 * 3_600, gt=0, validation_alias="PRESENCE_MAX_AGE_SECONDS"
    )
    # The conversations service, asked what a recipient has not read when their email is due
    # (its internal route; INTERNAL_API_TOKEN).
    conversations_url: str = Field(
        default="http://127.0.0.1:8002", min_length=1, validation_alias="CONVERSATIONS_URL"
    )
    conversations_timeout_s: float = Field(
        default=10.0, gt=0, le=120, validation_alias="CONVERSATIONS_TIMEOUT_SECONDS"
    )
    # Most messages shown in one email (the oldest unread; the subject counts them all).
    notify_email_max_messages: int = Field(
        default=50, ge=1, le=1_000, validation_alias="NOTIFY_EMAIL_MAX_MESSAGES"
    )
    # Links in emails: {FRONTEND_URL}/chat/{conversationId}.
    frontend_url: str = Field(default="http://127.0.0.1:8080", validation_alias="FRONTEND_URL")

    smtp_host: str = Field(default="127.0.0.1", min_length=1, validation_alias="SMTP_HOST")
    smtp_port: int = Field(default=1025, ge=1, le=65_535, validation_alias="SMTP_PORT")
    # STARTTLS after connecting (port 587), or TLS from the first byte (port 465).
    smtp_starttls: bool = Field(default=False, validation_alias="SMTP_STARTTLS")
    smtp_tls: bool = Field(default=False, validation_alias="SMTP_TLS")
    smtp_username: str | None = Field(default=None, validation_alias="SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(default=None, validation_alias="SMTP_PASSWORD")
    smtp_timeout_s: float = Field(
        default=30.0, gt=0, le=600, validation_alias="SMTP_TIMEOUT_SECONDS"
    )
    # At shutdown the email being sent gets this long to finish (one cut off is sent again, as
    # the same message, by the next claim).
    notify_stop_grace_s: float = Field(
        default=2.0, gt=0, le=30, validation_alias="NOTIFY_STOP_GRACE_SECONDS"
    )
    mail_from: str = Field(
        default="Workcity Chat <no-reply@workcity.example>",
        min_length=3,
        validation_alias="MAIL_FROM",
    )

    # Durable queues: message.* and presence.changed; user.* for the directory copy.
    events_queue: str = Field(
        default="notifications.events", min_length=1, validation_alias="EVENTS_QUEUE"
    )
    users_queue: str = Field(
        default="notifications.users", min_length=1, validation_alias="USERS_QUEUE"
    )

    @model_validator(mode="after")
    def _consistent(self) -> NotificationsSettings:
        if self.smtp_starttls and self.smtp_tls:
            raise ValueError("set SMTP_STARTTLS or SMTP_TLS, not both")
        if self.notify_claim_s <= self.smtp_timeout_s:
            raise ValueError("NOTIFY_CLAIM_SECONDS must exceed SMTP_TIMEOUT_SECONDS")
        if self.shutdown_step_timeout_s <= 2 * self.notify_stop_grace_s:
            # The scheduler's close: the grace, then at most as long again for its cancel.
            raise ValueError(
                "SHUTDOWN_STEP_TIMEOUT_SECONDS must exceed twice NOTIFY_STOP_GRACE_SECONDS"
            )
        return self
