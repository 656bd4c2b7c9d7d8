"""Forecast vs actual (``fw.forecasts`` in the API view, ``GET /api/v1/staffing``) and the live
required agents from the current interval's forecast, from hand-written records.

Asia/Shanghai (UTC+8), 30-minute intervals, now = 2024-03-05 10:17:30 local, queue ``support``
(T = 20 s, target 0.8). Erlang C by hand (Erlang B recursion B_n = A B_{n-1} / (n + A B_{n-1}),
C = n B_n / (n - A (1 - B_n)), SL = 1 - C exp(-(n - A) T / AHT)):

* 10 offered, AHT 180 s in 1,800 s: A = 1.0; n = 2: B = 0.2, C = 1/3, SL = 0.702; n = 3:
  B = 0.0625, C = 0.0909, SL = 0.927 -> **3**
* 20 offered, AHT 200 s: A = 2.222; n = 3: SL = 0.488; n = 4: B = 0.1190, C = 0.2331,
  SL = 0.805 -> **4**
* 4 offered, AHT 150 s: A = 0.333; n = 1: SL = 0.695; n = 2: B = 0.04, C = 0.0476,
  SL = 0.962 -> **2**
* 300 offered, AHT 240 s: A = 40 -> **46** (as tests/unit/readmodel/test_live_staffing.py)
"""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
import pytest

from floorwatch import records, topics
from floorwatch.api.main import create_app
from floorwatch.config import Settings
from floorwatch.domain.queue_metrics import Counts
from floorwatch.readmodel import queries
from floorwatch.readmodel.view import View
from tests.unit.api.asgi import asgi_client
from tests.unit.settings_factory import floor_settings
from tests.unit.shanghai_day import NOW, RULES, local_ms

DAY = date(2024, 3, 5)
VIEWER = {"Authorization": "Bearer viewer-secret"}

pytestmark = pytest.mark.usefixtures("isolated_config")


def make_settings() -> Settings:
    return floor_settings(
        queues=[
            {"id": "support", "name": "Support", "channel": "voice", "sl_threshold_s": 20, "sl_target": 0.8},
            {"id": "sales", "name": "Sales", "channel": "chat", "sl_threshold_s": 20, "sl_target": 0.8},
        ]
    )


def forecast(
    eid: str, ts: str, queue: str, intervals: list[tuple[str, float, float]], minutes: int = 30, day: str = "2024-03-05"
) -> dict[str, Any]:
    return {
        "event_id": eid,
        "type": "forecast.published",
        "ts": f"{ts}+08:00",
        "queue": queue,
        "date": day,
        "interval_minutes": minutes,
        "intervals": [{"start": f"{day}T{hhmm}:00+08:00", "offered": o, "aht_s": a} for hhmm, o, a in intervals],
    }


def put_forecast(view: View, event: dict[str, Any] | bytes) -> bool:
    value = event if isinstance(event, bytes) else orjson.dumps(event)
    return view.apply(topics.FORECASTS, b"support", value)


def put_interval(view: View, queue: str, start: str, partition: int, **counts: int) -> None:
    start_ms = local_ms(start)
    record = {
        "queue": queue,
        "start_ms": start_ms,
        "end_ms": start_ms + 1_800_000,
        "partition": partition,
        "counts": Counts(**counts).as_dict(),
        "rules": RULES,
        "mixed_rules": False,
        "updated_ms": start_ms + 60_000,
    }
    view.apply(topics.INTERVAL_STATS, records.interval_key(queue, start_ms, partition).encode(), orjson.dumps(record))


def put_queue(view: View, queue: str, r15: Counts, r60: Counts) -> None:
    record = {
        "queue": queue,
        "partition": 0,
        "waiting": 0,
        "oldest_waiting_ms": None,
        "rolling_15m": r15.as_dict(),
        "rolling_60m": r60.as_dict(),
        "computed_ms": NOW - 1_000,
    }
    view.apply(topics.QUEUE_STATS, records.queue_key(queue, 0).encode(), orjson.dumps(record))


