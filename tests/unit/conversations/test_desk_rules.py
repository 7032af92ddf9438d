"""The desk's pure rules: input, eligibility and the order agents are tried in, who may do what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from workcity_conversations.domain import desk, desk_access
from workcity_conversations.domain.errors import Forbidden, InvalidInput
from workcity_conversations.domain.model import Conversation, Person

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=60)
TEAM = desk.Team("t1", "Support", True, True, 2, ("a", "b", "c", "d"))


def agent(user_id: str, **kw: object) -> desk.Agent:
    return desk.Agent(id=user_id, **{"availability": "available", "online": True, **kw})  # type: ignore[arg-type]


def test_eligible_agents_are_available_connected_and_under_capacity_fewest_first() -> None:
    agents = [
        agent("a"),
        agent("b", availability="busy"),
        agent("c", online=False, last_seen=NOW - timedelta(seconds=30)),  # within the grace
        agent("d", online=False, last_seen=NOW - timedelta(seconds=61)),  # past it
        agent("x"),  # not a member
    ]
    order = desk.pick_order(agents, {"a": 1, "c": 0}, TEAM, NOW, GRACE)
    assert [a.id for a in order] == ["c", "a"]
    assert desk.pick_order(agents, {"a": 2, "c": 2}, TEAM, NOW, GRACE) == []


def test_ties_go_to_the_longest_since_their_last_assignment_and_overrides_count() -> None:
    early, late = NOW - timedelta(hours=2), NOW - timedelta(minutes=1)
    agents = [agent("a", last_assigned_at=late), agent("b", last_assigned_at=early)]
    assert [a.id for a in desk.pick_order(agents, {}, TEAM, NOW, GRACE)] == ["b", "a"]
    # An override of 0 takes nothing; one above the team's takes more.
    agents = [agent("a", capacity=0), agent("b", capacity=5)]
    assert [a.id for a in desk.pick_order(agents, {"b": 4}, TEAM, NOW, GRACE)] == ["b"]


@pytest.mark.parametrize("raw", [-1, 1001, 1.5, "3", True, None])
def test_capacity_must_be_a_small_integer(raw: object) -> None:
    with pytest.raises(InvalidInput):
        desk.capacity(raw)


def test_snooze_needs_a_future_time_with_a_zone() -> None:
    assert desk.snooze_until("2026-01-01T13:00:00.123456Z", NOW) == datetime(
        2026, 1, 1, 13, 0, 0, 123000, tzinfo=UTC
    )
    for raw in (None, "tomorrow", "2026-01-01T13:00:00", "2025-12-31T00:00:00Z", 5):
        with pytest.raises(InvalidInput):
            desk.snooze_until(raw, NOW)


def test_labels_and_other_input() -> None:
    assert desk.labels([" vip ", "vip", "order:12"], 5) == ["vip", "order:12"]
    for bad in ("vip", [1], [""], ["<script>"], ["x" * 51], ["a", "b", "c"]):
        with pytest.raises(InvalidInput):
            desk.labels(bad, 2)
    assert desk.team_name("  Tier   2 ") == "Tier 2"
    with pytest.raises(InvalidInput):
        desk.availability("away")
    assert desk.view(None) == "mine" and desk.status_filter(None) == "open"


def _conversation(**kw: object) -> Conversation:
    return Conversation(
        id="c",
        participants=("cust",),
        last_seq=0,
        created_at=NOW,
        updated_at=NOW,
        **kw,  # type: ignore[arg-type]
    )


CUSTOMER = Person("cust", "c@x", "customer")
MEMBER = Person("m", "m@x", "agent")
OUTSIDER = Person("o", "o@x", "agent")
ADMIN = Person("adm", "a@x", "admin")


def test_who_sees_and_claims_a_team_conversation() -> None:
    conversation = _conversation(team_id="t1")
    assert desk_access.can_see(MEMBER, conversation, {"t1"})
    assert desk_access.can_see(ADMIN, conversation, set())
    assert desk_access.can_see(CUSTOMER, conversation, set())  # its participant
    assert not desk_access.can_see(OUTSIDER, conversation, {"t2"})
    assert not desk_access.can_see(Person("c2", "c2@x", "customer"), conversation, {"t1"})
    desk_access.require_may_claim(MEMBER, conversation, {"t1"})
    for caller, teams in ((OUTSIDER, {"t2"}), (CUSTOMER, {"t1"})):
        with pytest.raises(Forbidden):
            desk_access.require_may_claim(caller, conversation, teams)
    # Its assignee keeps handling it after leaving the team.
    desk_access.require_may_handle(OUTSIDER, _conversation(team_id="t1", assignee_id="o"), set())


def test_reassignment_rights() -> None:
    mine = _conversation(team_id="t1", assignee_id="m")
    desk_access.require_may_assign(MEMBER, mine, "o", {"t1"}, force=False)
    desk_access.require_may_assign(MEMBER, mine, None, set(), force=False)
    desk_access.require_may_assign(ADMIN, mine, "o", set(), force=True)
    with pytest.raises(Forbidden):
        desk_access.require_may_assign(MEMBER, mine, "o", {"t2"}, force=False)  # not in its team
    with pytest.raises(Forbidden):
        desk_access.require_may_assign(MEMBER, mine, "o", {"t1"}, force=True)
    with pytest.raises(Forbidden):
        desk_access.require_may_assign(OUTSIDER, mine, "o", {"t1"}, force=False)


def test_a_customer_message_reopens_and_starts_the_wait_a_staff_reply_ends_it() -> None:
    later = NOW + timedelta(minutes=5)

    def effect(status: str, waiting: datetime | None, **kw: object) -> object:
        base: dict[str, object] = {
            "from_customer": True,
            "at": later,
            "keep_assignee": False,
            "snoozed_until": None,
            "assignee_id": "a",
        }
        base.update(kw)
        return desk.message_effect(status, waiting, **base)  # type: ignore[arg-type]

    # Reopened, back to the queue (assignee not eligible), the wait starts at this message.
    assert effect("resolved", None) == (
        {"status": "open", "assignee": None, "waiting_since": later},
        ["status", "assignee", "waitingSince"],
    )
    # Kept by an eligible assignee; a snooze ends; a running wait keeps its start.
    assert effect("snoozed", NOW, snoozed_until=later, keep_assignee=True) == (
        {"status": "open", "snoozed_until": None},
        ["status", "snoozedUntil"],
    )
    assert effect("open", NOW) == ({}, [])
    assert effect("pending", NOW, assignee_id=None) == ({"status": "open"}, ["status"])
    # Staff answer: the wait ends; staff never reopen.
    assert effect("resolved", NOW, from_customer=False) == (
        {"waiting_since": None},
        ["waitingSince"],
    )
    assert effect("pending", None, from_customer=False) == ({}, [])


def test_the_wait_starts_at_the_oldest_unanswered_customer_message_and_a_staff_reply_ends_it() -> (
    None
):
    t = [datetime(2026, 1, 1, 12, minute, tzinfo=UTC) for minute in range(4)]
    customer, staff = True, False
    assert desk.wait_after_messages(None, [(customer, t[0]), (customer, t[1])]) == t[0]
    assert desk.wait_after_messages(t[0], [(customer, t[2])]) == t[0]  # still the oldest
    assert desk.wait_after_messages(t[0], [(staff, t[1])]) is None
    assert (
        desk.wait_after_messages(t[0], [(staff, t[1]), (customer, t[2]), (customer, t[3])]) == t[2]
    )
    assert desk.wait_after_messages(None, [(customer, t[1]), (staff, t[2])]) is None
    assert desk.wait_after_messages(t[0], []) == t[0]
