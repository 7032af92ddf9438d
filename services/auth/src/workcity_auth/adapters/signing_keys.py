"""The access-token signing key and the JWKS that publishes its public half (plus retired keys).

`kid` is the RFC 7638 thumbprint of the public key, so the same key always has the same id on
every replica and across restarts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

log = logging.getLogger(__name__)

PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
PublicKey = ed25519.Ed25519PublicKey | rsa.RSAPublicKey
_PEM_BLOCK = re.compile(r"-----BEGIN [A-Z ]+-----.+?-----END [A-Z ]+-----", re.DOTALL)


def _public_jwk(public_key: PublicKey) -> dict[str, Any]:
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        jwk: dict[str, Any] = OKPAlgorithm.to_jwk(public_key, as_dict=True)
        jwk["alg"] = "EdDSA"
        required = ("crv", "kty", "x")
    elif isinstance(public_key, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
        jwk["alg"] = "RS256"
        required = ("e", "kty", "n")
    else:
        raise ValueError("signing keys must be Ed25519 or RSA")
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    jwk["kid"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    jwk["use"] = "sig"
    return jwk


def load_private_key(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey):
        raise ValueError("JWT private key must be Ed25519 or RSA")
    return key


def load_public_keys(pem_bundle: str) -> list[PublicKey]:
    keys: list[PublicKey] = []
    for block in _PEM_BLOCK.findall(pem_bundle):
        key = serialization.load_pem_public_key(block.encode())
        if not isinstance(key, ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
            raise ValueError("retired public keys must be Ed25519 or RSA")
        keys.append(key)
    return keys


def key_from_secret(secret: str) -> PrivateKey:
    """The Ed25519 key derived from a shared secret (the original backend's JWT_SECRET): the same
    secret gives the same key, hence the same `kid`, on every replica and after every restart.
    HKDF with a fixed salt and label keeps this key unrelated to any other use of the secret."""
    seed = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"workcity-auth",
        info=b"jwt-signing-key ed25519 v1",
    ).derive(secret.encode())
    return ed25519.Ed25519PrivateKey.from_private_bytes(seed)


def development_key(data_dir: Path) -> PrivateKey:
    """A key generated once and kept in `data_dir`, for development only."""
    path = data_dir / "jwt-signing-key.pem"
    if path.exists():
        return load_private_key(path.read_bytes())
    log.warning(
        "no JWT_PRIVATE_KEY configured: generated a development signing key",
        extra={"path": str(path)},
    )
    key = ed25519.Ed25519PrivateKey.generate()
    data_dir.mkdir(parents=True, exist_ok=True)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(pem)
    tmp.chmod(0o600)
    tmp.replace(path)  # atomic: two replicas starting at once never read half a key
    return load_private_key(path.read_bytes())


class TokenSigner:
    def __init__(
        self,
        private_key: PrivateKey,
        *,
        issuer: str,
        audience: str,
        ttl_s: int,
        retired: list[PublicKey] | None = None,
    ) -> None:
        self._private_key = private_key
        current = _public_jwk(private_key.public_key())
        self.kid: str = current["kid"]
        self.algorithm: str = current["alg"]
        self.jwks: dict[str, Any] = {"keys": [current, *(_public_jwk(k) for k in retired or [])]}
        self.issuer = issuer
        self.audience = audience
        self.ttl_s = ttl_s

    def sign(self, *, user_id: str, email: str, role: str, session_id: str | None = None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": user_id,
            "email": email,
            "role": role,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + self.ttl_s,
            "jti": uuid.uuid4().hex,
        }
        if session_id is not None:
            claims["sid"] = session_id
        return jwt.encode(
            claims, self._private_key, algorithm=self.algorithm, headers={"kid": self.kid}
        )
