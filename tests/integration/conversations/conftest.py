"""The conversations service against the real SecantusDB and the real RabbitMQ.

Each test gets its own database, exchange and users queue. Tokens are real EdDSA JWTs signed by
a key the test owns and checked by the real `TokenVerifier` (its JWKS fetched from the test).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import aio_pika
import httpx
import jwt
import pytest
from bson import ObjectId
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi import FastAPI
from jwt.algorithms import OKPAlgorithm
from pydantic import SecretStr
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.broker import Broker
from workcity_common.events import Event, UserData, utcnow
from workcity_common.outbox import Outbox
from workcity_common.tokens import KeySet, TokenVerifier
from workcity_conversations.adapters.attachments import AttachmentStore
from workcity_conversations.adapters.directory import UserDirectory
from workcity_conversations.adapters.store import ConversationStore
from workcity_conversations.domain.model import Person
from workcity_conversations.main import create_app
from workcity_conversations.service_layer.service import ConversationService
from workcity_conversations.settings import ConversationsSettings

from tests.integration.conversations.tap import Tap

ISSUER = "workcity-auth"
AUDIENCE = "workcity"


class Tokens:
    """Signs access tokens the way the auth service does (EdDSA, kid, iss, aud, exp)."""

    def __init__(self) -> None:
        self._key = ed25519.Ed25519PrivateKey.generate()
        jwk: dict[str, Any] = OKPAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
        jwk.update(kid="test-key", alg="EdDSA", use="sig")
        self.jwks = {"keys": [jwk]}

    def verifier(self) -> TokenVerifier:
        async def fetch() -> dict[str, Any]:
            return self.jwks

        return TokenVerifier(KeySet(fetch), issuer=ISSUER, audience=AUDIENCE)

    def token(self, person: Person, *, ttl_s: int = 600) -> str:
        now = int(time.time())
        claims = {
            "sub": person.id,
            "email": person.email,
            "role": person.role,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + ttl_s,
        }
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers={"kid": "test-key"})


@pytest.fixture(scope="session")
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture
def settings(mongo_db: AsyncDatabase, rabbit_url: str, unique_name: str) -> ConversationsSettings:
    return ConversationsSettings(  # type: ignore[call-arg]
        ENVIRONMENT="test",
        MONGO_DB=mongo_db.name,
        AMQP_URL=rabbit_url,
        EVENTS_EXCHANGE=f"{unique_name}.events",
        USERS_QUEUE=f"{unique_name}.users",
        PRESENCE_QUEUE=f"{unique_name}.presence",
        OUTBOX_POLL_INTERVAL_SECONDS=0.2,
    )


async def delete_rabbit_objects(url: str, queues: Iterable[str], exchanges: Iterable[str]) -> None:
    connection = await aio_pika.connect(url, timeout=10)
    async with connection:
        channel = await connection.channel()
        for queue in queues:
            await channel.queue_delete(queue)
        for exchange in exchanges:
            await channel.exchange_delete(exchange)


async def wait_for_consumer(url: str, queue: str, timeout_s: float = 20.0) -> None:
    """Until the service's consumer is subscribed (it connects in the background)."""
    deadline = time.monotonic() + timeout_s
    connection = await aio_pika.connect(url, timeout=10)
    async with connection:
        while True:
            channel = await connection.channel()
            try:
                declared = await channel.declare_queue(queue, passive=True)
                if declared.declaration_result.consumer_count:
                    return
            except aio_pika.exceptions.ChannelClosed:
                pass  # not declared yet (a passive declare of a missing queue closes the channel)
            finally:
                if not channel.is_closed:
                    await channel.close()
            assert time.monotonic() < deadline, f"no consumer on {queue}"
            await asyncio.sleep(0.05)


