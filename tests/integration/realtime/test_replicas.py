"""Two realtime replicas in this process (uvicorn, the real composition root) on the real
RabbitMQ, with a stand-in for the conversations service and locally signed tokens. Domain events
are published to the exchange the way the conversations service publishes them; python-socketio
clients connect to each replica. Every test has its own exchange, queues and channels.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aio_pika
import pytest
import socketio
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ed25519
from workcity_auth.adapters.signing_keys import TokenSigner
from workcity_common.broker import Broker
from workcity_common.domain_errors import Unavailable
from workcity_common.events import (
    ConversationCreated,
    ConversationData,
    ConversationEventData,
    MessageCreated,
    MessageData,
    MessageEventData,
    UserData,
    UserDisabled,
    UserRef,
)
from workcity_common.settings import TokenVerifierSettings
from workcity_common.tokens import KeySet, TokenVerifier
from workcity_realtime.main import RealtimeApp, create_app
from workcity_realtime.settings import RealtimeSettings, Settings

from tests.support.rabbit import broker_stopped
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

CID = "64b7f0c2a1b2c3d4e5f60718"
ALICE, BOB, CAROL = "a" * 24, "b" * 24, "c" * 24
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class StandInConversations:
    """Answers like the conversations service for one conversation between Alice and Bob."""

    def __init__(self, tokens: dict[str, str]) -> None:
        self._users = tokens  # token -> user id
        self.members = {ALICE, BOB}

    def _user(self, token: str) -> str:
        return self._users[token]

    async def post_message(self, token: str, cid: str, body: dict[str, Any]) -> dict[str, Any]:
        raise Unavailable("not used here")

    async def mark_read(self, token: str, cid: str, seq: int | None) -> dict[str, Any]:
        return {}

    async def messages_after(self, token: str, cid: str, after: int, limit: int) -> list[Any]:
        return []

    async def is_member(self, token: str, cid: str) -> bool:
        return cid == CID and self._user(token) in self.members

    async def list_conversations(self, token: str) -> list[dict[str, Any]]:
        if self._user(token) not in self.members:
            return []
        return [
            {
                "_id": CID,
                "participants": [
                    {"_id": ALICE, "email": "alice@x.io", "role": "customer"},
                    {"_id": BOB, "email": "bob@x.io", "role": "agent"},
                ],
            }
        ]


class Replica:
    def __init__(self, app: RealtimeApp, port: int) -> None:
        self.app = app
        self.url = f"http://127.0.0.1:{port}"
        self._server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=port,
                ws="websockets-sansio",
                log_config=None,
                lifespan="on",
            )
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(200):
            if self._server.started:
                return
            await asyncio.sleep(0.025)
        raise RuntimeError("replica did not start")

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._server.should_exit = True
            await asyncio.wait_for(self._task, 15)


class Client:
    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[str, Any]] = []
        self.sio.on("*", self._record)
        self._changed = asyncio.Event()
        self.gone = asyncio.Event()
        self.sio.on("disconnect", self._disconnected)

    async def _record(self, event: str, data: Any = None) -> None:
        self.events.append((event, data))
        self._changed.set()

    async def _disconnected(self, *_: Any) -> None:
        self.gone.set()

    def of(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    async def until(self, condition: Callable[[], bool], timeout: float = 10) -> None:
        async def poll() -> None:
            while not condition():
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(poll(), timeout)
        except TimeoutError:
            raise AssertionError(f"condition not met; events: {self.events[-10:]}") from None


Harness = tuple[
    Callable[[], Awaitable[Replica]],
    Callable[[str, str], Awaitable[Client]],
    Broker,
    dict[str, str],
]


@pytest.fixture
async def cluster(rabbit_url: str, unique_name: str) -> AsyncIterator[Harness]:
    signer = TokenSigner(
        ed25519.Ed25519PrivateKey.generate(), issuer="workcity-auth", audience="workcity", ttl_s=600
    )
    tokens = {
        name: signer.sign(user_id=uid, email=f"{name}@x.io", role=role)
        for name, uid, role in (
            ("alice", ALICE, "customer"),
            ("bob", BOB, "agent"),
            ("carol", CAROL, "customer"),
        )
    }
    conversations = StandInConversations(
        {tokens["alice"]: ALICE, tokens["bob"]: BOB, tokens["carol"]: CAROL}
    )

    async def jwks() -> dict[str, Any]:
        return signer.jwks

    replicas: list[Replica] = []
    clients: list[Client] = []
    root_handlers = logging.getLogger().handlers[:]
    root_level = logging.getLogger().level

    async def replica() -> Replica:
        settings = Settings(
            RealtimeSettings(
                _env_file=None,
                AMQP_URL=rabbit_url,
                EVENTS_EXCHANGE=unique_name,
                PRESENCE_HEARTBEAT_SECONDS=0.3,
                PRESENCE_TTL_SECONDS=1.0,
                REPLICA_ID=f"r{len(replicas) + 1}",
                ENVIRONMENT="test",
            ),
            TokenVerifierSettings(),
        )
        verifier = TokenVerifier(KeySet(jwks), issuer="workcity-auth", audience="workcity")
        app = create_app(settings, conversations=conversations, verifier=verifier)
        # create_app configures JSON logging on the root logger; give pytest its handlers back.
        logging.getLogger().handlers[:] = root_handlers
        logging.getLogger().setLevel(root_level)
        started = Replica(app, free_port())
        await started.start()
        replicas.append(started)
        await _consuming(rabbit_url, f"realtime.events@{unique_name}.r{len(replicas)}", 1)
        return started

    async def client(url: str, user: str) -> Client:
        made = Client()
        await made.sio.connect(
            url, auth={"token": tokens[user]}, transports=["websocket"], wait_timeout=10
        )
        clients.append(made)
        return made

    broker = Broker(rabbit_url, unique_name)
    broker.start()
    await broker.wait_ready(10)
    try:
        yield replica, client, broker, tokens
    finally:
        for made in clients:
            if made.sio.connected:
                await made.sio.disconnect()
        for started in replicas:
            await started.stop()
        await broker.close()
        await _delete_topology(rabbit_url, unique_name)


async def _consuming(rabbit_url: str, queue: str, consumers: int) -> None:
    """Wait until the replica consumes its queue (bound before consuming), so events published
    from now on reach it."""
    connection = await aio_pika.connect(rabbit_url)
    async with connection:
        for _ in range(200):
            channel = await connection.channel()
            try:
                declared = await channel.declare_queue(queue, passive=True)
                if (declared.declaration_result.consumer_count or 0) >= consumers:
                    return
            except aio_pika.exceptions.ChannelClosed:
                pass  # not declared yet
            finally:
                if not channel.is_closed:
                    await channel.close()
            await asyncio.sleep(0.05)
    raise RuntimeError(f"nobody consumes {queue}")


async def _delete_topology(rabbit_url: str, exchange: str) -> None:
    connection = await aio_pika.connect(rabbit_url)
    async with connection:
        channel = await connection.channel()
        for replica in range(1, 4):
            await channel.queue_delete(f"realtime.events@{exchange}.r{replica}")
        for name in (exchange, f"realtime.cluster@{exchange}"):
            await channel.exchange_delete(name)


def message_event(seq: int) -> MessageCreated:
    return MessageCreated(
        producer="conversations",
        data=MessageEventData(
            message=MessageData(
                id=f"{seq:024x}",
                conversation_id=CID,
                seq=seq,
                sender=UserRef(id=ALICE, email="alice@x.io", role="customer"),
                text=f"message {seq}",
                created_at=NOW,
                updated_at=NOW,
            ),
            participant_ids=[ALICE, BOB],
        ),
    )


async def test_events_reach_clients_of_both_replicas_once_and_in_order(cluster: Harness) -> None:
    replica, client, broker, _ = cluster
    one, two = await replica(), await replica()
    alice = await client(one.url, "alice")
    bob = await client(two.url, "bob")
    carol = await client(two.url, "carol")
    assert await alice.sio.call("joinConversation", CID) == {"ok": True, "conversationId": CID}
    assert await bob.sio.call("joinConversation", {"conversationId": CID}) == {
        "ok": True,
        "conversationId": CID,
    }
    refused = await carol.sio.call("joinConversation", CID)
    assert refused["code"] == "forbidden"

    for seq in range(1, 21):
        await broker.publish(message_event(seq))
    for socket in (alice, bob):
        await socket.until(functools.partial(_has, socket, "newMessage", 20))
    await asyncio.sleep(0.3)
    for socket in (alice, bob):
        assert [m["seq"] for m in socket.of("newMessage")] == list(range(1, 21))
        assert socket.of("newMessage")[0] == message_event(1).data.message.to_api()
        assert len(socket.of("messageNotification")) == 20
    assert carol.of("newMessage") == [] and carol.of("messageNotification") == []


async def test_a_redelivered_event_is_emitted_once(cluster: Harness) -> None:
    replica, client, broker, _ = cluster
    one = await replica()
    alice = await client(one.url, "alice")
    await alice.sio.call("joinConversation", CID)
    event = message_event(1)
    await broker.publish(event)
    await broker.publish(event)  # the same event id again
    await broker.publish(message_event(2))
    await alice.until(lambda: any(m["seq"] == 2 for m in alice.of("newMessage")))
    assert [m["seq"] for m in alice.of("newMessage")] == [1, 2]


@pytest.mark.broker_fault
async def test_events_published_as_the_broker_returns_reach_both_replicas(
    cluster: Harness, rabbit_url: str, unique_name: str
) -> None:
    """The delivery hole of issue 12: the outbox's backlog goes out the moment RabbitMQ is back,
    before the replicas have reconnected. Each replica's queue is durable, so it was bound all
    along and holds the events until its consumer is back."""
    alice, bob = await _joined_on_two_replicas(cluster)
    with broker_stopped():
        pass
    # A fresh connection, before the replicas' reconnect back-off is over.
    connection = await aio_pika.connect(rabbit_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.get_exchange(unique_name)
        for seq in range(1, 11):
            event = message_event(seq)
            await exchange.publish(
                aio_pika.Message(event.to_bytes(), delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                routing_key=event.type,
            )
    for socket in (alice, bob):
        await socket.until(functools.partial(_has, socket, "newMessage", 10), timeout=30)
    await asyncio.sleep(0.5)
    for socket in (alice, bob):
        assert [m["seq"] for m in socket.of("newMessage")] == list(range(1, 11))


async def test_typing_crosses_replicas(cluster: Harness) -> None:
    alice, bob = await _joined_on_two_replicas(cluster)
    assert await alice.sio.call("typing", {"conversationId": CID}) == {"ok": True}
    await bob.until(lambda: len(bob.of("userTyping")) == 1)
    assert bob.of("typing") == [
        {"user": {"_id": ALICE, "email": "alice@x.io", "role": "customer"}, "conversationId": CID}
    ]
    assert alice.of("typing") == []


async def test_presence_follows_users_across_replicas_and_replica_shutdown(
    cluster: Harness,
) -> None:
    replica, client, _, _ = cluster
    one, two = await replica(), await replica()
    alice = await client(one.url, "alice")
    carol = await client(one.url, "carol")
    await alice.until(lambda: len(alice.of("onlineUsers")) >= 1)

    await client(two.url, "bob")
    await alice.until(lambda: any(p["userId"] == BOB and p["online"] for p in alice.of("presence")))
    # Alice herself first, then her online contacts (the client runs each event's handler as a
    # task of its own: `onlineUsers` may be seen a moment after `presence`).
    await alice.until(lambda: [u["_id"] for u in alice.of("onlineUsers")[-1]] == [ALICE, BOB])
    assert alice.of("onlineUsers")[-1][1] == {"_id": BOB, "email": "bob@x.io", "role": "agent"}

    # Replica two stops: Bob goes offline on replica one.
    await two.stop()
    await alice.until(
        lambda: any(p["userId"] == BOB and not p["online"] for p in alice.of("presence"))
    )
    offline = [p for p in alice.of("presence") if not p["online"]][-1]
    assert offline["lastSeen"]
    assert [u["_id"] for u in alice.of("onlineUsers")[-1]] == [ALICE]
    # Carol shares no conversation with Bob: she heard nothing about him.
    assert carol.of("presence") == []
    assert all([u["_id"] for u in users] == [CAROL] for users in carol.of("onlineUsers"))


async def test_a_silent_replica_is_presumed_dead(cluster: Harness) -> None:
    replica, client, _, _ = cluster
    one, two = await replica(), await replica()
    alice = await client(one.url, "alice")
    await alice.until(lambda: len(alice.of("onlineUsers")) >= 1)
    await client(two.url, "bob")
    await alice.until(lambda: any(p["userId"] == BOB and p["online"] for p in alice.of("presence")))

    # A replica that neither beats nor says goodbye (as if its process froze or died).
    hub_two = two.app.hub
    silent: Callable[[], Awaitable[None]] = _nothing
    hub_two.heartbeat = silent  # type: ignore[method-assign]
    hub_two.goodbye = silent  # type: ignore[method-assign]
    await alice.until(
        lambda: any(p["userId"] == BOB and not p["online"] for p in alice.of("presence")),
        timeout=5,
    )


async def _joined_on_two_replicas(cluster: Harness) -> tuple[Client, Client]:
    """Alice on a first replica and Bob on a second, both in the conversation's room."""
    replica, client, _, _ = cluster
    one, two = await replica(), await replica()
    alice = await client(one.url, "alice")
    bob = await client(two.url, "bob")
    for socket in (alice, bob):
        await socket.sio.call("joinConversation", CID)
    return alice, bob


