"""Canned responses' pure rules: input, scopes, and who may see or change one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from workcity_conversations.domain import canned
from workcity_conversations.domain.errors import Forbidden, InvalidInput, NotFound
from workcity_conversations.domain.model import Person

NOW = datetime(2026, 1, 1, tzinfo=UTC)
AGENT = Person(id="a", email="a@x", role="agent")
MATE = Person(id="m", email="m@x", role="agent")
ADMIN = Person(id="z", email="z@x", role="admin")


def item(scope: str, author: str = "a", team: str | None = None) -> canned.Canned:
    return canned.Canned("c1", scope, author, team, "greet", "hello", NOW, NOW)


def test_scope_keys_make_one_personal_scope_per_user() -> None:
    assert canned.scope_key("personal", "a", None) == "personal:a"
    assert canned.scope_key("team", "a", "t1") == "team:t1"
    assert canned.scope_key("global", "a", None) == "global"
    assert canned.visible_keys(AGENT, {"t2", "t1"}) == [
        "personal:a",
        "team:t1",
        "team:t2",
        "global",
    ]


@pytest.mark.parametrize("raw", ["", "  ", "a b", "x" * 33, 5, None, "é!"])
def test_bad_short_codes_are_400(raw: object) -> None:
    with pytest.raises(InvalidInput):
        canned.short_code(raw, 32)


def test_short_codes_and_search_terms_are_trimmed() -> None:
    assert canned.short_code(" Re-fund.2 ", 32) == "Re-fund.2"
    assert canned.search("  ship ") == "ship"
    assert canned.search("   ") is None
    with pytest.raises(InvalidInput):
        canned.search("x" * (canned.SEARCH_MAX_CHARS + 1))


def test_only_admins_write_global_and_members_their_team() -> None:
    canned.require_may_write(AGENT, "personal", None, set())
    canned.require_may_write(AGENT, "team", "t1", {"t1"})
    canned.require_may_write(ADMIN, "global", None, set())
    with pytest.raises(Forbidden):
        canned.require_may_write(AGENT, "global", None, set())
    with pytest.raises(Forbidden):
        canned.require_may_write(AGENT, "team", "t2", {"t1"})


def test_another_agents_personal_one_is_unknown_to_them_a_team_mates_is_forbidden() -> None:
    canned.require_may_change(AGENT, item("personal"), set())
    canned.require_may_change(ADMIN, item("personal"), set())
    with pytest.raises(NotFound):
        canned.require_may_change(MATE, item("personal"), {"t1"})
    with pytest.raises(NotFound):
        canned.require_may_change(MATE, item("team", team="t1"), {"t2"})
    with pytest.raises(Forbidden):
        canned.require_may_change(MATE, item("team", team="t1"), {"t1"})
    with pytest.raises(Forbidden):
        canned.require_may_change(MATE, item("global", author="z"), set())
