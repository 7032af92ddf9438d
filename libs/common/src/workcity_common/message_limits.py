"""What one message may carry, defined once: the conversations service enforces it and realtime
checks the same before the call (MESSAGE_MAX_CHARS, CLIENT_MESSAGE_ID_MAX_CHARS, MAX_ATTACHMENTS;
the settings in `workcity_common.settings.MessageLimitSettings`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MessageLimits:
    message_max_chars: int = 4000
    client_message_id_max_chars: int = 128
    max_attachments: int = 10
