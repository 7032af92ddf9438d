"""The JavaScript `socket.io-client` from npm (what real frontends use) against the stack: a node
script (tests/e2e/js/realtime_check.mjs) connects through the gateway and to both replicas and
checks the handshake errors, join, send with ack, typing, read receipts and catch-up."""

from __future__ import annotations

import asyncio
import json
import os

import httpx

from tests.support.api import open_conversation
from tests.support.browser import NODE_TEST_DIR, node_modules_ready
from tests.support.sockets import replica_url
from tests.support.stack import TestStack
from tests.support.users import new_user


async def test_socket_io_client_from_npm(http: httpx.AsyncClient, stack: TestStack) -> None:
    stack.require_service("realtime")
    stack.require_service("conversations")
    await asyncio.to_thread(node_modules_ready)
    customer = await new_user(http, stack, "customer")
    agent = await new_user(http, stack, "agent")
    conversation_id = await open_conversation(http, customer, agent)
    config = {
        "gatewayUrl": stack.gateway_url,
        "replicaUrls": [replica_url(stack, 1), replica_url(stack, 2)],
        "conversationId": conversation_id,
        "customer": {"id": customer.id, "email": customer.email, "token": customer.token},
        "agent": {"id": agent.id, "email": agent.email, "token": agent.token},
    }
    process = await asyncio.create_subprocess_exec(
        "node",
        "realtime_check.mjs",
        cwd=NODE_TEST_DIR,
        env={**os.environ, "REALTIME_CHECK": json.dumps(config)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 90)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError("the node script did not finish in 90 s") from None
    lines = stdout.decode().strip().splitlines()
    assert lines, f"no output from node; stderr:\n{stderr.decode()}"
    result = json.loads(lines[-1])
    assert result["ok"], f"{result.get('failed')}\nstderr:\n{stderr.decode()}"
    assert process.returncode == 0
    assert result["badTokenError"].startswith("Authentication error")
    assert result["noneTokenError"].startswith("Authentication error")
    assert result["message"]["seq"] == 1
    assert result["caughtUp"] == [2, 3]
    # The agent themself, then their online contact.
    assert [u["_id"] for u in result["onlineUsersAfterReconnect"]] == [agent.id, customer.id]
