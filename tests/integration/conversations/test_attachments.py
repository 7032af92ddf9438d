"""Attachments in GridFS on the real SecantusDB: uploads and downloads through the app in
process, streaming in both directions, limits, types, messages that carry files, and the files
going with their conversation. The same through the gateway: tests/e2e/test_attachments.py."""

from __future__ import annotations

import dataclasses
import io
import zipfile
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from bson import ObjectId
from gridfs import AsyncGridFSBucket
from pymongo.asynchronous.database import AsyncDatabase
from workcity_conversations.adapters.attachments import CHUNK_BYTES, AttachmentStore
from workcity_conversations.domain import files
from workcity_conversations.domain.model import Person
from workcity_conversations.settings import ConversationsSettings

from tests.integration.conversations.conftest import Running, Tokens, auth

pytestmark = pytest.mark.integration

LIMIT = 600 * 1024  # small, so "too large" is quick
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"


@pytest.fixture
def settings(mongo_db: AsyncDatabase, rabbit_url: str, unique_name: str) -> ConversationsSettings:
    return ConversationsSettings(  # type: ignore[call-arg]
        ENVIRONMENT="test",
        MONGO_DB=mongo_db.name,
        AMQP_URL=rabbit_url,
        EVENTS_EXCHANGE=f"{unique_name}.events",
        USERS_QUEUE=f"{unique_name}.users",
        OUTBOX_POLL_INTERVAL_SECONDS=0.2,
        ATTACHMENT_MAX_BYTES=LIMIT,
        MAX_ATTACHMENTS=2,
    )


def png(size: int) -> bytes:
    body = bytes((i * 7) % 251 for i in range(size - len(PNG_HEADER)))
    return PNG_HEADER + body


def docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["code"] == code, response.json()


async def pair(running: Running, tokens: Tokens, a: Person, b: Person) -> str:
    opened = await running.http.post(
        "/api/conversations", json={"recipientId": b.id}, headers=auth(tokens, a)
    )
    assert opened.status_code in (200, 201), opened.text
    return str(opened.json()["_id"])


async def upload(
    running: Running, tokens: Tokens, who: Person, conv: str, name: str, data: bytes
) -> Any:
    return await running.http.post(
        f"/api/conversations/{conv}/attachments",
        files={"file": (name, data, "image/png")},
        headers=auth(tokens, who),
    )


