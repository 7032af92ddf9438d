"""The user directory keeps entries it read for a few seconds; what this process applies shows at
once (real SecantusDB)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.events import UserData, utcnow
from workcity_conversations.adapters.directory import UserDirectory

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def user(user_id: str, email: str, *, disabled: bool = False) -> UserData:
    return UserData(id=user_id, email=email, role="customer", disabled=disabled)


async def test_entries_are_kept_for_a_while_then_read_again(mongo_db: AsyncDatabase) -> None:
    clock = Clock()
    directory = UserDirectory(mongo_db, cache_seconds=10, monotonic=clock)
    await directory.apply(user("u1", "first@x.test"), utcnow(), source="test")
    assert (await directory.get("u1")).email == "first@x.test"  # type: ignore[union-attr]
    # Changed behind this process's back (another replica applied a fact): not seen yet...
    await mongo_db["users"].update_one({"_id": "u1"}, {"$set": {"email": "second@x.test"}})
    clock.now += 5
    assert (await directory.get("u1")).email == "first@x.test"  # type: ignore[union-attr]
    many = await directory.get_many(["u1", "nobody"])
    assert set(many) == {"u1"} and many["u1"].email == "first@x.test"
    # ...until the entry is older than the cache time.
    clock.now += 6
    assert (await directory.get("u1")).email == "second@x.test"  # type: ignore[union-attr]


async def test_a_fact_applied_here_shows_at_once(mongo_db: AsyncDatabase) -> None:
    clock = Clock()
    directory = UserDirectory(mongo_db, cache_seconds=60, monotonic=clock)
    t0 = utcnow()
    await directory.apply(user("u2", "a@x.test"), t0, source="test")
    assert not (await directory.get("u2")).disabled  # type: ignore[union-attr]
    await directory.apply(
        user("u2", "a@x.test", disabled=True), t0 + timedelta(seconds=1), source="user.disabled"
    )
    person = await directory.get("u2")
    assert person is not None and person.disabled
