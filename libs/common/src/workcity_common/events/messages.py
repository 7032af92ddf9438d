"""message.* events (producer: conversations): sends, edits, deletions, read positions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from workcity_common.events.conversations import UserRef
from workcity_common.events.envelope import Event, EventData, iso


class AttachmentData(EventData):
    id: str
    filename: str
    content_type: str
    size: int

    def to_api(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "filename": self.filename,
            "contentType": self.content_type,
            "size": self.size,
        }


class MessageData(EventData):
    id: str
    conversation_id: str
    seq: int
    sender: UserRef
    text: str
    attachments: list[AttachmentData] = []
    client_message_id: str | None = None
    read_by: list[str] = []
    created_at: datetime
    updated_at: datetime
    edited: bool = False

    def to_api(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "conversation": self.conversation_id,
            "seq": self.seq,
            "sender": self.sender.to_api(),
            "text": self.text,
            "attachments": [a.to_api() for a in self.attachments],
            "clientMessageId": self.client_message_id,
            "readBy": list(self.read_by),
            "edited": self.edited,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


class SenderRead(EventData):
    """The sender's read position after a send (sending reads the conversation up to the
    message), and where it was before: message.created version 2 carries it instead of a
    separate message.read event."""

    seq: int
    read_at: datetime
    previous_seq: int


class MessageEventData(EventData):
    message: MessageData
    participant_ids: list[str]
    # message.created version 2; absent in version 1, whose producer publishes a message.read
    # after it when the send read others' messages.
    sender_read: SenderRead | None = None


# message.created's current version: 2 carries the sender's read position (`sender_read`).
# Consumers read version 1 too (an older producer during a rolling deploy, or events still queued).
MESSAGE_CREATED_VERSION = 2


class MessageCreated(Event):
    type: Literal["message.created"] = "message.created"
    data: MessageEventData

    def read_receipt(self) -> MessageReadData | None:
        """The receipt the room gets for the sender's read (version 2): only when the send read
        others' messages, as version 1's separate message.read."""
        read = self.data.sender_read
        if read is None or read.previous_seq >= read.seq - 1:
            return None
        m = self.data.message
        return MessageReadData(
            conversation_id=m.conversation_id,
            user_id=m.sender.id,
            seq=read.seq,
            read_at=read.read_at,
            participant_ids=list(self.data.participant_ids),
        )


class MessageUpdated(Event):
    type: Literal["message.updated"] = "message.updated"
    data: MessageEventData


class MessageDeletedData(EventData):
    conversation_id: str
    message_id: str
    seq: int
    participant_ids: list[str]


class MessageDeleted(Event):
    type: Literal["message.deleted"] = "message.deleted"
    data: MessageDeletedData


class MessageReadData(EventData):
    conversation_id: str
    user_id: str
    seq: int
    read_at: datetime
    participant_ids: list[str]

    def to_api(self) -> dict[str, Any]:
        return {
            "conversationId": self.conversation_id,
            "userId": self.user_id,
            "seq": self.seq,
            "readAt": iso(self.read_at),
        }


class MessageRead(Event):
    type: Literal["message.read"] = "message.read"
    data: MessageReadData
