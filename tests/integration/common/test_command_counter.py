"""The database client counts its commands (transactions included) for /metrics."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from workcity_common.database import command_counters, make_mongo_client

pytestmark = pytest.mark.integration


async def test_commands_are_counted_by_name_and_exposed(mongo_uri: str, unique_name: str) -> None:
    client = make_mongo_client(mongo_uri, "counter-test")
    [counter] = command_counters(client)
    collection = client[unique_name]["things"]
    try:
        await collection.insert_one({"n": 1})
        await collection.find_one({"n": 1})
        async with client.start_session() as session:

            async def work(s):  # type: ignore[no-untyped-def]
                await collection.insert_one({"n": 2}, session=s)

            await session.with_transaction(work)
        assert counter.counts["insert"] == 2
        assert counter.counts["find"] == 1
        assert counter.counts["commitTransaction"] == 1
        registry = CollectorRegistry()
        registry.register(counter)
        text = generate_latest(registry).decode()
        assert 'mongodb_commands_total{command="insert"} 2.0' in text
    finally:
        await client.drop_database(unique_name)
        await client.close()
