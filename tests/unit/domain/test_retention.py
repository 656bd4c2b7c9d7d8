"""Which records expire when (floorwatch.domain.retention), the API view's expiry and the
alert view's tombstones. Every time is explicit; the expected cutoffs are written out by hand
as local wall times and converted with ``datetime``, not with the code under test."""

from __future__ import annotations

import asyncio
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from floorwatch import records, topics
from floorwatch.domain.retention import (
    RESTART_CATCH_UP_DAYS,
    AgentExpiry,
    Forgotten,
    Horizon,
    ack_expired,
    adherence_keys_to_tombstone,
    agent_expired,
    agent_last_event_ms,
    alert_expired,
    contact_expired,
    day_record_expired,
    drain,
    forget_agents,
    open_alert_ids,
    plan_agent_expiry,
    status_expired,
)
from floorwatch.events import to_ms
from floorwatch.readmodel.view import View, expire_sliced
from floorwatch.streams.alerting import expire_alerts

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def at(text: str, tz: ZoneInfo = SHANGHAI) -> int:
    return to_ms(datetime.fromisoformat(text).replace(tzinfo=tz))


# 2024-03-20 00:30 in Shanghai is still 2024-03-19 in UTC; retention 7 days
NOW = at("2024-03-20T00:30:00")
CUTOFF = at("2024-03-13T00:00:00")  # local midnight starting the oldest kept day
H = Horizon.at(NOW, SHANGHAI, 7)


# --- the horizon ----------------------------------------------------------------------------


def test_horizon_is_local_to_the_zone() -> None:
    assert H == Horizon(date(2024, 3, 20), date(2024, 3, 13), CUTOFF)
    assert CUTOFF == 1_710_259_200_000  # 2024-03-12T16:00:00Z
    utc = Horizon.at(NOW, ZoneInfo("UTC"), 7)
    assert utc == Horizon(
        date(2024, 3, 19), date(2024, 3, 12), to_ms(datetime.fromisoformat("2024-03-12T00:00:00+00:00"))
    )


def test_horizon_cutoff_takes_the_oldest_days_own_offset_across_daylight_saving() -> None:
    # Berlin moves to CEST on 2024-03-31; the oldest kept day 2024-03-25 is still CET (+01:00)
    h = Horizon.at(at("2024-04-01T12:00:00", BERLIN), BERLIN, 7)
    assert h.oldest_kept_day == date(2024, 3, 25)
    assert h.cutoff_ms == to_ms(datetime.fromisoformat("2024-03-24T23:00:00+00:00"))


@pytest.mark.parametrize(
    ("ms", "expired"),
    [
        (CUTOFF - 1, True),
        (CUTOFF, False),
        (NOW, False),
        (0, True),
        (None, True),
        (True, True),
        ("1710259200000", True),
        (float(CUTOFF), True),
    ],
)
def test_instant_expired(ms: Any, expired: bool) -> None:
    assert H.instant_expired(ms) is expired


@pytest.mark.parametrize(
    ("day", "expired"),
    [
        ("2024-03-12", True),
        ("2024-03-13", False),
        ("2024-03-20", False),
        ("2025-01-01", False),
        (date(2024, 3, 12), True),
        (date(2024, 3, 13), False),
        ("garbage", True),
        ("", True),
        (None, True),
        ("2024-3-12x", True),
    ],
)
def test_day_expired(day: Any, expired: bool) -> None:
    assert H.day_expired(day) is expired


