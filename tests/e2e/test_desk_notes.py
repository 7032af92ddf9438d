"""Private notes through the gateway (CONTRACT Part 3): staff who may see a conversation write and
read them and hear of them (`noteCreated`); nobody else does, and no customer-facing route, socket
event or email ever carries their text."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from bson import ObjectId
from pymongo.database import Database

from tests.support.api import UNKNOWN_ID, assert_json_error, uploaded
from tests.support.desk import Listener, make_team, make_users
from tests.support.stack import TestStack
from tests.support.users import TestUser

pytestmark = pytest.mark.usefixtures("stack")


class Everything(Listener):
    """A socket recording every event it receives, whatever its name."""

    def __init__(self, user: TestUser) -> None:
        super().__init__(user)

        @self.client.on("*")
        async def record(event: str, *args: Any) -> None:
            self.events.append((event, args[0] if len(args) == 1 else list(args)))

    async def close(self) -> None:
        if self.client.connected:
            await self.client.disconnect()


async def _connected(user: TestUser, stack: TestStack) -> Everything:
    listener = Everything(user)
    await listener.connect(stack)
    return listener


async def _note(http: httpx.AsyncClient, who: TestUser, cid: str, text: str) -> dict[str, Any]:
    response = await http.post(
        f"/api/conversations/{cid}/notes", json={"text": text}, headers=who.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_notes_reach_staff_who_see_the_conversation_and_nobody_else(
    http: httpx.AsyncClient, stack: TestStack
) -> None:
    customer, stranger, agent, outsider, admin = await make_users(
        http, stack, "customer", "customer", "agent", "agent", "admin"
    )
    team = await make_team(http, admin, [agent], autoAssign=False)
    other_team = await make_team(http, admin, [outsider], autoAssign=False)
    cid = (await http.post("/api/support", json={"teamId": team}, headers=customer.headers)).json()[
        "_id"
    ]
    sockets = {
        u.role if u is not outsider else "outsider": await _connected(u, stack)
        for u in (customer, agent, outsider, admin)
    }
    try:
        path = f"/api/conversations/{cid}/notes"
        # Before any note: an empty list for staff of its team.
        assert (await http.get(path, headers=agent.headers)).json() == []
        first = await _note(http, agent, cid, "  customer sounds upset  ")
        assert first["text"] == "customer sounds upset" and first["conversation"] == cid
        assert first["author"] == {"_id": agent.id, "email": agent.email}
        second = await _note(http, admin, cid, "refund approved")
        heard = await sockets["agent"].wait_for(
            "noteCreated", lambda d: d["note"]["_id"] == second["_id"]
        )
        assert heard["note"] == second
        await sockets["admin"].wait_for("noteCreated", lambda d: d["note"]["_id"] == first["_id"])
        listed = (await http.get(path, headers=agent.headers)).json()
        assert [n["_id"] for n in listed] == [first["_id"], second["_id"]]  # oldest first
        assert listed[1]["author"] == {"_id": admin.id, "email": admin.email}
        page = (await http.get(path, params={"after": first["_id"]}, headers=admin.headers)).json()
        assert [n["_id"] for n in page] == [second["_id"]]
        assert (await http.get(path, params={"limit": "1"}, headers=agent.headers)).json() == [
            first
        ]

        # From the attacker's side: customers (its own included), staff outside its team.
        for attacker in (customer, stranger, outsider):
            assert_json_error(await http.get(path, headers=attacker.headers), 403)
            assert_json_error(
                await http.post(path, json={"text": "x"}, headers=attacker.headers), 403
            )
        assert_json_error(await http.get(path), 401)
        for bad in ({"text": ""}, {"text": "   "}, {"text": 5}, {}, ["x"], {"text": "x" * 4001}):
            assert_json_error(await http.post(path, json=bad, headers=agent.headers), 400)
        assert_json_error(await http.get(path, params={"limit": "-1"}, headers=agent.headers), 400)
        assert_json_error(await http.get(path, params={"after": "x"}, headers=agent.headers), 400)
        assert_json_error(await http.get("/api/conversations/x/notes", headers=agent.headers), 400)
        assert_json_error(
            await http.get(f"/api/conversations/{UNKNOWN_ID}/notes", headers=agent.headers), 404
        )

        # A transfer's note becomes a private note by the caller; the new team reads it.
        moved = await http.post(
            f"/api/conversations/{cid}/transfer",
            json={"teamId": other_team, "note": "over to billing"},
            headers=agent.headers,
        )
        assert moved.status_code == 200, moved.text
        notes = (await http.get(path, headers=outsider.headers)).json()
        assert [n["text"] for n in notes] == [
            "customer sounds upset",
            "refund approved",
            "over to billing",
        ]
        assert notes[-1]["author"]["_id"] == agent.id
        await sockets["outsider"].wait_for(
            "noteCreated", lambda d: d["note"]["text"] == "over to billing"
        )
        await asyncio.sleep(0.5)
        # The outsider heard only of the note written after the conversation came to their team.
        assert [d["note"]["text"] for e, d in sockets["outsider"].events if e == "noteCreated"] == [
            "over to billing"
        ]
        assert [e for e, _ in sockets["customer"].events if e == "noteCreated"] == []
    finally:
        for listener in sockets.values():
            await listener.close()


async def test_no_customer_path_carries_a_note(http: httpx.AsyncClient, stack: TestStack) -> None:
    """After staff write notes (and a transfer note), every route, socket event and email the
    customer gets is walked: none holds a note's text. Chatwoot leaked notes into customer emails
    because a note was a message with a flag; ours are not messages at all."""
    if stack.mail is None:
        pytest.skip("needs the stack the tests start themselves (its SMTP server)")
    customer, agent, admin = await make_users(http, stack, "customer", "agent", "admin")
    team = await make_team(http, admin, [agent], autoAssign=False)
    other_team = await make_team(http, admin, [agent], autoAssign=False)
    secret = f"SECRET-{uuid.uuid4().hex}"
    opened = await http.post(
        "/api/support", json={"teamId": team, "text": "where is my order"}, headers=customer.headers
    )
    cid = opened.json()["_id"]
    assert (await http.post(f"/api/conversations/{cid}/claim", headers=agent.headers)).is_success

    # The customer is offline: staff write notes around a reply, which is emailed to them.
    await _note(http, agent, cid, f"{secret} note before the reply")
    shot = await uploaded(http, agent, cid, "label.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    reply = await http.post(
        f"/api/conversations/{cid}/messages",
        json={"text": "it ships today", "attachments": [shot["_id"]]},
        headers=agent.headers,
    )
    assert reply.status_code == 201, reply.text
    await _note(http, admin, cid, f"{secret} note after the reply")
    emails = await stack.mail.wait_for(customer.email, timeout_s=30)
    assert emails, "the customer got no email for the reply"
    assert "it ships today" in emails[0].body("plain")

    # Online now, in the room: more notes (one by a transfer), a message, a resolve.
    watcher = await _connected(customer, stack)
    staff = await _connected(agent, stack)
    try:
        joined = await watcher.client.call("joinConversation", cid, timeout=10)
        assert joined.get("ok"), joined
        last = await _note(http, agent, cid, f"{secret} note while the customer watches")
        moved = await http.post(
            f"/api/conversations/{cid}/transfer",
            json={"teamId": other_team, "note": f"{secret} transfer note"},
            headers=agent.headers,
        )
        assert moved.status_code == 200, moved.text
        sent = await http.post(
            f"/api/conversations/{cid}/messages",
            json={"text": "anything else?"},
            headers=agent.headers,
        )
        assert sent.status_code == 201, sent.text
        await watcher.wait_for("newMessage", lambda d: d["text"] == "anything else?")
        await staff.wait_for("noteCreated", lambda d: d["note"]["_id"] == last["_id"])
        await staff.wait_for(
            "noteCreated", lambda d: secret in d["note"]["text"] and "transfer" in d["note"]["text"]
        )
        synced = await watcher.client.call(
            "sync", {"conversationId": cid, "afterSeq": 0, "limit": 50}, timeout=10
        )
        await asyncio.sleep(1.0)  # any stray event would have arrived

        seen: list[Any] = [watcher.events, synced]
        listing = await http.get("/api/conversations", headers=customer.headers)
        item = next(c for c in listing.json() if c["_id"] == cid)
        # Unread counts count the staff messages (the reply, "anything else?"), never notes.
        assert item["unreadCount"] == 2, item
        assert item["lastMessage"]["text"] == "anything else?"
        for url in (
            "/api/conversations",
            f"/api/conversations/{cid}",
            f"/api/conversations/{cid}/messages",
            f"/api/messages/{cid}",
            f"/api/conversations/{cid}/messages?after_seq=0&limit=200",
        ):
            got = await http.get(url, headers=customer.headers)
            assert got.status_code == 200, (url, got.text)
            seen.append(got.json())
        download = await http.get(f"/api/attachments/{shot['_id']}", headers=customer.headers)
        assert download.status_code == 200
        seen.append(download.content.decode("latin-1"))
        await asyncio.sleep(3.0)  # the emails of the later messages, if any are due
        seen.extend(e.message.as_string() for e in stack.mail.to(customer.email))
        walked = json.dumps(seen)
        assert "anything else?" in walked and "it ships today" in walked  # the walk saw things
        assert secret not in walked
        # Messages stay the messages: the notes took no seq.
        history = (
            await http.get(f"/api/conversations/{cid}/messages", headers=agent.headers)
        ).json()
        assert [m["seq"] for m in history] == [1, 2, 3]
    finally:
        await watcher.close()
        await staff.close()


async def test_a_deleted_conversation_takes_its_notes_and_activity_along(
    http: httpx.AsyncClient,
    stack: TestStack,
    conversations_db: Database[Any],
) -> None:
    customer, agent, admin = await make_users(http, stack, "customer", "agent", "admin")
    team = await make_team(http, admin, [agent], autoAssign=False)
    cid = (await http.post("/api/support", json={"teamId": team}, headers=customer.headers)).json()[
        "_id"
    ]
    assert (await http.post(f"/api/conversations/{cid}/claim", headers=agent.headers)).is_success
    await _note(http, agent, cid, "before the delete")
    key = {"conversation": ObjectId(cid)}
    assert conversations_db["notes"].count_documents(key) == 1
    assert conversations_db["activity"].count_documents(key) == 1
    deleted = await http.delete(f"/api/conversations/{cid}", headers=customer.headers)
    assert deleted.status_code == 200, deleted.text
    assert conversations_db["notes"].count_documents(key) == 0
    assert conversations_db["activity"].count_documents(key) == 0
