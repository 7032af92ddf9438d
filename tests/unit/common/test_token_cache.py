"""Verified tokens are remembered until they expire, and only while their key is published."""

from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from workcity_auth.adapters.signing_keys import TokenSigner
from workcity_common import tokens
from workcity_common.tokens import InvalidToken, KeySet, TokenVerifier

ISSUER, AUDIENCE = "workcity-auth", "workcity"


def make_signer() -> TokenSigner:
    return TokenSigner(
        ed25519.Ed25519PrivateKey.generate(), issuer=ISSUER, audience=AUDIENCE, ttl_s=900
    )


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every signature check the verifier makes."""
    seen: list[str] = []
    real = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(tokens.jwt, "decode", counting)
    return seen


def verifier_for(published: list[TokenSigner], clock: Clock, size: int = 100) -> TokenVerifier:
    async def fetch() -> dict[str, Any]:
        return {"keys": [k for s in published for k in s.jwks["keys"]]}

    keys = KeySet(fetch, cache_seconds=0.0, min_refresh_seconds=0)
    return TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, cache_size=size, clock=clock)


async def test_a_token_is_checked_once_then_remembered(decodes: list[str]) -> None:
    signer = make_signer()
    verifier = verifier_for([signer], Clock(0.0))
    token = signer.sign(user_id="u1", email="a@b.io", role="agent")
    first = await verifier.verify(token)
    again = await verifier.verify(token)
    assert first == again and first.user_id == "u1"
    assert decodes == [token]


async def test_a_remembered_token_is_checked_again_once_expired(decodes: list[str]) -> None:
    signer = make_signer()
    clock = Clock(0.0)
    verifier = verifier_for([signer], clock)
    token = signer.sign(user_id="u1", email="a@b.io", role="agent")
    claims = await verifier.verify(token)
    clock.now = claims.expires_at + 1  # the cache's clock says expired; jwt checks again
    await verifier.verify(token)
    assert decodes == [token, token]


async def test_a_withdrawn_key_ends_its_remembered_tokens() -> None:
    signer = make_signer()
    published = [signer]
    verifier = verifier_for(published, Clock(0.0))
    token = signer.sign(user_id="u1", email="a@b.io", role="agent")
    await verifier.verify(token)
    # The key leaves the JWKS (another key's token makes the verifier refresh its key set).
    other = make_signer()
    published[:] = [other]
    await verifier.verify(other.sign(user_id="u2", email="c@d.io", role="customer"))
    with pytest.raises(InvalidToken):
        await verifier.verify(token)


async def test_the_cache_is_bounded(decodes: list[str]) -> None:
    signer = make_signer()
    verifier = verifier_for([signer], Clock(0.0), size=2)
    a, b, c = (signer.sign(user_id=u, email=f"{u}@x.io", role="customer") for u in "abc")
    for token in (a, b, c, a):
        await verifier.verify(token)
    assert decodes == [a, b, c, a]  # `a` was the oldest and had been dropped
