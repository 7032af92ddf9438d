"""The realtime service's socket commands (connect, rooms, sends, read marks, sync, typing) and
the wiring of the use cases beside them: who may still hold a socket or a room lives in
`access`, presence in `presence_keeper`, message delivery in `delivery`, typing in
`typing_relay`, a socket's end at its token's expiry in `token_expiry`.

The entrypoints (socket handlers, the event consumer, the cluster bus) parse their input and
call one method here, which carries out a command or hands the event on; the adapters (Socket.IO
emitter, conversations client, cluster bus) are passed in, so unit tests run the hub against
fakes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workcity_common.domain_errors import Forbidden
from workcity_common.events import ConversationData, Event, utcnow
from workcity_common.tokens import TokenClaims

from workcity_realtime.adapters.cluster import Typing
from workcity_realtime.adapters.conversations import ConversationsPort
from workcity_realtime.adapters.sockets import Emitter, conversation_room, user_room
from workcity_realtime.domain import payloads
from workcity_realtime.domain.membership import MembershipCache
from workcity_realtime.domain.ordering import FairShare, KeyedSequencer
from workcity_realtime.service_layer.access import Access, SocketUser
from workcity_realtime.service_layer.delivery import Delivery
from workcity_realtime.service_layer.presence_keeper import ClusterPort, PresenceKeeper
from workcity_realtime.service_layer.token_expiry import TokenExpiry
from workcity_realtime.service_layer.typing_relay import TypingRelay


class Refused(Forbidden):
    """A command the hub will not carry out; `msg` and `code` go back in the `{error}` ack."""


@dataclass(frozen=True, slots=True)
class HubLimits:
    """Every bound the hub keeps, counts and time spans; main.py fills it from RealtimeSettings
    (the environment), the unit tests from their own figures."""

    payload: payloads.PayloadLimits = field(default_factory=payloads.PayloadLimits)
    membership_cache_s: float = 30.0
    max_pending_per_socket: int = 100
    max_pending_per_replica: int | None = None
    presence_ttl_s: float = 15.0
    disabled_user_memory_s: float = 3600.0
    contacts_load_attempts: int = 3
    typing_throttle_s: float = 1.0
    max_sockets_per_user: int | None = None
    max_pending_per_user: int | None = None
    max_calls_per_socket: int = 4
    max_calls_per_user: int = 10


class Hub:
    def __init__(
        self,
        emitter: Emitter,
        conversations: ConversationsPort,
        cluster: ClusterPort,
        limits: HubLimits | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = utcnow,
        publish_event: Callable[[Event], Awaitable[None]] | None = None,
    ) -> None:
        self._emitter = emitter
        self._conversations = conversations
        self._cluster = cluster
        self._limits = limits = limits or HubLimits()
        self._monotonic = monotonic
        self._now = now
        self._sockets: dict[str, SocketUser] = {}
        self._per_user: dict[str, int] = {}  # user id -> sockets here (counted before any await)
        self.keeper = PresenceKeeper(
            emitter,
            conversations,
            cluster,
            ttl_s=limits.presence_ttl_s,
            contacts_load_attempts=limits.contacts_load_attempts,
            monotonic=monotonic,
            now=now,
            publish_event=publish_event,
        )
        self.presence = self.keeper.presence
        self.contacts = self.keeper.contacts
        self._membership = MembershipCache(limits.membership_cache_s)
        self._sequencer = KeyedSequencer(
            limits.max_pending_per_socket,
            limits.max_pending_per_replica,
            limits.max_pending_per_user,
        )
        self._calls = FairShare(limits.max_calls_per_socket, limits.max_calls_per_user)
        self._typing = TypingRelay(
            emitter,
            self.keeper.tell_cluster,
            cluster.replica_id,
            throttle_s=limits.typing_throttle_s,
            monotonic=monotonic,
        )
        self.delivery = Delivery(
            emitter,
            conversations,
            self._token_in_room,
            catch_up_limit=limits.payload.sync_max_limit,
        )
        self.access = Access(
            emitter,
            self._sockets,
            self.disconnect,
            self.keeper,
            self.delivery,
            self._membership,
            memory_s=limits.disabled_user_memory_s,
            monotonic=monotonic,
        )
        self._expiry = TokenExpiry(self.access.token_expired)

    @property
    def emitter(self) -> Emitter:
        return self._emitter

    # --- connections --------------------------------------------------------------------------

    def user_of(self, sid: str) -> SocketUser | None:
        return self._sockets.get(sid)

    def is_disabled(self, user_id: str) -> bool:
        return self.access.is_disabled(user_id)

    def session_ended(self, session_id: str | None) -> bool:
        return self.access.session_ended(session_id)

    async def connect(self, sid: str, claims: TokenClaims, token: str) -> None:
        if self.is_disabled(claims.user_id):
            raise Refused("Authentication error: account disabled", "account_disabled")
        if self.session_ended(claims.session_id):
            raise Refused("Authentication error: logged out", "logged_out")
        limit = self._limits.max_sockets_per_user
        if limit is not None and self._per_user.get(claims.user_id, 0) >= limit:
            raise Refused(
                f"Too many connections: at most {limit} sockets per user", "too_many_sockets"
            )
        self._per_user[claims.user_id] = self._per_user.get(claims.user_id, 0) + 1
        user = SocketUser(claims.user_id, claims.email, claims.role, token, claims.session_id)
        self._sockets[sid] = user
        self._expiry.arm(sid, claims.expires_at)
        await self._emitter.enter_room(sid, user_room(user.user_id))
        await self.keeper.socket_connected(user.user_id, sid, token, user.to_api())

    async def disconnect(self, sid: str) -> None:
        user = self._sockets.pop(sid, None)
        if user is None:
            return
        left = self._per_user.pop(user.user_id, 1) - 1
        if left > 0:
            self._per_user[user.user_id] = left
        self._typing.forget(sid)
        self._expiry.cancel(sid)
        await self.keeper.socket_disconnected(user.user_id, sid)

    async def refresh_token(self, sid: str, claims: TokenClaims, token: str) -> dict[str, Any]:
        """A long-lived socket swaps in a fresh access token (used for its calls to the API)."""
        user = self._require(sid)
        if claims.user_id != user.user_id:
            raise Refused("The token belongs to another user", "wrong_user")
        user.token, user.email, user.role = token, claims.email, claims.role
        user.session_id = claims.session_id
        self._expiry.arm(sid, claims.expires_at)  # its end moves with the fresh token
        self.keeper.profile_changed(user.user_id, user.to_api())
        return {"ok": True}

    # --- rooms --------------------------------------------------------------------------------

    async def join(self, sid: str, payload: Any) -> dict[str, Any]:
        conversation_id = payloads.conversation_ref(payload)
        user = self._require(sid)
        # In the socket's chain with its sends: a `sendMessage` emitted right after the join
        # (without waiting for its ack, as the original's frontend does) comes after it.
        async with self._sequencer.turn(sid, user.user_id), self._calls.slot(sid, user.user_id):
            await self._check_member(user, conversation_id)
            if sid not in self._sockets:  # disconnected while we asked
                raise Refused("Socket disconnected", "disconnected")
            await self._emitter.enter_room(sid, conversation_room(conversation_id))
        return {"ok": True, "conversationId": conversation_id}

    async def _check_member(self, user: SocketUser, conversation_id: str) -> None:
        allowed = self._membership.get(user.user_id, conversation_id, self._monotonic())
        if allowed is None:
            allowed = await self._conversations.is_member(user.token, conversation_id)
            self._membership.put(user.user_id, conversation_id, allowed, self._monotonic())
        if not allowed:
            raise Refused("You are not a participant of this conversation", "forbidden")

    async def leave(self, sid: str, payload: Any) -> dict[str, Any]:
        conversation_id = payloads.conversation_ref(payload)
        self._require(sid)
        await self._emitter.leave_room(sid, conversation_room(conversation_id))
        return {"ok": True, "conversationId": conversation_id}

    def has_joined(self, sid: str, conversation_id: str) -> bool:
        return conversation_room(conversation_id) in self._emitter.rooms(sid)

    # --- commands forwarded to the conversations service --------------------------------------

    async def send_message(self, sid: str, payload: Any) -> dict[str, Any]:
        command = payloads.send_message(payload, self._limits.payload)
        user = self._require(sid)
        # Taken before the first await: this socket's sends reach the API in the order sent.
        async with self._sequencer.turn(sid, user.user_id):
            return await self._conversations.post_message(
                user.token, command.conversation_id, command.to_request()
            )

    async def mark_read(self, sid: str, payload: Any) -> dict[str, Any]:
        command = payloads.mark_read(payload)
        user = self._require(sid)
        # Same chain as sends: "read up to what I just sent" must not overtake the send.
        async with self._sequencer.turn(sid, user.user_id):
            result = await self._conversations.mark_read(
                user.token, command.conversation_id, command.seq
            )
        return result or {"ok": True}

    async def sync(self, sid: str, payload: Any) -> dict[str, Any]:
        command = payloads.sync(payload, self._limits.payload)
        user = self._require(sid)
        async with self._calls.slot(sid, user.user_id):
            messages = await self._conversations.messages_after(
                user.token, command.conversation_id, command.after_seq, command.limit
            )
        return {
            "conversationId": command.conversation_id,
            "messages": messages,
            "hasMore": len(messages) >= command.limit,
        }

    async def typing(self, sid: str, payload: Any, *, started: bool) -> dict[str, Any]:
        conversation_id = payloads.conversation_ref(payload)
        user = self._require(sid)
        if not self.has_joined(sid, conversation_id):
            # A participant need not have joined (the original's frontend emits `typing` right
            # after `joinConversation`); a non-participant's typing reaches no one.
            async with self._calls.slot(sid, user.user_id):
                await self._check_member(user, conversation_id)
        await self._typing.relay(sid, user.to_api(), conversation_id, started)
        return {"ok": True}

    def _require(self, sid: str) -> SocketUser:
        user = self._sockets.get(sid)
        if user is None:
            raise Refused("Socket not authenticated", "unauthorized")
        return user

    def _token_in_room(self, conversation_id: str) -> str | None:
        """A token of one of this replica's sockets in the room (for a catch-up fetch)."""
        for sid in self._emitter.members(conversation_room(conversation_id)):
            user = self._sockets.get(sid)
            if user is not None:
                return user.token
        return None

    # --- domain events (every replica handles each, for its own sockets; `access` keeps the
    # state they change)

    @property
    def event_lock(self) -> asyncio.Lock:
        return self.delivery.lock

    async def conversation_created(self, conversation: ConversationData) -> None:
        await self.access.conversation_created(conversation)

    async def conversation_access_changed(
        self, conversation: ConversationData, may_see: Collection[str] | None = None
    ) -> None:
        await self.access.conversation_access_changed(conversation, may_see)

    async def conversation_deleted(self, conversation_id: str, participant_ids: list[str]) -> None:
        await self.access.conversation_deleted(conversation_id, participant_ids)

    async def user_access_changed(
        self, user_id: str, disabled: bool, role: str | None = None
    ) -> None:
        await self.access.user_access_changed(user_id, disabled, role)

    async def user_logged_out(self, user_id: str, session_id: str) -> None:
        await self.access.user_logged_out(user_id, session_id)

    # --- the other replicas and presence ------------------------------------------------------

    async def handle_cluster(self, message: Any) -> None:
        if isinstance(message, Typing):
            await self._typing.from_cluster(message)
        else:
            await self.keeper.handle_cluster(message)

    async def heartbeat(self) -> None:
        await self.keeper.heartbeat()

    async def expire(self) -> None:
        await self.keeper.expire()

    async def hello(self) -> None:
        await self.keeper.hello()

    async def goodbye(self) -> None:
        await self.keeper.goodbye()

    def online_users(self, user_id: str) -> list[dict[str, str]]:
        return self.keeper.online_users(user_id)

    async def close(self) -> None:
        await self._expiry.close()
        await self.keeper.close()
