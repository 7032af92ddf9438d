"""Writes to several collections in one request: MongoDB 8.0's client-level `bulkWrite`.

A send's transaction writes three collections (the conversations' claims, the messages, the
outbox entry). As one bulk per collection that is three requests before the commit; as one
`bulkWrite`, one (bench/RESULTS.md, issue 12: on SecantusDB 0.6 ms less of the server's CPU and
about 1 ms less latency per transaction, and the driver's cost of two requests less in the
service). A server older than 8.0 gets the same writes as one bulk per run of one collection.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.mongo_client import AsyncMongoClient
from pymongo.errors import BulkWriteError, ClientBulkWriteException

from workcity_common.database import Document

# MongoDB 8.0's wire version, the first with the client-level `bulkWrite` command.
CLIENT_BULK_WRITE_WIRE_VERSION = 25

Write = InsertOne[Document] | UpdateOne
# A write and the collection it goes to.
Targeted = tuple[AsyncCollection[Document], Write]


def insert(collection: AsyncCollection[Document], document: Document) -> Targeted:
    return collection, InsertOne(document, namespace=collection.full_name)


def update(
    collection: AsyncCollection[Document], filter: Document, change: Document | list[Document]
) -> Targeted:
    return collection, UpdateOne(filter, change, namespace=collection.full_name)


class MultiCollectionWriter:
    def __init__(
        self, client: AsyncMongoClient[Document], *, one_request: bool | None = None
    ) -> None:
        self._client = client
        # Whether the server has `bulkWrite`; None: ask it at the first write.
        self.one_request = one_request

    async def write(
        self, writes: Sequence[Targeted], session: AsyncClientSession, *, together: bool = True
    ) -> int:
        """Run `writes` in order, stopping at the first that fails; returns how many documents
        the updates modified. With `together` false, one bulk per collection even where the
        server has `bulkWrite` (cheaper for many writes on SecantusDB, whose `bulkWrite` costs
        more per write than a collection's own commands). A write's own error (a duplicate key) raises `BulkWriteError`
        with its `writeErrors`, as a collection's `bulk_write` does; an error of the whole
        request raises as it would alone, its labels intact (a write conflict in a transaction
        keeps `TransientTransactionError`, so `with_transaction` retries it)."""
        if not writes:
            return 0
        if not together:
            return await _per_collection(writes, session)
        if self.one_request is None:
            hello: dict[str, Any] = await self._client.admin.command("hello")
            self.one_request = hello.get("maxWireVersion", 0) >= CLIENT_BULK_WRITE_WIRE_VERSION
        if not self.one_request:
            return await _per_collection(writes, session)
        try:
            result = await self._client.bulk_write(
                [write for _, write in writes], session=session, ordered=True
            )
        except ClientBulkWriteException as exc:
            if isinstance(exc.error, BaseException):
                raise exc.error from exc
            raise BulkWriteError(
                {"writeErrors": exc.write_errors or [], "writeConcernErrors": []}
            ) from exc
        return result.modified_count


async def _per_collection(writes: Sequence[Targeted], session: AsyncClientSession) -> int:
    modified = 0
    for collection, run in itertools.groupby(writes, key=lambda targeted: targeted[0]):
        result = await collection.bulk_write(
            [write for _, write in run], ordered=True, session=session
        )
        modified += result.modified_count
    return modified
