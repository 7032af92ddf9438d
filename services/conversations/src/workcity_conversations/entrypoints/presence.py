"""The realtime service's `presence.changed` events, for the desk: an agent is connected while
they have a socket (and for a grace period after the last one goes)."""

from __future__ import annotations

from workcity_common.broker import Broker, EventConsumer, EventHandler, ProcessedEvents
from workcity_common.events import Event, PresenceChanged

from workcity_conversations.service_layer.desk_teams import TeamsService

PRESENCE_EVENT_TYPES = ("presence.changed",)


def presence_handler(teams: TeamsService) -> EventHandler:
    async def handle(event: Event) -> None:
        if isinstance(event, PresenceChanged):
            await teams.presence_changed(
                event.data.user_id, online=event.data.online, at=event.occurred_at
            )

    return handle


def make_presence_consumer(
    broker: Broker,
    teams: TeamsService,
    processed: ProcessedEvents,
    *,
    queue_name: str,
    prefetch: int,
    handler_timeout_s: float,
) -> EventConsumer:
    return EventConsumer(
        broker,
        queue_name=queue_name,
        event_types=PRESENCE_EVENT_TYPES,
        handler=presence_handler(teams),
        processed=processed,
        prefetch=prefetch,
        handler_timeout_s=handler_timeout_s,
    )
