"""What the auth service does, one function per use case. Routes call these; these call the
repositories and the pure rules. Failures raise the shared domain errors with the contract's messages."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import timedelta

from workcity_common.domain_errors import (
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    Throttled,
    Unauthenticated,
)
from workcity_common.events import Role, utcnow

from workcity_auth.domain.model import User
from workcity_auth.domain.rules import (
    CREATABLE_ROLES,
    SUPPORT_ROLES,
    RuleViolation,
    check_password,
    login_backoff_seconds,
    normalize_email,
)
from workcity_auth.service_layer.ports import (
    EmailTaken,
    LoginFailureCounts,
    Passwords,
    RefreshRejected,
    RefreshTokens,
    Signer,
    Users,
)

log = logging.getLogger(__name__)

# The original backend's answer for both an unknown email and a wrong password.
INVALID_CREDENTIALS = "Invalid credentials"


@dataclass(frozen=True, slots=True)
class LoginThrottle:
    free_failures: int  # wrong passwords in a row before an email is refused for a while
    backoff_base_s: float  # the first refusal; each further failure doubles it
    backoff_max_s: float


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    refresh_token: str
    user: User


class Accounts:
    def __init__(
        self,
        users: Users,
        refresh_tokens: RefreshTokens,
        hasher: Passwords,
        signer: Signer,
        failures: LoginFailureCounts,
        *,
        password_min_length: int,
        login_throttle: LoginThrottle,
    ) -> None:
        self._users = users
        self._refresh = refresh_tokens
        self._hasher = hasher
        self._signer = signer
        self._password_min_length = password_min_length
        self._failures = failures
        self._throttle = login_throttle

    async def _new_user(self, email: str, password: str, role: Role, name: str | None) -> User:
        try:
            email = normalize_email(email)
            check_password(password, self._password_min_length)
        except RuleViolation as exc:
            raise Invalid(exc.msg, exc.code) from None
        password_hash = await self._hasher.hash(password)
        try:
            return await self._users.create(
                email=email, password_hash=password_hash, role=role, name=name
            )
        except EmailTaken:
            raise Invalid("User already exists", "email_taken") from None

    async def signup(self, email: str, password: str, name: str | None) -> User:
        """Always a customer: staff accounts come from an admin."""
        return await self._new_user(email, password, "customer", name)

    async def create_user(self, email: str, password: str, role: str, name: str | None) -> User:
        if role not in CREATABLE_ROLES:
            raise Invalid(
                f"role must be one of {', '.join(sorted(CREATABLE_ROLES))}", "invalid_role"
            )
        return await self._new_user(email, password, role, name)  # type: ignore[arg-type]

    async def ensure_admin(self, email: str, password: str) -> None:
        """Create the configured first admin once; an existing account is left as it is."""
        existing = await self._users.by_email(email.strip().lower())
        if existing is not None:
            return
        try:
            await self._new_user(email, password, "admin", None)
            log.info("created the first admin", extra={"email": email})
        except DomainError as exc:
            if exc.code != "email_taken":  # another replica created it at the same moment
                raise

    async def login(self, email: str, password: str) -> Session:
        email = email.strip().lower()
        # Per account, beside the gateway's per-address limit: after a few wrong passwords in a
        # row the email is refused for a while, before any bcrypt is spent, whether or not an
        # account has it (so the answer never says which accounts exist).
        count = await self._failures.get(email)
        if count is not None and count.blocked_until > utcnow():
            wait_s = math.ceil((count.blocked_until - utcnow()).total_seconds())
            raise Throttled(
                "Too many failed logins, try again later",
                "login_throttled",
                retryAfter=max(1, wait_s),
            )
        user = await self._users.by_email(email)
        # Always run bcrypt, so an unknown email answers in the same time as a wrong password.
        valid = await self._hasher.verify(password, user.password_hash if user else None)
        if user is None or not valid:
            failures = await self._failures.record_failure(email)
            throttle = self._throttle
            delay_s = login_backoff_seconds(
                failures,
                free=throttle.free_failures,
                base_s=throttle.backoff_base_s,
                max_s=throttle.backoff_max_s,
            )
            if delay_s:
                await self._failures.block(email, utcnow() + timedelta(seconds=delay_s))
            raise Invalid(INVALID_CREDENTIALS, "invalid_credentials")
        if count is not None:
            await self._failures.clear(email)
        if user.disabled:
            raise Forbidden("Account disabled")
        refresh = await self._refresh.issue(user.id)
        return Session(self._sign(user, refresh.family_id), refresh.token, user)

    async def refresh(self, refresh_token: str) -> Session:
        try:
            issued = await self._refresh.rotate(refresh_token)
        except RefreshRejected:
            raise Unauthenticated("Invalid refresh token") from None
        user = await self._users.by_id(issued.user_id)
        if user is None or user.disabled:
            await self._refresh.revoke_family(issued.family_id, issued.user_id)
            raise Unauthenticated("Invalid refresh token")
        return Session(self._sign(user, issued.family_id), issued.token, user)

    async def logout(self, user_id: str, refresh_token: str) -> None:
        """End the login that `refresh_token` belongs to (only the caller's own)."""
        known = await self._refresh.family_of(refresh_token)
        if known is None or known.user_id != user_id:
            raise Unauthenticated("Invalid refresh token")
        await self._refresh.revoke_family(known.family_id, user_id)

    async def me(self, user_id: str) -> User:
        user = await self._users.by_id(user_id)
        if user is None:
            raise Unauthenticated("User no longer exists")
        if user.disabled:  # their token is still valid for minutes; the account is not
            raise Forbidden("Account disabled")
        return user

    async def all_users(self) -> list[User]:
        return await self._users.all()

    async def user(self, user_id: str) -> User | None:
        return await self._users.by_id(user_id)

    async def user_page(self, after_id: str | None, limit: int) -> list[User]:
        return await self._users.page_after(after_id, limit)

    async def support_staff(self, caller_id: str) -> list[User]:
        return await self._users.support_staff(SUPPORT_ROLES, exclude_id=caller_id)

    async def update_user(
        self, admin_id: str, user_id: str, *, role: Role | None, disabled: bool | None
    ) -> User:
        if admin_id == user_id and (disabled or (role is not None and role != "admin")):
            raise Invalid("Admins cannot disable or demote themselves", "self_lockout")
        user = await self._users.update(user_id, role=role, disabled=disabled)
        if user is None:
            raise NotFound("User not found")
        if user.disabled:
            await self._refresh.revoke_user(user.id)
        return user

    def _sign(self, user: User, session_id: str) -> str:
        # `sid`: the login this token belongs to, so a logout can end its sockets too.
        return self._signer.sign(
            user_id=user.id, email=user.email, role=user.role, session_id=session_id
        )
