"""Who is online across every replica, and who may be told about it. Pure bookkeeping: time is
passed in, nothing here does I/O.

`PresenceRegistry`: each replica knows its own sockets exactly and learns the others' online
users from their messages (a delta on every change, the full set as a heartbeat). A replica not
heard from for `ttl_s` is presumed dead and its users count as offline. A user is online while
any live replica has a socket of theirs.

`ContactBook`: for the users with sockets on this replica, whom they share a conversation with.
Presence of a user is told only to their contacts (the contract scopes it so).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class PresenceChange:
    user_id: str
    online: bool
    last_seen: datetime | None  # None while online


@dataclass(slots=True)
class _Replica:
    users: set[str]
    heard_at: float


class PresenceRegistry:
    def __init__(self, ttl_s: float) -> None:
        self._ttl_s = ttl_s
        self._local: dict[str, set[str]] = {}  # user id -> socket ids on this replica
        self._remote: dict[str, _Replica] = {}  # replica id -> what it last told us
        self._last_seen: dict[str, datetime] = {}

    # --- this replica -------------------------------------------------------------------------

    def connect(self, user_id: str, sid: str) -> tuple[bool, PresenceChange | None]:
        """Record a socket. Returns (first socket of this user here, global change if any)."""
        was_online = self.is_online(user_id)
        sockets = self._local.setdefault(user_id, set())
        first_here = not sockets
        sockets.add(sid)
        change = None if was_online else PresenceChange(user_id, True, None)
        return first_here, change

    def disconnect(
        self, user_id: str, sid: str, now: datetime
    ) -> tuple[bool, PresenceChange | None]:
        """Forget a socket. Returns (last socket of this user here, global change if any)."""
        sockets = self._local.get(user_id)
        if sockets is None or sid not in sockets:
            return False, None
        sockets.discard(sid)
        if sockets:
            return False, None
        del self._local[user_id]
        self._last_seen[user_id] = now
        if self.is_online(user_id):
            return True, None
        return True, PresenceChange(user_id, False, now)

    def local_users(self) -> set[str]:
        return set(self._local)

    def local_sockets(self, user_id: str) -> set[str]:
        return set(self._local.get(user_id, ()))

    def has_local(self, user_id: str) -> bool:
        return user_id in self._local

    # --- the other replicas -------------------------------------------------------------------

    def heartbeat(
        self, replica: str, users: Iterable[str], monotonic: float, now: datetime
    ) -> list[PresenceChange]:
        """A replica's full online set; replaces what we knew of it."""
        return self._replace(replica, set(users), monotonic, now)

    def remote_change(
        self, replica: str, user_id: str, online: bool, monotonic: float, now: datetime
    ) -> list[PresenceChange]:
        """One user came or went on another replica."""
        known = self._remote.get(replica)
        users = set(known.users) if known else set()
        if online:
            users.add(user_id)
        else:
            users.discard(user_id)
        return self._replace(replica, users, monotonic, now)

    def replica_gone(self, replica: str, now: datetime) -> list[PresenceChange]:
        """A replica said goodbye (graceful shutdown)."""
        known = self._remote.pop(replica, None)
        if known is None:
            return []
        return self._went_offline(known.users, now)

    def expire(self, monotonic: float, now: datetime) -> list[PresenceChange]:
        """Drop replicas not heard from within the TTL; their users go offline."""
        dead = [r for r, s in self._remote.items() if monotonic - s.heard_at > self._ttl_s]
        changes: list[PresenceChange] = []
        for replica in dead:
            changes.extend(self.replica_gone(replica, now))
        return changes

    def _replace(
        self, replica: str, users: set[str], monotonic: float, now: datetime
    ) -> list[PresenceChange]:
        known = self._remote.get(replica)
        before = known.users if known else set()
        touched = before ^ users
        was = {u: self.is_online(u) for u in touched}
        self._remote[replica] = _Replica(users, monotonic)
        changes: list[PresenceChange] = []
        for user_id in sorted(touched):
            online = self.is_online(user_id)
            if online == was[user_id]:
                continue
            if online:
                changes.append(PresenceChange(user_id, True, None))
            else:
                self._last_seen[user_id] = now
                changes.append(PresenceChange(user_id, False, now))
        return changes

    def _went_offline(self, users: Iterable[str], now: datetime) -> list[PresenceChange]:
        changes = []
        for user_id in sorted(users):
            if not self.is_online(user_id):
                self._last_seen[user_id] = now
                changes.append(PresenceChange(user_id, False, now))
        return changes

    # --- queries ------------------------------------------------------------------------------

    def is_online(self, user_id: str) -> bool:
        if user_id in self._local:
            return True
        return any(user_id in r.users for r in self._remote.values())

    def last_seen(self, user_id: str) -> datetime | None:
        return None if self.is_online(user_id) else self._last_seen.get(user_id)

    def replicas(self) -> set[str]:
        return set(self._remote)


