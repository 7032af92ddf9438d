"""Presence across replicas and each user's contacts: who is online, told to the people who share
a conversation with them and no one else.

Each replica knows its own sockets exactly and hears the others' over the cluster bus (a delta
on every change, the full set as a heartbeat); it tells its own sockets only. Cluster-wide changes
also go out as `presence.changed` domain events, best effort.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any, Protocol

from workcity_common.broker import BrokerUnavailable
from workcity_common.events import Event, PresenceChanged, PresenceData, UserRef

from workcity_realtime.adapters.cluster import Bye, Heartbeat, Hello, PresenceDelta
from workcity_realtime.adapters.conversations import ConversationsPort
from workcity_realtime.adapters.sockets import Emitter, user_room
from workcity_realtime.domain.presence import (
    Contact,
    ContactBook,
    PresenceChange,
    PresenceRegistry,
)

log = logging.getLogger(__name__)


class ClusterPort(Protocol):
    replica_id: str

    async def publish(self, message: Any) -> None: ...


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _contact(raw: Any) -> Contact | None:
    if not isinstance(raw, dict):
        return None
    user_id, email = raw.get("_id") or raw.get("id"), raw.get("email")
    if not isinstance(user_id, str) or not isinstance(email, str):
        return None
    role = raw.get("role")
    return Contact(user_id, email, role if isinstance(role, str) else None)


class PresenceKeeper:
    def __init__(
        self,
        emitter: Emitter,
        conversations: ConversationsPort,
        cluster: ClusterPort,
        *,
        ttl_s: float,
        contacts_load_attempts: int,
        monotonic: Callable[[], float],
        now: Callable[[], datetime],
        publish_event: Callable[[Event], Awaitable[None]] | None,
    ) -> None:
        self._emitter = emitter
        self._conversations = conversations
        self._cluster = cluster
        self._contacts_load_attempts = contacts_load_attempts
        self._monotonic = monotonic
        self._now = now
        # None: `presence.changed` is not published.
        self._publish_event = publish_event
        self.presence = PresenceRegistry(ttl_s)
        self.contacts = ContactBook()
        # user id -> {_id, email, role} of a user with a socket here: their own `onlineUsers`
        # entry (the list holds the user themself, as the original's does).
        self._profiles: dict[str, dict[str, str]] = {}
        self._background: set[asyncio.Task[None]] = set()

    # --- this replica's sockets ---------------------------------------------------------------

    async def socket_connected(
        self, user_id: str, sid: str, token: str, profile: dict[str, str]
    ) -> None:
        self._profiles[user_id] = profile
        first_here, change = self.presence.connect(user_id, sid)
        if first_here:
            await self.tell_cluster(
                PresenceDelta(
                    replica=self._cluster.replica_id, user_id=user_id, online=True, at=self._now()
                )
            )
        if change is not None:
            await self._notify_presence([change])
            await self._publish_presence([change])
        if self.contacts.is_tracked(user_id):
            await self._send_online_users(user_id, to_sid=sid)
        else:
            self.contacts.track(user_id)
            self._spawn(self._load_contacts(user_id, token), f"contacts-{user_id}")

    async def socket_disconnected(self, user_id: str, sid: str) -> None:
        now = self._now()
        last_here, change = self.presence.disconnect(user_id, sid, now)
        if last_here:
            self.contacts.forget(user_id)
            self._profiles.pop(user_id, None)
            await self.tell_cluster(
                PresenceDelta(
                    replica=self._cluster.replica_id, user_id=user_id, online=False, at=now
                )
            )
        if change is not None:
            await self._notify_presence([change])
            await self._publish_presence([change])

    # --- contacts (from conversation.created / deleted) ---------------------------------------

    async def contacts_added(self, conversation_id: str, participants: Iterable[UserRef]) -> None:
        people = [Contact(p.id, p.email, p.role) for p in participants]
        added = self.contacts.add_conversation(conversation_id, people)
        watchers: set[str] = set()
        for watcher, contact_id in added:
            if self.presence.is_online(contact_id):
                await self._emitter.emit(
                    "presence", self._presence_body(contact_id), to=user_room(watcher)
                )
                watchers.add(watcher)
        for watcher in sorted(watchers):
            await self._send_online_users(watcher)

    async def contacts_removed(self, conversation_id: str, participant_ids: Iterable[str]) -> None:
        removed = self.contacts.remove_conversation(conversation_id, participant_ids)
        for watcher in sorted({w for w, _ in removed}):
            await self._send_online_users(watcher)

    # --- the other replicas -------------------------------------------------------------------

    async def handle_cluster(self, message: Any) -> None:
        monotonic, now = self._monotonic(), self._now()
        match message:
            case Hello():
                await self.heartbeat()
            case Heartbeat(replica=replica, users=users):
                await self._notify_presence(self.presence.heartbeat(replica, users, monotonic, now))
            case PresenceDelta(replica=replica, user_id=user_id, online=online, at=at):
                await self._notify_presence(
                    self.presence.remote_change(replica, user_id, online, monotonic, at)
                )
            case Bye(replica=replica):
                changes = self.presence.replica_gone(replica, now)
                await self._notify_presence(changes)
                await self._publish_presence(changes)

    # --- heartbeats -----------------------------------------------------------------------------

    async def heartbeat(self) -> None:
        """Announce this replica's online users; forget replicas that went quiet."""
        await self.tell_cluster(
            Heartbeat(replica=self._cluster.replica_id, users=sorted(self.presence.local_users()))
        )
        await self.expire()

    async def expire(self) -> None:
        changes = self.presence.expire(self._monotonic(), self._now())
        await self._notify_presence(changes)
        await self._publish_presence(changes)

    async def hello(self) -> None:
        await self.tell_cluster(Hello(replica=self._cluster.replica_id))

    async def goodbye(self) -> None:
        await self.tell_cluster(Bye(replica=self._cluster.replica_id))

    def _presence_body(self, user_id: str) -> dict[str, Any]:
        online = self.presence.is_online(user_id)
        return {
            "userId": user_id,
            "online": online,
            "lastSeen": None if online else _iso(self.presence.last_seen(user_id)),
        }

    def profile_changed(self, user_id: str, profile: dict[str, str]) -> None:
        if user_id in self._profiles:
            self._profiles[user_id] = profile

    def online_users(self, user_id: str) -> list[dict[str, str]]:
        """The user themself, then their online contacts."""
        own = self._profiles.get(user_id)
        contacts = [
            c.to_api()
            for c in self.contacts.contacts_of(user_id)
            if c.id != user_id and self.presence.is_online(c.id)
        ]
        return [own, *contacts] if own is not None else contacts

    async def _send_online_users(self, user_id: str, *, to_sid: str | None = None) -> None:
        # Every replica tells its own sockets: no replica emits for another's.
        await self._emitter.emit(
            "onlineUsers", self.online_users(user_id), to=to_sid or user_room(user_id)
        )

    async def _notify_presence(self, changes: list[PresenceChange]) -> None:
        if not changes:
            return
        touched: set[str] = set()
        for change in changes:
            body = {
                "userId": change.user_id,
                "online": change.online,
                "lastSeen": _iso(change.last_seen),
            }
            for watcher in sorted(self.contacts.watchers_of(change.user_id)):
                await self._emitter.emit("presence", body, to=user_room(watcher))
                touched.add(watcher)
        for watcher in sorted(touched):
            await self._send_online_users(watcher)

    async def _publish_presence(self, changes: list[PresenceChange]) -> None:
        """Best effort, like presence itself: a change caused by this replica's own socket is
        published by this replica only; one found by every replica (a replica that left or went
        silent) by each of them — duplicates are harmless, the latest `occurred_at` wins."""
        if self._publish_event is None:
            return
        for change in changes:
            event = PresenceChanged(
                producer="realtime",
                occurred_at=change.last_seen or self._now(),
                data=PresenceData(
                    user_id=change.user_id, online=change.online, last_seen=change.last_seen
                ),
            )
            try:
                await self._publish_event(event)
            except Exception as exc:
                log.warning(
                    "presence event not published",
                    extra={"user_id": change.user_id, "error": repr(exc)},
                )

    async def _load_contacts(self, user_id: str, token: str) -> None:
        delay = 0.5
        for attempt in range(1, self._contacts_load_attempts + 1):
            if not self.contacts.is_tracked(user_id):
                return  # the user left before we got here
            try:
                conversations = await self._conversations.list_conversations(token)
                break
            except Exception as exc:
                log.warning(
                    "could not load contacts",
                    extra={"user_id": user_id, "attempt": attempt, "error": repr(exc)},
                )
                await asyncio.sleep(delay)
                delay *= 4
        else:
            return
        if not self.contacts.is_tracked(user_id):
            return
        for conversation in conversations:
            conversation_id = conversation.get("_id")
            people = [c for c in map(_contact, conversation.get("participants") or []) if c]
            if isinstance(conversation_id, str) and any(p.id == user_id for p in people):
                self.contacts.add_conversation(conversation_id, people)
        await self._send_online_users(user_id)

    # --- plumbing -----------------------------------------------------------------------------

    async def tell_cluster(self, message: Any) -> None:
        """Best effort: a lost presence message is repaired by the next heartbeat."""
        try:
            await self._cluster.publish(message)
        except BrokerUnavailable as exc:
            log.warning("cluster message not sent", extra={"kind": message.kind, "error": str(exc)})

    def _spawn(self, coroutine: Any, name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
