"""Adherence figures split per interval, and the shrinkage parts, on the worked examples of
``test_adherence`` (Asia/Shanghai, 2025-03-04); every number is worked out in the comments."""

from __future__ import annotations

import random
from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest

from floorwatch.domain.adherence import add_point, evaluate_day, interval_parts, merge_schedule
from floorwatch.domain.intervals import day_bounds_ms, day_interval_starts
from tests.unit.domain.test_adherence import D0, D1, DAY, DAY_POINTS, MIN, TZ, D, T, sched, timeline

STARTS = day_interval_starts(D, TZ, 30)


def rows_min(d: object) -> dict[str, list[int]]:
    """Per interval as local HH:MM (``+HH:MM`` on the next day), figures in minutes."""
    out = {}
    for k, row in d.intervals.items():  # type: ignore[attr-defined]
        m = (k - D0) // MIN
        label = f"{m // 60:02d}:{m % 60:02d}" if m < 1440 else f"+{(m - 1440) // 60:02d}:{m % 60:02d}"
        assert all(v % MIN == 0 for v in row)
        out[label] = [v // MIN for v in row]
    return out


def assert_sums(d: object) -> None:
    rows = list(d.intervals.values())  # type: ignore[attr-defined]
    totals = [sum(r[i] for r in rows) for i in range(4)]
    assert totals == [d.scheduled_ms, d.in_adherence_ms, d.work_scheduled_ms, d.worked_ms]  # type: ignore[attr-defined]


def test_realistic_day_per_interval() -> None:
    d = evaluate_day(sched(DAY), D, timeline(DAY_POINTS), D0, D1, T("18:00"), interval_starts=STARTS)
    # [scheduled, in adherence, work scheduled, worked] minutes per half hour:
    assert rows_min(d) == {
        "09:00": [30, 23, 30, 23],  # late login 09:00-09:07
        "09:30": [30, 30, 30, 30],
        "10:00": [30, 30, 30, 30],
        "10:30": [30, 26, 15, 11],  # break 10:30-10:45, overrun 10:45-10:49, available 10:49-11:00
        "11:00": [30, 30, 30, 30],
        "11:30": [30, 20, 30, 20],  # aux/lunch 11:50-12:00 during work
        "12:00": [30, 30, 0, 0],  # lunch
        "12:30": [30, 20, 0, 10],  # available 12:50-13:00 during lunch: out, but worked
        "13:00": [30, 30, 30, 30],
        "13:30": [30, 30, 30, 30],
        "14:00": [30, 25, 0, 5],  # meeting joined 14:05; available/on_contact 14:00-14:05
        "14:30": [30, 30, 30, 30],
        "15:00": [30, 30, 30, 30],
        "15:30": [30, 30, 15, 15],  # break 15:30-15:45
        "16:00": [30, 24, 30, 24],  # aux/personal 16:20-16:26
        "16:30": [30, 25, 30, 25],  # logged out 16:55
    }
    # sums: 480 min = 28 800 s scheduled; 433 min = 25 980 s in adherence; 360 min = 21 600 s of
    # work; 343 min = 20 580 s worked: the day's figures of test_realistic_day_to_the_second
    assert_sums(d)
    assert (d.scheduled_ms, d.in_adherence_ms, d.work_scheduled_ms, d.worked_ms) == (
        28_800_000,
        25_980_000,
        21_600_000,
        20_580_000,
    )
    # shrinkage: off phone = breaks 30 + lunch 60 + meeting 30 = 120 min; aux during work =
    # 10:45-10:49 (break overrun) 4 + 11:50-12:00 10 + 16:20-16:26 6 = 20 min
    assert d.shrinkage() == {
        "scheduled_ms": 28_800_000,
        "off_phone_scheduled_ms": 7_200_000,
        "unscheduled_aux_ms": 1_200_000,
    }
    assert d.adherence_intervals()[str(T("10:30"))] == [1_800_000, 1_560_000, 900_000, 660_000]
    # the API's dict is unchanged by the new fields
    assert set(d.as_dict()) == {
        "date",
        "scheduled_s",
        "in_adherence_s",
        "adherence",
        "work_scheduled_s",
        "worked_s",
        "conformance",
        "exceptions",
    }


def test_realistic_day_clipped_to_now() -> None:
    # now 10:47: 09:00 [30, 23, 30, 23], 09:30 and 10:00 full, 10:30-10:47: scheduled 17,
    # in adherence 15 (the break), work 2 (10:45-10:47), worked 0
    d = evaluate_day(sched(DAY), D, timeline(DAY_POINTS), D0, D1, T("10:47"), interval_starts=STARTS)
    assert rows_min(d) == {
        "09:00": [30, 23, 30, 23],
        "09:30": [30, 30, 30, 30],
        "10:00": [30, 30, 30, 30],
        "10:30": [17, 15, 2, 0],
    }
    assert_sums(d)
    # off phone so far: the break's 15 min; aux during work: 10:45-10:47
    assert d.shrinkage() == {
        "scheduled_ms": 107 * MIN,
        "off_phone_scheduled_ms": 15 * MIN,
        "unscheduled_aux_ms": 2 * MIN,
    }


def test_night_shift_past_midnight_goes_to_the_next_days_intervals() -> None:
    night = [("22:00", "+02:00", "work"), ("+02:00", "+02:15", "break"), ("+02:15", "+06:00", "work")]
    s = sched(night, day=0, ts="07:00", eid="n0")
    s = sched(night, day=1, ts="07:00", eid="n1", base=s)
    tl = timeline(
        [
            ("21:58", "available", None),
            ("+02:00", "aux", "break"),
            ("+02:18", "available", None),
            ("+06:00", "logged_out", None),
        ]
    )
    d = evaluate_day(s, D, tl, D0, D1, T("12:00", 1), interval_starts=STARTS)
    full = [30, 30, 30, 30]
    expected = {"21:30": [0, 0, 0, 2]}  # 21:58-22:00 unscheduled but worked
    expected |= {h: full for h in ("22:00", "22:30", "23:00", "23:30")}
    expected |= {f"+{h:02d}:{m:02d}": full for h in range(6) for m in (0, 30)}
    # break 02:00-02:15, overrun 02:15-02:18 (aux during work), available 02:18-02:30
    expected["+02:00"] = [30, 27, 15, 12]
    assert rows_min(d) == expected
    assert_sums(d)  # 480, 477, 465, 464 min: 28 800, 28 620, 27 900, 27 840 s as in test_adherence
    assert d.worked_ms == 27_840_000
    # the intervals after midnight are D+1's own interval starts
    after = [k for k in d.intervals if k >= D1]
    assert set(after) <= set(day_interval_starts(D + timedelta(days=1), TZ, 30))
    assert d.shrinkage() == {
        "scheduled_ms": 28_800_000,
        "off_phone_scheduled_ms": 15 * MIN,
        "unscheduled_aux_ms": 3 * MIN,
    }


def test_interval_parts_continue_the_grid_outside_the_day() -> None:
    starts = [100, 110, 120]  # the day [100, 125): a short last interval, as on a DST day
    assert interval_parts(85, 135, starts, 125) == [(80, 5), (90, 10), (100, 10), (110, 10), (120, 5), (125, 10)]
    assert interval_parts(90, 90, starts, 125) == []
    assert interval_parts(70, 80, starts, 125) == [(70, 10)]
    assert interval_parts(136, 150, starts, 125) == [(135, 9), (145, 5)]


@pytest.mark.parametrize(
    ("tz_name", "day"),
    [("Asia/Shanghai", date(2025, 3, 4)), ("Europe/Berlin", date(2024, 3, 31)), ("Europe/Berlin", date(2024, 10, 27))],
)
@pytest.mark.parametrize("minutes", [15, 30, 60])
def test_interval_sums_equal_the_day_figures(tz_name: str, day: date, minutes: int) -> None:
    """Random schedules (some past midnight either side) and timelines: the intervals add up."""
    tz = ZoneInfo(tz_name)
    lo, hi = day_bounds_ms(day, tz)
    starts = day_interval_starts(day, tz, minutes)
    rng = random.Random(f"{tz_name}{day}{minutes}")
    activities = ["work", "break", "lunch", "meeting", "training"]
    states = [
        ("available", None),
        ("on_contact", None),
        ("wrap_up", None),
        ("aux", "break"),
        ("aux", None),
        ("logged_out", None),
    ]
    for case in range(40):
        schedule: dict = {}
        for offset, eid in ((-1, "p"), (0, "d"), (1, "n")):
            acts = []
            t = lo + offset * 86_400_000 + rng.randrange(-6, 30) * 3_600_000 + rng.randrange(60) * MIN
            for _ in range(rng.randrange(1 if offset == 0 else 0, 6)):
                end = t + rng.randrange(1, 240) * MIN + rng.randrange(1000)
                acts.append((t, end, rng.choice(activities)))
                t = end + rng.choice([0, 0, rng.randrange(1, 90) * MIN])
            merged = merge_schedule(schedule, (day + timedelta(days=offset)).isoformat(), acts, rng.randrange(10), eid)
            schedule = merged if merged is not None else schedule
        points: list = []
        t = lo - rng.randrange(0, 20) * 3_600_000
        while t < hi + 10 * 3_600_000:
            state, reason = rng.choice(states)
            new = add_point(points, t, f"e{len(points):04d}", state, reason)
            points = new if new is not None else points
            t += rng.choice([0, 1, rng.randrange(1, 120) * MIN + rng.randrange(60_000)])
        now = rng.choice([hi + 86_400_000, lo + rng.randrange(hi - lo), lo - 1])
        d = evaluate_day(schedule, day.isoformat(), points, lo, hi, now, interval_starts=starts)
        assert_sums(d)
        assert all(any(r) for r in d.intervals.values())
        assert d.off_phone_scheduled_ms + d.work_scheduled_ms == d.scheduled_ms, case
        plain = evaluate_day(schedule, day.isoformat(), points, lo, hi, now)
        assert plain.as_dict() == d.as_dict() and plain.intervals == {}
