"""What routes declare they need: the use cases, the caller, an admin caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from workcity_common.domain_errors import Forbidden, Unauthenticated
from workcity_common.http_auth import CurrentClaims
from workcity_common.tokens import TokenClaims

from workcity_auth.adapters.signing_keys import TokenSigner
from workcity_auth.service_layer.accounts import Accounts


async def _accounts(request: Request) -> Accounts:
    accounts: Accounts = request.app.state.accounts
    return accounts


async def _signer(request: Request) -> TokenSigner:
    signer: TokenSigner = request.app.state.signer
    return signer


async def _admin(
    claims: CurrentClaims, accounts: Annotated[Accounts, Depends(_accounts)]
) -> TokenClaims:
    # Checked against the stored user, not the token: a demoted or disabled admin loses admin
    # rights at once, not when the token expires.
    user = await accounts.user(claims.user_id)
    if user is None:
        raise Unauthenticated("User no longer exists")
    if user.disabled:
        raise Unauthenticated("Account disabled")
    if user.role != "admin":
        raise Forbidden("Admin access required")
    return claims


AccountsDep = Annotated[Accounts, Depends(_accounts)]
SignerDep = Annotated[TokenSigner, Depends(_signer)]
AdminClaims = Annotated[TokenClaims, Depends(_admin)]
