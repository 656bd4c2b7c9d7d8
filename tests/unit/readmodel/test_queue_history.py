"""Queue ranges, rollups and the heat map from hand-built partials (Europe/Berlin).

Ten days, Wednesday 2026-03-25 to Friday 2026-04-03: across the ISO week boundary (W13 ends on
Sunday 03-29, W14 starts on Monday 03-30), the month boundary (03-31 / 04-01) and the spring
forward of Sunday 2026-03-29 (02:00 CET -> 03:00 CEST). Queue ``support``: config T = 20 s,
target 0.8, formula answered_over_offered (SL = A_T / (A + B - S + F)).

Partials (offered, answered A, within A_T, abandoned B, short S, answer waits, max wait):

  03-24 23:30 p0   5  5  5  0  0    5 s   1 s   (before the range)
  03-25 00:00 p0   4  3  2  1  0   30 s  20 s
  03-25 23:30 p1   6  5  5  1  1   10 s   4 s
  03-26 09:00 p0  10  8  6  2  0   80 s  30 s
  03-26 09:00 p1   2  2  1  0  0   30 s  25 s
  03-27 12:30 p0   5  5  5  0  0    5 s   2 s
  03-28            (nothing)
  03-29 01:30 p0   3  2  1  1  1   40 s  35 s   (CET, the last half hour before the jump)
  03-29 03:00 p0   7  4  2  3  0   60 s  50 s   (CEST, the first after it)
  03-29 23:30 p0   1  1  1  0  0    1 s   1 s
  03-30 00:00 p0   8  6  3  2  1   90 s  45 s
  03-31 10:00 p0   9  9  9  0  0    9 s   3 s
  04-01 00:00 p0   2  1  0  1  0   25 s  60 s   (recorded with T = 30 s: other rules)
  04-02            (nothing)
  04-03 17:30 p2  12 10  7  2  2  100 s  15 s
  04-04 00:00 p0   3  3  3  0  0    3 s   1 s   (after the range)

By hand:
  W13 (03-25..03-29): offered 38, A 30, A_T 23, B 8, S 2 -> N = 36, SL 23/36, abandon rate 6/36,
                      ASA 256/30 s, max wait 50 s. Its daily SLs are 7/9, 7/12, 1, null, 4/10:
                      their mean (0.690) is NOT the week's 23/36 (0.639).
  W14 (03-30..04-03): offered 31, A 26, A_T 19, B 5, S 3 -> N = 28, SL 19/28, ASA 224/26 s, max 60 s.
  2026-03 (03-25..03-31): offered 55, A 45, A_T 35, B 10, S 3 -> N = 52, SL 35/52.
  2026-04 (04-01..04-03): offered 14, A 11, A_T 7, B 3, S 2 -> N = 12, SL 7/12; rules of
                      partition 0 (04-01: T = 30 s), mixed_rules true.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from floorwatch import records, topics
from floorwatch.config import Settings
from floorwatch.domain.periods import Period, periods
from floorwatch.events import to_ms
from floorwatch.readmodel import queries
from floorwatch.readmodel.queue_history import (
    PERIOD_COLUMNS,
    heatmap,
    heatmap_csv_rows,
    period_head,
    period_rows,
    range_intervals,
    sliced,
    slot_labels,
    slot_minutes,
)
from floorwatch.readmodel.view import View

BERLIN = ZoneInfo("Europe/Berlin")
RULES = {"sl_threshold_s": 20.0, "short_abandon_s": 5.0, "sl_target": 0.8, "sl_formula": "answered_over_offered"}
FIRST, LAST = date(2026, 3, 25), date(2026, 4, 3)
COUNTERS = ("offered", "answered", "answered_within_sl", "abandoned", "short_abandoned", "overflowed", "handled")

pytestmark = pytest.mark.usefixtures("isolated_config")


def make_settings(minutes: int = 30) -> Settings:
    return Settings(
        timezone="Europe/Berlin",
        interval_minutes=minutes,
        queues=[{"id": "support", "name": "Support", "sl_threshold_s": 20, "sl_target": 0.8}],
    )


def local_ms(day: str, clock: str, fold: int = 0) -> int:
    return to_ms(datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=BERLIN, fold=fold))


def put(
    view: View, start: int, partition: int, c: dict[str, Any], rules: dict[str, Any] = RULES, minutes: int = 30
) -> None:
    record = {
        "queue": "support",
        "start_ms": start,
        "end_ms": start + minutes * 60_000,
        "partition": partition,
        "counts": c,
        "rules": rules,
        "mixed_rules": False,
        "updated_ms": start + 60_000,
    }
    key = records.interval_key("support", start, partition).encode()
    view.apply(topics.INTERVAL_STATS, key, orjson.dumps(record))


# day, local start, partition, offered, A, A_T, B, S, answer waits ms, max wait ms
TABLE = [
    ("2026-03-24", "23:30", 0, 5, 5, 5, 0, 0, 5_000, 1_000),
    ("2026-03-25", "00:00", 0, 4, 3, 2, 1, 0, 30_000, 20_000),
    ("2026-03-25", "23:30", 1, 6, 5, 5, 1, 1, 10_000, 4_000),
    ("2026-03-26", "09:00", 0, 10, 8, 6, 2, 0, 80_000, 30_000),
    ("2026-03-26", "09:00", 1, 2, 2, 1, 0, 0, 30_000, 25_000),
    ("2026-03-27", "12:30", 0, 5, 5, 5, 0, 0, 5_000, 2_000),
    ("2026-03-29", "01:30", 0, 3, 2, 1, 1, 1, 40_000, 35_000),
    ("2026-03-29", "03:00", 0, 7, 4, 2, 3, 0, 60_000, 50_000),
    ("2026-03-29", "23:30", 0, 1, 1, 1, 0, 0, 1_000, 1_000),
    ("2026-03-30", "00:00", 0, 8, 6, 3, 2, 1, 90_000, 45_000),
    ("2026-03-31", "10:00", 0, 9, 9, 9, 0, 0, 9_000, 3_000),
    ("2026-04-01", "00:00", 0, 2, 1, 0, 1, 0, 25_000, 60_000),
    ("2026-04-03", "17:30", 2, 12, 10, 7, 2, 2, 100_000, 15_000),
    ("2026-04-04", "00:00", 0, 3, 3, 3, 0, 0, 3_000, 1_000),
]
OTHER_RULES = {**RULES, "sl_threshold_s": 30.0}


def table_counts(row: tuple[Any, ...]) -> dict[str, Any]:
    _, _, _, offered, a, a_t, b, s, waits, max_wait = row
    return {
        "offered": offered,
        "answered": a,
        "answered_within_sl": a_t,
        "abandoned": b,
        "short_abandoned": s,
        "wait_answered_ms": waits,
        "max_wait_ms": max_wait,
    }


@pytest.fixture
def view() -> View:
    v = View()
    for row in TABLE:
        day, clock, partition = row[:3]
        put(v, local_ms(day, clock), partition, table_counts(row), OTHER_RULES if day == "2026-04-01" else RULES)
    return v


def rows_by_label(view: View, group: str, first: date = FIRST, last: date = LAST) -> dict[str, dict[str, Any]]:
    return {r["period"]: r for r in period_rows(view, make_settings(), "support", periods(first, last, group))}  # type: ignore[arg-type]


def test_weeks_by_hand(view: View) -> None:
    weeks = rows_by_label(view, "week")
    assert list(weeks) == ["2026-W13", "2026-W14"]
    w13, w14 = weeks["2026-W13"], weeks["2026-W14"]
    assert (w13["from"], w13["to"]) == ("2026-03-25", "2026-03-29")  # clipped to the range
    assert (w13["start"], w13["end"]) == ("2026-03-25T00:00:00+01:00", "2026-03-30T00:00:00+02:00")
    assert [w13[k] for k in ("offered", "answered", "answered_within_sl", "abandoned", "short_abandoned")] == [
        38,
        30,
        23,
        8,
        2,
    ]
    assert w13["service_level"] == pytest.approx(23 / 36)
    assert w13["abandon_rate"] == pytest.approx(6 / 36)
    assert w13["answer_rate"] == pytest.approx(30 / 36)
    assert w13["asa_s"] == pytest.approx(256 / 30)
    assert w13["max_wait_s"] == 50.0
    assert w13["rules"] == RULES and w13["mixed_rules"] is False

    assert (w14["from"], w14["to"], w14["start"], w14["end"]) == (
        "2026-03-30",
        "2026-04-03",
        "2026-03-30T00:00:00+02:00",
        "2026-04-04T00:00:00+02:00",
    )
    assert [w14[k] for k in ("offered", "answered", "answered_within_sl", "abandoned", "short_abandoned")] == [
        31,
        26,
        19,
        5,
        3,
    ]
    assert w14["service_level"] == pytest.approx(19 / 28)
    assert w14["asa_s"] == pytest.approx(224 / 26)
    assert w14["max_wait_s"] == 60.0
    assert w14["rules"] == RULES  # partition 0 of 03-30 comes first
    assert w14["mixed_rules"] is True  # 04-01 was measured with T = 30 s


def test_a_week_is_not_the_mean_of_its_days(view: View) -> None:
    days = rows_by_label(view, "day", FIRST, date(2026, 3, 29))
    daily = [days[d]["service_level"] for d in days]
    assert daily == pytest.approx([7 / 9, 7 / 12, 1.0, None, 4 / 10])
    mean = sum(x for x in daily if x is not None) / 4
    week = rows_by_label(view, "week")["2026-W13"]["service_level"]
    assert week == pytest.approx(23 / 36) and abs(week - mean) > 0.05


def test_months_by_hand(view: View) -> None:
    months = rows_by_label(view, "month")
    assert list(months) == ["2026-03", "2026-04"]
    march, april = months["2026-03"], months["2026-04"]
    assert (march["from"], march["to"], april["from"], april["to"]) == (
        "2026-03-25",
        "2026-03-31",
        "2026-04-01",
        "2026-04-03",
    )
    assert (march["start"], march["end"]) == ("2026-03-25T00:00:00+01:00", "2026-04-01T00:00:00+02:00")
    assert [march[k] for k in ("offered", "answered", "answered_within_sl", "abandoned", "short_abandoned")] == [
        55,
        45,
        35,
        10,
        3,
    ]
    assert march["service_level"] == pytest.approx(35 / 52)
    assert [april[k] for k in ("offered", "answered", "answered_within_sl", "abandoned", "short_abandoned")] == [
        14,
        11,
        7,
        3,
        2,
    ]
    assert april["service_level"] == pytest.approx(7 / 12)
    assert april["rules"] == OTHER_RULES and april["mixed_rules"] is True  # partition 0 is 04-01's


def test_days_include_empty_ones_and_the_short_dst_day(view: View) -> None:
    days = rows_by_label(view, "day")
    assert list(days) == [(FIRST + timedelta(days=i)).isoformat() for i in range(10)]
    empty = days["2026-03-28"]
    assert empty["offered"] == 0 and empty["service_level"] is None and empty["asa_s"] is None
    assert empty["rules"] == RULES and empty["mixed_rules"] is False  # the config's rules
    dst = days["2026-03-29"]
    assert (dst["start"], dst["end"]) == ("2026-03-29T00:00:00+01:00", "2026-03-30T00:00:00+02:00")  # 23 h
    assert (dst["offered"], dst["answered_within_sl"]) == (11, 4)
    # midnight belongs to the day it starts: 03-25 00:00 is in 03-25, 03-24 23:30 is not
    assert days["2026-03-25"]["offered"] == 10
    assert days["2026-04-03"]["offered"] == 12  # 04-04 00:00 is after the range


def test_every_period_row_has_the_columns_in_order(view: View) -> None:
    row = rows_by_label(view, "week")["2026-W13"]
    flat = [k for k in row if k != "rules"] + [f"rules.{k}" for k in row["rules"]]
    assert sorted(flat) == sorted(PERIOD_COLUMNS)
    assert list(row)[:5] == ["period", "from", "to", "start", "end"]


def plain_sums(rows: list[dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows:
        for k, v in r.items():
            out[k] = out.get(k, 0) + v
    return out


def test_periods_equal_the_sum_of_their_days_seeded() -> None:
    """Every interval of ten days with 0..2 partitions of random counts: each week and month row's
    counters equal the sum of the day rows' counters and the plain sum of the partials put in;
    the service level is A_T / (A + B - S + F) of those plain sums."""
    rnd = random.Random(7)
    settings = make_settings()
    view = View()
    put_by_day: dict[date, list[dict[str, int]]] = {}
    for day in [FIRST + timedelta(days=i) for i in range(10)]:
        lo = datetime(day.year, day.month, day.day, tzinfo=BERLIN).astimezone(UTC)
        hi = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=BERLIN).astimezone(UTC)
        start = lo
        while start < hi:
            for partition in range(rnd.randint(0, 2)):
                a, b = rnd.randint(0, 9), rnd.randint(0, 4)
                s, f = rnd.randint(0, b), rnd.randint(0, 2)
                c = {
                    "offered": a + b + f + rnd.randint(0, 2),
                    "answered": a,
                    "answered_within_sl": rnd.randint(0, a),
                    "abandoned": b,
                    "short_abandoned": s,
                    "overflowed": f,
                    "handled": rnd.randint(0, a),
                }
                put(view, to_ms(start), partition, c)
                put_by_day.setdefault(day, []).append(c)
            start += timedelta(minutes=30)
    day_rows = {r["from"]: r for r in period_rows(view, settings, "support", periods(FIRST, LAST, "day"))}
    assert len(day_rows) == 10
    for group in ("week", "month"):
        for row, period in zip(
            period_rows(view, settings, "support", periods(FIRST, LAST, group)),
            periods(FIRST, LAST, group),
            strict=True,
        ):
            days = list(period.days())
            want = plain_sums([c for d in days for c in put_by_day.get(d, [])])
            assert want["offered"] > 0
            for key in COUNTERS:
                assert row[key] == want[key] == sum(day_rows[d.isoformat()][key] for d in days), (group, key)
            n = want["answered"] + want["abandoned"] - want["short_abandoned"] + want["overflowed"]
            assert row["service_level"] == pytest.approx(want["answered_within_sl"] / n)


def test_range_intervals_are_the_days_rows_in_order(view: View) -> None:
    settings = make_settings()
    rows = range_intervals(view, settings, "support", FIRST, LAST)
    per_day = [r for i in range(10) for r in queries.day_intervals(view, settings, "support", FIRST + timedelta(i))]
    assert rows == per_day
    assert [r["start"] for r in rows] == [
        "2026-03-25T00:00:00+01:00",
        "2026-03-25T23:30:00+01:00",
        "2026-03-26T09:00:00+01:00",
        "2026-03-27T12:30:00+01:00",
        "2026-03-29T01:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-29T23:30:00+02:00",
        "2026-03-30T00:00:00+02:00",
        "2026-03-31T10:00:00+02:00",
        "2026-04-01T00:00:00+02:00",
        "2026-04-03T17:30:00+02:00",
    ]
    assert rows[2]["offered"] == 12  # both partitions of 03-26 09:00


class CountingView(View):
    """Records which spans and starts a computation touches."""

    def __init__(self) -> None:
        super().__init__()
        self.spans: list[tuple[int, int]] = []
        self.touched: list[int] = []

    def interval_starts(self, queue: str, lo_ms: int, hi_ms: int) -> list[int]:
        self.spans.append((lo_ms, hi_ms))
        return super().interval_starts(queue, lo_ms, hi_ms)

    def interval_partials(self, queue: str, start_ms: int) -> list[records.IntervalPartial]:
        self.touched.append(start_ms)
        return super().interval_partials(queue, start_ms)


def test_the_work_is_bounded_by_the_range_days() -> None:
    """A year of data; a month view of one month asks for one span and touches that month's
    interval starts only, and the heat map one span per day."""
    view = CountingView()
    start = datetime(2026, 1, 1, tzinfo=BERLIN)
    for i in range(365):
        put(view, to_ms(start + timedelta(days=i, hours=9)), 0, {"offered": 1, "answered": 1})
    settings = make_settings()
    rows = period_rows(view, settings, "support", periods(date(2026, 3, 1), date(2026, 3, 31), "month"))
    assert rows[0]["offered"] == 31
    assert len(view.spans) == 1 and len(view.touched) == 31
    view.spans.clear()
    view.touched.clear()
    body = heatmap(view, settings, "support", date(2026, 3, 1), date(2026, 3, 7))
    assert len(body["days"]) == 7 and len(view.spans) == 7 and len(view.touched) == 7


# -- heat map -------------------------------------------------------------------------


def test_slot_minutes_and_labels() -> None:
    assert (slot_minutes(15), slot_minutes(30), slot_minutes(60)) == (30, 30, 60)
    labels = slot_labels(30)
    assert len(labels) == 48 and labels[:3] == ["00:00", "00:30", "01:00"] and labels[-1] == "23:30"
    assert slot_labels(60)[-2:] == ["22:00", "23:00"] and len(slot_labels(60)) == 24


def cells(body: dict[str, Any], day: str) -> dict[str, dict[str, Any]]:
    row = next(d for d in body["days"] if d["date"] == day)
    assert [c["slot"] for c in row["cells"]] == body["slots"]
    return {c["slot"]: c for c in row["cells"]}


def test_heatmap_spring_forward_with_15_minute_intervals() -> None:
    """2026-03-29 Berlin, 15-minute intervals: 01:30 and 01:45 CET fill slot 01:30; the clock
    jumps from 02:00 CET to 03:00 CEST, so slots 02:00 and 02:30 have no interval (0, null);
    03:00 and 03:15 CEST fill slot 03:00."""
    view = View()
    c = {"offered": 4, "answered": 4, "answered_within_sl": 3}
    d = {"offered": 6, "answered": 4, "answered_within_sl": 1, "abandoned": 2}
    put(view, local_ms("2026-03-29", "01:30"), 0, c, minutes=15)
    put(view, local_ms("2026-03-29", "01:45"), 0, d, minutes=15)
    put(view, local_ms("2026-03-29", "01:45") + 15 * 60_000, 0, c, minutes=15)  # = 03:00 CEST
    put(view, local_ms("2026-03-29", "03:15"), 1, d, minutes=15)
    body = heatmap(view, make_settings(15), "support", date(2026, 3, 28), date(2026, 3, 29))
    assert (body["queue"], body["from"], body["to"], body["slot_minutes"]) == (
        "support",
        "2026-03-28",
        "2026-03-29",
        30,
    )
    assert body["sl_target"] == 0.8 and len(body["slots"]) == 48
    assert [d["date"] for d in body["days"]] == ["2026-03-28", "2026-03-29"]
    assert all(c["offered"] == 0 and c["service_level"] is None for c in cells(body, "2026-03-28").values())
    day = cells(body, "2026-03-29")
    # each filled slot: offered 10, A 8, A_T 4, B 2 -> 4 / 10
    assert day["01:30"] == {"slot": "01:30", "offered": 10, "service_level": 0.4}
    assert day["02:00"] == {"slot": "02:00", "offered": 0, "service_level": None}
    assert day["02:30"] == {"slot": "02:30", "offered": 0, "service_level": None}
    assert day["03:00"] == {"slot": "03:00", "offered": 10, "service_level": 0.4}
    assert sum(c["offered"] for c in day.values()) == 20


def test_heatmap_fall_back_with_60_minute_intervals() -> None:
    """2026-10-25 Berlin, 60-minute intervals: 02:00 CEST (00:00 UTC) and 02:00 CET (01:00 UTC)
    are two intervals and one slot (02:00); the 25-hour day still has 24 slots."""
    view = View()
    first_two = to_ms(datetime(2026, 10, 25, 0, 0, tzinfo=UTC))
    second_two = to_ms(datetime(2026, 10, 25, 1, 0, tzinfo=UTC))
    put(view, first_two, 0, {"offered": 3, "answered": 3, "answered_within_sl": 3}, minutes=60)
    put(view, second_two, 0, {"offered": 5, "answered": 5, "answered_within_sl": 1}, minutes=60)
    put(view, local_ms("2026-10-25", "03:00"), 0, {"offered": 2, "answered": 2, "answered_within_sl": 2}, minutes=60)
    body = heatmap(view, make_settings(60), "support", date(2026, 10, 25), date(2026, 10, 25))
    assert body["slot_minutes"] == 60 and len(body["slots"]) == 24
    day = cells(body, "2026-10-25")
    assert day["02:00"] == {"slot": "02:00", "offered": 8, "service_level": 0.5}  # (3 + 1) / (3 + 5)
    assert day["03:00"]["service_level"] == 1.0 and day["01:00"]["offered"] == 0
    # the day row of the rollup counts the same 25 hours
    (row,) = period_rows(
        view, make_settings(60), "support", [Period("2026-10-25", date(2026, 10, 25), date(2026, 10, 25))]
    )
    assert row["offered"] == 10 and (row["start"], row["end"]) == (
        "2026-10-25T00:00:00+02:00",
        "2026-10-26T00:00:00+01:00",
    )


def test_heatmap_fall_back_30_minute_intervals_and_the_rules_of_the_partials() -> None:
    """30-minute intervals: both 02:30 half hours of 2026-10-25 sum into slot 02:30; a slot
    whose partials recorded answered_over_answered uses that formula (A_T / A), while
    ``sl_target`` is the queue's configured one."""
    view = View()
    put(
        view,
        local_ms("2026-10-25", "02:30", fold=0),
        0,
        {"offered": 2, "answered": 1, "answered_within_sl": 1, "abandoned": 1},
    )
    put(view, local_ms("2026-10-25", "02:30", fold=1), 1, {"offered": 2, "answered": 2, "answered_within_sl": 0})
    other = {**RULES, "sl_formula": "answered_over_answered", "sl_target": 0.5}
    put(
        view,
        local_ms("2026-10-25", "10:00"),
        0,
        {"offered": 4, "answered": 2, "answered_within_sl": 1, "abandoned": 2},
        other,
    )
    body = heatmap(view, make_settings(), "support", date(2026, 10, 25), date(2026, 10, 25))
    assert body["sl_target"] == 0.8 and body["slot_minutes"] == 30
    day = cells(body, "2026-10-25")
    assert day["02:30"] == {"slot": "02:30", "offered": 4, "service_level": 0.25}  # 1 / (3 + 1)
    assert day["10:00"]["service_level"] == 0.5  # 1 / 2 answered, not 1 / 4


