"""Domain events to this replica's own sockets, each message once and in `seq` order.

Every replica consumes the events from a queue of its own, so a message crosses the broker once
per replica and no replica emits for another. Per conversation this replica remembers the last
`seq` it emitted: a copy of an event already emitted (a redelivery) is skipped, and a gap (events
this replica never got: its queue expired while it was cut off from the broker) is filled from the
conversations service first, with the token of one of the room's sockets. After every reconnect
to the broker, `catch_up` does the same for each room with sockets here, so a message stored while
this replica was cut off reaches its sockets even when no newer message follows.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from workcity_realtime.adapters.conversations import ConversationsPort
from workcity_realtime.adapters.sockets import Emitter, conversation_room, user_room

log = logging.getLogger(__name__)

TokenInRoom = Callable[[str], "str | None"]


class Delivery:
    def __init__(
        self,
        emitter: Emitter,
        conversations: ConversationsPort,
        token_in_room: TokenInRoom,
        *,
        catch_up_limit: int = 200,
        remembered: int = 100_000,
    ) -> None:
        self._emitter = emitter
        self._conversations = conversations
        self._token_in_room = token_in_room
        self._limit = catch_up_limit
        self._remembered = remembered
        # conversation -> last seq emitted here (least recently used first; bounded)
        self._last_seq: OrderedDict[str, int] = OrderedDict()
        # Events and catch-ups one at a time: RabbitMQ hands several deliveries at once, each a
        # task of its own, and two `newMessage`s of a conversation must not overtake each other.
        self.lock = asyncio.Lock()

    def last_seq(self, conversation_id: str) -> int | None:
        return self._last_seq.get(conversation_id)

    async def message_created(
        self, conversation_id: str, message: dict[str, Any], participant_ids: list[str]
    ) -> None:
        seq = message.get("seq")
        if isinstance(seq, int):
            last = self._last_seq.get(conversation_id)
            if last is not None and seq <= last:
                return  # emitted already (a redelivery, or found by a catch-up)
            if last is not None and seq > last + 1:
                await self._fill(conversation_id, last, seq - 1)
            self._remember(conversation_id, seq)
        await self._emitter.emit("newMessage", message, to=conversation_room(conversation_id))
        # Participants who have not opened the chat still learn of it (inbox, unread badges),
        # under a name of its own so a frontend of the original never shows it in the open chat.
        if participant_ids:
            await self._emitter.emit(
                "messageNotification",
                {"conversationId": conversation_id, "message": message},
                to=[user_room(p) for p in participant_ids],
            )

    async def message_updated(self, conversation_id: str, message: dict[str, Any]) -> None:
        await self._emitter.emit("messageUpdated", message, to=conversation_room(conversation_id))

    async def message_deleted(self, conversation_id: str, message_id: str, seq: int) -> None:
        await self._emitter.emit(
            "messageDeleted",
            {"conversationId": conversation_id, "messageId": message_id, "seq": seq},
            to=conversation_room(conversation_id),
        )

    async def message_read(self, conversation_id: str, receipt: dict[str, Any]) -> None:
        await self._emitter.emit("messageRead", receipt, to=conversation_room(conversation_id))

    async def catch_up(self) -> None:
        """After a reconnect to the broker: every room with sockets here gets what it missed."""
        async with self.lock:
            for conversation_id, last in list(self._last_seq.items()):
                await self._fill(conversation_id, last, None)

    async def _fill(self, conversation_id: str, after: int, until: int | None) -> None:
        token = self._token_in_room(conversation_id)
        if token is None:
            return  # nobody here to tell
        try:
            missed = await self._conversations.messages_after(
                token, conversation_id, after, self._limit
            )
        except Exception as exc:
            # The clients still catch up themselves with `sync` (the contract's rule).
            log.warning(
                "catch-up fetch failed",
                extra={"conversation_id": conversation_id, "error": repr(exc)},
            )
            return
        room = conversation_room(conversation_id)
        for message in missed:
            seq = message.get("seq")
            if not isinstance(seq, int) or seq <= after or (until is not None and seq > until):
                continue
            await self._emitter.emit("newMessage", message, to=room)
            after = seq
            self._remember(conversation_id, seq)
        if missed:
            log.info(
                "caught up a room",
                extra={"conversation_id": conversation_id, "messages": len(missed)},
            )

    def _remember(self, conversation_id: str, seq: int) -> None:
        self._last_seq[conversation_id] = seq
        self._last_seq.move_to_end(conversation_id)
        while len(self._last_seq) > self._remembered:
            self._last_seq.popitem(last=False)

    def forget(self, conversation_id: str) -> None:
        self._last_seq.pop(conversation_id, None)
