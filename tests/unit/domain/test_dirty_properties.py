"""Property tests: extreme but contract-valid events never make the pure domain raise.

Hypothesis throws events at the limits of the event contract (texts of the maximum length in
any script, event times at both ends of the plausibility window with odd UTC offsets, every
state, schedules and forecasts at their caps) at the apply functions the worker calls, in the
order the worker calls them, and then at the functions its publisher calls on the result.
Whatever the contract accepts must apply without an exception (an exception would cost the
event a dead letter with ``processing_error``), and good events applied in the same batch as
extreme ones give the same figures as when applied alone.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from floorwatch.domain.adherence import evaluate_day, realtime_status
from floorwatch.domain.agents import agent_status, apply_agent_event
from floorwatch.domain.aggregate import QueueAggregator
from floorwatch.domain.contacts import apply_event
from floorwatch.domain.fcr import projection
from floorwatch.domain.floor import (
    agent_context,
    apply_schedule,
    apply_state_point,
    day_key,
    logged_in_ms_by_interval,
)
from floorwatch.domain.intervals import day_bounds_ms, day_interval_starts, local_date
from floorwatch.domain.queue_metrics import QueueRules
from floorwatch.events import DEFAULT_LIMITS, EventError, from_ms, parse_event, to_ms

PROFILE = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
LIMITS = DEFAULT_LIMITS
NOW_MS = 1_796_000_000_000  # 2026-12-01T03:33:20Z
KEY = b"property-test-key"
ZONES = [
    ZoneInfo("Asia/Shanghai"),
    ZoneInfo("Pacific/Kiritimati"),
    ZoneInfo("Pacific/Pago_Pago"),
    ZoneInfo("Asia/Kathmandu"),
    ZoneInfo("America/St_Johns"),
]
RULES = QueueRules(20_000, 5_000, 0.8, "answered_over_offered")
DAY_MS = 86_400_000
STATES = ["logged_out", "available", "on_contact", "wrap_up", "aux"]
ACTIVITY_STATES = {"work": ["available", "on_contact", "wrap_up"], "break": ["aux/break"], "off": ["logged_out"]}

# any script, no lone surrogates (JSON cannot carry them)
chars = st.characters(exclude_categories=("Cs",))
ids = st.one_of(
    st.sampled_from(["a1", "a2", "c1", "c2", "q1"]), st.text(chars, min_size=1, max_size=LIMITS.max_text_chars)
)
texts = st.text(chars, min_size=1, max_size=LIMITS.max_text_chars)
# event times at both ends of the window, and anywhere in it
OLDEST_MS = NOW_MS - LIMITS.retention_days * DAY_MS
NEWEST_MS = NOW_MS + int(LIMITS.max_future_s * 1000)
times_ms = st.one_of(
    st.sampled_from([OLDEST_MS, OLDEST_MS + 1, NEWEST_MS - 1, NEWEST_MS, NOW_MS]), st.integers(OLDEST_MS, NEWEST_MS)
)
offsets_min = st.sampled_from([-12 * 60, -9 * 60 - 30, 0, 5 * 60 + 45, 8 * 60, 13 * 60 + 45, 14 * 60])


def iso(ms: int, offset_min: int) -> str:
    return from_ms(ms).astimezone(timezone(timedelta(minutes=offset_min))).isoformat()


@st.composite
def contact_events(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "contact.offered",
                "contact.answered",
                "contact.abandoned",
                "contact.overflowed",
                "contact.hold_started",
                "contact.hold_ended",
                "contact.ended",
                "contact.wrapup_ended",
                "contact.transferred",
                "survey.completed",
            ]
        )
    )
    ev: dict[str, Any] = {
        "event_id": draw(ids),
        "type": kind,
        "ts": iso(draw(times_ms), draw(offsets_min)),
        "contact_id": draw(ids),
    }
    if kind in ("contact.offered", "contact.answered", "contact.abandoned", "contact.overflowed", "survey.completed"):
        ev["queue"] = draw(ids)
    if kind not in ("contact.offered", "contact.abandoned", "contact.overflowed"):
        ev["agent_id"] = draw(ids)
    if kind == "contact.offered":
        ev["channel"] = draw(st.sampled_from(["voice", "chat", "email", "callback"]))
        if draw(st.booleans()):
            ev["customer"] = draw(texts)
        if draw(st.booleans()):
            ev["parent_contact_id"] = draw(ids)
    if kind == "contact.overflowed":
        ev["reason"] = draw(st.sampled_from(["timeout", "no_agents", "key", "other"]))
    if kind == "contact.wrapup_ended" and draw(st.booleans()):
        ev["resolved"] = draw(st.sampled_from([True, False, None]))
    if kind == "contact.transferred":
        ev["to_queue"] = draw(ids)
    if kind == "survey.completed":
        ev["score"] = draw(st.integers(1, 5))
    return ev


@st.composite
def agent_events(draw: st.DrawFn) -> dict[str, Any]:
    ev: dict[str, Any] = {"event_id": draw(ids), "ts": iso(draw(times_ms), draw(offsets_min)), "agent_id": draw(ids)}
    if draw(st.booleans()):
        ev |= {"type": "agent.state", "state": draw(st.sampled_from(STATES))}
        if ev["state"] == "aux" and draw(st.booleans()):
            ev["reason"] = draw(st.one_of(st.sampled_from(["break", "lunch"]), texts))
    else:
        ev |= {
            "type": "agent.profile",
            "name": draw(texts),
            "team": draw(texts),
            "queues": draw(st.lists(ids, max_size=20)),
        }
    return ev


@st.composite
def schedules(draw: st.DrawFn) -> dict[str, Any]:
    tz = draw(st.sampled_from(ZONES))
    day = local_date(draw(times_ms), tz)
    lo, _hi = day_bounds_ms(day, tz)
    n = draw(st.integers(0, 40))
    acts = []
    for _ in range(n):
        start = lo + draw(st.integers(-6 * 3_600_000, 30 * 3_600_000)) // 60_000 * 60_000
        length = draw(st.integers(1, 8 * 60)) * 60_000
        acts.append(
            {
                "start": iso(start, draw(offsets_min)),
                "end": iso(start + length, draw(offsets_min)),
                "activity": draw(st.sampled_from(["work", "break", "lunch", "meeting", "off"])),
            }
        )
    return {
        "event_id": draw(ids),
        "type": "schedule.published",
        "ts": iso(draw(times_ms), 0),
        "agent_id": draw(ids),
        "date": day.isoformat(),
        "activities": acts,
        "_tz": tz,
    }


def valid(raw: dict[str, Any]) -> Any:
    """The event as the contract parses it; Hypothesis drops what the contract refuses."""
    try:
        return parse_event({k: v for k, v in raw.items() if k != "_tz"}, limits=LIMITS, now_ms=NOW_MS)
    except EventError:
        assume(False)


class Worker:
    """The worker's per-event apply steps and its publisher's reads, on plain dicts."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self.contacts: dict[str, Any] = {}
        self.agents: dict[str, Any] = {}
        self.days: dict[str, Any] = {}
        self.agg = QueueAggregator(tz, 30)

    def apply(self, raw: dict[str, Any]) -> None:
        parsed = valid(raw)
        data = parsed.model_dump(mode="json", exclude_none=True)
        ts_ms = parsed.ts_ms
        if parsed.type.startswith(("contact.", "survey.")):
            cid = data["contact_id"]
            old = self.contacts.get(cid)
            new = apply_event(old, data, ts_ms, lambda _q: RULES, customer_key=KEY)
            if new is not None:
                projection(old), projection(new)
                self.agg.update(cid, old, new)
                self.contacts[cid] = new
        elif parsed.type.startswith("agent."):
            aid = data["agent_id"]
            if parsed.type == "agent.state":
                day = local_date(ts_ms, self.tz).isoformat()
                rec = apply_state_point(
                    self.days.get(day_key(aid, day)), ts_ms, data["event_id"], data["state"], data.get("reason")
                )
                if rec is not None:
                    self.days[day_key(aid, day)] = rec
            new = apply_agent_event(self.agents.get(aid), data, ts_ms)
            if new is not None:
                self.agents[aid] = new
        elif parsed.type == "schedule.published":
            acts = [(to_ms(a.start), to_ms(a.end), a.activity) for a in parsed.activities]
            key = day_key(parsed.agent_id, str(parsed.date))
            rec = apply_schedule(self.days.get(key), str(parsed.date), acts, ts_ms, parsed.event_id)
            if rec is not None:
                self.days[key] = rec

    def publish(self, now_ms: int) -> dict[str, Any]:
        """What the publisher reads; returns the queue figures to compare runs."""
        out: dict[str, Any] = {}
        dirty_buckets, _ = self.agg.take_dirty()
        for queue, start in dirty_buckets:
            bucket = self.agg.buckets.get((queue, start))
            if bucket is not None:
                bucket.counts.as_dict()
        for queue in self.agg.queues():
            out[queue] = (
                len(self.agg.waiting.get(queue, ())),
                self.agg.oldest_waiting_ms(queue),
                self.agg.rolling(queue, now_ms, 15 * 60_000).as_dict(),
            )
        today = local_date(now_ms, self.tz)
        aids = set(self.agents) | {k.rpartition("|")[0] for k in self.days}
        for aid in aids:
            schedule, timeline = agent_context(self.days.get, aid, today)
            realtime_status(schedule, timeline, now_ms, ACTIVITY_STATES, grace_s=120, critical_s=600)
            if aid in self.agents:
                agent_status(aid, self.agents[aid], now_ms)
            for day in (today - timedelta(days=1), today):
                schedule, timeline = agent_context(self.days.get, aid, day)
                lo, hi = day_bounds_ms(day, self.tz)
                evaluate_day(schedule, day.isoformat(), timeline, lo, hi, now_ms, ACTIVITY_STATES)
                logged_in_ms_by_interval(timeline, day_interval_starts(day, self.tz, 30), hi, now_ms)
        return out


