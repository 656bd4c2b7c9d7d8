"""The input agents as Faust runs them: ``create_app``'s app, its agents driven through Faust's
test context (``Agent.test_context()``, ``put``), with a fixed clock (``WorkerState(clock=...)``).

Real: the app, topics and tables as ``create_app`` declares them (the ``contacts`` table on
its packed memory store, the others on Faust's memory store); the agent's body as registered
(``Worker.run_batches``: ``take_batches`` buffering the stream's events, ``batch_size`` set so
that a batch is exactly the events a test puts, the agent's ``apply_batch``, the
``Acknowledger``); validation against the event contract at the clock's time; the rebuild of
the partition's queue aggregator from the table; the changelog and dead-letter records as the
worker builds them; Faust's acknowledgement of the events (``Stream.ack``: ``message.acked``).

Faked: the producer (``app.producer``: Faust's ``Producer``, used by ``Topic.send`` for dead
letters, and the aiokafka producer under it, used by ``send_batched`` for changelog records,
in one object) keeps what it is given instead of sending it, and its delivery futures are
resolved at once or when a test says; the input channel is the test context's in-memory
channel instead of the Kafka topic (its events carry the topic's name and the partition they
are put in). No broker, consumer, offset commit, recovery or rebalance is involved
(tests/integration runs those); the other three input agents are not driven here.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import orjson
import pytest
from yarl import URL

from floorwatch import topics
from floorwatch.config import Settings
from floorwatch.domain.factcodec import unpack
from floorwatch.streams.app import create_app
from floorwatch.streams.context import WorkerState
from tests.unit.settings_factory import floor_settings
from tests.unit.streams.fake_worker import at

# 2024-05-01 09:00:00 Shanghai (UTC+8) = 01:00:00 UTC: (19,844 days * 86,400 s + 3,600 s) in ms
NINE_MS = 1_714_525_200_000
NOW_S = NINE_MS / 1000 + 60  # the fixed clock: 09:01:00

# Faust's changelog topics: "{app id}-{table}-changelog"
CONTACTS_CHANGELOG = "floorwatch-contacts-changelog"
AGENTS_CHANGELOG = "floorwatch-agents-changelog"
AGENT_DAYS_CHANGELOG = "floorwatch-agent-days-changelog"


class FakeBatch:
    """aiokafka's ``BatchBuilder`` as ``send_batched`` uses it: keeps the records appended."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes | None]] = []

    def append(self, *, timestamp: Any, key: bytes | None, value: bytes | None) -> object:
        self.records.append((key, value))
        return object()  # not None: the record fit

    def record_count(self) -> int:
        return len(self.records)


class FakeProducer:
    """The app's producer: Faust's (``send``, used by ``Topic.send``) and the aiokafka producer
    under it (``create_batch``/``send_batch``, used by ``send_batched``) in one. What is sent
    is kept in ``sent``; with ``hold`` the delivery futures stay pending until ``deliver``."""

    def __init__(self, *, hold: bool = False) -> None:
        self.hold = hold
        self.sent: list[tuple[str, int | None, list[tuple[bytes | None, bytes | None]]]] = []
        self.held: list[tuple[str, asyncio.Future[None]]] = []  # (topic, delivery future)

    def _future(self, topic: str) -> asyncio.Future[None]:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.hold:
            self.held.append((topic, fut))
        else:
            fut.set_result(None)
        return fut

    async def maybe_start(self) -> None:
        """Faust starts its producer on the first ``Topic.send``: nothing to start."""

    def _ensure_producer(self) -> FakeProducer:
        return self

    def create_batch(self) -> FakeBatch:
        return FakeBatch()

    async def send_batch(self, batch: FakeBatch, topic: str, *, partition: int) -> asyncio.Future[None]:
        self.sent.append((topic, partition, batch.records))
        return self._future(topic)

    async def send(self, topic: str, key: bytes | None, value: bytes | None, **kwargs: Any) -> asyncio.Future[None]:
        self.sent.append((topic, kwargs.get("partition"), [(key, value)]))
        return self._future(topic)

    def deliver(self, topic: str) -> None:
        """Kafka acknowledges the records held for ``topic``."""
        for name, fut in self.held:
            if name == topic:
                fut.set_result(None)
        self.held = [(name, fut) for name, fut in self.held if name != topic]

    def to(self, topic: str) -> list[tuple[int | None, bytes | None, bytes | None]]:
        """``(partition, key, value)`` of every record sent to ``topic``, in order."""
        return [(part, key, value) for name, part, records in self.sent if name == topic for key, value in records]


