"""A read mark that does not move the position (issue 13 item 3): a burst of them must not hold up
the process's sends, so it takes neither the store's write lock nor a transaction."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from workcity_conversations.adapters.store import ConversationStore
from workcity_conversations.service_layer.service import ConversationService

from tests.integration.conversations.test_service import open_pair


async def test_a_mark_that_moves_nothing_takes_no_lock_and_no_transaction(
    service: ConversationService, store: ConversationStore, make_user: Callable[..., Any]
) -> None:
    customer, agent = await make_user("customer"), await make_user("agent")
    conv_id = await open_pair(service, customer, agent)
    for i in range(3):
        await service.send(customer, conv_id, f"question {i}")
    assert (await service.mark_read(agent, conv_id, None))["seq"] == 3

    commits = 0
    commit = store._outbox.commit

    async def counting(work: Any) -> Any:
        nonlocal commits
        commits += 1
        return await commit(work)

    store._outbox.commit = counting  # type: ignore[method-assign]
    # Another writer holds the write lock (a send group committing): no-op marks still answer.
    async with store._write_lock:
        async with asyncio.timeout(2):
            marks = await asyncio.gather(
                *(service.mark_read(agent, conv_id, seq) for seq in (None, 3, 2, 1, 0, 999))
            )
    assert [m["seq"] for m in marks] == [3] * 6
    assert all(m["readAt"] for m in marks)
    assert commits == 0
    # A mark that moves the position still goes through the transaction.
    await service.send(customer, conv_id, "one more")
    commits = 0
    assert (await service.mark_read(agent, conv_id, None))["seq"] == 4
    assert commits == 1
