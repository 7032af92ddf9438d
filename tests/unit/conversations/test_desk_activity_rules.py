"""The activity log's, satisfaction's and the queue order's pure rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from workcity_common.domain_errors import DomainError
from workcity_conversations.domain import activity, csat, desk_queue
from workcity_conversations.domain.errors import Forbidden, InvalidInput
from workcity_conversations.domain.model import Conversation, Csat, Person

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
BASE = Conversation(
    id="6566f1d2c3b4a59687a1b2c3",
    participants=("cust",),
    last_seq=1,
    created_at=NOW,
    updated_at=NOW,
    team_id="t1",
)


def test_one_entry_per_changed_field_in_a_fixed_order() -> None:
    after = replace(BASE, status="pending", assignee_id="a1", priority="high", labels=("vip",))
    got = activity.entries(BASE, after, "a1", NOW)
    assert [(e.kind, e.before, e.after, e.actor_id) for e in got] == [
        ("status", "open", "pending", "a1"),
        ("assignee", None, "a1", "a1"),
        ("priority", None, "high", "a1"),
        ("labels", [], ["vip"], "a1"),
    ]
    assert activity.entries(BASE, replace(BASE, version=9), None, NOW) == []


def test_a_rating_is_an_entry_once() -> None:
    asked = replace(BASE, csat=Csat(round=1, requested_at=NOW))
    rated = replace(BASE, csat=Csat(round=1, requested_at=NOW, rating=5, rated_at=NOW))
    assert [(e.kind, e.after) for e in activity.entries(asked, rated, "cust", NOW)] == [("csat", 5)]
    assert activity.entries(BASE, asked, "a1", NOW) == []


def test_lines_are_rendered_from_entries() -> None:
    emails = {"a1": "a@x", "a2": "b@x"}
    teams = {"t1": "Support", "t2": "Billing"}

    def line(kind: str, before: object, after: object, actor: str | None = "a@x") -> str:
        return activity.render(kind, before, after, actor, emails, teams)

    assert line("status", "snoozed", "open", None) == (
        "The system changed the status from snoozed to open"
    )
    assert line("assignee", "a1", "a2") == "a@x reassigned it from a@x to b@x"
    assert line("assignee", "a1", None, None) == "The system unassigned a@x"
    assert line("team", "t1", "t2") == "a@x moved it from Support to Billing"
    assert line("priority", "high", None) == "a@x set the priority to none"
    assert line("labels", ["a", "b"], ["b", "c"]) == "a@x added c and removed a (labels)"
    assert line("csat", None, 3) == "a@x rated the conversation 3 out of 5"


@pytest.mark.parametrize("raw", [0, 6, "5", 4.5, True, None])
def test_a_rating_is_an_integer_from_1_to_5(raw: object) -> None:
    with pytest.raises(InvalidInput):
        csat.rating(raw)


def test_ratings_once_per_resolution_by_its_customer_only() -> None:
    first = csat.asked_on_resolve(None, NOW)
    assert first["round"] == 1 and first["rating"] is None
    survey = Csat(round=1, requested_at=NOW)
    assert csat.asked_on_resolve(survey, NOW)["round"] == 2
    assert csat.newly_asked(None, survey) and not csat.newly_asked(survey, survey)
    assert csat.answer(survey, 4, None, NOW)["csat.rating"] == 4
    with pytest.raises(DomainError) as not_asked:
        csat.answer(None, 4, None, NOW)
    assert not_asked.value.code == "csat_not_requested"
    with pytest.raises(DomainError) as twice:
        csat.answer(replace(survey, rating=3), 4, None, NOW)
    assert twice.value.code == "already_rated"
    csat.require_its_customer(Person("cust", "c@x", "customer"), BASE)
    for who in (Person("a1", "a@x", "agent"), Person("other", "o@x", "customer")):
        with pytest.raises(Forbidden):
            csat.require_its_customer(who, BASE)


def test_queue_cursors_round_trip_and_refuse_garbage() -> None:
    waiting = replace(BASE, priority="urgent", waiting_since=NOW + timedelta(seconds=1))
    cursor = desk_queue.cursor_of(waiting)
    assert cursor.startswith("4_")
    after = desk_queue.after_cursor(cursor)
    assert after is not None and {"priority_rank": {"$lt": 4}} in after["$or"]
    assert desk_queue.cursor_of(BASE).split("_")[:2] == ["0", "n"]
    assert desk_queue.after_cursor(None) is None
    for bad in (
        "x",
        "1_2",
        "a_1_6566f1d2c3b4a59687a1b2c3",
        "1_x_6566f1d2c3b4a59687a1b2c3",
        "1_1_zz",
    ):
        with pytest.raises(InvalidInput):
            desk_queue.after_cursor(bad)
