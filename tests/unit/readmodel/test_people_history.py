"""People figures over ranges (floorwatch.readmodel.people_history) on the floor of
``people_range`` (its docstring has the added records and the hand figures used here): periods
from the summed milliseconds and counts of their days, ratios after."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

import pytest

from floorwatch.domain.periods import Group as Grouping, Period, periods
from floorwatch.domain.retention import drain
from floorwatch.readmodel import people, people_history
from floorwatch.readmodel.people import TeamsCache
from floorwatch.readmodel.view import View
from tests.unit.readmodel.people_day import figures, make_settings, put_adherence
from tests.unit.readmodel.people_range import FIRST, LAST, W09, W10, build_range_view
from tests.unit.shanghai_day import NOW

DAYS = [FIRST + timedelta(days=i) for i in range(7)]
HEAD_W09 = {
    "period": "2024-W09",
    "from": "2024-02-28",
    "to": "2024-03-03",
    "start": "2024-02-28T00:00:00+08:00",
    "end": "2024-03-04T00:00:00+08:00",
}
HEAD_W10 = {
    "period": "2024-W10",
    "from": "2024-03-04",
    "to": "2024-03-05",
    "start": "2024-03-04T00:00:00+08:00",
    "end": "2024-03-06T00:00:00+08:00",
}


@pytest.fixture
def view() -> View:
    return build_range_view()


def states(available: float = 0.0, on_contact: float = 0.0, wrap_up: float = 0.0, aux: float = 0.0) -> dict[str, float]:
    return {"available": available, "on_contact": on_contact, "wrap_up": wrap_up, "aux": aux}


def performance(view: View, group: Grouping, agent: str = "a1", first: date = FIRST, last: date = LAST) -> Any:
    steps = people_history.performance_range_steps(
        view, make_settings(), agent, first, last, group, periods(first, last, group), NOW
    )
    return drain(steps)


# -- agent performance -----------------------------------------------------------------------


def test_performance_by_week_sums_the_days_then_divides(view: View) -> None:
    found = performance(view, "week")
    assert {k: found[k] for k in ("agent_id", "name", "team", "from", "to", "group", "max_concurrent")} == {
        "agent_id": "a1",
        "name": "Ann",
        "team": "north",
        "from": "2024-02-28",
        "to": "2024-03-05",
        "group": "week",
        "max_concurrent": {"chat": 2},
    }
    w09, w10 = found["periods"]
    assert w09 == {
        **HEAD_W09,
        "handled": 3,
        "talk_s": 400.0,
        "hold_s": 20.0,
        "wrap_s": 90.0,
        "aht_s": 170.0,
        "transfers": 1,
        "occupancy": 2100 / 3600,
        "handle_s": 2100.0,
        "available_s": 1500.0,
        "state_s": states(1500.0, 2100.0),
        "aux_s": {},
        "adherence": 4500 / 5400,
        "conformance": 3600 / 5400,
        "fcr": 2 / 3,
        "csat_avg": 5.0,
        "surveys": 1,
    }
    assert {k: w10[k] for k in ("period", "handled", "aht_s", "occupancy", "adherence", "fcr", "csat_avg")} == {
        "period": "2024-W10",
        "handled": 4,
        "aht_s": 232.5,
        "occupancy": 2730 / 4350,
        "adherence": 2550 / 2850,
        "fcr": 2 / 3,
        "csat_avg": 4.5,
    }
    assert w10["state_s"] == states(1620.0, 2430.0, 300.0, 300.0)
    total = found["total"]
    assert (total["handled"], total["aht_s"], total["transfers"], total["occupancy"]) == (7, 1440 / 7, 2, 4830 / 7950)
    assert (total["adherence"], total["conformance"], total["fcr"], total["csat_avg"], total["surveys"]) == (
        7050 / 8250,
        5850 / 7950,
        4 / 6,
        14 / 3,
        3,
    )
    assert total["aux_s"] == {"meeting": 300.0}


def test_performance_by_month_splits_at_the_month_end(view: View) -> None:
    feb, mar = performance(view, "month")["periods"]
    assert (feb["period"], feb["from"], feb["to"], feb["start"], feb["end"]) == (
        "2024-02",
        "2024-02-28",
        "2024-02-29",
        "2024-02-28T00:00:00+08:00",
        "2024-03-01T00:00:00+08:00",
    )
    assert (feb["handled"], feb["occupancy"], feb["adherence"], feb["fcr"]) == (2, 1200 / 1800, 1500 / 1800, 1.0)
    # March: 03-01, 03-04, 03-05 of a1
    assert (mar["period"], mar["from"], mar["to"]) == ("2024-03", "2024-03-01", "2024-03-05")
    assert (mar["handled"], mar["aht_s"]) == (5, (150 + 930) / 5)
    assert mar["state_s"] == states(420.0 + 1200.0 + 900.0, 1830.0 + 600.0 + 900.0, 300.0, 300.0)
    assert (mar["adherence"], mar["conformance"], mar["fcr"]) == (5550 / 6450, 4650 / 6150, 2 / 4)
    assert mar["adherence"] != (3000 / 3600 + 2550 / 2850) / 2  # not the mean of the days' ratios


def test_performance_by_day_equals_the_single_day_answers(view: View) -> None:
    """Every day row is the single-day answer's ``day`` block; empty days are zeros."""
    found = performance(view, "day")
    assert [p["period"] for p in found["periods"]] == [d.isoformat() for d in DAYS]
    settings = make_settings()
    for row, day in zip(found["periods"], DAYS, strict=True):
        single = people.agent_performance(view, settings, "a1", day, NOW)
        assert single is not None
        assert {k: v for k, v in row.items() if k not in people_history.PERIOD_KEYS} == single["day"]
    empty = found["periods"][0]
    assert (empty["handled"], empty["occupancy"], empty["adherence"], empty["aht_s"]) == (0, None, None, None)


