"""Sends that arrive together (a realtime replica's batch): each checked on its own, all handed
to the store in the order they came, each answered on its own. One send's refusal or failure
never touches the others."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence

from workcity_conversations.service_layer.service import ConversationService
from workcity_conversations.service_layer.views import PreparedSend, Sent


async def send_in_order(
    service: ConversationService, preparations: Sequence[Awaitable[Sent | PreparedSend]]
) -> list[Sent | BaseException]:
    """`preparations`: each send's checks (`ConversationService.prepare_send` behind its own
    caller's authentication), run together; an exception is that send's answer."""
    prepared = await asyncio.gather(*preparations, return_exceptions=True)
    # Started in the order given, and `store_send` awaits nothing before the store queues its
    # send: the send queue gets them in that order (so do the seqs of one conversation).
    storing = {
        i: asyncio.ensure_future(service.store_send(p))
        for i, p in enumerate(prepared)
        if isinstance(p, PreparedSend)
    }
    results = await asyncio.gather(*storing.values(), return_exceptions=True)
    stored = dict(zip(storing, results, strict=True))
    answers: list[Sent | BaseException] = []
    for i, outcome in enumerate(prepared):
        answers.append(stored[i] if isinstance(outcome, PreparedSend) else outcome)
    return answers
