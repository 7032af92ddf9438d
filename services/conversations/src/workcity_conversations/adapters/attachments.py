"""Attachment files in MongoDB GridFS (bucket `attachments`: `attachments.files` and
`attachments.chunks`), written and read chunk by chunk: no file is ever held whole in memory.

The documents follow the GridFS spec exactly (any driver's GridFSBucket reads them; the
integration tests read them back with PyMongo's `AsyncGridFSBucket`), but they are written and
read here: PyMongo's `AsyncGridIn` keeps chunks in memory until 48 MB have gathered (one
`insert_many`), so a 25 MB upload would sit in memory whole; and its download cursor fetches up to
16 MB per batch. Here one chunk (255 KiB) is inserted as soon as it is full, and a download
fetches `READ_BATCH_CHUNKS` chunks at a time.

A file document: `{_id, length, chunkSize, uploadDate, filename, metadata: {conversation:
ObjectId, uploader: userId, content_type (detected), client_content_type, attached (false
until a message carries it; until then it expires)}}`; a chunk: `{_id,
files_id, n, data}`. The file document is written last, so a file is visible only once complete.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime

from bson import Binary, Int64, ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.database import Document

from workcity_conversations.domain.model import Attachment, StoredFile

BUCKET = "attachments"
CHUNK_BYTES = 255 * 1024  # GridFS's default: under the 16 MB document limit, few round trips
READ_BATCH_CHUNKS = 4  # chunks per cursor batch of a download (about 1 MB in memory)

IDX_FILES_CONVERSATION = "metadata_conversation"
IDX_FILES_UPLOADER = "metadata_uploader"
IDX_FILES_UNATTACHED = "metadata_attached_uploadDate"
# The two indexes the GridFS spec asks for (the drivers' names, so a driver writing into the same
# bucket finds them in place).
IDX_FILES_NAME = "filename_1_uploadDate_1"
IDX_CHUNKS = "files_id_1_n_1"

FILES_INDEXES = [
    # Deleting a conversation finds its files by this.
    IndexModel([("metadata.conversation", ASCENDING)], name=IDX_FILES_CONVERSATION),
    # A user's stored bytes (the quota), and the uploads no message took (they expire).
    IndexModel([("metadata.uploader", ASCENDING)], name=IDX_FILES_UPLOADER),
    IndexModel(
        [("metadata.attached", ASCENDING), ("uploadDate", ASCENDING)], name=IDX_FILES_UNATTACHED
    ),
    IndexModel([("filename", ASCENDING), ("uploadDate", ASCENDING)], name=IDX_FILES_NAME),
]
CHUNKS_INDEXES = [
    IndexModel([("files_id", ASCENDING), ("n", ASCENDING)], name=IDX_CHUNKS, unique=True),
]


def stored_file(doc: Document) -> StoredFile:
    """An attachment's file document, as the service needs it."""
    metadata = doc.get("metadata") or {}
    return StoredFile(
        meta=Attachment(
            id=str(doc["_id"]),
            filename=str(doc.get("filename") or "attachment"),
            content_type=str(metadata.get("content_type") or "application/octet-stream"),
            size=int(doc.get("length", 0)),
        ),
        conversation_id=str(metadata.get("conversation")),
        uploader_id=str(metadata.get("uploader")),
        uploaded_at=doc.get("uploadDate"),
    )


class Upload:
    """One file being written: `write` its bytes (each full chunk is inserted at once), then
    `finish` with the detected type (the file document appears only then), or `abort`."""

    def __init__(
        self,
        files: AsyncCollection[Document],
        chunks: AsyncCollection[Document],
        file_doc: Document,
    ) -> None:
        self._files = files
        self._chunks = chunks
        self._doc = file_doc
        self._buffer = bytearray()
        self._n = 0
        self._length = 0

    async def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= CHUNK_BYTES:
            await self._insert_chunk(bytes(self._buffer[:CHUNK_BYTES]))
            del self._buffer[:CHUNK_BYTES]

    async def _insert_chunk(self, data: bytes) -> None:
        await self._chunks.insert_one(
            {"files_id": self._doc["_id"], "n": self._n, "data": Binary(data)}
        )
        self._n += 1
        self._length += len(data)

    async def finish(self, content_type: str) -> None:
        if self._buffer:
            await self._insert_chunk(bytes(self._buffer))
            self._buffer.clear()
        self._doc["metadata"]["content_type"] = content_type
        self._doc["length"] = Int64(self._length)
        self._doc["uploadDate"] = datetime.now(UTC)
        await self._files.insert_one(self._doc)

    async def abort(self) -> None:
        self._buffer.clear()
        await self._chunks.delete_many({"files_id": self._doc["_id"]})


class AttachmentStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.files = db[f"{BUCKET}.files"]
        self.chunks = db[f"{BUCKET}.chunks"]

    async def create_indexes(self) -> None:
        await self.files.create_indexes(FILES_INDEXES)
        await self.chunks.create_indexes(CHUNKS_INDEXES)

    def open_upload(
        self,
        attachment_id: str,
        *,
        conversation_id: str,
        uploader_id: str,
        filename: str,
        client_content_type: str | None,
    ) -> Upload:
        file_doc: Document = {
            "_id": ObjectId(attachment_id),
            "chunkSize": CHUNK_BYTES,
            "filename": filename,
            "metadata": {
                "conversation": ObjectId(conversation_id),
                "uploader": uploader_id,
                "client_content_type": client_content_type,
                "attached": False,
            },
        }
        return Upload(self.files, self.chunks, file_doc)

    async def get(self, attachment_id: str) -> StoredFile | None:
        doc = await self.files.find_one({"_id": ObjectId(attachment_id)})
        return stored_file(doc) if doc else None

    async def of_conversation(
        self, conversation_id: str, attachment_ids: Iterable[str]
    ) -> dict[str, StoredFile]:
        """Those of the ids that are files of this conversation (the others are simply absent).
        Looked up by `_id` alone and filtered here: a handful of ids (docs/decisions/0001)."""
        ids = sorted({ObjectId(a) for a in attachment_ids})
        if not ids:
            return {}
        found = [stored_file(d) async for d in self.files.find({"_id": {"$in": ids}})]
        return {f.meta.id: f for f in found if f.conversation_id == conversation_id}

    async def chunks_of(self, stored: StoredFile) -> AsyncIterator[bytes]:
        """The file's bytes, one chunk at a time, in order. Ends early if the file is deleted
        while it is being read (its conversation was deleted): the client sees a short body, as
        on a lost connection."""
        cursor = (
            self.chunks.find({"files_id": ObjectId(stored.meta.id)}, {"_id": 0, "n": 1, "data": 1})
            .sort("n", ASCENDING)
            .batch_size(READ_BATCH_CHUNKS)
        )
        expected = 0
        try:
            async for chunk in cursor:
                if chunk["n"] != expected:
                    return  # a chunk is missing: deleted underneath us
                expected += 1
                yield bytes(chunk["data"])
        finally:
            await cursor.close()

    async def mark_attached(self, attachment_ids: Iterable[str]) -> None:
        ids = [ObjectId(a) for a in attachment_ids]
        await self.files.update_many({"_id": {"$in": ids}}, {"$set": {"metadata.attached": True}})

    async def usage_of(self, uploader_id: str) -> int:
        """Bytes of the files this user uploaded that are still stored."""
        total = 0
        async for doc in self.files.find({"metadata.uploader": uploader_id}, {"length": 1}):
            total += int(doc.get("length", 0))
        return total

    async def delete(self, attachment_ids: Iterable[str]) -> int:
        """Remove these files (documents first: unreachable at once, then their chunks)."""
        ids = [ObjectId(a) for a in attachment_ids]
        if not ids:
            return 0
        result = await self.files.delete_many({"_id": {"$in": ids}})
        await self.chunks.delete_many({"files_id": {"$in": ids}})
        return result.deleted_count

    async def delete_unattached(self, uploaded_before: datetime) -> int:
        """Remove the uploads no message took that are older than `uploaded_before`."""
        stale = self.files.find(
            {"metadata.attached": False, "uploadDate": {"$lt": uploaded_before}},
            {"_id": 1},
        )
        ids = [str(d["_id"]) async for d in stale]
        return await self.delete(ids)

    async def delete_of_conversation(self, conversation_id: str) -> int:
        """Remove every file of a conversation (file documents first, so a concurrent reader
        finds nothing, then their chunks). Returns how many files went."""
        key = ObjectId(conversation_id)
        ids = [d["_id"] async for d in self.files.find({"metadata.conversation": key}, {"_id": 1})]
        if not ids:
            return 0
        await self.files.delete_many({"_id": {"$in": ids}})
        await self.chunks.delete_many({"files_id": {"$in": ids}})
        return len(ids)