async def test_upload_and_download_round_trip(
    running: Running, tokens: Tokens, make_user: Callable[..., Any], mongo_db: AsyncDatabase
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    conv = await pair(running, tokens, customer, agent)
    data = png(2 * CHUNK_BYTES + 1000)  # three GridFS chunks

    uploaded = await upload(running, tokens, customer, conv, "../screens/shot 1.png", data)
    assert uploaded.status_code == 201, uploaded.text
    meta = uploaded.json()
    assert meta == {
        "_id": meta["_id"],
        "filename": "shot 1.png",
        "contentType": "image/png",
        "size": len(data),
    }

    stored = await mongo_db["attachments.files"].find_one({"_id": ObjectId(meta["_id"])})
    assert stored is not None
    assert stored["length"] == len(data)
    assert stored["metadata"]["conversation"] == ObjectId(conv)
    assert stored["metadata"]["uploader"] == customer.id
    assert stored["metadata"]["content_type"] == "image/png"
    assert await mongo_db["attachments.chunks"].count_documents({"files_id": stored["_id"]}) == 3

    for who in (customer, agent):
        got = await running.http.get(f"/api/attachments/{meta['_id']}", headers=auth(tokens, who))
        assert got.status_code == 200
        assert got.content == data
        assert got.headers["content-type"] == "image/png"
        assert got.headers["content-length"] == str(len(data))
        assert got.headers["x-content-type-options"] == "nosniff"
        assert got.headers["content-disposition"] == (
            "attachment; filename=\"shot 1.png\"; filename*=UTF-8''shot%201.png"
        )


async def test_who_may_upload_and_download(
    running: Running, tokens: Tokens, make_user: Callable[..., Any]
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    stranger, admin = await make_user("customer"), await make_user("admin")
    conv = await pair(running, tokens, customer, agent)
    meta = (await upload(running, tokens, agent, conv, "a.png", png(100))).json()

    for who in (stranger, admin):  # admins read every conversation but write to none
        refused = await upload(running, tokens, who, conv, "b.png", png(100))
        assert_error(refused, 403, "not_participant")
    url = f"/api/attachments/{meta['_id']}"
    assert_error(
        await running.http.get(url, headers=auth(tokens, stranger)), 403, "not_participant"
    )
    assert (await running.http.get(url, headers=auth(tokens, admin))).status_code == 200
    assert_error(await running.http.get(url), 401, "unauthorized")
    unknown = f"/api/attachments/{ObjectId()}"
    assert_error(await running.http.get(unknown, headers=auth(tokens, admin)), 404, "not_found")
    bad = "/api/attachments/not-an-id"
    assert_error(await running.http.get(bad, headers=auth(tokens, admin)), 400, "invalid_id")
    missing = f"/api/conversations/{ObjectId()}/attachments"
    response = await running.http.post(
        missing, files={"file": ("a.png", png(10))}, headers=auth(tokens, agent)
    )
    assert_error(response, 404, "not_found")


async def test_limits_types_and_bad_bodies_store_nothing(
    running: Running, tokens: Tokens, make_user: Callable[..., Any], mongo_db: AsyncDatabase
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    conv = await pair(running, tokens, customer, agent)
    c = auth(tokens, customer)

    exactly = await upload(running, tokens, customer, conv, "max.png", png(LIMIT))
    assert exactly.status_code == 201, exactly.text
    assert_error(
        await upload(running, tokens, customer, conv, "big.png", png(LIMIT + 1)),
        413,
        "payload_too_large",
    )
    elf = b"\x7fELF\x02\x01\x01" + bytes(5000)
    assert_error(
        await upload(running, tokens, customer, conv, "cat.png", elf), 415, "executable_not_allowed"
    )
    assert_error(
        await upload(running, tokens, customer, conv, "x.dat", bytes(range(256)) * 4),
        415,
        "file_type_not_allowed",
    )
    assert_error(await upload(running, tokens, customer, conv, "empty.txt", b""), 400, "empty_file")

    url = f"/api/conversations/{conv}/attachments"
    no_file = await running.http.post(
        url, data={"note": "x"}, files={"other": ("a.txt", b"x")}, headers=c
    )
    assert_error(no_file, 400, "missing_file")
    assert_error(
        await running.http.post(url, json={"file": "x"}, headers=c), 400, "invalid_multipart"
    )
    boundary = "b0undary"
    truncated = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\n'
        "hello, this file never ends"
    ).encode()
    response = await running.http.post(
        url,
        content=truncated,
        headers={**c, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert_error(response, 400, "upload_incomplete")
    # A body far over the limit is refused from its declared length, before it is read.
    huge = await running.http.post(
        url,
        content=b"x" * (LIMIT + 70 * 1024),
        headers={**c, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert_error(huge, 413, "payload_too_large")

    # Only the one file that fit is stored: refusals leave neither file documents nor chunks.
    assert await mongo_db["attachments.files"].count_documents({}) == 1
    assert await mongo_db["attachments.chunks"].count_documents({}) == -(-LIMIT // CHUNK_BYTES)


async def test_office_documents_text_and_renamed_archives(
    running: Running, tokens: Tokens, make_user: Callable[..., Any]
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    conv = await pair(running, tokens, customer, agent)
    doc = await upload(running, tokens, customer, conv, "letter.docx", docx())
    assert doc.status_code == 201, doc.text
    assert doc.json()["contentType"] == files.DOCX
    csv = await upload(running, tokens, customer, conv, "t.csv", b"a,b\n1,2\n")
    assert csv.json()["contentType"] == "text/csv"
    got = await running.http.get(
        f"/api/attachments/{csv.json()['_id']}", headers=auth(tokens, agent)
    )
    assert got.headers["content-type"] == "text/csv; charset=utf-8"

    jar = io.BytesIO()
    with zipfile.ZipFile(jar, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", "Main-Class: Evil\n")
        archive.writestr("Evil.class", b"\xca\xfe\xba\xbe")
    refused = await upload(running, tokens, customer, conv, "report.docx", jar.getvalue())
    assert_error(refused, 415, "file_type_not_allowed")


async def test_messages_carry_attachments_of_their_conversation_only(
    running: Running, tokens: Tokens, make_user: Callable[..., Any]
) -> None:
    customer, agent, other = (
        await make_user("customer"),
        await make_user("agent"),
        await make_user("agent"),
    )
    conv = await pair(running, tokens, customer, agent)
    elsewhere = await pair(running, tokens, customer, other)
    c, a = auth(tokens, customer), auth(tokens, agent)
    mine = (await upload(running, tokens, customer, conv, "a.png", png(500))).json()
    theirs = (await upload(running, tokens, agent, conv, "b.pdf", b"%PDF-1.4\n" + bytes(50))).json()
    foreign = (await upload(running, tokens, customer, elsewhere, "c.png", png(50))).json()

    url = f"/api/conversations/{conv}/messages"
    # Screenshots alone: the text may be empty when attachments come with it.
    sent = await running.http.post(
        url, json={"text": " ", "attachments": [mine["_id"], theirs["_id"]]}, headers=c
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["text"] == ""
    assert sent.json()["attachments"] == [mine, theirs]
    history = (await running.http.get(url, headers=a)).json()
    assert history[-1]["attachments"] == [mine, theirs]
    listed = (await running.http.get("/api/conversations", headers=a)).json()
    assert [item["lastMessage"]["attachments"] for item in listed if item["_id"] == conv] == [
        [mine, theirs]
    ]

    for body, code in [
        ({"text": "x", "attachments": [foreign["_id"]]}, "invalid_attachment"),
        ({"text": "x", "attachments": [str(ObjectId())]}, "invalid_attachment"),
        (
            {"text": "x", "attachments": [mine["_id"], theirs["_id"], foreign["_id"]]},
            "too_many_attachments",
        ),
        ({"text": "", "attachments": []}, "empty_text"),
    ]:
        assert_error(await running.http.post(url, json=body, headers=c), 400, code)


async def test_deleting_a_conversation_deletes_its_files(
    running: Running, tokens: Tokens, make_user: Callable[..., Any], mongo_db: AsyncDatabase
) -> None:
    customer, agent, other = (
        await make_user("customer"),
        await make_user("agent"),
        await make_user("agent"),
    )
    conv = await pair(running, tokens, customer, agent)
    kept_conv = await pair(running, tokens, customer, other)
    gone = [
        (await upload(running, tokens, customer, conv, f"{i}.png", png(CHUNK_BYTES + 10))).json()
        for i in range(2)
    ]
    kept = (await upload(running, tokens, customer, kept_conv, "k.png", png(10))).json()

    deleted = await running.http.delete(f"/api/conversations/{conv}", headers=auth(tokens, agent))
    assert deleted.status_code == 200, deleted.text
    for meta in gone:
        response = await running.http.get(
            f"/api/attachments/{meta['_id']}", headers=auth(tokens, customer)
        )
        assert_error(response, 404, "not_found")
        assert (
            await mongo_db["attachments.chunks"].count_documents(
                {"files_id": ObjectId(meta["_id"])}
            )
            == 0
        )
    assert await mongo_db["attachments.files"].count_documents({}) == 1
    got = await running.http.get(f"/api/attachments/{kept['_id']}", headers=auth(tokens, other))
    assert got.status_code == 200


async def test_uploads_and_downloads_stream_through_gridfs(
    running: Running, make_user: Callable[..., Any], mongo_db: AsyncDatabase
) -> None:
    """The file reaches GridFS while the client is still sending, and is read back chunk by
    chunk: neither direction holds the whole file."""
    customer, agent = await make_user("customer"), await make_user("agent")
    service = running.service
    opened = await service.open_conversation(customer, agent.id)
    conversation = await service.files.conversation_for_upload(customer, opened.conversation["_id"])
    chunks_seen: list[int] = []
    piece = png(CHUNK_BYTES)[: 64 * 1024]

    async def slow_client() -> AsyncIterator[bytes]:
        for _ in range(9):  # 576 KiB in 64 KiB pieces
            chunks_seen.append(await mongo_db["attachments.chunks"].count_documents({}))
            yield piece

    meta = await service.files.upload(customer, conversation, "s.png", None, slow_client())
    assert meta["size"] == 9 * len(piece)
    # Each full chunk was in the database as soon as it was full, long before the last piece.
    assert chunks_seen == [0, 0, 0, 0, 1, 1, 1, 1, 2], chunks_seen

    # Plain GridFS: the driver's own bucket reads what the service wrote.
    bucket = AsyncGridFSBucket(mongo_db, bucket_name="attachments")
    grid_out = await bucket.open_download_stream(ObjectId(meta["_id"]))
    assert await grid_out.read() == piece * 9
    assert grid_out.filename == "s.png"

    download = await service.files.download(agent, meta["_id"])
    sizes = [len(chunk) async for chunk in download.chunks]
    assert sizes[:-1] == [CHUNK_BYTES] * (len(sizes) - 1)
    assert sum(sizes) == meta["size"]
    store = AttachmentStore(mongo_db)
    assert await store.delete_of_conversation(conversation.id) == 1


async def send_with(running: Running, tokens: Tokens, who: Person, conv: str, *ids: str) -> Any:
    sent = await running.http.post(
        f"/api/conversations/{conv}/messages",
        json={"text": "see attached", "attachments": list(ids)},
        headers=auth(tokens, who),
    )
    assert sent.status_code == 201, sent.text
    return sent.json()


async def test_deleting_a_message_makes_its_files_unreachable(
    running: Running, tokens: Tokens, make_user: Callable[..., Any], mongo_db: AsyncDatabase
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    conv = await pair(running, tokens, customer, agent)
    only_here = (
        await upload(running, tokens, customer, conv, "a.png", png(CHUNK_BYTES + 5))
    ).json()
    shared = (await upload(running, tokens, customer, conv, "b.png", png(50))).json()
    first = await send_with(running, tokens, customer, conv, only_here["_id"], shared["_id"])
    await send_with(running, tokens, customer, conv, shared["_id"])

    deleted = await running.http.delete(
        f"/api/messages/{first['_id']}", headers=auth(tokens, customer)
    )
    assert deleted.status_code == 200, deleted.text
    gone = await running.http.get(
        f"/api/attachments/{only_here['_id']}", headers=auth(tokens, agent)
    )
    assert_error(gone, 404, "not_found")
    chunks = mongo_db["attachments.chunks"]
    assert await chunks.count_documents({"files_id": ObjectId(only_here["_id"])}) == 0
    # Still carried by the second message: kept.
    kept = await running.http.get(f"/api/attachments/{shared['_id']}", headers=auth(tokens, agent))
    assert kept.status_code == 200


async def test_uploads_no_message_took_expire(
    running: Running, tokens: Tokens, make_user: Callable[..., Any], mongo_db: AsyncDatabase
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    conv = await pair(running, tokens, customer, agent)
    taken = (await upload(running, tokens, customer, conv, "a.png", png(50))).json()
    left = (await upload(running, tokens, customer, conv, "b.png", png(CHUNK_BYTES + 5))).json()
    await send_with(running, tokens, customer, conv, taken["_id"])

    assert await running.service.files.expire_unattached_files() == 0  # both younger than a day
    running.service.files.limits = dataclasses.replace(
        running.service.files.limits, attachment_unattached_ttl_s=0
    )
    assert await running.service.files.expire_unattached_files() == 1
    c = auth(tokens, customer)
    assert_error(
        await running.http.get(f"/api/attachments/{left['_id']}", headers=c), 404, "not_found"
    )
    assert (
        await mongo_db["attachments.chunks"].count_documents({"files_id": ObjectId(left["_id"])})
        == 0
    )
    assert (
        await running.http.get(f"/api/attachments/{taken['_id']}", headers=c)
    ).status_code == 200


async def test_a_user_over_the_storage_quota_gets_413_and_nothing_is_stored(
    running: Running, tokens: Tokens, make_user: Callable[..., Any], mongo_db: AsyncDatabase
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    conv = await pair(running, tokens, customer, agent)
    running.service.files.limits = dataclasses.replace(
        running.service.files.limits, attachment_quota_bytes=CHUNK_BYTES * 2
    )
    first = (await upload(running, tokens, customer, conv, "a.png", png(CHUNK_BYTES + 5))).json()
    message = await send_with(running, tokens, customer, conv, first["_id"])
    files_before = await mongo_db["attachments.files"].count_documents({})
    chunks_before = await mongo_db["attachments.chunks"].count_documents({})
    refused = await upload(running, tokens, customer, conv, "b.png", png(CHUNK_BYTES + 5))
    assert_error(refused, 413, "attachment_quota_exceeded")
    assert await mongo_db["attachments.files"].count_documents({}) == files_before
    assert await mongo_db["attachments.chunks"].count_documents({}) == chunks_before
    # Another user's quota is their own.
    theirs = await upload(running, tokens, agent, conv, "c.png", png(CHUNK_BYTES + 5))
    assert theirs.status_code == 201, theirs.text
    # Deleting the message frees its bytes.
    deleted = await running.http.delete(
        f"/api/messages/{message['_id']}", headers=auth(tokens, customer)
    )
    assert deleted.status_code == 200
    again = await upload(running, tokens, customer, conv, "b.png", png(CHUNK_BYTES + 5))
    assert again.status_code == 201, again.text
