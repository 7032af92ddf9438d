"""Routes for other services only. The gateway routes `/api/*` alone, so these are reachable
on the service network, and each call must carry INTERNAL_API_TOKEN as a bearer token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from workcity_common.domain_errors import Invalid, NotFound
from workcity_common.http_auth import service_caller

from workcity_auth.domain.model import User
from workcity_auth.entrypoints.deps import AccountsDep
from workcity_auth.entrypoints.http import ObjectIdStr

internal = APIRouter(prefix="/internal", tags=["internal"], dependencies=[Depends(service_caller)])


@internal.get("/users", summary="Service: every user, paged by id (directory copies)")
async def list_users(
    request: Request,
    accounts: AccountsDep,
    after: Annotated[str, Query(max_length=24)] = "",
    limit: Annotated[int, Query(ge=1)] = 500,
) -> dict[str, Any]:
    if after and (len(after) != 24 or any(c not in "0123456789abcdefABCDEF" for c in after)):
        raise Invalid("after must be a user id", "invalid_id")
    limit = min(limit, request.app.state.settings.internal_page_max)
    users = await accounts.user_page(after or None, limit)
    return {
        "users": [_internal_json(u) for u in users],
        "next": users[-1].id if len(users) == limit else None,
    }


@internal.get("/users/{user_id}", summary="Service: one user (a directory copy's miss)")
async def one_user(user_id: ObjectIdStr, accounts: AccountsDep) -> dict[str, Any]:
    user = await accounts.user(user_id)
    if user is None:
        raise NotFound("User not found")
    return _internal_json(user)


def _internal_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "name": user.name,
        "disabled": user.disabled,
        "updatedAt": user.updated_at.isoformat(),
    }
