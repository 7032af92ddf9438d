"""Routes for other services only (`/internal/*`: the gateway routes `/api/*` alone), each call
carrying INTERNAL_API_TOKEN as a bearer token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from workcity_common.http_auth import service_caller

from workcity_conversations.service_layer.unread import sender_emails, unread_for, unread_json

internal = APIRouter(prefix="/internal", tags=["internal"], dependencies=[Depends(service_caller)])


@internal.get(
    "/conversations/{conversation_id}/unread",
    summary="Service: a participant's unread messages (the notifications service, when an email "
    "is due)",
)
async def unread(
    request: Request,
    conversation_id: str,
    user_id: Annotated[str, Query(alias="userId", max_length=24)],
    after_seq: Annotated[int, Query(alias="afterSeq", ge=0)] = 0,
    limit: Annotated[int, Query(ge=1)] = 50,
) -> dict[str, Any]:
    state = request.app.state
    found = await unread_for(
        state.store,
        conversation_id,
        user_id,
        after_seq,
        min(limit, state.settings.internal_unread_page_max),
    )
    return unread_json(found, await sender_emails(state.directory, found))
