"""What routes declare they need: the use cases and the signed-in caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from workcity_common.domain_errors import Unauthenticated
from workcity_common.http_auth import CurrentClaims
from workcity_common.tokens import TokenClaims

from workcity_conversations.domain.errors import InvalidInput
from workcity_conversations.domain.model import Person
from workcity_conversations.domain.rules import parse_id
from workcity_conversations.service_layer.service import ConversationService


async def _service(request: Request) -> ConversationService:
    service: ConversationService = request.app.state.service
    return service


ServiceDep = Annotated[ConversationService, Depends(_service)]


async def _current_user(claims: CurrentClaims, service: ServiceDep) -> Person:
    return await person_of(claims, service)


async def person_of(claims: TokenClaims, service: ConversationService) -> Person:
    """The caller a verified token names, refused as every route refuses it."""
    try:
        # User ids become MongoDB field names (read positions): only ObjectId hex is acceptable.
        parse_id(claims.user_id, "user")
    except InvalidInput:
        raise Unauthenticated("Token is not valid") from None
    return await service.caller(claims)


CurrentUser = Annotated[Person, Depends(_current_user)]
