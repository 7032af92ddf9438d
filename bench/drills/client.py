"""The drill's client: one Socket.IO connection per user, through the gateway, behaving as the
contract asks of a careful client (CONTRACT.md Part 2):

- every send carries a `clientMessageId`; a send that is refused (`busy`, `unavailable`, ...),
  not acknowledged within `ack_timeout_s`, or waiting on a socket that dropped, is sent again with
  the same id — at once on the new connection (python-socketio forgets the ack callbacks of a
  dropped socket, so nothing else would ever answer them);
- a dropped connection is reconnected (bounded back-off), the room joined again, and what was
  missed fetched with `sync` from the last `seq` the client saw;
- received messages are recorded (live `newMessage` or catch-up), so the checker can account
  for every one. A client shows a message once: a second `newMessage` with an `_id` it already
  has is recorded as shown twice by the checker only if it came live both times.

Every loop is bounded in attempts or time; the only address is the gateway's, on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import socketio

from bench.drills.checker import Delivery, Outage, SendRecord

# Acks that mean "try again later" (the contract's transient refusals); anything else is final.
RETRYABLE = {"busy", "unavailable", "internal_error", "too_many_pending", "timeout"}
_SYNC_PAGE = 200
_SYNC_MAX_PAGES = 100
_MAX_CONNECT_ATTEMPTS = 300


class DrillClient:
    def __init__(
        self,
        *,
        url: str,
        user_id: str,
        token: str,
        conversation_id: str,
        source_address: str | None,
        deliveries: list[Delivery],
        sends: list[SendRecord],
        outages: list[Outage],
        ack_timeout_s: float = 5.0,
        say: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.url = url
        self.user_id = user_id
        self.token = token
        self.conversation_id = conversation_id
        self.source_address = source_address
        self._deliveries = deliveries
        self._all_sends = sends
        self._outages = outages
        self._ack_timeout_s = ack_timeout_s
        self._say = say
        self._pending: dict[str, tuple[SendRecord, str]] = {}
        self._next_try: dict[str, float] = {}
        # Sends emitted whose ack has not come (yet): a re-send of one counts as "no_ack".
        self._awaiting: set[str] = set()
        self._seen: set[str] = set()
        self.last_seq = 0
        self.connection = 0
        self.ready = asyncio.Event()
        self._gone = asyncio.Event()
        self._stopping = False
        self._sio: socketio.AsyncClient | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.connect_failures = 0

    # ---------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            local_addr=(self.source_address, 0) if self.source_address else None
        )
        self._session = aiohttp.ClientSession(connector=connector)
        self._tasks = [
            asyncio.create_task(self._stay_connected()),
            asyncio.create_task(self._resend_loop()),
        ]

    async def stop(self) -> None:
        self._stopping = True
        self._gone.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._sio is not None and self._sio.connected:
            await self._sio.disconnect()
        if self._session is not None:
            await self._session.close()

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def seen(self) -> set[str]:
        return self._seen

    async def _stay_connected(self) -> None:
        delay = 0.1
        lost_at: float | None = None
        for _ in range(_MAX_CONNECT_ATTEMPTS):
            if self._stopping:
                return
            try:
                await self._connect_and_catch_up()
            except Exception as exc:  # a refused handshake, a timeout, the gateway gone
                self.connect_failures += 1
                if self.connect_failures <= 3 or self.connect_failures % 20 == 0:
                    self._say(f"{self.user_id}: connect failed ({type(exc).__name__}: {exc})")
                await self._drop()
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
                delay = min(1.0, delay * 2)
                continue
            delay = 0.1
            if lost_at is not None:
                self._outages.append(Outage(self.user_id, lost_at, time.monotonic()))
                lost_at = None
            self.ready.set()
            # Whatever was waiting on the old connection is sent again now, with the same id.
            now = time.monotonic()
            for client_id in self._pending:
                self._next_try[client_id] = now
            await self._gone.wait()
            if self._stopping:
                return
            lost_at = time.monotonic()
            self.ready.clear()
        if lost_at is not None:
            self._outages.append(Outage(self.user_id, lost_at, None))

    async def _connect_and_catch_up(self) -> None:
        self.connection += 1
        connection = self.connection
        self._gone.clear()
        sio = socketio.AsyncClient(reconnection=False, http_session=self._session)
        self._sio = sio

        def on_message(message: Any) -> None:
            self._record(message, live=True, connection=connection)

        def on_disconnect(*_: Any) -> None:
            if self._sio is sio:
                self._gone.set()

        sio.on("newMessage", on_message)
        sio.on("disconnect", on_disconnect)
        await sio.connect(
            self.url, auth={"token": self.token}, transports=["websocket"], wait_timeout=10
        )
        joined = await sio.call("joinConversation", self.conversation_id, timeout=10)
        if not (isinstance(joined, dict) and joined.get("ok")):
            raise RuntimeError(f"join refused: {joined}")
        for _ in range(_SYNC_MAX_PAGES):
            page = await sio.call(
                "sync",
                {
                    "conversationId": self.conversation_id,
                    "afterSeq": self.last_seq,
                    "limit": _SYNC_PAGE,
                },
                timeout=10,
            )
            if not isinstance(page, dict) or "messages" not in page:
                raise RuntimeError(f"sync failed: {page}")
            for message in page["messages"]:
                self._record(message, live=False, connection=connection)
            if not page.get("hasMore") or not page["messages"]:
                break
        if self._gone.is_set():
            raise RuntimeError("disconnected while catching up")

    async def _drop(self) -> None:
        sio = self._sio
        if sio is not None and sio.connected:
            # Already half gone: nothing is left to close cleanly if this fails.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sio.disconnect(), 5)

    def _record(self, message: Any, *, live: bool, connection: int) -> None:
        if not isinstance(message, dict) or message.get("conversation") != self.conversation_id:
            return
        message_id, seq = str(message.get("_id")), int(message.get("seq") or 0)
        self._deliveries.append(
            Delivery(
                self.user_id,
                self.conversation_id,
                message_id,
                seq,
                time.monotonic(),
                live,
                connection,
            )
        )
        self._seen.add(message_id)
        self.last_seq = max(self.last_seq, seq)

    # -------------------------------------------------------------------------------- sends

    def send(self, text: str) -> SendRecord:
        client_id = uuid.uuid4().hex
        record = SendRecord(client_id, self.conversation_id, self.user_id, time.monotonic())
        self._all_sends.append(record)
        self._pending[client_id] = (record, f"{text} [{client_id}]")
        self._next_try[client_id] = record.first_at
        if self.ready.is_set():
            self._emit(client_id)
        return record

    def _emit(self, client_id: str) -> None:
        record, text = self._pending[client_id]
        sio = self._sio
        if sio is None or not sio.connected:
            return
        if client_id in self._awaiting:
            record.errors["no_ack"] += 1
        self._awaiting.add(client_id)
        record.attempts += 1
        self._next_try[client_id] = time.monotonic() + self._ack_timeout_s

        def on_ack(*answer: Any) -> None:
            self._on_ack(client_id, answer[0] if answer else None)

        payload = {
            "conversationId": self.conversation_id,
            "text": text,
            "clientMessageId": client_id,
        }
        task = asyncio.ensure_future(sio.emit("sendMessage", payload, callback=on_ack))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    def _on_ack(self, client_id: str, answer: Any) -> None:
        self._awaiting.discard(client_id)
        found = self._pending.get(client_id)
        record = found[0] if found else None
        if isinstance(answer, dict) and answer.get("_id"):
            if record is None:
                # A late ack of an attempt already answered: it must name the same message.
                for sent in reversed(self._all_sends):
                    if sent.client_id == client_id:
                        if sent.message_id != answer["_id"]:
                            sent.conflicting_acks += 1
                        break
                return
            record.acked_at = time.monotonic()
            record.message_id = str(answer["_id"])
            record.seq = int(answer.get("seq") or 0)
            del self._pending[client_id]
            self._next_try.pop(client_id, None)
            return
        if record is None:
            return
        code = str(answer.get("code")) if isinstance(answer, dict) else "bad_ack"
        record.errors[code] += 1
        if code in RETRYABLE:
            backoff = min(2.0, 0.25 * 2 ** min(record.attempts, 3))
            self._next_try[client_id] = time.monotonic() + backoff * random.uniform(0.5, 1.0)  # noqa: S311
        else:
            # A final refusal: the contract says this send will never succeed as it is.
            del self._pending[client_id]
            self._next_try.pop(client_id, None)

    async def _resend_loop(self) -> None:
        while not self._stopping:
            await asyncio.sleep(0.1)
            if not self.ready.is_set():
                continue
            now = time.monotonic()
            for client_id in [c for c, at in self._next_try.items() if at <= now]:
                if client_id in self._pending:
                    self._emit(client_id)
