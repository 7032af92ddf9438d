"""Domain events from the conversations and auth services, turned into socket emits.

Every replica consumes a queue of its own, bound to the exchange, and emits to its own sockets
only: RabbitMQ does the fan-out. The queue is durable with an expiry: it keeps its bindings and
the events published meanwhile across a broker restart or a lost connection (so nothing is
emitted into a replica whose consumer is still reconnecting), and goes away once its replica has
been gone for `EVENTS_QUEUE_EXPIRES_SECONDS`. Events are handled one after another (the lock)
because RabbitMQ hands a consumer several at once and each runs as its own task: two
`newMessage`s of a conversation must not overtake each other.
"""

from __future__ import annotations

from workcity_common.broker import Broker, EventConsumer, EventHandler, InMemoryProcessedEvents
from workcity_common.events import (
    ConversationCreated,
    ConversationDeleted,
    ConversationUpdated,
    CsatRequested,
    Event,
    MessageCreated,
    MessageDeleted,
    MessageRead,
    MessageUpdated,
    NoteCreated,
    UserDisabled,
    UserLoggedOut,
    UserUpdated,
)

from workcity_realtime.service_layer import desk_events
from workcity_realtime.service_layer.hub import Hub

EVENT_TYPES = (
    "message.created",
    "message.updated",
    "message.deleted",
    "message.read",
    "conversation.created",
    "conversation.deleted",
    "conversation.updated",
    "note.created",
    "csat.requested",
    "user.disabled",
    "user.updated",
    "user.logged_out",
)


def event_handler(hub: Hub, handled: InMemoryProcessedEvents | None = None) -> EventHandler:
    # The consumer's own duplicate check runs before the handler, so two copies of an event
    # delivered together both pass it; checked again here, under the lock, they cannot.
    handled = handled or InMemoryProcessedEvents()

    async def handle(event: Event) -> None:
        async with hub.event_lock:
            if await handled.seen(event.id):
                return
            await dispatch(hub, event)
            await handled.remember(event.id)

    return handle


async def dispatch(hub: Hub, event: Event) -> None:
    match event:
        case MessageCreated(data=data):
            await hub.delivery.message_created(
                data.message.conversation_id, data.message.to_api(), data.participant_ids
            )
            # Version 2 carries the sender's read; version 1 has a message.read of its own.
            receipt = event.read_receipt()
            if receipt is not None:
                await hub.delivery.message_read(receipt.conversation_id, receipt.to_api())
        case MessageUpdated(data=data):
            await hub.delivery.message_updated(data.message.conversation_id, data.message.to_api())
        case MessageDeleted(data=data):
            await hub.delivery.message_deleted(data.conversation_id, data.message_id, data.seq)
        case MessageRead(data=data):
            await hub.delivery.message_read(data.conversation_id, data.to_api())
        case ConversationCreated(data=data):
            await hub.conversation_created(data.conversation)
        case ConversationDeleted(data=data):
            await hub.conversation_deleted(data.conversation_id, data.participant_ids)
        case ConversationUpdated(data=data):
            if {"assignee", "team"} & set(data.changes):
                # A transfer: only its new audience and its participants may stay in its room.
                may_see = (
                    {*data.staff_ids, *data.conversation.participant_ids}
                    if "team" in data.changes
                    else None
                )
                await hub.conversation_access_changed(data.conversation, may_see)
            await desk_events.conversation_updated(hub.emitter, data)
        case NoteCreated(data=data):
            await desk_events.note_created(hub.emitter, data)
        case CsatRequested(data=data):
            await desk_events.csat_requested(hub.emitter, data)
        case UserDisabled(data=data):
            await hub.user_access_changed(data.id, disabled=True)
        case UserUpdated(data=data):
            await hub.user_access_changed(data.id, disabled=data.disabled, role=data.role)
        case UserLoggedOut(data=data):
            await hub.user_logged_out(data.user_id, data.session_id)


def make_consumer(
    broker: Broker,
    hub: Hub,
    *,
    queue_name: str,
    queue_expires_s: float,
    prefetch: int,
    handler_timeout_s: float,
    ack_every: int = 1,
    ack_delay_s: float = 0.05,
) -> EventConsumer:
    return EventConsumer(
        broker,
        queue_name=queue_name,
        event_types=EVENT_TYPES,
        handler=event_handler(hub),
        processed=InMemoryProcessedEvents(),
        prefetch=prefetch,
        handler_timeout_s=handler_timeout_s,
        queue_arguments={"x-expires": int(queue_expires_s * 1000)},
        dead_letter=False,
        # Acked together: a redelivered copy is skipped by event id (event_handler's memory).
        ack_every=ack_every,
        ack_delay_s=ack_delay_s,
    )