EARLY = forecast("f-1", "2024-03-04T20:00:00", "support", [("09:30", 10, 180), ("10:00", 300, 240)])
LATER = forecast("f-2", "2024-03-05T08:00:00", "support", [("09:30", 10, 180), ("10:00", 20, 200), ("11:00", 0, 200)])
ROLLING_15M = Counts(offered=150)  # with the 60-minute AHT of 240 s -> 46 agents
ROLLING_60M = Counts(handled=10, talk_ms=2_000_000, hold_ms=200_000, wrap_ms=200_000)


def floor_view() -> View:
    v = View()
    assert put_forecast(v, LATER)
    assert put_forecast(v, EARLY)  # older publication read later: ignored
    # actuals: 09:30 offered 12 over two partitions, 2 handled, AHT 400 s / 2 = 200 s
    put_interval(v, "support", "2024-03-05T09:30:00", 0, offered=7, answered=2, handled=2, talk_ms=300_000)
    put_interval(v, "support", "2024-03-05T09:30:00", 1, offered=5, answered=0, talk_ms=0, handled=0, wrap_ms=100_000)
    # 10:00 offered 25, none handled yet; 10:30 offered 4, handled 4 with AHT 150 s (no forecast)
    put_interval(v, "support", "2024-03-05T10:00:00", 0, offered=25, answered=20, waiting=5)
    put_interval(v, "support", "2024-03-05T10:30:00", 2, offered=4, answered=4, handled=4, talk_ms=600_000)
    for q in ("support", "sales"):
        put_queue(v, q, ROLLING_15M, ROLLING_60M)
    # staffing history: logged-in ms per interval (fw.adherence) x current profile (fw.agent-status)
    for aid, queues, logged_in in (
        ("a1", ["support"], {"09:30": 1_800_000, "10:00": 900_000}),
        ("a2", ["support", "sales"], {"09:30": 600_000, "10:00": 1_050_000}),  # in until now (10:17:30)
        ("a3", ["sales"], {"09:30": 1_800_000}),  # does not serve support
    ):
        v.apply(topics.AGENT_STATUS, aid.encode(), orjson.dumps({"agent_id": aid, "queues": queues}))
        v.apply(
            topics.ADHERENCE,
            f"{aid}|2024-03-05".encode(),
            orjson.dumps(
                {
                    "agent_id": aid,
                    "date": "2024-03-05",
                    "logged_in_ms": {str(local_ms(f"2024-03-05T{t}:00")): ms for t, ms in logged_in.items()},
                }
            ),
        )
    return v


# --- the view: latest publication per (queue, date), whatever the order ----------------------


def test_latest_publication_wins_in_any_order_and_bad_records_are_skipped() -> None:
    a, b = View(), View()
    for e in (EARLY, LATER):
        put_forecast(a, e)
    for e in (LATER, EARLY, LATER):  # reversed, and a duplicate
        put_forecast(b, e)
    assert a.forecasts == b.forecasts
    f = a.forecasts[("support", "2024-03-05")]
    assert f.event_id == "f-2" and f.interval_minutes == 30
    assert f.intervals[1] == (local_ms("2024-03-05T10:00:00"), 20.0, 200.0)
    # same ts: the larger event_id wins (the (ts, event_id) order), again in any order
    tie = {**LATER, "event_id": "f-3", "intervals": [{"start": "2024-03-05T10:00:00+08:00", "offered": 1, "aht_s": 1}]}
    put_forecast(a, tie)
    put_forecast(b, tie)
    put_forecast(b, LATER)
    assert a.forecasts[("support", "2024-03-05")].event_id == b.forecasts[("support", "2024-03-05")].event_id == "f-3"
    # another date or queue is another slot
    put_forecast(a, forecast("f-4", "2024-03-05T08:00:00", "support", [("10:00", 1, 1)], day="2024-03-06"))
    assert set(a.forecasts) == {("support", "2024-03-05"), ("support", "2024-03-06")}
    # invalid input on the raw topic: counted, skipped, nothing changes
    before = dict(a.forecasts)
    bad = [
        b"not json",
        orjson.dumps({**LATER, "intervals": [{"start": "x", "offered": -1, "aht_s": 1}]}),
        orjson.dumps(
            {
                "event_id": "c",
                "type": "contact.offered",
                "ts": "2024-03-05T10:00:00+08:00",
                "contact_id": "c1",
                "queue": "support",
                "channel": "voice",
            }
        ),
    ]
    for raw in bad:
        assert put_forecast(a, raw) is False
    assert a.bad_records == 3 and a.forecasts == before
    assert a.apply(topics.FORECASTS, b"support", None) is True and a.forecasts == before  # null: nothing