@pytest.fixture
async def rabbit_cleanup(
    settings: ConversationsSettings, rabbit_url: str
) -> AsyncIterator[list[str]]:
    """Queues the test declares; they, the users queue and the exchanges go afterwards."""
    queues: list[str] = []
    yield queues
    await delete_rabbit_objects(
        rabbit_url,
        [
            *queues,
            settings.users_queue,
            settings.users_queue + ".dead",
            settings.presence_queue,
            settings.presence_queue + ".dead",
        ],
        [settings.events_exchange, settings.events_exchange + ".dead"],
    )


@dataclass
class Running:
    app: FastAPI
    http: httpx.AsyncClient
    service: ConversationService
    directory: UserDirectory
    settings: ConversationsSettings


@pytest.fixture
async def running(
    settings: ConversationsSettings,
    mongo_db: AsyncDatabase,
    tokens: Tokens,
    rabbit_cleanup: list[str],
) -> AsyncIterator[Running]:
    """The whole service app (lifespan included: indexes, broker, consumer, relay)."""
    app = create_app(settings, mongo_client=mongo_db.client, token_verifier=tokens.verifier())
    async with app.router.lifespan_context(app):
        await wait_for_consumer(settings.amqp_url, settings.users_queue)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://conversations") as http:
            service: ConversationService = app.state.service
            yield Running(app, http, service, UserDirectory(mongo_db), settings)


@pytest.fixture
def make_user(mongo_db: AsyncDatabase) -> Callable[..., Any]:
    """Put a user in the directory (as a user.registered event would) and return them."""
    directory = UserDirectory(mongo_db)

    async def make(role: str = "customer", *, disabled: bool = False) -> Person:
        user_id = str(ObjectId())
        data = UserData(
            id=user_id,
            email=f"{role}-{user_id[-6:]}@example.test",
            role=role,  # type: ignore[arg-type]
            disabled=disabled,
        )
        await directory.apply(data, utcnow(), source="test")
        person = await directory.get(user_id)
        assert person is not None
        return person

    return make


@pytest.fixture
async def store(mongo_db: AsyncDatabase) -> ConversationStore:
    """The store alone (no relay running): events stay in the outbox."""
    store = ConversationStore(mongo_db, Outbox(mongo_db["outbox"]))
    await store.create_indexes()
    return store


@pytest.fixture
async def service(mongo_db: AsyncDatabase, store: ConversationStore) -> ConversationService:
    return ConversationService(store, UserDirectory(mongo_db), AttachmentStore(mongo_db))


def auth(tokens: Tokens, person: Person) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.token(person)}"}


@pytest.fixture
async def tap(
    settings: ConversationsSettings, rabbit_url: str, rabbit_cleanup: list[str]
) -> AsyncIterator[Callable[..., Any]]:
    taps: list[Tap] = []

    async def make(*keys: str) -> Tap:
        name = f"{settings.users_queue}.tap{len(taps)}"
        rabbit_cleanup.append(name)
        tap = await Tap(rabbit_url, settings.events_exchange, name, keys or ("#",)).start()
        taps.append(tap)
        return tap

    yield make
    for tap in taps:
        await tap.close()


async def publish(rabbit_url: str, exchange: str, events: Iterable[Event]) -> None:
    """Publish like a producer would (a broker of our own, with confirms)."""
    broker = Broker(rabbit_url, exchange)
    broker.start()
    try:
        await broker.wait_ready(10)
        for event in events:
            await broker.publish(event)
    finally:
        await broker.close()


# The service's INTERNAL_API_TOKEN in the tests of its /internal routes.
INTERNAL_TOKEN = "internal-test-token-0123456789abcdef"
SERVICE_AUTH = {"Authorization": f"Bearer {INTERNAL_TOKEN}"}


def with_internal_token(settings: ConversationsSettings) -> ConversationsSettings:
    return settings.model_copy(update={"internal_api_token": SecretStr(INTERNAL_TOKEN)})


async def open_chat(running: Running, make_user: Callable[..., Any]) -> tuple[Any, Any, str]:
    """A customer, an agent and the id of their conversation."""
    customer, agent = await make_user("customer"), await make_user("agent")
    opened = await running.service.open_conversation(customer, agent.id)
    return customer, agent, opened.conversation["_id"]
