"""The conversations service killed between its writes and their publish, end to end: RabbitMQ
is stopped so the relay cannot publish, the service is SIGKILLed with the events only in its
outbox, RabbitMQ comes back, the service is started again, and every event goes out in order."""

from __future__ import annotations

import json
import os
import uuid

import httpx
import pytest

from scripts.devstack.prereqs import amqp_url_with_vhost
from tests.integration.conversations.tap import Tap
from tests.support.rabbit import broker_stopped
from tests.support.stack import TestStack
from tests.support.users import new_user

pytestmark = pytest.mark.broker_fault


def stack_amqp_url(stack: TestStack) -> str:
    """The AMQP URL the stack's services use (its private virtual host, if it got one)."""
    if stack.dev is None:
        pytest.skip("needs the stack the tests start themselves")
    config = stack.dev.config
    vhost = json.loads(config.state_file.read_text()).get("vhost")
    return amqp_url_with_vhost(config.amqp_url, vhost) if vhost else config.amqp_url


async def test_events_stored_before_a_crash_are_published_after_the_restart(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    stack.require_service("conversations")
    # Services log their lost broker connection (with the driver's traceback) while it is down.
    for expected in ("CONNECTION_FORCED", "AMQPConnectionError", "ConnectionClosed"):
        stack.forgive_tracebacks(expected)
    customer = await new_user(http, stack, "customer")
    agent = await new_user(http, stack, "agent")
    opened = await http.post(
        "/api/conversations", json={"recipientId": agent.id}, headers=customer.headers
    )
    conv_id = opened.json()["_id"]
    tap = await Tap(
        stack_amqp_url(stack),
        os.environ.get("EVENTS_EXCHANGE") or "chat.events",
        f"e2e-conversations-tap-{uuid.uuid4().hex[:10]}",
        ["message.created"],
    ).start()
    try:
        sent = []
        with broker_stopped():
            for i in range(3):
                response = await http.post(
                    f"/api/conversations/{conv_id}/messages",
                    json={"text": f"before the crash {i}"},
                    headers=customer.headers,
                )
                assert response.status_code == 201, response.text
                sent.append(response.json())
            # A crash: no shutdown code runs; the events exist only in the outbox.
            stack.stop_service("conversations", kill=True)
        stack.start_service("conversations")
        received = [
            e
            for e in await tap.collect(3, timeout_s=90)
            if e.data.message.conversation_id == conv_id
        ]
        assert [e.data.message.to_api() for e in received] == sent
        assert [e.data.message.seq for e in received] == [1, 2, 3]
    finally:
        await tap.delete()
        await tap.close()
