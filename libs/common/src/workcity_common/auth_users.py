"""The auth service's internal user listing, read by the services that need its users: the ones
that keep a copy of the directory (`workcity_common.user_directory`) and realtime (the disabled
users, at start-up). No database here, so realtime can use it without a MongoDB driver.

    GET {AUTH_INTERNAL_URL}/internal/users?after=<last id or empty>&limit=<n>
    GET {AUTH_INTERNAL_URL}/internal/users/<id>
    Authorization: Bearer <INTERNAL_API_TOKEN>
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from workcity_common.events import Role, UserData
from workcity_common.settings import UserDirectorySettings


class _AuthUser(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(min_length=1)
    email: str
    role: Role
    name: str | None = None
    disabled: bool = False
    updated_at: AwareDatetime = Field(alias="updatedAt")


class _AuthUserPage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    users: list[_AuthUser]
    next: str | None = None


@dataclass(frozen=True, slots=True)
class UserPage:
    users: list[tuple[UserData, datetime]]
    next: str | None


class UserSource(Protocol):
    async def page(self, after: str | None, limit: int) -> UserPage: ...


class AuthUserSource:
    """Reads the auth service's internal user listing."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, token: str) -> None:
        self._client = client
        self._url = base_url.rstrip("/") + "/internal/users"
        self._token = token

    async def page(self, after: str | None, limit: int) -> UserPage:
        response = await self._client.get(
            self._url,
            params={"after": after or "", "limit": limit},
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=10.0,
        )
        response.raise_for_status()
        page = _AuthUserPage.model_validate_json(response.content)
        return UserPage(
            users=[
                (
                    UserData(id=u.id, email=u.email, role=u.role, name=u.name, disabled=u.disabled),
                    u.updated_at,
                )
                for u in page.users
            ],
            next=page.next,
        )

    async def one(self, user_id: str) -> tuple[UserData, datetime] | None:
        response = await self._client.get(
            f"{self._url}/{user_id}",
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=5.0,
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        u = _AuthUser.model_validate_json(response.content)
        return (
            UserData(id=u.id, email=u.email, role=u.role, name=u.name, disabled=u.disabled),
            u.updated_at,
        )


class UserLookup(Protocol):
    """One user by id, with the version of the record, or None if there is no such user."""

    async def one(self, user_id: str) -> tuple[UserData, datetime] | None: ...


def auth_user_source(
    settings: UserDirectorySettings, http_client: httpx.AsyncClient
) -> AuthUserSource | None:
    """The auth service's internal listing, when AUTH_INTERNAL_URL is set."""
    if not settings.auth_internal_url:
        return None
    token = settings.internal_api_token
    return AuthUserSource(
        http_client, settings.auth_internal_url, token.get_secret_value() if token else ""
    )
