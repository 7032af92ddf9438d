"""Event consumer: message.* and presence.changed drive the schedule (user.* feed the directory
through workcity_common.user_directory.UserDirectoryCopy)."""

from __future__ import annotations

from workcity_common.broker import BatchEventHandler

from workcity_notifications.notifier import Notifier

SCHEDULE_EVENT_TYPES = ("message.created", "message.read", "message.deleted", "presence.changed")


def schedule_handler(notifier: Notifier) -> BatchEventHandler:
    return notifier.handle_events
