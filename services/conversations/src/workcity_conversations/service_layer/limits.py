"""The conversations use cases' limits (from the settings, see main.py's `limits_from`)."""

from __future__ import annotations

from dataclasses import dataclass

from workcity_common.events import MESSAGE_CREATED_VERSION
from workcity_common.message_limits import MessageLimits


@dataclass(frozen=True, slots=True)
class Limits(MessageLimits):
    """The message limits shared with realtime, and the rest of this service's."""

    messages_page_default: int = 50
    messages_page_max: int = 200
    conversations_page_default: int = 100
    conversations_page_max: int = 200
    attachment_max_bytes: int = 25 * 1024 * 1024
    attachment_quota_bytes: int = 1024 * 1024 * 1024
    attachment_unattached_ttl_s: float = 86_400.0
    # 1: message.created without the sender's read position, plus a message.read (for a rolling
    # upgrade while consumers older than version 2's may still run).
    message_created_version: int = MESSAGE_CREATED_VERSION
