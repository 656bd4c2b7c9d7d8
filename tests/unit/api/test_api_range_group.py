"""``group=range``: the whole range as one period, on every ranged endpoint that offers day, week
and month. Each test asks the endpoint for the range's day rows and for its range row, and
checks the range row against the day rows' counters summed HERE (ratios recomputed here from
those sums, or from the day ratios weighted by their denominators), plus the label
``<from>/<to>`` and the period keys. Floors: the ten Berlin days of test_api_queue_ranges, the
two Shanghai days of test_api_staffing_ranges, the people range of people_range.py.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from floorwatch.api.main import create_app
from floorwatch.readmodel.view import View
from tests.unit.api.asgi import asgi_client
from tests.unit.api.test_api_queue_ranges import NOW as BERLIN_NOW, make_settings as berlin_settings
from tests.unit.api.test_api_staffing_ranges import WEEK, close, head, ranged_view
from tests.unit.api.test_staffing_forecast import make_settings as staffing_settings
from tests.unit.readmodel.people_day import make_settings as people_settings
from tests.unit.readmodel.people_range import build_range_view
from tests.unit.readmodel.test_queue_history import OTHER_RULES, RULES, TABLE, local_ms, put, table_counts
from tests.unit.shanghai_day import NOW as SHANGHAI_NOW

VIEWER = {"Authorization": "Bearer viewer-secret"}
QUEUE_COUNTERS = (
    "offered",
    "answered",
    "answered_within_sl",
    "abandoned",
    "short_abandoned",
    "overflowed",
    "handled",
    "transferred",
    "surveys",
    "fcr_eligible",
    "fcr_resolved",
    "customer_contacts",
    "repeat_contacts",
)

pytestmark = pytest.mark.usefixtures("isolated_config")


async def get(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    r = await client.get(path, params=params, headers=VIEWER)
    assert r.status_code == 200, r.text
    return r.json()


def berlin_view() -> View:
    v = View()
    for row in TABLE:
        day, clock, partition = row[:3]
        put(v, local_ms(day, clock), partition, table_counts(row), OTHER_RULES if day == "2026-04-01" else RULES)
    return v


def weighted(rows: list[dict[str, Any]], key: str, weight: str) -> float | None:
    """Σ key·weight / Σ weight over the rows with a value (a mean of ratios by their denominators)."""
    pairs = [(r[key], r[weight]) for r in rows if r[key] is not None]
    total = sum(w for _, w in pairs)
    return sum(v * w for v, w in pairs) / total if total else None


# -- queues: /intervals?group=range and /queues/{queue}/days?group=range -------------------------------


async def test_queue_range_row_is_the_sum_of_the_day_rows() -> None:
    app = create_app(berlin_settings(), view=berlin_view(), producer=None, clock=lambda: BERLIN_NOW)
    rng = {"from": "2026-03-25", "to": "2026-04-03"}
    async with asgi_client(app) as c:
        days = await get(c, "/api/v1/queues/support/days", group="day", **rng)
        (row,) = await get(c, "/api/v1/queues/support/days", group="range", **rng)
        assert await get(c, "/api/v1/intervals", queue="support", group="range", **rng) == [row]
        assert len(days) == 10
        assert (row["period"], row["from"], row["to"]) == ("2026-03-25/2026-04-03", "2026-03-25", "2026-04-03")
        # the local midnights: before and after the spring forward of 03-29 (Berlin)
        assert (row["start"], row["end"]) == ("2026-03-25T00:00:00+01:00", "2026-04-04T00:00:00+02:00")
        for key in QUEUE_COUNTERS:
            assert row[key] == sum(d[key] for d in days), key
        assert row["offered"] == 69  # by hand: W13 38 + W14 31 (test_queue_history)
        a, b, s = (sum(d[k] for d in days) for k in ("answered", "abandoned", "short_abandoned"))
        assert row["service_level"] == pytest.approx(sum(d["answered_within_sl"] for d in days) / (a + b - s))
        assert row["service_level"] == pytest.approx((23 + 19) / (36 + 28))  # the two weeks by hand
        assert row["asa_s"] == pytest.approx(weighted(days, "asa_s", "answered"))
        assert row["aht_s"] == pytest.approx(weighted(days, "aht_s", "handled"))
        assert row["mixed_rules"] is True  # 04-01 recorded other rules
        assert row["rules"] == days[0]["rules"]  # the earliest partial's
        # one day: the range row is that day's row but for its label
        (one,) = await get(
            c, "/api/v1/queues/support/days", group="range", **{"from": "2026-03-29", "to": "2026-03-29"}
        )
        assert one == {**days[4], "period": "2026-03-29/2026-03-29"}
        # group alone: today's range
        (today,) = await get(c, "/api/v1/queues/support/days", group="range")
        assert (today["period"], today["offered"]) == ("2026-04-03/2026-04-03", 12)
        # the heat map stays per day
        r = await c.get("/api/v1/queues/support/heatmap", params={"group": "range", **rng}, headers=VIEWER)
        assert r.status_code == 422
        # CSV: one row, the label as its period
        r = await c.get(
            "/api/v1/queues/support/days", params={"group": "range", "format": "csv", **rng}, headers=VIEWER
        )
        lines = r.text.splitlines()
        assert len(lines) == 2 and lines[1].startswith("2026-03-25/2026-04-03,2026-03-25,2026-04-03,")


# -- staffing ---------------------------------------------------------------------------------------------


async def test_staffing_range_row_is_the_sum_of_the_day_rows() -> None:
    app = create_app(staffing_settings(), view=ranged_view(), producer=None, clock=lambda: SHANGHAI_NOW)
    rng = {"queue": "support", "from": "2024-03-03", "to": "2024-03-05"}
    async with asgi_client(app) as c:
        days = await get(c, "/api/v1/staffing", group="day", **rng)
        (row,) = await get(c, "/api/v1/staffing", group="range", **rng)
    # the three days' sums by hand in test_api_staffing_ranges (Sunday empty, WEEK = Mon + Tue)
    close(row, {**head("2024-03-03/2024-03-05", "2024-03-03", "2024-03-05", "2024-03-03", "2024-03-06"), **WEEK})
    assert row["actual_offered"] == sum(d["actual_offered"] for d in days)
    assert row["forecast_offered"] == sum(d["forecast_offered"] or 0 for d in days)
    assert row["forecast_intervals"] == sum(d["forecast_intervals"] for d in days)
    for key in ("required_agent_hours", "staffed_agent_hours"):
        assert row[key] == pytest.approx(sum(d[key] for d in days)), key
    assert row["forecast_aht_s"] == pytest.approx(weighted(days, "forecast_aht_s", "forecast_offered"))


# -- people: performance, teams, adherence, quality ----------------------------------------------------

PEOPLE = {"from": "2024-02-28", "to": "2024-03-05"}
LABEL = "2024-02-28/2024-03-05"
PEOPLE_HEAD = {
    "period": LABEL,
    "from": "2024-02-28",
    "to": "2024-03-05",
    "start": "2024-02-28T00:00:00+08:00",
    "end": "2024-03-06T00:00:00+08:00",
}
BLOCK_SUMS = ("handled", "talk_s", "hold_s", "wrap_s", "transfers", "handle_s", "available_s", "surveys")


def people_app() -> Any:
    return create_app(people_settings(), view=build_range_view(), producer=None, clock=lambda: SHANGHAI_NOW)


def check_block(row: dict[str, Any], days: list[dict[str, Any]]) -> None:
    """A day BLOCK of the range against its day rows: sums, and the ratios of the sums."""
    for key in BLOCK_SUMS:
        assert row[key] == pytest.approx(sum(d[key] for d in days)), key
    for state in ("available", "on_contact", "wrap_up", "aux"):
        assert row["state_s"][state] == pytest.approx(sum(d["state_s"][state] for d in days)), state
    handle, available = sum(d["handle_s"] for d in days), sum(d["available_s"] for d in days)
    assert row["occupancy"] == (pytest.approx(handle / (handle + available)) if handle + available else None)
    assert row["aht_s"] == pytest.approx(weighted(days, "aht_s", "handled"))
    assert row["csat_avg"] == pytest.approx(weighted(days, "csat_avg", "surveys"))


async def test_performance_range_row_is_the_sum_of_the_day_rows() -> None:
    async with asgi_client(people_app()) as c:
        days = await get(c, "/api/v1/agents/a1/performance", group="day", **PEOPLE)
        body = await get(c, "/api/v1/agents/a1/performance", group="range", **PEOPLE)
    assert body["group"] == "range"
    (row,) = body["periods"]
    assert {k: row[k] for k in PEOPLE_HEAD} == PEOPLE_HEAD
    check_block(row, days["periods"])
    # by hand (people_range.py): handled 7, AHT 1440/7, occupancy 4830/7950, adherence 7050/8250
    assert (row["handled"], row["aht_s"]) == (7, pytest.approx(1440 / 7))
    assert row["occupancy"] == pytest.approx(4830 / 7950)
    assert row["adherence"] == pytest.approx(7050 / 8250) and row["fcr"] == pytest.approx(4 / 6)
    assert {k: v for k, v in row.items() if k not in PEOPLE_HEAD} == body["total"]


async def test_teams_range_rows_are_the_sums_of_the_day_rows() -> None:
    async with asgi_client(people_app()) as c:
        days = await get(c, "/api/v1/teams", group="day", **PEOPLE)
        body = await get(c, "/api/v1/teams", group="range", **PEOPLE)
    assert body["group"] == "range"
    pairs = [(body["floor"], days["floor"])] + list(zip(body["teams"], days["teams"], strict=True))
    assert [t["id"] for t in body["teams"]] == [t["id"] for t in days["teams"]]
    for whole, by_day in pairs:
        (row,) = whole["periods"]
        assert {k: row[k] for k in PEOPLE_HEAD} == PEOPLE_HEAD
        check_block(row, by_day["periods"])
        for key in ("agents", "absent", "late_logins", "scheduled_s"):
            assert row[key] == pytest.approx(sum(d[key] for d in by_day["periods"])), key
    north = body["teams"][0]["periods"][0]
    # north's agent-days by hand: a1 on 02-29, 03-01, 03-04, 03-05; a2 on 03-01, 03-04, 03-05
    assert (body["teams"][0]["id"], north["agents"]) == ("north", 7)


async def test_adherence_range_rows_are_the_sums_of_the_day_rows() -> None:
    async with asgi_client(people_app()) as c:
        days = await get(c, "/api/v1/adherence", group="day", **PEOPLE)
        rows = await get(c, "/api/v1/adherence", group="range", **PEOPLE)
    assert sorted(r["agent_id"] for r in rows) == sorted({d["agent_id"] for d in days})
    for row in rows:
        mine = [d for d in days if d["agent_id"] == row["agent_id"]]
        assert {k: row[k] for k in PEOPLE_HEAD} == PEOPLE_HEAD
        for key in ("days", "exception_count", "scheduled_s", "in_adherence_s", "work_scheduled_s", "worked_s"):
            assert row[key] == pytest.approx(sum(d[key] for d in mine)), (row["agent_id"], key)
        scheduled = sum(d["scheduled_s"] for d in mine)
        adherence = sum(d["in_adherence_s"] for d in mine) / scheduled if scheduled else None
        assert row["adherence"] == (pytest.approx(adherence) if adherence is not None else None)
    a1 = next(r for r in rows if r["agent_id"] == "a1")
    assert a1["adherence"] == pytest.approx(7050 / 8250)  # by hand (people_range.py)


async def test_quality_range_rows_are_the_sums_of_the_day_rows() -> None:
    async with asgi_client(people_app()) as c:
        days = await get(c, "/api/v1/quality", group="day", **PEOPLE)
        body = await get(c, "/api/v1/quality", group="range", **PEOPLE)
    assert body["group"] == "range"
    for list_name, key in (("agents", "agent_id"), ("teams", "team")):
        rows = body[list_name]
        assert [r[key] for r in rows] == list(dict.fromkeys(d[key] for d in days[list_name]))
        for row in rows:
            mine = [d for d in days[list_name] if d[key] == row[key]]
            assert {k: row[k] for k in PEOPLE_HEAD} == PEOPLE_HEAD
            for counter in ("fcr_eligible", "fcr_resolved", "surveys"):
                assert row[counter] == sum(d[counter] for d in mine), (row[key], counter)
            eligible = sum(d["fcr_eligible"] for d in mine)
            want = sum(d["fcr_resolved"] for d in mine) / eligible if eligible else None
            assert row["fcr"] == (pytest.approx(want) if want is not None else None)
            assert row["csat_avg"] == pytest.approx(weighted(mine, "csat_avg", "surveys"))
    a1 = next(r for r in body["agents"] if r["agent_id"] == "a1")
    assert (a1["fcr"], a1["csat_avg"]) == (pytest.approx(4 / 6), pytest.approx(14 / 3))  # by hand