# --- worker tables --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "expired"),
    [
        ({"o": [CUTOFF - 1, "e1"], "q": "q"}, True),
        ({"o": [CUTOFF, "e1"], "q": "q"}, False),
        ({"o": [CUTOFF - 1, "e1"], "a": [NOW, "e2", "ag"]}, True),  # measured from the offer only
        ({"a": [CUTOFF - 5, "e2", "ag"], "e": [CUTOFF - 1, "e3", "ag"]}, True),  # no offer: latest fact
        ({"a": [CUTOFF - 5, "e2", "ag"], "e": [CUTOFF, "e3", "ag"]}, False),
        ({"h": [[7, 1, CUTOFF]]}, False),  # holds: [event hash, started, ts]
    ],
)
def test_contact_expired(facts: dict[str, Any], expired: bool) -> None:
    assert contact_expired(facts, H) is expired


@pytest.mark.parametrize(
    ("key", "expired"),
    [
        ("a1|2024-03-12", True),
        ("a1|2024-03-13", False),
        ("odd|id|2024-03-12", True),
        ("odd|id|2024-03-13", False),
        ("a1|2099-01-01", False),
        ("no-date", True),
    ],
)
def test_day_record_expired(key: str, expired: bool) -> None:
    assert day_record_expired(key, H) is expired


def test_agent_last_event_ms() -> None:
    pr = [100, "p", "Ann", "t", []]
    st = [250, "s", "available", None]
    assert agent_last_event_ms({"pr": pr}) == 100
    assert agent_last_event_ms({"st": st}) == 250
    assert agent_last_event_ms({"pr": [300, *pr[1:]], "st": st}) == 300
    assert agent_last_event_ms({"ab": {"open": {}}, "_p": 0}) is None


@pytest.mark.parametrize(
    ("record", "has_kept_day", "expired"),
    [
        ({"st": [CUTOFF - 1, "s", "available", None]}, False, True),
        ({"st": [CUTOFF, "s", "available", None]}, False, False),
        ({"st": [CUTOFF - 1, "s", "available", None], "pr": [CUTOFF, "p", "A", "t", []]}, False, False),
        ({"st": [CUTOFF - 1, "s", "available", None]}, True, False),  # a kept day record: seen
        ({"ab": {"open": {"x": {}}}}, False, True),  # no event at all
        (None, False, True),
        (None, True, False),
    ],
)
def test_agent_expired(record: dict[str, Any] | None, has_kept_day: bool, expired: bool) -> None:
    assert agent_expired(record, has_kept_day, H) is expired


def test_open_alert_ids() -> None:
    assert open_alert_ids({"ab": {"open": {"adherence_break:a:1": {}, "adherence_break:a:9": {}}, "trackers": {}}}) == [
        "adherence_break:a:1",
        "adherence_break:a:9",
    ]
    assert open_alert_ids({"st": [1, "s", "aux", None]}) == []
    assert open_alert_ids(None) == []


def st(ms: int) -> list[Any]:
    return [ms, f"s{ms}", "available", None]


def tables() -> tuple[dict[str, Any], dict[str, Any]]:
    """Owned partitions 0 and 1. A: stale, one expired day; B: stale but a kept day; C: seen,
    an expired day; D: no record, only an expired day; E: no record, a future schedule;
    F: stale record of partition 5; G: stale record never written (no partition); H: a day of
    partition 5."""
    agents = {
        "A": {"st": st(CUTOFF - 1), "_p": 0, "ab": {"open": {"adherence_break:A:5": {"id": "adherence_break:A:5"}}}},
        "B": {"st": st(CUTOFF - 86_400_000), "_p": 0},
        "C": {"st": st(CUTOFF), "_p": 1},
        "F": {"st": st(0), "_p": 5},
        "G": {"ab": {"open": {}}, "_p": None},
    }
    days = {
        "A|2024-03-12": {"tl": [], "_p": 0},
        "B|2024-03-13": {"sc": {}, "_p": 0},
        "C|2024-03-01": {"tl": [], "_p": 1},
        "D|2024-03-10": {"sc": {}, "_p": 1},
        "E|2024-12-31": {"sc": {}, "_p": 1},
        "H|2024-01-01": {"tl": [], "_p": 5},
    }
    return agents, days


