"""The desk's `Assigner` (service_layer/desk_assignment.py) against in-memory fakes of its ports:
queues handed out to eligible agents within capacity, due snoozes reopened, a customer's message
reopening a conversation set aside, and the events each change publishes. The store's atomic
capacity check against the database: tests/integration/conversations/test_desk_concurrency.py,
tests/e2e/test_desk*.py."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from workcity_common.events import ConversationUpdated
from workcity_conversations.domain.desk import Agent
from workcity_conversations.domain.model import Conversation, Person
from workcity_conversations.service_layer.desk_assignment import Assigner
from workcity_conversations.service_layer.desk_shared import DeskLimits
from workcity_conversations.service_layer.service import ConversationService
from workcity_conversations.service_layer.views import now_ms

from tests.unit.conversations.desk_fakes import FakeDeskStore
from tests.unit.conversations.fakes import (
    FakeConversationStore,
    FakeDirectory,
    FakeFileStore,
    oid,
)
from tests.unit.conversations.test_service import T0, person

ADMIN, ANN, BOB, CUSTOMER = person("admin"), person("agent"), person("agent"), person()


@dataclasses.dataclass
class Desk:
    assigner: Assigner
    store: FakeDeskStore
    chats: FakeConversationStore
    team_id: str

    def conversation(self, conversation_id: str) -> Conversation:
        return self.chats.conversations[conversation_id]

    def queue(self, minutes_waiting: int, **fields: object) -> str:
        """A support request of CUSTOMER waiting in the team's queue."""
        conversation = Conversation(
            oid(),
            (CUSTOMER.id,),
            0,
            T0,
            T0,
            team_id=self.team_id,
            waiting_since=now_ms() - timedelta(minutes=minutes_waiting),
            version=1,
        )
        conversation = dataclasses.replace(conversation, **fields)  # type: ignore[arg-type]
        self.chats.conversations[conversation.id] = conversation
        self.store.side[conversation.id] = {"customer": CUSTOMER.id}
        return conversation.id

    def available(self, *agents: Person) -> None:
        for agent in agents:
            self.store.agents[agent.id] = Agent(agent.id, "available", online=True)


async def desk(capacity: int = 1, auto_assign: bool = True) -> Desk:
    chats = FakeConversationStore()
    directory = FakeDirectory(ADMIN, ANN, BOB, CUSTOMER)
    store = FakeDeskStore(chats, ADMIN, ANN, BOB)
    team = await store.create_team("Support", auto_assign, capacity)
    await store.update_team(team.id, {"members": [ANN.id, BOB.id]})
    conversations = ConversationService(chats, directory, FakeFileStore(T0))
    assigner = Assigner(store, directory, conversations, DeskLimits(presence_grace_s=60))
    return Desk(assigner, store, chats, team.id)


def updates(d: Desk) -> list[ConversationUpdated]:
    return [e for e in d.chats.events if isinstance(e, ConversationUpdated)]


async def test_drain_hands_out_the_longest_waiting_within_capacity() -> None:
    d = await desk(capacity=1)
    newer, older = d.queue(minutes_waiting=1), d.queue(minutes_waiting=9)
    d.available(ANN)
    assert await d.assigner.drain(d.team_id) == 1  # Ann is full after one
    assert d.conversation(older).assignee_id == ANN.id
    assert ANN.id in d.conversation(older).participants
    assert d.conversation(newer).assignee_id is None
    [update] = updates(d)
    assert update.data.assigned_to == ANN.id and update.data.changes == ["assignee"]
    assert CUSTOMER.id in update.data.customer_ids and ADMIN.id in update.data.staff_ids
    d.available(BOB)
    assert await d.assigner.drain_all() == 1
    assert d.conversation(newer).assignee_id == BOB.id


async def test_priority_goes_before_waiting_time() -> None:
    d = await desk(capacity=1)
    d.queue(minutes_waiting=30)
    urgent = d.queue(minutes_waiting=1, priority="urgent")
    d.available(ANN)
    await d.assigner.drain(d.team_id)
    assert d.conversation(urgent).assignee_id == ANN.id


