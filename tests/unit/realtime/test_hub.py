"""The hub's use cases against fakes: who gets which emit, what goes to the other replicas, what
the acks say."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from workcity_common.broker import BrokerUnavailable
from workcity_common.domain_errors import Forbidden
from workcity_common.events import ConversationData, TeamRef, UserRef, utcnow
from workcity_common.tokens import TokenClaims
from workcity_realtime.adapters.cluster import Heartbeat, Hello, PresenceDelta, Typing
from workcity_realtime.domain.payloads import InvalidPayload
from workcity_realtime.service_layer.hub import Hub, HubLimits, Refused

CID = "64b7f0c2a1b2c3d4e5f60718"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class FakeEmitter:
    def __init__(self) -> None:
        self.emits: list[dict[str, Any]] = []
        self.room_of: dict[str, set[str]] = {}
        self.disconnected: list[str] = []
        self.closed: list[str] = []

    async def emit(self, event: str, data: Any, *, to: Any, skip_sid: Any = None) -> None:
        self.emits.append({"event": event, "data": data, "to": to, "skip_sid": skip_sid})

    async def enter_room(self, sid: str, room: str) -> None:
        self.room_of.setdefault(sid, set()).add(room)

    async def leave_room(self, sid: str, room: str) -> None:
        self.room_of.get(sid, set()).discard(room)

    def rooms(self, sid: str) -> list[str]:
        return sorted(self.room_of.get(sid, set()))

    def members(self, room: str) -> list[str]:
        return sorted(sid for sid, rooms in self.room_of.items() if room in rooms)

    async def close_room(self, room: str) -> None:
        self.closed.append(room)

    async def disconnect(self, sid: str) -> None:
        self.disconnected.append(sid)

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.emits if e["event"] == event]


class FakeConversations:
    def __init__(self) -> None:
        self.members: dict[str, set[str]] = {}  # conversation id -> tokens allowed
        self.posted: list[tuple[str, str, dict[str, Any]]] = []
        self.conversations: dict[str, list[dict[str, Any]]] = {}
        self.member_checks = 0
        self.post_delays: list[float] = []
        self.stored: dict[str, list[dict[str, Any]]] = {}  # conversation id -> messages

    async def post_message(self, token: str, cid: str, body: dict[str, Any]) -> dict[str, Any]:
        if self.post_delays:
            await asyncio.sleep(self.post_delays.pop(0))
        if token not in self.members.get(cid, set()):
            raise Forbidden("Not a participant")
        self.posted.append((token, cid, body))
        return {
            "_id": f"m{len(self.posted)}",
            "conversation": cid,
            "seq": len(self.posted),
            "text": body["text"],
        }

    async def mark_read(self, token: str, cid: str, seq: int | None) -> dict[str, Any]:
        return {"conversationId": cid, "seq": seq or 9}

    async def messages_after(self, token: str, cid: str, after: int, limit: int) -> list[Any]:
        if cid in self.stored:
            return [m for m in self.stored[cid] if m["seq"] > after][:limit]
        return [{"seq": after + 1 + i} for i in range(min(limit, 3))]

    async def is_member(self, token: str, cid: str) -> bool:
        self.member_checks += 1
        return token in self.members.get(cid, set())

    async def list_conversations(self, token: str) -> list[dict[str, Any]]:
        return self.conversations.get(token, [])


class FakeCluster:
    replica_id = "A"

    def __init__(self) -> None:
        self.published: list[Any] = []
        self.down = False

    async def publish(self, message: Any) -> None:
        if self.down:
            raise BrokerUnavailable("down")
        self.published.append(message)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return T0


def claims(user_id: str) -> TokenClaims:
    return TokenClaims(
        user_id=user_id, email=f"{user_id}@x.io", role="customer", expires_at=4_000_000_000
    )


@pytest.fixture
def parts() -> tuple[Hub, FakeEmitter, FakeConversations, FakeCluster, Clock]:
    emitter, conversations, cluster, clock = (
        FakeEmitter(),
        FakeConversations(),
        FakeCluster(),
        Clock(),
    )
    hub = Hub(
        emitter,
        conversations,
        cluster,
        HubLimits(presence_ttl_s=15),
        monotonic=clock.monotonic,
        now=clock.now,
    )
    return hub, emitter, conversations, cluster, clock


def conversation(cid: str, *users: str) -> dict[str, Any]:
    return {"_id": cid, "participants": [{"_id": u, "email": f"{u}@x.io"} for u in users]}


async def settle(hub: Hub) -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_connect_joins_the_user_room_and_announces_presence(parts: Any) -> None:
    hub, emitter, conversations, cluster, _ = parts
    conversations.conversations["tok-a"] = [conversation(CID, "a", "b")]
    await hub.connect("s1", claims("a"), "tok-a")
    await settle(hub)
    assert emitter.rooms("s1") == ["user:a"]
    assert [type(m) for m in cluster.published] == [PresenceDelta]
    assert cluster.published[0].online is True
    # Contacts loaded: b is offline, so the list holds a alone, sent to a's own sockets only.
    me = {"_id": "a", "email": "a@x.io", "role": "customer"}
    assert emitter.named("onlineUsers") == [
        {"event": "onlineUsers", "data": [me], "to": "user:a", "skip_sid": None}
    ]


async def test_presence_reaches_contacts_and_no_one_else(parts: Any) -> None:
    hub, emitter, conversations, _, _ = parts
    conversations.conversations["tok-a"] = [conversation(CID, "a", "b")]
    conversations.conversations["tok-c"] = []
    await hub.connect("s1", claims("a"), "tok-a")
    await hub.connect("s3", claims("c"), "tok-c")
    await settle(hub)
    emitter.emits.clear()
    await hub.connect("s2", claims("b"), "tok-b")
    presence = emitter.named("presence")
    assert presence == [
        {
            "event": "presence",
            "data": {"userId": "b", "online": True, "lastSeen": None},
            "to": "user:a",
            "skip_sid": None,
        }
    ]
    online = [e for e in emitter.named("onlineUsers") if e["to"] == "user:a"]
    # Pushed when the list changes, not only at connect; the user themself first.
    assert online[-1]["data"] == [
        {"_id": "a", "email": "a@x.io", "role": "customer"},
        {"_id": "b", "email": "b@x.io"},
    ]
    await hub.disconnect("s2")
    assert emitter.named("presence")[-1]["data"] == {
        "userId": "b",
        "online": False,
        "lastSeen": "2026-01-01T00:00:00.000Z",
    }
    assert not any(e["to"] == "user:c" for e in emitter.named("presence"))


async def test_remote_presence_from_heartbeats_and_expiry(parts: Any) -> None:
    hub, emitter, conversations, _, clock = parts
    conversations.conversations["tok-a"] = [conversation(CID, "a", "b")]
    await hub.connect("s1", claims("a"), "tok-a")
    await settle(hub)
    await hub.handle_cluster(Heartbeat(replica="B", users=["b", "zz"]))
    assert emitter.named("presence")[-1]["data"]["online"] is True
    clock.t = 16.0
    await hub.expire()
    assert emitter.named("presence")[-1]["data"] == {
        "userId": "b",
        "online": False,
        "lastSeen": "2026-01-01T00:00:00.000Z",
    }
    assert [u["_id"] for u in emitter.named("onlineUsers")[-1]["data"]] == ["a"]


async def test_hello_is_answered_with_a_heartbeat(parts: Any) -> None:
    hub, _, _, cluster, _ = parts
    await hub.connect("s1", claims("a"), "tok-a")
    cluster.published.clear()
    await hub.handle_cluster(Hello(replica="B"))
    assert cluster.published == [Heartbeat(replica="A", users=["a"])]


async def test_a_broker_outage_does_not_break_connect(parts: Any) -> None:
    hub, emitter, _, cluster, _ = parts
    cluster.down = True
    await hub.connect("s1", claims("a"), "tok-a")
    assert emitter.rooms("s1") == ["user:a"]


async def test_join_checks_membership_once_then_caches(parts: Any) -> None:
    hub, emitter, conversations, _, _ = parts
    conversations.members[CID] = {"tok-a"}
    await hub.connect("s1", claims("a"), "tok-a")
    await hub.connect("s2", claims("x"), "tok-x")
    assert await hub.join("s1", CID) == {"ok": True, "conversationId": CID}
    assert await hub.join("s1", {"conversationId": CID}) == {"ok": True, "conversationId": CID}
    assert conversations.member_checks == 1
    with pytest.raises(Refused) as refused:
        await hub.join("s2", CID)
    assert refused.value.code == "forbidden"
    assert f"conversation:{CID}" not in emitter.rooms("s2")
    await hub.leave("s1", CID)
    assert f"conversation:{CID}" not in emitter.rooms("s1")


async def test_sends_of_one_socket_are_stored_in_the_order_sent(parts: Any) -> None:
    hub, _, conversations, _, _ = parts
    conversations.members[CID] = {"tok-a"}
    conversations.post_delays = [0.05, 0.0, 0.02, 0.0]
    await hub.connect("s1", claims("a"), "tok-a")
    acks = await asyncio.gather(
        *(hub.send_message("s1", {"conversationId": CID, "text": f"m{i}"}) for i in range(4))
    )
    assert [body["text"] for _, _, body in conversations.posted] == ["m0", "m1", "m2", "m3"]
    assert [a["seq"] for a in acks] == [1, 2, 3, 4]


async def test_send_refusals(parts: Any) -> None:
    hub, _, conversations, _, _ = parts
    await hub.connect("s1", claims("a"), "tok-a")
    with pytest.raises(InvalidPayload):
        await hub.send_message("s1", {"conversationId": CID, "text": ""})
    with pytest.raises(Forbidden) as refused:
        await hub.send_message("s1", {"conversationId": CID, "text": "hi"})
    assert not isinstance(refused.value, Refused)  # the conversations service's, passed on
    with pytest.raises(Refused):
        await hub.send_message("ghost", {"conversationId": CID, "text": "hi"})
    assert conversations.posted == []


async def test_typing_goes_to_the_room_but_not_the_sender(parts: Any) -> None:
    hub, emitter, conversations, cluster, _ = parts
    conversations.members[CID] = {"tok-a"}
    await hub.connect("s1", claims("a"), "tok-a")
    await hub.connect("s9", claims("z"), "tok-z")
    # A non-participant's typing reaches no one.
    with pytest.raises(Refused) as refused:
        await hub.typing("s9", {"conversationId": CID}, started=True)
    assert refused.value.code == "forbidden"
    assert emitter.named("typing") == []
    # A participant's does, joined or not (the original's frontend does not wait for the join).
    room = f"conversation:{CID}"
    body = {"user": {"_id": "a", "email": "a@x.io", "role": "customer"}, "conversationId": CID}
    await hub.typing("s1", {"conversationId": CID}, started=True)
    assert [(e["event"], e["to"]) for e in emitter.emits[-2:]] == [
        ("typing", room),
        ("userTyping", room),
    ]
    await hub.join("s1", CID)
    await hub.typing("s1", {"conversationId": CID}, started=False)
    await hub.typing("s1", {"conversationId": CID}, started=True)
    assert [(e["event"], e["data"], e["to"], e["skip_sid"]) for e in emitter.emits[-4:]] == [
        ("stopTyping", body, room, "s1"),
        ("userStopTyping", body, room, "s1"),
        ("typing", body, room, "s1"),
        ("userTyping", body, room, "s1"),
    ]
    # The other replicas tell their own sockets of the room; a stranger's typing crossed none.
    assert [m for m in cluster.published if isinstance(m, Typing)] == [
        Typing(replica="A", conversation_id=CID, user=body["user"], started=True),
        Typing(replica="A", conversation_id=CID, user=body["user"], started=False),
        Typing(replica="A", conversation_id=CID, user=body["user"], started=True),
    ]
    await hub.handle_cluster(
        Typing(replica="B", conversation_id=CID, user=body["user"], started=False)
    )
    assert [(e["event"], e["skip_sid"]) for e in emitter.emits[-2:]] == [
        ("stopTyping", None),
        ("userStopTyping", None),
    ]


async def test_a_join_comes_before_the_send_emitted_right_after_it(parts: Any) -> None:
    """python-socketio runs each event in its own task: the send must not overtake the join."""
    hub, _, conversations, _, _ = parts
    conversations.members[CID] = {"tok-a"}
    await hub.connect("s1", claims("a"), "tok-a")
    joined_when_posted: list[bool] = []
    post = conversations.post_message

    async def post_and_look(token: str, cid: str, body: dict[str, Any]) -> dict[str, Any]:
        joined_when_posted.append(hub.has_joined("s1", cid))
        return await post(token, cid, body)

    conversations.post_message = post_and_look  # type: ignore[method-assign]
    slow_check = conversations.is_member

    async def slow_is_member(token: str, cid: str) -> bool:
        await asyncio.sleep(0.05)
        return await slow_check(token, cid)

    conversations.is_member = slow_is_member  # type: ignore[method-assign]
    join = asyncio.create_task(hub.join("s1", CID))
    send = asyncio.create_task(hub.send_message("s1", {"conversationId": CID, "text": "hi"}))
    await asyncio.gather(join, send)
    assert joined_when_posted == [True]


async def test_message_created_goes_to_the_room_and_notifies_participants(parts: Any) -> None:
    hub, emitter, _, _, _ = parts
    await hub.delivery.message_created(CID, {"_id": "m1"}, ["a", "b"])
    assert [(e["event"], e["to"]) for e in emitter.emits] == [
        ("newMessage", f"conversation:{CID}"),
        ("messageNotification", ["user:a", "user:b"]),
    ]


def message(seq: int) -> dict[str, Any]:
    return {"_id": f"m{seq}", "conversation": CID, "seq": seq}


async def test_a_message_already_emitted_is_not_emitted_again(parts: Any) -> None:
    hub, emitter, _, _, _ = parts
    for seq in (1, 2, 2, 1, 3):  # redeliveries after a broker restart
        await hub.delivery.message_created(CID, message(seq), [])
    assert [e["data"]["seq"] for e in emitter.named("newMessage")] == [1, 2, 3]


async def test_a_gap_is_filled_from_the_store_before_the_new_message(parts: Any) -> None:
    hub, emitter, conversations, _, _ = parts
    conversations.members[CID] = {"tok-a"}
    conversations.stored[CID] = [message(s) for s in range(1, 6)]
    await hub.connect("s1", claims("a"), "tok-a")
    await hub.join("s1", CID)
    await hub.delivery.message_created(CID, message(1), [])
    # 2..4 were published while this replica's queue was gone (expired): never delivered here.
    await hub.delivery.message_created(CID, message(5), [])
    assert [e["data"]["seq"] for e in emitter.named("newMessage")] == [1, 2, 3, 4, 5]


async def test_after_a_reconnect_rooms_with_sockets_here_catch_up(parts: Any) -> None:
    hub, emitter, conversations, _, _ = parts
    other = "64b7f0c2a1b2c3d4e5f60719"
    conversations.members[CID] = {"tok-a"}
    conversations.stored[CID] = [message(s) for s in range(1, 4)]
    conversations.stored[other] = [{"_id": "x", "seq": 2}]
    await hub.connect("s1", claims("a"), "tok-a")
    await hub.join("s1", CID)
    await hub.delivery.message_created(CID, message(1), [])
    # No socket here in its room.
    await hub.delivery.message_created(other, {"_id": "o1", "seq": 1}, [])
    await hub.delivery.catch_up()
    assert [(e["to"], e["data"]["seq"]) for e in emitter.named("newMessage")] == [
        (f"conversation:{CID}", 1),
        (f"conversation:{other}", 1),
        (f"conversation:{CID}", 2),
        (f"conversation:{CID}", 3),
    ]
    # Its event arriving late: not shown twice.
    await hub.delivery.message_created(CID, message(3), [])
    assert len(emitter.named("newMessage")) == 4


async def test_conversation_created_reaches_participants_with_presence(parts: Any) -> None:
    hub, emitter, _, _, _ = parts
    people = [
        UserRef(id="a", email="a@x.io", role="customer"),
        UserRef(id="b", email="b@x.io", role="agent"),
        UserRef(id="c", email="c@x.io"),  # role unknown: the customer's view
    ]
    await hub.connect("s1", claims("a"), "tok-a")
    await settle(hub)
    await hub.handle_cluster(Heartbeat(replica="B", users=["b"]))
    emitter.emits.clear()
    conversation = ConversationData(
        id=CID,
        participants=people,
        created_at=utcnow(),
        updated_at=utcnow(),
        team=TeamRef(id="t1", name="Support"),
        labels=["vip"],
        priority="high",
        version=1,
    )
    await hub.conversation_created(conversation)
    events = [(e["event"], e["to"]) for e in emitter.emits]
    assert ("presence", "user:a") in events  # b is online and now a contact of a
    created = emitter.named("conversationCreated")
    assert [(e["to"], e["data"]) for e in created] == [
        (["user:b"], conversation.to_api()),
        (["user:a", "user:c"], conversation.customer_api()),
    ]
    assert "team" not in created[1]["data"] and "labels" not in created[1]["data"]


async def test_a_new_assignee_becomes_a_contact_and_may_join_at_once(parts: Any) -> None:
    """conversation.updated with a new assignee (a new participant): the customer and the agent
    see each other online, and the agent's remembered refusal to join is gone."""
    hub, emitter, conversations, _, _ = parts
    await hub.connect("s1", claims("a"), "tok-a")
    await hub.connect("s2", claims("b"), "tok-b")
    await settle(hub)
    with pytest.raises(Refused):
        await hub.join("s2", CID)
    conversations.members[CID] = {"tok-a", "tok-b"}
    emitter.emits.clear()
    people = [
        UserRef(id="a", email="a@x.io", role="customer"),
        UserRef(id="b", email="b@x.io", role="agent"),
    ]
    conversation = ConversationData(
        id=CID, participants=people, created_at=utcnow(), updated_at=utcnow()
    )
    await hub.conversation_access_changed(conversation)
    events = [(e["event"], e["to"]) for e in emitter.emits]
    assert ("presence", "user:a") in events and ("presence", "user:b") in events
    assert ("onlineUsers", "user:a") in events and ("onlineUsers", "user:b") in events
    assert await hub.join("s2", CID) == {"ok": True, "conversationId": CID}
    # A transfer away from x's team: x's socket leaves the room, the participants' stay.
    await hub.connect("s3", claims("x"), "tok-x")
    conversations.members[CID].add("tok-x")
    for sid in ("s1", "s3"):
        await hub.join(sid, CID)
    await hub.conversation_access_changed(conversation, may_see={"a", "b"})
    assert emitter.members(f"conversation:{CID}") == ["s1", "s2"]


