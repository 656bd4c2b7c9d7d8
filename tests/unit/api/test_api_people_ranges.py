"""Ranges and rollups of the people endpoints over HTTP (``from``, ``to``, ``group``):
``/api/v1/agents/{id}/performance``, ``/api/v1/teams``, ``/api/v1/adherence`` and
``/api/v1/quality`` on the floor of tests/unit/readmodel/people_range.py (hand figures in its
docstring), JSON and CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from floorwatch.api.main import create_app
from floorwatch.readmodel.view import View
from tests.unit.readmodel.people_day import make_settings
from tests.unit.readmodel.people_range import build_range_view
from tests.unit.shanghai_day import NOW

VIEWER = {"Authorization": "Bearer viewer-secret"}
RANGE = "from=2024-02-28&to=2024-03-05"

pytestmark = pytest.mark.usefixtures("isolated_config")


@pytest.fixture
def view() -> View:
    return build_range_view()


@pytest.fixture
def app(view: View) -> Any:
    return create_app(make_settings(), view=view, producer=None, clock=lambda: NOW)


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def disposition(resp: httpx.Response) -> str:
    return resp.headers["content-disposition"]


# -- performance ---------------------------------------------------------------------------------


async def test_performance_range_defaults_to_days(client: httpx.AsyncClient) -> None:
    resp = await client.get(f"/api/v1/agents/a1/performance?{RANGE}", headers=VIEWER)
    assert resp.status_code == 200
    body = resp.json()
    assert (body["from"], body["to"], body["group"], body["team"]) == ("2024-02-28", "2024-03-05", "day", "north")
    assert [p["period"] for p in body["periods"]] == [f"2024-02-{d}" for d in (28, 29)] + [
        f"2024-03-0{d}" for d in range(1, 6)
    ]
    assert [p["handled"] for p in body["periods"]] == [0, 2, 1, 0, 0, 0, 4]
    assert (body["total"]["handled"], body["total"]["adherence"], body["total"]["csat_avg"]) == (7, 7050 / 8250, 14 / 3)
    assert "date" not in body and "rolling_15m" not in body


async def test_performance_group_alone_is_one_period_of_today(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v1/agents/a1/performance?group=week", headers=VIEWER)).json()
    assert [(p["period"], p["from"], p["to"]) for p in body["periods"]] == [("2024-W10", "2024-03-05", "2024-03-05")]
    assert body["periods"][0]["occupancy"] == 2130 / 2550  # a1's 2024-03-05
    old = (await client.get("/api/v1/agents/a1/performance", headers=VIEWER)).json()
    assert set(old) == {"agent_id", "name", "team", "date", "max_concurrent", "day", "intervals", "rolling_15m"}


async def test_performance_range_unknown_agent_and_bad_ranges(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"/api/v1/agents/nobody/performance?{RANGE}", headers=VIEWER)).status_code == 404
    for query in ("from=2024-03-01", "from=2024-03-05&to=2024-03-01", f"{RANGE}&date=2024-03-01", "group=year"):
        assert (await client.get(f"/api/v1/agents/a1/performance?{query}", headers=VIEWER)).status_code == 422


async def test_performance_range_csv_total_first(client: httpx.AsyncClient) -> None:
    resp = await client.get(f"/api/v1/agents/a1/performance?{RANGE}&group=week&format=csv", headers=VIEWER)
    assert resp.status_code == 200
    assert disposition(resp) == 'attachment; filename="floorwatch-performance-a1-2024-02-28_2024-03-05.csv"'
    header, total, w09, w10 = rows_of(resp.text)
    assert header[:8] == ["period", "from", "to", "start", "end", "handled", "talk_s", "hold_s"]
    cells = [dict(zip(header, row, strict=True)) for row in (total, w09, w10)]
    assert [(c["period"], c["from"], c["to"], c["handled"]) for c in cells] == [
        ("total", "2024-02-28", "2024-03-05", "7"),
        ("2024-W09", "2024-02-28", "2024-03-03", "3"),
        ("2024-W10", "2024-03-04", "2024-03-05", "4"),
    ]
    assert (cells[0]["start"], cells[0]["end"]) == ("2024-02-28T00:00:00+08:00", "2024-03-06T00:00:00+08:00")
    assert (cells[1]["state_s.available"], cells[1]["aht_s"], cells[2]["aux_s.meeting"]) == ("1500.0", "170.0", "300.0")


# -- teams ---------------------------------------------------------------------------------------


async def test_teams_range_by_week_and_each_date_computed_once(client: httpx.AsyncClient, app: Any) -> None:
    resp = await client.get(f"/api/v1/teams?{RANGE}&group=week", headers=VIEWER)
    assert resp.status_code == 200
    body = resp.json()
    assert (body["from"], body["to"], body["group"]) == ("2024-02-28", "2024-03-05", "week")
    north = next(t for t in body["teams"] if t["id"] == "north")
    assert [(p["period"], p["agents"], p["adherence"], p["late_logins"]) for p in north["periods"]] == [
        ("2024-W09", 3, 6300 / 9000, 1),
        ("2024-W10", 4, 4500 / 5700, 1),
    ]
    assert [p["agents"] for p in body["floor"]["periods"]] == [4, 7]
    assert app.state.teams.computed == 7  # one computation per date
    again = await client.get(f"/api/v1/teams?{RANGE}&group=month", headers=VIEWER)
    assert [p["period"] for p in again.json()["floor"]["periods"]] == ["2024-02", "2024-03"]
    assert app.state.teams.computed == 7  # the dates' sums reused
    daily = (await client.get("/api/v1/teams?date=2024-03-05", headers=VIEWER)).json()
    assert set(daily) == {"date", "floor", "teams"}  # the single-day shape is unchanged


async def test_teams_range_refuses_intervals(client: httpx.AsyncClient) -> None:
    resp = await client.get(f"/api/v1/teams?{RANGE}&group=interval", headers=VIEWER)
    assert resp.status_code == 422


async def test_teams_range_csv_floor_rows_first(client: httpx.AsyncClient) -> None:
    resp = await client.get(f"/api/v1/teams?{RANGE}&group=week&format=csv", headers=VIEWER)
    assert disposition(resp) == 'attachment; filename="floorwatch-teams-2024-02-28_2024-03-05.csv"'
    header, *rows = rows_of(resp.text)
    assert header[:11] == [
        "id",
        "name",
        "targets.occupancy",
        "targets.adherence",
        "targets.aht_s",
        "period",
        "from",
        "to",
        "start",
        "end",
        "agents",
    ]
    cells = [dict(zip(header, row, strict=True)) for row in rows]
    assert [(c["id"], c["period"], c["agents"]) for c in cells] == [
        ("floor", "2024-W09", "4"),
        ("floor", "2024-W10", "7"),
        ("north", "2024-W09", "3"),
        ("north", "2024-W10", "4"),
        ("west", "2024-W09", "0"),
        ("west", "2024-W10", "0"),
        ("south", "2024-W09", "1"),
        ("south", "2024-W10", "1"),
    ]
    assert (cells[0]["name"], cells[2]["name"], cells[2]["targets.occupancy"], cells[6]["absent"]) == (
        "",
        "North",
        "0.85",
        "1",
    )


# -- adherence -------------------------------------------------------------------------------------


async def test_adherence_range(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"/api/v1/adherence?{RANGE}&group=month&team=north", headers=VIEWER)).json()
    assert [(r["agent_id"], r["period"], r["days"], r["in_adherence_s"], r["adherence"]) for r in body] == [
        ("a1", "2024-02", 1, 1500.0, 1500 / 1800),
        ("a1", "2024-03", 3, 5550.0, 5550 / 6450),
        ("a2", "2024-03", 2, 3750.0, 3750 / 6450),
    ]
    assert body[0]["exception_count"] == 1
    assert (await client.get(f"/api/v1/adherence?{RANGE}&group=interval", headers=VIEWER)).status_code == 422
    old = (await client.get("/api/v1/adherence?team=north", headers=VIEWER)).json()
    assert [(r["agent_id"], r["date"]) for r in old] == [("a1", "2024-03-05"), ("a2", "2024-03-05")]


async def test_adherence_range_csv_and_its_empty_header(client: httpx.AsyncClient) -> None:
    resp = await client.get(f"/api/v1/adherence?{RANGE}&agent_id=a1&group=week&format=csv", headers=VIEWER)
    assert disposition(resp) == 'attachment; filename="floorwatch-adherence-a1-2024-02-28_2024-03-05.csv"'
    header, *rows = rows_of(resp.text)
    assert header == [
        "agent_id",
        "team",
        "period",
        "from",
        "to",
        "start",
        "end",
        "days",
        "scheduled_s",
        "in_adherence_s",
        "adherence",
        "work_scheduled_s",
        "worked_s",
        "conformance",
        "exception_count",
    ]
    assert [(r[0], r[2], r[7], r[8], r[14]) for r in rows] == [
        ("a1", "2024-W09", "2", "5400.0", "1"),
        ("a1", "2024-W10", "2", "2850.0", "0"),
    ]
    empty = await client.get(f"/api/v1/adherence?{RANGE}&agent_id=nobody&format=csv", headers=VIEWER)
    assert rows_of(empty.text) == [header]


# -- quality ---------------------------------------------------------------------------------------


async def test_quality_range_json_and_csv(client: httpx.AsyncClient) -> None:
    body = (await client.get(f"/api/v1/quality?{RANGE}&group=week", headers=VIEWER)).json()
    assert (body["group"], body["fcr_window_hours"]) == ("week", 24.0)
    assert [(t["team"], t["period"], t["agents"], t["csat_avg"]) for t in body["teams"]] == [
        ("north", "2024-W09", 1, 5.0),
        ("north", "2024-W10", 2, 4.0),
        (None, "2024-W10", 1, None),
    ]
    resp = await client.get(f"/api/v1/quality?{RANGE}&group=week&format=csv&list=teams&team=north", headers=VIEWER)
    assert disposition(resp) == 'attachment; filename="floorwatch-quality-teams-2024-02-28_2024-03-05.csv"'
    header, *rows = rows_of(resp.text)
    assert header[:8] == ["team", "agents", "period", "from", "to", "start", "end", "fcr_eligible"]
    assert [(r[0], r[2], r[1], r[7]) for r in rows] == [
        ("north", "2024-W09", "1", "3"),
        ("north", "2024-W10", "2", "3"),
    ]
    empty = await client.get("/api/v1/quality?from=2024-01-01&to=2024-01-31&group=month&format=csv", headers=VIEWER)
    assert rows_of(empty.text)[0][:4] == ["agent_id", "name", "team", "period"] and len(rows_of(empty.text)) == 1
    assert (await client.get(f"/api/v1/quality?{RANGE}&group=interval", headers=VIEWER)).status_code == 422
