"""Every auth route of the contract, through the gateway, from the user's and the attacker's side."""

from __future__ import annotations

import base64
import json
import uuid

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from workcity_common.send_batch import SEND_BATCH_PATH

from scripts.devstack.config import DEV_INTERNAL_API_TOKEN
from tests.support.api import open_conversation
from tests.support.stack import TestStack
from tests.support.users import TestUser, admin_token, new_user, unique_email

SECRET_FIELDS = ("password", "password_hash", "passwordHash", "hash")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body.get("msg"), str) and body["msg"]
    assert isinstance(body.get("code"), str)
    if code is not None:
        assert body["code"] == code, body
    return body


# --- signup ----------------------------------------------------------------------------------


async def test_signup_creates_a_customer_whatever_role_is_sent(http: httpx.AsyncClient) -> None:
    email = unique_email()
    response = await http.post(
        "/api/auth/signup",
        json={"email": f"  {email.upper()} ", "password": "123456", "role": "admin"},
    )
    assert response.status_code == 201, response.text
    # The original's text: its frontend shows it to people.
    assert response.json()["msg"] == "Customer account registered successfully!"
    user = response.json()["user"]
    assert user["email"] == email
    assert user["role"] == "customer"
    assert user["id"] == user["_id"]
    login = await http.post("/api/auth/login", json={"email": email, "password": "123456"})
    assert login.json()["user"]["role"] == "customer"


async def test_signup_duplicate_email_is_400(http: httpx.AsyncClient) -> None:
    email = unique_email()
    assert (
        await http.post("/api/auth/signup", json={"email": email, "password": "123456"})
    ).status_code == 201
    again = await http.post("/api/auth/signup", json={"email": email.upper(), "password": "654321"})
    assert_error(again, 400, "email_taken")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"email": "x@example.com", "password": "12345"}, "weak_password"),
        ({"email": "x@example.com", "password": "p" * 73}, "password_too_long"),
        ({"email": "not-an-email", "password": "123456"}, "invalid_email"),
        ({"email": "x@example.com"}, "validation_error"),
        ({"password": "123456"}, "validation_error"),
        ({"email": 42, "password": "123456"}, "validation_error"),
        ({"email": "x@example.com", "password": ["123456"]}, "validation_error"),
        ({"email": None, "password": None}, "validation_error"),
        ([], "validation_error"),
        ("just a string", "validation_error"),
        ({"email": "x" * 5000 + "@example.com", "password": "123456"}, "validation_error"),
    ],
)
async def test_signup_bad_input_is_400_json(
    http: httpx.AsyncClient, body: object, code: str
) -> None:
    assert_error(await http.post("/api/auth/signup", json=body), 400, code)


@pytest.mark.parametrize("path", ["/api/auth/signup", "/api/auth/login", "/api/auth/refresh"])
async def test_malformed_json_is_400_json(http: httpx.AsyncClient, path: str) -> None:
    response = await http.post(
        path, content=b'{"email": ', headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "invalid_json")


# --- login -----------------------------------------------------------------------------------


