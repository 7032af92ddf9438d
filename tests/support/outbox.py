"""Reading what an outbox collection holds, for assertions."""

from __future__ import annotations

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.events import Event, parse_event


async def stored_events(db: AsyncDatabase, event_type: str | None = None) -> list[Event]:
    """Every event in `db`'s outbox, in commit order (one document per transaction)."""
    docs = await db["outbox"].find({}).sort("_id", 1).to_list(None)
    events = [parse_event(e) for d in docs for e in d["events"]]
    return [e for e in events if event_type is None or e.type == event_type]


async def pending_event_count(outbox: AsyncCollection) -> int:
    """Unpublished events (not documents) in an outbox collection."""
    docs = await outbox.find({"published": False}, projection={"events": 1}).to_list(None)
    return sum(len(doc["events"]) for doc in docs)
