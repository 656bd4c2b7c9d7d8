"""GET /api/v1/queues and /api/v1/intervals from hand-written partials of two partitions.

Time zone Asia/Shanghai (UTC+8, no DST), 30-minute intervals, now = 2024-03-05 10:17:30 local.

Queue ``support`` (config: T=20 s, target 0.8, answered_over_offered):

  interval 10:00 (current)  partition 0: offered 4 (1 still waiting), A=3, A_T=2, answer waits 5+10+15 s,
                                         handled 2: talk 200 s, hold 20 s, wrap 20 s, max wait 15 s
                            partition 1: offered 3, A=1 (A_T=1, wait 4 s), B=2 (S=1, B_T=1; the long
                                         one waited 40 s), handled 1: talk 100 s, wrap 10 s, max wait 40 s
      sum: offered 7, A=4, A_T=3, B=2, S=1, F=0 -> N = 4 + (2-1) + 0 = 5
           service level 3/5 = 0.6, abandon rate 1/5 = 0.2, answer rate 4/5 = 0.8,
           ASA (5+10+15+4)/4 = 8.5 s, AHT (200+20+20+100+10)/3 = 350/3 s, avg abandon 40 s, max wait 40 s
  interval 09:30            partition 0: offered 2, A=2, A_T=2, waits 1+3 s, handled 2 talk 120 s
  interval 2024-03-04 23:30 partition 1: offered 5, A=5, A_T=5 (yesterday: not in today)
  today = 10:00 + 09:30: offered 9, A=6, A_T=5, B=2, S=1 -> N=7, service level 5/7

  queue partials: p0 waiting 1 oldest now-45 s, p1 waiting 2 oldest now-90.5 s -> waiting 3, longest 90.5 s
                  rolling_15m p0 {offered 3, A 2, A_T 1}, p1 {offered 2, A 1, A_T 1, B 1}
                  -> offered 5, A=3, A_T=2, B=1, N=4, service level 0.5
"""

from __future__ import annotations

import httpx
import orjson
import pytest

from floorwatch import records, topics
from floorwatch.api.main import create_app
from floorwatch.config import Settings
from floorwatch.domain.queue_metrics import Counts
from floorwatch.readmodel import queries
from floorwatch.readmodel.view import View
from tests.unit.contact_fields import NO_QUALITY_STATS
from tests.unit.settings_factory import SUPPORT_AND_SALES, floor_settings
from tests.unit.shanghai_day import HALF_HOUR, I_0930, I_1000, I_YESTERDAY, NOW, RULES, local_ms

VIEWER = {"Authorization": "Bearer viewer-secret"}


pytestmark = pytest.mark.usefixtures("isolated_config")


def make_settings() -> Settings:
    return floor_settings(queues=SUPPORT_AND_SALES)


def counts(**kw: int | None) -> dict:
    return Counts(**kw).as_dict()  # type: ignore[arg-type]


def put_interval(
    view: View, queue: str, start: int, partition: int, c: dict, rules: dict = RULES, updated: int | None = None
) -> None:
    record = {
        "queue": queue,
        "start_ms": start,
        "end_ms": start + HALF_HOUR,
        "partition": partition,
        "counts": c,
        "rules": rules,
        "mixed_rules": False,
        "updated_ms": updated if updated is not None else start + 60_000,
    }
    view.apply(topics.INTERVAL_STATS, records.interval_key(queue, start, partition).encode(), orjson.dumps(record))


def put_queue(
    view: View, queue: str, partition: int, waiting: int, oldest: int | None, r15: dict, computed: int
) -> None:
    record = {
        "queue": queue,
        "partition": partition,
        "waiting": waiting,
        "oldest_waiting_ms": oldest,
        "rolling_15m": r15,
        "rolling_60m": r15,
        "computed_ms": computed,
    }
    view.apply(topics.QUEUE_STATS, records.queue_key(queue, partition).encode(), orjson.dumps(record))


def put_agent(view: View, agent_id: str, queues: list[str], state: str) -> None:
    record = {
        "agent_id": agent_id,
        "name": agent_id.upper(),
        "team": "t1",
        "queues": queues,
        "state": state,
        "reason": "break" if state == "aux" else None,
        "since_ms": NOW - 60_000,
        "updated_ms": NOW - 60_000,
    }
    view.apply(topics.AGENT_STATUS, agent_id.encode(), orjson.dumps(record))


