"""Composition root: builds the auth service from its adapters.

`create_app()` is what uvicorn runs (`--factory`); tests pass their own settings or broker.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pymongo import AsyncMongoClient
from starlette.middleware import Middleware
from workcity_common.app import create_service_app
from workcity_common.body_limit import BodySizeLimit
from workcity_common.broker import Broker
from workcity_common.database import (
    Document,
    command_counters,
    install_database_error_handler,
    make_mongo_client,
    ping,
)
from workcity_common.lifespan import service_lifespan
from workcity_common.logging import configure_logging
from workcity_common.outbox import Outbox, OutboxRelay
from workcity_common.tokens import KeySet, TokenVerifier

from workcity_auth.adapters.login_failures import LoginFailures
from workcity_auth.adapters.passwords import PasswordHasher
from workcity_auth.adapters.refresh_tokens import RefreshTokenRepository
from workcity_auth.adapters.signing_keys import (
    TokenSigner,
    development_key,
    key_from_secret,
    load_private_key,
    load_public_keys,
)
from workcity_auth.adapters.users import UserRepository
from workcity_auth.entrypoints.http import auth, users
from workcity_auth.entrypoints.internal import internal
from workcity_auth.service_layer.accounts import Accounts, LoginThrottle
from workcity_auth.settings import AuthSettings

DESCRIPTION = """Users, passwords and tokens of Workcity Chat. Access tokens are EdDSA/RS256 JWTs
whose public keys are served at `/api/auth/.well-known/jwks.json`; refresh tokens rotate on use."""


def build_signer(settings: AuthSettings) -> TokenSigner:
    if settings.jwt_private_key is not None:
        key = load_private_key(settings.jwt_private_key.get_secret_value().encode())
    elif settings.jwt_private_key_file is not None:
        key = load_private_key(settings.jwt_private_key_file.read_bytes())
    elif settings.jwt_secret is not None:
        key = key_from_secret(settings.jwt_secret.get_secret_value())
    else:
        key = development_key(settings.data_dir)
    retired = load_public_keys(settings.jwt_retired_public_keys or "")
    return TokenSigner(
        key,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl_s=settings.access_token_ttl_s,
        retired=retired,
    )


def create_app(
    settings: AuthSettings | None = None,
    *,
    mongo_client: AsyncMongoClient[Document] | None = None,
    broker: Broker | None = None,
) -> FastAPI:
    settings = settings or AuthSettings()
    configure_logging("auth", settings.log_level)
    signer = build_signer(settings)
    client = mongo_client or make_mongo_client(settings.mongo_uri, "workcity-auth")
    db = client[settings.mongo_db]
    broker = broker or Broker(settings.amqp_url, settings.events_exchange)
    outbox = Outbox(db["outbox"])
    relay = OutboxRelay(outbox, broker, poll_interval_s=settings.outbox_poll_interval_s)
    user_repo = UserRepository(db, outbox)
    refresh_repo = RefreshTokenRepository(
        db, settings.refresh_token_ttl_s, settings.refresh_family_ttl_s, outbox
    )
    login_failures = LoginFailures(db, settings.login_failure_memory_s)
    accounts = Accounts(
        user_repo,
        refresh_repo,
        PasswordHasher(settings.bcrypt_rounds),
        signer,
        login_failures,
        password_min_length=settings.password_min_length,
        login_throttle=LoginThrottle(
            free_failures=settings.login_free_failures,
            backoff_base_s=settings.login_backoff_base_s,
            backoff_max_s=settings.login_backoff_max_s,
        ),
    )

    async def own_jwks() -> dict[str, Any]:
        return signer.jwks

    async def first_admin() -> None:
        if settings.admin_email and settings.admin_password:
            await accounts.ensure_admin(
                settings.admin_email, settings.admin_password.get_secret_value()
            )

    lifespan = service_lifespan(
        prepare=[r.create_indexes for r in (user_repo, refresh_repo, login_failures, outbox)],
        start=[broker.start, relay.start],
        ready=[first_admin],
        close=[relay.close, broker.close, *([client.close] if mongo_client is None else [])],
        close_timeout_s=settings.shutdown_step_timeout_s,
    )

    app = create_service_app(
        service="auth",
        title="Workcity Chat — auth",
        description=DESCRIPTION,
        readiness={"mongodb": lambda: ping(db)},
        degraded_by={"rabbitmq": broker.check},
        lifespan=lifespan,
        metrics_collectors=[*command_counters(client), broker.metrics, relay.metrics],
    )
    install_database_error_handler(app)
    # Innermost, like conversations: a body over the limit is refused before it is parsed (an
    # unauthenticated refresh with a huge JSON array once cost hundreds of MB).
    app.user_middleware.append(Middleware(BodySizeLimit, max_bytes=settings.max_request_body_bytes))
    app.state.settings = settings
    app.state.accounts = accounts
    app.state.signer = signer
    app.state.broker = broker
    # The auth service verifies its own tokens with its own keys: no HTTP round trip.
    app.state.token_verifier = TokenVerifier(
        KeySet(own_jwks), issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    app.include_router(auth)
    app.include_router(users)
    app.include_router(internal)
    return app