async def test_nobody_eligible_nothing_assigned() -> None:
    d = await desk(capacity=5)
    queued = d.queue(minutes_waiting=5)
    d.store.agents[ANN.id] = Agent(ANN.id, "busy", online=True)
    d.store.agents[BOB.id] = Agent(BOB.id, "available", online=False, last_seen=T0)
    assert await d.assigner.drain(d.team_id) == 0
    off = await desk(auto_assign=False)
    off.queue(minutes_waiting=5)
    off.available(ANN)
    assert await off.assigner.drain(off.team_id) == 0
    assert d.conversation(queued).assignee_id is None and updates(d) == updates(off) == []


async def test_the_fewest_open_goes_first() -> None:
    d = await desk(capacity=3)
    d.available(ANN, BOB)
    d.queue(minutes_waiting=5, assignee_id=ANN.id)  # Ann has one open already
    fresh = d.queue(minutes_waiting=1)
    await d.assigner.drain(d.team_id)
    assert d.conversation(fresh).assignee_id == BOB.id


async def test_due_snoozes_reopen_keeping_an_eligible_assignee() -> None:
    d = await desk(capacity=2, auto_assign=False)
    due = now_ms() - timedelta(minutes=1)
    kept = d.queue(5, status="snoozed", snoozed_until=due, assignee_id=ANN.id)
    back = d.queue(5, status="snoozed", snoozed_until=due, assignee_id=BOB.id)
    later = d.queue(5, status="snoozed", snoozed_until=now_ms() + timedelta(hours=1))
    d.available(ANN)  # Bob is not: his goes back to the queue
    assert await d.assigner.reopen_due_snoozes() == 2
    assert (d.conversation(kept).status, d.conversation(kept).assignee_id) == ("open", ANN.id)
    assert (d.conversation(back).status, d.conversation(back).assignee_id) == ("open", None)
    assert d.conversation(later).status == "snoozed"
    assert all(c.snoozed_until is None for c in map(d.conversation, (kept, back)))


async def test_a_due_snooze_whose_agent_filled_up_goes_back_to_the_queue() -> None:
    d = await desk(capacity=1, auto_assign=False)
    d.available(ANN)
    d.queue(5, assignee_id=ANN.id)  # Ann's one open conversation
    due = d.queue(5, status="snoozed", snoozed_until=T0, assignee_id=ANN.id)
    await d.assigner.reopen_due_snoozes()
    assert (d.conversation(due).status, d.conversation(due).assignee_id) == ("open", None)


async def test_a_customers_message_reopens_a_resolved_request() -> None:
    d = await desk(capacity=2, auto_assign=False)
    d.available(ANN)
    resolved = d.queue(5, status="resolved", assignee_id=ANN.id, last_seq=3, waiting_since=None)
    at = now_ms()
    await d.assigner.message_sent(CUSTOMER, resolved, 3, at)
    after = d.conversation(resolved)
    assert (after.status, after.assignee_id, after.waiting_since) == ("open", ANN.id, at)
    # It is the customer's unresolved request in that team again.
    assert d.store.side[resolved]["open_key"] == f"{CUSTOMER.id}:{d.team_id}"
    [update] = updates(d)
    assert update.data.actor is not None and update.data.actor.id == CUSTOMER.id


async def test_a_reopened_request_leaves_the_customers_newer_one_alone() -> None:
    d = await desk(auto_assign=False)
    newer = d.queue(1)
    d.store.side[newer]["open_key"] = f"{CUSTOMER.id}:{d.team_id}"
    resolved = d.queue(5, status="resolved", last_seq=2, waiting_since=None)
    await d.assigner.message_sent(CUSTOMER, resolved, 2, now_ms())
    assert d.conversation(resolved).status == "open"
    assert "open_key" not in d.store.side[resolved]
    assert await d.store.open_request(f"{CUSTOMER.id}:{d.team_id}") == d.conversation(newer)


async def test_only_the_latest_message_decides() -> None:
    d = await desk(auto_assign=False)
    pending = d.queue(5, status="pending", last_seq=4)
    await d.assigner.message_sent(CUSTOMER, pending, 3, now_ms())  # seq 4 came since
    assert d.conversation(pending).status == "pending" and updates(d) == []
    await d.assigner.message_sent(CUSTOMER, oid(), 1, now_ms())  # gone meanwhile: nothing
