"""The database server's CPU per message for a send transaction's writes, as one request
(MongoDB 8.0's client-level `bulkWrite`) or one bulk per collection, by sends per transaction:
what `ONE_REQUEST_MAX_SENDS` (services/conversations/.../send_queue.py) rests on. Shapes
alternate, so a busy machine's drift hits both alike. Needs a running stack (its SecantusDB).

    uv run python bench/bulkcost.py --run-dir .dev/bench
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import InsertOne, MongoClient, UpdateOne

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.sendcost import cpu_seconds, secantus

CONVERSATIONS = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, default=Path(".dev"))
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    pid, port = secantus(args.run_dir.resolve())
    client: MongoClient[Any] = MongoClient(f"mongodb://127.0.0.1:{port}/?retryWrites=false")
    name = f"bulkcost_{secrets.token_hex(4)}"
    db = client[name]
    db.messages.create_index([("conversation", 1), ("seq", 1)], unique=True)
    db.outbox.create_index([("published", 1), ("_id", 1)])
    ids = [ObjectId() for _ in range(CONVERSATIONS)]
    db.conversations.insert_many([{"_id": i, "last_seq": 0} for i in ids])
    seqs = dict.fromkeys(ids, 0)

    def writes(sends: int) -> list[Any]:
        claims, messages = [], []
        for conversation in ids[:sends]:
            seqs[conversation] += 1
            claims.append(
                UpdateOne(
                    {"_id": conversation},
                    {"$inc": {"last_seq": 1}},
                    namespace=f"{name}.conversations",
                )
            )
            doc = {"conversation": conversation, "seq": seqs[conversation], "text": "hello"}
            messages.append(InsertOne(doc, namespace=f"{name}.messages"))
        entry = InsertOne({"published": False, "events": [1] * sends}, namespace=f"{name}.outbox")
        return [*claims, *messages, entry]

    def per_collection(session: Any, sends: int) -> None:
        models = writes(sends)
        db.conversations.bulk_write(models[:sends], session=session)
        db.messages.bulk_write(models[sends:-1], session=session)
        db.outbox.bulk_write(models[-1:], session=session)

    def one_request(session: Any, sends: int) -> None:
        client.bulk_write(writes(sends), session=session)

    results: dict[str, list[float]] = {}
    try:
        for _ in range(args.rounds):
            for sends in (1, 5, 50):
                for label, shape in (("per collection", per_collection), ("one", one_request)):
                    before, messages = cpu_seconds(pid), 0
                    for _ in range(max(4, 200 // sends)):
                        with client.start_session(causal_consistency=False) as session:
                            session.start_transaction()
                            shape(session, sends)
                            session.commit_transaction()
                        messages += sends
                    per_message = (cpu_seconds(pid) - before) / messages * 1000
                    results.setdefault(f"{sends} sends, {label}", []).append(round(per_message, 2))
        for label, figures in results.items():
            print(json.dumps({"shape": label, "secantus_ms_per_message": figures}))
    finally:
        client.drop_database(name)
        client.close()


if __name__ == "__main__":
    main()
