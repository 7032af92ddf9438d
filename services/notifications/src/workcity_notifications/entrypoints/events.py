"""Event consumers: message.* and presence.changed drive the schedule; user.* feed the directory."""

from __future__ import annotations

import logging

from workcity_common.broker import EventHandler
from workcity_common.events import Event, UserDisabled, UserRegistered, UserUpdated

from workcity_notifications.adapters.directory import Directory
from workcity_notifications.notifier import Notifier

log = logging.getLogger(__name__)

SCHEDULE_EVENT_TYPES = ("message.created", "message.read", "message.deleted", "presence.changed")
USER_EVENT_TYPES = ("user.registered", "user.updated", "user.disabled")


def schedule_handler(notifier: Notifier) -> EventHandler:
    return notifier.handle_event


def user_directory_handler(directory: Directory) -> EventHandler:
    async def handle(event: Event) -> None:
        if not isinstance(event, UserRegistered | UserUpdated | UserDisabled):
            log.warning("unexpected event on the users queue", extra={"type": event.type})
            return
        await directory.apply(event.data, event.occurred_at, source=event.type)

    return handle