GOOD = [
    {
        "event_id": "g1",
        "type": "contact.offered",
        "ts": iso(NOW_MS - 600_000, 0),
        "contact_id": "good-1",
        "queue": "sales",
        "channel": "voice",
    },
    {
        "event_id": "g2",
        "type": "contact.answered",
        "ts": iso(NOW_MS - 590_000, 0),
        "contact_id": "good-1",
        "queue": "sales",
        "agent_id": "good-agent",
    },
    {
        "event_id": "g3",
        "type": "contact.offered",
        "ts": iso(NOW_MS - 300_000, 0),
        "contact_id": "good-2",
        "queue": "sales",
        "channel": "voice",
    },
]


@PROFILE
@given(
    tz=st.sampled_from(ZONES),
    events=st.lists(st.one_of(contact_events(), agent_events()), max_size=12),
    where=st.integers(0, 12),
)
def test_extreme_events_apply_and_publish_without_exception(
    tz: ZoneInfo, events: list[dict[str, Any]], where: int
) -> None:
    """Good events in a batch with extreme ones give the good queue's figures of the good ones
    alone (the extreme ones use other contact ids and queues)."""
    events = [
        e
        for e in events
        if e["contact_id" if "contact_id" in e else "agent_id"] not in ("good-1", "good-2")
        and e.get("queue") != "sales"
        and e.get("to_queue") != "sales"
    ]
    for e in events:
        valid(e)
    batch = events[:where] + GOOD + events[where:]
    mixed = Worker(tz)
    for raw in batch:
        mixed.apply(raw)
    alone = Worker(tz)
    for raw in GOOD:
        alone.apply(raw)
    for now_ms in (NOW_MS, NEWEST_MS + 1, NOW_MS + DAY_MS):
        got, want = mixed.publish(now_ms), alone.publish(now_ms)
        assert got["sales"] == want["sales"]
    assert mixed.contacts["good-1"] == alone.contacts["good-1"]


