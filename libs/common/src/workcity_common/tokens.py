"""Access-token verification, done locally with the auth service's public keys (JWKS).

Keys are cached; a token signed with a `kid` the cache does not know triggers one refresh
(at most every `jwks_min_refresh_seconds`), so a key rotation is picked up without a restart and
garbage tokens cannot make us hammer the auth service.

Verified tokens are remembered until they expire (a bounded cache): a client sends the same token
with every request and socket command, and checking a signature costs more than the rest of a
small request's work. A remembered token is accepted only while its key is still published.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
from jwt import PyJWK

from workcity_common.events import Role
from workcity_common.settings import TokenVerifierSettings

log = logging.getLogger(__name__)

# Only asymmetric algorithms: "none" and HMAC (alg-confusion with a public key) are refused.
ALLOWED_ALGORITHMS = ("EdDSA", "RS256")
# Verified tokens remembered per process (each entry is a few hundred bytes).
VERIFIED_CACHE_SIZE = 10_000


class InvalidToken(Exception):
    """The token is missing, malformed, expired, or not signed by a key we trust."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user_id: str
    email: str
    role: Role
    expires_at: int
    # The login (refresh-token family) the token was issued for (`sid`); None in tokens issued
    # before auth put it there.
    session_id: str | None = None


JwksFetcher = Callable[[], Awaitable[dict[str, Any]]]


class KeySet:
    """`kid` → public key, filled from a JWKS document."""

    def __init__(
        self,
        fetch: JwksFetcher,
        *,
        cache_seconds: float = 300.0,
        min_refresh_seconds: float = 5.0,
        max_backoff_seconds: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._cache_seconds = cache_seconds
        self._min_refresh_seconds = min_refresh_seconds
        self._max_backoff_seconds = max_backoff_seconds
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = float("-inf")
        # After a failed fetch no other is tried before this moment (doubling with each failure
        # in a row): garbage tokens must not hammer the auth service exactly when it struggles.
        self._failures = 0
        self._retry_at = float("-inf")
        self._lock = asyncio.Lock()

    def still_published(self, kid: str) -> bool:
        """Whether `kid` is among the keys we hold (no refresh)."""
        return kid in self._keys

    async def key_for(self, kid: str) -> PyJWK:
        now = self._clock()
        stale = now - self._fetched_at > self._cache_seconds
        if stale or (kid not in self._keys and now - self._fetched_at > self._min_refresh_seconds):
            await self._refresh(stale_before=now)
        try:
            return self._keys[kid]
        except KeyError:
            raise InvalidToken("unknown signing key") from None

    async def _refresh(self, stale_before: float) -> None:
        async with self._lock:
            if self._fetched_at >= stale_before:
                return  # another task refreshed while we waited
            if self._clock() < self._retry_at:
                # Backing off: keep serving with the keys we have (an outage of auth must not
                # log everyone out), or refuse at once when we have none.
                if not self._keys:
                    raise InvalidToken("signing keys unavailable")
                return
            try:
                document = await self._fetch()
                keys = {k["kid"]: PyJWK(k) for k in document.get("keys", []) if "kid" in k}
            except Exception as exc:
                self._failures += 1
                first_s = max(1.0, self._min_refresh_seconds)
                wait_s = min(self._max_backoff_seconds, first_s * 2 ** min(self._failures - 1, 32))
                self._retry_at = self._clock() + wait_s
                log.warning(
                    "could not refresh JWKS",
                    extra={"error": repr(exc), "retry_in_s": wait_s},
                )
                if not self._keys:
                    raise InvalidToken("signing keys unavailable") from exc
                return
            self._keys = keys
            self._failures = 0
            self._fetched_at = self._clock()


def http_jwks_fetcher(url: str, client: httpx.AsyncClient) -> JwksFetcher:
    async def fetch() -> dict[str, Any]:
        response = await client.get(url, timeout=5.0)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    return fetch


class TokenVerifier:
    def __init__(
        self,
        keys: KeySet,
        *,
        issuer: str,
        audience: str,
        cache_size: int = VERIFIED_CACHE_SIZE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._cache_size = cache_size
        self._clock = clock
        # token -> (claims, kid of the key that verified it), least recently used first
        self._verified: OrderedDict[str, tuple[TokenClaims, str]] = OrderedDict()

    @classmethod
    def from_settings(
        cls, settings: TokenVerifierSettings, client: httpx.AsyncClient
    ) -> TokenVerifier:
        keys = KeySet(
            http_jwks_fetcher(settings.jwks_url, client),
            cache_seconds=settings.jwks_cache_seconds,
            min_refresh_seconds=settings.jwks_min_refresh_seconds,
            max_backoff_seconds=settings.jwks_max_backoff_seconds,
        )
        return cls(keys, issuer=settings.jwt_issuer, audience=settings.jwt_audience)

    async def verify(self, token: str | None) -> TokenClaims:
        if not token:
            raise InvalidToken("no token")
        remembered = self._verified.get(token)
        if remembered is not None:
            claims, kid = remembered
            if claims.expires_at > self._clock() and self._keys.still_published(kid):
                self._verified.move_to_end(token)
                return claims
            del self._verified[token]
        claims, kid = await self._verify(token)
        if self._cache_size > 0:
            self._verified[token] = (claims, kid)
            if len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
        return claims

    async def _verify(self, token: str) -> tuple[TokenClaims, str]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        if header.get("alg") not in ALLOWED_ALGORITHMS or not isinstance(header.get("kid"), str):
            raise InvalidToken("unsupported token algorithm")
        key = await self._keys.key_for(header["kid"])
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[header["alg"]] if header["alg"] == key.algorithm_name else [],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
            verified = TokenClaims(
                user_id=str(claims["sub"]),
                email=str(claims["email"]),
                role=claims["role"],
                expires_at=int(claims["exp"]),
                session_id=claims["sid"] if isinstance(claims.get("sid"), str) else None,
            )
            return verified, header["kid"]
        except (jwt.PyJWTError, KeyError) as exc:
            raise InvalidToken(str(exc) or "invalid token") from exc
