"""Taking in an uploaded file: streamed, its type decided from the first bytes before anything is
written, its size counted as it is written against the size limit and the uploader's quota (over
either: the partial file is removed and the answer is 413)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from bson import ObjectId
from workcity_common.events import AttachmentData

from workcity_conversations.adapters.attachments import AttachmentStore
from workcity_conversations.domain import files
from workcity_conversations.domain.errors import InvalidInput, TooLarge


def _quota_exceeded(quota: int) -> TooLarge:
    return TooLarge(
        f"Your stored attachments would exceed {quota} bytes: delete some messages first",
        "attachment_quota_exceeded",
    )


async def receive_file(
    store: AttachmentStore,
    *,
    conversation_id: str,
    uploader_id: str,
    filename: str | None,
    client_content_type: str | None,
    chunks: AsyncIterator[bytes],
    max_bytes: int,
    quota_bytes: int,
) -> AttachmentData:
    """Store one file of a conversation; what it stored."""
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
