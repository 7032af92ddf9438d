"""The FastAPI dependency that turns `Authorization: Bearer <token>` into verified claims.

Every service stores its `TokenVerifier` at `app.state.token_verifier` (in its composition root)
and declares `CurrentClaims` on the routes that need a signed-in caller.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from workcity_common.domain_errors import NotFound, Unauthenticated
from workcity_common.tokens import InvalidToken, TokenClaims, TokenVerifier

# auto_error=False: we answer a missing header with our own 401 JSON, not FastAPI's 403.
_bearer = HTTPBearer(auto_error=False, description="Access token from POST /api/auth/login")


async def current_claims(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> TokenClaims:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("No token, authorization denied")
    return await verify_bearer(request.app.state.token_verifier, credentials.credentials)


async def verify_bearer(verifier: TokenVerifier, token: str) -> TokenClaims:
    """A bearer token's claims, refused as `current_claims` refuses it (the batch of sends
    checks each item's token with this)."""
    if not token:
        raise Unauthenticated("No token, authorization denied")
    try:
        return await verifier.verify(token)
    except InvalidToken:
        raise Unauthenticated("Token is not valid") from None


CurrentClaims = Annotated[TokenClaims, Depends(current_claims)]


_service_bearer = HTTPBearer(auto_error=False, description="INTERNAL_API_TOKEN (services only)")


async def service_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_service_bearer)],
) -> None:
    """Routes for other services only (`/internal/*`; the gateway routes `/api/*` alone): the
    caller must carry the service's `INTERNAL_API_TOKEN` (`app.state.settings`). Unset: the
    routes answer 404, as if they did not exist."""
    token = getattr(request.app.state.settings, "internal_api_token", None)
    if token is None:
        raise NotFound()  # switched off
    expected = token.get_secret_value().encode()
    given = (credentials.credentials if credentials else "").encode()
    if not secrets.compare_digest(given, expected):
        raise Unauthenticated("Invalid service token")
