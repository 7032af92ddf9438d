"""HTTP routes of a conversation's activity (staff who may see it) and of its satisfaction
rating (its customer)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from workcity_conversations.entrypoints.deps import CurrentUser
from workcity_conversations.entrypoints.desk_http import _ERRORS, JsonObject, _object
from workcity_conversations.service_layer.activity_service import ActivityService
from workcity_conversations.service_layer.csat_service import CsatService


async def _activity(request: Request) -> ActivityService:
    service: ActivityService = request.app.state.activity
    return service


async def _csat(request: Request) -> CsatService:
    service: CsatService = request.app.state.csat
    return service


ActivityDep = Annotated[ActivityService, Depends(_activity)]
CsatDep = Annotated[CsatService, Depends(_csat)]
Param = Annotated[str | None, Query()]

activity = APIRouter(prefix="/api/conversations", tags=["support desk"], responses=_ERRORS)


@activity.get(
    "/{conversation_id}/activity",
    summary="Every desk change after creation, in order, with its rendered line (staff)",
)
async def list_activity(
    caller: CurrentUser,
    service: ActivityDep,
    conversation_id: str,
    limit: Param = None,
    after: Param = None,
) -> Any:
    return await service.list(caller, conversation_id, limit, after)


@activity.post(
    "/{conversation_id}/csat",
    summary="Rate a conversation staff resolved, 1-5, once per resolution (its customer)",
    status_code=201,
)
async def rate(
    caller: CurrentUser, service: CsatDep, conversation_id: str, body: JsonObject
) -> Any:
    return JSONResponse(await service.rate(caller, conversation_id, _object(body)), status_code=201)
