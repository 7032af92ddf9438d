"""One socket's commands run in the order they arrived; other sockets never wait for them."""

import asyncio

import pytest
from workcity_realtime.domain.membership import MembershipCache
from workcity_realtime.domain.ordering import KeyedSequencer, Overloaded, QueueFull


async def test_same_key_runs_in_arrival_order_even_when_the_first_is_slow() -> None:
    sequencer = KeyedSequencer(max_pending=10)
    done: list[int] = []

    async def command(n: int, delay: float) -> None:
        async with sequencer.turn("s1"):
            await asyncio.sleep(delay)
            done.append(n)

    await asyncio.gather(*(command(n, 0.05 - n * 0.01) for n in range(5)))
    assert done == [0, 1, 2, 3, 4]
    assert sequencer.pending("s1") == 0


async def test_other_keys_do_not_wait() -> None:
    sequencer = KeyedSequencer(max_pending=10)
    release = asyncio.Event()
    order: list[str] = []

    async def slow() -> None:
        async with sequencer.turn("s1"):
            await release.wait()
            order.append("s1")

    async def fast() -> None:
        async with sequencer.turn("s2"):
            order.append("s2")

    task = asyncio.create_task(slow())
    await asyncio.sleep(0)
    await fast()
    assert order == ["s2"]
    release.set()
    await task
    assert order == ["s2", "s1"]


async def test_a_failure_does_not_block_the_next_command() -> None:
    sequencer = KeyedSequencer(max_pending=10)

    async def failing() -> None:
        async with sequencer.turn("s1"):
            raise RuntimeError("boom")

    async def ok() -> str:
        async with sequencer.turn("s1"):
            return "ok"

    results = await asyncio.gather(failing(), ok(), return_exceptions=True)
    assert isinstance(results[0], RuntimeError) and results[1] == "ok"


async def test_too_many_pending_is_refused() -> None:
    sequencer = KeyedSequencer(max_pending=2)
    release = asyncio.Event()

    async def hold() -> None:
        async with sequencer.turn("s1"):
            await release.wait()

    tasks = [asyncio.create_task(hold()) for _ in range(2)]
    await asyncio.sleep(0)
    with pytest.raises(QueueFull):
        async with sequencer.turn("s1"):
            pass
    release.set()
    await asyncio.gather(*tasks)


def test_membership_cache_expires_and_forgets() -> None:
    cache = MembershipCache(ttl_s=10)
    cache.put("u1", "c1", True, 0.0)
    cache.put("u2", "c1", False, 0.0)
    assert cache.get("u1", "c1", 5.0) is True
    assert cache.get("u2", "c1", 5.0) is False
    assert cache.get("u1", "c1", 10.0) is None
    cache.put("u1", "c2", True, 0.0)
    cache.forget_user("u1")
    assert cache.get("u1", "c2", 1.0) is None
    cache.put("u1", "c3", True, 0.0)
    cache.forget_conversation("c3")
    assert cache.get("u1", "c3", 1.0) is None
    assert MembershipCache(ttl_s=0).get("u1", "c1", 0.0) is None


async def test_beyond_the_total_new_commands_are_refused_at_once_whatever_the_key() -> None:
    sequencer = KeyedSequencer(max_pending=10, max_total=3)
    release = asyncio.Event()

    async def command(key: str) -> str:
        async with sequencer.turn(key):
            await release.wait()
        return key

    held = [asyncio.create_task(command(k)) for k in ("s1", "s1", "s2")]
    await asyncio.sleep(0)
    with pytest.raises(Overloaded):
        async with sequencer.turn("s3"):
            pass
    release.set()
    assert await asyncio.gather(*held) == ["s1", "s1", "s2"]
    async with sequencer.turn("s3"):  # room again
        pass
