"""The auth routes of the contract (CONTRACT.md, Part 1 auth and Part 2 tokens). Thin: parse,
authorize, call one use case, shape the answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, ConfigDict, Field
from workcity_common.events import Role
from workcity_common.http_auth import CurrentClaims

from workcity_auth.domain.model import User
from workcity_auth.entrypoints.deps import AccountsDep, AdminClaims, SignerDep

# pydantic checks patterns with Rust regex, where `$` is the very end (no trailing newline).
ObjectIdStr = Annotated[str, Path(pattern=r"^[0-9a-fA-F]{24}$", description="a user id")]


class _Body(BaseModel):
    # Unknown fields are ignored (a `role` sent to signup has no effect), wrong types are not.
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class Credentials(_Body):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class SignupBody(Credentials):
    name: str | None = Field(default=None, max_length=100)


class CreateUserBody(SignupBody):
    role: str = Field(max_length=32)


class RefreshBody(_Body):
    refreshToken: str = Field(min_length=1, max_length=512)


class UpdateUserBody(_Body):
    model_config = ConfigDict(extra="forbid")
    role: Role | None = None
    disabled: bool | None = None


def user_json(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "_id": user.id,
        "email": user.email,
        "role": user.role,
        "name": user.name,
        "disabled": user.disabled,
        "createdAt": user.created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


auth = APIRouter(prefix="/api/auth", tags=["auth"])
users = APIRouter(prefix="/api/users", tags=["users"])


@auth.post("/signup", status_code=status.HTTP_201_CREATED, summary="Sign up as a customer")
async def signup(body: SignupBody, accounts: AccountsDep) -> dict[str, Any]:
    user = await accounts.signup(body.email, body.password, body.name)
    # The original's texts: its frontend shows them to people.
    return {"msg": "Customer account registered successfully!", "user": user_json(user)}


@auth.post("/login", summary="Log in: an access token and a refresh token")
async def login(body: Credentials, accounts: AccountsDep) -> dict[str, Any]:
    session = await accounts.login(body.email, body.password)
    return {
        "token": session.token,
        "refreshToken": session.refresh_token,
        "user": user_json(session.user),
    }


@auth.post("/refresh", summary="Trade a refresh token for new tokens (the old one stops working)")
async def refresh(body: RefreshBody, accounts: AccountsDep) -> dict[str, Any]:
    session = await accounts.refresh(body.refreshToken)
    return {"token": session.token, "refreshToken": session.refresh_token}


@auth.post("/logout", summary="End the login a refresh token belongs to")
async def logout(body: RefreshBody, claims: CurrentClaims, accounts: AccountsDep) -> dict[str, str]:
    await accounts.logout(claims.user_id, body.refreshToken)
    return {"msg": "Logged out"}


@auth.get("/me", summary="The signed-in user")
async def me(claims: CurrentClaims, accounts: AccountsDep) -> dict[str, Any]:
    return user_json(await accounts.me(claims.user_id))


@auth.get("/.well-known/jwks.json", summary="Public keys that verify access tokens")
async def jwks(signer: SignerDep) -> dict[str, Any]:
    return signer.jwks


@auth.post("/admin/create-user", status_code=status.HTTP_201_CREATED, summary="Admin: create staff")
async def create_user(
    body: CreateUserBody, _: AdminClaims, accounts: AccountsDep
) -> dict[str, Any]:
    user = await accounts.create_user(body.email, body.password, body.role, body.name)
    return {"msg": f"User with role '{user.role}' created successfully!", "user": user_json(user)}


@auth.get("/all-users", summary="Admin: every user")
async def all_users(_: AdminClaims, accounts: AccountsDep) -> list[dict[str, Any]]:
    return [user_json(u) for u in await accounts.all_users()]


@auth.patch("/users/{user_id}", summary="Admin: change a role, disable or enable a user")
async def update_user(
    user_id: ObjectIdStr, body: UpdateUserBody, admin: AdminClaims, accounts: AccountsDep
) -> dict[str, Any]:
    user = await accounts.update_user(
        admin.user_id, user_id, role=body.role, disabled=body.disabled
    )
    return user_json(user)


@users.get("/support", summary="Support staff the caller can talk to")
async def support_users(claims: CurrentClaims, accounts: AccountsDep) -> list[dict[str, Any]]:
    return [user_json(u) for u in await accounts.support_staff(claims.user_id)]
