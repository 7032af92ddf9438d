"""The auth service against the real SecantusDB and the real RabbitMQ (ASGI in process)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from workcity_auth.main import create_app
from workcity_auth.settings import AuthSettings
from workcity_common.events import UserDisabled, UserRegistered, UserUpdated

from tests.support.events import EventTap
from tests.support.rabbit import broker_stopped

pytestmark = pytest.mark.integration

SERVICE_TOKEN = "internal-test-token-0123456789"
ADMIN = {"email": "root@workcity.test", "password": "root-password"}


@dataclass
class AuthUnderTest:
    app: FastAPI
    http: httpx.AsyncClient
    events: EventTap
    settings: AuthSettings


def make_settings(mongo_uri: str, rabbit_url: str, name: str, tmp_path: object) -> AuthSettings:
    return AuthSettings.model_validate(
        {
            "ENVIRONMENT": "test",
            "MONGO_URI": mongo_uri,
            "MONGO_DB": name,
            "AMQP_URL": rabbit_url,
            "EVENTS_EXCHANGE": f"{name}.events",
            "ADMIN_EMAIL": ADMIN["email"],
            "ADMIN_PASSWORD": ADMIN["password"],
            "DATA_DIR": str(tmp_path),
            "BCRYPT_ROUNDS": 4,
            "OUTBOX_POLL_INTERVAL_SECONDS": 0.2,
            "INTERNAL_API_TOKEN": SERVICE_TOKEN,
        }
    )


@pytest.fixture
async def auth(
    mongo_uri: str, rabbit_url: str, unique_name: str, tmp_path
) -> AsyncIterator[AuthUnderTest]:
    settings = make_settings(mongo_uri, rabbit_url, unique_name, tmp_path)
    tap = await EventTap(
        rabbit_url, settings.events_exchange, ["user.*"], f"{unique_name}.tap"
    ).start()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await app.state.broker.wait_ready(10)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://auth") as http:
            yield AuthUnderTest(app, http, tap, settings)
    await tap.close()
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient = AsyncMongoClient(mongo_uri)
    await client.drop_database(unique_name)
    await client.close()


async def signup(
    http: httpx.AsyncClient, email: str, password: str = "secret-pw"
) -> httpx.Response:
    return await http.post("/api/auth/signup", json={"email": email, "password": password})


async def login(http: httpx.AsyncClient, email: str, password: str) -> dict:
    response = await http.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()


async def test_signup_publishes_user_registered_without_secrets(auth: AuthUnderTest) -> None:
    response = await signup(auth.http, "Carol@Example.com")
    assert response.status_code == 201
    user_id = response.json()["user"]["id"]
    events = await auth.events.collect(2)  # the first admin's, then Carol's
    registered = [e for e in events if isinstance(e, UserRegistered)]
    assert [e.data.email for e in registered] == [ADMIN["email"], "carol@example.com"]
    carol = registered[1]
    assert carol.data.id == user_id
    assert carol.data.role == "customer"
    assert carol.producer == "auth"
    assert "password" not in carol.to_bytes().decode()


async def test_events_written_while_rabbitmq_is_down_arrive_after_it_is_back(
    auth: AuthUnderTest,
) -> None:
    await auth.events.collect(1)  # the first admin
    emails = [f"offline{i}@example.com" for i in range(5)]
    with broker_stopped():
        for email in emails:
            response = await signup(auth.http, email)
            assert response.status_code == 201, response.text  # signups keep working
        ready = await auth.http.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["rabbitmq"].startswith("failed")
    events = await auth.events.collect(len(emails), timeout_s=60)
    assert [e.data.email for e in events] == emails  # all, once each, in order
    assert len({e.id for e in events}) == len(emails)


async def test_first_admin_is_created_once(auth: AuthUnderTest, tmp_path) -> None:
    second = create_app(auth.settings)  # a restart, or a second replica
    async with second.router.lifespan_context(second):
        pass
    admin = await login(auth.http, ADMIN["email"], ADMIN["password"])
    users = await auth.http.get(
        "/api/auth/all-users", headers={"Authorization": f"Bearer {admin['token']}"}
    )
    assert [u["email"] for u in users.json()] == [ADMIN["email"]]


async def test_duplicate_email_is_refused_even_with_other_case(auth: AuthUnderTest) -> None:
    assert (await signup(auth.http, "dave@example.com")).status_code == 201
    again = await signup(auth.http, "  DAVE@example.com ")
    assert again.status_code == 400
    assert again.json() == {"msg": "User already exists", "code": "email_taken"}


async def test_refresh_rotates_and_reuse_revokes_the_login(auth: AuthUnderTest) -> None:
    await signup(auth.http, "erin@example.com")
    first = await login(auth.http, "erin@example.com", "secret-pw")
    other_login = await login(auth.http, "erin@example.com", "secret-pw")

    rotated = await auth.http.post(
        "/api/auth/refresh", json={"refreshToken": first["refreshToken"]}
    )
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refreshToken"] != first["refreshToken"]

    # The spent token again: someone copied it. That whole login ends.
    reuse = await auth.http.post("/api/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert reuse.status_code == 401
    after = await auth.http.post("/api/auth/refresh", json={"refreshToken": second["refreshToken"]})
    assert after.status_code == 401
    # Another login of the same user is untouched.
    other = await auth.http.post(
        "/api/auth/refresh", json={"refreshToken": other_login["refreshToken"]}
    )
    assert other.status_code == 200


async def test_disabling_a_user_publishes_and_revokes(auth: AuthUnderTest) -> None:
    response = await signup(auth.http, "frank@example.com")
    frank_id = response.json()["user"]["id"]
    frank = await login(auth.http, "frank@example.com", "secret-pw")
    admin = await login(auth.http, ADMIN["email"], ADMIN["password"])
    headers = {"Authorization": f"Bearer {admin['token']}"}

    disabled = await auth.http.patch(
        f"/api/auth/users/{frank_id}", json={"disabled": True}, headers=headers
    )
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    refused = await auth.http.post(
        "/api/auth/refresh", json={"refreshToken": frank["refreshToken"]}
    )
    assert refused.status_code == 401
    no_login = await auth.http.post(
        "/api/auth/login", json={"email": "frank@example.com", "password": "secret-pw"}
    )
    assert no_login.status_code == 403

    promoted = await auth.http.patch(
        f"/api/auth/users/{frank_id}", json={"disabled": False, "role": "agent"}, headers=headers
    )
    assert promoted.json()["role"] == "agent"
    events = await auth.events.collect(4)
    kinds = [(type(e), e.data.email) for e in events]
    assert kinds[-2:] == [(UserDisabled, "frank@example.com"), (UserUpdated, "frank@example.com")]
    assert events[-1].data.role == "agent" and events[-1].data.disabled is False


async def test_unknown_email_costs_a_bcrypt_check_like_a_wrong_password(
    auth: AuthUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bcrypt

    checks: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        checks.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    await signup(auth.http, "gina@example.com")
    unknown = await auth.http.post(
        "/api/auth/login", json={"email": "nobody@example.com", "password": "x" * 8}
    )
    wrong = await auth.http.post(
        "/api/auth/login", json={"email": "gina@example.com", "password": "x" * 8}
    )
    assert unknown.status_code == wrong.status_code == 400
    assert (
        unknown.json()
        == wrong.json()
        == {"msg": "Invalid credentials", "code": "invalid_credentials"}
    )
    assert len(checks) == 2  # one bcrypt comparison each, same cost
    assert checks[0].startswith(b"$2b$04$") and checks[1].startswith(b"$2b$04$")


async def test_internal_user_listing_pages_by_id_for_services_only(auth: AuthUnderTest) -> None:
    for n in range(5):
        await signup(auth.http, f"paged{n}@example.com")
    service = {"Authorization": f"Bearer {SERVICE_TOKEN}"}
    seen: list[str] = []
    after = ""
    for _ in range(10):
        response = await auth.http.get(
            "/internal/users", params={"after": after, "limit": 2}, headers=service
        )
        assert response.status_code == 200
        page = response.json()
        seen += [u["email"] for u in page["users"]]
        assert all(
            set(u) == {"id", "email", "role", "name", "disabled", "updatedAt"}
            for u in page["users"]
        )
        if page["next"] is None:
            break
        after = page["next"]
    assert seen == [ADMIN["email"], *(f"paged{n}@example.com" for n in range(5))]

    user = await login(auth.http, "paged0@example.com", "secret-pw")
    user_headers = {"Authorization": f"Bearer {user['token']}"}
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Bearer {user['token']}"},
    ):
        refused = await auth.http.get("/internal/users", headers=headers)
        assert refused.status_code == 401
    bad = await auth.http.get("/internal/users", params={"after": "zz"}, headers=service)
    assert bad.status_code == 400

    one = await auth.http.get(f"/internal/users/{user['user']['id']}", headers=service)
    assert one.status_code == 200
    assert (one.json()["email"], one.json()["role"]) == ("paged0@example.com", "customer")
    unknown = await auth.http.get("/internal/users/0123456789abcdef01234567", headers=service)
    assert unknown.status_code == 404
    stranger = await auth.http.get(f"/internal/users/{user['user']['id']}", headers=user_headers)
    assert stranger.status_code == 401


async def test_login_with_a_password_over_72_bytes_is_a_plain_refusal(auth: AuthUnderTest) -> None:
    await signup(auth.http, "hal@example.com")
    for email in ("hal@example.com", "nobody@example.com"):
        response = await auth.http.post(
            "/api/auth/login", json={"email": email, "password": "p" * 73}
        )
        assert response.status_code == 400, response.text
        assert response.json() == {"msg": "Invalid credentials", "code": "invalid_credentials"}


async def test_signup_refuses_an_email_with_control_or_bidi_characters(auth: AuthUnderTest) -> None:
    for email in ("a\u0000b@example.com", "evil\u202e@example.com", "a,b@example.com"):
        response = await signup(auth.http, email)
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_email"


async def test_a_user_id_with_a_trailing_newline_is_a_400(auth: AuthUnderTest) -> None:
    admin = await login(auth.http, ADMIN["email"], ADMIN["password"])
    headers = {"Authorization": f"Bearer {admin['token']}"}
    response = await auth.http.patch(
        f"/api/auth/users/{admin['user']['id']}%0A", json={"role": "agent"}, headers=headers
    )
    assert response.status_code in (400, 422), response.text
    assert "code" in response.json()


async def test_a_body_over_the_limit_is_refused_before_it_is_parsed(auth: AuthUnderTest) -> None:
    # An unauthenticated refresh with a huge JSON array used to be parsed whole.
    huge = b'{"refreshToken": [' + b"0," * 20_000 + b"0]}"
    declared = await auth.http.post(
        "/api/auth/refresh", content=huge, headers={"content-type": "application/json"}
    )

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(huge), 4096):
            yield huge[start : start + 4096]

    streamed = await auth.http.post(
        "/api/auth/refresh", content=chunks(), headers={"content-type": "application/json"}
    )
    for response in (declared, streamed):
        assert response.status_code == 413, response.text
        assert response.json()["code"] == "payload_too_large"
    small = await auth.http.post("/api/auth/refresh", json={"refreshToken": "x" * 100})
    assert small.status_code == 401, small.text


async def test_wrong_passwords_throttle_the_account_known_or_not_without_bcrypt(
    mongo_uri: str, rabbit_url: str, unique_name: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bcrypt

    settings = make_settings(mongo_uri, rabbit_url, unique_name, tmp_path).model_copy(
        update={"login_free_failures": 3, "login_backoff_base_s": 1.5}
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://auth") as http:
            await signup(http, "ivy@example.com", "right-password")
            checks: list[bytes] = []
            real = bcrypt.checkpw

            def counting(password: bytes, hashed: bytes) -> bool:
                checks.append(hashed)
                return real(password, hashed)

            monkeypatch.setattr(bcrypt, "checkpw", counting)
            answers: dict[str, list[tuple[int, str]]] = {}
            for email in ("ivy@example.com", "nobody-here@example.com"):
                answers[email] = []
                for _ in range(5):
                    response = await http.post(
                        "/api/auth/login", json={"email": email, "password": "wrong-password"}
                    )
                    answers[email].append((response.status_code, response.json()["code"]))
                    if response.status_code == 429:
                        assert int(response.headers["retry-after"]) >= 1
            # Three checked, then refused without bcrypt; an unknown email exactly alike.
            expected = [(400, "invalid_credentials")] * 3 + [(429, "login_throttled")] * 2
            assert answers["ivy@example.com"] == expected
            assert answers["nobody-here@example.com"] == expected
            assert len(checks) == 6
            # Even the right password waits out the backoff; then it works and clears the count.
            right = {"email": "IVY@example.com ", "password": "right-password"}
            assert (await http.post("/api/auth/login", json=right)).status_code == 429
            await asyncio.sleep(1.6)
            assert (await http.post("/api/auth/login", json=right)).status_code == 200
            wrong = {"email": "ivy@example.com", "password": "wrong-password"}
            assert (await http.post("/api/auth/login", json=wrong)).status_code == 400
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient = AsyncMongoClient(mongo_uri)
    await client.drop_database(unique_name)
    await client.close()
