"""View.apply (last value wins, tombstones, bad records) and the loader's readiness logic."""

from __future__ import annotations

import asyncio
from collections import namedtuple
from typing import Any

import orjson
import pytest

from floorwatch import records, topics
from floorwatch.readmodel.view import KafkaViewLoader, View, _Lag

TP = namedtuple("TP", "topic partition")
Msg = namedtuple("Msg", "key value offset")


def interval(queue: str = "q", start: int = 0, partition: int = 0, offered: int = 1) -> bytes:
    return orjson.dumps(
        {
            "queue": queue,
            "start_ms": start,
            "end_ms": start + 1_800_000,
            "partition": partition,
            "counts": {"offered": offered, "answered": offered, "answered_within_sl": offered},
            "rules": {
                "sl_threshold_s": 20,
                "short_abandon_s": 5,
                "sl_target": 0.8,
                "sl_formula": "answered_over_offered",
            },
            "mixed_rules": False,
            "updated_ms": 1000 + offered,
        }
    )


def test_last_value_wins_and_tombstone() -> None:
    v = View()
    key = records.interval_key("q", 0, 0).encode()
    assert v.apply(topics.INTERVAL_STATS, key, interval(offered=1))
    assert v.apply(topics.INTERVAL_STATS, key, interval(offered=4))
    assert [p.counts.offered for p in v.interval_partials("q", 0)] == [4]
    assert v.updated_ms["q"] == 1004
    assert v.apply(topics.INTERVAL_STATS, key, None)
    assert v.interval_partials("q", 0) == [] and v.intervals == {}
    assert v.queue_ids() == set()
    assert v.apply(topics.INTERVAL_STATS, key, None)  # deleting twice is harmless


def test_partials_are_keyed_by_partition() -> None:
    v = View()
    for p in (0, 1, 2):
        v.apply(topics.INTERVAL_STATS, records.interval_key("q", 0, p).encode(), interval(partition=p, offered=p + 1))
    assert sorted(p.counts.offered for p in v.interval_partials("q", 0)) == [1, 2, 3]
    assert set(v.intervals) == {"q|0|0", "q|0|1", "q|0|2"}


@pytest.mark.parametrize(
    "value",
    [
        b"not json",
        b"[1,2]",
        b'{"queue": "q"}',
        b'{"queue": "q", "start_ms": "soon", "counts": {}}',
        b'{"queue": "q", "start_ms": 0, "counts": {"offered": "many"}}',
        b'{"queue": "", "start_ms": 0, "counts": {}}',
    ],
)
def test_bad_records_are_skipped(value: bytes) -> None:
    v = View()
    assert v.apply(topics.INTERVAL_STATS, b"q|0|0", value) is False
    assert v.bad_records == 1 and v.intervals == {}


def test_bad_record_does_not_delete_the_good_one() -> None:
    v = View()
    v.apply(topics.INTERVAL_STATS, b"q|0|0", interval())
    v.apply(topics.INTERVAL_STATS, b"q|0|0", b"{broken")
    assert len(v.interval_partials("q", 0)) == 1


def test_other_topics() -> None:
    v = View()
    v.apply(topics.AGENT_STATUS, b"a1", b'{"agent_id": "a1", "state": "available", "queues": ["q"]}')
    v.apply(topics.ALERTS, b"x", b'{"id": "x", "state": "firing"}')
    v.apply(topics.ADHERENCE, b"a1|2024-03-05", b'{"agent_id": "a1"}')
    assert set(v.agents) == {"a1"} and set(v.alerts) == {"x"} and len(v.adherence) == 1
    v.apply(topics.AGENT_STATUS, b"a1", None)
    assert v.agents == {}
    assert v.apply("fw.something-else", b"k", b"{}") is False


# -- loader ----------------------------------------------------------------------------


