"""Token issue and verification: the auth service's signer against the shared verifier."""

import base64
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from workcity_auth.adapters.signing_keys import TokenSigner
from workcity_common.tokens import InvalidToken, KeySet, TokenVerifier

ISSUER, AUDIENCE = "workcity-auth", "workcity"


def make_signer(key: Any = None, ttl_s: int = 900, retired: Any = None) -> TokenSigner:
    return TokenSigner(
        key or ed25519.Ed25519PrivateKey.generate(),
        issuer=ISSUER,
        audience=AUDIENCE,
        ttl_s=ttl_s,
        retired=retired,
    )


def verifier_for(*signers: TokenSigner) -> tuple[TokenVerifier, list[int]]:
    fetches: list[int] = []

    async def fetch() -> dict[str, Any]:
        fetches.append(1)
        return {"keys": [k for s in signers for k in s.jwks["keys"]]}

    keys = KeySet(fetch, cache_seconds=300, min_refresh_seconds=0)
    return TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE), fetches


async def test_issued_token_verifies_with_its_claims() -> None:
    signer = make_signer()
    verifier, _ = verifier_for(signer)
    token = signer.sign(user_id="u1", email="a@b.io", role="agent")
    claims = await verifier.verify(token)
    assert (claims.user_id, claims.email, claims.role) == ("u1", "a@b.io", "agent")
    assert jwt.get_unverified_header(token)["kid"] == signer.kid
    assert signer.kid in {k["kid"] for k in signer.jwks["keys"]}


async def test_rsa_keys_sign_rs256() -> None:
    signer = make_signer(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    verifier, _ = verifier_for(signer)
    token = signer.sign(user_id="u1", email="a@b.io", role="customer")
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert (await verifier.verify(token)).user_id == "u1"


async def test_expired_token_is_refused() -> None:
    signer = make_signer(ttl_s=-10)  # already expired when issued
    verifier, _ = verifier_for(signer)
    with pytest.raises(InvalidToken, match="expired"):
        await verifier.verify(signer.sign(user_id="u1", email="a@b.io", role="customer"))


async def test_alg_none_is_refused() -> None:
    signer = make_signer()
    verifier, _ = verifier_for(signer)
    now = int(time.time())
    claims = {"sub": "u1", "email": "a@b.io", "role": "admin", "iss": ISSUER, "aud": AUDIENCE}
    claims |= {"iat": now, "exp": now + 60}
    unsigned = jwt.encode(claims, key=None, algorithm="none", headers={"kid": signer.kid})
    with pytest.raises(InvalidToken):
        await verifier.verify(unsigned)


async def test_hmac_signed_with_the_public_key_is_refused() -> None:
    # The classic algorithm-confusion attack: HS256 keyed with the published public key.
    signer = make_signer()
    verifier, _ = verifier_for(signer)
    x = signer.jwks["keys"][0]["x"]
    public_bytes = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
    forged = jwt.encode(
        {"sub": "u1", "email": "a@b.io", "role": "admin", "iss": ISSUER, "aud": AUDIENCE},
        public_bytes,
        algorithm="HS256",
        headers={"kid": signer.kid},
    )
    with pytest.raises(InvalidToken):
        await verifier.verify(forged)


async def test_token_from_an_unknown_key_is_refused() -> None:
    trusted, stranger = make_signer(), make_signer()
    verifier, _ = verifier_for(trusted)
    with pytest.raises(InvalidToken, match="unknown signing key"):
        await verifier.verify(stranger.sign(user_id="u1", email="a@b.io", role="admin"))


async def test_stranger_key_with_a_trusted_kid_is_refused() -> None:
    trusted, stranger = make_signer(), make_signer()
    verifier, _ = verifier_for(trusted)
    stranger.kid = trusted.kid  # claims to be the trusted key
    with pytest.raises(InvalidToken, match="Signature"):
        await verifier.verify(stranger.sign(user_id="u1", email="a@b.io", role="admin"))


async def test_wrong_audience_or_issuer_is_refused() -> None:
    signer = make_signer()
    other = TokenSigner(
        ed25519.Ed25519PrivateKey.generate(), issuer="evil", audience="other", ttl_s=60
    )
    verifier, _ = verifier_for(signer, other)
    with pytest.raises(InvalidToken):
        await verifier.verify(other.sign(user_id="u1", email="a@b.io", role="admin"))


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "Bearer x", "e30.e30.e30"])
async def test_garbage_is_refused(garbage: str) -> None:
    verifier, _ = verifier_for(make_signer())
    with pytest.raises(InvalidToken):
        await verifier.verify(garbage)


async def test_key_rotation_is_followed_by_kid() -> None:
    old = make_signer()
    published = [old]

    async def fetch() -> dict[str, Any]:
        return {"keys": [k for s in published for k in s.jwks["keys"]]}

    verifier = TokenVerifier(
        KeySet(fetch, cache_seconds=300, min_refresh_seconds=0), issuer=ISSUER, audience=AUDIENCE
    )
    assert (await verifier.verify(old.sign(user_id="u1", email="a@b.io", role="agent"))).user_id
    new = make_signer()
    published.append(new)  # the auth service now signs with a new key, old one still listed
    token = new.sign(user_id="u2", email="c@d.io", role="agent")
    assert (await verifier.verify(token)).user_id == "u2"


async def test_unknown_kid_refresh_is_rate_limited() -> None:
    signer = make_signer()
    calls: list[int] = []

    async def fetch() -> dict[str, Any]:
        calls.append(1)
        return signer.jwks

    verifier = TokenVerifier(
        KeySet(fetch, cache_seconds=300, min_refresh_seconds=60), issuer=ISSUER, audience=AUDIENCE
    )
    await verifier.verify(signer.sign(user_id="u1", email="a@b.io", role="agent"))
    stranger = make_signer()
    for _ in range(5):
        with pytest.raises(InvalidToken):
            await verifier.verify(stranger.sign(user_id="u1", email="a@b.io", role="agent"))
    assert len(calls) == 1  # garbage kids did not make us refetch


async def test_a_failed_key_fetch_backs_off_doubling_then_recovers() -> None:
    signer = make_signer()
    token = signer.sign(user_id="u1", email="a@b.io", role="agent")
    now = [1000.0]
    calls: list[float] = []
    auth_down = [True]

    async def fetch() -> dict[str, Any]:
        calls.append(now[0])
        if auth_down[0]:
            raise ConnectionError("auth is struggling")
        return signer.jwks

    keys = KeySet(
        fetch,
        cache_seconds=300,
        min_refresh_seconds=0,
        max_backoff_seconds=4,
        clock=lambda: now[0],
    )
    verifier = TokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)
    for step in [0.0, 0.5, 0.5, 1.0, 1.0, 2.0, 4.0, 4.0]:  # a flood of tokens while auth is down
        now[0] += step
        for _ in range(20):
            with pytest.raises(InvalidToken):
                await verifier.verify(token)
    # One fetch once each back-off (1 s, 2 s, 4 s, capped at 4 s) is over, not one per token.
    assert calls == [1000.0, 1001.0, 1003.0, 1009.0, 1013.0]
    auth_down[0] = False
    now[0] += 4.0
    assert (await verifier.verify(token)).user_id == "u1"


async def test_retired_keys_stay_published() -> None:
    retired = ed25519.Ed25519PrivateKey.generate()
    old = make_signer(retired)
    current = make_signer(retired=[retired.public_key()])
    assert len(current.jwks["keys"]) == 2
    verifier, _ = verifier_for(current)
    assert (await verifier.verify(old.sign(user_id="u1", email="a@b.io", role="agent"))).user_id
