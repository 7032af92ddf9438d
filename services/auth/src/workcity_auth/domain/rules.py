"""Pure rules of the auth service: roles, emails, passwords. No I/O."""

from __future__ import annotations

import re
from typing import Final, get_args

from workcity_common.events import Role

ALL_ROLES: Final = frozenset(get_args(Role))
SUPPORT_ROLES: Final = frozenset({"agent", "designer", "merchant", "admin"})
# Roles an admin may give when creating an account (customers sign up themselves).
CREATABLE_ROLES: Final = SUPPORT_ROLES
# bcrypt reads at most 72 bytes; longer passwords would be silently cut, so we refuse them.
BCRYPT_MAX_BYTES: Final = 72
# Deliberately plain: one @, a dot in the domain. Internal and reserved domains (`.local`,
# `.test`) are fine: staff accounts often live on them. No DNS look-up. Only the printable ASCII
# an address may hold (RFC 5322 atext, LDH domain labels; international domains in punycode):
# control and bidirectional characters, `<`, `,` would corrupt or disguise an email header.
_EMAIL_SHAPE: Final = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+"
)


class RuleViolation(ValueError):
    def __init__(self, code: str, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def normalize_email(raw: str) -> str:
    """Trimmed and lower-cased, and shaped like an address."""
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL_SHAPE.fullmatch(email):
        raise RuleViolation("invalid_email", "Please enter a valid email address")
    return email


def check_password(password: str, min_length: int) -> None:
    if len(password) < min_length:
        raise RuleViolation(
            "weak_password", f"Password must be at least {min_length} characters long"
        )
    if len(password.encode("utf-8")) > BCRYPT_MAX_BYTES:
        raise RuleViolation(
            "password_too_long", f"Password must be at most {BCRYPT_MAX_BYTES} bytes (UTF-8)"
        )


def login_backoff_seconds(failures: int, *, free: int, base_s: float, max_s: float) -> float:
    """How long an account refuses logins after `failures` wrong passwords in a row: nothing
    for the first `free`, then `base_s` doubling with each further failure, at most `max_s`."""
    if failures < free:
        return 0.0
    return float(min(max_s, base_s * 2 ** min(failures - free, 32)))


def is_support(role: str) -> bool:
    return role in SUPPORT_ROLES


def is_admin(role: str) -> bool:
    return role == "admin"
