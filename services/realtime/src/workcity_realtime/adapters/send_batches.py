"""A replica's sends to the conversations service, batched under load: while SEND_CALLS_MAX
calls with sends are in flight, the sends that arrive wait here and go together in the next call
(at most SEND_BATCH_MAX), so the conversations service pays its HTTP stack (and this replica its
HTTP client) once per batch instead of once per send. A send that finds fewer calls in flight goes
at once (no waiting for company). One call in flight (SEND_CALLS_MAX=1) measured worse: the
conversations service then holds fewer sends at a time and commits them in smaller groups
(bench/RESULTS.md, issue 12, "sends in batches").

Each send is answered on its own, exactly as its single call would be; a call that fails as a
whole answers each of its sends with that failure (`unavailable`). A batch the conversations
service refuses as a whole (a 4xx: the route absent or switched off, a version that disagrees)
is sent again one send at a time through the public path, which answers as it always did.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from workcity_common.domain_errors import DomainError, Unavailable
from workcity_common.send_batch import ITEM_MAX_BYTES

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class QueuedSend:
    token: str
    conversation_id: str
    body: dict[str, Any]
    answer: asyncio.Future[dict[str, Any]]


class BatchRefused(Exception):
    """The conversations service refused the batch as a whole (a 4xx)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"batch refused with {status}")
        self.status = status


# A batch's sends in, one answer per send out (the message, or the refusal as its error); raises
# a `DomainError` when the call failed as a whole, `BatchRefused` when it was refused.
SendBatch = Callable[[Sequence[QueuedSend]], Awaitable[list[dict[str, Any] | DomainError]]]
SendOne = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]


class SendBatcher:
    def __init__(
        self, send_batch: SendBatch, send_one: SendOne, max_batch: int, max_calls: int = 1
    ) -> None:
        self._send_batch = send_batch
        self._send_one = send_one
        self._max_batch = max_batch
        # Calls in flight at once; a send that finds them all busy waits for the next batch.
        self._max_calls = max_calls
        self._waiting: list[QueuedSend] = []
        self._calls: set[asyncio.Task[None]] = set()
        self._refusal_logged = False

    async def post_message(
        self, token: str, conversation_id: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        if len(token) + len(orjson.dumps(body)) > ITEM_MAX_BYTES:
            return await self._send_one(token, conversation_id, body)
        send = QueuedSend(token, conversation_id, body, asyncio.get_running_loop().create_future())
        self._waiting.append(send)
        if len(self._calls) < self._max_calls:
            self._calls.add(asyncio.create_task(self._call_while_waiting()))
        # A cancelled caller cancels its future: a send not yet in a call is then left out.
        return await send.answer

    async def _call_while_waiting(self) -> None:
        try:
            while self._waiting:
                batch = [s for s in self._waiting[: self._max_batch] if not s.answer.done()]
                del self._waiting[: self._max_batch]
                if not batch:
                    continue
                try:
                    await self._call(batch)
                finally:
                    for send in batch:  # answered already, unless the call was cancelled
                        _settle(send, Unavailable())
        finally:
            # At once, not in a done callback: a send posted by a caller woken by this call's
            # answers runs before such a callback would, and would find no call to take it.
            current = asyncio.current_task()
            if current is not None:
                self._calls.discard(current)

    async def _call(self, batch: list[QueuedSend]) -> None:
        outcomes: Sequence[dict[str, Any] | BaseException]
        try:
            outcomes = await self._send_batch(batch)
        except BatchRefused as refused:
            if not self._refusal_logged:
                self._refusal_logged = True
                log.warning(
                    "the conversations service refused a batch of sends; sending one by one",
                    extra={"status": refused.status},
                )
            outcomes = await asyncio.gather(
                *(self._send_one(s.token, s.conversation_id, s.body) for s in batch),
                return_exceptions=True,
            )
        except DomainError as failed:
            outcomes = [_copy(failed) for _ in batch]
        except Exception:
            log.exception("a batch of sends failed")
            outcomes = [Unavailable() for _ in batch]
        for send, outcome in zip(batch, outcomes, strict=True):
            _settle(send, outcome)

    async def aclose(self) -> None:
        calls = list(self._calls)
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        for send in self._waiting:
            _settle(send, Unavailable())
        self._waiting.clear()


def _settle(send: QueuedSend, outcome: dict[str, Any] | BaseException) -> None:
    if send.answer.done():  # its caller gave up
        return
    if isinstance(outcome, Exception):
        send.answer.set_exception(outcome)
    elif isinstance(outcome, BaseException):  # a cancelled single call
        send.answer.set_exception(Unavailable())
    else:
        send.answer.set_result(outcome)


def _copy(error: DomainError) -> DomainError:
    """One exception object per waiting send (each is raised in its own task)."""
    return type(error)(error.msg, error.code, **error.extra)
