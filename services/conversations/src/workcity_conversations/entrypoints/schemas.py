"""Request bodies, and the answer shapes for the OpenAPI page.

Answers are built by the shared event models' `to_api()` (so REST and socket payloads agree);
the answer models here only document them. Bodies ignore unknown fields (the original frontend
may send more) and are strict about types: a number where text belongs is a 400, not a cast.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class OpenConversationBody(_Body):
    recipientId: StrictStr = Field(description="The other user's id")


class SendMessageBody(_Body):
    text: StrictStr = Field(description="May be empty when the message carries attachments.")
    clientMessageId: StrictStr | None = Field(
        default=None,
        description="Your own id for this message: a retry with the same id returns the first "
        "message instead of storing a second one.",
    )
    attachments: list[Any] | None = Field(
        default=None,
        description="Ids of files uploaded to this conversation "
        "(`POST /api/conversations/{id}/attachments`), at most `MAX_ATTACHMENTS`.",
    )


class EditMessageBody(_Body):
    text: StrictStr


class ReadBody(_Body):
    seq: StrictInt | None = Field(
        default=None, description="Read up to this seq; left out: everything so far."
    )


class UserRefOut(BaseModel):
    id: str = Field(alias="_id")
    email: str
    role: str | None = None
    name: str | None = None


class AttachmentOut(BaseModel):
    id: str = Field(alias="_id")
    filename: str
    contentType: str
    size: int


class MessageOut(BaseModel):
    id: str = Field(alias="_id")
    conversation: str
    seq: int
    sender: UserRefOut
    text: str
    attachments: list[AttachmentOut]
    clientMessageId: str | None
    readBy: list[str]
    edited: bool
    createdAt: str
    updatedAt: str


class ConversationOut(BaseModel):
    id: str = Field(alias="_id")
    participants: list[UserRefOut]
    lastSeq: int
    createdAt: str
    updatedAt: str
    lastMessage: MessageOut | None
    unreadCount: int


class ReadOut(BaseModel):
    conversationId: str
    userId: str
    seq: int
    readAt: str


class DeletedOut(BaseModel):
    msg: str
    id: str = Field(alias="_id")


class ErrorOut(BaseModel):
    msg: str
    code: str
