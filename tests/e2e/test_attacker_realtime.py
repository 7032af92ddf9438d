"""The attacker's side of the realtime service (issue 13, items 2, 3, 4, 6), through the gateway
with the Origin header a browser sends: one signed-in user trying to exhaust a replica, sessions
that never authenticate, sockets that outlive their login. Marker `security`, like
test_attacker.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import socketio

from tests.support.api import new_chat
from tests.support.rabbit import publishers_blocked
from tests.support.stack import TestStack
from tests.support.users import login, new_user, short_token

pytestmark = pytest.mark.security

# The realtime service's defaults (SOCKET_MAX_PER_USER, SOCKET_MAX_QUEUED_BYTES,
# REPLICA_MAX_OUTGOING_MESSAGES): the test stack does not change them.
MAX_SOCKETS_PER_USER = 20
REPLICAS = 2  # the test stack runs realtime-1 and realtime-2
MAX_QUEUED_BYTES = 1_000_000
MAX_OUTGOING = 1000
CONNECT_DEADLINE_S = 10.0  # SOCKET_CONNECT_DEADLINE_SECONDS
RECORD_SEP = "\x1e"  # between Engine.IO packets in a long-polling payload


class Browser:
    """A python-socketio client as a browser page on the gateway's own origin."""

    def __init__(self, stack: TestStack, url: str | None = None) -> None:
        self.url = url or stack.gateway_url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.errors: list[Any] = []
        self.events: list[tuple[str, Any]] = []
        self.gone = asyncio.Event()
        self.sio.on("connect_error", self.errors.append)
        self.sio.on("disconnect", lambda *_: self.gone.set())
        self.sio.on("*", lambda event, *args: self.events.append((event, args)))

    async def connect(self, token: str) -> None:
        await self.sio.connect(
            self.url,
            auth={"token": token},
            headers={"Origin": self.url},
            transports=["websocket"],
            wait_timeout=10,
        )

    def of(self, event: str) -> list[Any]:
        return [args[0] for name, args in self.events if name == event and args]


@pytest.fixture
async def browsers(stack: TestStack) -> AsyncIterator[list[Browser]]:
    made: list[Browser] = []
    yield made
    await asyncio.gather(*(b.sio.disconnect() for b in made), return_exceptions=True)


