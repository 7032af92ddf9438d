"""Messages between realtime replicas over RabbitMQ: a fanout exchange, one exclusive auto-delete
queue per replica, transient messages (they only matter to replicas that are up right now).

What travels here is the replicas' own state, not domain facts: presence (a delta on every change
and the full online set as a heartbeat) and typing. Domain events (messages, conversations,
disabled users) reach every replica through its own queue, never through here.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Literal

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from workcity_common.broker import Broker, BrokerUnavailable

log = logging.getLogger(__name__)


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    replica: str


class Hello(_Message):
    """A replica started: the others answer with a heartbeat at once."""

    kind: Literal["hello"] = "hello"


class Heartbeat(_Message):
    kind: Literal["heartbeat"] = "heartbeat"
    users: list[str]


class Bye(_Message):
    """A replica is shutting down: its users are offline unless connected elsewhere."""

    kind: Literal["bye"] = "bye"


class PresenceDelta(_Message):
    kind: Literal["presence"] = "presence"
    user_id: str
    online: bool
    at: datetime


class Typing(_Message):
    """A socket of this replica started or stopped typing in a conversation: the other replicas
    tell their own sockets of the room (typing is not a stored fact, so no domain event)."""

    kind: Literal["typing"] = "typing"
    conversation_id: str
    user: dict[str, str]
    started: bool


ClusterMessage = Annotated[
    Hello | Heartbeat | Bye | PresenceDelta | Typing,
    Field(discriminator="kind"),
]
_adapter: TypeAdapter[ClusterMessage] = TypeAdapter(ClusterMessage)

ClusterHandler = Callable[[ClusterMessage], Awaitable[None]]


class ClusterBus:
    def __init__(self, broker: Broker, exchange_name: str, replica_id: str) -> None:
        self._broker = broker
        self._exchange_name = exchange_name
        self.replica_id = replica_id
        self._handler: ClusterHandler | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._lock = asyncio.Lock()

    def start(self, handler: ClusterHandler) -> None:
        self._handler = handler
        self._broker.on_ready(self._subscribe)

    async def _subscribe(self) -> None:
        channel = await self._broker.channel(prefetch=256)
        exchange = await channel.declare_exchange(
            self._exchange_name, aio_pika.ExchangeType.FANOUT, durable=True
        )
        # Named (replica + a random part, unique even when a restarted replica keeps its id)
        # so the robust connection re-declares the same queue after an outage; exclusive +
        # auto-delete so it disappears with the replica.
        queue = await channel.declare_queue(
            f"{self._exchange_name}.{self.replica_id}.{uuid.uuid4().hex[:8]}",
            exclusive=True,
            auto_delete=True,
            arguments={"x-message-ttl": 60_000},
        )
        await queue.bind(exchange)
        await queue.consume(self._on_message, no_ack=True)
        self._channel, self._exchange = channel, exchange
        log.info("cluster bus ready", extra={"exchange": self._exchange_name})

    @property
    def ready(self) -> bool:
        return self._exchange is not None and self._broker.is_connected

    async def publish(self, message: _Message) -> None:
        """Tell every replica (this one ignores its own). Raises `BrokerUnavailable`."""
        if self._exchange is None or not self._broker.is_connected:
            raise BrokerUnavailable("cluster bus not connected")
        body = message.model_dump_json().encode()
        try:
            await self._exchange.publish(
                aio_pika.Message(body, content_type="application/json"), routing_key=""
            )
        except Exception as exc:
            raise BrokerUnavailable(f"cluster publish failed: {exc!r}") from exc

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            parsed = _adapter.validate_json(message.body)
        except ValidationError as exc:
            log.warning("unreadable cluster message dropped", extra={"error": str(exc)[:500]})
            return
        if parsed.replica == self.replica_id or self._handler is None:
            return
        # One message at a time, in arrival order: presence deltas must not overtake each other.
        async with self._lock:
            try:
                await self._handler(parsed)
            except Exception:
                log.exception("cluster message handler failed", extra={"kind": parsed.kind})
