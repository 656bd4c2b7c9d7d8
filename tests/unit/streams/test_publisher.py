"""The publisher (streams/publisher.py) over a fake worker context with a fixed clock."""

from __future__ import annotations

from typing import Any

import orjson

from floorwatch import topics
from floorwatch.domain.factcodec import unpack
from floorwatch.streams.agents.contacts import ContactEvents
from floorwatch.streams.alerting import WebhookNotifier
from floorwatch.streams.publisher import Publisher
from floorwatch.streams.rebuild import AggregateRebuild, FcrRebuild
from tests.unit.streams.fake_worker import BASE, FakeWorker, at, event, make_worker

MINUTE_MS = 60_000
ZERO_COUNTS: dict[str, Any] = {
    "offered": 0,
    "waiting": 0,
    "answered": 0,
    "answered_within_sl": 0,
    "abandoned": 0,
    "short_abandoned": 0,
    "abandoned_within_sl": 0,
    "overflowed": 0,
    "handled": 0,
    "transferred": 0,
    "wait_answered_ms": 0,
    "wait_abandoned_ms": 0,
    "talk_ms": 0,
    "hold_ms": 0,
    "wrap_ms": 0,
    "max_wait_ms": None,
    "surveys": 0,
    "score_sum": 0,
    "satisfied": 0,
    "customer_contacts": 0,
    "repeat_contacts": 0,
    "fcr_eligible": 0,
    "fcr_resolved": 0,
}


def contact_event(kind: str, eid: str, seconds: float, **fields: Any) -> dict[str, Any]:
    return {"type": kind, "event_id": eid, "ts": at(seconds), "contact_id": "c1", **fields}


def publisher_of(ctx: FakeWorker) -> tuple[Publisher, AggregateRebuild]:
    aggregates = AggregateRebuild(ctx)
    return Publisher(ctx, aggregates, FcrRebuild(ctx), WebhookNotifier(ctx.settings), "host:1"), aggregates


async def test_publish_once_emits_the_interval_and_queue_partials_of_a_changed_bucket() -> None:
    now = {"s": BASE / 1000 + 60}  # 09:01:00 Shanghai
    ctx = make_worker(lambda: now["s"], owned={0})
    ctx.st.aggregators[0] = ctx.st.new_aggregator()
    publisher, aggregates = publisher_of(ctx)
    # one contact of queue support: offered 09:00:00, answered 09:00:15 by a1 (15 s < 20 s: within SL)
    batch = [
        event(contact_event("contact.offered", "e1", 0, queue="support", channel="voice")),
        event(contact_event("contact.answered", "e2", 15, queue="support", agent_id="a1"), offset=1),
    ]
    await ContactEvents(ctx, aggregates).apply_batch(batch, [])

    await publisher.publish_once()

    now_ms = BASE + MINUTE_MS
    counts = {**ZERO_COUNTS, "offered": 1, "answered": 1, "answered_within_sl": 1}
    counts |= {"wait_answered_ms": 15_000, "max_wait_ms": 15_000}
    by_topic: dict[str, list[tuple[bytes, Any]]] = {}
    for topic, key, value in ctx.emitted:
        by_topic.setdefault(topic, []).append((key, orjson.loads(value) if value is not None else None))
    assert by_topic[topics.INTERVAL_STATS] == [
        (
            f"support|{BASE}|0".encode(),
            {
                "queue": "support",
                "start_ms": BASE,
                "partition": 0,
                "end_ms": BASE + 30 * MINUTE_MS,
                "counts": counts,
                "rules": {
                    "sl_threshold_s": 20.0,
                    "short_abandon_s": 5.0,
                    "sl_target": 0.8,
                    "sl_formula": "answered_over_offered",
                },
                "mixed_rules": False,
                "channel": "voice",  # the first contact's
                "updated_ms": now_ms,
            },
        )
    ]
    assert by_topic[topics.QUEUE_STATS] == [
        (
            b"support|0",
            {
                "queue": "support",
                "partition": 0,
                "waiting": 0,
                "oldest_waiting_ms": None,
                "rolling_15m": counts,  # offered a minute ago: inside both windows
                "rolling_60m": counts,
                "computed_ms": now_ms,
            },
        )
    ]
    assert set(by_topic) == {topics.INTERVAL_STATS, topics.QUEUE_STATS}
    assert ctx.st.last_published == {("support", 0): now["s"]}

    # nothing changed, and the coalescing interval has not passed: nothing more goes out
    ctx.emitted.clear()
    now["s"] += 0.1
    await publisher.publish_once()
    assert ctx.emitted == []


async def test_publish_once_drops_the_aggregators_of_partitions_no_longer_owned() -> None:
    now = {"s": BASE / 1000 + 60}
    ctx = make_worker(lambda: now["s"], owned={0})
    ctx.st.aggregators[0] = ctx.st.new_aggregator()
    ctx.st.aggregators[5] = ctx.st.new_aggregator()
    publisher, _ = publisher_of(ctx)
    await publisher.publish_once()
    assert set(ctx.st.aggregators) == {0}


