"""HTTP routes of private notes (CONTRACT Part 3): staff who may see the conversation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from workcity_conversations.entrypoints.deps import CurrentUser
from workcity_conversations.entrypoints.desk_http import _ERRORS, JsonObject, _object
from workcity_conversations.service_layer.notes_service import NotesService


async def _notes(request: Request) -> NotesService:
    notes: NotesService = request.app.state.notes
    return notes


NotesDep = Annotated[NotesService, Depends(_notes)]
Param = Annotated[str | None, Query()]

notes = APIRouter(prefix="/api", tags=["support desk"], responses=_ERRORS)


@notes.post(
    "/conversations/{conversation_id}/notes",
    summary="Write a private note (staff who may see it); never shown to the customer",
    status_code=201,
)
async def add_note(
    caller: CurrentUser, service: NotesDep, conversation_id: str, body: JsonObject
) -> Any:
    note = await service.add(caller, conversation_id, _object(body).get("text"))
    return JSONResponse(note, status_code=201)


@notes.get(
    "/conversations/{conversation_id}/notes",
    summary="A conversation's private notes, oldest first (`after`: a note id, the next page)",
)
async def list_notes(
    caller: CurrentUser,
    service: NotesDep,
    conversation_id: str,
    limit: Param = None,
    after: Param = None,
) -> Any:
    return await service.list(caller, conversation_id, limit, after)