def test_performance_by_interval_lists_the_single_day_intervals(view: View) -> None:
    found = performance(view, "interval")
    settings = make_settings()
    expected = []
    for day in DAYS:
        single = people.agent_performance(view, settings, "a1", day, NOW)
        assert single is not None
        expected.extend(
            {"period": r["start"], "from": day.isoformat(), "to": day.isoformat(), **r} for r in single["intervals"]
        )
    assert found["periods"] == expected
    assert [p["period"][:16] for p in found["periods"]] == [
        "2024-02-29T10:00",
        "2024-03-01T09:00",
        "2024-03-01T09:30",  # scheduled time only
        "2024-03-04T23:30",
        "2024-03-05T09:30",
        "2024-03-05T10:00",
    ]
    assert found["periods"][1]["fcr"] is None and found["periods"][1]["aht_s"] == 150.0
    # the total is still the range's day figures
    assert found["total"] == performance(view, "week")["total"]


def test_performance_unknown_agent_and_a_range_without_data(view: View) -> None:
    assert performance(view, "day", agent="nobody") is None
    found = performance(view, "month", agent="a7", first=date(2024, 1, 1), last=date(2024, 1, 31))
    assert [p["period"] for p in found["periods"]] == ["2024-01"]
    assert (found["total"]["handled"], found["total"]["fcr"], found["team"]) == (0, None, None)


# -- teams ---------------------------------------------------------------------------------------


def day_sums(view: View, days: list[date]) -> tuple[TeamsCache, dict[date, Any]]:
    cache = TeamsCache(view, make_settings(), lambda: NOW)

    async def run() -> dict[date, Any]:
        return {d: await cache.day_sums(d) for d in days}

    return cache, asyncio.run(run())


def teams(view: View, group: Grouping) -> dict[str, Any]:
    _, sums = day_sums(view, DAYS)
    return people_history.teams_range(make_settings(), FIRST, LAST, group, periods(FIRST, LAST, group), sums)


def by_id(found: dict[str, Any], team_id: str) -> dict[str, Any]:
    return next(t for t in found["teams"] if t["id"] == team_id)