async def test_heartbeat_with_the_injected_clock_and_its_tombstone_at_shutdown() -> None:
    now = {"s": BASE / 1000}
    ctx = make_worker(lambda: now["s"])
    ctx.app.assignor = type(
        "Assignor",
        (),
        {"assigned_actives": lambda self: [type("TP", (), {"topic": topics.CONTACT_EVENTS, "partition": 2})()]},
    )()
    publisher, _ = publisher_of(ctx)
    now["s"] += 2.5
    await publisher.send_heartbeat()
    await publisher.forget_heartbeat()
    sent = ctx.topics.out[topics.WORKER_STATUS].sent
    assert sent[0][0] == b"host:1"
    beat = orjson.loads(sent[0][1])
    assert (beat["worker_id"], beat["at_ms"], beat["started_ms"]) == ("host:1", BASE + 2500, BASE)
    assert beat["partitions"][topics.CONTACT_EVENTS] == [2]
    assert beat["partitions"][topics.AGENT_EVENTS] == []
    assert (beat["rebalancing"], beat["recovering"]) == (False, False)
    assert sent[1] == (b"host:1", None)
    assert publisher.heartbeats_stopped


async def test_publish_quality_emits_the_csat_partial_of_a_surveyed_agent_day() -> None:
    now_s = BASE / 1000 + 600  # 09:10:00
    ctx = make_worker(lambda: now_s, owned={0})
    ctx.st.aggregators[0] = ctx.st.new_aggregator()
    publisher, aggregates = publisher_of(ctx)
    batch = [
        event(contact_event("contact.offered", "e1", 0, queue="support", channel="voice")),
        event(contact_event("contact.answered", "e2", 15, queue="support", agent_id="a1"), offset=1),
        event(contact_event("survey.completed", "e3", 300, queue="support", agent_id="a1", score=4), offset=2),
    ]
    await ContactEvents(ctx, aggregates).apply_batch(batch, [])

    await publisher.publish_quality(BASE + 600_000)
    await ctx.flush_outbox()

    assert ctx.emitted == [
        (
            topics.QUALITY_STATS,
            b"csat-agent|a1|2024-05-01|0",
            orjson.dumps(
                {
                    "kind": "csat_agent",
                    "agent_id": "a1",
                    "date": "2024-05-01",
                    "partition": 0,
                    "updated_ms": BASE + 600_000,
                    "surveys": 1,
                    "score_sum": 4,
                    "satisfied": 1,  # a score of 4 or 5
                }
            ),
        ),
        (
            # the survey in a1's handle row of the offered interval (answered, not ended: not handled)
            topics.QUALITY_STATS,
            b"ah|a1|2024-05-01|0",
            orjson.dumps(
                {
                    "kind": "agent_handle",
                    "agent_id": "a1",
                    "date": "2024-05-01",
                    "partition": 0,
                    "updated_ms": BASE + 600_000,
                    "intervals": {str(BASE): [0, 0, 0, 0, 0, 1, 4, 1]},
                }
            ),
        ),
    ]


async def test_publish_quality_emits_agent_handle_rows_and_their_tombstone() -> None:
    now_s = BASE / 1000 + 600  # 09:10:00
    ctx = make_worker(lambda: now_s, owned={0})
    ctx.st.aggregators[0] = ctx.st.new_aggregator()
    publisher, aggregates = publisher_of(ctx)
    # offered 09:00:00, answered 09:00:15 by a2, transferred 09:02:15 (talk 120 s), wrap-up ended 09:02:45
    batch = [
        event(contact_event("contact.offered", "e1", 0, queue="support", channel="voice")),
        event(contact_event("contact.answered", "e2", 15, queue="support", agent_id="a2"), offset=1),
        event(contact_event("contact.transferred", "e3", 135, agent_id="a2", to_queue="billing"), offset=2),
        event(contact_event("contact.wrapup_ended", "e4", 165, agent_id="a2"), offset=3),
    ]
    await ContactEvents(ctx, aggregates).apply_batch(batch, [])

    await publisher.publish_quality(BASE + 600_000)
    await ctx.flush_outbox()

    assert ctx.emitted == [
        (
            topics.QUALITY_STATS,
            b"ah|a2|2024-05-01|0",
            orjson.dumps(
                {
                    "kind": "agent_handle",
                    "agent_id": "a2",
                    "date": "2024-05-01",
                    "partition": 0,
                    "updated_ms": BASE + 600_000,
                    "intervals": {str(BASE): [1, 120_000, 0, 30_000, 1, 0, 0, 0]},
                }
            ),
        )
    ]
    # nothing changed: nothing more
    ctx.emitted.clear()
    await publisher.publish_quality(BASE + 601_000)
    await ctx.flush_outbox()
    assert ctx.emitted == []
    # retention forgets the contact: the agent-date has no row left, its record is tombstoned
    agg = ctx.st.aggregators[0]
    agg.forget("c1", unpack(ctx.tables.contacts.data.pop("c1")))
    await publisher.publish_quality(BASE + 602_000)
    await ctx.flush_outbox()
    assert ctx.emitted == [(topics.QUALITY_STATS, b"ah|a2|2024-05-01|0", None)]
