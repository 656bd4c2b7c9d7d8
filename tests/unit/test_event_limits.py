"""Plausibility limits of the event contract (floorwatch.events): time windows, strict types,
sizes. Every rejection is checked for its reason and for a message naming the field and the
limit; every boundary is checked on both sides (the limit itself is accepted)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from floorwatch.config import Settings
from floorwatch.events import EventError, EventLimits, dumps, parse_event, to_ms

NOW = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
NOW_MS = 1_795_482_000_000  # 2026-11-24T01:00:00Z, by hand: 20,781 days * 86,400 s + 3,600 s


def iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


OFFERED = {
    "event_id": "e1",
    "type": "contact.offered",
    "ts": "2026-11-24T09:00:00+08:00",
    "contact_id": "c1",
    "queue": "sales",
    "channel": "voice",
}
SURVEY = {
    "event_id": "s1",
    "type": "survey.completed",
    "ts": "2026-11-24T01:00:00Z",
    "contact_id": "c1",
    "score": 4,
    "agent_id": "a1",
    "queue": "sales",
}
WRAPUP = {
    "event_id": "w1",
    "type": "contact.wrapup_ended",
    "ts": "2026-11-24T01:00:00Z",
    "contact_id": "c1",
    "agent_id": "a1",
}
PROFILE = {
    "event_id": "p1",
    "type": "agent.profile",
    "ts": "2026-11-24T01:00:00Z",
    "agent_id": "a1",
    "name": "Ann",
    "team": "t1",
    "queues": ["sales"],
}


def schedule(activities: list[dict[str, Any]], day: str = "2026-11-24") -> dict[str, Any]:
    return {
        "event_id": "sc1",
        "type": "schedule.published",
        "ts": "2026-11-24T01:00:00Z",
        "agent_id": "a1",
        "date": day,
        "activities": activities,
    }


def forecast(intervals: list[dict[str, Any]], day: str = "2026-11-24") -> dict[str, Any]:
    return {
        "event_id": "f1",
        "type": "forecast.published",
        "ts": "2026-11-24T01:00:00Z",
        "queue": "sales",
        "date": day,
        "interval_minutes": 30,
        "intervals": intervals,
    }


WORK = {"start": "2026-11-24T09:00:00+08:00", "end": "2026-11-24T17:00:00+08:00", "activity": "work"}
SLOT = {"start": "2026-11-24T09:00:00+08:00", "offered": 12, "aht_s": 240.5}


def rejected(raw: Any, reason: str, *fragments: str, **kw: Any) -> str:
    with pytest.raises(EventError) as err:
        parse_event(raw, **kw)
    message = str(err.value)
    assert err.value.reason == reason, message
    for fragment in fragments:
        assert fragment in message, message
    return message


# ---- event time ---------------------------------------------------------------------------------


def test_now_plus_max_future_is_accepted_one_ms_more_is_not() -> None:
    at_limit = iso(NOW + timedelta(seconds=300))
    assert parse_event({**OFFERED, "ts": at_limit}, now_ms=NOW_MS).ts_ms == NOW_MS + 300_000
    rejected(
        {**OFFERED, "ts": iso(NOW + timedelta(seconds=300, milliseconds=1))},
        "implausible_time",
        "field 'ts'",
        "2026-11-24T01:05:00.001Z is more than 300 s after now (ingest.max_future_s)",
        now_ms=NOW_MS,
    )


def test_now_minus_retention_is_accepted_one_ms_earlier_is_not() -> None:
    oldest = NOW - timedelta(days=62)  # replays of retained history stay allowed
    assert parse_event({**OFFERED, "ts": iso(oldest)}, now_ms=NOW_MS).ts_ms == NOW_MS - 62 * 86_400_000
    rejected(
        {**OFFERED, "ts": iso(oldest - timedelta(milliseconds=1))},
        "implausible_time",
        "field 'ts'",
        "more than 62 days before now (retention_days)",
        now_ms=NOW_MS,
    )


def test_the_window_follows_the_limits() -> None:
    limits = EventLimits(retention_days=1, max_future_s=0.5)
    assert parse_event({**OFFERED, "ts": iso(NOW + timedelta(milliseconds=500))}, limits=limits, now_ms=NOW_MS)
    rejected(
        {**OFFERED, "ts": iso(NOW + timedelta(milliseconds=501))},
        "implausible_time",
        "more than 0.5 s after now (ingest.max_future_s)",
        limits=limits,
        now_ms=NOW_MS,
    )
    rejected(
        {**OFFERED, "ts": iso(NOW - timedelta(days=1, milliseconds=1))},
        "implausible_time",
        "more than 1 days before now (retention_days)",
        limits=limits,
        now_ms=NOW_MS,
    )


def test_an_offset_moves_the_instant_not_the_window() -> None:
    # 09:05:00+08:00 = 01:05:00Z = now + 300 s: accepted; 09:05:01+08:00 is 301 s after now
    assert parse_event({**OFFERED, "ts": "2026-11-24T09:05:00+08:00"}, now_ms=NOW_MS)
    rejected({**OFFERED, "ts": "2026-11-24T09:05:01+08:00"}, "implausible_time", "field 'ts'", now_ms=NOW_MS)
    # the day before in UTC-10, 15:05:01 = 01:05:01Z the next day
    rejected({**OFFERED, "ts": "2026-11-23T15:05:01-10:00"}, "implausible_time", "field 'ts'", now_ms=NOW_MS)


@pytest.mark.parametrize(
    "ts",
    [
        "2999-01-01T00:00:00Z",
        "9999-12-31T23:59:59-23:59",
        "0001-01-01T00:00:00+23:59",
        "1970-12-31T23:59:59Z",
        "2201-01-01T00:00:00Z",
    ],
)
def test_years_outside_1971_2200_are_refused_without_a_clock(ts: str) -> None:
    rejected({**OFFERED, "ts": ts}, "implausible_time", "field 'ts'", f"{ts} is outside the years 1971..2200")


def test_year_2999_with_a_clock_names_the_future_limit() -> None:
    rejected(
        {**OFFERED, "ts": "2999-01-01T00:00:00Z"},
        "implausible_time",
        "field 'ts': 2999-01-01T00:00:00Z is",
        "(fixed bound of every event time)",
        now_ms=NOW_MS,
    )
    rejected(
        {**OFFERED, "ts": "2100-01-01T00:00:00Z"},
        "implausible_time",
        "field 'ts': 2100-01-01T00:00:00Z is more than 300 s after now (ingest.max_future_s)",
        now_ms=NOW_MS,
    )


def test_the_fixed_range_edges_are_accepted_without_a_clock() -> None:
    assert parse_event({**OFFERED, "ts": "1971-01-01T00:00:00Z"}).ts_ms == 365 * 86_400_000
    last = parse_event({**OFFERED, "ts": "2200-12-31T23:59:59.999Z"})
    assert last.ts_ms == to_ms(datetime(2201, 1, 1, tzinfo=UTC)) - 1


@pytest.mark.parametrize("now_ms", [-(10**18), 0, 10**18])
def test_a_broken_clock_never_overflows(now_ms: int) -> None:
    with pytest.raises(EventError) as err:
        parse_event({**OFFERED, "ts": "2026-11-24T01:00:00Z"}, now_ms=now_ms)
    assert err.value.reason == "implausible_time"


# ---- strict types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts", "fragment"),
    [
        (0, "got a number"),
        (1e11, "got a number"),
        (1_795_482_000, "got a number"),
        (True, "got a boolean"),
        ("1795482000", "got '1795482000'"),
        ("2026-11-24T09:00+08:00", "with seconds and an offset"),  # no seconds
        ("2026-11-24T09:00:00", "with seconds and an offset"),  # no offset
        ("2026-11-24T09:00:00+0800", "with seconds and an offset"),  # offset without a colon
        ("2026-11-24", "with seconds and an offset"),
        ("２０２６-11-24T09:00:00Z", "with seconds and an offset"),  # non-ASCII digits
        ("2026-02-30T09:00:00Z", "not a valid date-time"),
        ("2026-11-24T24:00:00Z", "not a valid date-time"),
    ],
)
def test_timestamps_are_rfc3339_strings_only(ts: Any, fragment: str) -> None:
    rejected({**OFFERED, "ts": ts}, "invalid_field", "field 'ts'", fragment)


@pytest.mark.parametrize(
    ("ts", "ms"),
    [
        ("2026-11-24T09:00:00+08:00", NOW_MS),
        ("2026-11-24t01:00:00z", NOW_MS),  # RFC 3339 allows lower case
        ("2026-11-24 01:00:00Z", NOW_MS),  # and a space
        ("2026-11-24T01:00:00.123456789Z", NOW_MS + 123),  # nanoseconds: ms kept
        ("2026-11-23T20:00:00.5-05:00", NOW_MS + 500),
    ],
)
def test_rfc3339_variants_are_accepted(ts: str, ms: int) -> None:
    assert parse_event({**OFFERED, "ts": ts}, now_ms=NOW_MS).ts_ms == ms


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({**SURVEY, "score": True}, "score"),
        ({**SURVEY, "score": "5"}, "score"),
        ({**SURVEY, "score": 5.0}, "score"),
        ({**WRAPUP, "resolved": "no"}, "resolved"),
        ({**WRAPUP, "resolved": 0}, "resolved"),
        ({**OFFERED, "queue": 7}, "queue"),
        ({**OFFERED, "customer": 123}, "customer"),
        ({**PROFILE, "queues": ["sales", 2]}, "queues.1"),
        ({**PROFILE, "name": None}, "name"),
        (forecast([{**SLOT, "offered": "12"}]), "intervals.0.offered"),
        (forecast([{**SLOT, "aht_s": True}]), "intervals.0.aht_s"),
        ({**forecast([]), "interval_minutes": "30"}, "interval_minutes"),
        ({**forecast([]), "interval_minutes": 30.0}, "interval_minutes"),
        ({**forecast([]), "interval_minutes": True}, "interval_minutes"),
        (forecast([], day=20261124), "date"),
        (forecast([], day="2026-11-24T00:00:00"), "date"),
        (schedule([{**WORK, "start": 1_795_482_000}]), "activities.0.start"),
    ],
)
def test_no_lax_coercion(event: dict[str, Any], field: str) -> None:
    rejected(event, "invalid_field", f"field {field!r}")


def test_valid_types_that_were_accepted_stay_accepted() -> None:
    assert parse_event({**WRAPUP, "resolved": False}).resolved is False
    assert parse_event({**SURVEY, "score": 5}).score == 5
    ev = parse_event(forecast([{**SLOT, "offered": 0, "aht_s": 0.5}]))
    assert (ev.intervals[0].offered, ev.intervals[0].aht_s) == (0, 0.5)
    assert parse_event({**forecast([]), "interval_minutes": 15}).interval_minutes == 15


# ---- sizes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["event_id", "contact_id", "queue", "customer", "parent_contact_id"])
def test_text_fields_hold_at_most_max_text_chars(field: str) -> None:
    assert getattr(parse_event({**OFFERED, field: "x" * 256}), field) == "x" * 256
    rejected(
        {**OFFERED, field: "x" * 257},
        "too_large",
        f"field {field!r}",
        "257 characters, more than 256 (ingest.max_text_chars)",
    )


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({**PROFILE, "name": "n" * 11}, "name"),
        ({**PROFILE, "team": "t" * 11}, "team"),
        ({**PROFILE, "queues": ["q", "q" * 11]}, "queues.1"),
        (
            {
                "event_id": "a",
                "type": "agent.state",
                "ts": "2026-11-24T01:00:00Z",
                "agent_id": "a1",
                "state": "aux",
                "reason": "r" * 11,
            },
            "reason",
        ),
    ],
)
def test_the_text_limit_is_configurable(event: dict[str, Any], field: str) -> None:
    limits = EventLimits(max_text_chars=10)
    rejected(
        event, "too_large", f"field {field!r}", "11 characters, more than 10 (ingest.max_text_chars)", limits=limits
    )
    parse_event(event)  # the default 256 takes it


def nested(depth: int) -> Any:
    value: Any = 1
    for k in range(depth):
        value = [value] if k % 2 else {"a": value}
    return value


def test_extra_fields_nest_at_most_max_extra_depth() -> None:
    ok = parse_event({**OFFERED, "ivr": nested(4)})
    assert orjson.loads(dumps(ok))["ivr"] == nested(4)
    rejected(
        {**OFFERED, "ivr": nested(5)},
        "too_large",
        "field 'ivr'",
        "nested more than 4 levels deep (ingest.max_extra_depth)",
    )


def test_an_extra_field_300_deep_is_refused_not_a_crash() -> None:
    raw = (
        b'{"event_id":"e1","type":"contact.offered","ts":"2026-11-24T01:00:00Z","contact_id":"c1",'
        b'"queue":"q","channel":"voice","deep":' + b"[" * 300 + b"]" * 300 + b"}"
    )
    rejected(raw, "too_large", "field 'deep'", "(ingest.max_extra_depth)")


def test_extra_fields_take_at_most_max_extra_bytes() -> None:
    # one field "k": '"k":' (4 bytes) + the string's JSON (length + 2 quotes) + 2 for the
    # braces/comma share: 4,096 = 4,089 characters + 7
    ok = parse_event({**OFFERED, "k": "x" * 4_089})
    assert len(ok.model_extra["k"]) == 4_089
    rejected(
        {**OFFERED, "k": "x" * 4_090}, "too_large", "field 'k'", "more than 4096 bytes as JSON (ingest.max_extra_bytes)"
    )
    # the sum over fields: two of 2,048 bytes each fit, a third byte-sized one does not
    two = {"a": "x" * 2_041, "b": "y" * 2_041}
    assert parse_event({**OFFERED, **two}).model_extra == two
    rejected({**OFFERED, **two, "c": 1}, "too_large", "field 'c'", "(ingest.max_extra_bytes)")


def test_extra_fields_inside_activities_and_intervals_are_bounded_too() -> None:
    rejected(
        schedule([WORK, {**WORK, "note": nested(5)}]),
        "too_large",
        "field 'activities.1.note'",
        "(ingest.max_extra_depth)",
    )
    rejected(
        forecast([{**SLOT, "blob": "x" * 5_000}]), "too_large", "field 'intervals.0.blob'", "(ingest.max_extra_bytes)"
    )


def test_at_most_max_activities_per_schedule() -> None:
    # 500 one-minute activities, all inside the day
    acts = [
        {"start": iso(NOW + timedelta(minutes=k)), "end": iso(NOW + timedelta(minutes=k + 1)), "activity": "work"}
        for k in range(500)
    ]
    assert len(parse_event(schedule(acts), now_ms=NOW_MS).activities) == 500
    rejected(
        schedule([*acts, WORK]), "too_large", "field 'activities'", "501 items, more than 500 (ingest.max_activities)"
    )


def test_at_most_max_forecast_intervals() -> None:
    slots = [{**SLOT, "start": iso(NOW + timedelta(minutes=15 * k))} for k in range(96)]
    assert len(parse_event(forecast(slots), now_ms=NOW_MS).intervals) == 96
    rejected(
        forecast([*slots, SLOT]),
        "too_large",
        "field 'intervals'",
        "97 items, more than 96 (ingest.max_forecast_intervals)",
    )


def test_forecast_offered_and_aht_are_bounded() -> None:
    assert parse_event(forecast([{**SLOT, "offered": 100_000, "aht_s": 86_400}])).intervals[0].offered == 100_000
    rejected(
        forecast([{**SLOT, "offered": 1e9}]),
        "invalid_field",
        "field 'intervals.0.offered'",
        "1000000000 is more than 100000 (ingest.max_forecast_offered)",
    )
    rejected(
        forecast([{**SLOT, "aht_s": 86_400.5}]),
        "invalid_field",
        "field 'intervals.0.aht_s'",
        "86400.5 is more than 86400 (ingest.max_forecast_aht_s)",
    )
    rejected(forecast([{**SLOT, "offered": -1}]), "invalid_field", "field 'intervals.0.offered'")


def test_at_most_max_agent_queues_per_profile() -> None:
    limits = EventLimits(max_agent_queues=3)
    assert parse_event({**PROFILE, "queues": ["a", "b", "c"]}, limits=limits).queues == ["a", "b", "c"]
    rejected(
        {**PROFILE, "queues": ["a", "b", "c", "d"]},
        "too_large",
        "field 'queues'",
        "4 items, more than 3 (ingest.max_agent_queues)",
        limits=limits,
    )


# ---- times of schedules and forecasts ---------------------------------------------------------------


def test_plans_may_lie_ahead_up_to_max_plan_ahead_days() -> None:
    ahead = NOW + timedelta(days=400)
    act = {"start": iso(ahead - timedelta(hours=1)), "end": iso(ahead), "activity": "work"}
    parse_event(schedule([act], day=ahead.date().isoformat()), now_ms=NOW_MS)
    late = {**act, "end": iso(ahead + timedelta(milliseconds=1))}
    rejected(
        schedule([late]),
        "implausible_time",
        "field 'activities.0.end'",
        "more than 400 days after now (ingest.max_plan_ahead_days)",
        now_ms=NOW_MS,
    )
    rejected(
        forecast([{**SLOT, "start": iso(ahead + timedelta(days=1))}]),
        "implausible_time",
        "field 'intervals.0.start'",
        "(ingest.max_plan_ahead_days)",
        now_ms=NOW_MS,
    )


def test_plan_dates_get_a_day_of_slack_for_time_zones() -> None:
    # now + 400 days = 2027-12-29T01:00Z; a local date one day later is still allowed (UTC+14)
    parse_event(schedule([], day="2027-12-30"), now_ms=NOW_MS)
    rejected(
        schedule([], day="2027-12-31"),
        "implausible_time",
        "field 'date'",
        "2027-12-31 is more than 400 days after now (ingest.max_plan_ahead_days)",
        now_ms=NOW_MS,
    )
    # now - 62 days = 2026-09-23T01:00Z; 2026-09-22 allowed, 2026-09-21 not
    parse_event(forecast([], day="2026-09-22"), now_ms=NOW_MS)
    rejected(
        forecast([], day="2026-09-21"),
        "implausible_time",
        "field 'date'",
        "more than 62 days before now (retention_days)",
        now_ms=NOW_MS,
    )


def test_plan_times_and_dates_without_a_clock_stay_in_the_fixed_years() -> None:
    rejected(schedule([], day="9999-12-31"), "implausible_time", "field 'date'", "outside the years 1971..2200")
    rejected(
        schedule([{**WORK, "end": "9999-12-31T23:59:59Z"}]),
        "implausible_time",
        "field 'activities.0.end'",
        "outside the years 1971..2200",
    )
    rejected(
        forecast([{**SLOT, "start": "1900-01-01T00:00:00Z"}]),
        "implausible_time",
        "field 'intervals.0.start'",
        "outside the years 1971..2200",
    )


# ---- settings ---------------------------------------------------------------------------------


def test_limits_mirror_the_ingest_settings() -> None:
    settings = Settings(
        retention_days=30,
        ingest={
            "max_future_s": 60,
            "max_text_chars": 100,
            "max_extra_depth": 2,
            "max_extra_bytes": 1000,
            "max_activities": 50,
            "max_forecast_intervals": 48,
            "max_forecast_offered": 500,
            "max_forecast_aht_s": 3600,
            "max_plan_ahead_days": 90,
            "max_agent_queues": 20,
        },
    )
    assert EventLimits.from_settings(settings) == EventLimits(
        retention_days=30,
        max_future_s=60,
        max_text_chars=100,
        max_extra_depth=2,
        max_extra_bytes=1000,
        max_activities=50,
        max_forecast_intervals=48,
        max_forecast_offered=500,
        max_forecast_aht_s=3600,
        max_plan_ahead_days=90,
        max_agent_queues=20,
    )
    assert EventLimits.from_settings(Settings()) == EventLimits()


def test_mixed_problems_are_invalid_field_and_all_named() -> None:
    message = rejected(
        {**SURVEY, "ts": "2999-01-01T00:00:00Z", "score": "5"},
        "invalid_field",
        "field 'ts'",
        "field 'score'",
        now_ms=NOW_MS,
    )
    # year 2999 is past the fixed bound (2200) before it is past now + max_future_s: the fixed one is named
    assert (
        "field 'ts': 2999-01-01T00:00:00Z is outside the years 1971..2200 (fixed bound of every event time)" in message
    )
    assert "ingest.max_future_s" not in message


# ---- no input gets past the contract with anything but an EventError ----------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20,
)
# RFC 3339-shaped strings over the whole four-digit year range and every offset
rfc3339ish = st.builds(
    lambda y, mo, d, h, mi, sec, off: f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{sec:02d}{off}",
    st.integers(0, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 24),
    st.integers(0, 60),
    st.integers(0, 60),
    st.sampled_from(["Z", "+23:59", "-23:59", "+00:00", "+14:00", "-12:00", "+99:99"]),
)
anything = st.one_of(json_values, rfc3339ish)


@settings(max_examples=300, deadline=None)
@given(
    ts=anything, start=anything, end=anything, day=anything, now_ms=st.one_of(st.none(), st.integers(-(10**16), 10**16))
)
def test_any_field_values_give_an_event_or_an_event_error(
    ts: Any, start: Any, end: Any, day: Any, now_ms: int | None
) -> None:
    event = schedule([{"start": start, "end": end, "activity": "work"}], day=day)
    event["ts"] = ts
    try:
        parsed = parse_event(event, now_ms=now_ms)
    except EventError:
        return
    # accepted: every time is inside the fixed years, and the arithmetic the worker does works
    for t in (parsed.ts, parsed.activities[0].start, parsed.activities[0].end):
        assert 1971 <= t.year <= 2200
        to_ms(t)
    assert 1971 <= parsed.date.year <= 2200
    parsed.date + timedelta(days=1)
    dumps(parsed)
