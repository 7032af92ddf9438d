"""conversation.updated turned into the desk's socket events, each to its audience only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from workcity_common.events import ConversationData, ConversationUpdatedData, TeamRef, UserRef
from workcity_realtime.service_layer.desk_events import conversation_updated

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Recorder:
    def __init__(self) -> None:
        self.emits: list[tuple[str, Any, Any]] = []

    async def emit(self, event: str, data: Any, *, to: Any, **_: Any) -> None:
        self.emits.append((event, data, to))


def _data(**kw: Any) -> ConversationUpdatedData:
    conversation = ConversationData(
        id="c1",
        participants=[UserRef(id="cust", email="c@x", role="customer")],
        created_at=NOW,
        updated_at=NOW,
        assignee=UserRef(id="a1", email="a@x", role="agent"),
        team=TeamRef(id="t1", name="Support"),
        labels=["vip"],
        version=4,
    )
    return ConversationUpdatedData(conversation=conversation, **kw)


async def test_staff_customer_queue_and_assignment_audiences() -> None:
    emitter = Recorder()
    await conversation_updated(
        emitter,  # type: ignore[arg-type]
        _data(
            changes=["assignee", "labels"],
            actor=UserRef(id="adm", email="adm@x", role="admin"),
            staff_ids=["adm", "a1"],
            customer_ids=["cust"],
            assigned_from="a0",
            assigned_to="a1",
        ),
    )
    names = [(e[0], e[2]) for e in emitter.emits]
    assert names == [
        ("conversationUpdated", ["user:adm", "user:a1"]),
        ("conversationUpdated", ["user:cust"]),
        ("conversationAssigned", ["user:a0", "user:a1"]),
    ]
    staff, customer, assigned = (e[1] for e in emitter.emits)
    assert staff["changes"] == ["assignee", "labels"] and staff["conversation"]["labels"] == ["vip"]
    assert staff["actor"]["_id"] == "adm" and staff["conversation"]["version"] == 4
    # The customer: only status and assignee, of the fields and of the changes.
    assert customer["changes"] == ["assignee"]
    assert "labels" not in customer["conversation"] and "team" not in customer["conversation"]
    assert customer["conversation"]["assignee"] == {"_id": "a1", "email": "a@x"}
    assert (assigned["from"], assigned["to"]) == ("a0", "a1")


async def test_a_queued_conversation_goes_to_the_team_and_nothing_else_when_no_one_else() -> None:
    emitter = Recorder()
    await conversation_updated(
        emitter,  # type: ignore[arg-type]
        _data(changes=["team"], staff_ids=[], queued_for=["m1", "m2"]),
    )
    assert [(e[0], e[2]) for e in emitter.emits] == [("conversationQueued", ["user:m1", "user:m2"])]


async def test_a_note_goes_to_the_staff_audience_only_never_to_a_room() -> None:
    from workcity_common.events import NoteCreatedData, NoteData
    from workcity_realtime.service_layer.desk_events import note_created

    emitter = Recorder()
    note = NoteData(
        id="n1",
        conversation_id="c1",
        author=UserRef(id="a1", email="a@x", role="agent"),
        text="private",
        created_at=NOW,
    )
    await note_created(emitter, NoteCreatedData(note=note, staff_ids=["adm", "a1"]))  # type: ignore[arg-type]
    assert emitter.emits == [("noteCreated", {"note": note.to_api()}, ["user:adm", "user:a1"])]
    await note_created(emitter, NoteCreatedData(note=note, staff_ids=[]))  # type: ignore[arg-type]
    assert len(emitter.emits) == 1


async def test_a_satisfaction_request_goes_to_the_customers_only() -> None:
    from workcity_common.events import CsatRequestedData
    from workcity_realtime.service_layer.desk_events import csat_requested

    emitter = Recorder()
    await csat_requested(emitter, CsatRequestedData(conversation_id="c1", customer_ids=["cust"]))  # type: ignore[arg-type]
    await csat_requested(emitter, CsatRequestedData(conversation_id="c2", customer_ids=[]))  # type: ignore[arg-type]
    assert emitter.emits == [("csatRequested", {"conversationId": "c1"}, ["user:cust"])]
