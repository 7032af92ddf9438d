"""Events are never lost between a write and its publish: real RabbitMQ, real SecantusDB."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.broker import Broker
from workcity_common.outbox import Outbox, OutboxRelay
from workcity_conversations.service_layer.service import ConversationService
from workcity_conversations.settings import ConversationsSettings

from tests.integration.conversations.conftest import Running, Tokens, auth
from tests.support.outbox import pending_event_count, stored_events
from tests.support.rabbit import broker_stopped

pytestmark = pytest.mark.integration


async def open_conversation(running: Running, tokens: Tokens, a: Any, b: Any) -> str:
    response = await running.http.post(
        "/api/conversations", json={"recipientId": b.id}, headers=auth(tokens, a)
    )
    assert response.status_code == 201, response.text
    return str(response.json()["_id"])


async def test_events_are_published_in_order(
    running: Running, tokens: Tokens, make_user: Callable[..., Any], tap: Callable[..., Any]
) -> None:
    events = await tap("conversation.*", "message.created")
    customer, agent = await make_user("customer"), await make_user("agent")
    conv_id = await open_conversation(running, tokens, customer, agent)
    for i in range(5):
        response = await running.http.post(
            f"/api/conversations/{conv_id}/messages",
            json={"text": f"m{i}"},
            headers=auth(tokens, customer if i % 2 else agent),
        )
        assert response.status_code == 201
    received = await events.collect(6)
    assert [e.type for e in received] == ["conversation.created"] + ["message.created"] * 5
    assert [e.data.message.seq for e in received[1:]] == [1, 2, 3, 4, 5]
    assert [e.data.message.text for e in received[1:]] == [f"m{i}" for i in range(5)]


@pytest.mark.broker_fault
async def test_events_written_while_rabbitmq_is_down_are_published_when_it_is_back(
    running: Running,
    tokens: Tokens,
    make_user: Callable[..., Any],
    tap: Callable[..., Any],
    mongo_db: AsyncDatabase,
) -> None:
    events = await tap("message.created")
    customer, agent = await make_user("customer"), await make_user("agent")
    conv_id = await open_conversation(running, tokens, customer, agent)
    count = 20
    with broker_stopped():
        for i in range(count):
            response = await running.http.post(
                f"/api/conversations/{conv_id}/messages",
                json={"text": f"while down {i}"},
                headers=auth(tokens, customer),
            )
            # Writes do not depend on RabbitMQ.
            assert response.status_code == 201, response.text
        # Published entries are deleted: what the outbox holds is unpublished.
        assert len(await stored_events(mongo_db, "message.created")) == count
    received = await events.collect(count, timeout_s=60)
    assert [e.data.message.seq for e in received] == list(range(1, count + 1))
    assert await pending_event_count(mongo_db["outbox"]) == 0


async def test_a_new_relay_publishes_what_a_dead_process_left_in_the_outbox(
    service: ConversationService,
    make_user: Callable[..., Any],
    tap: Callable[..., Any],
    mongo_db: AsyncDatabase,
    settings: ConversationsSettings,
) -> None:
    events = await tap("conversation.*", "message.*")
    # The writes of a process that died after its commits and before its relay ran: stored, with
    # their events, and nothing published.
    customer, agent = await make_user("customer"), await make_user("agent")
    opened = await service.open_conversation(customer, agent.id)
    conv_id = str(opened.conversation["_id"])
    for i in range(5):
        await service.send(customer, conv_id, f"before the crash {i}")
    assert await events.collect(0, timeout_s=0.5) == []
    assert await pending_event_count(mongo_db["outbox"]) == 6

    # The restarted process: a new broker connection and a new relay over the same outbox.
    broker = Broker(settings.amqp_url, settings.events_exchange)
    broker.start()
    relay = OutboxRelay(Outbox(mongo_db["outbox"]), broker, poll_interval_s=0.2)
    relay.start()
    try:
        received = await events.collect(6)
    finally:
        await relay.close()
        await broker.close()
    assert [e.type for e in received] == ["conversation.created"] + ["message.created"] * 5
    assert [e.data.message.seq for e in received[1:]] == [1, 2, 3, 4, 5]
    assert received[0].data.conversation.id == conv_id
    assert await pending_event_count(mongo_db["outbox"]) == 0
