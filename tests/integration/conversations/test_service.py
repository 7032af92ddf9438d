"""The use cases against the real SecantusDB: seqs, idempotency, races, reads, deletes, and the
events each write leaves in the outbox (the relay is not running here, so they stay there)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.domain_errors import DomainError
from workcity_common.error_table import http_status
from workcity_common.events import MessageCreated
from workcity_conversations.adapters.attachments import AttachmentStore
from workcity_conversations.adapters.directory import UserDirectory
from workcity_conversations.adapters.store import ConversationStore
from workcity_conversations.domain.model import Person
from workcity_conversations.service_layer.service import ConversationService, Limits

from tests.support.outbox import stored_events

pytestmark = pytest.mark.integration


async def expect_error(status: int, code: str, call: Any) -> DomainError:
    with pytest.raises(DomainError) as caught:
        await call
    assert (http_status(caught.value), caught.value.code) == (status, code), caught.value.msg
    return caught.value


async def open_pair(service: ConversationService, a: Person, b: Person) -> str:
    opened = await service.open_conversation(a, b.id)
    return str(opened.conversation["_id"])


async def test_open_creates_once_and_returns_the_existing_one(
    service: ConversationService, make_user: Callable[..., Any], mongo_db: AsyncDatabase
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    first = await service.open_conversation(customer, agent.id)
    assert first.created
    conv = first.conversation
    assert [p["_id"] for p in conv["participants"]] == [customer.id, agent.id]
    assert conv["participants"][1] == {"_id": agent.id, "email": agent.email, "role": "agent"}
    assert (conv["lastMessage"], conv["unreadCount"], conv["lastSeq"]) == (None, 0, 0)

    # Either side, any number of times: the same conversation, 200.
    again = await service.open_conversation(agent, customer.id)
    assert not again.created
    assert again.conversation["_id"] == conv["_id"]

    created = await stored_events(mongo_db, "conversation.created")
    assert len(created) == 1
    # The customer's answer is the customer's view of the event's conversation: of the desk's
    # state only status and assignee (the staff member they opened it with), and their own
    # subject and order number (none here: opened directly, not through POST /api/support) and
    # rating (none yet).
    fields = ("_id", "participants", "lastSeq", "createdAt", "updatedAt", "status", "assignee")
    assert created[0].data.conversation.customer_api() == {
        **{k: conv[k] for k in fields},
        "subject": None,
        "orderId": None,
        "csat": None,
    }
    assert conv["status"] == "open"
    assert conv["assignee"] == {"_id": agent.id, "email": agent.email}
    assert "team" not in conv and "labels" not in conv


async def test_racing_creates_make_one_conversation(
    service: ConversationService, make_user: Callable[..., Any], mongo_db: AsyncDatabase
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    results = await asyncio.gather(
        *(
            service.open_conversation(*((customer, agent.id) if i % 2 else (agent, customer.id)))
            for i in range(8)
        )
    )
    assert len({r.conversation["_id"] for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert await mongo_db["conversations"].count_documents({}) == 1
    assert len(await stored_events(mongo_db, "conversation.created")) == 1


async def test_who_may_open_a_conversation(
    service: ConversationService, make_user: Callable[..., Any]
) -> None:
    customer, other_customer = await make_user("customer"), await make_user("customer")
    agent, gone = await make_user("agent"), await make_user("agent", disabled=True)
    await expect_error(
        403, "recipient_not_allowed", service.open_conversation(customer, other_customer.id)
    )
    await expect_error(400, "self_conversation", service.open_conversation(agent, agent.id))
    await expect_error(400, "recipient_disabled", service.open_conversation(customer, gone.id))
    await expect_error(400, "invalid_id", service.open_conversation(customer, "nope"))
    await expect_error(
        404,
        "recipient_not_found",
        service.open_conversation(customer, "6566f1d2c3b4a59687a1b2c3"),
    )
    # Support staff may open conversations with customers.
    assert (await service.open_conversation(agent, customer.id)).created


async def test_concurrent_sends_get_unique_gapless_seqs_and_events_in_seq_order(
    service: ConversationService, make_user: Callable[..., Any], mongo_db: AsyncDatabase
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    conv_id = await open_pair(service, customer, agent)
    senders = [customer, agent] * 6
    sent = await asyncio.gather(
        *(service.send(who, conv_id, f"message {i}") for i, who in enumerate(senders))
    )
    assert sorted(s.message["seq"] for s in sent) == list(range(1, 13))
    created = await stored_events(mongo_db, "message.created")
    # Outbox order (the relay's publish order) is seq order.
    assert [e.data.message.seq for e in created] == list(range(1, 13))
    assert all(e.data.participant_ids == [customer.id, agent.id] for e in created)
    conversation = await mongo_db["conversations"].find_one({})
    assert conversation is not None and conversation["last_seq"] == 12


async def test_message_answer_shape_matches_the_event(
    service: ConversationService, make_user: Callable[..., Any], mongo_db: AsyncDatabase
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    conv_id = await open_pair(service, customer, agent)
    sent = await service.send(customer, conv_id, "  Hello, I need help  ", "cm-1")
    message = sent.message
    assert not sent.replayed
    assert message["text"] == "Hello, I need help"
    assert message["conversation"] == conv_id
    assert message["seq"] == 1
    assert message["sender"] == {"_id": customer.id, "email": customer.email, "role": "customer"}
    assert message["readBy"] == [customer.id]  # the sender has read their own message
    assert message["clientMessageId"] == "cm-1"
    assert message["attachments"] == []
    assert message["edited"] is False
    assert message["createdAt"].endswith("Z")
    [event] = await stored_events(mongo_db, "message.created")
    assert event.data.message.to_api() == message
    assert event.producer == "conversations"


async def test_concurrent_retries_with_one_client_id_store_one_message(
    service: ConversationService, make_user: Callable[..., Any], mongo_db: AsyncDatabase
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    conv_id = await open_pair(service, customer, agent)
    results = await asyncio.gather(
        *(service.send(customer, conv_id, "only once", "retry-me") for _ in range(8))
    )
    assert len({r.message["_id"] for r in results}) == 1
    assert sum(not r.replayed for r in results) == 1
    assert await mongo_db["messages"].count_documents({}) == 1
    assert len(await stored_events(mongo_db, "message.created")) == 1
    # The losers' transactions were rolled back with their seq: no gap.
    nxt = await service.send(customer, conv_id, "next")
    assert nxt.message["seq"] == 2
    # A later retry still answers with the first message.
    late = await service.send(customer, conv_id, "different text", "retry-me")
    assert late.replayed
    assert (late.message["_id"], late.message["text"]) == (results[0].message["_id"], "only once")


async def test_client_ids_are_scoped_to_sender_and_conversation(
    service: ConversationService, make_user: Callable[..., Any]
) -> None:
    customer, agent, designer = (
        await make_user("customer"),
        await make_user("agent"),
        await make_user("designer"),
    )
    first = await open_pair(service, customer, agent)
    second = await open_pair(service, customer, designer)
    a = await service.send(customer, first, "x", "same-id")
    b = await service.send(agent, first, "x", "same-id")
    c = await service.send(customer, second, "x", "same-id")
    assert len({a.message["_id"], b.message["_id"], c.message["_id"]}) == 3
    assert not any(s.replayed for s in (a, b, c))


async def test_history_pages(service: ConversationService, make_user: Callable[..., Any]) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    conv_id = await open_pair(service, customer, agent)
    for i in range(1, 13):
        await service.send(customer if i % 2 else agent, conv_id, f"m{i}")

    async def seqs(limit: str | None, after: str | None, before: str | None) -> list[int]:
        messages = await service.history(customer, conv_id, limit, after, before)
        return [m["seq"] for m in messages]

    assert await seqs(None, None, None) == list(range(1, 13))
    assert await seqs("5", None, None) == [8, 9, 10, 11, 12]  # the latest page
    assert await seqs("4", "3", None) == [4, 5, 6, 7]  # catch-up after seq 3
    assert await seqs("4", "12", None) == []
    assert await seqs("3", None, "5") == [2, 3, 4]  # just before seq 5
    assert await seqs(None, "2", "6") == [3, 4, 5]
    assert await seqs("500", "0", None) == list(range(1, 13))  # capped, not refused
    await expect_error(400, "invalid_query", service.history(customer, conv_id, "-1", None, None))
    await expect_error(400, "invalid_query", service.history(customer, conv_id, None, "x", None))


async def test_reading_is_for_participants_and_admins_writing_for_participants(
    service: ConversationService, make_user: Callable[..., Any]
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    stranger, admin = await make_user("customer"), await make_user("admin")
    conv_id = await open_pair(service, customer, agent)
    await service.send(customer, conv_id, "hello")
    assert len(await service.history(admin, conv_id, None, None, None)) == 1
    assert (await service.get_conversation(admin, conv_id))["_id"] == conv_id
    for call in (
        service.history(stranger, conv_id, None, None, None),
        service.get_conversation(stranger, conv_id),
        service.send(stranger, conv_id, "let me in"),
        service.send(admin, conv_id, "admins read, they do not post"),
        service.mark_read(stranger, conv_id, None),
        service.delete_conversation(stranger, conv_id),
    ):
        await expect_error(403, "not_participant", call)
    await expect_error(
        404, "not_found", service.history(customer, "6566f1d2c3b4a59687a1b2c3", None, None, None)
    )


async def test_read_positions_unread_counts_and_read_by(
    service: ConversationService, make_user: Callable[..., Any], mongo_db: AsyncDatabase
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    conv_id = await open_pair(service, customer, agent)
    for i in range(5):
        await service.send(customer, conv_id, f"question {i}")

    async def unread(who: Person) -> int:
        items, _ = await service.list_conversations(who, None, None)
        return int(items[0]["unreadCount"])

    assert (await unread(agent), await unread(customer)) == (5, 0)
    read = await service.mark_read(agent, conv_id, 3)
    assert (read["conversationId"], read["userId"], read["seq"]) == (conv_id, agent.id, 3)
    assert await unread(agent) == 2
    # Backwards is ignored (and reports the position as it stands, without an event).
    assert (await service.mark_read(agent, conv_id, 1))["seq"] == 3
    # Past the end counts as the end; no seq means everything so far.
    assert (await service.mark_read(agent, conv_id, 999))["seq"] == 5
    await service.send(customer, conv_id, "one more")
    assert await unread(agent) == 1
    assert (await service.mark_read(agent, conv_id, None))["seq"] == 6
    assert await unread(agent) == 0

    reads = await stored_events(mongo_db, "message.read")
    assert [e.data.seq for e in reads] == [3, 5, 6]
    assert reads[0].data.to_api()["userId"] == agent.id

    history = await service.history(customer, conv_id, None, None, None)
    assert all(sorted(m["readBy"]) == sorted([customer.id, agent.id]) for m in history)
    # Sending moves the sender's own read position: replying reads what came before it.
    await service.send(customer, conv_id, "still there?")
    await service.send(agent, conv_id, "yes")
    assert (await unread(agent), await unread(customer)) == (0, 1)


async def test_deleted_messages_do_not_count_as_unread(
    service: ConversationService, make_user: Callable[..., Any], mongo_db: AsyncDatabase
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    conv_id = await open_pair(service, customer, agent)
    ids = [(await service.send(customer, conv_id, f"m{i}")).message["_id"] for i in range(4)]
    await service.delete_message(customer, ids[1])
    items, _ = await service.list_conversations(agent, None, None)
    assert items[0]["unreadCount"] == 3
    assert items[0]["lastMessage"]["_id"] == ids[3]
    # The last message deleted: the one before it becomes the last message.
    await service.delete_message(customer, ids[3])
    items, _ = await service.list_conversations(agent, None, None)
    assert (items[0]["unreadCount"], items[0]["lastMessage"]["_id"]) == (2, ids[2])
    # Once everyone has read past them, deleted seqs are forgotten.
    await service.mark_read(agent, conv_id, None)
    doc = await mongo_db["conversations"].find_one({})
    assert doc is not None and doc["deleted_seqs"] == []
    deleted = await stored_events(mongo_db, "message.deleted")
    assert [(e.data.message_id, e.data.seq) for e in deleted] == [(ids[1], 2), (ids[3], 4)]


async def test_delete_message_rules_and_unknown_ids(
    service: ConversationService, make_user: Callable[..., Any]
) -> None:
    customer, agent, admin = (
        await make_user("customer"),
        await make_user("agent"),
        await make_user("admin"),
    )
    conv_id = await open_pair(service, customer, agent)
    mine = (await service.send(customer, conv_id, "mine")).message["_id"]
    await expect_error(403, "not_sender", service.delete_message(agent, mine))
    assert await service.delete_message(admin, mine) == mine  # admins moderate
    await expect_error(404, "not_found", service.delete_message(customer, mine))
    await expect_error(400, "invalid_id", service.delete_message(customer, "123"))


async def test_edit_message(
    service: ConversationService, make_user: Callable[..., Any], mongo_db: AsyncDatabase
) -> None:
    customer, agent, admin = (
        await make_user("customer"),
        await make_user("agent"),
        await make_user("admin"),
    )
    conv_id = await open_pair(service, customer, agent)
    sent = (await service.send(customer, conv_id, "helo")).message
    edited = await service.edit_message(customer, sent["_id"], " hello ")
    assert (edited["text"], edited["edited"], edited["seq"]) == ("hello", True, 1)
    assert edited["updatedAt"] >= sent["updatedAt"]
    await expect_error(403, "not_sender", service.edit_message(agent, sent["_id"], "x"))
    await expect_error(403, "not_sender", service.edit_message(admin, sent["_id"], "x"))
    await expect_error(400, "empty_text", service.edit_message(customer, sent["_id"], "  "))
    [event] = await stored_events(mongo_db, "message.updated")
    assert event.data.message.to_api() == edited
    history = await service.history(agent, conv_id, None, None, None)
    assert history[0]["text"] == "hello"


async def test_delete_conversation_removes_messages_and_frees_the_pair(
    service: ConversationService, make_user: Callable[..., Any], mongo_db: AsyncDatabase
) -> None:
    customer, agent, admin = (
        await make_user("customer"),
        await make_user("agent"),
        await make_user("admin"),
    )
    conv_id = await open_pair(service, customer, agent)
    await service.send(customer, conv_id, "bye")
    assert await service.delete_conversation(customer, conv_id) == conv_id
    assert await mongo_db["messages"].count_documents({}) == 0
    [event] = await stored_events(mongo_db, "conversation.deleted")
    assert event.data.conversation_id == conv_id
    assert event.data.participant_ids == [customer.id, agent.id]
    await expect_error(404, "not_found", service.delete_conversation(customer, conv_id))
    again = await service.open_conversation(customer, agent.id)
    assert again.created and again.conversation["_id"] != conv_id
    # Admins may delete any conversation.
    await service.delete_conversation(admin, str(again.conversation["_id"]))


async def test_list_is_most_recently_active_first_and_paged(
    service: ConversationService, make_user: Callable[..., Any]
) -> None:
    agent = await make_user("agent")
    customers = [await make_user("customer") for _ in range(5)]
    ids = [await open_pair(service, c, agent) for c in customers]
    await service.send(customers[2], ids[2], "bump")
    await service.send(customers[0], ids[0], "bump")

    expected = [ids[0], ids[2], ids[4], ids[3], ids[1]]
    items, cursor = await service.list_conversations(agent, None, None)
    assert [i["_id"] for i in items] == expected
    assert cursor is None

    seen: list[str] = []
    cursor = None
    for _ in range(5):
        items, cursor = await service.list_conversations(agent, "2", cursor)
        seen.extend(i["_id"] for i in items)
        if cursor is None:
            break
    assert seen == expected
    # Each customer sees only their own.
    mine, _ = await service.list_conversations(customers[1], None, None)
    assert [i["_id"] for i in mine] == [ids[1]]


async def test_text_and_client_id_validation(
    service: ConversationService, make_user: Callable[..., Any]
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    conv_id = await open_pair(service, customer, agent)
    await expect_error(400, "empty_text", service.send(customer, conv_id, "   "))
    await expect_error(400, "text_too_long", service.send(customer, conv_id, "x" * 4001))
    assert (await service.send(customer, conv_id, "x" * 4000)).message["seq"] == 1
    await expect_error(
        400, "invalid_client_message_id", service.send(customer, conv_id, "hi", "x" * 129)
    )
    await expect_error(400, "invalid_id", service.send(customer, conv_id, "hi", None, ["a"]))


async def test_disabled_callers_are_refused(
    service: ConversationService, make_user: Callable[..., Any]
) -> None:
    from workcity_common.tokens import TokenClaims

    gone = await make_user("customer", disabled=True)
    claims = TokenClaims(user_id=gone.id, email=gone.email, role="customer", expires_at=0)
    await expect_error(403, "account_disabled", service.caller(claims))


async def test_replying_reads_what_came_before_and_reports_it(
    service: ConversationService, make_user: Callable[..., Any], mongo_db: AsyncDatabase
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    conv_id = await open_pair(service, customer, agent)
    await service.send(customer, conv_id, "one")
    await service.send(customer, conv_id, "two")
    reply = await service.send(agent, conv_id, "answer")
    # The customer's messages now count the agent among their readers...
    history = await service.history(customer, conv_id, None, None, None)
    both = sorted([customer.id, agent.id])
    assert [sorted(m["readBy"]) for m in history] == [both, both, [agent.id]]
    # ...and the customer hears of it: the new message's one event carries the agent's read
    # (message.created version 2; no message.read of its own).
    events = await stored_events(mongo_db)
    assert [e.type for e in events].count("message.read") == 0
    created = events[-1]
    assert isinstance(created, MessageCreated) and created.version == 2
    receipt_data = created.read_receipt()
    assert receipt_data is not None
    receipt = receipt_data.to_api()
    assert (receipt["userId"], receipt["seq"]) == (agent.id, 3)
    assert receipt["readAt"] == reply.message["createdAt"]
    # A sender continuing their own run reads nothing new: no receipt.
    await service.send(agent, conv_id, "more")
    last = (await stored_events(mongo_db))[-1]
    assert isinstance(last, MessageCreated) and last.read_receipt() is None
    assert last.data.sender_read is not None and last.data.sender_read.seq == 4


async def test_message_created_version_1_for_a_rolling_upgrade(
    store: ConversationStore, make_user: Callable[..., Any], mongo_db: AsyncDatabase
) -> None:
    # MESSAGE_CREATED_VERSION=1: the previous form, and the separate message.read after it.
    service = ConversationService(
        store,
        UserDirectory(mongo_db),
        AttachmentStore(mongo_db),
        Limits(message_created_version=1),
    )
    customer, agent = await make_user("customer"), await make_user("agent")
    conv_id = await open_pair(service, customer, agent)
    await service.send(customer, conv_id, "one")
    await service.send(agent, conv_id, "answer")
    events = await stored_events(mongo_db)
    assert [e.type for e in events[-2:]] == ["message.created", "message.read"]
    created = events[-2]
    assert isinstance(created, MessageCreated)
    assert created.version == 1 and created.data.sender_read is None
