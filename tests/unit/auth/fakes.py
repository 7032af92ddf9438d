"""In-memory fakes of the auth service's ports (workcity_auth/service_layer/ports.py), for unit
tests of the use cases in milliseconds. They keep the ports' contracts (one account per email, a
refresh token used once, a reused one revoking its login, the failures in a row per email); the real
adapters are held to them by tests/integration/auth/ against the database."""

from __future__ import annotations

import dataclasses
import itertools
from datetime import datetime

from bson import ObjectId
from workcity_auth.domain.model import FailureCount, IssuedRefreshToken, RefreshFamily, User
from workcity_auth.service_layer.ports import EmailTaken, RefreshRejected
from workcity_common.events import Role, utcnow


class FakeUsers:
    def __init__(self) -> None:
        self.users: dict[str, User] = {}

    async def create(self, *, email: str, password_hash: str, role: Role, name: str | None) -> User:
        if await self.by_email(email) is not None:
            raise EmailTaken(email)
        now = utcnow()
        user = User(str(ObjectId()), email, role, name, False, password_hash, now, now)
        self.users[user.id] = user
        return user

    async def by_email(self, email: str) -> User | None:
        return next((u for u in self.users.values() if u.email == email), None)

    async def by_id(self, user_id: str) -> User | None:
        return self.users.get(user_id)

    async def all(self) -> list[User]:
        return sorted(self.users.values(), key=lambda u: u.created_at)

    async def page_after(self, after_id: str | None, limit: int) -> list[User]:
        ordered = sorted(self.users.values(), key=lambda u: u.id)
        return [u for u in ordered if after_id is None or u.id > after_id][:limit]

    async def support_staff(self, roles: frozenset[str], exclude_id: str) -> list[User]:
        staff = [
            u
            for u in self.users.values()
            if u.role in roles and not u.disabled and u.id != exclude_id
        ]
        return sorted(staff, key=lambda u: u.email)

    async def update(
        self, user_id: str, *, role: Role | None = None, disabled: bool | None = None
    ) -> User | None:
        user = self.users.get(user_id)
        if user is None:
            return None
        changed = dataclasses.replace(
            user,
            role=role if role is not None else user.role,
            disabled=disabled if disabled is not None else user.disabled,
        )
        self.users[user_id] = changed
        return changed


@dataclasses.dataclass
class FakeToken:
    family_id: str
    user_id: str
    used: bool = False
    revoked: bool = False


class FakeRefreshTokens:
    def __init__(self) -> None:
        self.tokens: dict[str, FakeToken] = {}
        self._numbers = itertools.count(1)

    async def issue(
        self, user_id: str, family_id: str | None = None, family_ends_at: datetime | None = None
    ) -> IssuedRefreshToken:
        number = next(self._numbers)
        token = FakeToken(family_id or f"family-{number}", user_id)
        self.tokens[f"token-{number}"] = token
        return IssuedRefreshToken(f"token-{number}", token.family_id, user_id)

    async def rotate(self, token: str) -> IssuedRefreshToken:
        known = self.tokens.get(token)
        if known is None or known.revoked:
            raise RefreshRejected
        if known.used:  # reused: someone else has it too
            await self.revoke_family(known.family_id, known.user_id)
            raise RefreshRejected
        known.used = True
        return await self.issue(known.user_id, known.family_id)

    async def family_of(self, token: str) -> RefreshFamily | None:
        known = self.tokens.get(token)
        return RefreshFamily(known.family_id, known.user_id) if known else None

    async def revoke_family(self, family_id: str, user_id: str) -> None:
        for token in self.tokens.values():
            if token.family_id == family_id:
                token.revoked = True

    async def revoke_user(self, user_id: str) -> None:
        for token in self.tokens.values():
            if token.user_id == user_id:
                token.revoked = True

    def live_families(self, user_id: str) -> set[str]:
        return {
            t.family_id
            for t in self.tokens.values()
            if t.user_id == user_id and not t.revoked and not t.used
        }


class FakePasswords:
    """Reversible "hashes", no bcrypt cost; `verify` of an unknown account is still called."""

    def __init__(self) -> None:
        self.verified: list[str | None] = []

    async def hash(self, password: str) -> str:
        return f"hashed:{password}"

    async def verify(self, password: str, hashed: str | None) -> bool:
        self.verified.append(hashed)
        return hashed == f"hashed:{password}"


class FakeSigner:
    def sign(self, *, user_id: str, email: str, role: str, session_id: str | None = None) -> str:
        return f"jwt:{user_id}:{role}:{session_id}"


class FakeLoginFailures:
    def __init__(self) -> None:
        self.counts: dict[str, FailureCount] = {}

    async def get(self, email: str) -> FailureCount | None:
        return self.counts.get(email)

    async def record_failure(self, email: str) -> int:
        known = self.counts.get(email)
        count = FailureCount(
            (known.failures if known else 0) + 1, known.blocked_until if known else utcnow()
        )
        self.counts[email] = count
        return count.failures

    async def block(self, email: str, until: datetime) -> None:
        self.counts[email] = dataclasses.replace(self.counts[email], blocked_until=until)

    async def clear(self, email: str) -> None:
        self.counts.pop(email, None)
