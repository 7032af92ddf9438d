"""Event consumers: the user directory, fed by the auth service's `user.*` events."""

from __future__ import annotations

import logging

from workcity_common.broker import EventHandler
from workcity_common.events import Event, UserDisabled, UserRegistered, UserUpdated

from workcity_conversations.adapters.directory import UserDirectory

log = logging.getLogger(__name__)

USER_EVENT_TYPES = ("user.registered", "user.updated", "user.disabled")


def user_directory_handler(directory: UserDirectory) -> EventHandler:
    async def handle(event: Event) -> None:
        if not isinstance(event, UserRegistered | UserUpdated | UserDisabled):
            log.warning("unexpected event on the users queue", extra={"type": event.type})
            return
        # The event's time orders facts about one user: a late, older event never overwrites a
        # newer one, and a redelivered event changes nothing.
        await directory.apply(event.data, event.occurred_at, source=event.type)

    return handle
