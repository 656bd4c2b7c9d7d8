"""``GET /api/v1/staffing`` over a range: the interval rows of every day, and STAFFING PERIOD ROWs
(day, ISO week, month) whose figures are worked out by hand below.

The view of tests/unit/api/test_staffing_forecast.py (Asia/Shanghai, 30-minute intervals, now =
Tuesday 2024-03-05 10:17:30 local, queue ``support``) plus Monday 2024-03-04:

Monday 03-04 (every interval ended at now), forecast 09:00 10 @ 180 s, 09:30 20 @ 200 s:

| interval | F | FAHT | A | H | handle s | required | WAPE offered | WAPE AHT H·|AHT − FAHT| / H·AHT |
|---|---|---|---|---|---|---|---|---|
| 09:00 | 10 | 180 | 12 | 2 | 400 | 3 (forecast) | 2 / 12 | |400 − 360| = 40 / 400 |
| 09:30 | 20 | 200 | 16 | 4 | 720 | 4 (forecast) | 4 / 16 | |720 − 800| = 80 / 720 |
| 10:00 | – | – | 3 | 0 | 0 | null (no AHT) | – | – |

  forecast_offered 30; actual 31; forecast AHT (10·180 + 20·200) / 30 = 5800 / 30 s; actual AHT
  1120 / 6 s; WAPE offered 6 / 28; WAPE AHT 120 / 1120; required (3 + 4) × 0.5 h = 3.5 agent-hours;
  staffed a1 (support) 30 + 30 + 15 min (the 13:00 interval has no forecast or contacts, it
  counts) = 1.25 agent-hours.

Tuesday 03-05 (as in that file): 09:30 F 10 @ 180, A 12, H 2, handle 400 s (ended); 10:00 F 20 @
200, A 25, H 0 (running at now: out of the WAPEs); 10:30 no forecast, A 4, H 4, handle 600 s;
11:00 F 0 @ 200, A 0 (not begun).

  forecast_offered 30; forecast_intervals 3; actual 41; forecast AHT 5800 / 30 s; actual AHT
  1000 / 6 s; WAPE offered 2 / 12 (09:30 only); WAPE AHT 40 / 400; required (3 + 4 + 2 + 0) × 0.5 =
  4.5 agent-hours; staffed a1 1,800,000 + 900,000 ms, a2 600,000 + 1,050,000 ms (a3 serves sales
  only) = 4,350,000 ms.

Week 2024-W10 (Mon 03-04 .. the range's end 03-05): the parts added, then divided once.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import orjson
import pytest

from floorwatch import topics
from floorwatch.api.main import create_app
from floorwatch.domain.periods import periods
from floorwatch.readmodel import queries, staffing_history
from floorwatch.readmodel.view import View
from tests.unit.api.asgi import asgi_client
from tests.unit.api.test_staffing_forecast import (
    EXPECTED,
    floor_view,
    forecast,
    make_settings,
    put_forecast,
    put_interval,
)
from tests.unit.shanghai_day import NOW, local_ms

VIEWER = {"Authorization": "Bearer viewer-secret"}

pytestmark = pytest.mark.usefixtures("isolated_config")


def ranged_view() -> View:
    v = floor_view()
    assert put_forecast(
        v, forecast("m-1", "2024-03-03T20:00:00", "support", [("09:00", 10, 180), ("09:30", 20, 200)], day="2024-03-04")
    )
    put_interval(v, "support", "2024-03-04T09:00:00", 0, offered=12, answered=2, handled=2, talk_ms=400_000)
    put_interval(v, "support", "2024-03-04T09:30:00", 0, offered=10, answered=3, handled=3, talk_ms=500_000)
    put_interval(
        v, "support", "2024-03-04T09:30:00", 1, offered=6, answered=1, handled=1, hold_ms=20_000, wrap_ms=200_000
    )
    put_interval(v, "support", "2024-03-04T10:00:00", 0, offered=3, answered=0)
    logged_in = {"09:00": 1_800_000, "09:30": 1_800_000, "13:00": 900_000}
    v.apply(
        topics.ADHERENCE,
        b"a1|2024-03-04",
        orjson.dumps(
            {
                "agent_id": "a1",
                "date": "2024-03-04",
                "logged_in_ms": {str(local_ms(f"2024-03-04T{t}:00")): ms for t, ms in logged_in.items()},
            }
        ),
    )
    return v


def interval_row(start: str, end: str, **figures: Any) -> dict[str, Any]:
    return {"start": f"2024-03-04T{start}:00+08:00", "end": f"2024-03-04T{end}:00+08:00", **figures}


MONDAY_ROWS = [
    interval_row(
        "09:00",
        "09:30",
        forecast_offered=10.0,
        forecast_aht_s=180.0,
        actual_offered=12,
        actual_aht_s=200.0,
        offered_variance=2.0,
        aht_variance_s=20.0,
        required_agents=3,
        required_agents_over_cap=False,
        required_from="forecast",
        avg_staffed_agents=1.0,
    ),
    interval_row(
        "09:30",
        "10:00",
        forecast_offered=20.0,
        forecast_aht_s=200.0,
        actual_offered=16,
        actual_aht_s=180.0,
        offered_variance=-4.0,
        aht_variance_s=-20.0,
        required_agents=4,
        required_agents_over_cap=False,
        required_from="forecast",
        avg_staffed_agents=1.0,
    ),
    interval_row(
        "10:00",
        "10:30",
        forecast_offered=None,
        forecast_aht_s=None,
        actual_offered=3,
        actual_aht_s=None,
        offered_variance=None,
        aht_variance_s=None,
        required_agents=None,
        required_agents_over_cap=False,
        required_from=None,
        avg_staffed_agents=0.0,
    ),
]


def head(period: str, first: str, last: str, start: str, end: str) -> dict[str, Any]:
    return {
        "period": period,
        "from": first,
        "to": last,
        "start": f"{start}T00:00:00+08:00",
        "end": f"{end}T00:00:00+08:00",
    }


EMPTY = {
    "forecast_offered": None,
    "actual_offered": 0,
    "forecast_aht_s": None,
    "actual_aht_s": None,
    "offered_variance": None,
    "aht_variance_s": None,
    "wape_offered": None,
    "wape_aht": None,
    "forecast_intervals": 0,
    "required_agent_hours": 0.0,
    "staffed_agent_hours": 0.0,
}
MONDAY = {
    "forecast_offered": 30.0,
    "actual_offered": 31,
    "forecast_aht_s": 5800 / 30,
    "actual_aht_s": 1120 / 6,
    "offered_variance": 1.0,
    "aht_variance_s": 1120 / 6 - 5800 / 30,
    "wape_offered": 6 / 28,
    "wape_aht": 120 / 1120,
    "forecast_intervals": 2,
    "required_agent_hours": 3.5,
    "staffed_agent_hours": 1.25,
}
TUESDAY = {
    "forecast_offered": 30.0,
    "actual_offered": 41,
    "forecast_aht_s": 5800 / 30,
    "actual_aht_s": 1000 / 6,
    "offered_variance": 11.0,
    "aht_variance_s": 1000 / 6 - 5800 / 30,
    "wape_offered": 2 / 12,
    "wape_aht": 40 / 400,
    "forecast_intervals": 3,
    "required_agent_hours": 4.5,
    "staffed_agent_hours": 4_350_000 / 3_600_000,
}
WEEK = {
    "forecast_offered": 60.0,
    "actual_offered": 72,
    "forecast_aht_s": 11600 / 60,
    "actual_aht_s": 2120 / 12,
    "offered_variance": 12.0,
    "aht_variance_s": 2120 / 12 - 11600 / 60,
    "wape_offered": 8 / 40,
    "wape_aht": 160 / 1520,
    "forecast_intervals": 5,
    "required_agent_hours": 8.0,
    "staffed_agent_hours": 8_850_000 / 3_600_000,
}


def close(got: dict[str, Any], want: dict[str, Any]) -> None:
    """Same keys in the same order; numbers equal to 1e-12 relative (hand fractions in floats)."""
    assert list(got) == list(want)
    for k, v in want.items():
        if isinstance(v, float) and got[k] is not None and not isinstance(got[k], bool):
            assert got[k] == pytest.approx(v, rel=1e-12), k
        else:
            assert got[k] == v, k


def test_interval_rows_of_every_day() -> None:
    rows = staffing_history.range_staffing(
        ranged_view(), make_settings(), "support", date(2024, 3, 3), date(2024, 3, 5), NOW
    )
    assert rows == MONDAY_ROWS + EXPECTED
    assert list(rows[0]) == list(staffing_history.INTERVAL_COLUMNS)


def test_period_rows_by_hand() -> None:
    view, settings = ranged_view(), make_settings()
    days = staffing_history.period_rows(
        view, settings, "support", periods(date(2024, 3, 3), date(2024, 3, 5), "day"), NOW
    )
    assert [r["period"] for r in days] == ["2024-03-03", "2024-03-04", "2024-03-05"]
    close(days[0], {**head("2024-03-03", "2024-03-03", "2024-03-03", "2024-03-03", "2024-03-04"), **EMPTY})
    close(days[1], {**head("2024-03-04", "2024-03-04", "2024-03-04", "2024-03-04", "2024-03-05"), **MONDAY})
    close(days[2], {**head("2024-03-05", "2024-03-05", "2024-03-05", "2024-03-05", "2024-03-06"), **TUESDAY})


async def test_ranged_endpoint() -> None:
    app = create_app(make_settings(), view=ranged_view(), producer=None, clock=lambda: NOW)
    q = {"queue": "support"}
    async with asgi_client(app) as c:
        # no range: the single-day answer, unchanged
        r = await c.get("/api/v1/staffing", params=q, headers=VIEWER)
        assert r.status_code == 200 and r.json() == EXPECTED
        # from/to: group interval by default, every day's rows
        r = await c.get("/api/v1/staffing", params={**q, "from": "2024-03-04", "to": "2024-03-05"}, headers=VIEWER)
        assert r.status_code == 200 and r.json() == MONDAY_ROWS + EXPECTED
        # a week that starts on Sunday 03-03 (W09, empty) then W10 clipped to Mon-Tue
        r = await c.get(
            "/api/v1/staffing", params={**q, "from": "2024-03-03", "to": "2024-03-05", "group": "week"}, headers=VIEWER
        )
        assert r.status_code == 200
        w09, w10 = r.json()
        close(w09, {**head("2024-W09", "2024-03-03", "2024-03-03", "2024-03-03", "2024-03-04"), **EMPTY})
        close(w10, {**head("2024-W10", "2024-03-04", "2024-03-05", "2024-03-04", "2024-03-06"), **WEEK})
        # a month: the same sums as the week (no other data in March)
        r = await c.get(
            "/api/v1/staffing", params={**q, "from": "2024-03-01", "to": "2024-03-31", "group": "month"}, headers=VIEWER
        )
        (month,) = r.json()
        close(month, {**head("2024-03", "2024-03-01", "2024-03-31", "2024-03-01", "2024-04-01"), **WEEK})
        # group alone groups today
        r = await c.get("/api/v1/staffing", params={**q, "group": "day"}, headers=VIEWER)
        (today,) = r.json()
        close(today, {**head("2024-03-05", "2024-03-05", "2024-03-05", "2024-03-05", "2024-03-06"), **TUESDAY})
        # range rules
        for bad in ({"from": "2024-03-04"}, {"from": "2024-03-05", "to": "2024-03-04"}, {"group": "year"}):
            assert (await c.get("/api/v1/staffing", params={**q, **bad}, headers=VIEWER)).status_code == 422, bad
        assert (
            await c.get("/api/v1/staffing", params={**q, "from": "2024-03-04", "to": "2024-03-05"})
        ).status_code == 401


async def test_ranged_csv() -> None:
    app = create_app(make_settings(), view=ranged_view(), producer=None, clock=lambda: NOW)
    async with asgi_client(app) as c:
        params = {"queue": "support", "from": "2024-03-04", "to": "2024-03-05", "group": "day", "format": "csv"}
        r = await c.get("/api/v1/staffing", params=params, headers=VIEWER)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert 'filename="floorwatch-staffing-support-2024-03-04_2024-03-05.csv"' in r.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(r.text)))
        assert tuple(rows[0]) == staffing_history.PERIOD_COLUMNS
        monday = dict(zip(rows[0], rows[1], strict=True))
        assert (monday["period"], monday["forecast_offered"], monday["actual_offered"]) == ("2024-03-04", "30.0", "31")
        assert (monday["forecast_intervals"], monday["required_agent_hours"], monday["staffed_agent_hours"]) == (
            "2",
            "3.5",
            "1.25",
        )
        # an empty range still has its header; interval rows have theirs
        empty = {**params, "from": "2024-01-01", "to": "2024-01-01", "group": "interval"}
        r = await c.get("/api/v1/staffing", params=empty, headers=VIEWER)
        assert r.text.splitlines() == [",".join(staffing_history.INTERVAL_COLUMNS)]


@pytest.mark.parametrize(
    ("minutes", "rows"),
    [
        (15, [("09:00", 3, 100), ("09:15", 5, 140), ("09:30", 0, 90), ("10:15", 7, 200), ("10:45", 1, 60)]),
        (60, [("08:00", 20, 100), ("09:00", 7, 150), ("11:00", 0, 90), ("12:00", 9, 300)]),
    ],
)
def test_the_forecast_window_gives_the_whole_forecast_s_figures(
    minutes: int, rows: list[tuple[str, float, float]]
) -> None:
    """Each interval reads only the forecast intervals that can overlap it (a bisected slice):
    the same figures as the whole day's forecast, interval by interval."""
    view, settings = View(), make_settings()
    assert put_forecast(view, forecast("w", "2024-03-05T07:00:00", "sales", rows, minutes=minutes))
    whole = view.forecasts[("sales", "2024-03-05")]
    got = queries.staffing_intervals(view, settings, "sales", date(2024, 3, 5))
    assert got, "the forecast covers some intervals"
    for i in got:
        assert i.planned == queries.forecast_for_interval(whole, i.start, i.end)
    # and every interval the whole forecast touches is listed
    starts = range(local_ms("2024-03-05T00:00:00"), local_ms("2024-03-06T00:00:00"), 1_800_000)
    touched = [s for s in starts if queries.forecast_for_interval(whole, s, s + 1_800_000) is not None]
    assert [i.start for i in got] == touched
