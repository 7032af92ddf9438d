"""`unread_for` (service_layer/unread.py), what the notifications service asks before an email,
against the in-memory fakes: only others' messages after both the read position and what the caller
handled, a count that includes what the page leaves out, none for a non-participant, and its own
code for a conversation that is gone. Against the database: tests/integration/conversations/
test_internal_unread.py."""

from __future__ import annotations

import pytest
from workcity_common.domain_errors import DomainError
from workcity_conversations.service_layer.unread import CONVERSATION_GONE, sender_emails, unread_for

from tests.unit.conversations.fakes import oid
from tests.unit.conversations.test_service import opened, world


async def test_only_others_messages_after_what_was_read_and_handled() -> None:
    w = world()
    conversation_id = await opened(w)
    await w.service.send(w.agent, conversation_id, "mine")  # seq 1: read by its sender
    for text in ("one", "two", "three"):
        await w.service.send(w.customer, conversation_id, text)
    found = await unread_for(w.store, conversation_id, w.agent.id, 2, 1)  # seq 2 handled
    assert [m.text for m in found.messages] == ["two"]
    assert (found.last_seq, found.read_seq, found.count) == (4, 1, 2)
    emails = await sender_emails(w.directory, found)
    assert emails == {w.customer.id: w.customer.email}


async def test_a_stranger_has_nothing_unread_and_a_gone_conversation_says_so() -> None:
    w = world()
    conversation_id = await opened(w)
    await w.service.send(w.customer, conversation_id, "hi")
    stranger = await unread_for(w.store, conversation_id, oid(), 0, 10)
    assert (stranger.count, stranger.messages) == (0, [])
    with pytest.raises(DomainError) as error:
        await unread_for(w.store, oid(), w.agent.id, 0, 10)
    assert error.value.code == CONVERSATION_GONE
