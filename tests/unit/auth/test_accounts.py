"""Every use case of auth's `Accounts` (service_layer/accounts.py) against in-memory fakes of its
ports (fakes.py): signup and admin-made accounts, login with its per-email throttle, refresh-token
rotation, logout, and user management. The real adapters (MongoDB, bcrypt, signing keys) are checked
in tests/integration/auth/."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable
from datetime import timedelta

import pytest
from workcity_auth.service_layer.accounts import Accounts, LoginThrottle
from workcity_common.domain_errors import DomainError
from workcity_common.events import utcnow

from tests.unit.auth.fakes import (
    FakeLoginFailures,
    FakePasswords,
    FakeRefreshTokens,
    FakeSigner,
    FakeUsers,
)

PASSWORD = "correct horse"


@dataclasses.dataclass
class World:
    accounts: Accounts
    users: FakeUsers
    tokens: FakeRefreshTokens
    passwords: FakePasswords
    failures: FakeLoginFailures


def world() -> World:
    users, tokens = FakeUsers(), FakeRefreshTokens()
    passwords, failures = FakePasswords(), FakeLoginFailures()
    accounts = Accounts(
        users,
        tokens,
        passwords,
        FakeSigner(),
        failures,
        password_min_length=8,
        login_throttle=LoginThrottle(free_failures=3, backoff_base_s=10, backoff_max_s=60),
    )
    return World(accounts, users, tokens, passwords, failures)


async def refused(code: str, call: Awaitable[object]) -> DomainError:
    with pytest.raises(DomainError) as error:
        await call
    assert error.value.code == code
    return error.value


async def test_signup_makes_a_customer_with_a_normalized_email() -> None:
    w = world()
    user = await w.accounts.signup("  Ann@Example.COM ", PASSWORD, "Ann")
    assert (user.email, user.role, user.name) == ("ann@example.com", "customer", "Ann")
    assert user.password_hash == await w.passwords.hash(PASSWORD)
    await refused("email_taken", w.accounts.signup("ann@example.com", PASSWORD, None))
    await refused("invalid_email", w.accounts.signup("not an email", PASSWORD, None))
    await refused("weak_password", w.accounts.signup("bob@example.com", "short", None))
    await refused("password_too_long", w.accounts.signup("bob@example.com", "é" * 40, None))


async def test_admins_create_staff_but_not_customers_or_unknown_roles() -> None:
    w = world()
    agent = await w.accounts.create_user("agent@example.com", PASSWORD, "agent", None)
    assert agent.role == "agent"
    await refused(
        "invalid_role", w.accounts.create_user("c@example.com", PASSWORD, "customer", None)
    )
    await refused("invalid_role", w.accounts.create_user("r@example.com", PASSWORD, "root", None))


async def test_the_first_admin_is_created_once() -> None:
    w = world()
    await w.accounts.ensure_admin("Admin@Example.com", PASSWORD)
    await w.accounts.ensure_admin("admin@example.com", "another password")
    [admin] = w.users.users.values()
    assert admin.role == "admin" and admin.password_hash == await w.passwords.hash(PASSWORD)


async def test_login_signs_a_token_for_a_new_login() -> None:
    w = world()
    user = await w.accounts.signup("ann@example.com", PASSWORD, None)
    session = await w.accounts.login(" ANN@example.com", PASSWORD)
    assert session.user == user
    family = w.tokens.tokens[session.refresh_token].family_id
    assert session.token == f"jwt:{user.id}:customer:{family}"  # `sid`: the login


async def test_unknown_email_and_wrong_password_answer_alike_after_the_same_work() -> None:
    w = world()
    await w.accounts.signup("ann@example.com", PASSWORD, None)
    unknown = await refused("invalid_credentials", w.accounts.login("bob@example.com", PASSWORD))
    wrong = await refused("invalid_credentials", w.accounts.login("ann@example.com", "wrong pw"))
    assert unknown.msg == wrong.msg == "Invalid credentials"
    assert w.passwords.verified[0] is None  # the unknown email was still verified against
    assert len(w.passwords.verified) == 2


async def test_wrong_passwords_in_a_row_throttle_the_email_until_a_success() -> None:
    w = world()
    await w.accounts.signup("ann@example.com", PASSWORD, None)
    for _ in range(3):
        await refused("invalid_credentials", w.accounts.login("ann@example.com", "wrong pw"))
    throttled = await refused("login_throttled", w.accounts.login("ann@example.com", PASSWORD))
    assert throttled.extra["retryAfter"] == 10  # the third failure in a row: base_s
    # Once the wait is over, a right password logs in and forgets the failures.
    w.failures.counts["ann@example.com"] = dataclasses.replace(
        w.failures.counts["ann@example.com"], blocked_until=utcnow() - timedelta(seconds=1)
    )
    await w.accounts.login("ann@example.com", PASSWORD)
    assert w.failures.counts == {}


async def test_a_disabled_account_cannot_log_in_refresh_or_ask_who_it_is() -> None:
    w = world()
    admin = await w.accounts.create_user("admin@example.com", PASSWORD, "admin", None)
    user = await w.accounts.signup("ann@example.com", PASSWORD, None)
    session = await w.accounts.login("ann@example.com", PASSWORD)
    await w.accounts.update_user(admin.id, user.id, role=None, disabled=True)
    assert w.tokens.live_families(user.id) == set()  # disabling revokes every login
    await refused("forbidden", w.accounts.login("ann@example.com", PASSWORD))
    await refused("unauthorized", w.accounts.refresh(session.refresh_token))
    await refused("forbidden", w.accounts.me(user.id))


async def test_refresh_rotates_once_and_a_reused_token_ends_the_login() -> None:
    w = world()
    user = await w.accounts.signup("ann@example.com", PASSWORD, None)
    first = await w.accounts.login("ann@example.com", PASSWORD)
    second = await w.accounts.refresh(first.refresh_token)
    assert second.refresh_token != first.refresh_token and second.user == user
    await refused("unauthorized", w.accounts.refresh(first.refresh_token))  # reused
    await refused("unauthorized", w.accounts.refresh(second.refresh_token))  # its login ended
    await refused("unauthorized", w.accounts.refresh("never issued"))


async def test_a_refresh_for_a_deleted_user_revokes_the_login() -> None:
    w = world()
    user = await w.accounts.signup("ann@example.com", PASSWORD, None)
    session = await w.accounts.login("ann@example.com", PASSWORD)
    del w.users.users[user.id]
    await refused("unauthorized", w.accounts.refresh(session.refresh_token))
    assert w.tokens.live_families(user.id) == set()


async def test_logout_ends_only_the_callers_own_login() -> None:
    w = world()
    ann = await w.accounts.signup("ann@example.com", PASSWORD, None)
    bob = await w.accounts.signup("bob@example.com", PASSWORD, None)
    anns = await w.accounts.login("ann@example.com", PASSWORD)
    other = await w.accounts.login("ann@example.com", PASSWORD)
    await refused("unauthorized", w.accounts.logout(bob.id, anns.refresh_token))
    await w.accounts.logout(ann.id, anns.refresh_token)
    assert w.tokens.live_families(ann.id) == {w.tokens.tokens[other.refresh_token].family_id}


async def test_me_and_the_user_lists() -> None:
    w = world()
    admin = await w.accounts.create_user("admin@example.com", PASSWORD, "admin", None)
    agent = await w.accounts.create_user("agent@example.com", PASSWORD, "agent", None)
    customer = await w.accounts.signup("ann@example.com", PASSWORD, None)
    assert await w.accounts.me(customer.id) == customer
    await refused("unauthorized", w.accounts.me("64b7f0c2a1b2c3d4e5f60718"))
    assert {u.id for u in await w.accounts.all_users()} == {admin.id, agent.id, customer.id}
    assert await w.accounts.user(agent.id) == agent
    assert await w.accounts.support_staff(admin.id) == [agent]  # not the caller, no customers
    first = await w.accounts.user_page(None, 2)
    rest = await w.accounts.user_page(first[-1].id, 2)
    assert len(first) == 2 and [u.id for u in first + rest] == sorted(w.users.users)


async def test_admins_change_roles_but_never_lock_themselves_out() -> None:
    w = world()
    admin = await w.accounts.create_user("admin@example.com", PASSWORD, "admin", None)
    agent = await w.accounts.create_user("agent@example.com", PASSWORD, "agent", None)
    assert (await w.accounts.update_user(admin.id, agent.id, role="admin", disabled=None)).role == (
        "admin"
    )
    await refused(
        "self_lockout", w.accounts.update_user(admin.id, admin.id, role="agent", disabled=None)
    )
    await refused(
        "self_lockout", w.accounts.update_user(admin.id, admin.id, role=None, disabled=True)
    )
    await refused(
        "not_found",
        w.accounts.update_user(admin.id, "64b7f0c2a1b2c3d4e5f60718", role=None, disabled=True),
    )
