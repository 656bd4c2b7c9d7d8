"""The input agents' batch functions (streams/agents/) against a fake worker context."""

from __future__ import annotations

from typing import Any

from floorwatch import topics
from floorwatch.domain.factcodec import unpack
from floorwatch.domain.intervals import interval_start_ms
from floorwatch.streams.agents.agent_events import AgentEvents
from floorwatch.streams.agents.contacts import ContactEvents
from floorwatch.streams.agents.forecasts import Forecasts
from floorwatch.streams.agents.schedules import Schedules
from floorwatch.streams.rebuild import AggregateRebuild
from tests.unit.streams.fake_worker import BASE, at, dead_letters, event, make_worker

NOW_S = BASE / 1000 + 60  # 09:01:00


def offered(cid: str, seconds: float, eid: str) -> dict[str, Any]:
    return {
        "type": "contact.offered",
        "event_id": eid,
        "ts": at(seconds),
        "contact_id": cid,
        "queue": "support",
        "channel": "voice",
    }


async def test_contacts_apply_valid_events_and_dead_letter_bad_ones_without_losing_neighbours() -> None:
    ctx = make_worker(lambda: NOW_S)
    ctx.st.aggregators[0] = ctx.st.new_aggregator()  # built: the agent does not wait for a rebuild
    state_event = {"type": "agent.state", "event_id": "s1", "ts": at(0), "agent_id": "a1", "state": "available"}
    batch = [
        event(offered("c1", 0, "e1"), offset=10),
        event(b"{not json", offset=11),
        event(state_event, offset=12),  # valid, but it belongs on fw.agent-events
        event(offered("c2", 5, "e2"), offset=13),
    ]
    pending: list[Any] = []

    await ContactEvents(ctx, AggregateRebuild(ctx)).apply_batch(batch, pending)

    contacts = ctx.tables.contacts.data
    assert sorted(contacts) == ["c1", "c2"]
    assert unpack(contacts["c1"])["_p"] == 0
    # both offered contacts wait in the 09:00 interval of the partition's aggregator
    agg = ctx.st.aggregators[0]
    start = interval_start_ms(BASE, ctx.settings.tz, 30)
    assert start == BASE
    counts = agg.buckets[("support", start)].counts
    assert (counts.offered, counts.waiting, counts.answered) == (2, 2, 0)
    assert agg.oldest_waiting_ms("support") == BASE
    # one changelog write for the batch: the two contacts, to their source partition
    assert ctx.changelog == [("contacts", {"c1": 0, "c2": 0})]
    assert ctx.projections == [{}]  # no customer: no FCR projection moved
    letters = dead_letters(ctx)
    assert [(d["reason"], d["topic"], d["partition"], d["offset"]) for d in letters] == [
        ("not_json", topics.CONTACT_EVENTS, 0, 11),
        ("wrong_topic", topics.CONTACT_EVENTS, 0, 12),
    ]
    assert letters[0]["raw"] == "{not json"
    assert {d["at_ms"] for d in letters} == {BASE + 60_000}  # the injected clock
    assert len(pending) == 2  # the dead letters' delivery futures gate the batch's offsets
    assert ctx.st.processing_errors == 0


async def test_contacts_duplicate_event_changes_nothing() -> None:
    ctx = make_worker(lambda: NOW_S)
    ctx.st.aggregators[0] = ctx.st.new_aggregator()
    agent = ContactEvents(ctx, AggregateRebuild(ctx))
    await agent.apply_batch([event(offered("c1", 0, "e1"))], [])
    await agent.apply_batch([event(offered("c1", 0, "e1"), offset=1)], [])
    assert ctx.changelog == [("contacts", {"c1": 0}), ("contacts", {})]
    assert ctx.st.aggregators[0].buckets[("support", BASE)].counts.offered == 1


