"""MongoDB access with PyMongo's native async API (`AsyncMongoClient`).

Motor is deprecated (past its bug-fix support since May 2026); PyMongo's async client replaces it.
"""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]


def make_mongo_client(uri: str, app_name: str) -> AsyncMongoClient[Document]:
    """A client for `uri`. Connecting is lazy: nothing touches the network until first use."""
    return AsyncMongoClient(
        uri,
        appname=app_name,
        tz_aware=True,
        serverSelectionTimeoutMS=5_000,
        connectTimeoutMS=5_000,
    )


async def ping(db: AsyncDatabase[Document]) -> None:
    await db.command("ping")
