"""GET /api/v1/agents/{agent_id}/performance, /api/v1/teams and /api/v1/channels over HTTP, on
the hand-built floor of tests/unit/readmodel/people_day.py (figures in its docstring), plus
channel partials:

  support (configured, voice)  09:30 p0: offered 4, answered 3 (3 within), handled 3
                               10:00 p0: offered 5, answered 4 (4 within), handled 3, transferred 1
  mystery (not configured, no channel recorded: queue_defaults' channel, voice)
                               09:30 p0: offered 1, answered 1 (0 within), handled 1
  sales (configured, chat, answered_over_answered)
                               10:00 p0: offered 2, answered 2 (1 within), handled 2, transferred 1
  webchat (not configured, partials record channel chat)
                               10:00 p1: offered 3, answered 1 (1 within), abandoned 2, handled 1
  support 2024-03-04 23:30: another day

  voice 09:30: offered 5, answered 4, within 3 -> SL 3/4; handled 4, transferred 0 -> 0.0
  voice 10:00: SL 4/4; transfer rate 1/3; day: offered 10, answered 8, within 7 -> 7/8, 1/7
  chat 10:00: formulas differ -> queue_defaults' answered_over_offered, mixed_rules;
       offered 5, answered 3, within 2, abandoned 2 -> SL 2/5; transfer rate 1/3
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from floorwatch.api.main import create_app
from floorwatch.readmodel.view import View
from tests.unit.readmodel.people_day import D, build_view, make_settings, put_interval
from tests.unit.shanghai_day import I_0930, I_1000, I_YESTERDAY, NOW

VIEWER = {"Authorization": "Bearer viewer-secret"}
INGEST = {"Authorization": "Bearer ingest-secret"}
AOO = "answered_over_offered"

pytestmark = pytest.mark.usefixtures("isolated_config")


@pytest.fixture
def view() -> View:
    v = build_view()
    put_interval(v, "support", I_0930, 0, None, AOO, offered=4, answered=3, answered_within_sl=3, handled=3)
    put_interval(
        v, "support", I_1000, 0, None, AOO, offered=5, answered=4, answered_within_sl=4, handled=3, transferred=1
    )
    put_interval(v, "mystery", I_0930, 0, None, AOO, offered=1, answered=1, handled=1)
    put_interval(
        v,
        "sales",
        I_1000,
        0,
        "chat",
        "answered_over_answered",
        offered=2,
        answered=2,
        answered_within_sl=1,
        handled=2,
        transferred=1,
    )
    put_interval(
        v, "webchat", I_1000, 1, "chat", AOO, offered=3, answered=1, answered_within_sl=1, abandoned=2, handled=1
    )
    put_interval(v, "support", I_YESTERDAY, 0, None, AOO, offered=9, answered=9, answered_within_sl=9, handled=9)
    assert v.bad_records == 0
    return v


@pytest.fixture
def app(view: View) -> Any:
    return create_app(make_settings(), view=view, producer=None, clock=lambda: NOW)


async def test_performance_defaults_to_today(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1/agents/a1/performance", headers=VIEWER)
    assert resp.status_code == 200
    body = resp.json()
    assert (body["date"], body["name"], body["team"], body["max_concurrent"]) == (D, "Ann", "north", {"chat": 2})
    assert (body["day"]["handled"], body["day"]["occupancy"], body["day"]["fcr"]) == (4, 2130 / 2550, 2 / 3)
    assert [r["start"] for r in body["intervals"]] == ["2024-03-05T09:30:00+08:00", "2024-03-05T10:00:00+08:00"]
    assert body["rolling_15m"]["occupancy"] == 780 / 900


async def test_performance_of_another_date(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1/agents/a1/performance", params={"date": "2024-03-04"}, headers=VIEWER)
    assert resp.status_code == 200
    body = resp.json()
    assert (body["date"], body["rolling_15m"], body["day"]["occupancy"]) == ("2024-03-04", None, 600 / 1800)


async def test_performance_unknown_agent_bad_date_and_roles(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1/agents/nobody/performance", headers=VIEWER)
    assert resp.status_code == 404
    assert "nobody" in resp.json()["detail"]
    assert (
        await client.get("/api/v1/agents/a1/performance", params={"date": "5 March"}, headers=VIEWER)
    ).status_code == 422
    assert (await client.get("/api/v1/agents/a1/performance")).status_code == 401
    assert (await client.get("/api/v1/agents/a1/performance", headers=INGEST)).status_code == 403


async def test_teams(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1/teams", headers=VIEWER)
    assert resp.status_code == 200
    body = resp.json()
    assert body["date"] == D
    assert [(t["id"], t["agents"]) for t in body["teams"]] == [("north", 2), ("west", 0), ("south", 1)]
    north = body["teams"][0]
    assert (north["day"]["occupancy"], north["day"]["late_logins"], north["rolling_15m"]["occupancy"]) == (
        2580 / 4500,
        1,
        1230 / 1800,
    )
    assert body["floor"]["day"]["absent"] == 1
    past = (await client.get("/api/v1/teams", params={"date": "2024-03-04"}, headers=VIEWER)).json()
    assert (past["date"], past["floor"]["rolling_15m"]) == ("2024-03-04", None)
    assert (await client.get("/api/v1/teams")).status_code == 401
    assert (await client.get("/api/v1/teams", headers=INGEST)).status_code == 403


async def test_channels(client: httpx.AsyncClient) -> None:
    resp = await client.get("/api/v1/channels", headers=VIEWER)
    assert resp.status_code == 200
    body = resp.json()
    assert body["date"] == D
    voice, chat = body["channels"]
    assert (voice["channel"], voice["queues"]) == ("voice", ["support", "mystery"])
    assert (chat["channel"], chat["queues"]) == ("chat", ["sales", "webchat"])
    assert [
        (r["start"], r["offered"], r["service_level"], r["transferred"], r["transfer_rate"]) for r in voice["intervals"]
    ] == [
        ("2024-03-05T09:30:00+08:00", 5, 3 / 4, 0, 0.0),
        ("2024-03-05T10:00:00+08:00", 5, 1.0, 1, 1 / 3),
    ]
    day = voice["day"]
    assert (day["offered"], day["answered"], day["service_level"], day["handled"], day["transfer_rate"]) == (
        10,
        8,
        7 / 8,
        7,
        1 / 7,
    )
    assert (day["sl_formula"], day["mixed_rules"]) == (AOO, False)
    (ten,) = chat["intervals"]
    assert (ten["offered"], ten["abandoned"], ten["service_level"], ten["transfer_rate"]) == (5, 2, 2 / 5, 1 / 3)
    assert (ten["sl_formula"], ten["mixed_rules"]) == (AOO, True)
    assert (chat["day"]["service_level"], chat["day"]["mixed_rules"]) == (2 / 5, True)
    past = (await client.get("/api/v1/channels", params={"date": "2024-03-04"}, headers=VIEWER)).json()
    assert [(c["channel"], c["queues"], c["day"]["offered"]) for c in past["channels"]] == [
        ("voice", ["support"], 9),
        ("chat", ["sales"], 0),
    ]
    assert (await client.get("/api/v1/channels", headers=INGEST)).status_code == 403
