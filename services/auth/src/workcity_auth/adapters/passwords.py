"""bcrypt, run in a worker thread so a hash (about 0.25 s at cost 12) never blocks the loop."""

from __future__ import annotations

import asyncio

import bcrypt

from workcity_auth.domain.rules import BCRYPT_MAX_BYTES


class PasswordHasher:
    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        # Compared against when the email is unknown, so that answer takes as long as a wrong
        # password for a known email (no user enumeration by timing).
        self._dummy_hash = bcrypt.hashpw(b"dummy password", bcrypt.gensalt(rounds))

    async def hash(self, password: str) -> str:
        hashed = await asyncio.to_thread(
            bcrypt.hashpw, password.encode("utf-8"), bcrypt.gensalt(self.rounds)
        )
        return hashed.decode("ascii")

    async def verify(self, password: str, hashed: str | None) -> bool:
        candidate = hashed.encode("ascii") if hashed else self._dummy_hash
        secret = password.encode("utf-8")
        # bcrypt raises past 72 bytes, and signup never stored such a password: it cannot match.
        # The dummy hash is still checked, so the answer takes as long as any wrong password.
        too_long = len(secret) > BCRYPT_MAX_BYTES
        if too_long:
            secret, candidate = secret[:BCRYPT_MAX_BYTES], self._dummy_hash
        matches = await asyncio.to_thread(bcrypt.checkpw, secret, candidate)
        return matches and hashed is not None and not too_long
