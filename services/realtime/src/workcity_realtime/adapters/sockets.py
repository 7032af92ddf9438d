"""The Socket.IO server as the hub sees it: emit to rooms, join and leave, disconnect.

Emits go through the server's client manager (python-socketio's `AsyncAioPikaManager`), which
delivers them on this replica and publishes them to the other replicas; `local_only` skips the
publish for what every replica works out for its own sockets (presence).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Protocol

import aio_pika
import orjson
import socketio
from engineio import packet as eio_packet
from socketio import packet as sio_packet


class Emitter(Protocol):
    async def emit(
        self,
        event: str,
        data: Any,
        *,
        to: str | list[str],
        skip_sid: str | None = None,
        local_only: bool = False,
    ) -> None: ...

    async def enter_room(self, sid: str, room: str) -> None: ...

    async def leave_room(self, sid: str, room: str) -> None: ...

    def rooms(self, sid: str) -> list[str]: ...

    async def close_room(self, room: str) -> None: ...

    async def disconnect(self, sid: str) -> None: ...


class SocketIOEmitter:
    def __init__(self, server: socketio.AsyncServer) -> None:
        self._server = server

    async def emit(
        self,
        event: str,
        data: Any,
        *,
        to: str | list[str],
        skip_sid: str | None = None,
        local_only: bool = False,
    ) -> None:
        await self._server.emit(event, data, to=to, skip_sid=skip_sid, ignore_queue=local_only)

    async def enter_room(self, sid: str, room: str) -> None:
        await self._server.enter_room(sid, room)

    async def leave_room(self, sid: str, room: str) -> None:
        await self._server.leave_room(sid, room)

    def rooms(self, sid: str) -> list[str]:
        return list(self._server.rooms(sid))

    async def close_room(self, room: str) -> None:
        await self._server.close_room(room)

    async def disconnect(self, sid: str) -> None:
        # Only sockets of this replica are disconnected here; other replicas are told through
        # the cluster bus and disconnect their own.
        await self._server.disconnect(sid, ignore_queue=True)


def user_room(user_id: str) -> str:
    return f"user:{user_id}"


def conversation_room(conversation_id: str) -> str:
    return f"conversation:{conversation_id}"


class OrjsonModule:
    """A `json` module for python-socketio (packets and the manager's messages): orjson encodes
    and decodes several times faster than the standard library, and every emit goes through it."""

    @staticmethod
    def dumps(value: Any, **_: Any) -> str:
        # python-socketio passes the standard library's formatting options; orjson's output is
        # already compact.
        return orjson.dumps(value).decode()

    @staticmethod
    def loads(value: str | bytes, **_: Any) -> Any:
        return orjson.loads(value)


class ReplicaBus(socketio.AsyncAioPikaManager):
    """python-socketio's RabbitMQ manager, made cheaper per emit.

    - Emits go out in batches: what is emitted within one turn of the event loop (a message's
      `newMessage`, `messageNotification` and `messageRead`; under load, those of many messages)
      travels to the other replicas as one RabbitMQ message, in order, which each unpacks. A
      replica also skips its own batches whole instead of decoding each emit to find it is its own.
    - The listener has a prefetch of its own: the stock one takes one message at a time, so every
      emit waited for the previous one's acknowledgement to reach RabbitMQ.
    - Plain connections, rebuilt after a loss, instead of aio-pika's robust ones: after RabbitMQ
      restarts, the robust restore of the stock listener's server-named queue left it
      consuming nothing (no error either), so a replica no longer heard the others. The
      listener's queue is exclusive (it goes with its connection) and a new one is declared on
      every reconnect; a publish that fails drops its connection and the next one reconnects.
    """

    def __init__(
        self,
        *args: Any,
        prefetch: int = 256,
        max_batch: int = 500,
        max_retry_s: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.prefetch = prefetch
        self._max_batch = max_batch
        self._max_retry_s = max_retry_s
        self._outgoing: list[dict[str, Any]] = []
        self._flusher: asyncio.Task[None] | None = None
        # The publishing connection and its exchange, made on first use and after a failure.
        self._publisher: (
            tuple[aio_pika.abc.AbstractConnection, aio_pika.abc.AbstractExchange] | None
        ) = None

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        """Deliver an emit to this replica's sockets (our own emits and the other replicas').

        The packet is encoded once and queued on each socket in turn: python-socketio makes a
        task per recipient and waits for them all, though queueing a packet on a socket never
        waits (the socket's writer sends it), and in a fan-out that bookkeeping cost more than
        the queueing itself. Emits with an ack callback or binary data take python-socketio's
        own path."""
        if message.get("callback") is not None or message.get("binary"):
            await super()._handle_emit(message)
            return
        namespace = message.get("namespace") or "/"
        if namespace not in self.rooms:
            return
        args = message.get("data")
        if not isinstance(args, list):
            args = [args]
        if args == [None]:
            args = []  # an emit without data, as python-socketio encodes it
        skip = message.get("skip_sid")
        skipped = set(skip) if isinstance(skip, list) else {skip}
        encoded = self.server.packet_class(
            sio_packet.EVENT, namespace=namespace, data=[message["event"], *args]
        ).encode()
        packets = [
            eio_packet.Packet(eio_packet.MESSAGE, part)
            for part in (encoded if isinstance(encoded, list) else [encoded])
        ]
        for sid, eio_sid in self.get_participants(namespace, message.get("room")):
            if sid in skipped:
                continue
            for part in packets:
                await self.server._send_eio_packet(eio_sid, part)

    async def _publish(self, data: dict[str, Any]) -> None:
        self._outgoing.append(data)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="replica-bus-flush")

    async def _flush(self) -> None:
        while self._outgoing:
            await asyncio.sleep(0)  # the rest of this turn's emits join the batch
            batch = self._outgoing[: self._max_batch]
            del self._outgoing[: self._max_batch]
            try:
                await self._send_batch(
                    {"method": "batch", "host_id": self.host_id, "messages": batch}
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # As python-socketio's own publish does when RabbitMQ is gone: the other
                # replicas miss these emits (their clients catch up with `sync`).
                self._get_logger().error(
                    "cannot publish to rabbitmq, emits dropped",
                    extra={"error": repr(exc), "emits": len(batch)},
                )

    async def _send_batch(self, data: dict[str, Any]) -> None:
        """Publish one batch; on a failure, once more on a new connection."""
        body = self.json.dumps(data)
        message = aio_pika.Message(body=body if isinstance(body, bytes) else body.encode())
        for attempt in (1, 2):
            try:
                if self._publisher is None:
                    connection = await aio_pika.connect(self.url, timeout=5)
                    channel = await connection.channel()
                    self._publisher = (connection, await self._exchange(channel))
                _, exchange = self._publisher
                await exchange.publish(message, routing_key="*")
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                await self._drop_publisher()
                if attempt == 2:
                    raise

    async def close(self) -> None:
        """Stop listening and close the publishing connection (shutdown)."""
        listener = getattr(self, "thread", None)  # python-socketio's listening task
        if isinstance(listener, asyncio.Task):
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        await self._drop_publisher()

    async def _drop_publisher(self) -> None:
        if self._publisher is not None:
            connection, _ = self._publisher
            self._publisher = None
            with contextlib.suppress(Exception):
                await connection.close()

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait (a bounded time) for queued emits to leave, at shutdown."""
        if self._flusher is not None and not self._flusher.done():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                async with asyncio.timeout(timeout_s):
                    await asyncio.shield(self._flusher)

    async def _queue(self, channel: Any, exchange: Any) -> Any:
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange)
        return queue

    async def _listen(self) -> AsyncIterator[dict[str, Any]]:  # type: ignore[override]
        retry_sleep = 1.0
        while True:
            try:
                async with await aio_pika.connect(self.url, timeout=5) as connection:
                    channel = await self._channel(connection)
                    await channel.set_qos(prefetch_count=self.prefetch)
                    exchange = await self._exchange(channel)
                    queue = await self._queue(channel, exchange)
                    async with queue.iterator() as messages:
                        async for message in messages:
                            async with message.process():
                                for data in self._unpack(message.body):
                                    yield data
                                retry_sleep = 1.0
                # The iteration ends when the connection is lost: connect again.
                self._get_logger().warning("rabbitmq listener closed, reconnecting")
                await asyncio.sleep(retry_sleep)
            except aio_pika.exceptions.ChannelInvalidStateError:
                # aio-pika raises this when the listening task is cancelled (shutdown).
                raise asyncio.CancelledError() from None
            except Exception as exc:
                self._get_logger().error(
                    "cannot receive from rabbitmq, retrying",
                    extra={"error": repr(exc), "retry_in_s": retry_sleep},
                )
                await asyncio.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, self._max_retry_s)

    def _unpack(self, body: bytes) -> list[dict[str, Any]]:
        try:
            data = self.json.loads(body)
        except ValueError:
            return []
        if not isinstance(data, dict):
            return []
        if data.get("method") != "batch":
            return [data]  # from a replica without batches (during a rolling update)
        if data.get("host_id") == self.host_id:
            return []  # our own emits, already delivered here
        return [m for m in data.get("messages") or [] if isinstance(m, dict)]
