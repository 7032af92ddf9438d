"""Would a slim claim document pay on SecantusDB? Interleaved, server CPU per message:

- fat: the store's claim (`send_claim.claim`) on desk conversation documents with the
  production indexes (9), as every send does today;
- slim(k): the same claim on a slim per-conversation document (`_id` index only) without the
  list fields, plus a write-behind of the list fields (`last_activity`, `updated_at`,
  `waiting_since`: one plain update per conversation) on the conversation document once every
  k messages of a conversation (k = 1: no coalescing, as at 50 msgs/s over 50 conversations
  with a 1 s interval; k = 4: 200 msgs/s).

Requests are alternated round by round so that the machine's drift hits every variant alike.

    uv run python bench/slimcost.py --run-dir .dev/bench --group 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient, UpdateOne
from workcity_common.outbox import Outbox
from workcity_conversations.adapters.desk_store import DeskStore
from workcity_conversations.adapters.store import ConversationStore

if __package__ in (None, ""):
    # Run as a script: make the repository root importable (bench.*).
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dbcost import store_claim
from bench.sampling import cpu_seconds
from bench.sendcost import secantus

PAIRS = 50
LIST_FIELDS = ("updated_at", "last_activity", "waiting_since")


def claims(ids: list[ObjectId], round_: int, *, slim: bool) -> list[UpdateOne]:
    """The store's claims (bench/dbcost.py); `slim`: without the lists' fields."""
    now = datetime.now(UTC)
    out = []
    for conversation in ids:
        update = store_claim(str(conversation), round_, now, from_customer=round_ % 2 == 0)
        if slim:
            for name in LIST_FIELDS:
                update._doc[1]["$set"].pop(name)
        out.append(update)
    return out


def plain_claims(ids: list[ObjectId], round_: int, *, fat: bool = False) -> list[UpdateOne]:
    """The slim claim as a plain update, its condition in the filter (`fat`: on the conversation
    document, the list fields with it)."""
    now = datetime.now(UTC)
    lists: dict[str, Any] = {"updated_at": now, "waiting_since": now} if fat else {}
    sender = "a" if round_ % 2 == 0 else "b"
    read: Any = round_ - 1 if round_ >= 2 else {"$exists": False}
    return [
        UpdateOne(
            {
                "_id": c,
                "last_seq": round_,
                "participants": {"$size": 2},
                "status": "open",
                f"reads.{sender}": read,
            },
            {
                "$inc": {"last_seq": 1},
                "$set": {
                    "last_message_id": ObjectId(),
                    f"reads.{sender}": round_ + 1,
                    f"read_at.{sender}": now,
                    **lists,
                },
                **({"$max": {"last_activity": ObjectId()}} if fat else {}),
                "$pull": {"deleted_seqs": {"$lte": round_}},
            },
        )
        for c in ids
    ]


def write_behind(ids: list[ObjectId]) -> list[UpdateOne]:
    now = datetime.now(UTC)
    return [
        UpdateOne(
            {"_id": c},
            {
                "$max": {"last_activity": ObjectId()},
                "$set": {"updated_at": now, "waiting_since": now},
            },
        )
        for c in ids
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, default=Path(".dev"))
    parser.add_argument("--group", type=int, default=1, help="claims per request")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--padding", type=int, default=3000, help="other conversations")
    args = parser.parse_args()
    pid, port = secantus(args.run_dir.resolve())
    client: AsyncMongoClient = AsyncMongoClient(
        f"mongodb://127.0.0.1:{port}/?retryWrites=false", tz_aware=True
    )
    db = client[f"slimcost_{secrets.token_hex(4)}"]
    variants = ["fat", "fatplain", "slim1", "slim4", "plain1", "plain2", "plain4"]
    try:
        outbox = Outbox(db["outbox"])
        await ConversationStore(db, outbox).create_indexes()
        await DeskStore(db, outbox).create_indexes()
        now = datetime.now(UTC)
        ids: dict[str, list[ObjectId]] = {v: [ObjectId() for _ in range(PAIRS)] for v in variants}
        for variant, conv_ids in ids.items():
            await db["conversations"].insert_many(
                [
                    {
                        "_id": c,
                        "participants": ["a", "b"],
                        "pair_key": f"{variant}:{c}",
                        "last_seq": 0,
                        "last_message_id": None,
                        "last_activity": c,
                        "reads": {},
                        "read_at": {},
                        "deleted_seqs": [],
                        "created_at": now,
                        "updated_at": now,
                        "status": "open",
                        "assignee": "b",
                        "team": ObjectId(),
                        "priority": None,
                        "priority_rank": 0,
                        "labels": [],
                        "waiting_since": None,
                        "version": 1,
                    }
                    for c in conv_ids
                ]
            )
            if not variant.startswith("fat"):
                await db["heads"].insert_many(
                    [
                        {
                            "_id": c,
                            "participants": ["a", "b"],
                            "last_seq": 0,
                            "last_message_id": None,
                            "reads": {},
                            "read_at": {},
                            "deleted_seqs": [],
                            "status": "open",
                        }
                        for c in conv_ids
                    ]
                )
        # Other conversations around them, so that a filter not served by `_id` would show.
        await db["conversations"].insert_many(
            [
                {"_id": c, "pair_key": f"pad:{c}", "participants": ["x", "y"], "status": "open"}
                for c in (ObjectId() for _ in range(args.padding))
            ]
        )
        await db["heads"].insert_many(
            [{"_id": ObjectId(), "participants": ["x", "y"]} for _ in range(args.padding)]
        )
        spent = dict.fromkeys(variants, 0.0)
        messages = 0
        for round_ in range(args.rounds):
            for variant in variants:
                conv_ids = ids[variant]
                target = db["conversations"] if variant.startswith("fat") else db["heads"]
                before = cpu_seconds(pid)
                for start in range(0, PAIRS, args.group):
                    chunk = conv_ids[start : start + args.group]
                    if variant == "fatplain":
                        batch = plain_claims(chunk, round_, fat=True)
                    elif variant.startswith("plain"):
                        batch = plain_claims(chunk, round_)
                    else:
                        batch = claims(chunk, round_, slim=variant != "fat")
                    result = await target.bulk_write(batch, ordered=False)
                    assert result.modified_count == len(batch), variant
                every = {"slim1": 1, "slim4": 4, "plain1": 1, "plain2": 2, "plain4": 4}.get(variant)
                if every and round_ % every == every - 1:
                    # One flush request of every pending conversation.
                    await db["conversations"].bulk_write(write_behind(conv_ids), ordered=False)
                spent[variant] += cpu_seconds(pid) - before
            messages += PAIRS
        print(
            json.dumps(
                {
                    "group": args.group,
                    "messages_per_variant": messages,
                    "load": os.getloadavg()[0],
                    **{f"{v}_ms": round(spent[v] / messages * 1000, 2) for v in variants},
                }
            )
        )
    finally:
        await client.drop_database(db.name)
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
