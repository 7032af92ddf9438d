"""The realtime service end to end, with python-socketio clients: through the gateway, and pinned
to one replica or the other (directly on a replica's port) where a test needs two clients on
different replicas. Conversations and messages are made through the public REST API, and what a
socket receives comes from the conversations service's events, never from the node that took
the send.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import socketio

from tests.e2e.conftest import Connect
from tests.support.api import Chat, open_conversation
from tests.support.rabbit import broker_stopped
from tests.support.sockets import QUIET_S, Peer, client_message_id, replica_url
from tests.support.stack import TestStack
from tests.support.users import admin_token, new_user

# --- connecting ------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "not-a-jwt", "eyJhbGciOiJub25lIn0.e30."])
async def test_a_bad_or_missing_token_is_refused(
    stack: TestStack, peers: Callable[[str], Peer], token: str | None
) -> None:
    stack.require_service("realtime")
    peer = peers("intruder")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await peer.connect(stack.gateway_url, token)
    assert peer.connect_errors, "no connect_error received"
    message = peer.connect_errors[0]["message"]
    assert message.startswith("Authentication error"), message


async def test_long_polling_works_through_the_gateway(
    stack: TestStack, chat: Chat, peers: Callable[[str], Peer]
) -> None:
    # Polling needs every request of a session on the same replica: the gateway's stickiness.
    peer = peers("poller")
    await peer.connect(stack.gateway_url, chat.customer.token, transports=("polling",))
    assert peer.sio.transport() == "polling"
    assert await peer.call("joinConversation", chat.conversation_id) == {
        "ok": True,
        "conversationId": chat.conversation_id,
    }
    ack = await peer.call("sendMessage", {"conversationId": chat.conversation_id, "text": "poll"})
    assert ack["text"] == "poll"
    await peer.wait_for("newMessage", lambda m: m["_id"] == ack["_id"])


# --- rooms and messages ----------------------------------------------------------------------


async def test_send_with_ack_reaches_every_socket_in_the_room_on_both_replicas(
    chat: Chat, pair: tuple[Peer, Peer], connect: Connect
) -> None:
    customer_1, agent_2 = pair
    customer_gw = await connect(chat.customer, join=chat.conversation_id)

    cmid = client_message_id()
    ack = await customer_1.call(
        "sendMessage",
        {
            "conversationId": chat.conversation_id,
            "text": "hello from replica 1",
            "clientMessageId": cmid,
        },
    )
    assert ack["text"] == "hello from replica 1"
    assert ack["conversation"] == chat.conversation_id
    assert ack["sender"]["_id"] == chat.customer.id
    assert ack["seq"] == 1
    assert ack["clientMessageId"] == cmid

    for peer in (customer_1, agent_2, customer_gw):  # the sender's own socket included
        [message] = await peer.wait_for("newMessage", lambda m: m["_id"] == ack["_id"])
        assert message == ack

    # A retry with the same clientMessageId answers the first message, and nothing new is sent.
    retry = await customer_1.call(
        "sendMessage",
        {
            "conversationId": chat.conversation_id,
            "text": "hello from replica 1",
            "clientMessageId": cmid,
        },
    )
    assert retry["_id"] == ack["_id"]
    await asyncio.sleep(QUIET_S)
    assert len(agent_2.events("newMessage")) == 1

    # Participants also get a notification on their own user room (inbox / unread badges).
    [note] = await agent_2.wait_for("messageNotification")
    assert note == {"conversationId": chat.conversation_id, "message": ack}


async def test_a_message_sent_over_rest_fans_out_like_a_socket_send(
    http: httpx.AsyncClient, chat: Chat, connect: Connect
) -> None:
    agent = await connect(chat.agent, 2, join=chat.conversation_id)
    response = await http.post(
        f"/api/conversations/{chat.conversation_id}/messages",
        json={"text": "over REST"},
        headers=chat.customer.headers,
    )
    assert response.status_code == 201
    [message] = await agent.wait_for("newMessage")
    assert message == response.json()


async def test_a_refused_join_is_answered_and_gets_nothing_from_the_room(
    http: httpx.AsyncClient, stack: TestStack, chat: Chat, connect: Connect
) -> None:
    stranger_user = await new_user(http, stack, "customer")
    stranger = await connect(stranger_user, name="stranger")
    member = await connect(chat.agent, 2, join=chat.conversation_id)

    refused = await stranger.call("joinConversation", chat.conversation_id)
    assert refused["code"] == "forbidden" and refused["error"]
    unknown = await stranger.call("joinConversation", "0123456789abcdef01234567")
    assert "error" in unknown

    # Neither sending into it nor typing in it works for the stranger.
    denied = await stranger.call(
        "sendMessage", {"conversationId": chat.conversation_id, "text": "let me in"}
    )
    assert "error" in denied
    assert (await stranger.call("typing", {"conversationId": chat.conversation_id}))["code"] == (
        "forbidden"
    )

    sender = await connect(chat.customer, 1)
    ack = await sender.send(chat.conversation_id, "hi")
    await member.wait_for("newMessage", lambda m: m["_id"] == ack["_id"])
    await asyncio.sleep(QUIET_S)
    assert stranger.events("newMessage") == []
    assert stranger.events("messageNotification") == []
    assert stranger.sio.connected


async def test_leaving_a_room_stops_its_messages(chat: Chat, connect: Connect) -> None:
    agent = await connect(chat.agent, 1, join=chat.conversation_id)
    customer = await connect(chat.customer, 2, join=chat.conversation_id)
    assert (await agent.call("leaveConversation", chat.conversation_id))["ok"] is True
    ack = await customer.call("sendMessage", {"conversationId": chat.conversation_id, "text": "x"})
    await customer.wait_for("newMessage", lambda m: m["_id"] == ack["_id"])
    await agent.wait_for("messageNotification")  # still a participant: the inbox hears of it
    await asyncio.sleep(QUIET_S)
    assert agent.events("newMessage") == []


async def test_one_sockets_sends_are_stored_in_the_order_it_sent_them(
    chat: Chat, connect: Connect
) -> None:
    sender = await connect(chat.customer)
    receiver = await connect(chat.agent, 2, join=chat.conversation_id)
    count = 25
    # Emitted back to back without waiting for acks: the server handles them concurrently.
    acks = await asyncio.gather(
        *(
            sender.call("sendMessage", {"conversationId": chat.conversation_id, "text": f"#{i}"})
            for i in range(count)
        )
    )
    assert [a["text"] for a in sorted(acks, key=lambda a: a["seq"])] == [
        f"#{i}" for i in range(count)
    ]
    received = await receiver.wait_for("newMessage", count=count)
    # Events are handled in order by one replica at a time: they arrive in seq order too.
    assert [m["seq"] for m in received] == sorted(m["seq"] for m in received)


async def test_edits_and_deletes_reach_the_room(
    http: httpx.AsyncClient, chat: Chat, pair: tuple[Peer, Peer]
) -> None:
    customer, agent = pair
    ack = await customer.send(chat.conversation_id, "typo")
    edited = await http.patch(
        f"/api/messages/{ack['_id']}", json={"text": "fixed"}, headers=chat.customer.headers
    )
    assert edited.status_code == 200, edited.text
    [updated] = await agent.wait_for("messageUpdated")
    assert updated["_id"] == ack["_id"] and updated["text"] == "fixed"

    deleted = await http.delete(f"/api/messages/{ack['_id']}", headers=chat.customer.headers)
    assert deleted.status_code == 200, deleted.text
    [gone] = await agent.wait_for("messageDeleted")
    assert gone["conversationId"] == chat.conversation_id
    assert gone["messageId"] == ack["_id"]


# --- typing and read receipts ----------------------------------------------------------------


async def test_typing_reaches_the_others_in_the_room_across_replicas(
    chat: Chat, pair: tuple[Peer, Peer], connect: Connect
) -> None:
    customer, agent = pair
    customer_other_tab = await connect(chat.customer, join=chat.conversation_id)

    assert await customer.call("typing", {"conversationId": chat.conversation_id}) == {"ok": True}
    expected = {
        "user": {"_id": chat.customer.id, "email": chat.customer.email, "role": "customer"},
        "conversationId": chat.conversation_id,
    }
    assert (await agent.wait_for("typing")) == [expected]
    assert (await agent.wait_for("userTyping")) == [expected]
    # The other sockets of the room, the typist's other tab included, but not the typist.
    await customer_other_tab.wait_for("typing")

    await customer.sio.emit("stopTyping", {"conversationId": chat.conversation_id})
    assert (await agent.wait_for("stopTyping")) == [expected]
    await asyncio.sleep(QUIET_S)
    assert customer.events("typing") == customer.events("userTyping") == []
    assert customer.events("stopTyping") == []


async def test_join_then_typing_and_send_at_once_as_the_original_frontend_does(
    chat: Chat, connect: Connect
) -> None:
    """The original's frontend emits `joinConversation` and then, without waiting for an ack,
    `typing` and `sendMessage`: each must behave as if the join had been acknowledged first."""
    agent = await connect(chat.agent, join=chat.conversation_id)
    customer = await connect(chat.customer)
    room = {"conversationId": chat.conversation_id}
    await customer.sio.emit("joinConversation", chat.conversation_id)
    await customer.sio.emit("typing", room)
    await customer.sio.emit("sendMessage", {**room, "text": "sent with the join"})
    await customer.sio.emit("stopTyping", room)
    who = {"_id": chat.customer.id, "email": chat.customer.email, "role": "customer"}
    assert await agent.wait_for("typing") == [{"user": who, **room}]
    [message] = await agent.wait_for("newMessage")
    assert message["text"] == "sent with the join"
    # The sender's socket was in the room before its message was stored: it got it too.
    await customer.wait_for("newMessage", lambda m: m["_id"] == message["_id"])
    assert await agent.wait_for("stopTyping") == [{"user": who, **room}]
    assert await agent.wait_for("userStopTyping") == [{"user": who, **room}]


async def test_a_participant_types_without_joining_a_stranger_reaches_no_one(
    http: httpx.AsyncClient, stack: TestStack, chat: Chat, connect: Connect
) -> None:
    agent = await connect(chat.agent, 1, join=chat.conversation_id)
    customer = await connect(chat.customer, 2)
    stranger_user = await new_user(http, stack, "customer")
    stranger = await connect(stranger_user, 1, name="stranger@1")
    room = {"conversationId": chat.conversation_id}
    refused = await stranger.call("typing", room)
    assert refused["code"] == "forbidden"
    assert await customer.call("typing", room) == {"ok": True}
    [typing] = await agent.wait_for("typing")
    assert typing["user"]["_id"] == chat.customer.id  # the customer's, not the stranger's
    await asyncio.sleep(QUIET_S)
    assert len(agent.events("typing")) == 1


async def test_read_receipts_reach_the_room(chat: Chat, pair: tuple[Peer, Peer]) -> None:
    customer, agent = pair
    for text in ("one", "two", "three"):
        await customer.send(chat.conversation_id, text)

    ack = await agent.call("markRead", {"conversationId": chat.conversation_id, "seq": 2})
    assert ack["seq"] == 2 and ack["userId"] == chat.agent.id
    [receipt] = await customer.wait_for("messageRead", lambda r: r["userId"] == chat.agent.id)
    assert receipt["conversationId"] == chat.conversation_id
    assert receipt["seq"] == 2
    assert receipt["readAt"]

    # No seq: everything so far.
    everything = await agent.call("markRead", {"conversationId": chat.conversation_id})
    assert everything["seq"] == 3
    await customer.wait_for("messageRead", lambda r: r["seq"] == 3)


async def test_a_reply_reports_the_read_it_implies_with_one_event(
    chat: Chat, pair: tuple[Peer, Peer]
) -> None:
    # message.created carries the sender's read position (version 2): the room gets the reply
    # and then the receipt, as when a separate message.read followed it.
    customer, agent = pair
    for text in ("one", "two"):
        await customer.send(chat.conversation_id, text)
    reply = await agent.send(chat.conversation_id, "hi")
    [receipt] = await customer.wait_for("messageRead", lambda r: r["userId"] == chat.agent.id)
    assert (receipt["conversationId"], receipt["seq"]) == (chat.conversation_id, 3)
    assert receipt["readAt"] == reply["createdAt"]
    names = [r.event for r in customer.received if r.event in ("newMessage", "messageRead")]
    assert names[-2:] == ["newMessage", "messageRead"]
    # The agent's next message reads nothing new: no second receipt.
    await agent.send(chat.conversation_id, "more")
    await customer.wait_for("newMessage", lambda m: m["text"] == "more")
    await asyncio.sleep(QUIET_S)
    assert len(customer.events("messageRead")) == 1


# --- catch-up --------------------------------------------------------------------------------


async def test_a_client_that_was_away_catches_up_in_order(
    http: httpx.AsyncClient, chat: Chat, pair: tuple[Peer, Peer], connect: Connect
) -> None:
    customer, agent = pair
    first = await customer.send(chat.conversation_id, "0")
    await agent.wait_for("newMessage")
    last_seen = first["seq"]

    await agent.disconnect()
    missed = [await customer.send(chat.conversation_id, str(i)) for i in range(1, 8)]

    back = await connect(chat.agent, join=chat.conversation_id, name="agent again")
    page = await back.call(
        "sync", {"conversationId": chat.conversation_id, "afterSeq": last_seen, "limit": 5}
    )
    assert [m["_id"] for m in page["messages"]] == [m["_id"] for m in missed[:5]]
    assert page["hasMore"] is True
    rest = await back.call(
        "sync", {"conversationId": chat.conversation_id, "afterSeq": page["messages"][-1]["seq"]}
    )
    assert [m["text"] for m in rest["messages"]] == ["6", "7"]
    assert rest["hasMore"] is False

    # The REST equivalent answers the same.
    response = await http.get(
        f"/api/conversations/{chat.conversation_id}/messages",
        params={"after_seq": last_seen},
        headers=chat.agent.headers,
    )
    assert [m["seq"] for m in response.json()] == [m["seq"] for m in missed]


# --- malformed input -------------------------------------------------------------------------

BAD_SENDS: list[Any] = [
    None,
    "just a string",
    42,
    [],
    {},
    {"text": "no conversation"},
    {"conversationId": None, "text": "x"},
    {"conversationId": 12345, "text": "x"},
    {"conversationId": "not-an-id", "text": "x"},
    {"conversationId": {"$ne": None}, "text": "x"},
    {"conversationId": "0123456789abcdef01234567", "text": "unknown conversation"},
    {"conversationId": "CID", "text": ""},
    {"conversationId": "CID", "text": "   "},
    {"conversationId": "CID"},
    {"conversationId": "CID", "text": 5},
    {"conversationId": "CID", "text": {"a": 1}},
    {"conversationId": "CID", "text": ["x"]},
    {"conversationId": "CID", "text": "x" * 20_000},
    {"conversationId": "CID", "text": "x", "clientMessageId": 5},
    {"conversationId": "CID", "text": "x", "clientMessageId": "y" * 5000},
    {"conversationId": "CID", "text": "x", "attachments": "nope"},
    {"conversationId": "CID", "text": "x", "attachments": ["0123456789abcdef01234567"]},
]


async def test_malformed_payloads_get_an_error_ack_and_the_socket_stays(
    stack: TestStack, chat: Chat, peers: Callable[[str], Peer]
) -> None:
    peer = peers("fuzzer")
    await peer.connect(stack.gateway_url, chat.customer.token)
    cid = chat.conversation_id

    def fill(payload: Any) -> Any:
        if isinstance(payload, dict) and payload.get("conversationId") == "CID":
            return {**payload, "conversationId": cid}
        return payload

    for payload in BAD_SENDS:
        answer = await peer.call("sendMessage", fill(payload))
        assert isinstance(answer, dict) and isinstance(answer.get("error"), str), (payload, answer)
        assert answer.get("code"), (payload, answer)

    others: list[tuple[str, Any]] = [
        ("joinConversation", None),
        ("joinConversation", {"conversationId": ["x"]}),
        ("leaveConversation", 7),
        ("markRead", {"conversationId": cid, "seq": -1}),
        ("markRead", {"conversationId": cid, "seq": "3"}),
        ("markRead", {"conversationId": cid, "seq": True}),
        ("markRead", "nope"),
        ("sync", {"conversationId": cid, "afterSeq": -5}),
        ("sync", {"conversationId": cid, "afterSeq": "0"}),
        ("sync", {"conversationId": cid, "limit": 0}),
        ("sync", "nope"),
        ("typing", None),
        ("stopTyping", {"conversationId": 1}),
        ("authenticate", {"token": "garbage"}),
        ("noSuchEvent", {"x": 1}),
    ]
    for event, payload in others:
        answer = await peer.call(event, payload)
        assert isinstance(answer, dict) and "error" in answer, (event, payload, answer)

    # Without any argument, and with extra ones.
    assert "error" in await peer.call("sendMessage")
    assert (await peer.call("joinConversation", cid, "extra", 3))["ok"] is True
    assert peer.sio.connected
    ack = await peer.call("sendMessage", {"conversationId": cid, "text": "still here"})
    assert ack["text"] == "still here"


async def test_an_oversized_packet_closes_only_that_connection(
    chat: Chat, connect: Connect
) -> None:
    # Beyond SOCKET_MAX_PAYLOAD_BYTES (1 MB) Engine.IO closes the connection: a protocol rule,
    # not a handler error. Other clients are unaffected.
    bystander = await connect(chat.agent, name="bystander")
    big = await connect(chat.customer, name="big")
    await big.sio.emit(
        "sendMessage", {"conversationId": chat.conversation_id, "text": "x" * 1_100_000}
    )
    await big.wait_disconnected(10)
    assert bystander.sio.connected
    assert (await bystander.call("joinConversation", chat.conversation_id))["ok"] is True


# --- new conversations, presence, disabled users ---------------------------------------------


async def test_a_new_conversation_reaches_the_other_participant_without_a_join(
    http: httpx.AsyncClient, stack: TestStack, connect: Connect
) -> None:
    customer = await new_user(http, stack, "customer")
    agent = await new_user(http, stack, "agent")
    agent_socket = await connect(agent, 2)
    conversation_id = await open_conversation(http, customer, agent)
    [created] = await agent_socket.wait_for("conversationCreated")
    assert created["_id"] == conversation_id
    assert {p["_id"] for p in created["participants"]} == {customer.id, agent.id}


async def test_presence_goes_to_contacts_only(
    http: httpx.AsyncClient, stack: TestStack, chat: Chat, connect: Connect
) -> None:
    stranger_user = await new_user(http, stack, "agent")
    agent = await connect(chat.agent, 1)
    stranger = await connect(stranger_user, 2, name="stranger@2")
    await agent.wait_for("onlineUsers")  # the agent's contact list has been loaded

    customer = await connect(chat.customer, 2)
    [online] = await agent.wait_for("presence", lambda p: p["userId"] == chat.customer.id)
    assert online == {"userId": chat.customer.id, "online": True, "lastSeen": None}
    listed = await agent.wait_for(
        "onlineUsers", lambda users: any(u["_id"] == chat.customer.id for u in users)
    )
    [entry] = [u for u in listed[-1] if u["_id"] == chat.customer.id]
    assert entry["email"] == chat.customer.email
    # The customer is told who is online: themself and their contact the agent.
    await customer.wait_for(
        "onlineUsers", lambda users: [u["_id"] for u in users] == [chat.customer.id, chat.agent.id]
    )

    await customer.disconnect()
    [offline] = await agent.wait_for(
        "presence", lambda p: p["userId"] == chat.customer.id and not p["online"]
    )
    assert offline["lastSeen"]
    await asyncio.sleep(QUIET_S)
    assert stranger.events("presence") == []
    assert all(
        [u["_id"] for u in users] == [stranger_user.id] for users in stranger.events("onlineUsers")
    )


async def test_users_of_a_crashed_replica_go_offline(
    stack: TestStack, chat: Chat, connect: Connect
) -> None:
    watcher = await connect(chat.agent, 1)
    await watcher.wait_for("onlineUsers")
    await connect(chat.customer, 2)  # its socket dies with the replica
    await watcher.wait_for("presence", lambda p: p["userId"] == chat.customer.id and p["online"])

    started = time.monotonic()
    with stack.service_stopped("realtime-2", kill=True):  # SIGKILL: no goodbye, no disconnects
        [offline] = await watcher.wait_for(
            "presence",
            lambda p: p["userId"] == chat.customer.id and not p["online"],
            timeout=40,
        )
        assert offline["lastSeen"]
        # Within the presence TTL (15 s by default) and a heartbeat or two.
        assert time.monotonic() - started < 35
    assert watcher.sio.connected


async def test_a_disabled_users_sockets_are_disconnected(
    http: httpx.AsyncClient,
    stack: TestStack,
    chat: Chat,
    connect: Connect,
    peers: Callable[[str], Peer],
) -> None:
    on_1 = await connect(chat.customer, 1)
    on_2 = await connect(chat.customer, 2)
    response = await http.patch(
        f"/api/auth/users/{chat.customer.id}",
        json={"disabled": True},
        headers={"Authorization": f"Bearer {await admin_token(http, stack)}"},
    )
    assert response.status_code == 200, response.text
    await on_1.wait_disconnected(15)
    await on_2.wait_disconnected(15)

    # The access token is still unexpired, but the handshake is refused now.
    again = peers("customer again")
    with pytest.raises(socketio.exceptions.ConnectionError):
        await again.connect(replica_url(stack, 1), chat.customer.token)
    assert again.connect_errors[0]["message"].startswith("Authentication error")


async def test_a_fresh_token_can_be_swapped_in(
    http: httpx.AsyncClient, stack: TestStack, chat: Chat, connect: Connect
) -> None:
    peer = await connect(chat.customer)
    refreshed = await http.post(
        "/api/auth/refresh", json={"refreshToken": chat.customer.refresh_token}
    )
    assert refreshed.status_code == 200, refreshed.text
    assert await peer.call("authenticate", {"token": refreshed.json()["token"]}) == {"ok": True}
    other = await new_user(http, stack, "customer")
    wrong = await peer.call("authenticate", {"token": other.token})
    assert wrong["code"] == "wrong_user"


# --- RabbitMQ going away ---------------------------------------------------------------------


@pytest.mark.broker_fault
async def test_after_rabbitmq_comes_back_the_replicas_deliver_again(
    stack: TestStack, chat: Chat, pair: tuple[Peer, Peer]
) -> None:
    # Services log their lost broker connection (with the driver's traceback) while it is down.
    for expected in ("CONNECTION_FORCED", "AMQPConnectionError", "ConnectionClosed", "rabbitmq"):
        stack.forgive_tracebacks(expected)
    customer, agent = pair

    with broker_stopped():
        # Sockets do not depend on RabbitMQ, nor does storing a message: the send is acked.
        down = await customer.send(chat.conversation_id, "while it is down")
        assert down["seq"] == 1
        assert customer.sio.connected and agent.sio.connected

    # Once it is back, the stored message's event reaches both replicas' queues (bound all along)...
    [message] = await agent.wait_for("newMessage", lambda m: m["_id"] == down["_id"], timeout=60)
    assert message == down
    # ...and new traffic flows both ways, typing included (the replicas' cluster bus).
    up = await agent.send(chat.conversation_id, "and after")
    assert up["seq"] == 2
    await customer.wait_for("newMessage", lambda m: m["_id"] == up["_id"], timeout=30)
    await agent.call("typing", {"conversationId": chat.conversation_id})
    await customer.wait_for("typing", timeout=30)
    assert customer.events("newMessage") == [down, up]
    # Presence crosses replicas too (their cluster bus): the agent leaving replica 2 is seen on 1.
    await agent.disconnect()
    await customer.wait_for(
        "presence", lambda p: p["userId"] == chat.agent.id and p["online"] is False, timeout=30
    )
