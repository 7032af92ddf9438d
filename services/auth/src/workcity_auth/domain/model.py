"""The records the auth use cases work on. Plain data, no I/O; the adapters fill them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from workcity_common.events import Role, UserData


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    role: Role
    name: str | None
    disabled: bool
    password_hash: str
    created_at: datetime
    updated_at: datetime

    def event_data(self) -> UserData:
        return UserData(
            id=self.id, email=self.email, role=self.role, name=self.name, disabled=self.disabled
        )


@dataclass(frozen=True, slots=True)
class IssuedRefreshToken:
    token: str
    family_id: str  # the login it belongs to
    user_id: str


@dataclass(frozen=True, slots=True)
class RefreshFamily:
    """The login a refresh token belongs to."""

    family_id: str
    user_id: str


@dataclass(frozen=True, slots=True)
class FailureCount:
    failures: int
    blocked_until: datetime  # logins refused before this moment
