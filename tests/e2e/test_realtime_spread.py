"""Socket.IO clients that all come from ONE address (the tests' 127.0.0.1, like every user behind
one NAT) spread over both realtime replicas through the gateway, and long-polling sessions still
keep every request on the replica that holds them (gateway/README.md, "Socket.IO").

Which replica served a request is read from the gateway's JSON access log (the upstream address),
not from the session id, so these tests hold whatever way the gateway picks a replica.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.api import Chat, open_conversation
from tests.support.sockets import Peer, client_message_id
from tests.support.stack import TestStack, service_of
from tests.support.users import new_user

REPLICAS = {"realtime-1", "realtime-2"}


def request_id() -> str:
    return f"e2e-spread-{uuid.uuid4().hex}"


async def connect(peer: Peer, stack: TestStack, token: str, transport: str, rid: str) -> None:
    """Through the gateway, with a request id on the first request (the websocket, or the
    long-polling handshake) so its access-log entry names the replica."""
    await peer.sio.connect(
        stack.gateway_url,
        auth={"token": token},
        transports=[transport],
        headers={"X-Request-ID": rid},
        wait_timeout=10,
    )
    assert peer.sio.transport() == transport


def replica_of(stack: TestStack, rid: str) -> str:
    return service_of(stack, stack.gateway_log_entry(rid)["upstream"])


def gateway_entries_of_session(stack: TestStack, eio_sid: str) -> list[dict[str, Any]]:
    """Every finished request that carried this Engine.IO session id (`?sid=`)."""
    entries = []
    for line in stack.log_lines("gateway"):
        if f"sid={eio_sid}" in line and line.startswith("{"):
            entries.append(json.loads(line))
    return entries


async def test_websocket_clients_from_one_address_spread_over_both_replicas(
    stack: TestStack, chat: Chat, peers: Callable[[str], Peer]
) -> None:
    clients: list[tuple[Peer, str]] = []
    # Least connections: sockets other tests still hold may put one replica ahead by a few, so
    # connect (at most 40) until each replica holds three of ours; the session id's prefix says
    # where each went meanwhile, the access log checks it below.
    placed: Counter[str] = Counter()
    for n in range(40):
        peer = peers(f"ws-{n}")
        rid = request_id()
        await connect(
            peer, stack, chat.customer.token if n % 2 else chat.agent.token, "websocket", rid
        )
        clients.append((peer, rid))
        placed[str(peer.sio.eio.sid).split(".")[0]] += 1
        if len(placed) == 2 and min(placed.values()) >= 3:
            break
    # Every one of them is live: joined, and a message sent by one reaches all.
    for peer, _ in clients:
        assert (await peer.call("joinConversation", chat.conversation_id))["ok"] is True
    sender = clients[0][0]
    ack = await sender.call(
        "sendMessage",
        {
            "conversationId": chat.conversation_id,
            "text": "spread",
            "clientMessageId": client_message_id(),
        },
    )
    assert ack["text"] == "spread", ack
    for peer, _ in clients:
        await peer.wait_for("newMessage", lambda m: m["_id"] == ack["_id"])
    # A websocket's access-log entry is written when it closes.
    for peer, _ in clients:
        await peer.disconnect()
    spread = Counter(replica_of(stack, rid) for _, rid in clients)
    assert set(spread) == REPLICAS, spread
    assert min(spread.values()) >= 3, spread


async def test_long_polling_clients_from_one_address_keep_their_replica_and_chat_across_both(
    http: httpx.AsyncClient, stack: TestStack, peers: Callable[[str], Peer]
) -> None:
    stack.require_service("realtime")
    stack.require_service("conversations")
    chats = []
    for _ in range(3):
        customer = await new_user(http, stack, "customer")
        agent = await new_user(http, stack, "agent")
        chats.append(Chat(customer, agent, await open_conversation(http, customer, agent)))

    # Connected one after the other, each holding a long-poll open: least connections alternates.
    sides: list[tuple[Peer, Peer]] = []
    handshakes: dict[Peer, str] = {}
    for n, chat_ in enumerate(chats):
        pair = []
        for role, user in (("customer", chat_.customer), ("agent", chat_.agent)):
            peer = peers(f"poll-{role}-{n}")
            rid = request_id()
            await connect(peer, stack, user.token, "polling", rid)
            handshakes[peer] = rid
            pair.append(peer)
        sides.append((pair[0], pair[1]))

    for (customer, agent), chat_ in zip(sides, chats, strict=True):
        for peer in (customer, agent):
            assert await peer.call("joinConversation", chat_.conversation_id) == {
                "ok": True,
                "conversationId": chat_.conversation_id,
            }
        for sender, receiver in ((customer, agent), (agent, customer)):
            text = f"polling from {sender.name}"
            ack = await sender.call(
                "sendMessage",
                {
                    "conversationId": chat_.conversation_id,
                    "text": text,
                    "clientMessageId": client_message_id(),
                },
            )
            assert ack["text"] == text, ack
            # Live, on the receiver's pending long-poll (not a later fetch).
            await receiver.wait_for("newMessage", lambda m, i=ack["_id"]: m["_id"] == i)

    # Every request of each session reached the replica that answered its handshake, and
    # none was refused (an unknown session is a 400).
    replica: dict[str, str] = {}
    for peer, rid in handshakes.items():
        assert not peer.connect_errors, peer.connect_errors
        replica[peer.name] = replica_of(stack, rid)
        entries = gateway_entries_of_session(stack, peer.sio.eio.sid)
        assert len(entries) >= 3, (peer.name, entries)  # the connect, sends and polls
        assert {service_of(stack, e["upstream"]) for e in entries} == {replica[peer.name]}, entries
        assert {e["status"] for e in entries} == {200}, entries
    assert set(replica.values()) == REPLICAS, replica
    # Messages crossed replicas: at least one conversation has a side on each.
    assert any(replica[c.name] != replica[a.name] for c, a in sides), replica


@pytest.mark.parametrize("transport", ["polling", "websocket"])
async def test_the_session_id_names_the_replica_the_gateway_sent_it_to(
    stack: TestStack, chat: Chat, peers: Callable[[str], Peer], transport: str
) -> None:
    # The mechanism behind the tests above: each replica prefixes its session ids (r1., r2.).
    for n in range(4):
        peer = peers(f"{transport}-{n}")
        rid = request_id()
        await connect(peer, stack, chat.customer.token, transport, rid)
        sid = peer.sio.eio.sid
        await peer.disconnect()
        assert sid.startswith(f"r{replica_of(stack, rid).rsplit('-', 1)[1]}."), sid