async def test_agent_state_goes_to_the_day_record_and_marks_the_agent_dirty() -> None:
    ctx = make_worker(lambda: NOW_S)
    batch = [
        event(
            {"type": "agent.state", "event_id": "s1", "ts": at(30), "agent_id": "a1", "state": "available"},
            topic=topics.AGENT_EVENTS,
            partition=3,
        ),
        event(offered("c1", 0, "e1"), topic=topics.AGENT_EVENTS, partition=3, offset=1),
    ]
    pending: list[Any] = []
    await AgentEvents(ctx).apply_batch(batch, pending)
    day = ctx.tables.agent_days.data["a1|2024-05-01"]
    assert day["_p"] == 3
    assert [point[0] for point in day["tl"]] == [BASE + 30_000]
    assert ctx.changelog[0] == ("agent-days", {"a1|2024-05-01": 3})
    assert ctx.st.dirty_days == {("a1", "2024-05-01")}
    assert ctx.st.dirty_agents["a1"] == 3
    assert [d["reason"] for d in dead_letters(ctx)] == ["wrong_topic"]
    assert len(pending) == 1


async def test_schedule_sets_the_day_and_marks_it_dirty() -> None:
    ctx = make_worker(lambda: NOW_S)
    schedule = {
        "type": "schedule.published",
        "event_id": "p1",
        "ts": at(0),
        "agent_id": "a1",
        "date": "2024-05-01",
        "activities": [{"start": at(3600), "end": at(7200), "activity": "work"}],
    }
    await Schedules(ctx).apply_batch([event(schedule, topic=topics.SCHEDULES, partition=1)], [])
    assert ctx.tables.agent_days.data["a1|2024-05-01"]["_p"] == 1
    assert ctx.changelog == [("agent-days", {"a1|2024-05-01": 1})]
    assert ctx.st.dirty_days == {("a1", "2024-05-01")}
    assert ctx.st.dirty_agents == {"a1": 1}
    assert dead_letters(ctx) == []


async def test_forecasts_are_only_checked() -> None:
    ctx = make_worker(lambda: NOW_S)
    good = {
        "type": "forecast.published",
        "event_id": "f1",
        "ts": at(0),
        "queue": "support",
        "date": "2024-05-01",
        "interval_minutes": 30,
        "intervals": [{"start": at(0), "offered": 12, "aht_s": 300}],
    }
    bad = {**good, "event_id": "f2", "interval_minutes": 20}
    pending: list[Any] = []
    await Forecasts(ctx).apply_batch(
        [event(good, topic=topics.FORECASTS), event(bad, topic=topics.FORECASTS, offset=1)], pending
    )
    assert [(d["offset"], d["topic"]) for d in dead_letters(ctx)] == [(1, topics.FORECASTS)]
    assert ctx.changelog == []
    assert len(pending) == 1


async def test_a_failure_applying_one_contact_dead_letters_that_contact_only() -> None:
    """An unexpected failure inside the aggregator puts the contact back as it was and drops the
    partition's aggregator (rebuilt from the table before its next use); the batch's other
    contacts of that partition are still applied, and the rebuild counts them."""
    ctx = make_worker(lambda: NOW_S)
    agg = ctx.st.new_aggregator()
    real_update = agg.update

    def update(cid: str, old: Any, new: Any) -> None:
        if cid == "c1":
            raise RuntimeError("boom")
        real_update(cid, old, new)

    agg.update = update  # type: ignore[method-assign]
    ctx.st.aggregators[0] = agg
    agent = ContactEvents(ctx, AggregateRebuild(ctx))
    batch = [event(offered("c1", 0, "e1"), offset=10), event(offered("c2", 5, "e2"), offset=11)]
    await agent.apply_batch(batch, [])

    assert sorted(ctx.tables.contacts.data) == ["c2"]
    assert ctx.changelog == [("contacts", {"c2": 0})]
    assert [(d["partition"], d["offset"]) for d in dead_letters(ctx)] == [(0, 10)]
    assert ctx.st.processing_errors == 1 and 0 not in ctx.st.aggregators
    # the next batch waits for the rebuild from the table: c2 and the new c3 are counted
    await agent.apply_batch([event(offered("c3", 10, "e3"), offset=12)], [])
    counts = ctx.st.aggregators[0].buckets[("support", BASE)].counts
    assert (counts.offered, counts.waiting) == (2, 2)
    assert sorted(ctx.tables.contacts.data) == ["c2", "c3"]