def test_heatmap_csv_rows() -> None:
    view = View()
    put(view, local_ms("2026-03-25", "00:30"), 0, {"offered": 4, "answered": 4, "answered_within_sl": 3})
    body = heatmap(view, make_settings(), "support", date(2026, 3, 25), date(2026, 3, 26))
    rows, columns = heatmap_csv_rows(body)
    assert columns[:3] == ["date", "00:00", "00:30"] and len(columns) == 49
    assert rows[0]["date"] == "2026-03-25" and rows[0]["00:30"] == 0.75 and rows[0]["00:00"] is None
    assert rows[1]["date"] == "2026-03-26" and set(rows[1].values()) == {"2026-03-26", None}


def test_period_head_at_the_ends_of_the_calendar() -> None:
    tz = ZoneInfo("Asia/Shanghai")
    head = period_head(Period("9999-12-31", date.max, date.max), tz)
    assert head["start"] == "9999-12-31T00:00:00+08:00" and head["end"] is None
    head = period_head(Period("0001-01-01", date.min, date.min), tz)
    assert head["start"] is None and head["end"] is not None  # 0001-01-01 00:00 +08 is in year 0 UTC


def test_the_max_wait_of_a_period_is_its_largest() -> None:
    """max_wait is a maximum, not a sum: a week's is the largest of its partials'."""
    view = View()
    put(view, local_ms("2026-03-25", "09:00"), 0, {"offered": 1, "max_wait_ms": 7_000})
    put(view, local_ms("2026-03-26", "09:00"), 0, {"offered": 1, "max_wait_ms": 3_000})
    (row,) = period_rows(view, make_settings(), "support", periods(FIRST, date(2026, 3, 26), "week"))
    assert row["max_wait_s"] == 7.0 and row["offered"] == 2


