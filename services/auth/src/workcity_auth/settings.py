"""Auth service settings (environment variables; see the README's configuration table)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from workcity_common.settings import DatabaseSettings

# A key derived from a short secret is as guessable as the secret: production asks for at least
# this many characters (`openssl rand -base64 48` gives 64).
JWT_SECRET_MIN_LENGTH = 32


class AuthSettings(DatabaseSettings):
    service_name: str = "auth"

    # The first admin, created once at start-up when no user has this email.
    admin_email: str | None = Field(default=None, validation_alias="ADMIN_EMAIL")
    admin_password: SecretStr | None = Field(default=None, validation_alias="ADMIN_PASSWORD")

    # Signing key (Ed25519 or RSA, PEM). In development, when neither is set, a key is generated
    # once and kept in DATA_DIR. Production refuses to start without one.
    jwt_private_key: SecretStr | None = Field(default=None, validation_alias="JWT_PRIVATE_KEY")
    jwt_private_key_file: Path | None = Field(default=None, validation_alias="JWT_PRIVATE_KEY_FILE")
    # The original backend's HS256 secret, carried over: with neither key above, the Ed25519
    # signing key is derived from it, so every replica and every restart signs with one key.
    jwt_secret: SecretStr | None = Field(default=None, validation_alias="JWT_SECRET")
    # Public keys of retired signing keys (PEM, concatenated), still published in the JWKS so
    # tokens they signed stay valid until they expire. See "Rotating the signing key".
    jwt_retired_public_keys: str | None = Field(
        default=None, validation_alias="JWT_RETIRED_PUBLIC_KEYS"
    )
    jwt_issuer: str = Field(default="workcity-auth", validation_alias="JWT_ISSUER")
    jwt_audience: str = Field(default="workcity", validation_alias="JWT_AUDIENCE")
    data_dir: Path = Field(default=Path(".data/auth"), validation_alias="DATA_DIR")

    access_token_ttl_s: int = Field(
        default=900, ge=30, le=86_400, validation_alias="ACCESS_TOKEN_TTL_SECONDS"
    )
    refresh_token_ttl_s: int = Field(
        default=30 * 86_400, ge=60, le=365 * 86_400, validation_alias="REFRESH_TOKEN_TTL_SECONDS"
    )
    # Every auth body is a small JSON object; anything bigger is refused with 413 unread.
    max_request_body_bytes: int = Field(
        default=16 * 1024, ge=1024, le=1024 * 1024, validation_alias="MAX_REQUEST_BODY_BYTES"
    )
    # A login's refresh tokens end this long after the login, however often they are refreshed.
    refresh_family_ttl_s: int = Field(
        default=90 * 86_400, ge=60, le=365 * 86_400, validation_alias="REFRESH_FAMILY_TTL_SECONDS"
    )
    bcrypt_rounds: int = Field(default=12, ge=4, le=16, validation_alias="BCRYPT_ROUNDS")
    password_min_length: int = Field(default=6, ge=6, le=72, validation_alias="PASSWORD_MIN_LENGTH")
    # Per-account login throttle (the gateway limits per address): after this many wrong
    # passwords in a row an email is refused (429) for LOGIN_BACKOFF_BASE_SECONDS, doubling with
    # every further failure up to LOGIN_BACKOFF_MAX_SECONDS; a count is forgotten after
    # LOGIN_FAILURE_MEMORY_SECONDS without failures.
    login_free_failures: int = Field(
        default=5, ge=1, le=1000, validation_alias="LOGIN_FREE_FAILURES"
    )
    login_backoff_base_s: float = Field(
        default=1.0, gt=0, le=3600, validation_alias="LOGIN_BACKOFF_BASE_SECONDS"
    )
    login_backoff_max_s: float = Field(
        default=900.0, gt=0, le=86_400, validation_alias="LOGIN_BACKOFF_MAX_SECONDS"
    )
    login_failure_memory_s: float = Field(
        default=3600.0, ge=60, le=30 * 86_400, validation_alias="LOGIN_FAILURE_MEMORY_SECONDS"
    )

    # Shared secret of the internal routes (`/internal/*`, never routed by the gateway) that
    # other services call, e.g. conversations' one-off copy of the user directory. Unset: off.
    internal_api_token: SecretStr | None = Field(
        default=None, validation_alias="INTERNAL_API_TOKEN"
    )
    internal_page_max: int = Field(
        default=1000, ge=1, le=10_000, validation_alias="INTERNAL_PAGE_MAX"
    )

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> AuthSettings:
        if self.is_production:
            if (
                self.jwt_private_key is None
                and self.jwt_private_key_file is None
                and self.jwt_secret is None
            ):
                raise ValueError(
                    "JWT_PRIVATE_KEY, JWT_PRIVATE_KEY_FILE or JWT_SECRET is required in production"
                )
            if self.jwt_secret is not None:
                secret = self.jwt_secret.get_secret_value()
                self.require_real_secret("JWT_SECRET", secret)
                if len(secret) < JWT_SECRET_MIN_LENGTH:
                    raise ValueError(
                        f"JWT_SECRET must be at least {JWT_SECRET_MIN_LENGTH} characters "
                        "in production"
                    )
            if self.internal_api_token is not None:
                self.require_real_secret(
                    "INTERNAL_API_TOKEN", self.internal_api_token.get_secret_value()
                )
            if self.admin_password is not None:
                self.require_real_secret("ADMIN_PASSWORD", self.admin_password.get_secret_value())
        return self