def _has(client: Client, event: str, count: int) -> bool:
    return len(client.of(event)) >= count


async def _nothing() -> None:
    return None


async def test_user_disabled_disconnects_their_sockets_on_every_replica(cluster: Harness) -> None:
    replica, client, broker, tokens = cluster
    one, two = await replica(), await replica()
    bob_one = await client(one.url, "bob")
    bob_two = await client(two.url, "bob")
    alice = await client(two.url, "alice")
    await broker.publish(
        UserDisabled(
            producer="auth",
            data=UserData(id=BOB, email="bob@x.io", role="agent", disabled=True),
        )
    )
    await asyncio.wait_for(bob_one.gone.wait(), 10)
    await asyncio.wait_for(bob_two.gone.wait(), 10)
    assert alice.sio.connected
    refused = socketio.AsyncClient(reconnection=False)
    errors: list[Any] = []
    refused.on("connect_error", lambda data: errors.append(data))
    with pytest.raises(socketio.exceptions.ConnectionError):
        await refused.connect(one.url, auth={"token": tokens["bob"]}, transports=["websocket"])
    assert errors[0]["message"] == "Authentication error: account disabled"


async def test_conversation_created_reaches_participants_without_a_join(cluster: Harness) -> None:
    replica, client, broker, _ = cluster
    one, two = await replica(), await replica()
    carol = await client(two.url, "carol")
    alice = await client(one.url, "alice")
    await alice.until(lambda: len(alice.of("onlineUsers")) >= 1)
    new_id = uuid.uuid4().hex[:24]
    conversation = ConversationData(
        id=new_id,
        participants=[
            UserRef(id=ALICE, email="alice@x.io", role="customer"),
            UserRef(id=CAROL, email="carol@x.io", role="customer"),
        ],
        created_at=NOW,
        updated_at=NOW,
    )
    await broker.publish(
        ConversationCreated(
            producer="conversations", data=ConversationEventData(conversation=conversation)
        )
    )
    for socket in (alice, carol):
        await socket.until(functools.partial(_has, socket, "conversationCreated", 1))
        assert socket.of("conversationCreated")[0] == conversation.customer_api()
    # Alice and Carol are contacts now, on different replicas: each sees the other online.
    await alice.until(lambda: any(u["_id"] == CAROL for u in alice.of("onlineUsers")[-1]))
    await carol.until(lambda: any(u["_id"] == ALICE for u in carol.of("onlineUsers")[-1]))