async def test_sliced_gives_the_event_loop_a_turn_every_week_of_work() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    out = await sliced(((i, 1) for i in range(28)), every_days=7)  # 28 days: 4 turns
    assert out == list(range(28)) and ticks - before == 4
    months = await sliced((i, 31) for i in range(3))  # a month a turn
    assert months == [0, 1, 2] and ticks - before == 7
    task.cancel()


def test_a_zone_whose_clock_changes_at_midnight() -> None:
    """America/Santiago: on 2026-04-04 the clock goes back from 24:00 (-03) to 23:00 (-04), so
    the day has two 23:30 half hours (02:30 and 03:30 UTC of 04-05), both in its slot 23:30 and
    its day row; on 2026-09-06 it jumps from 00:00 (-04) to 01:00 (-03): the day starts at 01:00."""
    settings = Settings(timezone="America/Santiago", interval_minutes=30, queues=[{"id": "support", "name": "S"}])
    view = View()
    put(view, to_ms(datetime(2026, 4, 5, 2, 30, tzinfo=UTC)), 0, {"offered": 2, "answered": 2, "answered_within_sl": 2})
    put(view, to_ms(datetime(2026, 4, 5, 3, 30, tzinfo=UTC)), 0, {"offered": 2, "answered": 2, "answered_within_sl": 0})
    put(view, to_ms(datetime(2026, 4, 5, 4, 0, tzinfo=UTC)), 0, {"offered": 1, "answered": 1})  # 04-05 00:00 -04
    days = period_rows(view, settings, "support", periods(date(2026, 4, 4), date(2026, 4, 5), "day"))
    assert [(d["start"], d["end"], d["offered"]) for d in days] == [
        ("2026-04-04T00:00:00-03:00", "2026-04-05T00:00:00-04:00", 4),
        ("2026-04-05T00:00:00-04:00", "2026-04-06T00:00:00-04:00", 1),
    ]
    body = heatmap(view, settings, "support", date(2026, 4, 4), date(2026, 4, 4))
    assert cells(body, "2026-04-04")["23:30"] == {"slot": "23:30", "offered": 4, "service_level": 0.5}
    (spring,) = period_rows(view, settings, "support", periods(date(2026, 9, 6), date(2026, 9, 6), "day"))
    assert (spring["start"], spring["end"]) == ("2026-09-06T01:00:00-03:00", "2026-09-07T00:00:00-03:00")
