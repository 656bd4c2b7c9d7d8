"""Local-time interval bucketing (intervals are in local time of the configured zone)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from floorwatch.domain.intervals import (
    day_bounds_ms,
    day_interval_starts,
    interval_end_ms,
    interval_start_ms,
    iso,
    local_date,
)
from floorwatch.events import to_ms

SHANGHAI = ZoneInfo("Asia/Shanghai")  # UTC+8, no DST
BERLIN = ZoneInfo("Europe/Berlin")  # CET/CEST
KATHMANDU = ZoneInfo("Asia/Kathmandu")  # UTC+5:45
NEW_YORK = ZoneInfo("America/New_York")
UTC = ZoneInfo("UTC")


def ms(text: str) -> int:
    """Epoch ms of an RFC 3339 string with an explicit offset."""
    return to_ms(datetime.fromisoformat(text))


# --- interval_start_ms -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ts", "minutes", "expected_start"),
    [
        # 10:07:59.999 local Shanghai: 15 min -> 10:00, 30 -> 10:00, 60 -> 10:00
        ("2024-05-01T10:07:59.999+08:00", 15, "2024-05-01T10:00:00+08:00"),
        ("2024-05-01T10:07:59.999+08:00", 30, "2024-05-01T10:00:00+08:00"),
        ("2024-05-01T10:07:59.999+08:00", 60, "2024-05-01T10:00:00+08:00"),
        # 10:44:00 local: 15 -> 10:30, 30 -> 10:30, 60 -> 10:00
        ("2024-05-01T10:44:00+08:00", 15, "2024-05-01T10:30:00+08:00"),
        ("2024-05-01T10:44:00+08:00", 30, "2024-05-01T10:30:00+08:00"),
        ("2024-05-01T10:44:00+08:00", 60, "2024-05-01T10:00:00+08:00"),
        # 10:45:00 exactly opens the 4th quarter hour
        ("2024-05-01T10:45:00+08:00", 15, "2024-05-01T10:45:00+08:00"),
        # an interval start belongs to its own interval, the ms before it to the previous one
        ("2024-05-01T10:30:00+08:00", 30, "2024-05-01T10:30:00+08:00"),
        ("2024-05-01T10:29:59.999+08:00", 30, "2024-05-01T10:00:00+08:00"),
    ],
)
def test_interval_start_shanghai_15_30_60(ts: str, minutes: int, expected_start: str) -> None:
    assert interval_start_ms(ms(ts), SHANGHAI, minutes) == ms(expected_start)


def test_interval_start_is_local_not_utc_for_a_45_minute_offset_zone() -> None:
    # 04:20 UTC = 10:05 in Kathmandu (+05:45). The local half hour is 10:00 NPT = 04:15 UTC,
    # not 04:00 UTC (what flooring UTC time would give).
    ts = ms("2024-05-01T04:20:00+00:00")
    assert interval_start_ms(ts, KATHMANDU, 30) == ms("2024-05-01T04:15:00+00:00")
    # 15 min: 10:05 NPT -> 10:00 NPT; 60 min: 10:05 -> 10:00 NPT = 04:15 UTC as well
    assert interval_start_ms(ts, KATHMANDU, 15) == ms("2024-05-01T04:15:00+00:00")
    assert interval_start_ms(ts, KATHMANDU, 60) == ms("2024-05-01T04:15:00+00:00")
    # 04:50 UTC = 10:35 NPT -> 10:30 NPT = 04:45 UTC; 60 min -> 10:00 NPT = 04:15 UTC
    ts2 = ms("2024-05-01T04:50:00+00:00")
    assert interval_start_ms(ts2, KATHMANDU, 30) == ms("2024-05-01T04:45:00+00:00")
    assert interval_start_ms(ts2, KATHMANDU, 60) == ms("2024-05-01T04:15:00+00:00")


def test_interval_end_is_start_plus_length() -> None:
    start = ms("2024-05-01T10:30:00+08:00")
    assert interval_end_ms(start, SHANGHAI, 30) == ms("2024-05-01T11:00:00+08:00")
    assert interval_end_ms(start, SHANGHAI, 15) == ms("2024-05-01T10:45:00+08:00")
    assert interval_end_ms(start, SHANGHAI, 60) == ms("2024-05-01T11:30:00+08:00")


# --- 23:59 local belongs to the last interval of that local day --------------------------


@pytest.mark.parametrize(
    ("tz", "ts", "last_start", "day"),
    [
        # 23:59 Shanghai = 15:59 UTC of the same date; last 30-min interval is 23:30 local
        (SHANGHAI, "2024-05-01T23:59:00+08:00", "2024-05-01T23:30:00+08:00", date(2024, 5, 1)),
        # 23:59 New York (EDT, -4) = 03:59 UTC of the *next* UTC date
        (NEW_YORK, "2024-05-01T23:59:00-04:00", "2024-05-01T23:30:00-04:00", date(2024, 5, 1)),
        # 23:59:59.999 Kathmandu = 18:14:59.999 UTC
        (KATHMANDU, "2024-05-01T23:59:59.999+05:45", "2024-05-01T23:30:00+05:45", date(2024, 5, 1)),
    ],
)
def test_2359_local_is_in_last_interval_of_local_day(tz: ZoneInfo, ts: str, last_start: str, day: date) -> None:
    t = ms(ts)
    assert interval_start_ms(t, tz, 30) == ms(last_start)
    assert local_date(t, tz) == day
    assert day_interval_starts(day, tz, 30)[-1] == ms(last_start)
    # and one minute later (00:00 local) is the first interval of the next local day
    nxt = t - t % 60_000 + 60_000
    assert local_date(nxt, tz) == date(day.year, day.month, day.day + 1)
    assert interval_start_ms(nxt, tz, 30) == day_interval_starts(date(day.year, day.month, day.day + 1), tz, 30)[0]


def test_2359_shanghai_is_utc_afternoon_so_utc_bucketing_would_be_wrong() -> None:
    # 23:59 Shanghai is 15:59 UTC: by UTC it would be interval 15:30 (31st of the day), by local
    # time it is 23:30 (48th and last). Local wins.
    t = ms("2024-05-01T23:59:00+08:00")
    starts = day_interval_starts(date(2024, 5, 1), SHANGHAI, 30)
    assert starts.index(interval_start_ms(t, SHANGHAI, 30)) == 47
    assert interval_start_ms(t, UTC, 30) == ms("2024-05-01T15:30:00+00:00")


# --- intervals of a day -----------------------------------------------------------------


@pytest.mark.parametrize(("minutes", "count"), [(15, 96), (30, 48), (60, 24)])
def test_ordinary_day_has_24h_of_intervals(minutes: int, count: int) -> None:
    starts = day_interval_starts(date(2024, 5, 1), SHANGHAI, minutes)
    assert len(starts) == count
    assert starts[0] == ms("2024-05-01T00:00:00+08:00")
    assert starts[1] - starts[0] == minutes * 60_000


def test_48_intervals_at_30_minutes_in_kathmandu_starting_at_local_midnight() -> None:
    starts = day_interval_starts(date(2024, 5, 1), KATHMANDU, 30)
    assert len(starts) == 48
    # local midnight 00:00 +05:45 = 18:15 UTC of the previous day
    assert starts[0] == ms("2024-04-30T18:15:00+00:00")
    assert starts[-1] == ms("2024-05-01T23:30:00+05:45")
    # every start is a local :00 or :30
    for s in starts:
        assert interval_start_ms(s, KATHMANDU, 30) == s


def test_berlin_spring_forward_day_has_23_hours_46_half_hours() -> None:
    day = date(2024, 3, 31)  # 02:00 CET -> 03:00 CEST
    lo, hi = day_bounds_ms(day, BERLIN)
    assert lo == ms("2024-03-31T00:00:00+01:00")
    assert hi == ms("2024-04-01T00:00:00+02:00")
    assert hi - lo == 23 * 3_600_000
    assert len(day_interval_starts(day, BERLIN, 30)) == 46
    assert len(day_interval_starts(day, BERLIN, 15)) == 92
    assert len(day_interval_starts(day, BERLIN, 60)) == 23
    starts = day_interval_starts(day, BERLIN, 30)
    # 01:30 CET is followed directly by 03:00 CEST (one absolute half hour later)
    i = starts.index(ms("2024-03-31T01:30:00+01:00"))
    assert starts[i + 1] == ms("2024-03-31T03:00:00+02:00")


def test_berlin_fall_back_day_has_25_hours_50_half_hours() -> None:
    day = date(2024, 10, 27)  # 03:00 CEST -> 02:00 CET: 02:00-03:00 happens twice
    lo, hi = day_bounds_ms(day, BERLIN)
    assert hi - lo == 25 * 3_600_000
    assert len(day_interval_starts(day, BERLIN, 30)) == 50
    assert len(day_interval_starts(day, BERLIN, 15)) == 100
    assert len(day_interval_starts(day, BERLIN, 60)) == 25
    starts = day_interval_starts(day, BERLIN, 30)
    # both 02:00 intervals are there: 02:00 CEST (00:00 UTC) and 02:00 CET (01:00 UTC)
    assert ms("2024-10-27T02:00:00+02:00") in starts
    assert ms("2024-10-27T02:00:00+01:00") in starts
    for s in starts:
        assert interval_start_ms(s, BERLIN, 30) == s
        assert local_date(s, BERLIN) == day


def test_berlin_repeated_hour_buckets_each_pass_separately() -> None:
    # 02:10 CEST (00:10 UTC) and 02:10 CET (01:10 UTC) are different intervals
    first = ms("2024-10-27T00:10:00+00:00")
    second = ms("2024-10-27T01:10:00+00:00")
    assert interval_start_ms(first, BERLIN, 30) == ms("2024-10-27T02:00:00+02:00")
    assert interval_start_ms(second, BERLIN, 30) == ms("2024-10-27T02:00:00+01:00")
    # 60 min: 02:45 CEST -> 02:00 CEST (00:00 UTC); 02:45 CET -> 02:00 CET (01:00 UTC)
    assert interval_start_ms(ms("2024-10-27T00:45:00+00:00"), BERLIN, 60) == ms("2024-10-27T00:00:00+00:00")
    assert interval_start_ms(ms("2024-10-27T01:45:00+00:00"), BERLIN, 60) == ms("2024-10-27T01:00:00+00:00")


def test_berlin_spring_forward_gap() -> None:
    # 00:59 UTC = 01:59 CET -> 01:30 CET; 01:00 UTC = 03:00 CEST -> 03:00 CEST
    assert interval_start_ms(ms("2024-03-31T00:59:00+00:00"), BERLIN, 30) == ms("2024-03-31T01:30:00+01:00")
    assert interval_start_ms(ms("2024-03-31T01:00:00+00:00"), BERLIN, 30) == ms("2024-03-31T03:00:00+02:00")


def test_every_instant_of_a_dst_day_falls_in_one_of_its_intervals() -> None:
    for day in (date(2024, 3, 31), date(2024, 10, 27)):
        lo, hi = day_bounds_ms(day, BERLIN)
        starts = set(day_interval_starts(day, BERLIN, 15))
        for t in range(lo, hi, 7 * 60_000 + 13_000):  # every 7 min 13 s
            assert interval_start_ms(t, BERLIN, 15) in starts
            assert local_date(t, BERLIN) == day


def test_iso_local_with_offset() -> None:
    assert iso(ms("2024-05-01T01:00:00+00:00"), SHANGHAI) == "2024-05-01T09:00:00+08:00"
    assert iso(ms("2024-05-01T01:00:00.250+00:00"), SHANGHAI) == "2024-05-01T09:00:00.250+08:00"
    assert iso(ms("2024-05-01T04:15:00+00:00"), KATHMANDU) == "2024-05-01T10:00:00+05:45"


@pytest.mark.parametrize(
    "zone", ["Asia/Kathmandu", "America/St_Johns", "Europe/London", "Australia/Lord_Howe", "Africa/Monrovia"]
)
def test_interval_starts_remembered_per_minute_equal_the_function(zone: str) -> None:
    """Zones with DST changes of whole, half and quarter hours, and Monrovia's -0:44:30 until 1972,
    whose interval edges fall inside UTC minutes (so nothing before 1973 is remembered); every
    sampled minute is asked at six instants."""
    import random

    from floorwatch.domain.intervals import IntervalStarts, interval_start_ms

    tz = ZoneInfo(zone)
    rng = random.Random(zone)
    for minutes in (15, 30, 60):
        starts = IntervalStarts(tz, minutes, max_size=50)
        for _ in range(1000):
            minute = (
                rng.choice(
                    [
                        rng.randrange(-(10**12), 10**12),  # 1938..2001
                        rng.randrange(1_700_000_000_000, 1_800_000_000_000),
                    ]
                )
                // 60_000
                * 60_000
            )
            for ts in (minute + o for o in (0, 15_000, 29_999, 30_000, 45_000, 59_999)):
                assert starts(ts) == interval_start_ms(ts, tz, minutes), (zone, minutes, ts)
        assert len(starts.by_minute) <= 50