def test_forecast_intervals_are_spread_by_overlap() -> None:
    v = View()
    # 15-minute forecast into 30-minute intervals: 6 @ 100 s + 4 @ 150 s -> 10 @ 120 s
    put_forecast(v, forecast("q1", "2024-03-05T07:00:00", "sales", [("10:00", 6, 100), ("10:15", 4, 150)], minutes=15))
    f15 = v.forecasts[("sales", "2024-03-05")]
    assert queries.forecast_for_interval(f15, local_ms("2024-03-05T10:00:00"), local_ms("2024-03-05T10:30:00")) == (
        10.0,
        120.0,
    )
    assert queries.forecast_for_interval(f15, local_ms("2024-03-05T10:30:00"), local_ms("2024-03-05T11:00:00")) is None
    # a 60-minute forecast splits in halves; all-zero volume keeps the AHT
    put_forecast(v, forecast("q2", "2024-03-05T07:00:00", "sales", [("09:00", 20, 100), ("11:00", 0, 90)], minutes=60))
    f60 = v.forecasts[("sales", "2024-03-05")]
    assert queries.forecast_for_interval(f60, local_ms("2024-03-05T09:30:00"), local_ms("2024-03-05T10:00:00")) == (
        10.0,
        100.0,
    )
    assert queries.forecast_for_interval(f60, local_ms("2024-03-05T11:30:00"), local_ms("2024-03-05T12:00:00")) == (
        0.0,
        90.0,
    )


# --- GET /api/v1/staffing ---------------------------------------------------------------------


EXPECTED = [
    {
        "start": "2024-03-05T09:30:00+08:00",
        "end": "2024-03-05T10:00:00+08:00",
        "forecast_offered": 10.0,
        "forecast_aht_s": 180.0,
        "actual_offered": 12,
        "actual_aht_s": 200.0,
        "offered_variance": 2.0,
        "aht_variance_s": 20.0,
        "required_agents": 3,
        "required_agents_over_cap": False,
        "required_from": "forecast",
        "avg_staffed_agents": (1_800_000 + 600_000) / 1_800_000,
    },
    {
        "start": "2024-03-05T10:00:00+08:00",
        "end": "2024-03-05T10:30:00+08:00",
        "forecast_offered": 20.0,
        "forecast_aht_s": 200.0,
        "actual_offered": 25,
        "actual_aht_s": None,
        "offered_variance": 5.0,
        "aht_variance_s": None,
        "required_agents": 4,
        "required_agents_over_cap": False,
        "required_from": "forecast",
        "avg_staffed_agents": (900_000 + 1_050_000) / 1_050_000,
    },
    {
        "start": "2024-03-05T10:30:00+08:00",
        "end": "2024-03-05T11:00:00+08:00",
        "forecast_offered": None,
        "forecast_aht_s": None,
        "actual_offered": 4,
        "actual_aht_s": 150.0,
        "offered_variance": None,
        "aht_variance_s": None,
        "required_agents": 2,
        "required_agents_over_cap": False,
        "required_from": "actual",
        "avg_staffed_agents": None,
    },
    {
        "start": "2024-03-05T11:00:00+08:00",
        "end": "2024-03-05T11:30:00+08:00",
        "forecast_offered": 0.0,
        "forecast_aht_s": 200.0,
        "actual_offered": 0,
        "actual_aht_s": None,
        "offered_variance": 0.0,
        "aht_variance_s": None,
        "required_agents": 0,
        "required_agents_over_cap": False,
        "required_from": "forecast",
        "avg_staffed_agents": None,
    },
]


# average staffed agents: a1 + a2 (a3 does not serve support); the 10:00 interval has run
# 17.5 min (1,050,000 ms) at NOW, later ones have not begun
ALL_PAST = [(1_800_000 + 600_000) / 1_800_000, (900_000 + 1_050_000) / 1_800_000, 0.0, 0.0]


