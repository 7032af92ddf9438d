"""Attachments as use cases: uploads (streamed, their type decided from the first bytes before
anything is written, their size counted as they are written against the size limit and the
uploader's quota: over either, the partial file is removed and the answer is 413), downloads,
taking files into a message, and the sweep of uploads no message took."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from workcity_common.events import AttachmentData

from workcity_conversations.domain import files, rules
from workcity_conversations.domain.errors import InvalidInput, NotFound, TooLarge
from workcity_conversations.domain.model import Attachment, Conversation, Person
from workcity_conversations.service_layer.limits import Limits
from workcity_conversations.service_layer.ports import FileStore


@dataclass(frozen=True, slots=True)
class Download:
    attachment: Attachment
    chunks: AsyncIterator[bytes]


def _quota_exceeded(quota: int) -> TooLarge:
    return TooLarge(
        f"Your stored attachments would exceed {quota} bytes: delete some messages first",
        "attachment_quota_exceeded",
    )


class AttachmentService:
    def __init__(
        self,
        files: FileStore,
        conversation: Callable[[str], Awaitable[Conversation | None]],
        limits: Limits,
    ) -> None:
        self._files = files
        # The conversation of an id, None once deleted (the conversations store's lookup).
        self._conversation_of = conversation
        self.limits = limits

    async def conversation_for_upload(self, caller: Person, conversation_id: Any) -> Conversation:
        """The conversation a caller may upload to (participants only), checked before the body
        is read."""
        key = rules.parse_id(conversation_id, "conversation")
        conversation = await self._conversation_of(key)
        if conversation is None:
            raise NotFound("Conversation not found")
        rules.require_participant(caller, conversation)
        return conversation

    async def upload(
        self,
        caller: Person,
        conversation: Conversation,
        filename: str | None,
        client_content_type: str | None,
        chunks: AsyncIterator[bytes],
    ) -> dict[str, Any]:
        """Store one file for a conversation (from `conversation_for_upload`), streamed."""
        rules.require_participant(caller, conversation)
        stored = await self._receive(
            caller.id, conversation.id, filename, client_content_type, chunks
        )
        if await self._conversation_of(conversation.id) is None:
            # Deleted while the file streamed in: its files are gone, this one must go too.
            await self._files.delete_of_conversation(conversation.id)
            raise NotFound("Conversation not found")
        return stored.to_api()

    async def download(self, caller: Person, attachment_id: Any) -> Download:
        """An attachment's metadata and its bytes (streamed) for participants and admins."""
        key = rules.parse_id(attachment_id, "attachment")
        stored = await self._files.get(key)
        if stored is None:
            raise NotFound("Attachment not found")
        conversation = await self._conversation_of(stored.conversation_id)
        if conversation is None:
            raise NotFound("Attachment not found")
        rules.require_viewer(caller, conversation)
        return Download(stored.meta, self._files.chunks_of(stored))

    async def take(self, conversation_id: str, attachment_ids: list[str]) -> tuple[Attachment, ...]:
        """The files of a message about to be sent, no longer expiring: each must be an upload
        to this conversation."""
        if not attachment_ids:
            return ()
        found = await self._files.of_conversation(conversation_id, attachment_ids)
        missing = [a for a in attachment_ids if a not in found]
        if missing:
            raise InvalidInput(
                "invalid_attachment",
                f"Unknown attachment for this conversation: {', '.join(missing)}",
            )
        # Marked before the message is stored, so the sweep never removes a file a stored
        # message carries.
        await self._files.mark_attached(attachment_ids)
        return tuple(found[a].meta for a in attachment_ids)

    async def delete(self, attachment_ids: set[str]) -> None:
        await self._files.delete(attachment_ids)

    async def delete_of_conversation(self, conversation_id: str) -> None:
        await self._files.delete_of_conversation(conversation_id)

    async def expire_unattached_files(self) -> int:
        """Remove uploads no message took within `attachment_unattached_ttl_s`."""
        cutoff = datetime.now(UTC) - timedelta(seconds=self.limits.attachment_unattached_ttl_s)
        return await self._files.delete_unattached(uploaded_before=cutoff)

    async def _receive(
        self,
        uploader_id: str,
        conversation_id: str,
        filename: str | None,
        client_content_type: str | None,
        chunks: AsyncIterator[bytes],
    ) -> AttachmentData:
        store = self._files
        max_bytes = self.limits.attachment_max_bytes
        quota_bytes = self.limits.attachment_quota_bytes
        name = files.clean_filename(filename)
        # What the caller may still store (concurrent uploads of one user may pass it by a file).
        quota_left = quota_bytes - await store.usage_of(uploader_id)
        if quota_left <= 0:
            raise _quota_exceeded(quota_bytes)
        stream = aiter(chunks)

        head = bytearray()
        async for chunk in stream:
            head += chunk
            if len(head) >= files.SNIFF_BYTES:
                break
        if not head:
            raise InvalidInput("empty_file", "The file is empty")
        detected = files.detect(bytes(head[: files.SNIFF_BYTES]), name).content_type

        attachment_id = str(ObjectId())
        upload = store.open_upload(
            attachment_id,
            conversation_id=conversation_id,
            uploader_id=uploader_id,
            filename=name,
            client_content_type=(client_content_type or "")[:255] or None,
        )
        size = 0
        tail = bytearray()  # the end of a ZIP, for its central directory
        try:
            pending: bytes | None = bytes(head)
            while True:
                if pending is not None:
                    chunk, pending = pending, None
                else:
                    chunk = await anext(stream, b"")
                    if not chunk:
                        break
                size += len(chunk)
                if size > max_bytes:
                    raise TooLarge(f"The file is larger than {max_bytes} bytes")
                if size > quota_left:
                    raise _quota_exceeded(quota_bytes)
                if detected == files.ZIP_PENDING:
                    tail += chunk
                    del tail[: -files.ZIP_TAIL_BYTES]
                await upload.write(chunk)
            content_type = (
                files.office_type(bytes(tail), size) if detected == files.ZIP_PENDING else detected
            )
            await upload.finish(content_type)
        except BaseException:
            await upload.abort()
            raise
        return AttachmentData(id=attachment_id, filename=name, content_type=content_type, size=size)
