"""Every use case of `ConversationService` (service_layer/service.py) against in-memory fakes of its
ports (fakes.py): who may do what, what each answers and which events it commits. The real adapters
are checked against the database in tests/integration/conversations/."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from bson import ObjectId
from workcity_common.domain_errors import DomainError
from workcity_common.events import (
    ConversationCreated,
    ConversationDeleted,
    MessageCreated,
    MessageDeleted,
    MessageRead,
    MessageUpdated,
)
from workcity_common.tokens import TokenClaims
from workcity_conversations.domain import rules
from workcity_conversations.domain.model import Conversation, Person
from workcity_conversations.service_layer.service import ConversationService, Limits

from tests.unit.conversations.fakes import FakeConversationStore, FakeDirectory, FakeFileStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def oid() -> str:
    return str(ObjectId())


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def person(role: str = "customer", **fields: object) -> Person:
    return Person(id=oid(), email=f"{role}-{oid()}@example.com", role=role, **fields)  # type: ignore[arg-type]


@dataclasses.dataclass
class World:
    service: ConversationService
    store: FakeConversationStore
    directory: FakeDirectory
    files: FakeFileStore
    customer: Person
    agent: Person
    admin: Person
    reopened: list[tuple[str, str, int]]
    forgotten: list[str]


def world(
    limits: Limits | None = None, *, teams: set[str] | None = None, hook_fails: bool = False
) -> World:
    customer, agent, admin = person(), person("agent"), person("admin")
    store, files = FakeConversationStore(), FakeFileStore(T0)
    directory = FakeDirectory(customer, agent, admin)
    reopened: list[tuple[str, str, int]] = []
    forgotten: list[str] = []

    async def message_sent(caller: Person, conversation_id: str, seq: int, at: datetime) -> None:
        if hook_fails:
            raise RuntimeError("the desk is down")
        reopened.append((caller.id, conversation_id, seq))

    async def forget(conversation_id: str) -> None:
        forgotten.append(conversation_id)

    async def team_names(ids: object) -> dict[str, str]:
        return {"64b7f0c2a1b2c3d4e5f60718": "Billing"}

    async def default_team() -> str | None:
        return "64b7f0c2a1b2c3d4e5f60718"

    async def teams_of(user_id: str) -> set[str]:
        return teams or set()

    service = ConversationService(
        store,
        directory,
        files,
        limits,
        team_names=team_names,
        default_team=default_team,
        teams_of=teams_of,
        forget_desk_records=forget,
        message_sent=message_sent,
    )
    return World(service, store, directory, files, customer, agent, admin, reopened, forgotten)


async def opened(w: World) -> str:
    return str((await w.service.open_conversation(w.customer, w.agent.id)).conversation["_id"])


def code_of(error: pytest.ExceptionInfo[DomainError]) -> str:
    return error.value.code


# --- the caller ---------------------------------------------------------------------------------


async def test_caller_is_the_directory_copy_bounded_by_the_token() -> None:
    w = world()
    claims = TokenClaims(user_id=w.admin.id, email=w.admin.email, role="agent", expires_at=0)
    assert (await w.service.caller(claims)).role == "agent"  # never above what auth signed
    new = TokenClaims(user_id=oid(), email="new@example.com", role="customer", expires_at=0)
    assert (await w.service.caller(new)).email == "new@example.com"  # added from the token


async def test_a_disabled_caller_may_do_nothing() -> None:
    w = world()
    w.directory.add(dataclasses.replace(w.customer, disabled=True))
    claims = TokenClaims(w.customer.id, w.customer.email, "customer", 0)
    with pytest.raises(DomainError) as error:
        await w.service.caller(claims)
    assert code_of(error) == "account_disabled"


# --- conversations ------------------------------------------------------------------------------


async def test_open_creates_once_then_returns_the_same_conversation() -> None:
    w = world()
    first = await w.service.open_conversation(w.customer, w.agent.id)
    again = await w.service.open_conversation(w.agent, w.customer.id)
    assert first.created and not again.created
    assert first.conversation["_id"] == again.conversation["_id"]
    # A customer's chat with staff is that staff member's, in the default team.
    assert again.conversation["assignee"]["_id"] == w.agent.id
    assert again.conversation["team"] == {"_id": "64b7f0c2a1b2c3d4e5f60718", "name": "Billing"}
    assert [type(e) for e in w.store.events] == [ConversationCreated]


async def test_open_that_loses_the_pairs_race_answers_the_winner() -> None:
    w = world()
    winner = Conversation(oid(), (w.agent.id, w.customer.id), 0, T0, T0)
    w.store.lose_create_race_to = winner
    answer = await w.service.open_conversation(w.customer, w.agent.id)
    assert not answer.created and answer.conversation["_id"] == winner.id
    assert w.store.events == []  # the lost create committed nothing


async def test_open_refuses_unknown_recipients_customers_and_oneself() -> None:
    w = world()
    other_customer = w.directory.add(person())
    for recipient, code in [
        (oid(), "recipient_not_found"),
        ("not-an-id", "invalid_id"),
        (other_customer.id, "recipient_not_allowed"),
        (w.customer.id, "self_conversation"),
    ]:
        with pytest.raises(DomainError) as error:
            await w.service.open_conversation(w.customer, recipient)
        assert code_of(error) == code


async def test_list_shows_last_message_and_unread_count_most_recent_first() -> None:
    w = world()
    older = await opened(w)
    other_agent = w.directory.add(person("agent"))
    newer = str((await w.service.open_conversation(w.customer, other_agent.id)).conversation["_id"])
    await w.service.send(w.agent, older, "hello")
    await w.service.send(w.agent, older, "are you there?")
    items, cursor = await w.service.list_conversations(w.customer, None, None)
    assert [i["_id"] for i in items] == [older, newer]  # the newest message wins
    assert items[0]["lastMessage"]["text"] == "are you there?"
    assert items[0]["unreadCount"] == 2 and items[1]["unreadCount"] == 0
    assert "priority" not in items[0]  # a customer's view of the desk state
    assert cursor is None
    page, cursor = await w.service.list_conversations(w.customer, "1", None)
    assert [i["_id"] for i in page] == [older] and cursor is not None
    rest, _ = await w.service.list_conversations(w.customer, "1", cursor)
    assert [i["_id"] for i in rest] == [newer]


async def test_get_is_for_participants_admins_and_staff_of_its_team() -> None:
    w = world(teams={"64b7f0c2a1b2c3d4e5f60718"})
    conversation_id = await opened(w)
    assert (await w.service.get_conversation(w.admin, conversation_id))["_id"] == conversation_id
    teammate = w.directory.add(person("agent"))
    assert (await w.service.get_conversation(teammate, conversation_id))["priority"] is None
    with pytest.raises(DomainError) as error:
        await w.service.get_conversation(w.directory.add(person()), conversation_id)
    assert code_of(error) == "not_participant"
    with pytest.raises(DomainError) as error:
        await w.service.get_conversation(w.customer, oid())
    assert code_of(error) == "not_found"


async def test_delete_conversation_takes_its_files_and_desk_records() -> None:
    w = world()
    conversation_id = await opened(w)
    upload = await w.service.files.upload(
        w.customer, w.store.conversations[conversation_id], "a.txt", None, chunks(b"hi")
    )
    with pytest.raises(DomainError) as error:
        await w.service.delete_conversation(w.directory.add(person()), conversation_id)
    assert code_of(error) == "not_participant"
    assert await w.service.delete_conversation(w.customer, conversation_id) == conversation_id
    assert conversation_id not in w.store.conversations
    assert upload["_id"] not in w.files.files
    assert w.forgotten == [conversation_id]
    deleted = w.store.events[-1]
    assert isinstance(deleted, ConversationDeleted)
    assert set(deleted.data.participant_ids) == {w.customer.id, w.agent.id}


# --- messages -----------------------------------------------------------------------------------


async def test_send_takes_the_next_seq_and_publishes_one_event() -> None:
    w = world()
    conversation_id = await opened(w)
    first = await w.service.send(w.customer, conversation_id, "  hello  ", "c-1")
    second = await w.service.send(w.agent, conversation_id, "hi")
    assert (first.message["seq"], second.message["seq"]) == (1, 2)
    assert first.message["text"] == "hello" and first.message["clientMessageId"] == "c-1"
    assert first.message["readBy"] == [w.customer.id]
    created = w.store.events[-1]
    assert isinstance(created, MessageCreated) and created.version == 2
    assert created.data.sender_read is not None and created.data.sender_read.previous_seq == 0


async def test_send_version_1_adds_a_read_receipt_when_the_sender_read_on() -> None:
    w = world(Limits(message_created_version=1))
    conversation_id = await opened(w)
    await w.service.send(w.customer, conversation_id, "one")
    await w.service.send(w.customer, conversation_id, "two")
    assert [type(e) for e in w.store.events[1:]] == [MessageCreated, MessageCreated]
    await w.service.send(w.agent, conversation_id, "read both")  # agent was at 0, sends seq 3
    assert [type(e) for e in w.store.events[3:]] == [MessageCreated, MessageRead]


async def test_a_repeated_client_id_is_answered_with_the_stored_message() -> None:
    w = world()
    conversation_id = await opened(w)
    first = await w.service.send(w.customer, conversation_id, "once", "c-1")
    again = await w.service.send(w.customer, conversation_id, "once", "c-1")
    assert again.replayed and again.message["_id"] == first.message["_id"]
    assert len(w.store.messages) == 1


async def test_a_send_that_loses_its_client_ids_race_answers_the_winner() -> None:
    w = world()
    conversation_id = await opened(w)
    stored = await w.service.send(w.customer, conversation_id, "elsewhere", "c-9")
    winner = w.store.messages.pop(stored.message["_id"])  # stored by a concurrent send...
    w.store.lose_send_race_to = winner  # ...that commits while ours is on its way
    answer = await w.service.send(w.customer, conversation_id, "elsewhere", "c-9")
    assert answer.replayed and answer.message["_id"] == winner.id


async def test_send_refuses_bad_input_and_strangers() -> None:
    w = world()
    conversation_id = await opened(w)
    cases = [
        (w.customer, conversation_id, "", "empty_text"),
        (w.customer, conversation_id, 7, "invalid_text"),
        (w.customer, conversation_id, "x" * 4001, "text_too_long"),
        (w.customer, "nope", "hi", "invalid_id"),
        (w.customer, oid(), "hi", "not_found"),
        (w.directory.add(person()), conversation_id, "hi", "not_participant"),
    ]
    for caller, target, text, code in cases:
        with pytest.raises(DomainError) as error:
            await w.service.send(caller, target, text)
        assert code_of(error) == code, (text, code)
    assert w.store.messages == {}


async def test_send_takes_only_this_conversations_uploads() -> None:
    w = world()
    conversation_id = await opened(w)
    conversation = w.store.conversations[conversation_id]
    upload = await w.service.files.upload(w.customer, conversation, "a.txt", None, chunks(b"hi"))
    with pytest.raises(DomainError) as error:
        await w.service.send(w.customer, conversation_id, "", attachments=[oid()])
    assert code_of(error) == "invalid_attachment"
    sent = await w.service.send(w.customer, conversation_id, "", attachments=[upload["_id"]])
    assert sent.message["attachments"] == [upload]
    assert w.files.files[upload["_id"]].attached  # no longer expires


async def test_a_customers_message_reopens_a_conversation_set_aside() -> None:
    w = world()
    conversation_id = await opened(w)
    await w.service.send(w.customer, conversation_id, "open: nothing to reopen")
    assert w.reopened == []
    w.store.conversations[conversation_id] = dataclasses.replace(
        w.store.conversations[conversation_id], status="resolved"
    )
    await w.service.send(w.agent, conversation_id, "staff do not reopen")
    assert w.reopened == []
    await w.service.send(w.customer, conversation_id, "one more thing")
    assert w.reopened == [(w.customer.id, conversation_id, 3)]


async def test_a_failing_desk_hook_does_not_fail_the_send() -> None:
    w = world(hook_fails=True)
    conversation_id = await opened(w)
    w.store.conversations[conversation_id] = dataclasses.replace(
        w.store.conversations[conversation_id], status="pending"
    )
    sent = await w.service.send(w.customer, conversation_id, "still stored")
    assert sent.message["seq"] == 1 and len(w.store.messages) == 1


async def test_history_pages_for_viewers_only() -> None:
    w = world()
    conversation_id = await opened(w)
    for n in range(5):
        await w.service.send(w.customer, conversation_id, f"m{n}")
    page = await w.service.history(w.agent, conversation_id, "2", None, None)
    assert [m["seq"] for m in page] == [4, 5]
    page = await w.service.history(w.admin, conversation_id, "2", "1", None)
    assert [m["seq"] for m in page] == [2, 3]
    with pytest.raises(DomainError) as error:
        await w.service.history(w.agent, conversation_id, "x", None, None)
    assert code_of(error) == "invalid_query"
    with pytest.raises(DomainError) as error:
        await w.service.history(w.directory.add(person()), conversation_id, None, None, None)
    assert code_of(error) == "not_participant"


async def test_only_the_sender_edits_and_the_edit_is_published() -> None:
    w = world()
    conversation_id = await opened(w)
    sent = await w.service.send(w.customer, conversation_id, "helo")
    with pytest.raises(DomainError) as error:
        await w.service.edit_message(w.agent, sent.message["_id"], "hello")
    assert code_of(error) == "not_sender"
    edited = await w.service.edit_message(w.customer, sent.message["_id"], "hello")
    assert edited["text"] == "hello" and edited["edited"] is True
    assert isinstance(w.store.events[-1], MessageUpdated)


async def test_delete_message_takes_files_no_other_message_carries() -> None:
    w = world()
    conversation_id = await opened(w)
    conversation = w.store.conversations[conversation_id]
    shared = await w.service.files.upload(w.customer, conversation, "s.txt", None, chunks(b"a"))
    own = await w.service.files.upload(w.customer, conversation, "o.txt", None, chunks(b"b"))
    await w.service.send(w.customer, conversation_id, "", attachments=[shared["_id"]])
    both = await w.service.send(
        w.customer, conversation_id, "", attachments=[shared["_id"], own["_id"]]
    )
    with pytest.raises(DomainError) as error:
        await w.service.delete_message(w.agent, both.message["_id"])
    assert code_of(error) == "not_sender"
    assert await w.service.delete_message(w.admin, both.message["_id"]) == both.message["_id"]
    assert set(w.files.files) == {shared["_id"]}
    deleted = w.store.events[-1]
    assert isinstance(deleted, MessageDeleted) and deleted.data.seq == 2
    with pytest.raises(DomainError) as error:
        await w.service.delete_message(w.customer, both.message["_id"])
    assert code_of(error) == "not_found"


async def test_mark_read_moves_forward_and_publishes_only_a_move() -> None:
    w = world()
    conversation_id = await opened(w)
    for text in ("a", "b", "c"):
        await w.service.send(w.customer, conversation_id, text)
    before = len(w.store.events)
    read = await w.service.mark_read(w.agent, conversation_id, 2)
    assert read["seq"] == 2 and read["userId"] == w.agent.id
    assert (await w.service.mark_read(w.agent, conversation_id, 1))["seq"] == 2  # never back
    assert (await w.service.mark_read(w.agent, conversation_id, None))["seq"] == 3
    assert [type(e) for e in w.store.events[before:]] == [MessageRead, MessageRead]
    for seq in (-1, True, "2", 2**60):
        with pytest.raises(DomainError) as error:
            await w.service.mark_read(w.agent, conversation_id, seq)
        assert code_of(error) == "invalid_seq"
    with pytest.raises(DomainError) as error:
        await w.service.mark_read(w.admin, conversation_id, None)  # admins read, not mark
    assert code_of(error) == "not_participant"


async def test_item_and_team_names() -> None:
    w = world()
    conversation_id = await opened(w)
    item = await w.service.item(w.store.conversations[conversation_id], w.agent)
    assert item["_id"] == conversation_id and item["lastMessage"] is None
    assert await w.service.team_names([]) == {}
    assert await w.service.team_names(["64b7f0c2a1b2c3d4e5f60718"]) == {
        "64b7f0c2a1b2c3d4e5f60718": "Billing"
    }


def test_pair_keys_do_not_depend_on_who_opens() -> None:
    # The fake's one conversation per pair rests on this rule.
    assert rules.pair_key("a", "b") == rules.pair_key("b", "a")
