"""The realtime service's use cases: what a socket may do and what a domain event makes this
replica emit. Presence lives in `presence_keeper`, message delivery in `delivery`.

The entrypoints (socket handlers, the event consumer, the cluster bus) parse their input and
call one method here; the adapters (Socket.IO emitter, conversations client, cluster bus) are
passed in, so unit tests run the hub against fakes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workcity_common.domain_errors import Forbidden
from workcity_common.events import STAFF_ROLES, ConversationData, Event, utcnow
from workcity_common.tokens import TokenClaims

from workcity_realtime.adapters.cluster import Typing
from workcity_realtime.adapters.conversations import ConversationsPort
from workcity_realtime.adapters.sockets import Emitter, conversation_room, user_room
from workcity_realtime.domain import payloads
from workcity_realtime.domain.disabled import DisabledUsers
from workcity_realtime.domain.membership import MembershipCache
from workcity_realtime.domain.ordering import FairShare, KeyedSequencer
from workcity_realtime.service_layer.delivery import Delivery
from workcity_realtime.service_layer.presence_keeper import ClusterPort, PresenceKeeper
from workcity_realtime.service_layer.token_expiry import TokenExpiry
from workcity_realtime.service_layer.typing_relay import TypingRelay

log = logging.getLogger(__name__)


class Refused(Forbidden):
    """A command the hub will not carry out; `msg` and `code` go back in the `{error}` ack."""


@dataclass(slots=True)
class SocketUser:
    user_id: str
    email: str
    role: str
    token: str
    session_id: str | None = None  # the login (refresh-token family) of its token

    def to_api(self) -> dict[str, str]:
        return {"_id": self.user_id, "email": self.email, "role": self.role}


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
        self._disabled = DisabledUsers(limits.disabled_user_memory_s)
        # Logins that ended, remembered as long as disabled users (at least a token's lifetime).
        self._ended = DisabledUsers(limits.disabled_user_memory_s)
        self._membership = MembershipCache(limits.membership_cache_s)
        self._sequencer = KeyedSequencer(
            limits.max_pending_per_socket,
            limits.max_pending_per_replica,
            limits.max_pending_per_user,
        )
        self._expiry = TokenExpiry(self._token_expired)
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

    @property
    def emitter(self) -> Emitter:
        return self._emitter

    # --- connections --------------------------------------------------------------------------

    def user_of(self, sid: str) -> SocketUser | None:
        return self._sockets.get(sid)

    def is_disabled(self, user_id: str) -> bool:
        return self._disabled.is_disabled(user_id, self._monotonic())

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

    # --- domain events (every replica handles each, for its own sockets) ----------------------

    @property
    def event_lock(self) -> asyncio.Lock:
        return self.delivery.lock

    async def conversation_created(self, conversation: ConversationData) -> None:
        participants = list(conversation.participants)
        await self.keeper.contacts_added(conversation.id, participants)
        # Each participant gets the view of their role: a customer (or a participant of unknown
        # role) never sees the desk's internals (team, priority, labels, waitingSince, ...).
        staff = [user_room(p.id) for p in participants if p.role in STAFF_ROLES]
        others = [user_room(p.id) for p in participants if p.role not in STAFF_ROLES]
        if staff:
            await self._emitter.emit("conversationCreated", conversation.to_api(), to=staff)
        if others:
            await self._emitter.emit("conversationCreated", conversation.customer_api(), to=others)

    async def conversation_access_changed(
        self, conversation: ConversationData, may_see: Collection[str] | None = None
    ) -> None:
        """Its assignee or team changed: a new assignee is a contact of the others now; who may
        join its room changed (remembered answers go); after a transfer, this replica's sockets
        of anyone not in `may_see` (its audience and participants) leave its room."""
        self._membership.forget_conversation(conversation.id)
        await self.keeper.contacts_added(conversation.id, list(conversation.participants))
        if may_see is None:
            return
        room = conversation_room(conversation.id)
        for sid in self._emitter.members(room):
            user = self._sockets.get(sid)
            if user is not None and user.user_id not in may_see:
                await self._emitter.leave_room(sid, room)

    async def conversation_deleted(self, conversation_id: str, participant_ids: list[str]) -> None:
        self.delivery.forget(conversation_id)
        self._membership.forget_conversation(conversation_id)
        await self.keeper.contacts_removed(conversation_id, participant_ids)
        if participant_ids:
            await self._emitter.emit(
                "conversationDeleted",
                {"conversationId": conversation_id},
                to=[user_room(p) for p in participant_ids],
            )
        await self._emitter.close_room(conversation_room(conversation_id))

    # --- per-replica state kept in step by the domain events ----------------------------------

    async def user_access_changed(
        self, user_id: str, disabled: bool, role: str | None = None
    ) -> None:
        """A disable drops every socket of the user; a role change drops those that were
        authorized under another role (a demoted admin keeps no room it joined as admin: a
        reconnect's joins are checked again by conversations, which knows the new role)."""
        if not disabled:
            self._disabled.enable(user_id)
            stale = [
                sid
                for sid in self.presence.local_sockets(user_id)
                if role is not None and (user := self._sockets.get(sid)) and user.role != role
            ]
            if stale:
                self._membership.forget_user(user_id)
            await self._drop(user_id, stale, "role changed")
            return
        self._disabled.disable(user_id, self._monotonic())
        self._membership.forget_user(user_id)
        await self._drop(user_id, list(self.presence.local_sockets(user_id)), "disabled")

    def session_ended(self, session_id: str | None) -> bool:
        return session_id is not None and self._ended.is_disabled(session_id, self._monotonic())

    async def user_logged_out(self, user_id: str, session_id: str) -> None:
        """A login ended: its still-valid access tokens are refused at connect, and the user's
        sockets opened with them are dropped. A socket whose token carries no session (issued
        before tokens did) cannot be told apart, so it goes too: the user connects again."""
        self._ended.disable(session_id, self._monotonic())
        stale = [
            sid
            for sid in self.presence.local_sockets(user_id)
            if (user := self._sockets.get(sid)) and user.session_id in (session_id, None)
        ]
        await self._drop(user_id, stale, "logged out")

    async def _token_expired(self, sid: str) -> None:
        user = self._sockets.get(sid)
        if user is None:
            return
        await self._emitter.emit("sessionExpired", {"code": "token_expired"}, to=sid)
        await self._drop(user.user_id, [sid], "token expired")

    async def _drop(self, user_id: str, sids: list[str], why: str) -> None:
        for sid in sorted(sids):
            log.info("disconnecting a user's socket", extra={"user_id": user_id, "why": why})
            await self._emitter.disconnect(sid)
            # The server calls our disconnect handler too; this makes sure the state is gone
            # even if it does not (the socket may already be half-closed).
            await self.disconnect(sid)

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
