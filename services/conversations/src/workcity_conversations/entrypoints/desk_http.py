"""HTTP routes of the support desk (CONTRACT Part 3). Thin: parse, call one use case. Bodies are
taken as JSON objects and validated by the domain rules, so every bad value is a 400 JSON."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse

from workcity_conversations.domain.errors import InvalidInput
from workcity_conversations.entrypoints.deps import CurrentUser
from workcity_conversations.entrypoints.schemas import ErrorOut
from workcity_conversations.service_layer.desk_service import DeskService
from workcity_conversations.service_layer.desk_teams import TeamsService

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Invalid id, parameter or body"},
    401: {"model": ErrorOut, "description": "Missing or invalid token"},
    403: {"model": ErrorOut, "description": "Not allowed (customers on staff routes, not admin)"},
    404: {"model": ErrorOut, "description": "Unknown team, user or conversation"},
    409: {"model": ErrorOut, "description": "Already assigned, at capacity"},
}


async def _desk(request: Request) -> DeskService:
    desk: DeskService = request.app.state.desk
    return desk


async def _teams(request: Request) -> TeamsService:
    teams: TeamsService = request.app.state.teams
    return teams


DeskDep = Annotated[DeskService, Depends(_desk)]
TeamsDep = Annotated[TeamsService, Depends(_teams)]
JsonObject = Annotated[Any, Body()]


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidInput("invalid_body", "The body must be a JSON object")
    return body


desk = APIRouter(prefix="/api", tags=["support desk"], responses=_ERRORS)


@desk.get("/teams", summary="Every team (staff)")
async def list_teams(caller: CurrentUser, service: TeamsDep) -> Any:
    return await service.list_teams(caller)


@desk.post("/teams", summary="Create a team (admins)", status_code=201)
async def create_team(caller: CurrentUser, service: TeamsDep, body: JsonObject) -> Any:
    return JSONResponse(await service.create_team(caller, _object(body)), status_code=201)


@desk.patch("/teams/{team_id}", summary="Change a team's name, autoAssign or capacity (admins)")
async def update_team(
    caller: CurrentUser, service: TeamsDep, team_id: str, body: JsonObject
) -> Any:
    return await service.update_team(caller, team_id, _object(body))


@desk.put("/teams/{team_id}/members", summary="Set a team's members (admins; staff only)")
async def set_members(
    caller: CurrentUser, service: TeamsDep, team_id: str, body: JsonObject
) -> Any:
    return await service.set_members(caller, team_id, _object(body).get("userIds"))


@desk.get("/agents", summary="Every staff member with availability, presence and load (staff)")
async def list_agents(caller: CurrentUser, service: TeamsDep) -> Any:
    return await service.list_agents(caller)


@desk.put(
    "/agents/{user_id}/availability",
    summary="Set availability: `me` (staff) or another agent (admins)",
)
async def set_availability(
    caller: CurrentUser, service: TeamsDep, user_id: str, body: JsonObject
) -> Any:
    return await service.set_availability(caller, user_id, _object(body).get("availability"))


@desk.put("/agents/{user_id}/capacity", summary="Override an agent's capacity (admins)")
async def set_capacity(
    caller: CurrentUser, service: TeamsDep, user_id: str, body: JsonObject
) -> Any:
    payload = _object(body)
    if "capacity" not in payload:
        raise InvalidInput("invalid_capacity", "capacity is required (null removes the override)")
    return await service.set_capacity(caller, user_id, payload["capacity"])


@desk.get(
    "/support/teams",
    summary="The teams one may contact: id, name, isDefault only (anyone signed in)",
)
async def support_teams(caller: CurrentUser, service: TeamsDep) -> Any:
    return await service.support_teams(caller)


@desk.post("/support", summary="Open a support conversation (customers)", status_code=201)
async def open_support(caller: CurrentUser, service: DeskDep, body: JsonObject = None) -> Any:
    conversation, created = await service.open_support(caller, _object(body or {}))
    return JSONResponse(conversation, status_code=201 if created else 200)


Param = Annotated[str | None, Query()]


@desk.get("/inbox", summary="The staff inbox: items of a view, with exact counts (staff)")
async def inbox(
    caller: CurrentUser,
    service: DeskDep,
    view: Param = None,
    status: Param = None,
    teamId: Param = None,
    limit: Param = None,
    cursor: Param = None,
) -> Any:
    return await service.inbox(caller, view, status, teamId, limit, cursor)


@desk.post("/conversations/{conversation_id}/claim", summary="Take an unassigned conversation")
async def claim(caller: CurrentUser, service: DeskDep, conversation_id: str) -> Any:
    return await service.claim(caller, conversation_id)


@desk.patch(
    "/conversations/{conversation_id}/status",
    summary="Set status: open, pending, snoozed (with snoozedUntil), resolved",
)
async def set_status(
    caller: CurrentUser, service: DeskDep, conversation_id: str, body: JsonObject
) -> Any:
    payload = _object(body)
    return await service.set_status(
        caller, conversation_id, payload.get("status"), payload.get("snoozedUntil")
    )


@desk.put(
    "/conversations/{conversation_id}/assignee",
    summary="Assign (admins; its assignee to a member of its team), or null: back to the queue",
)
async def assign(
    caller: CurrentUser, service: DeskDep, conversation_id: str, body: JsonObject
) -> Any:
    payload = _object(body)
    if "assigneeId" not in payload:
        raise InvalidInput("invalid_body", "assigneeId is required (null: back to the queue)")
    return await service.assign(
        caller, conversation_id, payload["assigneeId"], payload.get("force")
    )


@desk.post(
    "/conversations/{conversation_id}/transfer",
    summary="Move to another team's queue, unassigned (its assignee, its team, admins)",
)
async def transfer(
    caller: CurrentUser, service: DeskDep, conversation_id: str, body: JsonObject
) -> Any:
    payload = _object(body)
    return await service.transfer(
        caller, conversation_id, payload.get("teamId"), payload.get("note")
    )


@desk.patch(
    "/conversations/{conversation_id}",
    summary="Priority and labels (by delta: addLabels, removeLabels); staff who may see it",
)
async def update_fields(
    caller: CurrentUser, service: DeskDep, conversation_id: str, body: JsonObject
) -> Any:
    return await service.update_fields(caller, conversation_id, _object(body))
