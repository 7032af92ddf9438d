"""The service's copy of the user directory: fed by user.* events over the real RabbitMQ,
deduplicated, ordered by the time of each fact, bootstrapped once from the auth service."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.events import UserData, UserDisabled, UserRegistered, UserUpdated
from workcity_common.tokens import TokenClaims
from workcity_conversations.adapters.directory import UserDirectory
from workcity_conversations.adapters.user_sync import AuthUserSource, UserDirectorySync
from workcity_conversations.domain.model import Person
from workcity_conversations.main import create_app
from workcity_conversations.settings import ConversationsSettings

from tests.integration.conversations.conftest import (
    Running,
    Tokens,
    auth,
    publish,
)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, tzinfo=UTC)


async def eventually(check: Callable[[], Awaitable[bool]], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def user(email: str, role: str = "customer", *, user_id: str | None = None, **kw: Any) -> UserData:
    return UserData(id=user_id or str(ObjectId()), email=email, role=role, **kw)  # type: ignore[arg-type]


async def test_user_events_fill_the_directory_and_duplicates_are_ignored(
    running: Running, rabbit_url: str, mongo_db: AsyncDatabase, tokens: Tokens
) -> None:
    exchange = running.settings.events_exchange
    directory = running.directory
    first = UserRegistered(producer="auth", data=user("first@x.test"), occurred_at=T0)
    uid = first.data.id
    await publish(rabbit_url, exchange, [first])

    async def email_is(expected: str, user_id: str = uid) -> bool:
        person = await directory.get(user_id)
        return person is not None and person.email == expected

    await eventually(lambda: email_is("first@x.test"))

    # A redelivery of the same event (same id) is skipped, whatever it carries.
    duplicate = first.model_copy(update={"data": user("changed@x.test", user_id=uid)})
    sentinel = UserRegistered(producer="auth", data=user("sentinel@x.test"))
    await publish(rabbit_url, exchange, [duplicate, sentinel])
    await eventually(lambda: email_is("sentinel@x.test", sentinel.data.id))
    await asyncio.sleep(0.3)
    assert await email_is("first@x.test")
    assert await mongo_db["processed_events"].count_documents({}) == 2

    # A newer fact wins; an older one arriving late is ignored.
    newer = UserUpdated(
        producer="auth",
        data=user("new@x.test", "agent", user_id=uid),
        occurred_at=T0 + timedelta(minutes=5),
    )
    late = UserUpdated(
        producer="auth",
        data=user("old@x.test", user_id=uid),
        occurred_at=T0 + timedelta(minutes=1),
    )
    await publish(rabbit_url, exchange, [newer, late])
    await eventually(lambda: email_is("new@x.test"))
    await eventually(lambda: _count_is(mongo_db, 4))  # both handled, the late one ignored
    person = await directory.get(uid)
    assert person is not None and (person.email, person.role) == ("new@x.test", "agent")

    # Disabled: the user can no longer use the service, even with a token still valid.
    disabled = UserDisabled(
        producer="auth",
        data=user("new@x.test", "agent", user_id=uid, disabled=True),
        occurred_at=T0 + timedelta(minutes=10),
    )
    await publish(rabbit_url, exchange, [disabled])

    async def is_disabled() -> bool:
        person = await directory.get(uid)
        return person is not None and person.disabled

    await eventually(is_disabled)
    caller = Person(id=uid, email="new@x.test", role="agent")
    response = await running.http.get("/api/conversations", headers=auth(tokens, caller))
    assert response.status_code == 403
    assert response.json() == {"msg": "Account disabled", "code": "account_disabled"}


async def _count_is(db: AsyncDatabase, expected: int) -> bool:
    return await db["processed_events"].count_documents({}) == expected


async def test_a_token_adds_an_unknown_user_and_any_event_overrides_it(
    running: Running, rabbit_url: str, tokens: Tokens
) -> None:
    uid = str(ObjectId())
    newcomer = Person(id=uid, email="fresh@x.test", role="customer")
    # Signed up a moment ago; the event has not arrived: the token is enough to start.
    response = await running.http.get("/api/conversations", headers=auth(tokens, newcomer))
    assert (response.status_code, response.json()) == (200, [])
    stored = await running.directory.get(uid)
    assert stored == Person(id=uid, email="fresh@x.test", role="customer")

    # The registration event arrives afterwards (even with an old timestamp) and wins.
    event = UserRegistered(
        producer="auth", data=user("fresh@x.test", user_id=uid, name="Fresh"), occurred_at=T0
    )
    await publish(rabbit_url, running.settings.events_exchange, [event])

    async def named() -> bool:
        person = await running.directory.get(uid)
        return person is not None and person.name == "Fresh"

    await eventually(named)


# --- bootstrap sync ---------------------------------------------------------------------------


class FakeAuth:
    """The auth service's internal user listing, as the sync expects it."""

    def __init__(self, users: list[dict[str, Any]], page_fails: int | None = None) -> None:
        self.users = sorted(users, key=lambda u: u["id"])
        self.page_fails = page_fails
        self.requests: list[httpx.Request] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("authorization") != "Bearer internal-secret":
            return httpx.Response(401, json={"msg": "no", "code": "unauthorized"})
        if self.page_fails is not None and len(self.requests) == self.page_fails:
            return httpx.Response(503, json={"msg": "busy", "code": "unavailable"})
        after = request.url.params.get("after") or ""
        limit = int(request.url.params["limit"])
        rest = [u for u in self.users if u["id"] > after]
        page = rest[:limit]
        more = len(rest) > limit
        return httpx.Response(200, json={"users": page, "next": page[-1]["id"] if more else None})

    def source(self) -> AuthUserSource:
        client = httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
        return AuthUserSource(client, "http://auth.internal:8000/", "internal-secret")