def test_plan_agent_expiry() -> None:
    agents, days = tables()
    plan = drain(plan_agent_expiry(agents, days, {0, 1}, H))
    assert plan.days == {"A|2024-03-12": 0, "C|2024-03-01": 1, "D|2024-03-10": 1}
    assert plan.agents == {"A": 0, "D": None, "G": None}
    assert plan.kept == {"B", "C", "E"}
    assert (agents, days) == tables()  # a plan changes nothing


def test_plan_is_sliced_and_reads_each_record_when_its_slice_comes() -> None:
    agents, days = tables()
    steps = plan_agent_expiry(agents, days, {0, 1}, H, slice_size=2)
    yields = 0
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            plan = stop.value
            break
        yields += 1
        if yields == 3:  # days done (3 slices of 2); A's state event arrives before agents are read
            agents["A"] = {**agents["A"], "st": st(NOW)}
    assert yields == 3 + 3  # 6 day keys and 5 agents, 2 a slice
    assert plan.agents == {"D": None, "G": None}
    assert "A" in plan.kept and plan.days["A|2024-03-12"] == 0


def test_forget_agents_deletes_what_is_still_expired() -> None:
    agents, days = tables()
    plan = drain(plan_agent_expiry(agents, days, {0, 1}, H))
    gone = drain(forget_agents(agents, days, plan, H))
    assert gone.days == {"A|2024-03-12": 0, "C|2024-03-01": 1, "D|2024-03-10": 1}
    assert gone.agents == {"A": 0}  # D has no record, G's was never written to the changelog
    assert sorted(gone.agent_ids) == ["A", "D", "G"]
    assert gone.alert_ids == ["adherence_break:A:5"]
    assert gone.skipped == []
    assert set(agents) == {"B", "C", "F"}
    assert set(days) == {"B|2024-03-13", "E|2024-12-31", "H|2024-01-01"}


def test_forget_agents_skips_agents_touched_or_seen_since_the_plan() -> None:
    agents, days = tables()
    plan = drain(plan_agent_expiry(agents, days, {0, 1}, H))
    agents["A"] = {**agents["A"], "pr": [NOW, "p", "Ann", "t", []]}  # a profile event meanwhile
    days["D|2024-03-21"] = {"sc": {}, "_p": 1}  # tomorrow's schedule for D meanwhile
    gone = drain(forget_agents(agents, days, plan, H, touched={"G"}))
    assert sorted(gone.skipped) == ["A", "D", "G"]
    assert gone.agent_ids == [] and gone.agents == {} and gone.alert_ids == []
    assert {"A", "G"} <= set(agents)
    assert "A|2024-03-12" not in days  # day records go by their date whatever the agent does


def test_forget_agents_is_sliced() -> None:
    agents, days = tables()
    plan = AgentExpiry(
        days={"A|2024-03-12": 0, "C|2024-03-01": 1, "D|2024-03-10": 1}, agents={"A": 0, "D": None, "G": None}
    )
    steps = forget_agents(agents, days, plan, H, slice_size=1)
    assert sum(1 for _ in steps) == 3 + 3


def test_adherence_keys_on_a_process_first_prune_look_back_a_week() -> None:
    gone = Forgotten(days={"K|2024-03-12": 0, "Z|2024-02-01": 1}, agent_ids=["X"])
    keys = list(adherence_keys_to_tombstone(["K"], gone, None, H))
    assert RESTART_CATCH_UP_DAYS == 7
    k_days = ["2024-03-06", "2024-03-07", "2024-03-08", "2024-03-09", "2024-03-10", "2024-03-11", "2024-03-12"]
    x_days = [
        *k_days,
        "2024-03-13",
        "2024-03-14",
        "2024-03-15",
        "2024-03-16",
        "2024-03-17",
        "2024-03-18",
        "2024-03-19",
        "2024-03-20",
    ]
    assert keys == ["K|2024-03-12", "Z|2024-02-01"] + [f"K|{d}" for d in k_days[:-1]] + [f"X|{d}" for d in x_days]
    assert len(keys) == len(set(keys))


