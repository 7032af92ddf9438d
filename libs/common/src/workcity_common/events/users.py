"""user.* events (producer: auth): who exists, and logins that ended."""

from __future__ import annotations

from typing import Literal

from workcity_common.events.envelope import Event, EventData, Role


class UserData(EventData):
    """The public part of a user: what other services keep a copy of."""

    id: str
    email: str
    role: Role
    name: str | None = None
    disabled: bool = False


class UserRegistered(Event):
    type: Literal["user.registered"] = "user.registered"
    data: UserData


class UserUpdated(Event):
    type: Literal["user.updated"] = "user.updated"
    data: UserData


class UserDisabled(Event):
    type: Literal["user.disabled"] = "user.disabled"
    data: UserData


class SessionData(EventData):
    user_id: str
    session_id: str  # the refresh-token family: access tokens carry it as `sid`


class UserLoggedOut(Event):
    """A login ended (logout, or a stolen refresh token's family revoked): its access tokens are
    valid until they expire, so realtime drops the sockets opened with them."""

    type: Literal["user.logged_out"] = "user.logged_out"
    data: SessionData
