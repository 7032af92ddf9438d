"""Remembered answers to "is this user in that conversation?" so a client that re-joins a room
(every chat it opens, every reconnect) does not cost a call to the conversations service."""

from __future__ import annotations

from collections import OrderedDict


class MembershipCache:
    def __init__(self, ttl_s: float, max_entries: int = 100_000) -> None:
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str], tuple[bool, float]] = OrderedDict()

    def get(self, user_id: str, conversation_id: str, monotonic: float) -> bool | None:
        """True or False when known and fresh, None when the service must be asked."""
        entry = self._entries.get((user_id, conversation_id))
        if entry is None:
            return None
        allowed, expires = entry
        if monotonic >= expires:
            del self._entries[(user_id, conversation_id)]
            return None
        return allowed

    def put(self, user_id: str, conversation_id: str, allowed: bool, monotonic: float) -> None:
        if self._ttl_s <= 0:
            return
        key = (user_id, conversation_id)
        self._entries[key] = (allowed, monotonic + self._ttl_s)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def forget_conversation(self, conversation_id: str) -> None:
        for key in [k for k in self._entries if k[1] == conversation_id]:
            del self._entries[key]

    def forget_user(self, user_id: str) -> None:
        for key in [k for k in self._entries if k[0] == user_id]:
            del self._entries[key]