def auth_user(email: str, role: str = "customer", updated: datetime = T0) -> dict[str, Any]:
    return {
        "id": str(ObjectId()),
        "email": email,
        "role": role,
        "name": None,
        "disabled": False,
        "updatedAt": updated.isoformat(),
        "passwordHash": "never sent, ignored if it were",
    }


async def test_sync_copies_every_user_once(mongo_db: AsyncDatabase) -> None:
    users = [auth_user(f"u{i}@x.test", "agent" if i % 2 else "customer") for i in range(5)]
    fake = FakeAuth(users)
    directory = UserDirectory(mongo_db)
    sync = UserDirectorySync(mongo_db, directory, fake.source(), page_size=2, retry_s=0.1)
    assert await sync.run_once() == 5
    assert len(fake.requests) == 3
    assert [r.url.params["after"] for r in fake.requests] == ["", users[1]["id"], users[3]["id"]]
    people = await directory.get_many(u["id"] for u in users)
    assert {p.email for p in people.values()} == {u["email"] for u in users}
    assert await sync.is_complete()
    # Complete: never again (no request).
    assert await sync.run_once() == 0
    assert len(fake.requests) == 3


async def test_sync_resumes_after_a_failure_and_keeps_newer_facts(mongo_db: AsyncDatabase) -> None:
    users = [auth_user(f"u{i}@x.test") for i in range(6)]
    directory = UserDirectory(mongo_db)
    # An event about users[5], newer than the auth record the sync will read.
    newer = user("renamed@x.test", user_id=users[5]["id"])
    await directory.apply(newer, T0 + timedelta(hours=1), source="user.updated")

    fake = FakeAuth(users, page_fails=2)
    sync = UserDirectorySync(mongo_db, directory, fake.source(), page_size=2, retry_s=0.05)
    with pytest.raises(httpx.HTTPStatusError):
        await sync.run_once()
    assert not await sync.is_complete()
    # The first page (2 users) is in, besides the one the event brought.
    assert len(await directory.get_many(u["id"] for u in users)) == 3

    # The background runner retries and resumes after the last page it saved.
    sync.start()
    await eventually(sync.is_complete)
    await sync.close()
    assert fake.requests[2].url.params["after"] == users[1]["id"]
    people = await directory.get_many(u["id"] for u in users)
    assert len(people) == 6
    assert people[users[5]["id"]].email == "renamed@x.test"


async def test_the_app_runs_the_sync_after_its_queue_exists(
    settings: ConversationsSettings,
    mongo_db: AsyncDatabase,
    tokens: Tokens,
    rabbit_url: str,
    rabbit_cleanup: list[str],
) -> None:
    staff = auth_user("staff@x.test", "agent")
    fake = FakeAuth([staff])
    app = create_app(
        settings,
        mongo_client=mongo_db.client,
        token_verifier=tokens.verifier(),
        user_source=fake.source(),
    )
    async with app.router.lifespan_context(app):
        directory = UserDirectory(mongo_db)

        async def synced() -> bool:
            return await directory.get(staff["id"]) is not None

        await eventually(synced)
        # A customer who never produced an event here can open a conversation with the staff
        # member the sync brought in.
        customer = Person(id=str(ObjectId()), email="c@x.test", role="customer")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://c") as http:
            response = await http.post(
                "/api/conversations",
                json={"recipientId": staff["id"]},
                headers=auth(tokens, customer),
            )
        assert response.status_code == 201, response.text
        assert response.json()["participants"][1]["email"] == "staff@x.test"


async def test_disabled_token_claims_do_not_override_a_disabled_directory_entry(
    mongo_db: AsyncDatabase,
) -> None:
    directory = UserDirectory(mongo_db)
    gone = user("gone@x.test", disabled=True)
    await directory.apply(gone, T0, source="user.disabled")
    claims = TokenClaims(user_id=gone.id, email=gone.email, role="customer", expires_at=0)
    person = await directory.ensure_from_claims(claims)
    assert person.disabled


async def test_a_demotion_whose_event_was_lost_is_corrected_by_the_reconciliation(
    mongo_db: AsyncDatabase,
) -> None:
    admin = auth_user("demoted@x.test", "admin", updated=T0)
    other = auth_user("renamed@x.test", updated=T0)
    fake = FakeAuth([admin, other])
    directory = UserDirectory(mongo_db)
    sync = UserDirectorySync(
        mongo_db, directory, fake.source(), page_size=1, retry_s=0.05, reconcile_interval_s=0.2
    )
    assert await sync.run_once() == 2  # the bootstrap, long ago
    # Later auth demotes the admin, and that user.updated ends in the dead-letter queue; the
    # other user's rename arrives as an event, newer than anything auth's listing says.
    fake.users[[u["id"] for u in fake.users].index(admin["id"])] = {
        **admin,
        "role": "agent",
        "updatedAt": (T0 + timedelta(hours=1)).isoformat(),
    }
    await directory.apply(
        user("newer@x.test", user_id=other["id"]), T0 + timedelta(hours=2), "user.updated"
    )
    assert (await directory.get(admin["id"])).role == "admin"  # type: ignore[union-attr]
    sync.start()

    async def corrected() -> bool:
        directory._forget(admin["id"])
        person = await directory.get(admin["id"])
        return person is not None and person.role == "agent"

    await eventually(corrected, timeout_s=10)
    await sync.close()
    people = await directory.get_many([admin["id"], other["id"]])
    assert people[other["id"]].email == "newer@x.test"  # the newer fact is kept
