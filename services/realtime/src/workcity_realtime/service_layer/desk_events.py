"""The support desk's socket events (CONTRACT Part 3), from `conversation.updated`,
`note.created` and `csat.requested`: the conversations service names the audiences (it owns
teams and roles); this turns them into emits to user rooms, never to a conversation's room (a
customer is in that room: a note must not reach it)."""

from __future__ import annotations

from workcity_common.events import ConversationUpdatedData, CsatRequestedData, NoteCreatedData

from workcity_realtime.adapters.sockets import Emitter, user_room


async def conversation_updated(emitter: Emitter, data: ConversationUpdatedData) -> None:
    staff_view = data.conversation.to_api()
    actor = data.actor.to_api() if data.actor else None
    if data.staff_ids:
        await emitter.emit(
            "conversationUpdated",
            {"conversation": staff_view, "changes": data.changes, "actor": actor},
            to=[user_room(u) for u in data.staff_ids],
        )
    if data.customer_ids:
        await emitter.emit(
            "conversationUpdated",
            {
                "conversation": data.conversation.customer_api(),
                "changes": [c for c in data.changes if c in ("status", "assignee")],
                "actor": actor,
            },
            to=[user_room(u) for u in data.customer_ids],
        )
    if data.queued_for:
        await emitter.emit(
            "conversationQueued",
            {"conversation": staff_view},
            to=[user_room(u) for u in data.queued_for],
        )
    told = [u for u in (data.assigned_from, data.assigned_to) if u]
    if told:
        await emitter.emit(
            "conversationAssigned",
            {"conversation": staff_view, "from": data.assigned_from, "to": data.assigned_to},
            to=[user_room(u) for u in told],
        )


async def note_created(emitter: Emitter, data: NoteCreatedData) -> None:
    if data.staff_ids:
        await emitter.emit(
            "noteCreated", {"note": data.note.to_api()}, to=[user_room(u) for u in data.staff_ids]
        )


async def csat_requested(emitter: Emitter, data: CsatRequestedData) -> None:
    if data.customer_ids:
        await emitter.emit(
            "csatRequested",
            {"conversationId": data.conversation_id},
            to=[user_room(u) for u in data.customer_ids],
        )