def test_teams_by_week(view: View) -> None:
    found = teams(view, "week")
    assert (found["from"], found["to"], found["group"]) == ("2024-02-28", "2024-03-05", "week")
    assert [(t["id"], t["name"]) for t in found["teams"]] == [("north", "North"), ("west", "west"), ("south", "south")]
    north = by_id(found, "north")
    assert north["targets"] == {"occupancy": 0.85, "adherence": None, "aht_s": 300.0}
    w09, w10 = north["periods"]
    assert {k: w09[k] for k in people_history.PERIOD_KEYS} == HEAD_W09
    # a1 02-29, a1 and a2 03-01
    assert {k: w09[k] for k in ("agents", "handled", "aht_s", "occupancy", "adherence", "conformance")} == {
        "agents": 3,
        "handled": 3,
        "aht_s": 170.0,
        "occupancy": 2100 / 5400,
        "adherence": 6300 / 9000,
        "conformance": 5400 / 9000,
    }
    assert {k: w09[k] for k in ("shrinkage", "absent", "late_logins", "scheduled_s", "fcr", "csat_avg")} == {
        "shrinkage": 900 / 9000,
        "absent": 0,
        "late_logins": 1,
        "scheduled_s": 9000.0,
        "fcr": 2 / 3,
        "csat_avg": 5.0,
    }
    # a1 03-04, a2 03-04 (a survey only), a1 and a2 03-05
    assert {k: w10[k] for k in ("agents", "occupancy", "adherence", "shrinkage", "late_logins", "csat_avg")} == {
        "agents": 4,
        "occupancy": 3180 / 6300,
        "adherence": 4500 / 5700,
        "shrinkage": 300 / 5700,
        "late_logins": 1,
        "csat_avg": 12 / 3,
    }
    assert w10["state_s"] == states(3120.0, 2880.0, 300.0, 300.0)
    south = by_id(found, "south")
    assert [(p["agents"], p["absent"], p["adherence"], p["scheduled_s"], p["occupancy"]) for p in south["periods"]] == [
        (1, 1, 0.0, 1800.0, None),
        (1, 1, 0.0, 4650.0, None),
    ]
    west = by_id(found, "west")
    assert [(p["agents"], p["adherence"], p["shrinkage"], p["handled"]) for p in west["periods"]] == [
        (0, None, None, 0),
        (0, None, None, 0),
    ]
    f09, f10 = found["floor"]["periods"]
    assert (f09["agents"], f09["absent"], f09["late_logins"], f09["scheduled_s"], f09["adherence"]) == (
        4,
        1,
        1,
        10800.0,
        6300 / 10800,
    )
    # 03-04: a1, a2; 03-05: a1, a2, a3, a7, a9 (a9's lunch is aux)
    assert (f10["agents"], f10["scheduled_s"], f10["state_s"]["aux"], f10["aux_s"]) == (
        7,
        10350.0,
        1350.0,
        {"lunch": 1050.0, "meeting": 300.0},
    )
    assert f10["fcr"] == 3 / 4


def test_teams_by_day_equal_the_single_day_answers(view: View) -> None:
    found = teams(view, "day")
    settings = make_settings()
    for i, day in enumerate(DAYS):
        single = people.teams_overview(view, settings, day, NOW)
        row = found["floor"]["periods"][i]
        assert row["period"] == day.isoformat()
        assert {k: v for k, v in row.items() if k not in (*people_history.PERIOD_KEYS, "agents")} == single["floor"][
            "day"
        ]
        for team in single["teams"]:
            mine = by_id(found, team["id"])["periods"][i]
            assert mine["agents"] == team["agents"]
            assert {k: v for k, v in mine.items() if k not in (*people_history.PERIOD_KEYS, "agents")} == team["day"]
    assert [p["agents"] for p in found["floor"]["periods"]] == [0, 2, 2, 0, 0, 2, 5]


def test_teams_by_month(view: View) -> None:
    north = by_id(teams(view, "month"), "north")
    feb, mar = north["periods"]
    assert (feb["period"], feb["agents"], feb["occupancy"], feb["adherence"]) == (
        "2024-02",
        1,
        1200 / 1800,
        1500 / 1800,
    )
    assert (mar["period"], mar["agents"], mar["adherence"], mar["scheduled_s"]) == ("2024-03", 6, 9300 / 12900, 12900.0)


# -- TeamsCache day sums --------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.s = 100.0

    def __call__(self) -> float:
        return self.s