@PROFILE
@given(schedule=schedules(), states=st.lists(agent_events(), max_size=8))
def test_extreme_schedules_apply_and_evaluate_without_exception(
    schedule: dict[str, Any], states: list[dict[str, Any]]
) -> None:
    w = Worker(schedule["_tz"])
    w.apply(schedule)
    for raw in states:
        w.apply({**raw, "agent_id": schedule["agent_id"]})
    for now_ms in (NOW_MS, NEWEST_MS, NOW_MS + 2 * DAY_MS):
        w.publish(now_ms)


@pytest.mark.parametrize("tz", ZONES, ids=str)
def test_a_schedule_at_the_activity_cap_applies(tz: ZoneInfo) -> None:
    """``max_activities`` activities of one minute each, the largest schedule the contract takes."""
    day = local_date(NOW_MS, tz)
    lo, _hi = day_bounds_ms(day, tz)
    acts = [
        {
            "start": iso(lo + i * 60_000, 0),
            "end": iso(lo + (i + 1) * 60_000, 0),
            "activity": "work" if i % 2 else "break",
        }
        for i in range(LIMITS.max_activities)
    ]
    w = Worker(tz)
    w.apply(
        {
            "event_id": "big",
            "type": "schedule.published",
            "ts": iso(NOW_MS, 0),
            "agent_id": "a1",
            "date": day.isoformat(),
            "activities": acts,
        }
    )
    assert w.days[day_key("a1", day)]["sc"]
    w.publish(NOW_MS)


