"""What the auth use cases (accounts.py) need from the outside world, as Protocols: the adapters
satisfy them (adapters/), and so do the unit tests' in-memory fakes (tests/unit/auth/fakes.py),
so every use case can be tested without a database or bcrypt's cost."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from workcity_common.events import Role

from workcity_auth.domain.model import FailureCount, IssuedRefreshToken, RefreshFamily, User


class EmailTaken(Exception):
    """Another account has this email."""


class RefreshRejected(Exception):
    """Unknown, expired, revoked or already used."""


class Users(Protocol):
    """The accounts; a write others must hear about publishes its event with it."""

    async def create(self, *, email: str, password_hash: str, role: Role, name: str | None) -> User:
        """Raises `EmailTaken`."""
        ...

    async def by_email(self, email: str) -> User | None: ...

    async def by_id(self, user_id: str) -> User | None: ...

    async def all(self) -> list[User]: ...

    async def page_after(self, after_id: str | None, limit: int) -> list[User]: ...

    async def support_staff(self, roles: frozenset[str], exclude_id: str) -> list[User]: ...

    async def update(
        self, user_id: str, *, role: Role | None = None, disabled: bool | None = None
    ) -> User | None: ...


class RefreshTokens(Protocol):
    """Refresh tokens, in families (one per login)."""

    async def issue(
        self, user_id: str, family_id: str | None = None, family_ends_at: datetime | None = None
    ) -> IssuedRefreshToken: ...

    async def rotate(self, token: str) -> IssuedRefreshToken:
        """The next token of the family, once per token. Raises `RefreshRejected`; a reused
        token revokes its whole family."""
        ...

    async def family_of(self, token: str) -> RefreshFamily | None: ...

    async def revoke_family(self, family_id: str, user_id: str) -> None: ...

    async def revoke_user(self, user_id: str) -> None: ...


class Passwords(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password: str, hashed: str | None) -> bool:
        """Takes as long for an unknown account (`hashed` None) as for a wrong password."""
        ...


class Signer(Protocol):
    def sign(
        self, *, user_id: str, email: str, role: str, session_id: str | None = None
    ) -> str: ...


class LoginFailureCounts(Protocol):
    """Wrong passwords in a row per email."""

    async def get(self, email: str) -> FailureCount | None: ...

    async def record_failure(self, email: str) -> int: ...

    async def block(self, email: str, until: datetime) -> None: ...

    async def clear(self, email: str) -> None: ...