def test_day_sums_are_computed_once_per_date_and_reused(view: View) -> None:
    clock = Clock()
    cache = TeamsCache(view, make_settings(), lambda: NOW, clock)
    today, past = date(2024, 3, 5), date(2024, 3, 1)

    async def both() -> None:
        await asyncio.gather(cache.day_sums(today), cache.get(today), cache.day_sums(past), cache.day_sums(past))

    asyncio.run(both())
    assert cache.computed == 2  # one per date, the answer and the sums of today from one computation
    assert list(cache.entries) == [today]  # the sums do not take the answers' places
    first_past = asyncio.run(cache.day_sums(past))
    clock.s += people.TEAMS_MIN_AGE_S
    asyncio.run(cache.day_sums(today))
    assert cache.computed == 3  # today is recomputed after 5 s
    assert asyncio.run(cache.day_sums(past)) is first_past and cache.computed == 3  # a past date is not
    clock.s += people.TEAMS_PAST_MIN_AGE_S - people.TEAMS_MIN_AGE_S
    assert asyncio.run(cache.day_sums(past)) is not first_past and cache.computed == 4
    # the sums of a date are the groups of the answer: north on 03-01 has a1 and a2
    assert first_past["north"].agents == 2 and first_past["north"].late_logins == 1


def test_day_sums_keep_a_bounded_number_of_dates(view: View, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(people, "TEAMS_SUMS_MAX_DATES", 3)
    cache = TeamsCache(view, make_settings(), lambda: NOW, Clock())
    days = [date(2024, 2, 27) + timedelta(days=i) for i in range(4)]

    async def run() -> None:
        for d in days[:3]:
            await cache.day_sums(d)
        await cache.day_sums(days[0])  # used again: the most recent
        await cache.day_sums(days[3])

    asyncio.run(run())
    assert list(cache.sums) == [days[2], days[0], days[3]] and cache.computed == 4


# -- adherence ---------------------------------------------------------------------------------


def adherence(view: View, group: Grouping, **kw: Any) -> list[dict[str, Any]]:
    return drain(people_history.adherence_range_steps(view, make_settings(), periods(FIRST, LAST, group), **kw))


def test_adherence_by_week(view: View) -> None:
    rows = adherence(view, "week")
    assert [(r["agent_id"], r["team"], r["period"]) for r in rows] == [
        ("a9", None, "2024-W10"),
        ("a1", "north", "2024-W09"),
        ("a1", "north", "2024-W10"),
        ("a2", "north", "2024-W09"),
        ("a2", "north", "2024-W10"),
        ("a3", "south", "2024-W09"),
        ("a3", "south", "2024-W10"),
    ]
    assert rows[1] == {
        "agent_id": "a1",
        "team": "north",
        **HEAD_W09,
        "days": 2,
        "scheduled_s": 5400.0,
        "in_adherence_s": 4500.0,
        "adherence": 4500 / 5400,
        "work_scheduled_s": 5400.0,
        "worked_s": 3600.0,
        "conformance": 3600 / 5400,
        "exception_count": 1,
    }
    # 03-04 (all zero) and 03-05
    assert {k: rows[2][k] for k in ("days", "scheduled_s", "adherence", "conformance", "exception_count")} == {
        "days": 2,
        "scheduled_s": 2850.0,
        "adherence": 2550 / 2850,
        "conformance": 2250 / 2550,
        "exception_count": 0,
    }
    assert (rows[0]["adherence"], rows[0]["scheduled_s"]) == (None, 0.0)


def test_adherence_filters_and_month(view: View) -> None:
    north = adherence(view, "month", team="north")
    assert [(r["agent_id"], r["period"], r["days"]) for r in north] == [
        ("a1", "2024-02", 1),
        ("a1", "2024-03", 3),
        ("a2", "2024-03", 2),
    ]
    assert (north[2]["in_adherence_s"], north[2]["adherence"]) == (3750.0, 3750 / 6450)
    assert [r["period"] for r in adherence(view, "day", agent_id="a1")] == [
        "2024-02-29",
        "2024-03-01",
        "2024-03-04",
        "2024-03-05",
    ]
    assert adherence(view, "week", agent_id="nobody") == []


def test_adherence_seconds_are_summed_as_milliseconds() -> None:
    """0.1 s + 0.2 s is 0.3 s (floats would give 0.30000000000000004), and 0.3 / 0.3 is 1."""
    v = View(tz=make_settings().tz)
    put_adherence(v, "x", "2024-03-01", "north", **figures(0.1, 0.1, 0.1, 0.1))
    put_adherence(v, "x", "2024-03-02", "north", **figures(0.2, 0.2, 0.2, 0.2))
    assert 0.1 + 0.2 != 0.3
    (row,) = drain(
        people_history.adherence_range_steps(
            v, make_settings(), [Period("2024-W09", date(2024, 3, 1), date(2024, 3, 3))]
        )
    )
    assert (row["scheduled_s"], row["in_adherence_s"], row["adherence"], row["conformance"]) == (0.3, 0.3, 1.0, 1.0)


# -- quality ------------------------------------------------------------------------------------


def quality(view: View, group: Grouping, team: str | None = None) -> dict[str, Any]:
    steps = people_history.quality_range_steps(
        view, make_settings(), FIRST, LAST, group, periods(FIRST, LAST, group), team
    )
    return drain(steps)


def test_quality_by_week(view: View) -> None:
    found = quality(view, "week")
    assert (found["from"], found["to"], found["group"], found["fcr_window_hours"]) == (
        "2024-02-28",
        "2024-03-05",
        "week",
        24.0,
    )
    assert [(a["agent_id"], a["period"]) for a in found["agents"]] == [
        ("a1", "2024-W09"),
        ("a1", "2024-W10"),
        ("a2", "2024-W10"),
        ("a7", "2024-W10"),
    ]
    assert found["agents"][0] == {
        "agent_id": "a1",
        "name": "Ann",
        "team": "north",
        **HEAD_W09,
        "fcr_eligible": 3,
        "fcr_resolved": 2,
        "fcr": 2 / 3,
        "surveys": 1,
        "csat_avg": 5.0,
        "csat_satisfied": 1.0,
    }
    assert [(t["team"], t["period"], t["agents"], t["fcr"], t["surveys"], t["csat_avg"]) for t in found["teams"]] == [
        ("north", "2024-W09", 1, 2 / 3, 1, 5.0),
        ("north", "2024-W10", 2, 2 / 3, 3, 12 / 3),
        (None, "2024-W10", 1, 1.0, 0, None),
    ]
    assert found["teams"][1]["csat_satisfied"] == 2 / 3
    only = quality(view, "month", team="north")
    assert [(a["agent_id"], a["period"]) for a in only["agents"]] == [
        ("a1", "2024-02"),
        ("a1", "2024-03"),
        ("a2", "2024-03"),
    ]
    assert [(t["team"], t["period"], t["fcr_eligible"], t["fcr_resolved"]) for t in only["teams"]] == [
        ("north", "2024-02", 2, 2),
        ("north", "2024-03", 4, 2),
    ]


def test_periods_keep_the_week_and_month_of_their_days() -> None:
    """The fixtures' named periods are those ``periods`` gives (their labels are used above)."""
    assert periods(FIRST, LAST, "week") == [W09, W10]


def steps_of(gen: Any) -> int:
    """How many times a sliced generator yields (turns of the event loop it gives)."""
    n = 0
    while True:
        try:
            next(gen)
        except StopIteration:
            return n
        n += 1


def test_long_ranges_are_sliced(view: View, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step per DAYS_PER_SLICE days of one agent or of day sums, per RECORDS_PER_SLICE
    records of adherence or quality (patched to 2 here: 7 days -> 3 turns; 9 adherence
    records -> 4; 5 agent-days of quality -> 2)."""
    monkeypatch.setattr(people_history, "DAYS_PER_SLICE", 2)
    monkeypatch.setattr(people_history, "RECORDS_PER_SLICE", 2)
    settings = make_settings()
    day_periods = periods(FIRST, LAST, "day")
    assert (
        steps_of(people_history.performance_range_steps(view, settings, "a1", FIRST, LAST, "day", day_periods, NOW))
        == 3
    )
    _, sums = day_sums(view, DAYS)
    assert steps_of(people_history.teams_range_steps(settings, FIRST, LAST, "day", day_periods, sums)) == 3
    # records: a1 x4 (02-29, 03-01, 03-04, 03-05), a2 x2, a3 x2, a9 x1
    assert sum(len(view.adherence_days.get(d.isoformat(), {})) for d in DAYS) == 9
    assert steps_of(people_history.adherence_range_steps(view, settings, day_periods)) == 4
    # quality agent-days: a1 02-29, 03-01, 03-05; a2 03-04; a7 03-05
    assert steps_of(people_history.quality_range_steps(view, settings, FIRST, LAST, "day", day_periods, None)) == 2