async def test_login_answers_token_refresh_token_and_user(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    user = await new_user(http, stack, "agent")
    response = await http.post(
        "/api/auth/login", json={"email": user.email, "password": user.password}
    )
    assert response.status_code == 200
    body = response.json()
    assert {"token", "refreshToken", "user"} <= body.keys()
    assert body["user"]["id"] == user.id
    assert body["user"]["email"] == user.email
    assert body["user"]["role"] == "agent"
    assert not any(field in body["user"] for field in SECRET_FIELDS)
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["sub"] == user.id and claims["role"] == "agent"


async def test_wrong_password_and_unknown_email_answer_the_same(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    user = await new_user(http, stack)
    wrong = await http.post(
        "/api/auth/login", json={"email": user.email, "password": "wrong-password"}
    )
    unknown = await http.post(
        "/api/auth/login", json={"email": unique_email(), "password": "wrong-password"}
    )
    assert wrong.status_code == unknown.status_code == 400
    assert (
        wrong.json()
        == unknown.json()
        == {"msg": "Invalid credentials", "code": "invalid_credentials"}
    )


# --- tokens ----------------------------------------------------------------------------------


async def test_token_kid_is_published_in_jwks(http: httpx.AsyncClient, stack: TestStack) -> None:
    user = await new_user(http, stack)
    jwks = (await http.get("/api/auth/.well-known/jwks.json")).json()
    kid = jwt.get_unverified_header(user.token)["kid"]
    assert kid in {key["kid"] for key in jwks["keys"]}
    assert all("d" not in key for key in jwks["keys"])  # never a private part


async def test_me_returns_the_caller(http: httpx.AsyncClient, stack: TestStack) -> None:
    user = await new_user(http, stack)
    me = await http.get("/api/auth/me", headers=user.headers)
    assert me.status_code == 200
    assert (me.json()["id"], me.json()["email"], me.json()["role"]) == (
        user.id,
        user.email,
        "customer",
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer not.a.token"},
        {"Authorization": "Basic YWI6Y2Q="},
    ],
)
async def test_missing_or_invalid_token_is_401(http: httpx.AsyncClient, headers: dict) -> None:
    for path in ("/api/auth/me", "/api/auth/all-users", "/api/users/support"):
        assert_error(await http.get(path, headers=headers), 401, "unauthorized")


async def test_forged_tokens_are_401(http: httpx.AsyncClient, stack: TestStack) -> None:
    user = await new_user(http, stack)
    header = jwt.get_unverified_header(user.token)
    claims = jwt.decode(user.token, options={"verify_signature": False})
    claims["role"] = "admin"
    # alg "none"
    unsigned = jwt.encode(claims, key=None, algorithm="none", headers={"kid": header["kid"]})
    # signed by a key of our own, claiming the real kid
    stranger = jwt.encode(
        claims,
        ed25519.Ed25519PrivateKey.generate(),
        algorithm="EdDSA",
        headers={"kid": header["kid"]},
    )
    # the real token with its payload swapped
    head, _, signature = user.token.split(".")
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    tampered = f"{head}.{payload}.{signature}"
    for forged in (unsigned, stranger, tampered):
        assert_error(await http.get("/api/auth/all-users", headers=bearer(forged)), 401)


async def test_refresh_rotates_and_the_old_token_stops_working(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    user = await new_user(http, stack)
    response = await http.post("/api/auth/refresh", json={"refreshToken": user.refresh_token})
    assert response.status_code == 200
    fresh = response.json()
    assert set(fresh) >= {"token", "refreshToken"}
    assert fresh["refreshToken"] != user.refresh_token
    assert (await http.get("/api/auth/me", headers=bearer(fresh["token"]))).status_code == 200
    assert_error(
        await http.post("/api/auth/refresh", json={"refreshToken": user.refresh_token}), 401
    )
    # The reuse revoked the whole login, the new token included.
    assert_error(
        await http.post("/api/auth/refresh", json={"refreshToken": fresh["refreshToken"]}), 401
    )


@pytest.mark.parametrize(
    "body", [{}, {"refreshToken": ""}, {"refreshToken": 5}, {"refreshToken": "x" * 600}]
)
async def test_refresh_bad_input_is_400(http: httpx.AsyncClient, body: dict) -> None:
    assert_error(await http.post("/api/auth/refresh", json=body), 400, "validation_error")


async def test_refresh_unknown_token_is_401(http: httpx.AsyncClient) -> None:
    assert_error(await http.post("/api/auth/refresh", json={"refreshToken": uuid.uuid4().hex}), 401)


async def test_logout_ends_that_login_only(http: httpx.AsyncClient, stack: TestStack) -> None:
    user = await new_user(http, stack)
    second = (
        await http.post("/api/auth/login", json={"email": user.email, "password": user.password})
    ).json()
    response = await http.post(
        "/api/auth/logout", json={"refreshToken": user.refresh_token}, headers=user.headers
    )
    assert response.status_code == 200
    assert_error(
        await http.post("/api/auth/refresh", json={"refreshToken": user.refresh_token}), 401
    )
    kept = await http.post("/api/auth/refresh", json={"refreshToken": second["refreshToken"]})
    assert kept.status_code == 200


async def test_logout_needs_a_bearer_and_ones_own_refresh_token(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    victim, attacker = await new_user(http, stack), await new_user(http, stack)
    assert_error(
        await http.post("/api/auth/logout", json={"refreshToken": victim.refresh_token}), 401
    )
    stolen = await http.post(
        "/api/auth/logout", json={"refreshToken": victim.refresh_token}, headers=attacker.headers
    )
    assert_error(stolen, 401)
    # The victim's login survived the attempt.
    still = await http.post("/api/auth/refresh", json={"refreshToken": victim.refresh_token})
    assert still.status_code == 200


# --- admin routes ----------------------------------------------------------------------------


async def admin_headers(http: httpx.AsyncClient, stack: TestStack) -> dict[str, str]:
    return bearer(await admin_token(http, stack))


@pytest.mark.parametrize("role", ["agent", "designer", "merchant", "admin"])
async def test_admin_creates_staff(http: httpx.AsyncClient, stack: TestStack, role: str) -> None:
    email = unique_email(role)
    response = await http.post(
        "/api/auth/admin/create-user",
        json={"email": email, "password": "staff-pass", "role": role},
        headers=await admin_headers(http, stack),
    )
    assert response.status_code == 201, response.text
    assert response.json()["user"]["role"] == role
    assert response.json()["msg"] == f"User with role '{role}' created successfully!"
    login = await http.post("/api/auth/login", json={"email": email, "password": "staff-pass"})
    assert login.json()["user"]["role"] == role


@pytest.mark.parametrize("role", ["customer", "superuser", "", None, 3])
async def test_admin_create_user_refuses_other_roles(
    http: httpx.AsyncClient, stack: TestStack, role: object
) -> None:
    response = await http.post(
        "/api/auth/admin/create-user",
        json={"email": unique_email(), "password": "staff-pass", "role": role},
        headers=await admin_headers(http, stack),
    )
    assert_error(response, 400)


@pytest.mark.parametrize("caller_role", ["customer", "agent", "designer", "merchant"])
async def test_non_admins_get_403_on_admin_routes(
    http: httpx.AsyncClient, stack: TestStack, caller_role: str
) -> None:
    caller = await new_user(http, stack, caller_role)
    victim = await new_user(http, stack)
    create = await http.post(
        "/api/auth/admin/create-user",
        json={"email": unique_email(), "password": "staff-pass", "role": "admin"},
        headers=caller.headers,
    )
    assert_error(create, 403, "forbidden")
    assert_error(await http.get("/api/auth/all-users", headers=caller.headers), 403, "forbidden")
    patch = await http.patch(
        f"/api/auth/users/{caller.id}", json={"role": "admin"}, headers=caller.headers
    )
    assert_error(patch, 403, "forbidden")
    disable = await http.patch(
        f"/api/auth/users/{victim.id}", json={"disabled": True}, headers=caller.headers
    )
    assert_error(disable, 403, "forbidden")
    me = await http.get("/api/auth/me", headers=caller.headers)
    assert me.json()["role"] == caller_role  # nothing changed


async def test_all_users_lists_everyone_without_secrets(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    customer = await new_user(http, stack)
    response = await http.get("/api/auth/all-users", headers=await admin_headers(http, stack))
    assert response.status_code == 200
    users = response.json()
    emails = {u["email"] for u in users}
    assert {customer.email, stack.admin_email} <= emails
    for user in users:
        assert not any(field in user for field in SECRET_FIELDS)
        assert "$2b$" not in json.dumps(user)


async def test_support_users_are_staff_other_than_the_caller(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    agent = await new_user(http, stack, "agent")
    customer = await new_user(http, stack)
    as_customer = await http.get("/api/users/support", headers=customer.headers)
    assert as_customer.status_code == 200
    listed = {u["id"]: u for u in as_customer.json()}
    assert agent.id in listed
    assert customer.id not in listed
    assert all(u["role"] in {"agent", "designer", "merchant", "admin"} for u in listed.values())
    as_agent = await http.get("/api/users/support", headers=agent.headers)
    assert agent.id not in {u["id"] for u in as_agent.json()}


async def test_admin_changes_role_and_disables(http: httpx.AsyncClient, stack: TestStack) -> None:
    user: TestUser = await new_user(http, stack)
    headers = await admin_headers(http, stack)
    promoted = await http.patch(
        f"/api/auth/users/{user.id}", json={"role": "agent"}, headers=headers
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "agent"

    disabled = await http.patch(
        f"/api/auth/users/{user.id}", json={"disabled": True}, headers=headers
    )
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    login = await http.post(
        "/api/auth/login", json={"email": user.email, "password": user.password}
    )
    assert_error(login, 403)
    assert_error(
        await http.post("/api/auth/refresh", json={"refreshToken": user.refresh_token}), 401
    )
    listed = await http.get("/api/users/support", headers=headers)
    assert user.id not in {u["id"] for u in listed.json()}  # a disabled agent is offered to no one

    enabled = await http.patch(
        f"/api/auth/users/{user.id}", json={"disabled": False}, headers=headers
    )
    assert enabled.json()["disabled"] is False
    again = await http.post(
        "/api/auth/login", json={"email": user.email, "password": user.password}
    )
    assert again.status_code == 200 and again.json()["user"]["role"] == "agent"


@pytest.mark.parametrize(
    ("path_id", "body", "status"),
    [
        ("not-an-id", {"role": "agent"}, 400),
        ("0123456789abcdef0123456789", {"role": "agent"}, 400),
        ("0123456789abcdef01234567", {"role": "agent"}, 404),
        (None, {"role": "god"}, 400),
        (None, {"disabled": "yes please"}, 400),
        (None, {"email": "new@example.com"}, 400),
        (None, [], 400),
    ],
)
async def test_patch_user_bad_input(
    http: httpx.AsyncClient, stack: TestStack, path_id: str | None, body: object, status: int
) -> None:
    target = path_id or (await new_user(http, stack)).id
    response = await http.patch(
        f"/api/auth/users/{target}", json=body, headers=await admin_headers(http, stack)
    )
    assert_error(response, status)


async def test_admin_cannot_lock_themselves_out(http: httpx.AsyncClient, stack: TestStack) -> None:
    admin = await new_user(http, stack, "admin")
    for body in ({"disabled": True}, {"role": "customer"}):
        response = await http.patch(f"/api/auth/users/{admin.id}", json=body, headers=admin.headers)
        assert_error(response, 400, "self_lockout")


async def test_demoted_admin_loses_admin_rights_at_once(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    admin = await new_user(http, stack, "admin")
    assert (await http.get("/api/auth/all-users", headers=admin.headers)).status_code == 200
    demote = await http.patch(
        f"/api/auth/users/{admin.id}",
        json={"role": "agent"},
        headers=await admin_headers(http, stack),
    )
    assert demote.status_code == 200
    # Same, still unexpired token: refused, because admin rights are checked against the store.
    assert_error(await http.get("/api/auth/all-users", headers=admin.headers), 403)


async def test_internal_routes_are_not_reachable_through_the_gateway(
    http: httpx.AsyncClient,
) -> None:
    for path in ("/internal/users", "/internal/conversations/6566f1d2c3b4a59687a1b2c3/unread"):
        response = await http.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/json")


async def test_the_batch_of_sends_is_not_reachable_through_the_gateway(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    # Even with the service token in hand (an attacker who learnt it) and a user's own token in
    # the item: the gateway never routes /internal, so nothing is stored.
    customer, agent = await new_user(http, stack), await new_user(http, stack, "agent")
    cid = await open_conversation(http, customer, agent)
    service_token = stack.dev.config.environ().get("INTERNAL_API_TOKEN", DEV_INTERNAL_API_TOKEN)
    item = {"token": customer.token, "conversationId": cid, "body": {"text": "smuggled"}}
    for path in (SEND_BATCH_PATH, SEND_BATCH_PATH + "/", "/api/../internal/messages/batch"):
        response = await http.post(
            path, json={"items": [item]}, headers={"Authorization": f"Bearer {service_token}"}
        )
        assert response.status_code in (400, 404, 405), (path, response.status_code)
        assert response.headers["content-type"].startswith("application/json"), path
    history = await http.get(f"/api/conversations/{cid}/messages", headers=customer.headers)
    assert history.status_code == 200 and history.json() == []