class FakeConsumer:
    """Just enough of AIOKafkaConsumer. ``end_offsets`` lies like Tansu's ListOffsets does; the
    fetch-response high watermark (``highwater``) is exact and known only after a fetch."""

    def __init__(self, logs: dict[TP, list[Msg]], topics_after: int = 0, fail_start: int = 0) -> None:
        self.logs = logs
        self.topics_after = topics_after  # metadata calls before the topics exist
        self.fail_start = fail_start
        self.metadata_calls = 0
        self.assigned: list[TP] = []
        self.positions: dict[TP, int] = {}
        self.highwaters: dict[TP, int] = {}
        self.polled: dict[TP, int] = {}
        self.seeks: dict[TP, int] = {}
        self.stopped = False
        self.alive = True  # False: the broker stops answering fetches (getmany returns nothing)
        self.fail_getmany_after: int | None = None  # raise after this many getmany calls
        self.getmany_calls = 0

    async def start(self) -> None:
        if self.fail_start > 0:
            self.fail_start -= 1
            raise ConnectionError("no broker")

    async def stop(self) -> None:
        self.stopped = True

    async def topics(self) -> set[str]:
        self.metadata_calls += 1
        return {tp.topic for tp in self.logs} if self.metadata_calls > self.topics_after else set()

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        if self.metadata_calls <= self.topics_after:
            return None
        parts = {tp.partition for tp in self.logs if tp.topic == topic}
        return parts or None

    def assign(self, tps: list[TP]) -> None:
        self.assigned = list(tps)
        self.positions = {tp: 0 for tp in tps}
        self.highwaters = {}
        self.polled = {}

    def seek(self, tp: TP, offset: int) -> None:
        self.positions[tp] = offset
        self.seeks[tp] = offset

    def last_poll_timestamp(self, tp: TP) -> int | None:
        return self.polled.get(tp)

    async def position(self, tp: TP) -> int:
        return self.positions[tp]

    def highwater(self, tp: TP) -> int | None:
        return self.highwaters.get(tp)

    async def end_offsets(self, tps: list[TP]) -> dict[TP, int]:  # pragma: no cover - must not be used
        raise AssertionError("readiness must not rely on end_offsets()")

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[TP, list[Msg]]:
        await asyncio.sleep(0)
        self.getmany_calls += 1
        if self.fail_getmany_after is not None and self.getmany_calls > self.fail_getmany_after:
            raise ConnectionError("connection reset")
        out: dict[TP, list[Msg]] = {}
        if not self.alive:
            return out
        for tp in self.assigned:
            log = self.logs.get(tp, [])
            self.highwaters[tp] = len(log)  # the fetch response's high watermark
            self.polled[tp] = self.getmany_calls
            pos = self.positions[tp]
            batch = log[pos : pos + (max_records or len(log))]
            if batch:
                out[tp] = batch
                self.positions[tp] = pos + len(batch)
        return out


def make_logs() -> dict[TP, list[Msg]]:
    key = records.interval_key("q", 0, 0).encode()
    return {
        TP(topics.INTERVAL_STATS, 0): [Msg(key, interval(offered=i), i) for i in range(1, 6)],
        TP(topics.INTERVAL_STATS, 1): [],  # empty partition: highwater 0, position 0 is caught up
        TP(topics.QUEUE_STATS, 0): [],
        TP(topics.AGENT_STATUS, 0): [Msg(b"a1", b'{"agent_id": "a1", "state": "aux", "queues": ["q"]}', 0)],
    }


async def wait_until(predicate: Any, timeout: float = 2.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.001)


async def test_loader_waits_for_topics_then_catches_up() -> None:
    view = View()
    consumer = FakeConsumer(make_logs(), topics_after=3)
    seen: list[dict[str, Any]] = []
    loader = KafkaViewLoader("x", view, retry_s=0.001, max_records=2, consumer_factory=lambda: consumer)
    view.listeners.append(lambda topic, key: seen.append(loader.status()))
    assert loader.status()["ready"] is False
    task = asyncio.create_task(loader.run())
    try:
        await wait_until(lambda: loader._state == "waiting_for_topics" and consumer.metadata_calls >= 2)
        status = loader.status()
        assert status["ready"] is False and "waiting for topics" in status["error"]
        await wait_until(lambda: loader.ready)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    # every record was applied before "ready", and never ready while records were left
    assert [p.counts.offered for p in view.interval_partials("q", 0)] == [5]
    assert set(view.agents) == {"a1"}
    assert all(s["ready"] is False for s in seen)
    assert loader.status() == {
        "ready": True,
        "lag": {t: 0 for t in {tp.topic for tp in make_logs()}},
        "state": "consuming",
    }
    # fw.adherence / fw.alerts do not exist here: optional, not waited for
    assert all(tp.topic in loader.required for tp in consumer.assigned)