@dataclass(slots=True)
class Contact:
    id: str
    email: str
    role: str | None = None

    def to_api(self) -> dict[str, str]:
        out = {"_id": self.id, "email": self.email}
        if self.role:
            out["role"] = self.role
        return out


@dataclass(slots=True)
class _Book:
    # contact id -> the conversations shared with them (a pair may share more than one)
    contacts: dict[str, set[str]] = field(default_factory=dict)


class ContactBook:
    """Contacts of the users tracked on this replica (those with a socket here)."""

    def __init__(self) -> None:
        self._books: dict[str, _Book] = {}
        self._watchers: dict[str, set[str]] = {}  # contact id -> tracked users who see them
        self._profiles: dict[str, Contact] = {}

    def track(self, user_id: str) -> None:
        self._books.setdefault(user_id, _Book())

    def is_tracked(self, user_id: str) -> bool:
        return user_id in self._books

    def forget(self, user_id: str) -> None:
        book = self._books.pop(user_id, None)
        if book is None:
            return
        for contact_id in book.contacts:
            watchers = self._watchers.get(contact_id)
            if watchers is not None:
                watchers.discard(user_id)
                if not watchers:
                    del self._watchers[contact_id]
                    self._profiles.pop(contact_id, None)

    def add_conversation(
        self, conversation_id: str, participants: Iterable[Contact]
    ) -> list[tuple[str, str]]:
        """Returns the new (tracked user, contact) pairs."""
        people = list(participants)
        added: list[tuple[str, str]] = []
        for user in people:
            book = self._books.get(user.id)
            if book is None:
                continue
            for other in people:
                if other.id == user.id:
                    continue
                shared = book.contacts.setdefault(other.id, set())
                if not shared:
                    added.append((user.id, other.id))
                    self._watchers.setdefault(other.id, set()).add(user.id)
                shared.add(conversation_id)
                self._profiles[other.id] = other
        return added

    def remove_conversation(
        self, conversation_id: str, participant_ids: Iterable[str]
    ) -> list[tuple[str, str]]:
        """Returns the (tracked user, contact) pairs that no longer share any conversation."""
        ids = list(participant_ids)
        removed: list[tuple[str, str]] = []
        for user_id in ids:
            book = self._books.get(user_id)
            if book is None:
                continue
            for other_id in ids:
                shared = book.contacts.get(other_id)
                if other_id == user_id or shared is None:
                    continue
                shared.discard(conversation_id)
                if shared:
                    continue
                del book.contacts[other_id]
                removed.append((user_id, other_id))
                watchers = self._watchers.get(other_id)
                if watchers is not None:
                    watchers.discard(user_id)
                    if not watchers:
                        del self._watchers[other_id]
                        self._profiles.pop(other_id, None)
        return removed

    def watchers_of(self, user_id: str) -> set[str]:
        return set(self._watchers.get(user_id, ()))

    def contacts_of(self, user_id: str) -> list[Contact]:
        book = self._books.get(user_id)
        if book is None:
            return []
        return [self._profiles[c] for c in sorted(book.contacts) if c in self._profiles]