async def until(condition: Any, timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if condition():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not so after {timeout}s")
        await asyncio.sleep(0.05)


class Poller:
    """A raw Engine.IO long-polling session through the gateway: the attacker who authenticates
    and joins, then never reads again (a pong now and then keeps the session alive)."""

    def __init__(self, http: httpx.AsyncClient, origin: str) -> None:
        self.http = http
        self.headers = {"Origin": origin, "Content-Type": "text/plain;charset=UTF-8"}
        self.sid = ""

    def params(self) -> dict[str, str]:
        return {"EIO": "4", "transport": "polling", "sid": self.sid}

    async def handshake(self) -> httpx.Response:
        """The Engine.IO open, nothing more."""
        opened = await self.http.get(
            "/socket.io/", params={"EIO": "4", "transport": "polling"}, headers=self.headers
        )
        if opened.status_code == 200 and opened.text.startswith("0"):
            self.sid = json.loads(opened.text[1:])["sid"]
        return opened

    async def open(self, token: str) -> None:
        opened = await self.handshake()
        assert self.sid, opened.text
        await self.post("40" + json.dumps({"token": token}))
        assert any(p.startswith("40") for p in await self.read()), "not connected"

    async def post(self, payload: str) -> httpx.Response:
        return await self.http.post(
            "/socket.io/", params=self.params(), content=payload, headers=self.headers
        )

    async def get(self) -> httpx.Response:
        return await self.http.get("/socket.io/", params=self.params(), headers=self.headers)

    async def read(self) -> list[str]:
        answer = await self.get()
        assert answer.status_code == 200, answer.text
        return answer.text.split(RECORD_SEP)


# --- item 2: one user exhausting a replica --------------------------------------------------------


async def test_one_user_cannot_hold_more_sockets_than_the_limit(
    http: httpx.AsyncClient, stack: TestStack, browsers: list[Browser]
) -> None:
    user = await new_user(http, stack)
    # The limit holds per replica, and the gateway spreads one address's sockets over both
    # (least connections): however they land, 2 * the limit + 1 cannot all be accepted.
    refused: Browser | None = None
    mine: list[Browser] = []
    for _ in range(REPLICAS * MAX_SOCKETS_PER_USER + 1):
        browser = Browser(stack)
        browsers.append(browser)
        try:
            await browser.connect(user.token)
        except socketio.exceptions.ConnectionError:
            refused = browser
            break
        mine.append(browser)
    assert refused is not None, f"{len(mine)} sockets of one user accepted"
    assert MAX_SOCKETS_PER_USER <= len(mine) <= REPLICAS * MAX_SOCKETS_PER_USER
    assert refused.errors, "refused without a connect_error"
    refusal = refused.errors[-1]
    assert "Too many connections" in refusal["message"], refusal
    assert refusal.get("data") == {"code": "too_many_sockets"}, refusal
    # Someone else is not affected, and closed sockets free their places.
    other = Browser(stack)
    browsers.append(other)
    await other.connect((await new_user(http, stack)).token)
    for browser in mine:
        await browser.sio.disconnect()
    again = Browser(stack)
    browsers.append(again)
    await asyncio.sleep(0.3)  # the replicas handle the disconnects
    await again.connect(user.token)


async def test_a_socket_that_never_reads_is_dropped_and_catches_up_by_seq(
    http: httpx.AsyncClient, stack: TestStack, browsers: list[Browser]
) -> None:
    customer, agent, conv = await new_chat(http, stack)
    attacker = Poller(http, stack.gateway_url)
    await attacker.open(customer.token)
    await attacker.post(f'420["joinConversation","{conv}"]')
    joined: list[str] = []
    async with asyncio.timeout(10):
        while not any(p.startswith("430") for p in joined):
            joined += await attacker.read()
    assert '"ok":true' in next(p for p in joined if p.startswith("430")), joined
    watcher = Browser(stack)  # a well-behaved socket in the same room
    browsers.append(watcher)
    await watcher.connect(agent.token)
    assert await watcher.sio.call("joinConversation", conv, timeout=10) == {
        "ok": True,
        "conversationId": conv,
    }

    # Twice the bound of newMessage + messageNotification packets, never read by the attacker.
    count, text = 2 * MAX_QUEUED_BYTES // (2 * 4000) + 1, "x" * 4000
    for n in range(count):
        sent = await http.post(
            f"/api/conversations/{conv}/messages", json={"text": text}, headers=agent.headers
        )
        assert sent.status_code == 201, sent.text
        if n % 50 == 0:
            await attacker.post("3")  # a pong, "still here" (refused once dropped)
    await until(lambda: len(watcher.of("newMessage")) == count, 30)

    # The replica did not keep ~2 MB for a reader that never reads: the session is gone.
    left = await attacker.get()
    assert left.status_code == 400, (
        f"session kept: {len(left.content)} bytes were still queued for it"
    )
    # Reconnected, it catches up from the last seq it saw.
    back = Browser(stack)
    browsers.append(back)
    await back.connect(customer.token)
    caught = await back.sio.call(
        "sync", {"conversationId": conv, "afterSeq": count - 5}, timeout=10
    )
    assert [m["seq"] for m in caught["messages"]] == list(range(count - 4, count + 1))


async def test_a_stalled_broker_neither_holds_sockets_nor_grows_the_replicas_buffer(
    http: httpx.AsyncClient, stack: TestStack, browsers: list[Browser]
) -> None:
    if stack.dev is None:
        pytest.skip("blocks the stack's RabbitMQ")
    customer, agent, conv = await new_chat(http, stack)
    typist = Browser(stack)
    browsers.append(typist)
    await typist.connect(customer.token)
    # Joined: its typing needs no membership check (those are capped per socket, item 3).
    assert (await typist.sio.call("joinConversation", conv, timeout=10))["ok"] is True
    with publishers_blocked():
        # Every stopTyping goes to the other replicas through RabbitMQ, which takes nothing now:
        # each is still answered at once, and beyond the bound they are dropped, not kept.
        for start in range(0, MAX_OUTGOING + 200, 100):
            acks = await asyncio.gather(
                *(
                    typist.sio.call("stopTyping", {"conversationId": conv}, timeout=5)
                    for _ in range(100)
                )
            )
            assert acks == [{"ok": True}] * 100, (start, acks[:3])
        # A connect tells the other replicas too: it is not held either.
        late = Browser(stack)
        browsers.append(late)
        await late.connect(agent.token)
        assert await late.sio.call("joinConversation", conv, timeout=5) == {
            "ok": True,
            "conversationId": conv,
        }
        # ... and the replica dropped what went beyond REPLICA_MAX_OUTGOING_MESSAGES.
        await until(
            lambda: any(
                "outgoing buffer full" in line
                for name in ("realtime-1", "realtime-2")
                for line in stack.log_lines(name)
            ),
            10,
        )
    # Once RabbitMQ takes messages again, what is sent reaches the room.
    sent = await http.post(
        f"/api/conversations/{conv}/messages", json={"text": "back"}, headers=customer.headers
    )
    assert sent.status_code == 201
    await until(lambda: any(m["text"] == "back" for m in late.of("newMessage")), 30)


# --- item 4: sessions that never authenticate, connections per client address ---------------------


async def test_an_engineio_session_that_never_connects_is_ended_at_the_deadline(
    http: httpx.AsyncClient,
) -> None:
    idler = Poller(http, str(http.base_url).rstrip("/"))
    opened = await idler.handshake()
    assert idler.sid, opened.text
    started = asyncio.get_running_loop().time()
    # It answers pings (pongs), never sends the Socket.IO CONNECT with a token.
    while (answer := await idler.post("3")).status_code == 200:
        elapsed = asyncio.get_running_loop().time() - started
        assert elapsed < CONNECT_DEADLINE_S + 5, "the unauthenticated session is still alive"
        await asyncio.sleep(0.5)
    assert answer.status_code == 400, answer.text  # an unknown session now
    assert asyncio.get_running_loop().time() - started >= CONNECT_DEADLINE_S - 1


async def test_the_gateway_limits_connections_per_client_address(
    http: httpx.AsyncClient, stack: TestStack, browsers: list[Browser]
) -> None:
    user = await new_user(http, stack)
    with stack.extra_gateway(GATEWAY_CONN_PER_CLIENT="5") as url:
        for _ in range(5):  # an open websocket is a connection in progress
            browsers.append(Browser(stack, url))
            await browsers[-1].connect(user.token)
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            refused = await Poller(client, url).handshake()
            assert refused.status_code == 429, refused.text
            assert refused.json()["code"] == "rate_limited"
            await browsers[0].sio.disconnect()
            await asyncio.sleep(0.3)
            assert (await Poller(client, url).handshake()).status_code == 200


# --- item 3: one user's burst does not starve or refuse everyone else ---------------------------


async def test_one_users_burst_neither_refuses_nor_starves_another_user(
    http: httpx.AsyncClient, stack: TestStack, browsers: list[Browser]
) -> None:
    burster, _agent, conv = await new_chat(http, stack)
    victim, _other_agent, victim_conv = await new_chat(http, stack)
    sockets = []
    for _ in range(3):  # the same replica (one client address), each within its own caps
        browsers.append(Browser(stack))
        await browsers[-1].connect(burster.token)
        sockets.append(browsers[-1].sio)
    mine = Browser(stack)
    browsers.append(mine)
    await mine.connect(victim.token)

    # 270 sends (more than REPLICA_MAX_PENDING_COMMANDS, 200) and 300 syncs at once.
    burst = [
        asyncio.ensure_future(
            sio.call("sendMessage", {"conversationId": conv, "text": f"flood {n}"}, timeout=60)
        )
        for sio in sockets
        for n in range(90)
    ] + [
        asyncio.ensure_future(sio.call("sync", {"conversationId": conv, "afterSeq": 0}, timeout=60))
        for sio in sockets
        for _ in range(100)
    ]
    await asyncio.sleep(0.3)  # the burst has reached the replica
    started = asyncio.get_running_loop().time()
    sent = await mine.sio.call(
        "sendMessage", {"conversationId": victim_conv, "text": "mine"}, timeout=10
    )
    assert sent.get("text") == "mine", sent  # not {"code": "busy"}
    caught = await mine.sio.call("sync", {"conversationId": victim_conv, "afterSeq": 0}, timeout=10)
    assert [m["text"] for m in caught["messages"]] == ["mine"], caught
    assert asyncio.get_running_loop().time() - started < 5

    answers = await asyncio.gather(*burst)
    refused = [a for a in answers if isinstance(a, dict) and a.get("code") == "too_many_pending"]
    assert refused, "the burst was never refused"
    assert not [a for a in answers if isinstance(a, dict) and a.get("code") == "busy"]


# --- item 6: a socket outlives neither its token nor its login ------------------------------------


async def test_a_socket_is_disconnected_when_its_token_expires_unless_renewed(
    http: httpx.AsyncClient, stack: TestStack, browsers: list[Browser]
) -> None:
    user = await new_user(http, stack)
    expiring, renewed = Browser(stack), Browser(stack)
    browsers += [expiring, renewed]
    await expiring.connect(short_token(stack, user, 4))
    await renewed.connect(short_token(stack, user, 4))
    assert await renewed.sio.call("authenticate", {"token": user.token}, timeout=10) == {"ok": True}
    await asyncio.wait_for(expiring.gone.wait(), 15)
    assert expiring.of("sessionExpired") == [{"code": "token_expired"}]
    await asyncio.sleep(1)
    assert renewed.sio.connected and not renewed.gone.is_set()


async def test_a_logout_drops_the_sockets_of_that_login_only(
    http: httpx.AsyncClient, stack: TestStack, browsers: list[Browser]
) -> None:
    user = await new_user(http, stack)
    other_login = await login(http, user.email, user.password)  # the same user on another device
    ended, kept = Browser(stack), Browser(stack)
    browsers += [ended, kept]
    await ended.connect(user.token)
    await kept.connect(other_login["token"])
    out = await http.post(
        "/api/auth/logout",
        json={"refreshToken": user.refresh_token},
        headers={**user.headers, "Origin": stack.gateway_url},
    )
    assert out.status_code in (200, 204), out.text
    await asyncio.wait_for(ended.gone.wait(), 15)
    await asyncio.sleep(1)
    assert kept.sio.connected and not kept.gone.is_set()
    # The ended login's access token is still unexpired: a reconnect with it is refused.
    again = Browser(stack)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await again.connect(user.token)
    assert again.errors and "logged out" in again.errors[-1]["message"], again.errors