async def test_loader_reports_lag_from_fetch_highwater() -> None:
    view = View()
    consumer = FakeConsumer(make_logs())
    loader = KafkaViewLoader("x", view, consumer_factory=lambda: consumer)
    consumer.assign(sorted(make_logs()))
    loader._lag = {tp: _Lag(None, None) for tp in consumer.assigned}
    await loader._update_lag(consumer)  # no fetch yet: highwater unknown -> not caught up
    assert loader._caught_up is False
    consumer.highwaters = {tp: len(log) for tp, log in make_logs().items()}
    consumer.positions[TP(topics.INTERVAL_STATS, 0)] = 2
    await loader._update_lag(consumer)
    assert loader._caught_up is False
    assert loader.status()["lag"][topics.INTERVAL_STATS] == 3
    consumer.positions[TP(topics.INTERVAL_STATS, 0)] = 5
    consumer.positions[TP(topics.AGENT_STATUS, 0)] = 1
    await loader._update_lag(consumer)
    assert loader._caught_up is True


async def test_loader_retries_when_broker_is_down() -> None:
    view = View()
    consumers = [FakeConsumer(make_logs(), fail_start=1), FakeConsumer(make_logs())]
    made: list[FakeConsumer] = []

    def factory() -> FakeConsumer:
        c = consumers[len(made)]
        made.append(c)
        return c

    loader = KafkaViewLoader("x", view, retry_s=0.001, consumer_factory=factory)
    task = asyncio.create_task(loader.run())
    try:
        await wait_until(lambda: loader.ready)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(made) == 2 and made[0].stopped
    assert [p.counts.offered for p in view.interval_partials("q", 0)] == [5]


async def test_loader_picks_up_late_optional_topic_keeping_positions() -> None:
    view = View()
    logs = make_logs()
    consumer = FakeConsumer(logs)
    loader = KafkaViewLoader("x", view, retry_s=0.001, metadata_refresh_s=0.0, consumer_factory=lambda: consumer)
    task = asyncio.create_task(loader.run())
    try:
        await wait_until(lambda: loader.ready)
        applied = view.applied
        logs[TP(topics.ALERTS, 0)] = [Msg(b"al1", b'{"id": "al1", "state": "firing"}', 0)]
        await wait_until(lambda: "al1" in view.alerts)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert view.applied == applied + 1  # the other partitions were not re-read


def test_indexes_match_a_brute_force_recount() -> None:
    import random

    rng = random.Random(7)
    v = View()
    truth: dict[str, tuple[str, int, int]] = {}
    for _ in range(3000):
        queue, start, part = rng.choice("ab"), rng.randrange(6) * 1_800_000, rng.randrange(3)
        key = records.interval_key(queue, start, part)
        if rng.random() < 0.3:
            v.apply(topics.INTERVAL_STATS, key.encode(), None)
            truth.pop(key, None)
        else:
            offered = rng.randrange(1, 50)
            v.apply(topics.INTERVAL_STATS, key.encode(), interval(queue, start, part, offered))
            truth[key] = (queue, start, offered)
    for queue in "ab":
        expected = sorted({s for q, s, _ in truth.values() if q == queue})
        assert v.interval_starts(queue, 0, 10**12) == expected
        assert v.latest_start(queue) == (expected[-1] if expected else None)
        for s in expected:
            got = sorted(p.counts.offered for p in v.interval_partials(queue, s))
            assert got == sorted(o for q, st, o in truth.values() if (q, st) == (queue, s))
    assert v.interval_starts("a", 1_800_000, 3 * 1_800_000) == [
        s for s in v.interval_starts("a", 0, 10**12) if 1_800_000 <= s < 3 * 1_800_000
    ]


