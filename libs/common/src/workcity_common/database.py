"""MongoDB access with PyMongo's native async API (`AsyncMongoClient`).

Motor is deprecated (past its bug-fix support since May 2026); PyMongo's async client replaces it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure

from workcity_common.domain_errors import Unavailable
from workcity_common.error_table import http_body

log = logging.getLogger(__name__)

Document = dict[str, Any]


# Pooled connections idle longer than this are closed by the client. Servers and proxies close
# idle connections on their own (SecantusDB after 300 s); a write on such a connection fails
# without a retry (retryWrites=false), so the client must let them go first.
MAX_IDLE_MS = 240_000


class CommandCounter(monitoring.CommandListener, Collector):
    """Counts the commands a client sends to the database, by name (`find`, `insert`,
    `commitTransaction`, ...), for the service's /metrics: how many database round trips a use
    case costs shows there, transactions included."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.counts[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "mongodb_commands", "Commands sent to MongoDB, by command name", labels=["command"]
        )
        for name, count in sorted(self.counts.items()):
            family.add_metric([name], count)
        yield family


def make_mongo_client(uri: str, app_name: str) -> AsyncMongoClient[Document]:
    """A client for `uri`, counting its commands (`command_counters`). Connecting is lazy:
    nothing touches the network until first use."""
    return AsyncMongoClient(
        uri,
        appname=app_name,
        tz_aware=True,
        serverSelectionTimeoutMS=5_000,
        connectTimeoutMS=5_000,
        maxIdleTimeMS=MAX_IDLE_MS,
        event_listeners=[CommandCounter()],
    )


def command_counters(client: AsyncMongoClient[Any]) -> list[CommandCounter]:
    """The command counters of a client made by `make_mongo_client` (none for another)."""
    return [
        listener
        for listener in client.options.event_listeners
        if isinstance(listener, CommandCounter)
    ]


async def ping(db: AsyncDatabase[Document]) -> None:
    await db.command("ping")


def install_database_error_handler(app: FastAPI) -> None:
    """The database not answering (stopped, restarting, failing over, cut off) is a 503 the
    client retries (a send with the same clientMessageId), not an internal error with a
    traceback: a read outside a transaction has no retry of its own (`retryWrites=false`, and
    the driver retries a read once at most). Writes in a transaction end as `busy` instead
    (adapters' commit timeout)."""

    @app.exception_handler(ConnectionFailure)
    async def _database_unavailable(request: Request, exc: ConnectionFailure) -> JSONResponse:
        body = http_body(database_unavailable(exc, path=request.url.path))
        return JSONResponse(body, 503, {"Retry-After": "1"})


def database_unavailable(exc: ConnectionFailure, **context: Any) -> Unavailable:
    """The refusal for a request that met a database not answering, logged without a traceback
    (the handler above, and each item of a batch that answers its items one by one)."""
    log.warning("database unavailable", extra={**context, "error": type(exc).__name__})
    return Unavailable("The database is unavailable, try again")


# SecantusDB answers findAndModify (`find_one_and_update`, `find_one_and_delete`) by reading the
# whole collection whatever the filter: 7.5 µs per stored document, 38 ms at 5,000 messages,
# while an update, a delete or a read by `_id` costs the same at any size (bench/dbcost.py). The
# services use these two-request forms instead; on MongoDB they cost a round trip more, on
# writes that are rare (edits, deletions, refreshes, admin changes).


async def update_by_id_and_read(
    collection: AsyncCollection[Document],
    filter: Document,
    update: Document,
    *,
    session: AsyncClientSession | None = None,
) -> Document | None:
    """What `find_one_and_update(filter, update, return_document=AFTER)` answers, for a filter
    naming `_id`: the document after the update, or None when none matched. In a transaction
    the read sees exactly this update; outside one, a write landing between the two requests
    shows in the answer too."""
    if "_id" not in filter:
        raise ValueError("update_by_id_and_read needs a filter naming _id")
    result = await collection.update_one(filter, update, session=session)
    if result.matched_count == 0:
        return None
    return await collection.find_one({"_id": filter["_id"]}, session=session)


async def read_and_delete_by_id(
    collection: AsyncCollection[Document], filter: Document, *, session: AsyncClientSession
) -> Document | None:
    """What `find_one_and_delete(filter)` answers, for a filter naming `_id`, in the transaction
    of `session` (which makes the read and the delete one change)."""
    if "_id" not in filter:
        raise ValueError("read_and_delete_by_id needs a filter naming _id")
    doc = await collection.find_one(filter, session=session)
    if doc is not None:
        await collection.delete_one({"_id": doc["_id"]}, session=session)
    return doc