P0_1000 = counts(
    offered=4,
    waiting=1,
    answered=3,
    answered_within_sl=2,
    wait_answered_ms=30_000,
    handled=2,
    talk_ms=200_000,
    hold_ms=20_000,
    wrap_ms=20_000,
    max_wait_ms=15_000,
)
P1_1000 = counts(
    offered=3,
    answered=1,
    answered_within_sl=1,
    wait_answered_ms=4_000,
    abandoned=2,
    short_abandoned=1,
    abandoned_within_sl=1,
    wait_abandoned_ms=40_000,
    handled=1,
    talk_ms=100_000,
    wrap_ms=10_000,
    max_wait_ms=40_000,
)
P0_0930 = counts(
    offered=2, answered=2, answered_within_sl=2, wait_answered_ms=4_000, handled=2, talk_ms=120_000, max_wait_ms=3_000
)
P1_YESTERDAY = counts(offered=5, answered=5, answered_within_sl=5, wait_answered_ms=5_000, max_wait_ms=1_000)


@pytest.fixture
def view() -> View:
    v = View()
    put_interval(v, "support", I_1000, 0, P0_1000, updated=NOW - 3_000)
    put_interval(v, "support", I_1000, 1, P1_1000, updated=NOW - 2_000)
    put_interval(v, "support", I_0930, 0, P0_0930)
    put_interval(v, "support", I_YESTERDAY, 1, P1_YESTERDAY)
    put_queue(v, "support", 0, 1, NOW - 45_000, counts(offered=3, answered=2, answered_within_sl=1), NOW - 1_000)
    put_queue(
        v, "support", 1, 2, NOW - 90_500, counts(offered=2, answered=1, answered_within_sl=1, abandoned=1), NOW - 500
    )
    # a queue not in the config, measured with its own rules
    put_interval(
        v,
        "billing",
        I_1000,
        3,
        counts(offered=2, answered=2, answered_within_sl=1, wait_answered_ms=30_000),
        rules={**RULES, "sl_formula": "answered_over_answered", "sl_threshold_s": 15.0},
    )
    put_agent(v, "a1", ["support", "sales"], "available")
    put_agent(v, "a2", ["support"], "on_contact")
    put_agent(v, "a3", ["support"], "aux")
    put_agent(v, "a4", ["support"], "logged_out")
    put_agent(v, "a5", ["sales"], "wrap_up")
    return v


@pytest.fixture
def app(view: View):  # type: ignore[no-untyped-def]
    return create_app(make_settings(), view=view, producer=None, clock=lambda: NOW)


async def get_queues(client: httpx.AsyncClient) -> dict[str, dict]:
    r = await client.get("/api/v1/queues", headers=VIEWER)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [q["queue"] for q in body] == ["support", "sales", "billing"]  # config order, then others
    return {q["queue"]: q for q in body}


async def test_current_interval_sums_both_partitions(client: httpx.AsyncClient) -> None:
    interval = (await get_queues(client))["support"]["interval"]
    assert interval == {
        "offered": 7,
        "answered": 4,
        "answered_within_sl": 3,
        "abandoned": 2,
        "short_abandoned": 1,
        "overflowed": 0,
        "service_level": 0.6,
        "abandon_rate": 0.2,
        "answer_rate": 0.8,
        "asa_s": 8.5,
        "aht_s": pytest.approx(350 / 3),
        "avg_abandon_s": 40.0,
        "max_wait_s": 40.0,
        "handled": 3,
        "transferred": 0,
        "transfer_rate": 0.0,
        **NO_QUALITY_STATS,
        "start": "2024-03-05T10:00:00+08:00",
        "end": "2024-03-05T10:30:00+08:00",
    }


async def test_live_figures(client: httpx.AsyncClient) -> None:
    support = (await get_queues(client))["support"]
    assert support["name"] == "Support" and support["channel"] == "voice"
    assert support["waiting"] == 3
    assert support["longest_wait_s"] == 90.5
    assert support["agents"] == {"staffed": 3, "available": 1, "on_contact": 1, "wrap_up": 0, "aux": 1}
    assert support["required_agents"] is None
    assert support["sl_target"] == 0.8 and support["sl_threshold_s"] == 20.0
    r15 = support["rolling_15m"]
    assert (r15["offered"], r15["answered"], r15["answered_within_sl"], r15["abandoned"]) == (5, 3, 2, 1)
    assert r15["service_level"] == 0.5
    assert support["rolling_60m"]["service_level"] == 0.5
    assert support["updated_at"] == "2024-03-05T10:17:29.500+08:00"  # latest computed_ms


