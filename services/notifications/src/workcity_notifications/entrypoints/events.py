"""Event consumer: message.created and presence.changed drive the schedule (user.* feed the directory
through workcity_common.user_directory.UserDirectoryCopy)."""

from __future__ import annotations

from workcity_common.broker import BatchEventHandler

from workcity_notifications.service_layer.notifier import Notifier

# Reads and deletions are not tracked: when an email is due, the conversations service says what
# is still unread (an old queue's bindings of them are ignored, domain/batch.py).
SCHEDULE_EVENT_TYPES = ("message.created", "presence.changed")


def schedule_handler(notifier: Notifier) -> BatchEventHandler:
    return notifier.handle_events