@pytest.mark.parametrize("field", ["start_ms", "updated_ms", "end_ms"])
def test_implausible_times_are_bad_records(field: str) -> None:
    record = orjson.loads(interval())
    record[field] = 10**18
    v = View()
    assert v.apply(topics.INTERVAL_STATS, b"q|0|0", orjson.dumps(record)) is False


async def test_loader_not_ready_when_fetch_responses_stop() -> None:
    view = View()
    consumer = FakeConsumer(make_logs())
    loader = KafkaViewLoader("x", view, stale_after_s=0.05, consumer_factory=lambda: consumer)
    task = asyncio.create_task(loader.run())
    try:
        await wait_until(lambda: loader.ready)
        consumer.alive = False
        await wait_until(lambda: not loader.ready)
        assert loader.status()["ready"] is False
        consumer.alive = True
        await wait_until(lambda: loader.ready)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_loader_resumes_positions_after_reconnect() -> None:
    view = View()
    logs = make_logs()
    first, second = FakeConsumer(logs), FakeConsumer(logs)
    first.fail_getmany_after = 3
    made = iter([first, second])
    loader = KafkaViewLoader("x", view, retry_s=0.001, max_records=2, consumer_factory=lambda: next(made))
    task = asyncio.create_task(loader.run())
    try:
        await wait_until(lambda: second.getmany_calls > 0 and loader.ready)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert first.stopped
    assert second.seeks[TP(topics.INTERVAL_STATS, 0)] == 5  # not re-read from the beginning
    assert view.applied == 6  # 5 interval records + 1 agent, each applied once


def test_dead_letter_reasons_are_a_bounded_label_set() -> None:
    """Whatever reasons the dead-letter topic holds, /metrics gets at most 64 of them: the
    first 64 distinct ones, then "other"."""
    from floorwatch.readmodel.view import MAX_DEAD_LETTER_REASONS

    v = View()
    for i in range(MAX_DEAD_LETTER_REASONS + 10):
        v.apply(topics.DEAD_LETTERS, b"t", orjson.dumps({"reason": f"r{i}"}))
    v.apply(topics.DEAD_LETTERS, b"t", orjson.dumps({"reason": "r0"}))
    assert len(v.dead_letters) == MAX_DEAD_LETTER_REASONS + 1
    assert v.dead_letters["other"] == 10 and v.dead_letters["r0"] == 2


async def test_loader_gives_up_stopping_a_consumer_that_never_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    """A consumer whose broker connection died while the process was paused could wait in
    ``stop`` forever; the loader must still get past it (and reconnect)."""
    import floorwatch.readmodel.view

    monkeypatch.setattr(floorwatch.readmodel.view, "CLOSE_TIMEOUT_S", 0)

    class Stuck:
        stopped = False

        async def stop(self) -> None:
            await asyncio.Event().wait()  # never set
            Stuck.stopped = True

    loader = KafkaViewLoader("x", View(), consumer_factory=Stuck)
    loader._consumer = Stuck()
    await asyncio.wait_for(loader._close(), 5)  # the 5 s only guards the test itself
    assert loader._consumer is None and not Stuck.stopped


def test_a_view_of_recent_intervals_keeps_and_expires_only_those() -> None:
    # the worker's alert view: interval partials before intervals_from_ms are applied as their
    # tombstone, and expire drops those that fell behind it since
    floor = {"ms": 3_600_000}
    v = View(intervals_from_ms=lambda: floor["ms"])
    for start in (0, 1_800_000, 3_600_000, 5_400_000):
        v.apply(topics.INTERVAL_STATS, records.interval_key("q", start, 0).encode(), interval(start=start))
    assert sorted(p.start_ms for p in v.intervals.values()) == [3_600_000, 5_400_000]
    assert v.interval_starts("q", 0, 10_000_000) == [3_600_000, 5_400_000]
    floor["ms"] = 5_400_000
    for _ in v.expire(5_400_000):
        pass
    assert v.expired.get(topics.INTERVAL_STATS) == 1
    assert sorted(p.start_ms for p in v.intervals.values()) == [5_400_000]
    key = records.interval_key("q", 5_400_000, 0)
    v.apply(topics.INTERVAL_STATS, key.encode(), interval(start=5_400_000, offered=2))
    assert v.intervals[key].counts.offered == 2
