"""`typing` and `stopTyping` of this replica's sockets: to the room's other sockets here and, over
the cluster bus, to the other replicas' (typing is not a stored fact, so no domain event).
Frontends emit `typing` on every keystroke and each one crosses every replica, so a socket's
repeats within `throttle_s` for one conversation are answered but not passed on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from workcity_realtime.adapters.cluster import Typing
from workcity_realtime.adapters.sockets import Emitter, conversation_room


class TypingRelay:
    def __init__(
        self,
        emitter: Emitter,
        tell_cluster: Callable[[Typing], Awaitable[None]],
        replica_id: str,
        *,
        throttle_s: float,
        monotonic: Callable[[], float],
    ) -> None:
        self._emitter = emitter
        self._tell_cluster = tell_cluster
        self._replica_id = replica_id
        self._throttle_s = throttle_s
        self._monotonic = monotonic
        # (socket, conversation) -> when its last `typing` was passed on
        self._sent: dict[tuple[str, str], float] = {}

    async def relay(
        self, sid: str, user: dict[str, str], conversation_id: str, started: bool
    ) -> None:
        key, now = (sid, conversation_id), self._monotonic()
        if started:
            last = self._sent.get(key)
            if last is not None and now - last < self._throttle_s:
                return
            self._sent[key] = now
        else:
            self._sent.pop(key, None)
        body: dict[str, Any] = {"user": user, "conversationId": conversation_id}
        await self.emit(conversation_id, body, started, skip_sid=sid)
        await self._tell_cluster(
            Typing(
                replica=self._replica_id,
                conversation_id=conversation_id,
                user=user,
                started=started,
            )
        )

    async def from_cluster(self, message: Typing) -> None:
        body = {"user": message.user, "conversationId": message.conversation_id}
        await self.emit(message.conversation_id, body, message.started, skip_sid=None)

    async def emit(
        self, conversation_id: str, body: dict[str, Any], started: bool, skip_sid: str | None
    ) -> None:
        room = conversation_room(conversation_id)
        # Both names: frontends of the original listen to one or the other.
        names = ("typing", "userTyping") if started else ("stopTyping", "userStopTyping")
        for name in names:
            await self._emitter.emit(name, body, to=room, skip_sid=skip_sid)

    def forget(self, sid: str) -> None:
        for key in [k for k in self._sent if k[0] == sid]:
            del self._sent[key]
