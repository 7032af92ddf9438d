"""History pages read as a bounded seq range give exactly what the general query gives, deleted
messages (gaps) included (real SecantusDB)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from workcity_conversations.adapters.store import ConversationStore
from workcity_conversations.domain.paging import MessagePage
from workcity_conversations.service_layer.service import ConversationService

pytestmark = pytest.mark.integration


async def test_bounded_pages_match_the_general_query(
    service: ConversationService,
    store: ConversationStore,
    make_user: Callable[..., Any],
    mongo_db: AsyncDatabase,
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    conv_id = str((await service.open_conversation(customer, agent.id)).conversation["_id"])
    sent = [await service.send(customer, conv_id, f"m{i}") for i in range(40)]
    # Gaps: deleted messages near the end, in the middle and at the start.
    for seq in (1, 17, 18, 38):
        await service.delete_message(customer, sent[seq - 1].message["_id"])
    conversation = await store.conversation(conv_id)
    assert conversation is not None and conversation.last_seq == 40
    pages = [
        MessagePage(limit=10),
        MessagePage(limit=2),
        MessagePage(limit=50),
        MessagePage(limit=5, before_seq=20),
        MessagePage(limit=5, before_seq=2),
        MessagePage(limit=5, before_seq=0),
        MessagePage(limit=5, before_seq=99),
        MessagePage(limit=5, after_seq=0),
        MessagePage(limit=5, after_seq=14),
        MessagePage(limit=5, after_seq=39),
        MessagePage(limit=5, after_seq=40),
        MessagePage(limit=10, after_seq=10, before_seq=15),
        MessagePage(limit=10, after_seq=15, before_seq=16),
    ]
    for page in pages:
        bounded = await store.history(conv_id, page, conversation.last_seq)
        general = await store.history(conv_id, page)
        assert [m.seq for m in bounded] == [m.seq for m in general], page
    latest = await store.history(conv_id, MessagePage(limit=3), conversation.last_seq)
    assert [m.seq for m in latest] == [37, 39, 40]
