"""Every use case of `DeskService` (service_layer/desk_service.py) against in-memory fakes of its
ports (fakes.py): support requests, the inbox's views, counts and cursors, claims, assignments,
status changes, transfers and field edits, who may do each, and the events they commit. The real
`DeskStore` (its queries, snapshot and capacity check) against the database:
tests/integration/conversations/test_desk_concurrency.py, tests/e2e/test_desk*.py."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import pytest
from workcity_common.domain_errors import DomainError
from workcity_common.events import (
    ConversationCreated,
    ConversationUpdated,
    Event,
    NoteCreated,
)
from workcity_conversations.domain.desk import Agent
from workcity_conversations.domain.model import Conversation, Person
from workcity_conversations.service_layer.activity_service import ActivityService
from workcity_conversations.service_layer.csat_service import CsatService
from workcity_conversations.service_layer.desk_service import DeskService
from workcity_conversations.service_layer.desk_shared import DeskLimits
from workcity_conversations.service_layer.notes_service import NoteLimits, NotesService
from workcity_conversations.service_layer.service import ConversationService
from workcity_conversations.service_layer.views import now_ms

from tests.unit.conversations.desk_fakes import FakeDeskStore, FakeNoteStore
from tests.unit.conversations.fakes import (
    FakeConversationStore,
    FakeDirectory,
    FakeFileStore,
    oid,
)
from tests.unit.conversations.test_service import T0, person


@dataclasses.dataclass
class Desk:
    service: DeskService
    notes: NotesService
    conversations: ConversationService
    store: FakeDeskStore
    chats: FakeConversationStore
    directory: FakeDirectory
    admin: Person
    ann: Person  # a member of `support`
    bob: Person  # a member of `billing`
    customer: Person
    support: str
    billing: str
    note_store: FakeNoteStore = dataclasses.field(default_factory=FakeNoteStore)

    def conversation(self, conversation_id: str) -> Conversation:
        return self.chats.conversations[conversation_id]

    def queue(self, team: str, minutes_waiting: int = 5, **fields: object) -> str:
        conversation = Conversation(
            oid(),
            (self.customer.id,),
            0,
            T0,
            T0,
            team_id=team,
            waiting_since=now_ms() - timedelta(minutes=minutes_waiting),
            version=1,
        )
        conversation = dataclasses.replace(conversation, **fields)  # type: ignore[arg-type]
        self.chats.conversations[conversation.id] = conversation
        self.store.side[conversation.id] = {"customer": self.customer.id}
        return conversation.id

    def events(self, kind: type[Event]) -> list[Any]:
        return [e for e in self.chats.events if isinstance(e, kind)]


async def desk(auto_assign: bool = False) -> Desk:
    admin, ann, bob, customer = person("admin"), person("agent"), person("agent"), person()
    chats, directory = FakeConversationStore(), FakeDirectory(admin, ann, bob, customer)
    store = FakeDeskStore(chats, admin, ann, bob)
    support = await store.create_team("Support", auto_assign, 5)
    billing = await store.create_team("Billing", False, 5)
    await store.update_team(support.id, {"members": [ann.id]})
    await store.update_team(billing.id, {"members": [bob.id]})
    store.default_team_id = support.id

    async def team_names(ids: Iterable[str]) -> dict[str, str]:
        return {t: store.teams[t].name for t in ids if t in store.teams}

    conversations = ConversationService(
        chats, directory, FakeFileStore(T0), team_names=team_names, teams_of=store.team_ids_of
    )
    note_store = FakeNoteStore()
    notes = NotesService(note_store, store, directory, NoteLimits(max_chars=50))
    service = DeskService(store, directory, conversations, DeskLimits(), notes=notes)
    return Desk(
        service,
        notes,
        conversations,
        store,
        chats,
        directory,
        admin,
        ann,
        bob,
        customer,
        support.id,
        billing.id,
        note_store,
    )


async def fails(code: str, work: Any) -> None:
    with pytest.raises(DomainError) as error:
        await work
    assert error.value.code == code


async def settle(d: Desk) -> None:
    """Let the background drains the use cases started finish."""
    for _ in range(5):
        await asyncio.sleep(0)
    await d.service.assigner.close()


# --- support requests ---------------------------------------------------------------------------


async def test_a_customer_opens_one_request_per_team() -> None:
    d = await desk()
    first, created = await d.service.open_support(d.customer, {"subject": " Refund ", "text": "hi"})
    assert created and first["_id"] in d.chats.conversations
    opened = d.conversation(first["_id"])
    assert (opened.team_id, opened.status, opened.subject) == (d.support, "open", "Refund")
    assert opened.last_seq == 1  # the text became its first message
    assert len(d.events(ConversationCreated)) == 1
    [update] = d.events(ConversationUpdated)
    assert update.data.queued_for == [d.ann.id] and d.admin.id in update.data.staff_ids
    again, created = await d.service.open_support(d.customer, {})
    assert not created and again["_id"] == first["_id"]
    other, created = await d.service.open_support(d.customer, {"teamId": d.billing})
    assert created and d.conversation(other["_id"]).team_id == d.billing
    await settle(d)


async def test_only_customers_open_requests_in_teams_that_exist() -> None:
    d = await desk()
    await fails("customers_only", d.service.open_support(d.ann, {}))
    await fails("team_not_found", d.service.open_support(d.customer, {"teamId": oid()}))
    await fails("invalid_body", d.service.open_support(d.customer, {"subject": 5}))
    assert d.chats.conversations == {}


async def test_a_new_request_goes_to_an_available_agent() -> None:
    d = await desk(auto_assign=True)
    d.store.agents[d.ann.id] = Agent(d.ann.id, "available", online=True)
    opened, _ = await d.service.open_support(d.customer, {})
    for _ in range(20):
        await asyncio.sleep(0)
    assert d.conversation(opened["_id"]).assignee_id == d.ann.id
    await settle(d)


# --- the inbox ----------------------------------------------------------------------------------


async def test_the_inbox_views_and_their_counts() -> None:
    d = await desk()
    mine = d.queue(d.support, assignee_id=d.ann.id)
    queued = d.queue(d.support)
    d.queue(d.support, status="resolved")
    d.queue(d.billing)
    page = await d.service.inbox(d.ann, "unassigned", None, None, None, None)
    assert [i["_id"] for i in page["items"]] == [queued]
    assert page["counts"] == {"mine": 1, "unassigned": 1, "team": 2}
    page = await d.service.inbox(d.ann, "mine", None, None, None, None)
    assert [i["_id"] for i in page["items"]] == [mine] and page["nextCursor"] is None
    page = await d.service.inbox(d.ann, "team", "resolved", None, None, None)
    assert len(page["items"]) == 1
    everything = await d.service.inbox(d.admin, "all", None, None, None, None)
    assert len(everything["items"]) == 3
    narrowed = await d.service.inbox(d.admin, "all", None, d.billing, None, None)
    assert len(narrowed["items"]) == 1


async def test_the_queue_pages_by_priority_then_waiting_time() -> None:
    d = await desk()
    old = d.queue(d.support, minutes_waiting=30)
    urgent = d.queue(d.support, minutes_waiting=1, priority="urgent")
    new = d.queue(d.support, minutes_waiting=2)
    seen, cursor = [], None
    for _ in range(3):
        page = await d.service.inbox(d.ann, "unassigned", None, None, "1", cursor)
        seen += [i["_id"] for i in page["items"]]
        cursor = page["nextCursor"]
    assert seen == [urgent, old, new]
    last = await d.service.inbox(d.ann, "unassigned", None, None, "1", cursor)
    assert last["items"] == [] and last["nextCursor"] is None


async def test_the_other_views_page_by_latest_activity() -> None:
    d = await desk()
    ids = [d.queue(d.support) for _ in range(3)]
    first = await d.service.inbox(d.ann, "team", None, None, "2", None)
    second = await d.service.inbox(d.ann, "team", None, None, "2", first["nextCursor"])
    seen = [i["_id"] for i in first["items"] + second["items"]]
    assert seen == sorted(ids, reverse=True) and second["nextCursor"] is None


async def test_the_inbox_refuses_what_the_caller_may_not_see() -> None:
    d = await desk()
    await fails("admin_only", d.service.inbox(d.ann, "all", None, None, None, None))
    await fails("not_in_team", d.service.inbox(d.ann, "team", None, d.billing, None, None))
    await fails("invalid_query", d.service.inbox(d.ann, "unassigned", None, None, None, "x_1_2"))
    await fails("invalid_id", d.service.inbox(d.ann, "team", None, None, None, "nope"))
    await fails("invalid_query", d.service.inbox(d.ann, "nope", None, None, None, None))
    await fails("staff_only", d.service.inbox(d.customer, "mine", None, None, None, None))


# --- claims, assignments and status ------------------------------------------------------------


async def test_a_team_member_claims_an_unassigned_conversation_once() -> None:
    d = await desk()
    queued = d.queue(d.support)
    await fails("not_in_team", d.service.claim(d.bob, queued))
    await d.service.claim(d.ann, queued)
    claimed = d.conversation(queued)
    assert claimed.assignee_id == d.ann.id and d.ann.id in claimed.participants
    [update] = d.events(ConversationUpdated)
    assert update.data.assigned_to == d.ann.id
    await fails("already_assigned", d.service.claim(d.admin, queued))


async def test_an_admin_assigns_and_unassigns_staff_only() -> None:
    d = await desk()
    queued = d.queue(d.support)
    await fails("not_staff", d.service.assign(d.admin, queued, d.customer.id, None))
    await fails("user_not_found", d.service.assign(d.admin, queued, oid(), None))
    await d.service.assign(d.admin, queued, d.ann.id, None)
    assert d.conversation(queued).assignee_id == d.ann.id
    await d.service.assign(d.admin, queued, None, None)
    assert d.conversation(queued).assignee_id is None
    await settle(d)


async def test_an_assignment_respects_capacity_unless_forced() -> None:
    d = await desk()
    await d.store.set_agent(d.ann.id, {"capacity": 1})
    d.queue(d.support, assignee_id=d.ann.id)
    queued = d.queue(d.support)
    await fails("at_capacity", d.service.assign(d.admin, queued, d.ann.id, None))
    await d.service.assign(d.admin, queued, d.ann.id, True)
    assert d.conversation(queued).assignee_id == d.ann.id
    await settle(d)


async def test_resolving_asks_for_a_rating_and_frees_the_customers_next_request() -> None:
    d = await desk()
    opened, _ = await d.service.open_support(d.customer, {})
    await fails("not_allowed", d.service.set_status(d.bob, opened["_id"], "resolved", None))
    await d.service.set_status(d.ann, opened["_id"], "resolved", None)
    resolved = d.conversation(opened["_id"])
    assert resolved.status == "resolved" and resolved.csat is not None
    assert resolved.csat.round == 1 and "open_key" not in d.store.side[resolved.id]
    newer, created = await d.service.open_support(d.customer, {})
    assert created and newer["_id"] != resolved.id
    await settle(d)


async def test_snoozing_needs_a_future_time_and_an_unchanged_status_writes_nothing() -> None:
    d = await desk()
    queued = d.queue(d.support)
    await fails("invalid_snooze", d.service.set_status(d.ann, queued, "snoozed", None))
    until = (now_ms() + timedelta(hours=1)).isoformat()
    await d.service.set_status(d.ann, queued, "snoozed", until)
    assert d.conversation(queued).status == "snoozed"
    assert d.conversation(queued).snoozed_until is not None
    await d.service.set_status(d.ann, queued, "pending", None)
    version = d.conversation(queued).version
    await d.service.set_status(d.ann, queued, "pending", None)
    assert d.conversation(queued).version == version
    await fails("invalid_status", d.service.set_status(d.ann, queued, "gone", None))
    await settle(d)


# --- transfers and fields -----------------------------------------------------------------------


async def test_a_transfer_moves_it_to_another_teams_queue_with_a_note() -> None:
    d = await desk()
    queued = d.queue(d.support, assignee_id=d.ann.id)
    await fails("team_not_found", d.service.transfer(d.ann, queued, oid(), None))
    await fails("not_allowed", d.service.transfer(d.bob, queued, d.billing, None))
    await d.service.transfer(d.ann, queued, d.billing, "over to you")
    moved = d.conversation(queued)
    assert (moved.team_id, moved.assignee_id) == (d.billing, None)
    [update] = d.events(ConversationUpdated)
    assert sorted(update.data.changes) == ["assignee", "team"]
    [note] = d.events(NoteCreated)
    assert note.data.note.text == "over to you" and note.data.note.conversation_id == queued
    await fails("invalid_body", d.service.transfer(d.bob, queued, d.support, "x" * 51))
    await settle(d)


async def test_priority_and_labels_change_together_within_the_limit() -> None:
    d = await desk()
    queued = d.queue(d.support, labels=("vip",))
    body = {"priority": "high", "addLabels": ["refund"], "removeLabels": ["vip"]}
    await d.service.update_fields(d.ann, queued, body)
    changed = d.conversation(queued)
    assert (changed.priority, changed.labels) == ("high", ["refund"])
    await fails("invalid_body", d.service.update_fields(d.ann, queued, {}))
    await fails("staff_only", d.service.update_fields(d.customer, queued, {"priority": "low"}))
    many = {"addLabels": [f"l{n}" for n in range(20)]}
    await fails("invalid_labels", d.service.update_fields(d.ann, queued, many))


# --- satisfaction -------------------------------------------------------------------------------


async def test_its_customer_rates_a_resolution_once() -> None:
    d = await desk()
    rating = CsatService(d.store, d.directory, d.conversations, comment_max_chars=20)
    opened, _ = await d.service.open_support(d.customer, {})
    await fails("csat_not_requested", rating.rate(d.customer, opened["_id"], {"rating": 5}))
    await d.service.set_status(d.ann, opened["_id"], "resolved", None)
    await fails("not_its_customer", rating.rate(d.ann, opened["_id"], {"rating": 5}))
    await fails("invalid_rating", rating.rate(d.customer, opened["_id"], {"rating": 6}))
    long = {"rating": 4, "comment": "x" * 21}
    await fails("invalid_comment", rating.rate(d.customer, opened["_id"], long))
    answer = await rating.rate(d.customer, opened["_id"], {"rating": 4, "comment": " ok "})
    assert (answer["conversationId"], answer["rating"], answer["comment"]) == (
        opened["_id"],
        4,
        "ok",
    )
    rated = d.conversation(opened["_id"]).csat
    assert rated is not None and rated.rating == 4 and rated.rated_at is not None
    [*_, update] = d.events(ConversationUpdated)
    assert update.data.changes == ["csat"]
    await fails("already_rated", rating.rate(d.customer, opened["_id"], {"rating": 1}))
    await settle(d)


# --- activity -----------------------------------------------------------------------------------


async def test_staff_read_a_conversations_changes_as_lines() -> None:
    d = await desk()
    log = ActivityService(d.store, d.store.activity, d.directory, d.conversations)
    queued = d.queue(d.support)
    await d.service.claim(d.ann, queued)
    await d.service.transfer(d.ann, queued, d.billing, None)
    entries = await log.list(d.admin, queued, None, None)
    assert [e["type"] for e in entries] == ["assignee", "assignee", "team"]  # claim, transfer
    assert {e["actor"]["_id"] for e in entries} == {d.ann.id}
    assert entries[0]["to"] == {"_id": d.ann.id, "email": d.ann.email}
    assert entries[2]["to"] == {"_id": d.billing, "name": "Billing"}
    assert all(e["text"] for e in entries)
    rest = await log.list(d.admin, queued, "5", entries[0]["_id"])
    assert [e["_id"] for e in rest] == [e["_id"] for e in entries[1:]]
    assert await log.list(d.admin, queued, None, oid()) == []
    await fails("staff_only", log.list(d.customer, queued, None, None))
    assert len(await log.list(d.bob, queued, None, None)) == 3  # now in his team
    await fails("not_allowed", log.list(person("agent"), queued, None, None))
    await settle(d)