def worker_settings(batch_size: int) -> Settings:
    """One voice queue; batches of exactly ``batch_size`` events (the wait is far longer than a test)."""
    return floor_settings(
        privacy={"customer_hash_key": "unit-test-key"},
        queues=[{"id": "support", "name": "Support", "channel": "voice", "sl_threshold_s": 20}],
        worker={"batch_size": batch_size, "batch_within_s": 60},
    )


def build(batch_size: int, producer: FakeProducer) -> tuple[Any, WorkerState, list[str]]:
    """``create_app`` with the fixed clock, prepared as Faust's testing guide prepares an app."""
    fatal: list[str] = []
    settings = worker_settings(batch_size)
    state = WorkerState(settings, clock=lambda: NOW_S, on_fatal=fatal.append)
    app = create_app(settings, state)
    app.finalize()
    app.conf.store = URL("memory://")
    app.flow_control.resume()
    app.producer = cast(Any, producer)  # Faust's and aiokafka's producer in one fake
    return app, state, fatal


async def acked(*events: Any, timeout_s: float = 5.0) -> None:
    """Wait until Faust counts every one of ``events`` acknowledged (its offset committable)."""
    async with asyncio.timeout(timeout_s):
        while not all(e.message.acked for e in events):
            await asyncio.sleep(0.005)


def dead_letters(producer: FakeProducer) -> list[dict[str, Any]]:
    return [orjson.loads(value) for _, _, value in producer.to(topics.DEAD_LETTERS) if value is not None]


def offered(cid: str, seconds: float, eid: str) -> bytes:
    return orjson.dumps(
        {
            "type": "contact.offered",
            "event_id": eid,
            "ts": at(seconds),
            "contact_id": cid,
            "queue": "support",
            "channel": "voice",
        }
    )


@pytest.mark.usefixtures("isolated_config")
async def test_contacts_agent_applies_a_valid_event_and_dead_letters_the_bad_ones_of_its_batch() -> None:
    producer = FakeProducer()
    app, state, fatal = build(3, producer)
    agent = app.agents["contact-events"]

    async with agent.test_context() as shell:
        broken = await shell.put(b"{not json", key=b"c9", partition=2)
        assert not broken.message.acked  # one event of three: no batch yet
        good = await shell.put(offered("c1", 0, "e1"), key=b"c1", partition=2)
        # 09:06:01 is 301 s after the clock's 09:01:00: beyond ingest.max_future_s (300 s)
        future = await shell.put(offered("c2", 361, "e2"), key=b"c2", partition=2)
        await acked(good, broken, future)

    contacts = app.tables["contacts"].data
    assert list(contacts.keys()) == ["c1"]
    facts = unpack(contacts["c1"])
    assert (facts["_p"], facts["q"], facts["ch"], facts["o"][0]) == (2, "support", "voice", NINE_MS)
    # the partition's aggregator, rebuilt from the (empty) table, then given the event:
    # one contact waiting in the 09:00 interval, offered at 09:00:00
    agg = state.aggregators[2]
    assert list(state.aggregators) == [2]
    counts = agg.buckets[("support", NINE_MS)].counts
    assert (counts.offered, counts.waiting, counts.answered, counts.abandoned) == (1, 1, 0, 0)
    assert agg.oldest_waiting_ms("support") == NINE_MS
    # one changelog record: the JSON key to the event's partition, the table's own bytes
    assert producer.to(CONTACTS_CHANGELOG) == [(2, b'"c1"', contacts["c1"])]
    letters = dead_letters(producer)
    assert [(d["reason"], d["topic"], d["partition"], d["offset"]) for d in letters] == [
        ("not_json", topics.CONTACT_EVENTS, 2, 0),
        ("implausible_time", topics.CONTACT_EVENTS, 2, 2),
    ]
    assert letters[0]["raw"] == "{not json"
    assert {d["at_ms"] for d in letters} == {NINE_MS + 60_000}  # the fixed clock
    assert [key for _, key, _ in producer.to(topics.DEAD_LETTERS)] == [topics.CONTACT_EVENTS.encode()] * 2
    assert (state.processing_errors, fatal) == (0, [])


