"""MongoDB access with PyMongo's native async API (`AsyncMongoClient`).

Motor is deprecated (past its bug-fix support since May 2026); PyMongo's async client replaces it.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]


# Pooled connections idle longer than this are closed by the client. Servers and proxies close
# idle connections on their own (SecantusDB after 300 s); a write on such a connection fails
# without a retry (retryWrites=false), so the client must let them go first.
MAX_IDLE_MS = 240_000


def make_mongo_client(uri: str, app_name: str) -> AsyncMongoClient[Document]:
    """A client for `uri`. Connecting is lazy: nothing touches the network until first use."""
    return AsyncMongoClient(
        uri,
        appname=app_name,
        tz_aware=True,
        serverSelectionTimeoutMS=5_000,
        connectTimeoutMS=5_000,
        maxIdleTimeMS=MAX_IDLE_MS,
    )


async def ping(db: AsyncDatabase[Document]) -> None:
    await db.command("ping")
