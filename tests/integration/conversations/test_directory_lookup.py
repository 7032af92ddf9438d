"""A user the directory does not know yet is looked up in the auth service (read-through), so a
recipient created a moment ago can be messaged before its user.registered event arrives."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.events import UserData
from workcity_conversations.adapters.directory import UserDirectory

pytestmark = pytest.mark.integration

AGENT_ID = "0123456789abcdef01234567"
UPDATED = datetime(2026, 1, 1, tzinfo=UTC)


class FakeAuth:
    """Stands in for auth's GET /internal/users/:id (the real route is tested with auth)."""

    def __init__(self, users: dict[str, UserData], fail: bool = False) -> None:
        self.users = users
        self.fail = fail
        self.calls: list[str] = []

    async def one(self, user_id: str) -> tuple[UserData, datetime] | None:
        self.calls.append(user_id)
        if self.fail:
            raise ConnectionError("auth is down")
        user = self.users.get(user_id)
        return (user, UPDATED) if user else None


async def test_unknown_user_is_fetched_stored_and_then_served_locally(
    mongo_db: AsyncDatabase,
) -> None:
    agent = UserData(id=AGENT_ID, email="agent@example.com", role="agent")
    auth = FakeAuth({AGENT_ID: agent})
    directory = UserDirectory(mongo_db, lookup=auth)
    person = await directory.get(AGENT_ID)
    assert person is not None and (person.email, person.role) == ("agent@example.com", "agent")
    stored = await mongo_db["users"].find_one({"_id": AGENT_ID})
    assert stored is not None and stored["source"] == "auth.lookup"
    assert await UserDirectory(mongo_db, lookup=auth).get(AGENT_ID) is not None
    assert auth.calls == [AGENT_ID]  # the second directory found it stored: no second call


async def test_a_newer_event_is_not_overwritten_by_an_older_lookup(mongo_db: AsyncDatabase) -> None:
    directory = UserDirectory(mongo_db, lookup=FakeAuth({}))
    newer = UserData(id=AGENT_ID, email="agent@example.com", role="agent", disabled=True)
    await directory.apply(newer, datetime(2026, 6, 1, tzinfo=UTC), source="user.disabled")
    stale = UserData(id=AGENT_ID, email="agent@example.com", role="agent")
    await directory.apply(stale, UPDATED, source="auth.lookup")
    person = await directory.get(AGENT_ID)
    assert person is not None and person.disabled is True


async def test_unknown_everywhere_or_auth_down_means_unknown(mongo_db: AsyncDatabase) -> None:
    assert await UserDirectory(mongo_db, lookup=FakeAuth({})).get(AGENT_ID) is None
    assert await UserDirectory(mongo_db, lookup=FakeAuth({}, fail=True)).get(AGENT_ID) is None
    assert await UserDirectory(mongo_db).get(AGENT_ID) is None
