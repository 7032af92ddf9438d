"""The newer version wins: a document is written as of a version (the time of the fact it
records) unless a newer one is stored, so late, repeated and concurrent facts about one key settle on the
newest whatever order they arrive in. The services' copies of the user directory and of presence
are kept this way."""

from __future__ import annotations

from datetime import datetime

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from workcity_common.database import Document


async def create_version_index(
    collection: AsyncCollection[Document], version_field: str, name: str
) -> None:
    # For the "newer than stored" filter `{_id, <version>: {$lt}}` (docs/decisions/0001).
    await collection.create_index([("_id", ASCENDING), (version_field, ASCENDING)], name=name)


async def upsert_if_newer(
    collection: AsyncCollection[Document],
    key: str,
    version_field: str,
    version: datetime,
    fields: Document,
    *,
    ties_win: bool = False,
) -> bool:
    """Set `fields` and the version on the document `key` unless one at least as new is stored
    (newer only, or also an equal one with `ties_win`); True if written. Idempotent."""
    newer_than_stored = {"_id": key, version_field: {"$lte" if ties_win else "$lt": version}}
    update = {"$set": {**fields, version_field: version}}
    try:
        await collection.update_one(newer_than_stored, update, upsert=True)
    except DuplicateKeyError:
        # Stored with a version >= ours (a stale or repeated fact), or inserted concurrently just
        # now: once more without inserting.
        result = await collection.update_one(newer_than_stored, update)
        return result.matched_count > 0
    return True
