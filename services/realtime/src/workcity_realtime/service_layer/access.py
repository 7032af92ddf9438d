"""Who may still hold a socket or a room on this replica, kept in step by the domain events.

Every replica handles each event for its own sockets: a disabled user, an ended login or an
expired token drops the sockets concerned (and the first two are refused at connect for a while);
a conversation created, transferred or deleted changes the contacts, the remembered membership
answers and who stays in its room. The hub owns an `Access` and hands it the registry of this
replica's sockets (read here, written only by the hub's connect and disconnect) and the hub's own
`disconnect`, which forgets a dropped socket.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass

from workcity_common.events import STAFF_ROLES, ConversationData

from workcity_realtime.adapters.sockets import Emitter, conversation_room, user_room
from workcity_realtime.domain.disabled import DisabledUsers
from workcity_realtime.domain.membership import MembershipCache
from workcity_realtime.service_layer.delivery import Delivery
from workcity_realtime.service_layer.presence_keeper import PresenceKeeper

log = logging.getLogger(__name__)


@dataclass(slots=True)
class SocketUser:
    user_id: str
    email: str
    role: str
    token: str
    session_id: str | None = None  # the login (refresh-token family) of its token

    def to_api(self) -> dict[str, str]:
        return {"_id": self.user_id, "email": self.email, "role": self.role}


class Access:
    def __init__(
        self,
        emitter: Emitter,
        sockets: Mapping[str, SocketUser],
        disconnect: Callable[[str], Awaitable[None]],
        keeper: PresenceKeeper,
        delivery: Delivery,
        membership: MembershipCache,
        *,
        memory_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emitter = emitter
        self._sockets = sockets
        self._disconnect = disconnect
        self._keeper = keeper
        self._delivery = delivery
        self._membership = membership
        self._monotonic = monotonic
        self._disabled = DisabledUsers(memory_s)
        # Logins that ended, remembered as long as disabled users (at least a token's lifetime).
        self._ended = DisabledUsers(memory_s)

    # --- users and logins ---------------------------------------------------------------------

    def is_disabled(self, user_id: str) -> bool:
        return self._disabled.is_disabled(user_id, self._monotonic())

    def session_ended(self, session_id: str | None) -> bool:
        return session_id is not None and self._ended.is_disabled(session_id, self._monotonic())

    async def user_access_changed(
        self, user_id: str, disabled: bool, role: str | None = None
    ) -> None:
        """A disable drops every socket of the user; a role change drops those that were
        authorized under another role (a demoted admin keeps no room it joined as admin: a
        reconnect's joins are checked again by conversations, which knows the new role)."""
        presence = self._keeper.presence
        if not disabled:
            self._disabled.enable(user_id)
            stale = [
                sid
                for sid in presence.local_sockets(user_id)
                if role is not None and (user := self._sockets.get(sid)) and user.role != role
            ]
            if stale:
                self._membership.forget_user(user_id)
            await self._drop(user_id, stale, "role changed")
            return
        self._disabled.disable(user_id, self._monotonic())
        self._membership.forget_user(user_id)
        await self._drop(user_id, list(presence.local_sockets(user_id)), "disabled")

    async def user_logged_out(self, user_id: str, session_id: str) -> None:
        """A login ended: its still-valid access tokens are refused at connect, and the user's
        sockets opened with them are dropped. A socket whose token carries no session (issued
        before tokens did) cannot be told apart, so it goes too: the user connects again."""
        self._ended.disable(session_id, self._monotonic())
        stale = [
            sid
            for sid in self._keeper.presence.local_sockets(user_id)
            if (user := self._sockets.get(sid)) and user.session_id in (session_id, None)
        ]
        await self._drop(user_id, stale, "logged out")

    async def token_expired(self, sid: str) -> None:
        user = self._sockets.get(sid)
        if user is None:
            return
        await self._emitter.emit("sessionExpired", {"code": "token_expired"}, to=sid)
        await self._drop(user.user_id, [sid], "token expired")

    async def _drop(self, user_id: str, sids: list[str], why: str) -> None:
        for sid in sorted(sids):
            log.info("disconnecting a user's socket", extra={"user_id": user_id, "why": why})
            await self._emitter.disconnect(sid)
            # The server calls the hub's disconnect handler too; this makes sure the state is
            # gone even if it does not (the socket may already be half-closed).
            await self._disconnect(sid)

    # --- conversations ------------------------------------------------------------------------

    async def conversation_created(self, conversation: ConversationData) -> None:
        participants = list(conversation.participants)
        await self._keeper.contacts_added(conversation.id, participants)
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
        await self._keeper.contacts_added(conversation.id, list(conversation.participants))
        if may_see is None:
            return
        room = conversation_room(conversation.id)
        for sid in self._emitter.members(room):
            user = self._sockets.get(sid)
            if user is not None and user.user_id not in may_see:
                await self._emitter.leave_room(sid, room)

    async def conversation_deleted(self, conversation_id: str, participant_ids: list[str]) -> None:
        self._delivery.forget(conversation_id)
        self._membership.forget_conversation(conversation_id)
        await self._keeper.contacts_removed(conversation_id, participant_ids)
        if participant_ids:
            await self._emitter.emit(
                "conversationDeleted",
                {"conversationId": conversation_id},
                to=[user_room(p) for p in participant_ids],
            )
        await self._emitter.close_room(conversation_room(conversation_id))
