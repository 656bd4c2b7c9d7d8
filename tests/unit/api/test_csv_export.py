"""CSV export of the list endpoints (api/csv_export.py) on the hand-built floor of
tests/unit/readmodel/people_day.py (Asia/Shanghai, now = 2024-03-05 10:17:30 local), plus one
interval of queue ``support``:

  09:30 partition 0: offered 4, answered 3 (3 within 20 s), handled 3, nothing abandoned
        -> N = answered + (abandoned - short) + overflowed = 3: service level 3/3 = 1.0,
           answer rate 1.0, abandon rate 0/3 = 0.0; no answer wait recorded -> ASA 0.0, AHT 0.0;
           nothing abandoned -> avg_abandon_s and max_wait_s null; no FCR/CSAT -> null ratios

  a1 on 2024-03-04: 23:30 available 1200 s, 23:50 on_contact open to the day's end (600 s)
        -> occupancy 600 / 1800 = 1/3, handle 600 s, no contact, no schedule (null ratios)
  teams on 2024-03-01 (nobody worked): configured north ("North", occupancy target 0.85, AHT
        300 s) and west (no name, no targets), every figure zero or null, no interval
"""

from __future__ import annotations

from datetime import date as Date
from typing import Any

import httpx
import pytest

from floorwatch.api.csv_export import csv_filename, to_csv
from floorwatch.api.main import create_app
from floorwatch.readmodel.view import View
from tests.unit.readmodel.people_day import build_view, make_settings, put_interval, put_status
from tests.unit.shanghai_day import I_0930, NOW

VIEWER = {"Authorization": "Bearer viewer-secret"}
CSV = "text/csv; charset=utf-8"

pytestmark = pytest.mark.usefixtures("isolated_config")


@pytest.fixture
def view() -> View:
    v = build_view()
    put_interval(
        v, "support", I_0930, 0, None, "answered_over_offered", offered=4, answered=3, answered_within_sl=3, handled=3
    )
    return v


@pytest.fixture
def app(view: View) -> Any:
    return create_app(make_settings(), view=view, producer=None, clock=lambda: NOW)


def lines(*rows: str) -> str:
    return "".join(row + "\r\n" for row in rows)


STATS_HEADER = (
    "offered,answered,answered_within_sl,abandoned,short_abandoned,overflowed,service_level,abandon_rate,"
    "answer_rate,asa_s,aht_s,avg_abandon_s,max_wait_s,handled,transferred,transfer_rate,surveys,csat_avg,"
    "csat_satisfied,fcr_eligible,fcr_resolved,fcr,customer_contacts,repeat_contacts,repeat_rate"
)
PERF_HEADER = (
    "handled,talk_s,hold_s,wrap_s,aht_s,transfers,occupancy,handle_s,available_s,state_s.available,"
    "state_s.on_contact,state_s.wrap_up,state_s.aux,aux_s,adherence,conformance,fcr,csat_avg,surveys"
)


