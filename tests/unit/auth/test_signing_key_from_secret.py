"""JWT_SECRET, the original backend's setting: with no JWT_PRIVATE_KEY(_FILE), auth derives its
signing key from it, the same key every time, and production refuses a short or placeholder one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from pydantic import ValidationError
from workcity_auth.main import build_signer
from workcity_auth.settings import AuthSettings

SECRET = "an-original-backend-secret-of-48-characters-long!"
PRODUCTION: dict[str, Any] = {
    "ENVIRONMENT": "production",
    "AMQP_URL": "amqp://workcity:a-real-broker-password@rabbitmq:5672/",
}


def settings(tmp_path: Path, **env: Any) -> AuthSettings:
    return AuthSettings(DATA_DIR=tmp_path, **env)


def test_the_same_secret_gives_the_same_key_on_every_start(tmp_path: Path) -> None:
    first = build_signer(settings(tmp_path / "a", JWT_SECRET=SECRET))
    second = build_signer(settings(tmp_path / "b", JWT_SECRET=SECRET))
    other = build_signer(settings(tmp_path / "c", JWT_SECRET=SECRET + "x"))
    assert first.kid == second.kid != other.kid
    assert first.algorithm == "EdDSA"
    # No development key file is written: the key lives in the secret.
    assert not (tmp_path / "a").exists()
    token = first.sign(user_id="u1", email="a@example.com", role="customer")
    (jwk,) = second.jwks["keys"]
    public = jwt.PyJWK(jwk).key
    claims = jwt.decode(token, public, algorithms=["EdDSA"], audience=second.audience)
    assert claims["sub"] == "u1"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            token, jwt.PyJWK(other.jwks["keys"][0]).key, algorithms=["EdDSA"], audience="workcity"
        )


def test_a_private_key_wins_over_the_secret(tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
    with_both = build_signer(settings(tmp_path, JWT_PRIVATE_KEY=pem, JWT_SECRET=SECRET))
    with_key = build_signer(settings(tmp_path, JWT_PRIVATE_KEY=pem))
    assert with_both.kid == with_key.kid


def test_production_accepts_a_long_secret_instead_of_a_key(tmp_path: Path) -> None:
    assert settings(tmp_path, JWT_SECRET=SECRET, **PRODUCTION).jwt_secret is not None
    with pytest.raises(
        ValidationError, match="JWT_PRIVATE_KEY, JWT_PRIVATE_KEY_FILE or JWT_SECRET"
    ):
        settings(tmp_path, **PRODUCTION)


@pytest.mark.parametrize("secret", ["secret", "changeme", "short-but-not-a-placeholder"])
def test_production_refuses_a_short_or_placeholder_secret(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        settings(tmp_path, JWT_SECRET=secret, **PRODUCTION)
    # Development takes it (a developer's carried-over .env).
    assert settings(tmp_path, JWT_SECRET=secret).jwt_secret is not None