@pytest.mark.usefixtures("isolated_config")
async def test_contacts_agent_acknowledges_a_batch_only_once_its_records_are_delivered() -> None:
    producer = FakeProducer(hold=True)
    app, state, fatal = build(2, producer)
    agent = app.agents["contact-events"]

    async with agent.test_context() as shell:
        first = await shell.put(offered("c1", 0, "e1"), key=b"c1", partition=0)
        second = await shell.put(b"[1]", key=b"c9", partition=0)  # JSON, not an object
        async with asyncio.timeout(5):
            while len(producer.held) < 2:  # the dead letter, then the changelog batch
                await asyncio.sleep(0.005)
        assert "c1" in app.tables["contacts"].data  # applied ...
        await asyncio.sleep(0.05)
        assert not (first.message.acked or second.message.acked)  # ... not acknowledged: 2 writes in flight
        producer.deliver(CONTACTS_CHANGELOG)
        await asyncio.sleep(0.05)
        assert not (first.message.acked or second.message.acked)  # the dead letter is still in flight
        producer.deliver(topics.DEAD_LETTERS)
        await acked(first, second)

    assert [d["reason"] for d in dead_letters(producer)] == ["not_object"]
    assert [topic for topic, _, _ in producer.sent] == [topics.DEAD_LETTERS, CONTACTS_CHANGELOG]
    assert (state.processing_errors, fatal) == (0, [])


@pytest.mark.usefixtures("isolated_config")
async def test_agent_events_agent_updates_the_agents_status_record_and_day() -> None:
    producer = FakeProducer()
    app, state, fatal = build(3, producer)
    agent = app.agents["agent-events"]
    state_event = {"type": "agent.state", "event_id": "s1", "ts": at(30), "agent_id": "a1", "state": "available"}
    profile = {
        "type": "agent.profile",
        "event_id": "p1",
        "ts": at(0),
        "agent_id": "a2",
        "name": "Ana",
        "team": "T1",
        "queues": ["support"],
    }

    async with agent.test_context() as shell:
        good = await shell.put(orjson.dumps(state_event), key=b"a1", partition=1)
        wrong = await shell.put(offered("c1", 0, "e1"), key=b"c1", partition=1)  # belongs on contact events
        named = await shell.put(orjson.dumps(profile), key=b"a2", partition=1)
        await acked(good, wrong, named)

    # a1's status: [event time 09:00:30, event id, state, reason (none unless aux)];
    # a2's profile: [event time 09:00:00, event id, name, team, queues], no status yet
    a1 = {"_p": 1, "st": [NINE_MS + 30_000, "s1", "available", None]}
    a2 = {"_p": 1, "pr": [NINE_MS, "p1", "Ana", "T1", ["support"]]}
    assert dict(app.tables["agents"].data.items()) == {"a1": a1, "a2": a2}
    day = app.tables["agent-days"].data["a1|2024-05-01"]  # a state point only: no day for a2
    assert list(app.tables["agent-days"].data.keys()) == ["a1|2024-05-01"]
    assert (day["_p"], [point[0] for point in day["tl"]]) == (1, [NINE_MS + 30_000])
    assert [(p, k, orjson.loads(v or b"null")) for p, k, v in producer.to(AGENTS_CHANGELOG)] == [
        (1, b'"a1"', a1),
        (1, b'"a2"', a2),
    ]
    assert [(p, k) for p, k, _ in producer.to(AGENT_DAYS_CHANGELOG)] == [(1, b'"a1|2024-05-01"')]
    assert (state.dirty_agents, state.dirty_days) == ({"a1": 1, "a2": 1}, {("a1", "2024-05-01")})
    assert [(d["reason"], d["topic"], d["partition"], d["offset"]) for d in dead_letters(producer)] == [
        ("wrong_topic", topics.AGENT_EVENTS, 1, 1),
    ]
    assert (state.processing_errors, fatal) == (0, [])