async def test_intervals_csv(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1/intervals?queue=support&format=csv", headers=VIEWER)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == CSV
    assert resp.headers["content-disposition"] == 'attachment; filename="floorwatch-intervals-2024-03-05.csv"'
    assert resp.headers["cache-control"] == "no-store"
    assert resp.text == lines(
        "start,end," + STATS_HEADER + ",rules.sl_threshold_s,rules.short_abandon_s,rules.sl_target,"
        "rules.sl_formula,mixed_rules",
        "2024-03-05T09:30:00+08:00,2024-03-05T10:00:00+08:00,4,3,3,0,0,0,1.0,0.0,1.0,0.0,0.0,,,3,0,0.0,0,,,"
        "0,0,,0,0,,20.0,5.0,0.8,answered_over_offered,false",
    )


async def test_agents_csv(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1/agents?team=south&format=csv", headers=VIEWER)
    assert resp.status_code == 200
    assert resp.headers["content-disposition"] == 'attachment; filename="floorwatch-agents-2024-03-05.csv"'
    # queues (a list) is one cell of JSON text, quoted by the csv rules; null cells empty
    assert resp.text == lines(
        "agent_id,name,team,queues,state,reason,since,scheduled_activity,in_adherence,out_of_adherence_since,exception",
        'a3,Cy,south,"[""support""]",logged_out,,2024-03-05T10:16:30+08:00,,,,',
    )


async def test_teams_csv_floor_first(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1/teams?date=2024-03-01&format=csv", headers=VIEWER)
    assert resp.status_code == 200
    assert resp.headers["content-disposition"] == 'attachment; filename="floorwatch-teams-2024-03-01.csv"'
    day = ",".join("day." + name for name in PERF_HEADER.split(","))
    zeros = "0,0.0,0.0,0.0,,0,,0.0,0.0,0.0,0.0,0.0,0.0,{},,,,,0,,0,0,0.0,[],"
    assert resp.text == lines(
        "id,name,agents,targets.occupancy,targets.adherence,targets.aht_s,"
        + day
        + ",day.shrinkage,day.absent,day.late_logins,day.scheduled_s,intervals,rolling_15m",
        "floor,,,,,," + zeros,
        "north,North,0,0.85,,300.0," + zeros,
        "west,west,0,,,," + zeros,
    )


async def test_performance_csv_day_row_then_intervals(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1/agents/a1/performance?date=2024-03-04&format=csv", headers=VIEWER)
    assert resp.status_code == 200
    assert resp.headers["content-disposition"] == 'attachment; filename="floorwatch-performance-2024-03-04.csv"'
    figures = "0,0.0,0.0,0.0,,0,0.3333333333333333,600.0,1200.0,1200.0,600.0,0.0,0.0,{},,,,,0"
    assert resp.text == lines(
        "start,end," + PERF_HEADER,
        ",," + figures,
        "2024-03-04T23:30:00+08:00,2024-03-05T00:00:00+08:00," + figures,
    )


async def test_quality_csv_lists(client: httpx.AsyncClient) -> None:
    agents = await client.get("/api/v1/quality?format=csv", headers=VIEWER)
    teams = await client.get("/api/v1/quality?format=csv&list=teams", headers=VIEWER)
    assert agents.headers["content-disposition"] == 'attachment; filename="floorwatch-quality-agents-2024-03-05.csv"'
    assert agents.text.split("\r\n")[0] == (
        "agent_id,name,team,fcr_eligible,fcr_resolved,fcr,surveys,csat_avg,csat_satisfied"
    )
    # north: a1's 2 resolved of 3, 2 surveys scoring 9 in all, both satisfied; a7 (no team) 1 of 1
    assert teams.text == lines(
        "team,agents,fcr_eligible,fcr_resolved,fcr,surveys,csat_avg,csat_satisfied",
        "north,1,3,2,0.6666666666666666,2,4.5,1.0",
        ",1,1,1,1.0,0,,",
    )


async def test_channels_csv_day_row_per_channel(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1/channels?date=2024-03-01&format=csv", headers=VIEWER)
    rows = resp.text.split("\r\n")
    assert rows[0].startswith("channel,queues,start,end,offered,")
    assert rows[1].startswith('voice,"[""support""]",,,0,0,')
    assert rows[2].startswith('chat,"[""sales""]",,,0,0,')
    assert rows[3:] == [""]


async def test_formula_like_text_is_escaped(client: httpx.AsyncClient, view: View) -> None:
    put_status(view, "a5", '=HYPERLINK("http://x")', "south", "aux", reason="@SUM(A1)")
    resp = await client.get("/api/v1/agents?team=south&format=csv", headers=VIEWER)
    assert resp.text.split("\r\n")[1] == (
        'a5,"\'=HYPERLINK(""http://x"")",south,"[""support""]",aux,\'@SUM(A1),2024-03-05T10:16:30+08:00,,,,'
    )
    # every risky first character is prefixed; numbers (even negative) and inner signs are not
    text = to_csv([{"a": "+1", "b": "-x", "c": "\tx", "d": -3, "e": "a=b", "f": "\rx"}])
    assert text == "a,b,c,d,e,f\r\n'+1,'-x,'\tx,-3,a=b,\"'\rx\"\r\n"


async def test_accept_header_asks_for_csv(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1/agents?team=south", headers={**VIEWER, "Accept": "text/csv"})
    assert resp.headers["content-type"] == CSV
    assert resp.text.startswith("agent_id,name,")
    # JSON preferred over CSV, or an explicit format=json: JSON
    json_first = {**VIEWER, "Accept": "application/json, text/csv;q=0.5"}
    assert (await client.get("/api/v1/agents?team=south", headers=json_first)).headers["content-type"] == (
        "application/json"
    )
    explicit = await client.get("/api/v1/agents?team=south&format=json", headers={**VIEWER, "Accept": "text/csv"})
    assert explicit.headers["content-type"] == "application/json"


async def test_json_unchanged_and_unknown_format(client: httpx.AsyncClient) -> None:
    plain = await client.get("/api/v1/agents?team=south", headers=VIEWER)
    explicit = await client.get("/api/v1/agents?team=south&format=json", headers=VIEWER)
    expected = [
        {
            "agent_id": "a3",
            "name": "Cy",
            "team": "south",
            "queues": ["support"],
            "state": "logged_out",
            "reason": None,
            "since": "2024-03-05T10:16:30+08:00",
            "scheduled_activity": None,
            "in_adherence": None,
            "out_of_adherence_since": None,
            "exception": None,
        }
    ]
    assert plain.json() == explicit.json() == expected
    assert plain.headers["content-type"] == "application/json"
    assert "content-disposition" not in plain.headers
    bad = await client.get("/api/v1/agents?format=xlsx", headers=VIEWER)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "format"]


async def test_empty_list_is_an_empty_body(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1/intervals?queue=support&date=2024-03-01&format=csv", headers=VIEWER)
    assert (resp.status_code, resp.headers["content-type"], resp.text) == (200, CSV, "")


@pytest.mark.parametrize(
    ("path", "name", "first_column"),
    [
        ("/api/v1/queues", "queues", "queue"),
        ("/api/v1/staffing?queue=support", "staffing", "start"),
        ("/api/v1/adherence?date=2024-03-04", "adherence", "agent_id"),
        ("/api/v1/alerts", "alerts", ""),
        ("/api/v1/channels", "channels", "channel"),
    ],
)
async def test_every_list_endpoint_answers_csv(
    client: httpx.AsyncClient, path: str, name: str, first_column: str
) -> None:
    sep = "&" if "?" in path else "?"
    resp = await client.get(f"{path}{sep}format=csv", headers=VIEWER)
    assert (resp.status_code, resp.headers["content-type"]) == (200, CSV)
    day = "2024-03-04" if "2024-03-04" in path else "2024-03-05"
    assert resp.headers["content-disposition"] == f'attachment; filename="floorwatch-{name}-{day}.csv"'
    assert resp.text.split("\r\n")[0].split(",")[0] == first_column  # no alert on this floor: empty body


def test_columns_give_an_empty_list_its_header_and_lead_the_order() -> None:
    assert to_csv([], columns=["start", "offered"]) == "start,offered\r\n"
    assert to_csv([{"offered": 3, "extra": "x"}], columns=["start", "offered"]) == "start,offered,extra\r\n,3,x\r\n"
    assert to_csv([]) == ""


def test_filename_carries_subject_and_range() -> None:
    assert csv_filename("intervals", Date(2026, 12, 1)) == "floorwatch-intervals-2026-12-01.csv"
    assert csv_filename("intervals", Date(2026, 12, 1), last=Date(2026, 12, 1)) == "floorwatch-intervals-2026-12-01.csv"
    assert (
        csv_filename("performance", Date(2026, 12, 1), last=Date(2026, 12, 7), subject="a/b 7")
        == "floorwatch-performance-a_b_7-2026-12-01_2026-12-07.csv"
    )
