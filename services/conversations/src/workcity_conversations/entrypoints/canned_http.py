"""HTTP routes of canned responses (CONTRACT Part 3): staff only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from workcity_conversations.entrypoints.deps import CurrentUser
from workcity_conversations.entrypoints.desk_http import _ERRORS, JsonObject, _object
from workcity_conversations.service_layer.canned_service import CannedService


async def _canned(request: Request) -> CannedService:
    service: CannedService = request.app.state.canned
    return service


CannedDep = Annotated[CannedService, Depends(_canned)]

canned = APIRouter(prefix="/api/canned-responses", tags=["support desk"], responses=_ERRORS)


@canned.get("", summary="Yours, your teams' and the global ones; `q` searches code and text")
async def search(
    caller: CurrentUser, service: CannedDep, q: Annotated[str | None, Query()] = None
) -> Any:
    return await service.search(caller, q)


@canned.post(
    "",
    summary="Create one: personal, team (teamId, a member) or global (admins)",
    status_code=201,
)
async def create(caller: CurrentUser, service: CannedDep, body: JsonObject) -> Any:
    return JSONResponse(await service.create(caller, _object(body)), status_code=201)


@canned.patch("/{canned_id}", summary="Change shortCode or text (its author or an admin)")
async def update(caller: CurrentUser, service: CannedDep, canned_id: str, body: JsonObject) -> Any:
    return await service.update(caller, canned_id, _object(body))


@canned.delete("/{canned_id}", summary="Delete one (its author or an admin)", status_code=204)
async def delete(caller: CurrentUser, service: CannedDep, canned_id: str) -> Response:
    await service.delete(caller, canned_id)
    return Response(status_code=204)
