"""HTTP routes. Thin: parse, call one use case, shape the status. Ids and paging parameters are
taken as raw strings and validated by the domain rules, so every bad value is a 400 JSON."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from workcity_conversations.domain.files import content_disposition
from workcity_conversations.entrypoints.deps import CurrentUser, ServiceDep
from workcity_conversations.entrypoints.schemas import (
    AttachmentOut,
    ConversationOut,
    DeletedOut,
    EditMessageBody,
    ErrorOut,
    MessageOut,
    OpenConversationBody,
    ReadBody,
    ReadOut,
    SendMessageBody,
)
from workcity_conversations.entrypoints.uploads import MultipartFile

NEXT_CURSOR_HEADER = "X-Next-Cursor"
REPLAYED_HEADER = "Idempotent-Replayed"

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "Invalid id, parameter or body"},
    401: {"model": ErrorOut, "description": "Missing or invalid token"},
    403: {"model": ErrorOut, "description": "Not allowed (not a participant, disabled account)"},
    404: {"model": ErrorOut, "description": "Unknown conversation, message or user"},
}


def _json(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer encoded by orjson, for the busiest routes: the content is already the
    contract's JSON shape (`to_api()`), so FastAPI's walk over it (jsonable_encoder) and the
    standard library's encoder would only cost time (a history page is 50 messages)."""
    return Response(
        orjson.dumps(content), status_code=status, headers=headers, media_type="application/json"
    )


def _answer(model: Any, status: int = 200, description: str = "Success") -> dict[str, Any]:
    """Document the answer without re-validating it: answers come from `to_api()` as they are."""
    return {
        "response_model": None,
        "status_code": status,
        "responses": {status: {"model": model, "description": description}},
    }


Limit = Annotated[str | None, Query(description="Page size (default and cap are configurable)")]
Seq = Annotated[str | None, Query(description="A message seq (non-negative integer)")]

conversations = APIRouter(prefix="/api/conversations", tags=["conversations"], responses=_ERRORS)
messages = APIRouter(prefix="/api/messages", tags=["messages"], responses=_ERRORS)
attachments = APIRouter(prefix="/api/attachments", tags=["attachments"], responses=_ERRORS)

UPLOAD_FIELD = "file"
# The upload route's path, for the body-size limit (it gets the attachment limit instead).
UPLOAD_PATH = r"/api/conversations/[^/]+/attachments"


@conversations.get(
    "",
    summary="The caller's conversations, most recently active first",
    description=f"Paged: when more remain, the `{NEXT_CURSOR_HEADER}` header holds the value to "
    "pass as `before` for the next page.",
    **_answer(list[ConversationOut]),
)
async def list_conversations(
    caller: CurrentUser,
    service: ServiceDep,
    response: Response,
    limit: Limit = None,
    before: Annotated[str | None, Query(description="Cursor from the previous page")] = None,
) -> Any:
    items, next_cursor = await service.list_conversations(caller, limit, before)
    if next_cursor:
        response.headers[NEXT_CURSOR_HEADER] = next_cursor
    return items


async def _open(caller: CurrentUser, service: ServiceDep, body: OpenConversationBody) -> Any:
    opened = await service.open_conversation(caller, body.recipientId)
    return JSONResponse(opened.conversation, status_code=201 if opened.created else 200)


_OPEN_DOC = {
    "summary": "Open a conversation with another user",
    "description": "201 with the new conversation, or 200 with the existing one between the "
    "same two users. Customers may only open conversations with support staff.",
    **_answer(ConversationOut, 201, "Created; 200 with the existing conversation"),
}
conversations.post("", **_OPEN_DOC)(_open)
conversations.post("/create", **_OPEN_DOC)(_open)


@conversations.get(
    "/{conversation_id}",
    summary="One conversation (participants and admins)",
    **_answer(ConversationOut),
)
async def get_conversation(caller: CurrentUser, service: ServiceDep, conversation_id: str) -> Any:
    return await service.get_conversation(caller, conversation_id)


@conversations.delete(
    "/{conversation_id}",
    summary="Delete a conversation and its messages (participants and admins)",
    **_answer(DeletedOut),
)
async def delete_conversation(
    caller: CurrentUser, service: ServiceDep, conversation_id: str
) -> Any:
    deleted = await service.delete_conversation(caller, conversation_id)
    return {"msg": "Conversation deleted", "_id": deleted}


async def _history(
    caller: CurrentUser,
    service: ServiceDep,
    conversation_id: str,
    limit: Limit = None,
    after_seq: Seq = None,
    before_seq: Seq = None,
) -> Any:
    messages = await service.history(caller, conversation_id, limit, after_seq, before_seq)
    return _json(messages)