def test_adherence_keys_after_a_prune_the_day_before() -> None:
    gone = Forgotten(agent_ids=["X"])
    keys = list(adherence_keys_to_tombstone(["K", "L"], gone, date(2024, 3, 12), H))
    assert keys == ["K|2024-03-12", "L|2024-03-12"] + [f"X|2024-03-{d}" for d in range(12, 21)]
    # the same hour again: no day crossed the horizon, only forgotten agents' keys
    assert list(adherence_keys_to_tombstone(["K"], Forgotten(), date(2024, 3, 13), H)) == []


# --- output topics --------------------------------------------------------------------------


def alert(aid: str, state: str, started: int, resolved: int | None) -> dict[str, Any]:
    return {
        "id": aid,
        "kind": "queue_waiting",
        "subject": "q",
        "severity": "warning",
        "state": state,
        "started_at_ms": started,
        "resolved_at_ms": resolved,
        "acked_by": None,
        "acked_at_ms": None,
        "details": {},
    }


@pytest.mark.parametrize(
    ("record", "expired"),
    [
        (alert("a", "resolved", CUTOFF - 10, CUTOFF - 1), True),
        (alert("a", "resolved", CUTOFF - 10, CUTOFF), False),
        (alert("a", "firing", 0, None), False),  # firing alerts never expire by age
        (alert("a", "resolved", CUTOFF - 1, None), True),  # no resolution time: the start
        (alert("a", "resolved", CUTOFF, None), False),
        ({"id": "junk"}, True),
    ],
)
def test_alert_expired(record: dict[str, Any], expired: bool) -> None:
    assert alert_expired(record, H) is expired


@pytest.mark.parametrize(
    ("ack", "present", "expired"),
    [
        ({"at_ms": CUTOFF - 1}, False, True),
        ({"at_ms": CUTOFF}, False, False),
        ({"at_ms": CUTOFF - 1}, True, False),
        ({}, False, True),
    ],
)
def test_ack_expired(ack: dict[str, Any], present: bool, expired: bool) -> None:
    assert ack_expired(ack, present, H) is expired


def test_status_expired() -> None:
    assert status_expired({"updated_ms": CUTOFF - 1}, H)
    assert not status_expired({"updated_ms": CUTOFF}, H)
    assert status_expired({"agent_id": "a"}, H)


# --- the API view ---------------------------------------------------------------------------


def put(view: View, topic: str, key: str, value: dict[str, Any] | None) -> None:
    assert view.apply(topic, key.encode(), None if value is None else orjson.dumps(value))


def interval(queue: str, start: int, p: int = 0) -> dict[str, Any]:
    return {
        "queue": queue,
        "start_ms": start,
        "end_ms": start + 1_800_000,
        "partition": p,
        "counts": {"offered": 1},
        "rules": None,
        "mixed_rules": False,
        "updated_ms": start,
    }


def forecast(day: str, eid: str = "f") -> dict[str, Any]:
    return {
        "event_id": eid,
        "type": "forecast.published",
        "ts": f"{day}T08:00:00+08:00",
        "queue": "q",
        "date": day,
        "interval_minutes": 30,
        "intervals": [{"start": f"{day}T09:00:00+08:00", "offered": 5, "aht_s": 100}],
    }


