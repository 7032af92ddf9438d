"""Routes for other services only (`/internal/*`: the gateway routes `/api/*` alone), each call
carrying INTERNAL_API_TOKEN as a bearer token."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field, StrictStr, ValidationError
from pymongo.errors import ConnectionFailure
from workcity_common.body_limit import too_large_message
from workcity_common.database import database_unavailable
from workcity_common.domain_errors import DomainError, Invalid, TooLarge
from workcity_common.error_table import http_status
from workcity_common.errors import validation_error_body
from workcity_common.http_auth import service_caller, verify_bearer
from workcity_common.send_batch import SEND_BATCH_PATH

from workcity_conversations.entrypoints.deps import person_of
from workcity_conversations.entrypoints.schemas import SendMessageBody
from workcity_conversations.service_layer.send_batch import send_in_order
from workcity_conversations.service_layer.unread import sender_emails, unread_for, unread_json
from workcity_conversations.service_layer.views import PreparedSend, Sent

log = logging.getLogger(__name__)

internal = APIRouter(prefix="/internal", tags=["internal"], dependencies=[Depends(service_caller)])


@internal.get(
    "/conversations/{conversation_id}/unread",
    summary="Service: a participant's unread messages (the notifications service, when an email "
    "is due)",
)
async def unread(
    request: Request,
    conversation_id: str,
    user_id: Annotated[str, Query(alias="userId", max_length=24)],
    after_seq: Annotated[int, Query(alias="afterSeq", ge=0)] = 0,
    limit: Annotated[int, Query(ge=1)] = 50,
) -> dict[str, Any]:
    state = request.app.state
    found = await unread_for(
        state.store,
        conversation_id,
        user_id,
        after_seq,
        min(limit, state.settings.internal_unread_page_max),
    )
    return unread_json(found, await sender_emails(state.directory, found))


class SendItem(BaseModel):
    token: StrictStr = Field(description="The sender's access token, as its bearer token")
    conversationId: StrictStr
    body: dict[str, Any] = Field(description="The body of `POST .../messages`")


class SendBatch(BaseModel):
    items: list[SendItem]


@internal.post(
    SEND_BATCH_PATH.removeprefix("/internal"),
    summary="Service: sends of several users at once (a realtime replica's queued sendMessage)",
    description="Each item is authorized and answered exactly as `POST /api/conversations/"
    "{conversationId}/messages` with its token and body would be: `{message}` or that call's "
    "refusal `{status, code, msg}`, in the order of the items; the sends are queued for storage "
    "in that order. At most INTERNAL_SEND_BATCH_MAX items.",
)
async def send_batch(request: Request, batch: SendBatch) -> Response:
    state = request.app.state
    if len(batch.items) > state.settings.internal_send_batch_max:
        raise Invalid(f"At most {state.settings.internal_send_batch_max} items", "too_many_items")
    outcomes = await send_in_order(
        state.service, [_prepared(request, item) for item in batch.items]
    )
    return Response(
        orjson.dumps({"results": [_answer(outcome) for outcome in outcomes]}),
        media_type="application/json",
    )


async def _prepared(request: Request, item: SendItem) -> Sent | PreparedSend:
    """One item through the public route's checks, in its order: the body's size, the token,
    the caller, the body, then the send's own rules."""
    state = request.app.state
    limit = state.settings.max_request_body_bytes
    if _encoded_size(item.body) > limit:
        raise TooLarge(too_large_message(limit))
    caller = await person_of(await verify_bearer(state.token_verifier, item.token), state.service)
    try:
        body = SendMessageBody.model_validate(item.body)
    except ValidationError as exc:
        refusal = validation_error_body(exc.errors())
        raise Invalid(refusal["msg"], refusal["code"]) from None
    prepared: Sent | PreparedSend = await state.service.prepare_send(
        caller, item.conversationId, body.text, body.clientMessageId, body.attachments
    )
    return prepared


def _encoded_size(body: dict[str, Any]) -> int:
    try:
        return len(orjson.dumps(body))
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, which the public route takes too
        return len(json.dumps(body, separators=(",", ":")).encode())


def _answer(outcome: Sent | BaseException) -> dict[str, Any]:
    if isinstance(outcome, Sent):
        answer: dict[str, Any] = {"message": outcome.message}
        if outcome.replayed:
            answer["replayed"] = True
        return answer
    if isinstance(outcome, ConnectionFailure):  # as install_database_error_handler answers
        outcome = database_unavailable(outcome)
    if isinstance(outcome, DomainError):
        return {"status": http_status(outcome), "code": outcome.code, "msg": outcome.msg}
    # As the error handlers answer an unexpected error of the single route.
    log.error("send in a batch failed", exc_info=outcome)
    return {"status": 500, "code": "internal_error", "msg": "Internal server error"}