def test_the_window_edges_are_inside_and_one_ms_beyond_is_not() -> None:
    """The strategies above really reach the edges of what the contract accepts."""
    base = {"event_id": "e", "type": "agent.state", "agent_id": "a", "state": "available"}
    for ms in (OLDEST_MS, NEWEST_MS):
        parse_event({**base, "ts": iso(ms, 0)}, limits=LIMITS, now_ms=NOW_MS)
    for ms in (OLDEST_MS - 1, NEWEST_MS + 1):
        with pytest.raises(EventError) as err:
            parse_event({**base, "ts": iso(ms, 0)}, limits=LIMITS, now_ms=NOW_MS)
        assert err.value.reason == "implausible_time"


# -- the same events through HTTP ingest ---------------------------------------------------


class AckingProducer:
    """Acknowledges every record at once and keeps what it got."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes]] = []

    async def send(self, topic: str, key: bytes, value: bytes) -> Any:
        self.records.append((topic, key, value))
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    async def flush(self) -> None:
        return None


junk = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(chars, max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(chars, max_size=8), inner, max_size=4),
    max_leaves=12,
)


_APP: dict[str, Any] = {}


def ingest_app() -> tuple[Any, AckingProducer]:
    """One in-process API for every example (building the app costs more than a request)."""
    if not _APP:
        from floorwatch.api.main import create_app
        from floorwatch.config import Settings
        from floorwatch.readmodel.view import View

        settings = Settings(
            timezone="Asia/Shanghai",
            ingest={"rate_burst_events": 10**9},
            auth={"tokens": [{"name": "feed", "sha256": hashlib.sha256(b"feed").hexdigest(), "roles": ["ingest"]}]},
        )
        producer = AckingProducer()
        _APP["app"] = create_app(settings, view=View(), producer=producer, clock=lambda: NOW_MS)
        _APP["producer"] = producer
    _APP["producer"].records.clear()
    return _APP["app"], _APP["producer"]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(
    good=st.lists(st.one_of(contact_events(), agent_events(), schedules()), min_size=1, max_size=8),
    bad=st.lists(junk, max_size=5),
    seed=st.randoms(use_true_random=False),
)
def test_ingest_accepts_every_valid_event_among_junk_and_never_fails(
    good: list[dict[str, Any]], bad: list[Any], seed: Any
) -> None:
    """Extreme valid events mixed with arbitrary JSON in one request: 202, every valid event
    accepted and produced as sent, every junk item rejected with a reason, never a 5xx."""
    import httpx

    good = [{k: v for k, v in e.items() if k != "_tz"} for e in good]
    for e in good:
        valid(e)
    items: list[Any] = [*good, *bad]
    seed.shuffle(items)
    app, producer = ingest_app()

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await client.post(
                "/api/v1/events", content=orjson.dumps(items), headers={"Authorization": "Bearer feed"}
            )

    resp = asyncio.run(post())
    assert resp.status_code == 202, resp.text
    answer = resp.json()
    valid_items = [i for i in items if i in good]
    assert answer["accepted"] == len(valid_items) == len(producer.records)
    assert answer["accepted"] + answer["rejected_count"] == len(items)
    assert sum(answer["rejected_by_reason"].values()) == answer["rejected_count"]
    produced_ids = sorted(orjson.loads(v)["event_id"] for _t, _k, v in producer.records)
    assert produced_ids == sorted(e["event_id"] for e in valid_items)
