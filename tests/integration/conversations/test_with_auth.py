"""The conversations service with the real auth service (both in process, real SecantusDB and
RabbitMQ): users who signed up before conversations first started are known through the
bootstrap copy, later ones through events, and auth's own tokens are accepted."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from workcity_auth.main import create_app as create_auth_app
from workcity_auth.settings import AuthSettings
from workcity_common.tokens import KeySet, TokenVerifier
from workcity_conversations.adapters.directory import UserDirectory
from workcity_conversations.adapters.user_sync import AuthUserSource
from workcity_conversations.main import create_app
from workcity_conversations.settings import ConversationsSettings

from tests.integration.conversations.conftest import wait_for_consumer

pytestmark = pytest.mark.integration

SERVICE_TOKEN = "internal-test-token-for-conversations"
ADMIN = {"email": "root@workcity.example", "password": "root-password"}


async def signup_and_login(auth: httpx.AsyncClient, email: str) -> dict[str, Any]:
    password = "secret-password"
    created = await auth.post("/api/auth/signup", json={"email": email, "password": password})
    assert created.status_code == 201, created.text
    return await login(auth, email, password)


async def login(auth: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    response = await auth.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_users_from_before_the_first_start_are_copied_and_auth_tokens_work(
    settings: ConversationsSettings,
    mongo_db: AsyncDatabase,
    mongo_uri: str,
    rabbit_cleanup: list[str],
    tmp_path: Path,
) -> None:
    auth_settings = AuthSettings.model_validate(
        {
            "ENVIRONMENT": "test",
            "MONGO_URI": mongo_uri,
            "MONGO_DB": f"{mongo_db.name}_auth",
            "AMQP_URL": settings.amqp_url,
            "EVENTS_EXCHANGE": settings.events_exchange,
            "ADMIN_EMAIL": ADMIN["email"],
            "ADMIN_PASSWORD": ADMIN["password"],
            "DATA_DIR": str(tmp_path),
            "BCRYPT_ROUNDS": 4,
            "OUTBOX_POLL_INTERVAL_SECONDS": 0.2,
            "INTERNAL_API_TOKEN": SERVICE_TOKEN,
        }
    )
    auth_app = create_auth_app(auth_settings)
    try:
        async with auth_app.router.lifespan_context(auth_app):
            to_auth = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=auth_app), base_url="http://auth"
            )
            async with to_auth:
                await run_scenario(settings, mongo_db, to_auth)
    finally:
        client: AsyncMongoClient = AsyncMongoClient(mongo_uri)
        await client.drop_database(f"{mongo_db.name}_auth")
        await client.close()


async def run_scenario(
    settings: ConversationsSettings, mongo_db: AsyncDatabase, to_auth: httpx.AsyncClient
) -> None:
    # Before the conversations service ever ran: the first admin (made at auth's start-up) and
    # an early customer. Their user.registered events found no queue and are gone.
    early = await signup_and_login(to_auth, "early@workcity.example")
    admin = await login(to_auth, ADMIN["email"], ADMIN["password"])

    async def auth_jwks() -> dict[str, Any]:
        response = await to_auth.get("/api/auth/.well-known/jwks.json")
        result: dict[str, Any] = response.json()
        return result

    verifier = TokenVerifier(KeySet(auth_jwks), issuer="workcity-auth", audience="workcity")
    app = create_app(
        settings,
        mongo_client=mongo_db.client,
        token_verifier=verifier,
        user_source=AuthUserSource(to_auth, "http://auth", SERVICE_TOKEN),
    )
    directory = UserDirectory(mongo_db)
    async with app.router.lifespan_context(app):
        await wait_for_consumer(settings.amqp_url, settings.users_queue)
        deadline = time.monotonic() + 20
        while len(await directory.get_many([early["user"]["id"], admin["user"]["id"]])) < 2:
            assert time.monotonic() < deadline, "the bootstrap copy did not bring the users"
            await asyncio.sleep(0.1)

        # It was the copy that brought them (their events were published before the queue
        # existed), and the copy carries auth's record as it is.
        for user in (early, admin):
            stored = await mongo_db["users"].find_one({"_id": user["user"]["id"]})
            assert stored is not None
            assert (stored["source"], stored["email"], stored["role"]) == (
                "sync",
                user["user"]["email"],
                user["user"]["role"],
            )

        # After the start: a new signup arrives as an event.
        late = await signup_and_login(to_auth, "late@workcity.example")
        while await directory.get(late["user"]["id"]) is None:
            assert time.monotonic() < deadline + 20, "the user.registered event did not arrive"
            await asyncio.sleep(0.1)
        stored = await mongo_db["users"].find_one({"_id": late["user"]["id"]})
        assert stored is not None and stored["source"] == "user.registered"

        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://conv") as http:
            # The early customer opens a conversation with the admin (known only via the copy),
            # with a token signed by the real auth service.
            opened = await http.post(
                "/api/conversations",
                json={"recipientId": admin["user"]["id"]},
                headers={"Authorization": f"Bearer {early['token']}"},
            )
            assert opened.status_code == 201, opened.text
            emails = [p["email"] for p in opened.json()["participants"]]
            assert emails == ["early@workcity.example", ADMIN["email"]]
            # Customers cannot open conversations with customers, whichever way they arrived.
            refused = await http.post(
                "/api/conversations",
                json={"recipientId": late["user"]["id"]},
                headers={"Authorization": f"Bearer {early['token']}"},
            )
            assert refused.status_code == 403, refused.text
