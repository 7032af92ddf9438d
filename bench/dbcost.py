"""What the database server spends on each kind of write the services make, per document.

Runs against the SecantusDB of a running local stack (its pid and port from the run directory's
state.json), in a scratch database it drops afterwards, and reads the server's CPU time from
/proc before and after each kind of request. It explains the "secantus" column of the benchmark:
the server's cost is per document written (and per request), so fewer documents per message is
what makes a message cheaper.

    uv run python bench/dbcost.py --run-dir .dev/bench
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bson import ObjectId
from pymongo import AsyncMongoClient, DeleteOne, InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

# The store's claim, so what is measured is what a send group sends (private: bench only).
from workcity_conversations.adapters.send_claim import QueuedSend, claim
from workcity_conversations.domain.model import Conversation

if __package__ in (None, ""):
    # Run as a script: make the repository root importable (bench.*).
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.proccpu import cpu_seconds

DOCS = 2000  # per kind: enough for /proc's 10 ms ticks to give two significant digits
BATCH = 50  # documents per bulk request, like a send group or an event batch under load


async def measure(
    pid: int, label: str, count: int, run: Callable[[], Awaitable[object]]
) -> tuple[str, float]:
    before = cpu_seconds(pid)
    await run()
    return label, (cpu_seconds(pid) - before) / count * 1000


async def in_batches(requests: list[Callable[[], Awaitable[object]]]) -> None:
    for request in requests:
        await request()


def store_claim(
    conversation_id: str, round_: int, now: datetime, *, from_customer: bool = False
) -> UpdateOne:
    """The store's claim (`send_claim.claim`: the update a send group makes per conversation)
    of one send to a conversation of two participants `a` and `b` taking turns, at its
    `round_`-th send (each sender's read position where their previous claim put it)."""
    sender = "a" if round_ % 2 == 0 else "b"
    state = Conversation(
        id=conversation_id,
        participants=("a", "b"),
        last_seq=round_,
        created_at=now,
        updated_at=now,
        reads={sender: round_ - 1} if round_ >= 2 else {},
    )
    send = QueuedSend(
        conversation_id=state.id,
        message_id=ObjectId(),
        sender_id=sender,
        text="",
        client_message_id=None,
        now=now,
        attachments=(),
        events=None,  # type: ignore[arg-type]  # not called here
        result=None,  # type: ignore[arg-type]
        from_customer=from_customer,
    )
    # Built for a client-level bulkWrite; sent here by the collection's.
    namespaced = claim(state, [send], "unused")
    return UpdateOne(namespaced._filter, namespaced._doc)


def store_claims(conversations: AsyncCollection) -> list[Callable[[], Awaitable[object]]]:
    """Requests of BATCH claims each, built by the store itself, every one of which holds."""
    now = datetime.now(UTC)
    requests: list[Callable[[], Awaitable[object]]] = []
    for round_ in range(DOCS // BATCH):
        claims = [store_claim(str(ObjectId(f"{i:024x}")), round_, now) for i in range(BATCH)]
        requests.append(functools.partial(claim_all, conversations, claims))
    return requests


async def claim_all(conversations: AsyncCollection, claims: list[UpdateOne]) -> None:
    result = await conversations.bulk_write(claims, ordered=False)
    if result.modified_count != len(claims):
        raise SystemExit("a claim did not hold: the measurement would be of no-op updates")


async def kinds(db: AsyncDatabase, pid: int) -> list[tuple[str, float]]:
    messages, conversations, positions = db["messages"], db["conversations"], db["positions"]
    # The conversations service's indexes on the two collections that take most writes.
    await messages.create_index([("conversation", 1), ("seq", 1)], unique=True)
    await conversations.create_index([("participants", 1), ("last_activity", -1)])
    conversation = ObjectId()
    results = [
        await measure(
            pid,
            "insert a message (2 secondary indexes)",
            DOCS,
            lambda: messages.insert_many(
                [
                    {"conversation": conversation, "seq": i, "sender": "a", "text": "hello " * 8}
                    for i in range(DOCS)
                ]
            ),
        ),
        await measure(
            pid,
            "insert a small document (_id only)",
            DOCS,
            lambda: positions.bulk_write(
                [InsertOne({"_id": f"x{i}", "seq": 1}) for i in range(DOCS)]
            ),
        ),
    ]
    await conversations.insert_many(
        [{"_id": f"c{i}", "participants": ["a", "b"], "last_seq": 0} for i in range(BATCH)]
        + [
            {"_id": ObjectId(f"{i:024x}"), "participants": ["a", "b"], "last_seq": 0, "reads": {}}
            for i in range(BATCH)
        ]
    )

    def claims() -> list[Callable[[], Awaitable[object]]]:
        return [
            lambda: conversations.bulk_write(
                [
                    UpdateOne(
                        {"_id": f"c{i}"},
                        {"$inc": {"last_seq": 1}, "$set": {"last_activity": ObjectId()}},
                    )
                    for i in range(BATCH)
                ],
                ordered=False,
            )
            for _ in range(DOCS // BATCH)
        ]

    results.append(
        await measure(
            pid,
            "update a conversation (multikey inbox index)",
            DOCS,
            lambda: in_batches(claims()),
        )
    )
    results.append(
        await measure(
            pid,
            "claim a seq (the conversations store's own update pipeline)",
            DOCS,
            lambda: in_batches(store_claims(conversations)),
        )
    )
    results.append(
        await measure(
            pid,
            "upsert $max a read position",
            DOCS,
            lambda: positions.bulk_write(
                [
                    UpdateOne({"_id": f"x{i}"}, {"$max": {"seq": 2}}, upsert=True)
                    for i in range(DOCS)
                ],
                ordered=False,
            ),
        )
    )
    results.append(
        await measure(
            pid,
            "delete by _id",
            DOCS,
            lambda: positions.bulk_write(
                [DeleteOne({"_id": f"x{i}"}) for i in range(DOCS)], ordered=False
            ),
        )
    )
    results.append(
        await measure(
            pid,
            "a request that reads one document by _id",
            DOCS // 10,
            lambda: in_batches(
                [lambda: conversations.find_one({"_id": "c1"}) for _ in range(DOCS // 10)]
            ),
        )
    )
    return results


async def wakeup_claims(db: AsyncDatabase, pid: int) -> list[tuple[str, float]]:
    """The notifications scheduler's claims of a burst of due wake-ups (200 due among 600, as
    after two bench runs on one stack): by a search of the due range (`find_one_and_update`
    sorted by due time, the claim before issue 12's change) against the store's own listing
    and claim by key (adapters/store.py), per claimed wake-up."""
    from workcity_notifications.adapters.store import EPOCH, IDLE, NotificationStore

    store = NotificationStore(db, sent_log_ttl=timedelta(days=1))
    await store.create_indexes()
    now = datetime.now(UTC)
    due = now - timedelta(seconds=1)
    lease = timedelta(minutes=2)

    async def reset() -> None:
        await store.wakeups.delete_many({})
        await store.wakeups.insert_many(
            [
                {
                    "_id": f"w{i}",
                    "conversation_id": f"c{i}",
                    "recipient_id": "r",
                    "due_at": due if i % 3 == 0 else IDLE,
                    "claimed_until": EPOCH,
                    "claim": None,
                    "seen_seq": 1,
                    "done_seq": 0,
                    "attempts": 0,
                }
                for i in range(600)
            ]
        )

    async def by_search() -> None:
        query = {"due_at": {"$lte": now}, "claimed_until": {"$lte": now}}
        claim = {"$set": {"claimed_until": now + lease, "claim": "t"}}
        while await store.wakeups.find_one_and_update(query, claim, sort=[("due_at", 1)]):
            pass

    async def by_key() -> None:
        while keys := await store.due_keys(now, now, 32):
            for key in keys:
                await store.claim(key, now, lease, due_by=now)

    results = []
    for label, run in (
        ("claim a due wake-up by a search of the due range (200 due)", by_search),
        ("claim a due wake-up by key, listed 32 at a time (200 due)", by_key),
    ):
        await reset()
        results.append(await measure(pid, label, 200, run))
    return results


async def edits_by_id(db: AsyncDatabase, pid: int) -> list[tuple[str, float]]:
    """An edit of one message by `_id` in a collection of 5,000: findAndModify (what the stores
    used before issue 12's change) against an update then a read by `_id`
    (workcity_common.database.update_by_id_and_read). SecantusDB answers findAndModify by reading
    the whole collection."""
    from workcity_common.database import update_by_id_and_read

    messages = db["edited_messages"]
    await messages.insert_many(
        [{"_id": i, "conversation": i % 50, "seq": i, "text": "hello " * 8} for i in range(5000)]
    )
    edits = 50

    async def find_and_modify() -> None:
        for i in range(edits):
            await messages.find_one_and_update({"_id": i * 7}, {"$set": {"text": "edited"}})

    async def update_and_read() -> None:
        for i in range(edits):
            await update_by_id_and_read(messages, {"_id": i * 7 + 1}, {"$set": {"text": "edited"}})

    return [
        await measure(
            pid, "edit a message by findAndModify (5,000 messages)", edits, find_and_modify
        ),
        await measure(
            pid, "edit a message by update + read by _id (5,000)", edits, update_and_read
        ),
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, default=Path(".dev"))
    args = parser.parse_args()
    state = json.loads((args.run_dir / "state.json").read_text())
    [server] = [p for p in state["processes"] if p["name"] == "secantus"]
    client: AsyncMongoClient = AsyncMongoClient(
        f"mongodb://127.0.0.1:{server['port']}/?retryWrites=false"
    )
    db = client[f"bench_dbcost_{os.getpid()}"]
    try:
        results = await kinds(db, server["pid"])
        results += await wakeup_claims(db, server["pid"])
        results += await edits_by_id(db, server["pid"])
    finally:
        await client.drop_database(db.name)
        await client.close()
    print("| SecantusDB CPU per document | ms |\n| --- | --- |")
    for label, ms in results:
        print(f"| {label} | {ms:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
