"""Fixtures shared by every test folder: a real MongoDB-wire server and the real RabbitMQ.

MongoDB: SecantusDB in memory on a free port, or the server named by MONGO_URI (the same suite
runs against real MongoDB that way). RabbitMQ: AMQP_URL, default the local guest account.
Each test gets its own database and its own exchange, so tests never see each other's data.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from tests.support.servers import SecantusServer, amqp_url, mongo_uri_from_env


@pytest.fixture(scope="session")
def mongo_uri() -> Iterator[str]:
    configured = mongo_uri_from_env()
    if configured:
        yield configured
        return
    server = SecantusServer()
    server.start()
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture(scope="session")
def rabbit_url() -> str:
    return amqp_url()


@pytest.fixture
def unique_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def mongo_db(mongo_uri: str, unique_name: str) -> AsyncIterator[AsyncDatabase]:
    client: AsyncMongoClient = AsyncMongoClient(mongo_uri, tz_aware=True)
    db = client[unique_name]
    try:
        yield db
    finally:
        await client.drop_database(unique_name)
        await client.close()
