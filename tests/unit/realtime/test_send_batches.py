"""A replica's sends in batches (adapters/send_batches.py), against fake calls: a send with
nothing in flight goes at once, the ones that arrive meanwhile go together in arrival order, each
is answered on its own, and a call that fails or is refused as a whole answers as the single
calls would."""

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from workcity_common.domain_errors import Busy, DomainError, Forbidden, Unavailable
from workcity_common.send_batch import ITEM_MAX_BYTES
from workcity_realtime.adapters.send_batches import BatchRefused, QueuedSend, SendBatcher


class FakeConversations:
    """The batch route and the public route; each batch call waits for `release` when held."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.singles: list[str] = []
        self.hold = False
        self.release = asyncio.Event()
        self.fail_with: Exception | None = None
        self.refuse: int | None = None
        self.refused_texts: set[str] = set()

    async def send_batch(self, sends: Sequence[QueuedSend]) -> list[dict[str, Any] | DomainError]:
        self.batches.append([s.body["text"] for s in sends])
        if self.hold:
            await self.release.wait()
        if self.fail_with is not None:
            raise self.fail_with
        if self.refuse is not None:
            raise BatchRefused(self.refuse)
        return [self._answer(s.token, s.body) for s in sends]

    async def send_one(self, token: str, conversation_id: str, body: dict[str, Any]) -> Any:
        self.singles.append(body["text"])
        answer = self._answer(token, body)
        if isinstance(answer, DomainError):
            raise answer
        return answer

    def _answer(self, token: str, body: dict[str, Any]) -> dict[str, Any] | DomainError:
        if token == "forged" or body["text"] in self.refused_texts:
            return Forbidden("You are not a participant of this conversation", "forbidden")
        return {"text": body["text"], "by": token}


def batcher(fake: FakeConversations, max_batch: int = 64, max_calls: int = 1) -> SendBatcher:
    return SendBatcher(fake.send_batch, fake.send_one, max_batch, max_calls)


async def test_a_send_with_nothing_in_flight_goes_at_once_in_a_call_of_its_own() -> None:
    fake = FakeConversations()
    sends = batcher(fake)
    assert await sends.post_message("alice", "c1", {"text": "hi"}) == {"text": "hi", "by": "alice"}
    assert fake.batches == [["hi"]]


async def test_sends_arriving_while_a_call_is_in_flight_go_together_in_arrival_order() -> None:
    fake = FakeConversations()
    fake.hold = True
    sends = batcher(fake)
    first = asyncio.create_task(sends.post_message("alice", "c1", {"text": "m0"}))
    await asyncio.sleep(0.01)
    later = [
        asyncio.create_task(sends.post_message(f"user{n}", "c1", {"text": f"m{n}"}))
        for n in range(1, 5)
    ]
    await asyncio.sleep(0.01)
    assert fake.batches == [["m0"]]  # the others wait for the call in flight
    fake.release.set()
    answers = await asyncio.gather(first, *later)
    assert fake.batches == [["m0"], ["m1", "m2", "m3", "m4"]]
    assert [a["text"] for a in answers] == ["m0", "m1", "m2", "m3", "m4"]
    assert [a["by"] for a in answers] == ["alice", "user1", "user2", "user3", "user4"]


async def post_one_by_one(sends: SendBatcher, texts: list[str]) -> list[asyncio.Task[Any]]:
    """Each send posted in a pass of the event loop of its own (sends posted in the same pass
    find the same calls in flight)."""
    tasks = []
    for text in texts:
        tasks.append(asyncio.create_task(sends.post_message("u", "c1", {"text": text})))
        await asyncio.sleep(0.01)
    return tasks


async def test_a_batch_holds_at_most_max_batch_sends() -> None:
    fake = FakeConversations()
    fake.hold = True
    sends = batcher(fake, max_batch=2)
    tasks = await post_one_by_one(sends, [f"m{n}" for n in range(5)])
    fake.release.set()
    await asyncio.gather(*tasks)
    assert fake.batches == [["m0"], ["m1", "m2"], ["m3", "m4"]]


async def test_more_calls_in_flight_when_allowed_before_sends_wait_for_a_batch() -> None:
    fake = FakeConversations()
    fake.hold = True
    sends = batcher(fake, max_calls=2)
    tasks = await post_one_by_one(sends, [f"m{n}" for n in range(4)])
    assert fake.batches == [["m0"], ["m1"]]
    fake.release.set()
    await asyncio.gather(*tasks)
    assert fake.batches == [["m0"], ["m1"], ["m2", "m3"]]


async def test_a_send_right_after_an_answer_is_not_left_waiting() -> None:
    # The caller woken by its answer sends again before the finished call is forgotten.
    fake = FakeConversations()
    sends = batcher(fake)
    for n in range(3):
        answer = await asyncio.wait_for(sends.post_message("u", "c1", {"text": f"m{n}"}), 2)
        assert answer["text"] == f"m{n}"
    assert fake.batches == [["m0"], ["m1"], ["m2"]]


async def test_one_refused_send_fails_alone_with_its_own_error() -> None:
    fake = FakeConversations()
    fake.hold = True
    sends = batcher(fake)
    first = asyncio.create_task(sends.post_message("alice", "c1", {"text": "m0"}))
    await asyncio.sleep(0.01)
    good = asyncio.create_task(sends.post_message("alice", "c1", {"text": "m1"}))
    bad = asyncio.create_task(sends.post_message("forged", "c1", {"text": "m2"}))
    good_too = asyncio.create_task(sends.post_message("bob", "c1", {"text": "m3"}))
    fake.release.set()
    await first
    assert (await good)["text"] == "m1"
    assert (await good_too)["text"] == "m3"
    with pytest.raises(Forbidden) as refused:
        await bad
    assert (refused.value.code, refused.value.msg) == (
        "forbidden",
        "You are not a participant of this conversation",
    )
    assert fake.batches[1] == ["m1", "m2", "m3"]


async def test_a_call_failing_as_a_whole_answers_each_send_with_that_failure() -> None:
    fake = FakeConversations()
    fake.hold = True
    fake.fail_with = Unavailable()
    sends = batcher(fake)
    tasks = [
        asyncio.create_task(sends.post_message("u", "c1", {"text": f"m{n}"})) for n in range(3)
    ]
    await asyncio.sleep(0.01)
    fake.release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(type(o) is Unavailable and o.code == "unavailable" for o in outcomes)
    assert len({id(o) for o in outcomes}) == 3  # each raised in its own task
    # Busy stays busy (the client's retry rule depends on it).
    fake.fail_with = Busy()
    with pytest.raises(Busy):
        await sends.post_message("u", "c1", {"text": "again"})


async def test_a_batch_refused_as_a_whole_goes_one_by_one_through_the_public_route() -> None:
    fake = FakeConversations()
    fake.refuse = 404  # a conversations service without the route, or with it switched off
    fake.refused_texts = {"m1"}
    sends = batcher(fake)
    answers = await asyncio.gather(
        sends.post_message("alice", "c1", {"text": "m0"}),
        sends.post_message("alice", "c1", {"text": "m1"}),
        return_exceptions=True,
    )
    assert answers[0] == {"text": "m0", "by": "alice"}
    assert isinstance(answers[1], Forbidden)
    assert fake.batches == [["m0", "m1"]]
    assert fake.singles == ["m0", "m1"]


async def test_an_oversized_send_goes_alone_through_the_public_route() -> None:
    fake = FakeConversations()
    sends = batcher(fake)
    padded = "x" + " " * ITEM_MAX_BYTES
    assert (await sends.post_message("alice", "c1", {"text": padded}))["by"] == "alice"
    assert fake.batches == []
    assert fake.singles == [padded]


async def test_a_send_whose_caller_gave_up_before_its_call_is_left_out() -> None:
    fake = FakeConversations()
    fake.hold = True
    sends = batcher(fake)
    first = asyncio.create_task(sends.post_message("u", "c1", {"text": "m0"}))
    await asyncio.sleep(0.01)
    gone = asyncio.create_task(sends.post_message("u", "c1", {"text": "m1"}))
    kept = asyncio.create_task(sends.post_message("u", "c1", {"text": "m2"}))
    await asyncio.sleep(0)
    gone.cancel()
    fake.release.set()
    await first
    assert (await kept)["text"] == "m2"
    assert fake.batches == [["m0"], ["m2"]]


async def test_closing_answers_every_waiting_send_unavailable() -> None:
    fake = FakeConversations()
    fake.hold = True
    sends = batcher(fake)
    tasks = [
        asyncio.create_task(sends.post_message("u", "c1", {"text": f"m{n}"})) for n in range(3)
    ]
    await asyncio.sleep(0.01)
    await sends.aclose()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, Unavailable) for o in outcomes)