def test_day_staffing_by_hand() -> None:
    rows = queries.day_staffing(floor_view(), make_settings(), "support", DAY, NOW)
    assert rows == EXPECTED
    # read as a past day (no "now"): whole intervals
    assert [
        r["avg_staffed_agents"] for r in queries.day_staffing(floor_view(), make_settings(), "support", DAY)
    ] == ALL_PAST
    # other days and queues: nothing (the forecast is for 2024-03-05 only)
    assert queries.day_staffing(floor_view(), make_settings(), "support", date(2024, 3, 4)) == []
    assert queries.day_staffing(floor_view(), make_settings(), "sales", DAY) == []


async def test_staffing_endpoint() -> None:
    app = create_app(make_settings(), view=floor_view(), producer=None, clock=lambda: NOW)
    async with asgi_client(app) as c:
        r = await c.get("/api/v1/staffing", params={"queue": "support", "date": "2024-03-05"}, headers=VIEWER)
        assert r.status_code == 200, r.text
        assert r.json() == EXPECTED
        r = await c.get("/api/v1/staffing", params={"queue": "support"}, headers=VIEWER)  # today = 2024-03-05
        assert r.json() == EXPECTED
        assert (await c.get("/api/v1/staffing", params={"queue": "support"})).status_code == 401
        assert (await c.get("/api/v1/staffing", headers=VIEWER)).status_code == 422  # queue is required


# --- live required agents: the current interval's forecast, else rolling -----------------------


def test_live_required_agents_from_the_forecast_else_rolling() -> None:
    view = floor_view()
    tiles = {t["queue"]: t for t in queries.queues_overview(view, make_settings(), NOW)}
    assert tiles["support"]["required_agents"] == 4  # 10:00 forecast: 20 @ 200 s (not the rolling 46)
    assert tiles["sales"]["required_agents"] == 46  # no forecast: rolling 15 min rate, 60 min AHT
    # at 10:45 support has no forecast interval: back to rolling
    later = local_ms("2024-03-05T10:45:00")
    assert queries.queues_overview(view, make_settings(), later)[0]["required_agents"] == 46
    # a forecast with offered > 0 but AHT 0 is unusable: rolling
    assert queries.live_required_agents(ROLLING_15M, ROLLING_60M, RULES, (10.0, 0.0, 1800.0)) == 46
    assert queries.live_required_agents(ROLLING_15M, ROLLING_60M, RULES, (300.0, 240.0, 1800.0)) == 46
    assert queries.live_required_agents(Counts(), Counts(), RULES, (10.0, 180.0, 1800.0)) == 3
    assert queries.live_required_agents(Counts(), Counts(), RULES, None) is None


def test_metrics_required_agents_use_the_forecast() -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from floorwatch.api.metrics import ViewCollector

    registry = CollectorRegistry()
    registry.register(ViewCollector(floor_view(), make_settings(), lambda: NOW))
    samples = {
        (s.name, s.labels["queue"]): s.value
        for fam in text_string_to_metric_families(generate_latest(registry).decode())
        for s in fam.samples
        if s.name in ("floorwatch_queue_required_agents", "floorwatch_queue_staffing_gap_agents")
    }
    assert samples[("floorwatch_queue_required_agents", "support")] == 4  # forecast
    assert samples[("floorwatch_queue_required_agents", "sales")] == 46  # rolling
    assert samples[("floorwatch_queue_staffing_gap_agents", "support")] == 4  # nobody staffed


def test_a_forecast_beyond_the_caps_left_in_the_topic_is_a_bad_record() -> None:
    """A forecast stored before the caps existed (offered 1e9) is read again by every API that
    starts: the view refuses it with the contract's limits, configured ones included."""
    from floorwatch.events import EventLimits

    huge = forecast("f-huge", "2024-03-05T08:00:00", "support", [("09:00", 1e9, 1e4)])
    assert put_forecast(View(), huge) is False
    ok = forecast("f-ok", "2024-03-05T08:00:00", "support", [("09:00", 150_000, 240)])
    assert put_forecast(View(), ok) is False  # over the default 100,000 offered per interval
    roomy = View(EventLimits(max_forecast_offered=200_000))
    assert put_forecast(roomy, ok) is True and roomy.forecasts[("support", "2024-03-05")].event_id == "f-ok"