async def test_today_is_the_sum_of_todays_intervals(client: httpx.AsyncClient) -> None:
    today = (await get_queues(client))["support"]["today"]
    assert (today["offered"], today["answered"], today["answered_within_sl"]) == (9, 6, 5)
    assert (today["abandoned"], today["short_abandoned"]) == (2, 1)
    assert today["service_level"] == pytest.approx(5 / 7)
    assert today["asa_s"] == pytest.approx((34 + 4) / 6)
    assert today["max_wait_s"] == 40.0

    r = await client.get("/api/v1/intervals", params={"queue": "support", "date": "2024-03-05"}, headers=VIEWER)
    rows = r.json()
    for key in ("offered", "answered", "answered_within_sl", "abandoned", "short_abandoned", "overflowed", "handled"):
        assert today[key] == sum(row[key] for row in rows)


async def test_queue_without_data_and_unconfigured_queue(client: httpx.AsyncClient) -> None:
    tiles = await get_queues(client)
    sales = tiles["sales"]
    assert sales["name"] == "Sales" and sales["channel"] == "chat"
    assert sales["waiting"] == 0 and sales["longest_wait_s"] is None
    assert sales["agents"] == {"staffed": 2, "available": 1, "on_contact": 0, "wrap_up": 1, "aux": 0}
    assert sales["interval"]["offered"] == 0 and sales["interval"]["service_level"] is None
    assert sales["today"]["abandon_rate"] is None and sales["today"]["asa_s"] is None
    assert sales["sl_target"] == 0.9 and sales["updated_at"] is None

    billing = tiles["billing"]
    assert billing["name"] == "billing"  # queue_defaults, named by its id
    assert billing["sl_threshold_s"] == 15.0  # rules recorded with the partial
    assert billing["interval"]["service_level"] == 0.5  # answered_over_answered: 1/2
    assert billing["agents"]["staffed"] == 0


async def test_longest_wait_follows_the_clock(view: View) -> None:
    settings = make_settings()
    tile = queries.queue_tile(view, settings, "support", NOW + 9_500)
    assert tile["longest_wait_s"] == 100.0
    put_queue(view, "support", 1, 0, None, counts(), NOW)  # partition 1 no longer has anyone waiting
    tile = queries.queue_tile(view, settings, "support", NOW)
    assert tile["waiting"] == 1 and tile["longest_wait_s"] == 45.0
    put_queue(view, "support", 0, 0, None, counts(), NOW)
    assert queries.queue_tile(view, settings, "support", NOW)["longest_wait_s"] is None


async def test_next_interval_starts_empty(view: View) -> None:
    tile = queries.queue_tile(view, make_settings(), "support", I_1000 + HALF_HOUR)
    assert tile["interval"]["start"] == "2024-03-05T10:30:00+08:00"
    assert tile["interval"]["offered"] == 0
    assert tile["today"]["offered"] == 9  # still today


async def test_midnight_rolls_today_over(view: View) -> None:
    tile = queries.queue_tile(view, make_settings(), "support", local_ms("2024-03-04T23:59:59"))
    assert tile["today"]["offered"] == 5  # yesterday's own interval only
    assert tile["interval"]["offered"] == 5


async def test_tombstone_deletes_a_partial(client: httpx.AsyncClient, view: View) -> None:
    view.apply(topics.INTERVAL_STATS, records.interval_key("support", I_1000, 1).encode(), None)
    interval = (await get_queues(client))["support"]["interval"]
    assert (interval["offered"], interval["answered"], interval["answered_within_sl"]) == (4, 3, 2)
    assert interval["service_level"] == pytest.approx(2 / 3)
    assert interval["abandoned"] == 0 and interval["max_wait_s"] == 15.0

    view.apply(topics.QUEUE_STATS, records.queue_key("support", 1).encode(), None)
    view.apply(topics.AGENT_STATUS, b"a2", None)
    support = (await get_queues(client))["support"]
    assert support["waiting"] == 1 and support["longest_wait_s"] == 45.0
    assert support["agents"]["staffed"] == 2 and support["agents"]["on_contact"] == 0


