"""A RabbitMQ outage degrades the product; it does not stop it (issue 13, item 14).

With the broker's app stopped (`rabbitmqctl stop_app` on the test's own node, always restarted),
every service stays ready (Kubernetes keeps routing to it) and a user still logs in, reads the
history and sends, through the gateway."""

from __future__ import annotations

import httpx
import pytest

from tests.support.rabbit import broker_stopped
from tests.support.stack import TestStack
from tests.support.users import login, new_user

pytestmark = pytest.mark.broker_fault

SERVICES = ("auth", "conversations", "realtime-1", "realtime-2")


def readiness(stack: TestStack, name: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{stack.port(name)}/readyz", timeout=10)


async def test_login_history_and_sending_answer_while_rabbitmq_is_down(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    if stack.dev is None:
        pytest.skip("needs the stack the tests start themselves (its RabbitMQ node)")
    for expected in ("CONNECTION_FORCED", "AMQPConnectionError", "ConnectionClosed"):
        stack.forgive_tracebacks(expected)
    customer = await new_user(http, stack, "customer")
    agent = await new_user(http, stack, "agent")
    opened = await http.post(
        "/api/conversations", json={"recipientId": agent.id}, headers=customer.headers
    )
    conv_id = opened.json()["_id"]
    with broker_stopped():
        for name in SERVICES:
            answer = readiness(stack, name)
            assert answer.status_code == 200, (name, answer.text)
            assert answer.json()["status"] == "degraded", (name, answer.text)
        again = await login(http, customer.email, customer.password)
        headers = {"Authorization": f"Bearer {again['token']}"}
        sent = await http.post(
            f"/api/conversations/{conv_id}/messages", json={"text": "broker away"}, headers=headers
        )
        assert sent.status_code == 201, sent.text
        history = await http.get(f"/api/conversations/{conv_id}/messages", headers=agent.headers)
        assert history.status_code == 200, history.text
        assert [m["text"] for m in history.json()] == ["broker away"]
    for name in SERVICES:
        assert readiness(stack, name).status_code == 200
