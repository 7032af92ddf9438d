"""What the database server and the conversations code spend per message on the send path,
measured as CPU time (not latency), so that a change can be judged on a busy machine.

Runs the conversations service's own send path (`ConversationService.send`: directory lookups,
the group commit, the claim, the message and outbox inserts) in this process against the
SecantusDB of a running local stack, in a scratch database with the production indexes (the
desk's included) and desk conversations like the benchmark's, then drops it. Two patterns:
sends one after another (each a transaction of its own, as on a quiet machine at 50 msgs/s) and
rounds of one send per conversation at once (one group of many, as under load). The relay (publish
and delete of the outbox entries) is not part of it.

    uv run python bench/sendcost.py --run-dir .dev/bench
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from bson import ObjectId
from pymongo import AsyncMongoClient
from workcity_common.events import UserData, utcnow
from workcity_common.outbox import Outbox
from workcity_conversations.adapters.attachments import AttachmentStore
from workcity_conversations.adapters.desk_store import DeskStore
from workcity_conversations.adapters.directory import UserDirectory
from workcity_conversations.adapters.store import ConversationStore
from workcity_conversations.service_layer.service import ConversationService

PAIRS = 50


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def secantus(run_dir: Path) -> tuple[int, int]:
    state = json.loads((run_dir / "state.json").read_text())
    for process in state["processes"]:
        if process["name"] == "secantus":
            return int(process["pid"]), int(process["port"])
    raise SystemExit("no secantus process in the run directory's state.json")


async def measure(pid: int, label: str, count: int, run: Any) -> dict[str, Any]:
    server, own = cpu_seconds(pid), time.process_time()
    await run()
    return {
        "pattern": label,
        "messages": count,
        "secantus_ms": round((cpu_seconds(pid) - server) / count * 1000, 2),
        "conversations_code_ms": round((time.process_time() - own) / count * 1000, 2),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run-dir", type=Path, default=Path(".dev"))
    parser.add_argument("--sequential", type=int, default=600, help="sends one after another")
    parser.add_argument("--rounds", type=int, default=12, help="rounds of one send per pair")
    args = parser.parse_args()
    pid, port = secantus(args.run_dir.resolve())
    client: AsyncMongoClient = AsyncMongoClient(
        f"mongodb://127.0.0.1:{port}/?retryWrites=false", tz_aware=True
    )
    db = client[f"sendcost_{secrets.token_hex(4)}"]
    try:
        outbox = Outbox(db["outbox"])
        store = ConversationStore(db, outbox)
        directory = UserDirectory(db)
        for target in (store, DeskStore(db, outbox), directory, outbox):
            await target.create_indexes()
        service = ConversationService(store, directory, AttachmentStore(db))
        pairs = []
        team = ObjectId()
        for _ in range(PAIRS):
            people = []
            for role in ("customer", "agent"):
                user_id = str(ObjectId())
                data = UserData(id=user_id, email=f"{role}-{user_id}@x.test", role=role)
                await directory.apply(data, utcnow(), source="sendcost")
                person = await directory.get(user_id)
                assert person is not None
                people.append(person)
            customer, agent = people
            opened = await service.open_conversation(customer, agent.id)
            conv_id = str(opened.conversation["_id"])
            # A desk conversation, as the benchmark's are (open, in a team, assigned).
            await db["conversations"].update_one(
                {"_id": ObjectId(conv_id)},
                {
                    "$set": {
                        "status": "open",
                        "team": team,
                        "assignee": agent.id,
                        "priority": None,
                        "priority_rank": 0,
                        "labels": [],
                        "waiting_since": None,
                        "version": 1,
                    }
                },
            )
            pairs.append((conv_id, customer, agent))

        async def one_after_another() -> None:
            for i in range(args.sequential):
                conv_id, customer, agent = pairs[i % PAIRS]
                await service.send(customer if (i // PAIRS) % 2 == 0 else agent, conv_id, "hi")

        async def in_rounds() -> None:
            for r in range(args.rounds):
                await asyncio.gather(
                    *(
                        service.send(customer if r % 2 == 0 else agent, conv_id, "hi")
                        for conv_id, customer, agent in pairs
                    )
                )

        await one_after_another()  # warm up: every conversation known, caches filled
        results = [
            await measure(pid, "one after another", args.sequential, one_after_another),
            await measure(pid, f"rounds of {PAIRS} at once", args.rounds * PAIRS, in_rounds),
        ]
        for row in results:
            print(json.dumps(row))
    finally:
        await client.drop_database(db.name)
        await client.close()


if __name__ == "__main__":
    asyncio.run(main())