async def test_intervals_of_a_day(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/intervals", params={"queue": "support", "date": "2024-03-05"}, headers=VIEWER)
    assert r.status_code == 200, r.text
    rows = r.json()
    assert [(x["start"], x["end"]) for x in rows] == [
        ("2024-03-05T09:30:00+08:00", "2024-03-05T10:00:00+08:00"),
        ("2024-03-05T10:00:00+08:00", "2024-03-05T10:30:00+08:00"),
    ]
    first, second = rows
    assert (first["offered"], first["answered"], first["service_level"], first["asa_s"]) == (2, 2, 1.0, 2.0)
    assert first["aht_s"] == 60.0 and first["max_wait_s"] == 3.0
    assert second["service_level"] == 0.6 and second["abandon_rate"] == 0.2 and second["offered"] == 7
    assert second["rules"] == RULES and second["mixed_rules"] is False

    r = await client.get("/api/v1/intervals", params={"queue": "support", "date": "2024-03-04"}, headers=VIEWER)
    assert [(x["start"], x["offered"]) for x in r.json()] == [("2024-03-04T23:30:00+08:00", 5)]


async def test_intervals_default_to_today(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/intervals", params={"queue": "support"}, headers=VIEWER)
    assert len(r.json()) == 2


async def test_intervals_skip_empty_and_flag_mixed_rules(client: httpx.AsyncClient, view: View) -> None:
    put_interval(view, "support", I_0930 - HALF_HOUR, 0, counts())  # every contact retracted: no contacts
    put_interval(view, "support", I_0930, 1, counts(offered=1, waiting=1), rules={**RULES, "sl_threshold_s": 30.0})
    r = await client.get("/api/v1/intervals", params={"queue": "support", "date": "2024-03-05"}, headers=VIEWER)
    rows = r.json()
    assert [x["start"][11:16] for x in rows] == ["09:30", "10:00"]
    assert rows[0]["offered"] == 3 and rows[0]["mixed_rules"] is True
    assert rows[0]["rules"]["sl_threshold_s"] == 20.0  # lowest partition's rules


@pytest.mark.parametrize(
    "params",
    [
        {"queue": "nope", "date": "2024-03-05"},
        {"queue": "support", "date": "2023-01-01"},
        {"queue": "support", "date": "9999-12-31"},
        {"queue": "support", "date": "0001-01-01"},
    ],
)
async def test_intervals_without_data_are_empty(client: httpx.AsyncClient, params: dict) -> None:
    r = await client.get("/api/v1/intervals", params=params, headers=VIEWER)
    assert (r.status_code, r.json()) == (200, [])


@pytest.mark.parametrize(
    "params",
    [
        {"queue": "support", "date": "2024-13-01"},
        {"queue": "support", "date": "yesterday"},
        {"queue": "support", "date": "2024-02-30"},
        {"date": "2024-03-05"},
        {"queue": "", "date": "2024-03-05"},
    ],
)
async def test_intervals_bad_input_is_422(client: httpx.AsyncClient, params: dict) -> None:
    r = await client.get("/api/v1/intervals", params=params, headers=VIEWER)
    assert r.status_code == 422, r.text
    assert isinstance(r.json()["detail"], list)


def test_csat_sums_partitions_per_interval_and_today() -> None:
    # sales: 10:00 p0 surveys 2 (scores 5+4), p1 surveys 1 (score 2); 09:30 p0 surveys 1 (score 3);
    # yesterday 23:30 p1 survey 1 (score 5), not in today.
    # interval 10:00: 3 surveys, sum 11, satisfied 2 -> avg 11/3, satisfied 2/3
    # today: 4 surveys, sum 14, satisfied 2 -> avg 3.5, satisfied 0.5
    view = View()
    put_interval(view, "sales", I_1000, 0, counts(offered=2, answered=2, surveys=2, score_sum=9, satisfied=2))
    put_interval(view, "sales", I_1000, 1, counts(offered=1, answered=1, surveys=1, score_sum=2, satisfied=0))
    put_interval(view, "sales", I_0930, 0, counts(offered=1, answered=1, surveys=1, score_sum=3, satisfied=0))
    put_interval(view, "sales", I_YESTERDAY, 1, counts(offered=1, answered=1, surveys=1, score_sum=5, satisfied=1))
    put_interval(view, "support", I_1000, 0, counts(offered=1, answered=1))
    tiles = {t["queue"]: t for t in queries.queues_overview(view, make_settings(), NOW)}
    sales = tiles["sales"]
    assert sales["interval"]["surveys"] == 3
    assert sales["interval"]["csat_avg"] == pytest.approx(11 / 3)
    assert sales["interval"]["csat_satisfied"] == pytest.approx(2 / 3)
    assert (sales["today"]["surveys"], sales["today"]["csat_avg"], sales["today"]["csat_satisfied"]) == (4, 3.5, 0.5)
    support = tiles["support"]["interval"]
    assert (support["surveys"], support["csat_avg"], support["csat_satisfied"]) == (0, None, None)
    from datetime import date

    rows = {r["start"]: r for r in queries.day_intervals(view, make_settings(), "sales", date(2024, 3, 5))}
    assert rows["2024-03-05T09:30:00+08:00"]["csat_avg"] == 3.0
    assert rows["2024-03-05T09:30:00+08:00"]["csat_satisfied"] == 0.0
