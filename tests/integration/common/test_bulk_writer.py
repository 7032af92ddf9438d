"""Writes to several collections in one request (MongoDB 8.0's client-level bulkWrite), and the
same writes one bulk per collection for an older server, against the real database server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.asynchronous.mongo_client import AsyncMongoClient
from pymongo.errors import BulkWriteError, PyMongoError
from workcity_common.bulk import MultiCollectionWriter, insert, update
from workcity_common.database import command_counters, make_mongo_client

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(mongo_uri: str) -> AsyncIterator[AsyncMongoClient[Any]]:
    client = make_mongo_client(mongo_uri, "bulk-test")
    yield client
    await client.close()


@pytest.fixture
async def db(client: AsyncMongoClient[Any], unique_name: str) -> AsyncIterator[AsyncDatabase]:
    db = client[unique_name]
    await db["counters"].insert_one({"_id": 1, "n": 0})
    await db["items"].create_index("key", unique=True)
    yield db
    await client.drop_database(unique_name)


async def in_transaction(client: AsyncMongoClient[Any], work: Any) -> Any:
    async with client.start_session(causal_consistency=False) as session:
        return await session.with_transaction(work)


@pytest.mark.parametrize("one_request", [True, False])
async def test_writes_to_three_collections_commit_together(
    client: AsyncMongoClient[Any], db: AsyncDatabase, one_request: bool
) -> None:
    [counter] = command_counters(client)
    bulk = MultiCollectionWriter(client, one_request=one_request)

    async def work(session: AsyncClientSession) -> int:
        return await bulk.write(
            [
                update(db["counters"], {"_id": 1}, {"$inc": {"n": 2}}),
                insert(db["items"], {"key": "a"}),
                insert(db["items"], {"key": "b"}),
                insert(db["log"], {"what": "two items"}),
            ],
            session,
        )

    before = dict(counter.counts)
    assert await in_transaction(client, work) == 1  # the update modified one document
    sent = {k: v - before.get(k, 0) for k, v in counter.counts.items() if v != before.get(k, 0)}
    if one_request:
        assert sent == {"bulkWrite": 1, "commitTransaction": 1}
    else:
        assert sent == {"update": 1, "insert": 2, "commitTransaction": 1}
    assert await db["counters"].find_one({"_id": 1}) == {"_id": 1, "n": 2}
    assert sorted(d["key"] for d in await db["items"].find().to_list(None)) == ["a", "b"]
    assert await db["log"].count_documents({}) == 1


@pytest.mark.parametrize("one_request", [True, False])
async def test_a_duplicate_key_raises_bulk_write_error_and_nothing_is_kept(
    client: AsyncMongoClient[Any], db: AsyncDatabase, one_request: bool
) -> None:
    await db["items"].insert_one({"key": "taken"})
    bulk = MultiCollectionWriter(client, one_request=one_request)

    async def work(session: AsyncClientSession) -> int:
        return await bulk.write(
            [
                update(db["counters"], {"_id": 1}, {"$inc": {"n": 1}}),
                insert(db["items"], {"key": "taken"}),
                insert(db["log"], {"what": "never"}),
            ],
            session,
        )

    with pytest.raises(BulkWriteError) as raised:
        await in_transaction(client, work)
    [error] = raised.value.details["writeErrors"]
    assert error["code"] == 11000 and "key_1" in error["errmsg"]
    # The transaction was aborted: the update before the failed insert is gone too.
    assert await db["counters"].find_one({"_id": 1}) == {"_id": 1, "n": 0}
    assert await db["log"].count_documents({}) == 0


async def test_a_write_conflict_keeps_its_label_so_the_transaction_is_retried(
    client: AsyncMongoClient[Any], db: AsyncDatabase
) -> None:
    """A write conflict comes back from one bulkWrite as the whole request's error; the driver
    wraps it, and without the label `with_transaction` would not retry it."""
    bulk = MultiCollectionWriter(client, one_request=True)
    holder = client.start_session()
    await holder.start_transaction()
    await db["counters"].update_one({"_id": 1}, {"$inc": {"n": 10}}, session=holder)
    try:
        async with client.start_session(causal_consistency=False) as session:
            await session.start_transaction()
            with pytest.raises(PyMongoError) as raised:
                await bulk.write([update(db["counters"], {"_id": 1}, {"$inc": {"n": 1}})], session)
            assert raised.value.has_error_label("TransientTransactionError")
            await session.abort_transaction()
    finally:
        await holder.abort_transaction()
        await holder.end_session()


async def test_the_server_of_the_tests_takes_one_request(
    client: AsyncMongoClient[Any], db: AsyncDatabase
) -> None:
    """SecantusDB and MongoDB 8.0 speak wire version 25: the writer asks once and uses bulkWrite."""
    bulk = MultiCollectionWriter(client)

    async def work(session: AsyncClientSession) -> int:
        return await bulk.write([insert(db["log"], {"n": 1})], session)

    await in_transaction(client, work)
    assert bulk.one_request is True
