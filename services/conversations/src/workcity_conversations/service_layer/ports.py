"""What the conversations use cases need from the outside world, as Protocols: the service layer
depends on these, the adapters satisfy them (adapters/store.py, adapters/directory.py,
adapters/attachments.py), and the unit tests' in-memory fakes do too (tests/unit/conversations/
fakes.py), so every use case can be tested without a database.

A write that takes an `events` callback commits those events with it (the outbox, one
transaction); the callback is given what the write actually did.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import datetime
from typing import Protocol

from workcity_common.events import Event
from workcity_common.tokens import TokenClaims

from workcity_conversations.domain.model import (
    Attachment,
    Conversation,
    Message,
    Person,
    StoredFile,
)
from workcity_conversations.domain.paging import ConversationPage, MessagePage

# (the conversation after the send, the message, the sender's read position before it)
SendEvents = Callable[[Conversation, Message, int], Sequence[Event]]


class ConversationExists(Exception):
    """A create lost the race for the pair's unique key: the other conversation stands."""


class DuplicateClientMessage(Exception):
    """A send reused a `clientMessageId` already stored by another (concurrent) send."""


class ConversationRepository(Protocol):
    """Conversations, their messages and read positions."""

    async def conversation(self, conversation_id: str) -> Conversation | None: ...

    async def participants(
        self, conversation_id: str, *, fresh: bool = False
    ) -> tuple[str, ...] | None:
        """May answer from memory unless `fresh` (participants only grow)."""
        ...

    async def conversation_of_pair(self, key: str) -> Conversation | None: ...

    async def conversations_of(
        self, user_id: str, page: ConversationPage
    ) -> tuple[list[Conversation], str | None]:
        """Most recently active first, and the next page's cursor (None: the last page)."""
        ...

    async def message(self, message_id: str) -> Message | None: ...

    async def messages_by_id(self, message_ids: Iterable[str]) -> dict[str, Message]: ...

    async def message_by_client_id(
        self, conversation_id: str, sender_id: str, client_message_id: str
    ) -> Message | None: ...

    async def history(
        self, conversation_id: str, page: MessagePage, last_seq: int | None = None
    ) -> list[Message]:
        """Oldest first."""
        ...

    async def messages_of_others(
        self, conversation_id: str, user_id: str, after_seq: int, limit: int
    ) -> list[Message]:
        """The oldest `limit` messages after `after_seq` not sent by `user_id`, oldest first
        (what the user has not read, for the notifications service)."""
        ...

    async def attachments_in_use(
        self, conversation_id: str, attachment_ids: set[str]
    ) -> set[str]: ...

    async def create_conversation(
        self,
        conversation: Conversation,
        key: str,
        events: Callable[[Conversation], Sequence[Event]],
    ) -> Conversation:
        """Raises `ConversationExists` when the pair has one already."""
        ...

    async def append_message(
        self,
        *,
        conversation_id: str,
        message_id: str,
        sender_id: str,
        text: str,
        client_message_id: str | None,
        now: datetime,
        events: SendEvents,
        attachments: Sequence[Attachment] = (),
        from_customer: bool = False,
    ) -> tuple[Conversation, Message]:
        """The message with the conversation's next seq. Raises `NotFound`, `Busy`, or
        `DuplicateClientMessage` (a concurrent send stored the client id first)."""
        ...

    async def edit_message(
        self,
        message_id: str,
        text: str,
        now: datetime,
        events: Callable[[Conversation, Message], Sequence[Event]],
    ) -> tuple[Conversation, Message]: ...

    async def delete_message(
        self, message_id: str, events: Callable[[Conversation, Message], Sequence[Event]]
    ) -> Message: ...

    async def mark_read(
        self,
        conversation_id: str,
        user_id: str,
        requested_seq: int | None,
        now: datetime,
        events: Callable[[Conversation, int, datetime], Sequence[Event]],
    ) -> tuple[int, datetime | None]:
        """The read position after the mark and when it was set; a mark that does not move it
        writes nothing and publishes nothing."""
        ...

    async def delete_conversation(
        self, conversation_id: str, events: Callable[[Conversation], Sequence[Event]]
    ) -> Conversation: ...


class Directory(Protocol):
    """This service's copy of the users (the auth service's directory)."""

    async def get(self, user_id: str) -> Person | None: ...

    async def get_many(self, user_ids: Iterable[str]) -> dict[str, Person]: ...

    async def ensure_from_claims(self, claims: TokenClaims) -> Person: ...


class FileUpload(Protocol):
    """One file being written: `write` its bytes, then `finish` or `abort`."""

    async def write(self, data: bytes) -> None: ...

    async def finish(self, content_type: str) -> None: ...

    async def abort(self) -> None: ...


class FileStore(Protocol):
    """The attachments' files."""

    def open_upload(
        self,
        attachment_id: str,
        *,
        conversation_id: str,
        uploader_id: str,
        filename: str,
        client_content_type: str | None,
    ) -> FileUpload: ...

    async def get(self, attachment_id: str) -> StoredFile | None: ...

    async def of_conversation(
        self, conversation_id: str, attachment_ids: Iterable[str]
    ) -> dict[str, StoredFile]: ...

    def chunks_of(self, stored: StoredFile) -> AsyncIterator[bytes]: ...

    async def mark_attached(self, attachment_ids: Iterable[str]) -> None: ...

    async def usage_of(self, uploader_id: str) -> int: ...

    async def delete(self, attachment_ids: Iterable[str]) -> int: ...

    async def delete_unattached(self, uploaded_before: datetime) -> int: ...

    async def delete_of_conversation(self, conversation_id: str) -> int: ...
