"""Sends to one conversation are committed in groups (one transaction stores every send queued
meanwhile): against the real SecantusDB, the answers, the stored documents and the events are
what one transaction per send would have produced."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase
from workcity_common.database import command_counters, make_mongo_client
from workcity_common.error_table import http_status
from workcity_common.events import MessageCreated, MessageRead
from workcity_common.outbox import Outbox
from workcity_conversations.adapters.attachments import AttachmentStore
from workcity_conversations.adapters.directory import UserDirectory
from workcity_conversations.adapters.store import ConversationStore
from workcity_conversations.domain.errors import Busy
from workcity_conversations.service_layer.service import ConversationService

from tests.support.outbox import stored_events

pytestmark = pytest.mark.integration


class CountingOutbox(Outbox):
    transactions = 0

    async def commit(self, work: Any) -> Any:
        self.transactions += 1
        return await super().commit(work)


@pytest.fixture
async def counted(mongo_db: AsyncDatabase) -> tuple[ConversationService, CountingOutbox]:
    outbox = CountingOutbox(mongo_db["outbox"])
    store = ConversationStore(mongo_db, outbox)
    await store.create_indexes()
    return ConversationService(store, UserDirectory(mongo_db), AttachmentStore(mongo_db)), outbox


async def test_concurrent_sends_share_transactions_and_keep_every_per_message_fact(
    counted: tuple[ConversationService, CountingOutbox],
    make_user: Callable[..., Any],
    mongo_db: AsyncDatabase,
) -> None:
    service, outbox = counted
    customer, agent = await make_user("customer"), await make_user("agent")
    opened = await service.open_conversation(customer, agent.id)
    conv_id = str(opened.conversation["_id"])
    before = outbox.transactions
    senders = [customer, customer, agent, customer, agent, agent] * 5
    sent = await asyncio.gather(
        *(service.send(who, conv_id, f"m{i}") for i, who in enumerate(senders))
    )
    # Fewer transactions than sends: the ones that arrived meanwhile were stored together.
    assert outbox.transactions - before < len(senders)
    by_seq = sorted(sent, key=lambda s: s.message["seq"])
    assert [s.message["seq"] for s in by_seq] == list(range(1, 31))
    # Each answer is the message as stored, its readBy as of its own seq.
    for s in by_seq:
        stored = await mongo_db["messages"].find_one({"seq": s.message["seq"]})
        assert stored is not None and stored["text"] == s.message["text"]
        assert s.message["sender"]["_id"] in s.message["readBy"]

    conversation = await mongo_db["conversations"].find_one({})
    assert conversation is not None
    assert conversation["last_seq"] == 30
    last = by_seq[-1].message
    assert (
        conversation["last_message_id"] == (await mongo_db["messages"].find_one({"seq": 30}))["_id"]
    )
    # Read positions: each participant at their own last message.
    for person in (customer, agent):
        mine = [s.message["seq"] for s in by_seq if s.message["sender"]["_id"] == person.id]
        assert conversation["reads"][person.id] == max(mine)
    assert last["seq"] == 30

    events = await stored_events(mongo_db)
    created = [e for e in events if isinstance(e, MessageCreated)]
    assert [e.data.message.seq for e in created] == list(range(1, 31))
    # A reply after the other side's messages reports the read receipt it implies, once per
    # change of speaker, exactly as sequential sends would.
    receipts = [
        receipt.seq
        for e in events
        if isinstance(e, MessageCreated) and (receipt := e.read_receipt()) is not None
    ]
    assert not any(isinstance(e, MessageRead) for e in events)
    expected = []
    position = {customer.id: 0, agent.id: 0}
    for s in by_seq:
        who, seq = s.message["sender"]["_id"], s.message["seq"]
        if position[who] < seq - 1:
            expected.append(seq)
        position[who] = seq
    assert receipts == expected


async def test_a_reused_client_id_in_a_group_fails_only_that_send(
    counted: tuple[ConversationService, CountingOutbox],
    make_user: Callable[..., Any],
    mongo_db: AsyncDatabase,
) -> None:
    service, _ = counted
    customer, agent = await make_user("customer"), await make_user("agent")
    opened = await service.open_conversation(customer, agent.id)
    conv_id = str(opened.conversation["_id"])
    first = await service.send(customer, conv_id, "original", "same-id")
    results = await asyncio.gather(
        service.send(agent, conv_id, "a"),
        service.send(customer, conv_id, "retry", "same-id"),
        service.send(agent, conv_id, "b"),
        service.send(customer, conv_id, "c", "other-id"),
    )
    retry = results[1]
    assert retry.replayed and retry.message["_id"] == first.message["_id"]
    fresh = [r for r in results if not r.replayed]
    assert sorted(r.message["seq"] for r in fresh) == [2, 3, 4]
    assert await mongo_db["messages"].count_documents({}) == 4


async def test_a_cancelled_send_does_not_hold_up_the_others(
    counted: tuple[ConversationService, CountingOutbox],
    make_user: Callable[..., Any],
    mongo_db: AsyncDatabase,
) -> None:
    service, _ = counted
    customer, agent = await make_user("customer"), await make_user("agent")
    opened = await service.open_conversation(customer, agent.id)
    conv_id = str(opened.conversation["_id"])
    tasks = [asyncio.create_task(service.send(agent, conv_id, f"t{i}")) for i in range(10)]
    await asyncio.sleep(0)
    tasks[3].cancel()
    done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=20)
    stored = [d for d in done if not isinstance(d, BaseException)]
    assert len(stored) >= 9
    count = await mongo_db["messages"].count_documents({})
    seqs = sorted(d["seq"] for d in await mongo_db["messages"].find({}).to_list(None))
    assert seqs == list(range(1, count + 1))  # gapless whatever happened to the cancelled one


async def test_two_processes_writing_one_conversation_keep_seqs_gapless(
    mongo_db: AsyncDatabase, make_user: Callable[..., Any]
) -> None:
    # Two stores over one database: each remembers the conversation as it last wrote it, so
    # every turn finds the other's writes and must read the conversation again.
    services = []
    for _ in range(2):
        store = ConversationStore(mongo_db, Outbox(mongo_db["outbox"]))
        await store.create_indexes()
        services.append(
            ConversationService(store, UserDirectory(mongo_db), AttachmentStore(mongo_db))
        )
    customer, agent = await make_user("customer"), await make_user("agent")
    opened = await services[0].open_conversation(customer, agent.id)
    conv_id = str(opened.conversation["_id"])
    seqs = []
    for turn in range(8):
        who = customer if turn % 3 else agent
        sent = await services[turn % 2].send(who, conv_id, f"turn {turn}")
        seqs.append(sent.message["seq"])
    assert seqs == list(range(1, 9))
    # And concurrently, both at once, in waves (each wave every send of the two stores races
    # the other store's; none may fail however often it loses).
    last = 8
    for wave in range(4):
        both = await asyncio.gather(
            *(services[i % 2].send(customer, conv_id, f"race {wave}.{i}") for i in range(12))
        )
        assert sorted(s.message["seq"] for s in both) == list(range(last + 1, last + 13))
        last += 12
    conversation = await mongo_db["conversations"].find_one({})
    assert conversation is not None and conversation["last_seq"] == last
    assert conversation["reads"][customer.id] == last


async def test_sends_to_many_conversations_share_a_transaction(
    counted: tuple[ConversationService, CountingOutbox],
    make_user: Callable[..., Any],
    mongo_db: AsyncDatabase,
) -> None:
    service, outbox = counted
    agent = await make_user("agent")
    customers = [await make_user("customer") for _ in range(6)]
    conv_ids = [
        str((await service.open_conversation(c, agent.id)).conversation["_id"]) for c in customers
    ]
    before = outbox.transactions
    sent = await asyncio.gather(
        *(service.send(customers[i % 6], conv_ids[i % 6], f"m{i}") for i in range(24))
    )
    assert outbox.transactions - before < 24
    for conv_id in conv_ids:
        mine = sorted(s.message["seq"] for s in sent if s.message["conversation"] == conv_id)
        assert mine == [1, 2, 3, 4]
    assert await mongo_db["messages"].count_documents({}) == 24


async def test_sends_beyond_the_queue_limit_are_refused_busy_and_nothing_else_changes(
    mongo_db: AsyncDatabase, make_user: Callable[..., Any]
) -> None:
    store = ConversationStore(mongo_db, Outbox(mongo_db["outbox"]), max_queued_sends=1)
    await store.create_indexes()
    service = ConversationService(store, UserDirectory(mongo_db), AttachmentStore(mongo_db))
    customer, agent = await make_user("customer"), await make_user("agent")
    conv_id = str((await service.open_conversation(customer, agent.id)).conversation["_id"])
    results = await asyncio.gather(
        *(service.send(customer, conv_id, f"m{i}") for i in range(12)), return_exceptions=True
    )
    busy = [r for r in results if isinstance(r, Busy)]
    sent = [r for r in results if not isinstance(r, BaseException)]
    assert len(busy) + len(sent) == 12 and busy and sent
    assert all((http_status(b), b.code) == (503, "busy") for b in busy)
    # What was accepted is stored with gapless seqs; what was refused left no trace.
    assert sorted(s.message["seq"] for s in sent) == list(range(1, len(sent) + 1))
    assert await mongo_db["messages"].count_documents({}) == len(sent)
    created = [e for e in await stored_events(mongo_db) if e.type == "message.created"]
    assert len(created) == len(sent)
    # And once the queue has room, sends go through again.
    again = await service.send(customer, conv_id, "later")
    assert again.message["seq"] == len(sent) + 1


async def test_a_conversation_locked_by_a_dead_process_transaction_does_not_stall_other_sends(
    mongo_db: AsyncDatabase, make_user: Callable[..., Any]
) -> None:
    """Found by the conversations-kill drill (RELIABILITY.md): a process killed mid-transaction
    leaves the transaction open on the server, holding its write on a conversation until the
    server reaps it (60 s on MongoDB and SecantusDB). A send to that conversation then meets a
    write conflict on every retry; it used to hold the store's write lock through the driver's
    120 s of retries, so every other conversation's sends queued behind it and were refused
    `busy` for a minute (this test: the blocked send stored after 60 s, the others behind it).
    Now a send that cannot commit within the commit timeout is answered `busy` (its client
    retries with its clientMessageId), its conversation is set aside briefly, and the other
    sends go on."""
    store = ConversationStore(
        mongo_db, Outbox(mongo_db["outbox"]), commit_timeout_s=1.0, set_aside_max_s=1.0
    )
    await store.create_indexes()
    service = ConversationService(store, UserDirectory(mongo_db), AttachmentStore(mongo_db))
    customer, agent = await make_user("customer"), await make_user("agent")
    other = await make_user("customer")
    locked = str((await service.open_conversation(customer, agent.id)).conversation["_id"])
    free = str((await service.open_conversation(other, agent.id)).conversation["_id"])
    await service.send(customer, locked, "before")
    await service.send(other, free, "before")

    # The dead process's transaction: it wrote the conversation and will never finish.
    orphan = mongo_db.client.start_session()
    await orphan.start_transaction()
    await mongo_db["conversations"].update_one(
        {"_id": ObjectId(locked)}, {"$set": {"touched": True}}, session=orphan
    )
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        blocked, *others = await asyncio.gather(
            service.send(customer, locked, "into the lock"),
            *(service.send(other, free, f"m{i}") for i in range(5)),
            return_exceptions=True,
        )
        assert loop.time() - started < 10
        assert isinstance(blocked, Busy)
        assert all(not isinstance(sent, BaseException) for sent in others), others
        assert sorted(s.message["seq"] for s in others) == [2, 3, 4, 5, 6]  # type: ignore[union-attr]
        # Set aside for a moment: the next send to it is answered at once, without a wait.
        started = loop.time()
        with pytest.raises(Busy):
            await service.send(customer, locked, "again")
        assert loop.time() - started < 0.5
    finally:
        await orphan.abort_transaction()
        await orphan.end_session()
    # Once the lock is gone (the server reaps the dead transaction), sends to it go through.
    await asyncio.sleep(1.1)
    sent = await service.send(customer, locked, "after")
    assert sent.message["seq"] == 2


async def test_a_send_claims_from_the_stored_wait_when_another_writer_changed_it(
    service: ConversationService, make_user: Callable[..., Any], mongo_db: AsyncDatabase
) -> None:
    # Sends are planned from what this process remembers, but the desk's wait comes from the
    # stored document: one that another writer ended must not come back from memory (a claim
    # rewritten as a plain update has to check it; bench/RESULTS.md, issue 12 "perf").
    customer, agent = await make_user("customer"), await make_user("agent")
    conv_id = str((await service.open_conversation(customer, agent.id)).conversation["_id"])
    await service.send(customer, conv_id, "first")
    conversations, key = mongo_db["conversations"], {"_id": ObjectId(conv_id)}
    first = await conversations.find_one(key)
    assert first is not None and first["waiting_since"] is not None
    await conversations.update_one(key, {"$set": {"waiting_since": None}})
    second = await service.send(customer, conv_id, "second")
    stored = await conversations.find_one(key)
    assert stored is not None and stored["last_seq"] == second.message["seq"] == 2
    assert stored["waiting_since"] is not None and stored["waiting_since"] > first["waiting_since"]


async def test_a_send_is_one_request_and_a_commit(
    mongo_uri: str, mongo_db: AsyncDatabase, make_user: Callable[..., Any]
) -> None:
    """The budget of issue 12: the claim, the message and the outbox entry go in one bulkWrite."""
    client = make_mongo_client(mongo_uri, "send-requests")
    [counter] = command_counters(client)
    try:
        db = client[mongo_db.name]
        store = ConversationStore(db, Outbox(db["outbox"]))
        service = ConversationService(store, UserDirectory(db), AttachmentStore(db))
        customer, agent = await make_user("customer"), await make_user("agent")
        conv_id = str((await service.open_conversation(customer, agent.id)).conversation["_id"])
        await service.send(customer, conv_id, "warm up")  # the conversation's state read once
        before = dict(counter.counts)
        sent = await service.send(agent, conv_id, "one request")
        made = {k: v - before.get(k, 0) for k, v in counter.counts.items()}
        assert {k: n for k, n in made.items() if n} == {"bulkWrite": 1, "commitTransaction": 1}
        assert sent.message["seq"] == 2
        assert [e.type for e in await stored_events(db)][-1] == "message.created"
        assert await db["messages"].count_documents({"conversation": ObjectId(conv_id)}) == 2
    finally:
        await client.close()
