"""Conversations service settings (environment variables; see the README's configuration table)."""

from __future__ import annotations

from pydantic import Field, model_validator
from workcity_common.settings import MessageLimitSettings, UserDirectorySettings


class ConversationsSettings(UserDirectorySettings, MessageLimitSettings):
    """MESSAGE_MAX_CHARS, CLIENT_MESSAGE_ID_MAX_CHARS and MAX_ATTACHMENTS come with
    `MessageLimitSettings`, shared with realtime."""

    service_name: str = "conversations"

    # Message history pages: `limit` when the client gives none, and the most it may ask for.
    messages_page_default: int = Field(
        default=50, ge=1, le=10_000, validation_alias="MESSAGES_PAGE_DEFAULT"
    )
    messages_page_max: int = Field(
        default=200, ge=1, le=10_000, validation_alias="MESSAGES_PAGE_MAX"
    )
    # The form of message.created it publishes: 2 carries the sender's read position (one event
    # per message); 1 is the previous form plus a separate message.read, for a rolling upgrade
    # while consumers of an older release may still run.
    message_created_version: int = Field(
        default=2, ge=1, le=2, validation_alias="MESSAGE_CREATED_VERSION"
    )
    # Most unread messages one internal unread query returns (an email shows these; its count
    # says how many there are in all).
    internal_unread_page_max: int = Field(
        default=100, ge=1, le=10_000, validation_alias="INTERNAL_UNREAD_PAGE_MAX"
    )
    # Conversation list pages (the original frontend asks without a limit and expects its
    # conversations, so the default is generous).
    conversations_page_default: int = Field(
        default=100, ge=1, le=10_000, validation_alias="CONVERSATIONS_PAGE_DEFAULT"
    )
    conversations_page_max: int = Field(
        default=200, ge=1, le=10_000, validation_alias="CONVERSATIONS_PAGE_MAX"
    )
    # Request bodies larger than this are refused with 413 before they are read into memory.
    max_request_body_bytes: int = Field(
        default=64 * 1024, ge=1024, le=64 * 1024 * 1024, validation_alias="MAX_REQUEST_BODY_BYTES"
    )
    # Largest attachment (the file's bytes); the gateway's GATEWAY_UPLOAD_MAX_BODY must be a little
    # larger (multipart framing). An upload request may be this plus ATTACHMENT_BODY_OVERHEAD.
    attachment_max_bytes: int = Field(
        default=25 * 1024 * 1024,
        ge=1,
        le=1024 * 1024 * 1024,
        validation_alias="ATTACHMENT_MAX_BYTES",
    )
    # Bytes of files one user may keep stored (what their deleted messages and conversations
    # held is freed); an upload past it is refused with 413 `attachment_quota_exceeded`.
    attachment_quota_bytes: int = Field(
        default=1024 * 1024 * 1024,
        ge=1,
        le=1024**4,
        validation_alias="ATTACHMENT_QUOTA_BYTES",
    )
    # An upload no message has taken within this is removed (swept every
    # ATTACHMENT_SWEEP_INTERVAL_SECONDS).
    attachment_unattached_ttl_s: float = Field(
        default=86_400.0,
        ge=60,
        le=30 * 86_400,
        validation_alias="ATTACHMENT_UNATTACHED_TTL_SECONDS",
    )
    attachment_sweep_interval_s: float = Field(
        default=600.0, gt=0, le=86_400, validation_alias="ATTACHMENT_SWEEP_INTERVAL_SECONDS"
    )
    # Sends waiting for their transaction in this process; beyond, a send is refused with 503
    # `busy` (Retry-After: 1) at once rather than queued for longer than a client would wait.
    send_queue_max: int = Field(default=1000, ge=1, le=100_000, validation_alias="SEND_QUEUE_MAX")
    # Most sends one internal batch (a realtime replica's, `POST /internal/messages/batch`) may
    # carry; a larger one is refused (400) and the replica sends its items one by one.
    internal_send_batch_max: int = Field(
        default=128, ge=1, le=1000, validation_alias="INTERNAL_SEND_BATCH_MAX"
    )
    # A send group's transaction still meeting write conflicts after this is given up: a
    # transaction a killed process left open holds a conversation until the server reaps it
    # (60 s), and the sends of every other conversation must not wait that long behind it.
    send_commit_timeout_seconds: float = Field(
        default=2.0, gt=0, le=120, validation_alias="SEND_COMMIT_TIMEOUT_SECONDS"
    )
    # Longest pause of a conversation whose sends keep conflicting (doubling from the timeout).
    send_set_aside_max_seconds: float = Field(
        default=10.0, gt=0, le=600, validation_alias="SEND_SET_ASIDE_MAX_SECONDS"
    )

    # The support desk: a new team's capacity (open conversations per agent) when none is given.
    desk_default_capacity: int = Field(
        default=5, ge=0, le=1000, validation_alias="DESK_DEFAULT_CAPACITY"
    )
    # A disconnected agent still counts as connected this long (a dropped connection returning).
    desk_presence_grace_seconds: float = Field(
        default=60.0, ge=0, le=3600, validation_alias="DESK_PRESENCE_GRACE_SECONDS"
    )
    # How often every team's queue is handed out again, whatever triggers were missed.
    desk_sweep_interval_seconds: float = Field(
        default=30.0, gt=0, le=3600, validation_alias="DESK_SWEEP_INTERVAL_SECONDS"
    )
    # How often snoozed conversations are checked for their time to reopen.
    desk_snooze_poll_seconds: float = Field(
        default=1.0, gt=0, le=600, validation_alias="DESK_SNOOZE_POLL_SECONDS"
    )
    # The inbox's page: `limit` when the client gives none, and the most it may ask for.
    inbox_page_default: int = Field(
        default=50, ge=1, le=10_000, validation_alias="INBOX_PAGE_DEFAULT"
    )
    inbox_page_max: int = Field(default=200, ge=1, le=10_000, validation_alias="INBOX_PAGE_MAX")
    # Labels on one conversation, members in one team.
    desk_max_labels: int = Field(default=20, ge=1, le=1000, validation_alias="DESK_MAX_LABELS")
    desk_max_team_members: int = Field(
        default=1000, ge=1, le=100_000, validation_alias="DESK_MAX_TEAM_MEMBERS"
    )

    # Longest private note, in characters after trimming.
    desk_note_max_chars: int = Field(
        default=4000, ge=1, le=100_000, validation_alias="DESK_NOTE_MAX_CHARS"
    )
    # Pages of notes and of activity: `limit` when the client gives none, and the most it may ask.
    desk_list_page_default: int = Field(
        default=200, ge=1, le=10_000, validation_alias="DESK_LIST_PAGE_DEFAULT"
    )
    desk_list_page_max: int = Field(
        default=500, ge=1, le=10_000, validation_alias="DESK_LIST_PAGE_MAX"
    )

    # Canned responses: longest text, longest short code, how many one scope (a user's own, a
    # team's, the global one) may hold, and the most one search answers with.
    canned_text_max_chars: int = Field(
        default=4000, ge=1, le=100_000, validation_alias="CANNED_TEXT_MAX_CHARS"
    )
    canned_short_code_max_chars: int = Field(
        default=32, ge=1, le=200, validation_alias="CANNED_SHORT_CODE_MAX_CHARS"
    )
    canned_max_per_scope: int = Field(
        default=500, ge=1, le=100_000, validation_alias="CANNED_MAX_PER_SCOPE"
    )
    canned_search_max: int = Field(
        default=100, ge=1, le=10_000, validation_alias="CANNED_SEARCH_MAX"
    )

    # Longest comment a customer may leave with a satisfaction rating.
    csat_comment_max_chars: int = Field(
        default=1000, ge=1, le=100_000, validation_alias="CSAT_COMMENT_MAX_CHARS"
    )

    # The durable queue this service reads user.* events from (one per deployment; tests use
    # their own).
    users_queue: str = Field(
        default="conversations.users", min_length=1, validation_alias="USERS_QUEUE"
    )

    # The durable queue of the realtime service's presence.changed events (agents online).
    presence_queue: str = Field(
        default="conversations.presence", min_length=1, validation_alias="PRESENCE_QUEUE"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ConversationsSettings:
        if self.messages_page_default > self.messages_page_max:
            raise ValueError("MESSAGES_PAGE_DEFAULT must not exceed MESSAGES_PAGE_MAX")
        if self.desk_list_page_default > self.desk_list_page_max:
            raise ValueError("DESK_LIST_PAGE_DEFAULT must not exceed DESK_LIST_PAGE_MAX")
        if self.conversations_page_default > self.conversations_page_max:
            raise ValueError("CONVERSATIONS_PAGE_DEFAULT must not exceed CONVERSATIONS_PAGE_MAX")
        return self
