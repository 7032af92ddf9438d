"""Users for end-to-end tests, made through the public API like a frontend would.

Customers sign up and log in; staff (agent, designer, merchant, admin) are created by the
development admin with POST /api/auth/admin/create-user and then log in. Every email is new.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from tests.support.stack import TestStack

STAFF_ROLES = frozenset({"agent", "designer", "merchant", "admin"})
# Access tokens live 15 minutes by default; the cached admin token is renewed well before.
_ADMIN_TOKEN_MAX_AGE_S = 300.0


@dataclass(frozen=True)
class TestUser:
    __test__ = False  # not a test class, despite the name

    id: str
    email: str
    password: str
    token: str
    refresh_token: str
    role: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def unique_email(role: str = "user") -> str:
    return f"e2e-{role}-{uuid.uuid4().hex[:16]}@workcity.example"


async def login(http: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    response = await http.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, f"login {email}: {response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    return body


async def admin_token(http: httpx.AsyncClient, stack: TestStack) -> str:
    """The development admin's access token, cached for the session."""
    cached = stack.cache.get("admin_token")
    if cached and time.monotonic() - cached[1] < _ADMIN_TOKEN_MAX_AGE_S:
        return str(cached[0])
    body = await login(http, stack.admin_email, stack.admin_password)
    stack.cache["admin_token"] = (body["token"], time.monotonic())
    return str(body["token"])


async def new_user(http: httpx.AsyncClient, stack: TestStack, role: str = "customer") -> TestUser:
    email = unique_email(role)
    password = f"pw-{uuid.uuid4().hex[:12]}"
    if role == "customer":
        response = await http.post("/api/auth/signup", json={"email": email, "password": password})
    elif role in STAFF_ROLES:
        token = await admin_token(http, stack)
        response = await http.post(
            "/api/auth/admin/create-user",
            json={"email": email, "password": password, "role": role},
            headers={"Authorization": f"Bearer {token}"},
        )
    else:
        raise ValueError(f"unknown role {role!r}")
    assert response.status_code == 201, f"create {role}: {response.status_code} {response.text}"
    body = await login(http, email, password)
    assert body["user"]["role"] == role
    return TestUser(
        id=body["user"]["id"],
        email=email,
        password=password,
        token=body["token"],
        refresh_token=body["refreshToken"],
        role=role,
    )


def short_token(stack: TestStack, user: TestUser, lifetime_s: int) -> str:
    """The user's token re-signed with the stack's own key to end in `lifetime_s` seconds."""
    key_file = stack.dev.config.data_dir / "auth" / "jwt-signing-key.pem" if stack.dev else None
    if key_file is None or not key_file.exists():
        pytest.skip("needs the stack's signing key")
    header = jwt.get_unverified_header(user.token)
    claims = jwt.decode(user.token, options={"verify_signature": False})
    now = int(time.time())
    key = load_pem_private_key(key_file.read_bytes(), password=None)
    return jwt.encode(
        {**claims, "iat": now, "exp": now + lifetime_s},
        key,  # type: ignore[arg-type]
        algorithm="EdDSA",
        headers={"kid": header["kid"]},
    )