def filled_view() -> View:
    """Every kind of record, one just expired and one just kept (retention 7, Shanghai)."""
    v = View(tz=SHANGHAI, retention_days=7)
    before, after = CUTOFF - 1_800_000, CUTOFF  # interval starts either side of the cutoff
    for start in (before, after):
        for p in (0, 1):
            put(v, topics.INTERVAL_STATS, records.interval_key("q", start, p), interval("q", start, p))
    put(v, topics.INTERVAL_STATS, records.interval_key("gone", before, 0), interval("gone", before, 0))
    for queue, computed in (("q", CUTOFF), ("quiet", CUTOFF - 1)):
        put(
            v,
            topics.QUEUE_STATS,
            records.queue_key(queue, 0),
            {
                "queue": queue,
                "partition": 0,
                "waiting": 0,
                "rolling_15m": {},
                "rolling_60m": {},
                "computed_ms": computed,
            },
        )
    put(v, topics.AGENT_STATUS, "old", {"agent_id": "old", "state": "logged_out", "updated_ms": CUTOFF - 1})
    put(v, topics.AGENT_STATUS, "new", {"agent_id": "new", "state": "available", "updated_ms": CUTOFF})
    for day in ("2024-03-12", "2024-03-13"):
        put(v, topics.ADHERENCE, f"a|{day}", {"agent_id": "a", "date": day, "adherence": 1.0})
        put(
            v,
            topics.QUALITY_STATS,
            records.agent_day_key("csat-agent", "a", day, 0),
            {
                "kind": "csat_agent",
                "agent_id": "a",
                "date": day,
                "partition": 0,
                "surveys": 1,
                "score_sum": 5,
                "satisfied": 1,
            },
        )
        assert v.apply(topics.FORECASTS, b"q", orjson.dumps(forecast(day, eid=day)))
    for start in (before, after):
        put(
            v,
            topics.QUALITY_STATS,
            records.fcr_interval_key("q", start, 0),
            {
                "kind": "fcr_interval",
                "queue": "q",
                "start_ms": start,
                "partition": 0,
                "counts": {"customer_contacts": 1},
            },
        )
    put(v, topics.ALERTS, "old-resolved", alert("old-resolved", "resolved", CUTOFF - 10, CUTOFF - 1))
    put(v, topics.ALERTS, "new-resolved", alert("new-resolved", "resolved", CUTOFF - 10, CUTOFF))
    put(v, topics.ALERTS, "old-firing", alert("old-firing", "firing", 0, None))
    for key, at_ms in (
        ("old-resolved", CUTOFF - 5),
        ("new-resolved", CUTOFF - 5),
        ("old-firing", 10),
        ("orphan-old", CUTOFF - 1),
        ("orphan-new", CUTOFF),
    ):
        put(v, topics.ALERT_ACKS, key, {"id": key, "by": "sup", "at_ms": at_ms})
    return v


def test_view_expire_drops_exactly_what_retention_no_longer_keeps() -> None:
    v = filled_view()
    seen: list[tuple[str, str]] = []
    v.listeners.append(lambda topic, key: seen.append((topic, key)))
    dropped: list[tuple[str, str]] = []
    version = v.version
    drain(v.expire(NOW, dropped=lambda topic, key: dropped.append((topic, key))))

    assert set(v.intervals) == {f"q|{CUTOFF}|0", f"q|{CUTOFF}|1"}
    assert v.starts == {"q": [CUTOFF]} and set(v.buckets) == {"q"} and list(v.buckets["q"]) == [CUTOFF]
    assert set(v.queue_stats) == {"q|0"} and set(v.queue_parts) == {"q"}
    assert set(v.updated_ms) == {"q"}  # "gone" and "quiet" have nothing left
    assert set(v.agents) == {"new"}
    assert set(v.adherence) == {"a|2024-03-13"} and set(v.adherence_days) == {"2024-03-13"}
    assert set(v.quality) == {"csat-agent|a|2024-03-13|0", f"fcr|q|{CUTOFF}|0"}
    assert set(v.agent_quality) == {"2024-03-13"} and set(v.fcr_parts) == {("q", CUTOFF)}
    assert set(v.forecasts) == {("q", "2024-03-13")}
    assert set(v.alerts) == {"new-resolved", "old-firing"}
    assert set(v.alert_acks) == {"new-resolved", "old-firing", "orphan-new"}

    assert v.expired == {
        topics.INTERVAL_STATS: 3,
        topics.QUEUE_STATS: 1,
        topics.AGENT_STATUS: 1,
        topics.QUALITY_STATS: 2,
        topics.ALERTS: 1,
        topics.ALERT_ACKS: 2,
        topics.ADHERENCE: 1,
        topics.FORECASTS: 1,
    }
    assert v.version == version + 12
    assert seen == dropped and len(dropped) == 12
    assert [d for d in dropped if d[0] in (topics.ALERTS, topics.ALERT_ACKS)] == [
        (topics.ALERTS, "old-resolved"),
        (topics.ALERT_ACKS, "old-resolved"),
        (topics.ALERT_ACKS, "orphan-old"),
    ]
    assert (topics.FORECASTS, "q|2024-03-12") in dropped

    again = dict(v.expired)
    drain(v.expire(NOW))  # nothing more to drop
    assert v.expired == again


