"""The agent time, shift and shrinkage parts of fw.adherence records as the publisher writes and
re-publishes them (Shanghai, 30-minute intervals, 2024-05-01 from 09:00)."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson

from floorwatch import topics
from floorwatch.domain.intervals import day_bounds_ms, day_interval_starts
from floorwatch.domain.occupancy import day_time, interval_times, rolling_time
from floorwatch.streams.agents.agent_events import AgentEvents
from floorwatch.streams.agents.schedules import Schedules
from floorwatch.streams.alerting import WebhookNotifier
from floorwatch.streams.publisher import Publisher
from floorwatch.streams.rebuild import AggregateRebuild, FcrRebuild
from tests.unit.streams.fake_worker import BASE, FakeWorker, at, event, make_worker

MIN = 60_000
DAY = date(2024, 5, 1)


def state(eid: str, seconds: float, st: str, reason: str | None = None, agent: str = "a1") -> Any:
    data = {"type": "agent.state", "event_id": eid, "ts": at(seconds), "agent_id": agent, "state": st}
    if reason is not None:
        data["reason"] = reason
    return event(data, topic=topics.AGENT_EVENTS)


async def adherence_records(ctx: FakeWorker) -> dict[str, dict[str, Any]]:
    await ctx.flush_outbox()
    out = {k.decode(): orjson.loads(v) for t, k, v in ctx.emitted if t == topics.ADHERENCE and v is not None}
    ctx.emitted.clear()
    return out


async def test_agent_time_written_refreshed_and_updated_by_a_new_point() -> None:
    clock = {"s": BASE / 1000 + 20 * 60}  # 09:20
    ctx = make_worker(lambda: clock["s"], owned={0})
    publisher = Publisher(ctx, AggregateRebuild(ctx), FcrRebuild(ctx), WebhookNotifier(ctx.settings), "host:1")
    agents = AgentEvents(ctx)
    await agents.apply_batch([state("s1", 0, "available"), state("s2", 600, "on_contact")], [])

    await publisher.publish_floor(clock["s"], BASE + 20 * MIN)
    rec = (await adherence_records(ctx))["a1|2024-05-01"]
    # available 09:00-09:10 closed; on_contact open since 09:10 (the last point)
    assert rec["agent_time"] == {
        "intervals": {str(BASE): {"available": 600_000}},
        "until_ms": BASE + 10 * MIN,
        "open": [BASE + 10 * MIN, "on_contact", None],
        "recent": [[BASE, "available", None], [BASE + 10 * MIN, "on_contact", None]],  # in force at 09:05
    }
    # no schedule: no shift, nothing scheduled; 20 min worked in the 09:00 interval
    assert rec["shift"] is None
    assert rec["shrinkage"] == {"scheduled_ms": 0, "off_phone_scheduled_ms": 0, "unscheduled_aux_ms": 0}
    assert rec["adherence_intervals"] == {str(BASE): [0, 0, 0, 20 * MIN]}
    # read at 09:20: available 10 min, on_contact 10 min -> occupancy 0.5; the last 15 min
    # (09:05, 09:20]: available 5, on_contact 10 -> 2/3
    lo, hi = day_bounds_ms(DAY, ctx.settings.tz)
    starts = day_interval_starts(DAY, ctx.settings.tz, 30)
    day = day_time(interval_times(rec["agent_time"], starts, hi, BASE + 20 * MIN))
    assert day.state_ms == {"available": 600_000, "on_contact": 600_000}
    assert day.occupancy() == 0.5
    assert rolling_time(rec["agent_time"]["recent"], BASE + 20 * MIN).occupancy() == 600_000 / 900_000

    # 30 s later: nothing changed and the minute's refresh is not due
    clock["s"] += 30
    await publisher.publish_floor(clock["s"], BASE + 20 * MIN + 30_000)
    assert await adherence_records(ctx) == {}
    # 09:30: today's record is refreshed; "recent" now starts with the point in force at 09:15
    clock["s"] = BASE / 1000 + 30 * 60
    await publisher.publish_floor(clock["s"], BASE + 30 * MIN)
    rec = (await adherence_records(ctx))["a1|2024-05-01"]
    assert rec["updated_ms"] == BASE + 30 * MIN
    assert rec["agent_time"]["recent"] == [[BASE + 10 * MIN, "on_contact", None]]
    assert rec["agent_time"]["intervals"] == {str(BASE): {"available": 600_000}}

    # a new point at 09:31 makes the day dirty: published at the next turn, on_contact closed
    clock["s"] = BASE / 1000 + 31 * 60 + 10
    await agents.apply_batch([state("s3", 31 * 60, "wrap_up")], [])
    await publisher.publish_floor(clock["s"], BASE + 31 * MIN + 10_000)
    rec = (await adherence_records(ctx))["a1|2024-05-01"]
    assert rec["agent_time"]["intervals"] == {
        str(BASE): {"available": 600_000, "on_contact": 1_200_000},
        str(BASE + 30 * MIN): {"on_contact": 60_000},
    }
    assert rec["agent_time"]["open"] == [BASE + 31 * MIN, "wrap_up", None]


async def test_shift_and_shrinkage_of_a_scheduled_day() -> None:
    clock = {"s": BASE / 1000 + 60 * 60}  # 10:00
    ctx = make_worker(lambda: clock["s"], owned={0})
    publisher = Publisher(ctx, AggregateRebuild(ctx), FcrRebuild(ctx), WebhookNotifier(ctx.settings), "host:1")
    schedule = {
        "type": "schedule.published",
        "event_id": "p1",
        "ts": at(-3600),
        "agent_id": "a1",
        "date": "2024-05-01",
        "activities": [
            {"start": at(0), "end": at(1800), "activity": "work"},
            {"start": at(1800), "end": at(2700), "activity": "break"},
            {"start": at(2700), "end": at(8 * 3600), "activity": "work"},
        ],
    }
    await Schedules(ctx).apply_batch([event(schedule, topic=topics.SCHEDULES)], [])
    # logs in at 09:04 (late), aux without reason 09:20-09:25 during work, break 09:30-09:45
    points = [
        state("s1", 240, "available"),
        state("s2", 1200, "aux"),
        state("s3", 1500, "available"),
        state("s4", 1800, "aux", "break"),
        state("s5", 2700, "available"),
    ]
    await AgentEvents(ctx).apply_batch(points, [])
    await publisher.publish_floor(clock["s"], BASE + 60 * MIN)
    rec = (await adherence_records(ctx))["a1|2024-05-01"]
    assert rec["shift"] == {"start_ms": BASE, "end_ms": BASE + 8 * 3_600_000, "first_login_ms": BASE + 4 * MIN}
    # up to 10:00: 60 min scheduled, of which the break's 15 off phone; aux during work 5 min
    assert rec["shrinkage"] == {
        "scheduled_ms": 60 * MIN,
        "off_phone_scheduled_ms": 15 * MIN,
        "unscheduled_aux_ms": 5 * MIN,
    }
    # 09:00: scheduled 30, in adherence 30 - 4 (late) - 5 (aux) = 21, work 30, worked 26 - 5 = 21;
    # 09:30: scheduled 30, break 15 + work 15 in adherence, work 15, worked 15
    assert rec["adherence_intervals"] == {
        str(BASE): [30 * MIN, 21 * MIN, 30 * MIN, 21 * MIN],
        str(BASE + 30 * MIN): [30 * MIN, 30 * MIN, 15 * MIN, 15 * MIN],
    }
    assert rec["agent_time"]["intervals"][str(BASE)] == {
        "available": 21 * MIN,
        "aux": 5 * MIN,
        "aux_reasons": {"unspecified": 5 * MIN},
    }


async def test_a_late_point_of_a_past_date_also_refreshes_the_next_dates_record() -> None:
    # now 2024-05-03 10:00; a1 has day records for 05-01 and 05-02, a2 only for 05-01
    clock = {"s": BASE / 1000 + 2 * 86_400 + 3600}
    ctx = make_worker(lambda: clock["s"], owned={0})
    agents = AgentEvents(ctx)
    await agents.apply_batch([state("a", 86_400, "available"), state("b", 0, "available", agent="a2")], [])
    ctx.st.dirty_days.clear()
    await agents.apply_batch([state("c", 600, "aux", "break"), state("d", 600, "aux", agent="a2")], [])
    assert ctx.st.dirty_days == {("a1", "2024-05-01"), ("a1", "2024-05-02"), ("a2", "2024-05-01")}
    # a point of yesterday: today is not added here (the agent is refreshed with today anyway)
    ctx.st.dirty_days.clear()
    await agents.apply_batch([state("e", 86_400 + 60, "available")], [])
    assert ctx.st.dirty_days == {("a1", "2024-05-02")}
