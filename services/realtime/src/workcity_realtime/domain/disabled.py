"""Users disabled by an admin. Their access tokens stay valid until they expire, so each replica
refuses their handshakes for a while (at least the access-token lifetime) after hearing of it."""

from __future__ import annotations


class DisabledUsers:
    def __init__(self, memory_s: float) -> None:
        self._memory_s = memory_s
        self._until: dict[str, float] = {}

    def disable(self, user_id: str, monotonic: float) -> None:
        self._until[user_id] = monotonic + self._memory_s

    def enable(self, user_id: str) -> None:
        self._until.pop(user_id, None)

    def is_disabled(self, user_id: str, monotonic: float) -> bool:
        until = self._until.get(user_id)
        if until is None:
            return False
        if monotonic >= until:
            del self._until[user_id]
            return False
        return True