async def test_disabled_user_is_disconnected_and_refused(parts: Any) -> None:
    hub, emitter, _, _, _ = parts
    await hub.connect("s1", claims("a"), "tok-a")
    await hub.connect("s2", claims("a"), "tok-a")
    await hub.user_access_changed("a", disabled=True)
    assert sorted(emitter.disconnected) == ["s1", "s2"]
    assert hub.user_of("s1") is hub.user_of("s2") is None
    with pytest.raises(Refused) as refused:
        await hub.connect("s3", claims("a"), "tok-a")
    assert refused.value.msg.startswith("Authentication error")
    await hub.user_access_changed("a", disabled=False)
    await hub.connect("s3", claims("a"), "tok-a")
    assert hub.user_of("s3") is not None


async def test_refresh_token_must_keep_the_user(parts: Any) -> None:
    hub, _, _, _, _ = parts
    await hub.connect("s1", claims("a"), "tok-a")
    assert await hub.refresh_token("s1", claims("a"), "tok-a2") == {"ok": True}
    assert hub.user_of("s1").token == "tok-a2"  # type: ignore[union-attr]
    with pytest.raises(Refused):
        await hub.refresh_token("s1", claims("b"), "tok-b")


async def test_repeated_typing_is_throttled_until_stop(parts: Any) -> None:
    hub, emitter, conversations, _, clock = parts
    conversations.members[CID] = {"tok-a"}
    await hub.connect("s1", claims("a"), "tok-a")
    await hub.join("s1", CID)
    for _ in range(5):
        assert await hub.typing("s1", CID, started=True) == {"ok": True}
    assert len(emitter.named("typing")) == 1
    clock.t = 1.5
    await hub.typing("s1", CID, started=True)
    assert len(emitter.named("typing")) == 2
    await hub.typing("s1", CID, started=False)
    await hub.typing("s1", CID, started=True)  # a new burst after a stop goes through at once
    assert len(emitter.named("typing")) == 3


async def test_a_role_change_drops_the_sockets_authorized_under_the_old_role(parts: Any) -> None:
    hub, emitter, _, _, _ = parts
    admin = TokenClaims(user_id="a", email="a@x.io", role="admin", expires_at=4_000_000_000)
    await hub.connect("s1", admin, "tok-a")
    await hub.connect("s2", admin, "tok-a")
    await hub.connect("s3", claims("b"), "tok-b")
    await hub.user_access_changed("a", disabled=False, role="admin")  # a rename: nothing
    assert emitter.disconnected == []
    await hub.user_access_changed("a", disabled=False, role="agent")  # demoted
    assert sorted(emitter.disconnected) == ["s1", "s2"]
    assert [hub.user_of(sid) is not None for sid in ("s1", "s2", "s3")] == [False, False, True]
    # Reconnecting is allowed (joins are checked again by conversations).
    await hub.connect("s4", admin, "tok-a")
    assert hub.user_of("s4") is not None
