"""The two-request forms the services use instead of findAndModify (which SecantusDB answers by
reading the whole collection), against the real database server: they answer what
`find_one_and_update` / `find_one_and_delete` would, and no service calls those any more."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.asynchronous.mongo_client import AsyncMongoClient
from workcity_common.database import read_and_delete_by_id, update_by_id_and_read

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


async def test_update_by_id_and_read_answers_the_document_after_the_update(
    mongo_db: AsyncDatabase,
) -> None:
    things = mongo_db["things"]
    await things.insert_one({"_id": 1, "n": 1, "open": True})
    after = await update_by_id_and_read(things, {"_id": 1, "open": True}, {"$inc": {"n": 1}})
    assert after == {"_id": 1, "n": 2, "open": True}
    # A condition that does not hold: nothing changes and nothing is answered.
    assert (
        await update_by_id_and_read(things, {"_id": 1, "open": False}, {"$inc": {"n": 1}}) is None
    )
    assert await update_by_id_and_read(things, {"_id": 2}, {"$inc": {"n": 1}}) is None
    assert await things.find_one({"_id": 1}) == {"_id": 1, "n": 2, "open": True}
    with pytest.raises(ValueError):
        await update_by_id_and_read(things, {"open": True}, {"$inc": {"n": 1}})


async def test_read_and_delete_by_id_in_a_transaction_is_one_change(
    mongo_db: AsyncDatabase,
) -> None:
    things = mongo_db["things"]
    await things.insert_many([{"_id": 1, "n": 1}, {"_id": 2, "n": 2}])
    client: AsyncMongoClient[Any] = mongo_db.client
    async with client.start_session() as session:

        async def work(session: Any) -> Any:
            return await read_and_delete_by_id(things, {"_id": 1}, session=session)

        assert await session.with_transaction(work) == {"_id": 1, "n": 1}
        async with await session.start_transaction():
            assert await read_and_delete_by_id(things, {"_id": 2}, session=session) is not None
            await session.abort_transaction()  # rolled back: the delete with it
        assert await read_and_delete_by_id(things, {"_id": 9}, session=session) is None
    assert [d["_id"] async for d in things.find({})] == [2]


def test_no_service_calls_find_and_modify() -> None:
    calls = re.compile(r"\.find_one_and_(update|delete|replace)\(")
    found = [
        f"{path.relative_to(REPO)}:{number}"
        for root in ("services", "libs")
        for path in (REPO / root).rglob("*.py")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if calls.search(line)
    ]
    assert found == [], "findAndModify reads a whole collection on SecantusDB: " + ", ".join(found)
