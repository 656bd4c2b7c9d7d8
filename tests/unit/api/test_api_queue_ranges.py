"""GET /api/v1/intervals with from/to/group, /api/v1/queues/{queue}/days and /heatmap over HTTP.

The ten Berlin days of tests/unit/readmodel/test_queue_history.py (2026-03-25 to 2026-04-03,
across ISO weeks 13/14, March/April and the spring forward of 03-29), now = Friday 2026-04-03
18:10 local. By hand (see that file): W13 offered 38, SL 23/36; W14 offered 31, SL 19/28;
March offered 55, April 14. Today (04-03) has one interval, 17:30 on partition 2: offered 12,
A 10, A_T 7, B 2, S 2 -> SL 7/10.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from floorwatch.api.main import create_app
from floorwatch.config import Settings
from floorwatch.readmodel.queue_history import INTERVAL_COLUMNS, PERIOD_COLUMNS
from floorwatch.readmodel.view import View
from tests.unit.readmodel.test_queue_history import OTHER_RULES, RULES, TABLE, local_ms, put, table_counts
from tests.unit.settings_factory import floor_settings

VIEWER = {"Authorization": "Bearer viewer-secret"}
NOW = local_ms("2026-04-03", "18:10")
RANGE = {"from": "2026-03-25", "to": "2026-04-03"}
COUNTERS = ("offered", "answered", "answered_within_sl", "abandoned", "short_abandoned", "overflowed", "handled")

pytestmark = pytest.mark.usefixtures("isolated_config")


def make_settings() -> Settings:
    return floor_settings(
        timezone="Europe/Berlin",
        queues=[{"id": "support", "name": "Support", "sl_threshold_s": 20, "sl_target": 0.8}],
    )


@pytest.fixture
def view() -> View:
    v = View()
    for row in TABLE:
        day, clock, partition = row[:3]
        put(v, local_ms(day, clock), partition, table_counts(row), OTHER_RULES if day == "2026-04-01" else RULES)
    return v


@pytest.fixture
def app(view: View) -> Any:
    return create_app(make_settings(), view=view, producer=None, clock=lambda: NOW)


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    r = await client.get(path, params=params, headers=VIEWER)
    assert r.status_code == 200, r.text
    return r.json() if r.headers["content-type"].startswith("application/json") else r


async def test_intervals_without_a_range_answer_as_before(client: httpx.AsyncClient) -> None:
    rows = await get(client, "/api/v1/intervals", queue="support", date="2026-03-29")
    assert [(r["start"], r["offered"]) for r in rows] == [
        ("2026-03-29T01:30:00+01:00", 3),
        ("2026-03-29T03:00:00+02:00", 7),
        ("2026-03-29T23:30:00+02:00", 1),
    ]
    assert "period" not in rows[0]
    today = await get(client, "/api/v1/intervals", queue="support")
    assert [r["start"] for r in today] == ["2026-04-03T17:30:00+02:00"]
    r = await get(client, "/api/v1/intervals", queue="support", date="2026-03-29", format="csv")
    assert 'filename="floorwatch-intervals-2026-03-29.csv"' in r.headers["content-disposition"]


async def test_interval_rows_of_a_range_are_every_days_rows(client: httpx.AsyncClient) -> None:
    rows = await get(client, "/api/v1/intervals", queue="support", **RANGE)
    assert rows == await get(client, "/api/v1/intervals", queue="support", group="interval", **RANGE)
    per_day = []
    for i in range(10):
        day = (date(2026, 3, 25) + timedelta(days=i)).isoformat()
        per_day += await get(client, "/api/v1/intervals", queue="support", date=day)
    assert rows == per_day and len(rows) == 11
    assert [r["start"] for r in rows] == sorted(r["start"] for r in rows)  # same offset per day here
    assert rows[0]["start"] == "2026-03-25T00:00:00+01:00" and rows[-1]["start"] == "2026-04-03T17:30:00+02:00"


async def test_grouped_intervals_are_the_days_endpoints_rows(client: httpx.AsyncClient) -> None:
    for group in ("day", "week", "month"):
        grouped = await get(client, "/api/v1/intervals", queue="support", group=group, **RANGE)
        assert grouped == await get(client, "/api/v1/queues/support/days", group=group, **RANGE)
    weeks = await get(client, "/api/v1/queues/support/days", group="week", **RANGE)
    assert [(w["period"], w["from"], w["to"], w["offered"]) for w in weeks] == [
        ("2026-W13", "2026-03-25", "2026-03-29", 38),
        ("2026-W14", "2026-03-30", "2026-04-03", 31),
    ]
    assert weeks[0]["service_level"] == pytest.approx(23 / 36)
    assert weeks[1]["service_level"] == pytest.approx(19 / 28) and weeks[1]["mixed_rules"] is True


async def test_periods_are_the_sums_of_the_single_day_answers(client: httpx.AsyncClient) -> None:
    days = await get(client, "/api/v1/queues/support/days", **RANGE)  # default group: day
    assert [d["period"] for d in days] == [(date(2026, 3, 25) + timedelta(days=i)).isoformat() for i in range(10)]
    by_day = {d["period"]: d for d in days}
    for group in ("week", "month"):
        for row in await get(client, "/api/v1/queues/support/days", group=group, **RANGE):
            first, last = date.fromisoformat(row["from"]), date.fromisoformat(row["to"])
            mine = [by_day[(first + timedelta(days=i)).isoformat()] for i in range((last - first).days + 1)]
            for key in COUNTERS:
                assert row[key] == sum(d[key] for d in mine)
            a, b, s = (sum(d[k] for d in mine) for k in ("answered", "abandoned", "short_abandoned"))
            assert row["service_level"] == pytest.approx(sum(d["answered_within_sl"] for d in mine) / (a + b - s))
    months = await get(client, "/api/v1/queues/support/days", group="month", **RANGE)
    assert [(m["period"], m["offered"]) for m in months] == [("2026-03", 55), ("2026-04", 14)]


async def test_days_default_to_today_and_match_the_queue_tile(client: httpx.AsyncClient) -> None:
    (row,) = await get(client, "/api/v1/queues/support/days")
    assert (row["period"], row["from"], row["to"]) == ("2026-04-03", "2026-04-03", "2026-04-03")
    assert (row["start"], row["end"]) == ("2026-04-03T00:00:00+02:00", "2026-04-04T00:00:00+02:00")
    assert (row["offered"], row["answered_within_sl"], row["service_level"]) == (12, 7, 0.7)
    tile = next(q for q in await get(client, "/api/v1/queues") if q["queue"] == "support")
    assert {k: row[k] for k in tile["today"]} == tile["today"]
    (on_date,) = await get(client, "/api/v1/queues/support/days", date="2026-03-29")
    assert (on_date["period"], on_date["offered"]) == ("2026-03-29", 11)


async def test_a_queue_without_data_has_empty_periods(client: httpx.AsyncClient) -> None:
    rows = await get(client, "/api/v1/queues/nope/days", group="week", **RANGE)
    assert [(r["period"], r["offered"], r["service_level"], r["mixed_rules"]) for r in rows] == [
        ("2026-W13", 0, None, False),
        ("2026-W14", 0, None, False),
    ]
    assert rows[0]["rules"]["sl_formula"] == "answered_over_offered"  # queue_defaults
    assert await get(client, "/api/v1/intervals", queue="nope", **RANGE) == []


async def test_a_range_of_367_days(client: httpx.AsyncClient) -> None:
    first = date(2026, 4, 3) - timedelta(days=366)
    params = {"from": first.isoformat(), "to": "2026-04-03"}
    days = await get(client, "/api/v1/queues/support/days", **params)
    assert len(days) == 367 and sum(d["offered"] for d in days) == 69 + 5  # the 03-24 interval too
    months = await get(client, "/api/v1/queues/support/days", group="month", **params)
    assert [m["period"] for m in months][:2] == ["2025-04", "2025-05"] and len(months) == 13
    assert months[0]["from"] == "2025-04-02" and months[-1]["to"] == "2026-04-03"
    heat = await get(client, "/api/v1/queues/support/heatmap", **params)
    assert len(heat["days"]) == 367


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/queues/support/days", {"group": "interval", **RANGE}),
        ("/api/v1/queues/support/days", {"from": "2026-03-25"}),
        ("/api/v1/queues/support/days", {"from": "2026-04-03", "to": "2026-03-25"}),
        ("/api/v1/queues/support/days", {"from": "2025-04-01", "to": "2026-04-03"}),  # 368 days
        ("/api/v1/queues/support/days", {"date": "2026-03-25", **RANGE}),
        ("/api/v1/queues/support/days", {"group": "year"}),
        ("/api/v1/queues/support/heatmap", {"group": "week", **RANGE}),
        ("/api/v1/queues/support/heatmap", {"to": "2026-03-25"}),
        ("/api/v1/queues/support/heatmap", {"from": "2025-04-01", "to": "2026-04-03"}),
        ("/api/v1/intervals", {"queue": "support", "from": "2026-03-25", "to": "2026-03-24"}),
        ("/api/v1/intervals", {"queue": "support", "group": "quarter"}),
        ("/api/v1/intervals", {"group": "week", **RANGE}),  # no queue
    ],
)
async def test_bad_ranges_are_422(client: httpx.AsyncClient, path: str, params: dict[str, str]) -> None:
    r = await client.get(path, params=params, headers=VIEWER)
    assert r.status_code == 422, r.text


async def test_new_routes_need_a_token(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/queues/support/days", "/api/v1/queues/support/heatmap"):
        assert (await client.get(path)).status_code == 401


async def test_heatmap_of_the_spring_forward_day(client: httpx.AsyncClient) -> None:
    body = await get(client, "/api/v1/queues/support/heatmap", **{"from": "2026-03-29", "to": "2026-03-30"})
    assert (body["queue"], body["from"], body["to"], body["slot_minutes"], body["sl_target"]) == (
        "support",
        "2026-03-29",
        "2026-03-30",
        30,
        0.8,
    )
    assert len(body["slots"]) == 48 and [d["date"] for d in body["days"]] == ["2026-03-29", "2026-03-30"]
    cells = {c["slot"]: c for c in body["days"][0]["cells"]}
    assert cells["01:30"] == {"slot": "01:30", "offered": 3, "service_level": 0.5}  # 1 / (2 + 1 - 1)
    assert cells["02:00"] == {"slot": "02:00", "offered": 0, "service_level": None}  # never happened
    assert cells["03:00"] == {"slot": "03:00", "offered": 7, "service_level": pytest.approx(2 / 7)}
    assert sum(c["offered"] for c in body["days"][0]["cells"]) == 11  # the day row's offered
    today = await get(client, "/api/v1/queues/support/heatmap")
    assert today["from"] == today["to"] == "2026-04-03"
    assert {c["slot"]: c["offered"] for c in today["days"][0]["cells"] if c["offered"]} == {"17:30": 12}


async def test_csv_of_the_three(client: httpx.AsyncClient) -> None:
    r = await get(client, "/api/v1/queues/support/days", group="week", format="csv", **RANGE)
    assert 'filename="floorwatch-queue-days-support-2026-03-25_2026-04-03.csv"' in r.headers["content-disposition"]
    lines = r.text.split("\r\n")
    assert lines[0] == ",".join(PERIOD_COLUMNS)
    assert lines[0].startswith("period,from,to,start,end,offered,answered,")
    assert lines[0].endswith(",rules.sl_threshold_s,rules.short_abandon_s,rules.sl_target,rules.sl_formula,mixed_rules")
    assert lines[1].startswith(
        "2026-W13,2026-03-25,2026-03-29,2026-03-25T00:00:00+01:00,2026-03-30T00:00:00+02:00,38,30,"
    )
    assert lines[2].startswith("2026-W14,") and lines[2].endswith(",true") and lines[3] == ""

    r = await get(client, "/api/v1/intervals", queue="nope", format="csv", **RANGE)
    assert r.text == ",".join(INTERVAL_COLUMNS) + "\r\n"  # an empty list keeps its header
    assert r.text.startswith("start,end,offered,")
    assert 'filename="floorwatch-intervals-nope-2026-03-25_2026-04-03.csv"' in r.headers["content-disposition"]
    r = await get(client, "/api/v1/intervals", queue="support", group="month", format="csv", **RANGE)
    assert [line.split(",")[0] for line in r.text.split("\r\n")] == ["period", "2026-03", "2026-04", ""]

    r = await get(client, "/api/v1/queues/support/heatmap", format="csv", **{"from": "2026-03-29", "to": "2026-03-30"})
    assert 'filename="floorwatch-heatmap-support-2026-03-29_2026-03-30.csv"' in r.headers["content-disposition"]
    header, first, second, end = r.text.split("\r\n")
    assert header.split(",")[:4] == ["date", "00:00", "00:30", "01:00"] and len(header.split(",")) == 49
    cells = dict(zip(header.split(","), first.split(","), strict=True))
    assert (cells["date"], cells["01:30"], cells["02:00"], cells["23:30"]) == ("2026-03-29", "0.5", "", "1.0")
    day, midnight, *rest = second.split(",")
    assert (day, float(midnight), set(rest), end) == ("2026-03-30", pytest.approx(3 / 7), {""}, "")  # 3 / (6 + 2 - 1)