_HISTORY_DOC = {
    "summary": "Messages of a conversation, oldest first (participants and admins)",
    "description": "`after_seq=N`: the first `limit` messages after N (catch-up). "
    "`before_seq=N`: the `limit` messages just before N. Neither: the latest page.",
    **_answer(list[MessageOut]),
}
conversations.get("/{conversation_id}/messages", **_HISTORY_DOC)(_history)
messages.get("/{conversation_id}", **_HISTORY_DOC)(_history)


@conversations.post(
    "/{conversation_id}/messages",
    summary="Send a message (participants)",
    description="Idempotent with `clientMessageId`: a retry returns the first message (201, "
    f"with the header `{REPLAYED_HEADER}: true`).",
    **_answer(MessageOut, 201),
)
async def send_message(
    caller: CurrentUser, service: ServiceDep, conversation_id: str, body: SendMessageBody
) -> Any:
    sent = await service.send(
        caller, conversation_id, body.text, body.clientMessageId, body.attachments
    )
    headers = {REPLAYED_HEADER: "true"} if sent.replayed else None
    return _json(sent.message, status=201, headers=headers)


@conversations.post(
    "/{conversation_id}/read",
    summary="Mark messages read up to `seq` (participants)",
    description="The read position only moves forward; a seq past the last message counts as "
    "the last; no body or no seq: everything so far.",
    **_answer(ReadOut),
)
async def mark_read(
    caller: CurrentUser,
    service: ServiceDep,
    conversation_id: str,
    body: ReadBody | None = None,
) -> Any:
    return await service.mark_read(caller, conversation_id, body.seq if body else None)


@messages.patch(
    "/{message_id}", summary="Edit a message's text (its sender)", **_answer(MessageOut)
)
async def edit_message(
    caller: CurrentUser, service: ServiceDep, message_id: str, body: EditMessageBody
) -> Any:
    return await service.edit_message(caller, message_id, body.text)


@messages.delete(
    "/{message_id}", summary="Delete a message (its sender or an admin)", **_answer(DeletedOut)
)
async def delete_message(caller: CurrentUser, service: ServiceDep, message_id: str) -> Any:
    deleted = await service.delete_message(caller, message_id)
    return {"msg": "Message deleted", "_id": deleted}


@conversations.post(
    "/{conversation_id}/attachments",
    summary="Upload a file to a conversation (participants)",
    description=f"`multipart/form-data` with the file in the field `{UPLOAD_FIELD}`. The type is "
    "detected from the bytes (images, PDF, text, CSV, Office documents); executables and other "
    "types are refused with 415, files over `ATTACHMENT_MAX_BYTES` with 413. Send the answer's "
    "`_id` in a message's `attachments`.",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": [UPLOAD_FIELD],
                        "properties": {UPLOAD_FIELD: {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
    **_answer(AttachmentOut, 201),
)
async def upload_attachment(
    caller: CurrentUser, service: ServiceDep, conversation_id: str, request: Request
) -> Any:
    # Authorized before a byte of the body is read.
    conversation = await service.files.conversation_for_upload(caller, conversation_id)
    part = await MultipartFile(
        request.headers.get("content-type"), request.stream(), UPLOAD_FIELD
    ).open()
    stored = await service.files.upload(
        caller, conversation, part.filename, part.content_type, part.chunks
    )
    return JSONResponse(stored, status_code=201)


@attachments.get(
    "/{attachment_id}",
    summary="Download an attachment (participants and admins)",
    description="The file's bytes, streamed, as `attachment` (never shown inline) with the "
    "detected type and `X-Content-Type-Options: nosniff`.",
    response_class=StreamingResponse,
    # Any of the allowed types (domain/files.py), as detected from the bytes at upload.
    responses={
        200: {
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
            "description": "The file, with its detected type",
        }
    },
)
async def download_attachment(
    caller: CurrentUser, service: ServiceDep, attachment_id: str
) -> StreamingResponse:
    download = await service.files.download(caller, attachment_id)
    meta = download.attachment
    media_type = meta.content_type
    if media_type.startswith("text/"):
        media_type += "; charset=utf-8"  # text is only accepted as UTF-8
    return StreamingResponse(
        download.chunks,
        media_type=media_type,
        headers={
            "Content-Length": str(meta.size),
            "Content-Disposition": content_disposition(meta.filename),
            "X-Content-Type-Options": "nosniff",
            # A file opened straight from this URL runs nothing and loads nothing.
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )
