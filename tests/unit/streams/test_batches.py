"""streams/batches.py: one failing event never costs its neighbours; nothing is acknowledged
before the writes it caused are."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from floorwatch.streams.batches import Acknowledger, ack_batch, apply_each, settle


async def test_an_event_that_raises_is_handed_over_and_the_rest_applied() -> None:
    applied: list[int] = []
    failed: list[tuple[int, str]] = []

    async def apply_one(n: int) -> None:
        if n % 4 == 2:
            raise OverflowError("date value out of range")
        applied.append(n)

    async def on_error(n: int, exc: Exception) -> None:
        failed.append((n, f"{type(exc).__name__}: {exc}"))

    assert await apply_each(list(range(10)), apply_one, on_error) == 2
    assert applied == [0, 1, 3, 4, 5, 7, 8, 9]
    assert failed == [(2, "OverflowError: date value out of range"), (6, "OverflowError: date value out of range")]


async def test_cancellation_is_not_swallowed() -> None:
    """A worker shutting down stops mid-batch; the rest is neither applied nor handed over."""
    seen: list[int] = []

    async def apply_one(n: int) -> None:
        if n == 1:
            raise asyncio.CancelledError
        seen.append(n)

    async def on_error(n: int, exc: Exception) -> None:  # pragma: no cover - must not run
        raise AssertionError("cancellation is not an event's failure")

    with pytest.raises(asyncio.CancelledError):
        await apply_each([0, 1, 2], apply_one, on_error)
    assert seen == [0]


async def test_settle_waits_for_every_write() -> None:
    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in range(3)]
    done = asyncio.create_task(settle(futures, on_failure=lambda msg: pytest.fail(msg)))
    await asyncio.sleep(0)
    futures[0].set_result("ok")
    futures[2].set_result("ok")
    await asyncio.sleep(0)
    assert not done.done()  # one write still in flight: the batch may not be acknowledged yet
    futures[1].set_result("ok")
    await asyncio.wait_for(done, 1)


async def test_a_failed_write_is_fatal_before_anything_is_acknowledged() -> None:
    loop = asyncio.get_running_loop()
    ok, bad = loop.create_future(), loop.create_future()
    ok.set_result("ok")
    bad.set_exception(ConnectionError("broker gone"))
    reports: list[str] = []
    with pytest.raises(RuntimeError):
        await settle([ok, bad], on_failure=reports.append)
    assert reports == ["1 of 2 record writes failed: ConnectionError('broker gone')"]


async def test_settle_with_nothing_pending_returns_at_once() -> None:
    await settle([], on_failure=lambda msg: pytest.fail(msg))


async def test_ack_batch_acks_each_event_in_order() -> None:
    class Stream:
        def __init__(self) -> None:
            self.acked: list[Any] = []

        async def ack(self, event: Any) -> bool:
            self.acked.append(event)
            return True

    stream = Stream()
    await ack_batch(stream, ["e1", "e2", "e3"])
    assert stream.acked == ["e1", "e2", "e3"]


class AckStream:
    def __init__(self) -> None:
        self.acked: list[Any] = []

    async def ack(self, event: Any) -> bool:
        self.acked.append(event)
        return True


async def test_acknowledger_acks_in_batch_order_only_after_each_batch_is_written() -> None:
    loop = asyncio.get_running_loop()
    stream = AckStream()
    acks = Acknowledger(stream, on_failure=lambda msg: pytest.fail(msg), max_in_flight=4)
    first, second = loop.create_future(), loop.create_future()
    await acks.submit(["a1", "a2"], [first])
    await acks.submit(["b1"], [second])  # the agent goes on while both batches are in flight
    second.set_result("ok")
    for _ in range(5):
        await asyncio.sleep(0)
    assert stream.acked == []  # the second batch is written, but the first is not yet
    first.set_result("ok")
    await acks.drain()
    assert stream.acked == ["a1", "a2", "b1"]


async def test_acknowledger_holds_the_agent_beyond_max_in_flight() -> None:
    loop = asyncio.get_running_loop()
    stream = AckStream()
    acks = Acknowledger(stream, on_failure=lambda msg: pytest.fail(msg), max_in_flight=1)
    blocker = loop.create_future()
    await acks.submit(["a"], [blocker])
    third = asyncio.create_task(acks.submit(["b"], []))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not third.done()  # two batches would be in flight: the agent waits
    blocker.set_result("ok")
    await asyncio.wait_for(third, 1)
    await acks.drain()
    assert stream.acked == ["a", "b"]


async def test_acknowledger_never_acks_a_batch_whose_write_failed() -> None:
    loop = asyncio.get_running_loop()
    stream = AckStream()
    failures: list[str] = []
    acks = Acknowledger(stream, on_failure=failures.append)
    bad = loop.create_future()
    bad.set_exception(ConnectionError("broker gone"))
    await acks.submit(["x"], [bad])
    with pytest.raises(RuntimeError):
        await acks.drain()
    assert stream.acked == [] and failures == ["1 of 1 record writes failed: ConnectionError('broker gone')"]