def test_view_expire_the_day_after_drops_the_next_day() -> None:
    v = filled_view()
    drain(v.expire(NOW + 86_400_000))
    assert v.intervals == {} and v.starts == {} and v.buckets == {}
    assert v.adherence == {} and set(v.forecasts) == set()
    assert set(v.alerts) == {"old-firing"} and set(v.alert_acks) == {"old-firing"}


def test_view_expire_is_sliced() -> None:
    v = filled_view()
    slices = sum(1 for _ in v.expire(NOW, slice_size=1))
    # one slice per candidate key: 3 old intervals, 2 queue, 2 status, 4 quality, 3 alerts,
    # 4 acks left after the alert pass, 1 old adherence date's key, 1 old forecast
    assert slices == 3 + 2 + 2 + 4 + 3 + 4 + 1 + 1


def test_view_retention_defaults_to_the_contract_limits() -> None:
    from floorwatch.events import EventLimits

    assert View().retention_days == 62 and View().tz == ZoneInfo("UTC")
    assert View(EventLimits(retention_days=9)).retention_days == 9
    assert View(EventLimits(retention_days=9), retention_days=3).retention_days == 3


def test_an_alerts_tombstone_drops_its_ack() -> None:
    v = View()
    put(v, topics.ALERTS, "x", alert("x", "firing", 1, None))
    put(v, topics.ALERT_ACKS, "x", {"id": "x", "by": "sup", "at_ms": 5})
    put(v, topics.ALERT_ACKS, "y", {"id": "y", "by": "sup", "at_ms": 5})
    put(v, topics.ALERTS, "x", None)
    assert v.alerts == {} and set(v.alert_acks) == {"y"}
    assert v.expired == {topics.ALERT_ACKS: 1}


def test_expire_sliced_reports_what_it_dropped() -> None:
    v = filled_view()
    assert asyncio.run(expire_sliced(v, NOW)) == {
        topics.INTERVAL_STATS: 3,
        topics.QUEUE_STATS: 1,
        topics.AGENT_STATUS: 1,
        topics.QUALITY_STATS: 2,
        topics.ALERTS: 1,
        topics.ALERT_ACKS: 2,
        topics.ADHERENCE: 1,
        topics.FORECASTS: 1,
    }
    assert asyncio.run(expire_sliced(v, NOW)) == {}


def test_the_alert_view_tombstones_the_alerts_and_acks_it_drops() -> None:
    v = filled_view()
    sent: list[tuple[str, str]] = []

    async def send(topic: str, key: str) -> None:
        sent.append((topic, key))

    dropped = asyncio.run(expire_alerts(v, NOW, send))
    assert sent == [
        (topics.ALERTS, "old-resolved"),
        (topics.ALERT_ACKS, "old-resolved"),
        (topics.ALERT_ACKS, "orphan-old"),
    ]
    assert dropped[topics.INTERVAL_STATS] == 3  # the rest of the view is bounded too
