"""fw.quality-stats in the View, GET /api/v1/quality, and FCR in the STATS of /queues and /intervals.

Asia/Shanghai (UTC+8, no DST), 30-minute intervals, now = 2024-03-05 10:17:30 local, FCR window 12 h;
hand-written records of floorwatch.records.

Agent-day partials of 2024-03-05 (agent status: a1 "Ann" and a2 "Bob" in team north, a3 "Cy" in
team south, a9 without a status):

  a1  fcr_agent  p0: eligible 3, resolved 2   p1: eligible 2, resolved 1   -> 5 / 3, fcr 0.6
      csat_agent p0: 2 surveys, sum 9, satisfied 2   p2: 1 survey, sum 2, satisfied 0
                                                     -> 3 surveys, avg 11/3, satisfied 2/3
  a2  fcr_agent  p1: eligible 4, resolved 4          -> fcr 1.0; no survey -> csat None
  a3  csat_agent p0: 2 surveys, sum 6, satisfied 1   -> avg 3.0, satisfied 0.5; fcr None (0/0)
  a9  fcr_agent  p0: eligible 1, resolved 0          -> fcr 0.0
      csat_agent p1: 1 survey, sum 5, satisfied 1    -> avg 5.0, satisfied 1.0
  a1 on 2024-03-04: eligible 10, resolved 10 (another day)

  teams: north (a1 + a2): eligible 9, resolved 7 -> 7/9; 3 surveys, sum 11, satisfied 2
         south (a3): as a3;   null (a9): as a9

FCR interval partials of queue support (partitions of fw.customer-contacts):

  10:00  p0: customer 4, repeat 1, eligible 3, resolved 2
         p1: customer 2, repeat 1, eligible 1, resolved 1   -> 6, 2, 4, 3: fcr 0.75, repeat rate 1/3
  09:30  p1: customer 3, repeat 0, eligible 2, resolved 0   -> fcr 0.0, repeat rate 0.0
  2024-03-04 23:30 p0: customer 5, repeat 5, eligible 5, resolved 5 (yesterday)
  today = 10:00 + 09:30: customer 9, repeat 2, eligible 6, resolved 3 -> fcr 0.5, repeat rate 2/9
"""

from __future__ import annotations

from datetime import date

import httpx
import orjson
import pytest

from floorwatch import records, topics
from floorwatch.api.main import create_app
from floorwatch.config import Settings
from floorwatch.domain.queue_metrics import Counts
from floorwatch.readmodel import queries
from floorwatch.readmodel.view import View
from tests.unit.settings_factory import VIEWER_SECRET, floor_settings, token
from tests.unit.shanghai_day import HALF_HOUR, I_0930, I_1000, I_YESTERDAY, NOW, RULES, local_ms

VIEWER = {"Authorization": "Bearer viewer-secret"}
INGEST = {"Authorization": "Bearer ingest-secret"}
D = "2024-03-05"


pytestmark = pytest.mark.usefixtures("isolated_config")


def make_settings() -> Settings:
    return floor_settings(
        fcr={"window_hours": 12},
        queues=[
            {"id": "support", "name": "Support", "channel": "voice", "sl_threshold_s": 20, "sl_target": 0.8},
            {"id": "sales", "name": "Sales", "channel": "chat"},
        ],
        tokens=[token("wb", VIEWER_SECRET, "viewer"), token("feed", "ingest-secret", "ingest")],
    )


# --- records -----------------------------------------------------------------------------------


def fcr_interval(view: View, queue: str, start: int, partition: int, cc: int, rep: int, elig: int, res: int) -> bool:
    record = {
        "kind": "fcr_interval",
        "queue": queue,
        "start_ms": start,
        "partition": partition,
        "updated_ms": NOW - 1_000,
        "counts": {"customer_contacts": cc, "repeat_contacts": rep, "fcr_eligible": elig, "fcr_resolved": res},
    }
    return view.apply(
        topics.QUALITY_STATS, records.fcr_interval_key(queue, start, partition).encode(), orjson.dumps(record)
    )


def fcr_agent_key(agent: str, day: str, partition: int) -> bytes:
    return records.agent_day_key("fcr-agent", agent, day, partition).encode()


def csat_agent_key(agent: str, day: str, partition: int) -> bytes:
    return records.agent_day_key("csat-agent", agent, day, partition).encode()


def fcr_agent(view: View, agent: str, day: str, partition: int, elig: int, res: int) -> bool:
    record = {
        "kind": "fcr_agent",
        "agent_id": agent,
        "date": day,
        "partition": partition,
        "updated_ms": NOW - 1_000,
        "fcr_eligible": elig,
        "fcr_resolved": res,
    }
    return view.apply(topics.QUALITY_STATS, fcr_agent_key(agent, day, partition), orjson.dumps(record))


def csat_agent(view: View, agent: str, day: str, partition: int, surveys: int, score_sum: int, satisfied: int) -> bool:
    record = {
        "kind": "csat_agent",
        "agent_id": agent,
        "date": day,
        "partition": partition,
        "updated_ms": NOW - 1_000,
        "surveys": surveys,
        "score_sum": score_sum,
        "satisfied": satisfied,
    }
    return view.apply(topics.QUALITY_STATS, csat_agent_key(agent, day, partition), orjson.dumps(record))


def put_status(view: View, agent_id: str, name: str, team: str) -> None:
    record = {
        "agent_id": agent_id,
        "name": name,
        "team": team,
        "queues": ["support"],
        "state": "available",
        "reason": None,
        "since_ms": NOW - 60_000,
        "updated_ms": NOW - 60_000,
    }
    view.apply(topics.AGENT_STATUS, agent_id.encode(), orjson.dumps(record))


def put_interval(view: View, queue: str, start: int, partition: int, **counts: int) -> None:
    record = {
        "queue": queue,
        "start_ms": start,
        "end_ms": start + HALF_HOUR,
        "partition": partition,
        "counts": Counts(**counts).as_dict(),
        "rules": RULES,
        "mixed_rules": False,
        "updated_ms": start + 60_000,
    }
    view.apply(topics.INTERVAL_STATS, records.interval_key(queue, start, partition).encode(), orjson.dumps(record))


@pytest.fixture
def view() -> View:
    v = View()
    put_status(v, "a1", "Ann", "north")
    put_status(v, "a2", "Bob", "north")
    put_status(v, "a3", "Cy", "south")
    assert fcr_agent(v, "a1", D, 0, 3, 2)
    assert fcr_agent(v, "a1", D, 1, 2, 1)
    assert csat_agent(v, "a1", D, 0, 2, 9, 2)
    assert csat_agent(v, "a1", D, 2, 1, 2, 0)
    assert fcr_agent(v, "a2", D, 1, 4, 4)
    assert csat_agent(v, "a3", D, 0, 2, 6, 1)
    assert fcr_agent(v, "a9", D, 0, 1, 0)
    assert csat_agent(v, "a9", D, 1, 1, 5, 1)
    assert fcr_agent(v, "a1", "2024-03-04", 0, 10, 10)
    # contact figures (fw.interval-stats) of the same intervals
    put_interval(v, "support", I_1000, 0, offered=5, answered=4, answered_within_sl=4)
    put_interval(v, "support", I_1000, 1, offered=3, answered=2, answered_within_sl=1)
    put_interval(v, "support", I_0930, 0, offered=4, answered=3, answered_within_sl=3)
    put_interval(v, "support", I_YESTERDAY, 0, offered=6, answered=6, answered_within_sl=6)
    # FCR partials from two partitions of fw.customer-contacts
    assert fcr_interval(v, "support", I_1000, 0, 4, 1, 3, 2)
    assert fcr_interval(v, "support", I_1000, 1, 2, 1, 1, 1)
    assert fcr_interval(v, "support", I_0930, 1, 3, 0, 2, 0)
    assert fcr_interval(v, "support", I_YESTERDAY, 0, 5, 5, 5, 5)
    assert v.bad_records == 0
    return v


@pytest.fixture
def app(view: View):  # type: ignore[no-untyped-def]
    return create_app(make_settings(), view=view, producer=None, clock=lambda: NOW)


# --- View ----------------------------------------------------------------------------------------


def test_view_indexes_quality_partials_by_kind(view: View) -> None:
    assert set(view.fcr_parts) == {("support", I_1000), ("support", I_0930), ("support", I_YESTERDAY)}
    ten = view.fcr_parts[("support", I_1000)]
    assert set(ten) == {f"fcr|support|{I_1000}|0", f"fcr|support|{I_1000}|1"}
    total = Counts.total(list(ten.values()))
    assert (total.customer_contacts, total.repeat_contacts, total.fcr_eligible, total.fcr_resolved) == (6, 2, 4, 3)
    assert total.offered == 0  # an FCR partial carries only FCR figures
    assert set(view.agent_quality) == {D, "2024-03-04"}
    assert set(view.agent_quality[D]) == {"a1", "a2", "a3", "a9"}
    a1 = Counts.total(list(view.agent_quality[D]["a1"].values()))
    assert (a1.fcr_eligible, a1.fcr_resolved, a1.surveys, a1.score_sum, a1.satisfied) == (5, 3, 3, 11, 2)
    assert set(view.agent_quality[D]["a1"]) == {
        f"fcr-agent|a1|{D}|0",
        f"fcr-agent|a1|{D}|1",
        f"csat-agent|a1|{D}|0",
        f"csat-agent|a1|{D}|2",
    }


def test_view_interval_counts_adds_fcr_to_the_contact_partials(view: View) -> None:
    total = Counts.total(view.interval_counts("support", I_1000))
    assert (total.offered, total.answered, total.customer_contacts, total.fcr_eligible, total.fcr_resolved) == (
        8,
        6,
        6,
        4,
        3,
    )
    assert view.interval_counts("support", I_1000 + HALF_HOUR) == []
    assert Counts.total(view.interval_counts("sales", I_1000)) == Counts()


def test_view_quality_last_value_wins_and_tombstones(view: View) -> None:
    version = view.version
    # last value per key: replaces, never adds
    assert fcr_agent(view, "a1", D, 0, 4, 4)
    a1 = Counts.total(list(view.agent_quality[D]["a1"].values()))
    assert (a1.fcr_eligible, a1.fcr_resolved) == (6, 5)
    # tombstones
    assert view.apply(topics.QUALITY_STATS, fcr_agent_key("a1", D, 1), None)
    a1 = Counts.total(list(view.agent_quality[D]["a1"].values()))
    assert (a1.fcr_eligible, a1.fcr_resolved, a1.surveys) == (4, 4, 3)
    assert view.apply(topics.QUALITY_STATS, fcr_agent_key("a2", D, 1), None)
    assert "a2" not in view.agent_quality[D]  # an agent without partials is dropped
    assert view.apply(topics.QUALITY_STATS, fcr_agent_key("a1", "2024-03-04", 0), None)
    assert "2024-03-04" not in view.agent_quality  # and a date without agents
    key = records.fcr_interval_key("support", I_1000, 1).encode()
    assert view.apply(topics.QUALITY_STATS, key, None)
    assert set(view.fcr_parts[("support", I_1000)]) == {f"fcr|support|{I_1000}|0"}
    assert view.apply(topics.QUALITY_STATS, records.fcr_interval_key("support", I_0930, 1).encode(), None)
    assert ("support", I_0930) not in view.fcr_parts
    assert view.apply(topics.QUALITY_STATS, key, None)  # deleting twice is harmless
    assert view.apply(topics.QUALITY_STATS, b"fcr|nowhere|0|0", None)
    assert view.version == version + 8 and view.bad_records == 0
    assert f"fcr|support|{I_1000}|1" not in view.quality


def test_view_quality_key_moving_between_kinds(view: View) -> None:
    # a key is the identity: a new value of another kind replaces the old one everywhere
    key = fcr_agent_key("a2", D, 1)
    record = {"kind": "csat_agent", "agent_id": "a2", "date": D, "surveys": 1, "score_sum": 4, "satisfied": 1}
    assert view.apply(topics.QUALITY_STATS, key, orjson.dumps(record))
    a2 = Counts.total(list(view.agent_quality[D]["a2"].values()))
    assert (a2.fcr_eligible, a2.surveys, a2.score_sum) == (0, 1, 4)


@pytest.mark.parametrize(
    "key, value",
    [
        (b"fcr-agent|a1|2024-03-05|0", b"not json"),
        (b"fcr-agent|a1|2024-03-05|0", b"[1, 2]"),
        (None, orjson.dumps({"kind": "fcr_agent", "agent_id": "a1", "date": D, "fcr_eligible": 1, "fcr_resolved": 1})),
        (b"fcr-agent|a1|2024-03-05|0", orjson.dumps({"kind": "nps_agent", "agent_id": "a1", "date": D})),
        (
            b"fcr-agent|a1|2024-03-05|0",
            orjson.dumps({"agent_id": "a1", "date": D, "fcr_eligible": 1, "fcr_resolved": 1}),
        ),
        (
            b"fcr-agent|a1|2024-03-05|0",
            orjson.dumps({"kind": "fcr_agent", "agent_id": "a1", "date": D, "fcr_eligible": 1}),
        ),
        (
            b"fcr-agent|a1|2024-03-05|0",
            orjson.dumps({"kind": "fcr_agent", "agent_id": "a1", "date": D, "fcr_eligible": "3", "fcr_resolved": 1}),
        ),
        (
            b"fcr-agent|a1|2024-03-05|0",
            orjson.dumps({"kind": "fcr_agent", "agent_id": "a1", "date": D, "fcr_eligible": True, "fcr_resolved": 1}),
        ),
        (
            b"fcr-agent|a1|2024-03-05|0",
            orjson.dumps({"kind": "fcr_agent", "agent_id": "", "date": D, "fcr_eligible": 1, "fcr_resolved": 1}),
        ),
        (
            b"csat-agent|a1|2024-03-05|0",
            orjson.dumps(
                {"kind": "csat_agent", "agent_id": "a1", "date": D, "surveys": 1, "score_sum": 4.5, "satisfied": 1}
            ),
        ),
        (
            b"csat-agent|a1|2024-03-05|0",
            orjson.dumps({"kind": "csat_agent", "agent_id": "a1", "surveys": 1, "score_sum": 4, "satisfied": 1}),
        ),
        (
            (f"fcr|support|{I_1000}|0").encode(),
            orjson.dumps({"kind": "fcr_interval", "queue": "support", "start_ms": I_1000, "counts": [1, 2]}),
        ),
        (
            (f"fcr|support|{I_1000}|0").encode(),
            orjson.dumps({"kind": "fcr_interval", "queue": "support", "start_ms": -5, "counts": {}}),
        ),
        (
            (f"fcr|support|{I_1000}|0").encode(),
            orjson.dumps(
                {"kind": "fcr_interval", "queue": "support", "start_ms": I_1000, "counts": {"fcr_eligible": "many"}}
            ),
        ),
        (
            (f"fcr|support|{I_1000}|0").encode(),
            orjson.dumps({"kind": "fcr_interval", "start_ms": I_1000, "counts": {}}),
        ),
    ],
)
def test_bad_quality_records_are_counted_not_raised(view: View, key: bytes | None, value: bytes) -> None:
    before_quality = dict(view.quality)
    version = view.version
    assert view.apply(topics.QUALITY_STATS, key, value) is False
    assert view.bad_records == 1
    assert view.version == version
    assert view.quality == before_quality  # the good value under that key is kept
    a1 = Counts.total(list(view.agent_quality[D]["a1"].values()))
    assert (a1.fcr_eligible, a1.fcr_resolved, a1.surveys, a1.score_sum) == (5, 3, 3, 11)
    ten = Counts.total(list(view.fcr_parts[("support", I_1000)].values()))
    assert (ten.customer_contacts, ten.fcr_eligible) == (6, 4)


def test_tombstone_without_a_key_is_a_bad_record() -> None:
    v = View()
    assert v.apply(topics.QUALITY_STATS, None, None) is False
    assert v.bad_records == 1


# --- GET /api/v1/quality --------------------------------------------------------------------------

A1 = {
    "agent_id": "a1",
    "name": "Ann",
    "team": "north",
    "fcr_eligible": 5,
    "fcr_resolved": 3,
    "fcr": 0.6,
    "surveys": 3,
    "csat_avg": pytest.approx(11 / 3),
    "csat_satisfied": pytest.approx(2 / 3),
}
A2 = {
    "agent_id": "a2",
    "name": "Bob",
    "team": "north",
    "fcr_eligible": 4,
    "fcr_resolved": 4,
    "fcr": 1.0,
    "surveys": 0,
    "csat_avg": None,
    "csat_satisfied": None,
}
A3 = {
    "agent_id": "a3",
    "name": "Cy",
    "team": "south",
    "fcr_eligible": 0,
    "fcr_resolved": 0,
    "fcr": None,
    "surveys": 2,
    "csat_avg": 3.0,
    "csat_satisfied": 0.5,
}
A9 = {
    "agent_id": "a9",
    "name": "a9",
    "team": None,
    "fcr_eligible": 1,
    "fcr_resolved": 0,
    "fcr": 0.0,
    "surveys": 1,
    "csat_avg": 5.0,
    "csat_satisfied": 1.0,
}
NORTH = {
    "team": "north",
    "agents": 2,
    "fcr_eligible": 9,
    "fcr_resolved": 7,
    "fcr": pytest.approx(7 / 9),
    "surveys": 3,
    "csat_avg": pytest.approx(11 / 3),
    "csat_satisfied": pytest.approx(2 / 3),
}
SOUTH = {
    "team": "south",
    "agents": 1,
    "fcr_eligible": 0,
    "fcr_resolved": 0,
    "fcr": None,
    "surveys": 2,
    "csat_avg": 3.0,
    "csat_satisfied": 0.5,
}
NO_TEAM = {
    "team": None,
    "agents": 1,
    "fcr_eligible": 1,
    "fcr_resolved": 0,
    "fcr": 0.0,
    "surveys": 1,
    "csat_avg": 5.0,
    "csat_satisfied": 1.0,
}


async def test_quality_per_agent_and_team(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/quality", params={"date": D}, headers=VIEWER)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "date": D,
        "fcr_window_hours": 12.0,
        "agents": [A1, A2, A3, A9],
        "teams": [NORTH, SOUTH, NO_TEAM],
    }


async def test_quality_defaults_to_today(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/quality", headers=VIEWER)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["date"] == D and [a["agent_id"] for a in body["agents"]] == ["a1", "a2", "a3", "a9"]


async def test_quality_of_another_day(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/quality", params={"date": "2024-03-04"}, headers=VIEWER)
    body = r.json()
    assert body["agents"] == [
        {
            "agent_id": "a1",
            "name": "Ann",
            "team": "north",
            "fcr_eligible": 10,
            "fcr_resolved": 10,
            "fcr": 1.0,
            "surveys": 0,
            "csat_avg": None,
            "csat_satisfied": None,
        }
    ]
    assert body["teams"] == [
        {
            "team": "north",
            "agents": 1,
            "fcr_eligible": 10,
            "fcr_resolved": 10,
            "fcr": 1.0,
            "surveys": 0,
            "csat_avg": None,
            "csat_satisfied": None,
        }
    ]
    r = await client.get("/api/v1/quality", params={"date": "2024-03-06"}, headers=VIEWER)
    assert r.json() == {"date": "2024-03-06", "fcr_window_hours": 12.0, "agents": [], "teams": []}


async def test_quality_team_filter(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/quality", params={"date": D, "team": "north"}, headers=VIEWER)
    assert r.status_code == 200, r.text
    assert r.json()["agents"] == [A1, A2] and r.json()["teams"] == [NORTH]
    r = await client.get("/api/v1/quality", params={"date": D, "team": "south"}, headers=VIEWER)
    assert r.json()["agents"] == [A3] and r.json()["teams"] == [SOUTH]
    r = await client.get("/api/v1/quality", params={"date": D, "team": "nobody"}, headers=VIEWER)
    assert (r.json()["agents"], r.json()["teams"]) == ([], [])


async def test_quality_team_follows_the_current_status(client: httpx.AsyncClient, view: View) -> None:
    put_status(view, "a2", "Bob", "south")  # a2 moved team
    view.apply(topics.AGENT_STATUS, b"a3", None)  # a3's status is gone
    body = (await client.get("/api/v1/quality", params={"date": D}, headers=VIEWER)).json()
    assert [(a["agent_id"], a["team"], a["name"]) for a in body["agents"]] == [
        ("a1", "north", "Ann"),
        ("a2", "south", "Bob"),
        ("a3", None, "a3"),
        ("a9", None, "a9"),
    ]
    teams = {t["team"]: t for t in body["teams"]}
    assert [t["team"] for t in body["teams"]] == ["north", "south", None]
    assert (teams["north"]["agents"], teams["north"]["fcr_eligible"], teams["north"]["fcr"]) == (1, 5, 0.6)
    assert (teams["south"]["agents"], teams["south"]["fcr_eligible"], teams["south"]["fcr"]) == (1, 4, 1.0)
    # a3 (2 surveys, 6, 1) + a9 (1 survey, 5, 1): 3 surveys, avg 11/3, satisfied 2/3; fcr 0/1
    assert teams[None]["agents"] == 2 and teams[None]["surveys"] == 3
    assert teams[None]["csat_avg"] == pytest.approx(11 / 3) and teams[None]["csat_satisfied"] == pytest.approx(2 / 3)
    assert (teams[None]["fcr_eligible"], teams[None]["fcr"]) == (1, 0.0)


async def test_quality_after_tombstones(client: httpx.AsyncClient, view: View) -> None:
    view.apply(topics.QUALITY_STATS, fcr_agent_key("a1", D, 1), None)
    view.apply(topics.QUALITY_STATS, csat_agent_key("a1", D, 2), None)
    view.apply(topics.QUALITY_STATS, fcr_agent_key("a2", D, 1), None)
    body = (await client.get("/api/v1/quality", params={"date": D}, headers=VIEWER)).json()
    a1 = body["agents"][0]
    assert (a1["agent_id"], a1["fcr_eligible"], a1["fcr_resolved"], a1["surveys"], a1["csat_avg"]) == (
        "a1",
        3,
        2,
        2,
        4.5,
    )
    assert a1["fcr"] == pytest.approx(2 / 3) and a1["csat_satisfied"] == 1.0
    assert [a["agent_id"] for a in body["agents"]] == ["a1", "a3", "a9"]
    assert body["teams"][0] == {
        "team": "north",
        "agents": 1,
        "fcr_eligible": 3,
        "fcr_resolved": 2,
        "fcr": pytest.approx(2 / 3),
        "surveys": 2,
        "csat_avg": 4.5,
        "csat_satisfied": 1.0,
    }


def test_day_quality_directly(view: View) -> None:
    out = queries.day_quality(view, make_settings(), date(2024, 3, 5), team="south")
    assert out == {"date": D, "fcr_window_hours": 12.0, "agents": [A3], "teams": [SOUTH]}


async def test_quality_auth(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/quality", params={"date": D})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = await client.get("/api/v1/quality", params={"date": D}, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    r = await client.get("/api/v1/quality", params={"date": D}, headers=INGEST)
    assert r.status_code == 403


@pytest.mark.parametrize("params", [{"date": "2024-13-01"}, {"date": "yesterday"}, {"date": D, "team": ""}])
async def test_quality_bad_input_is_422(client: httpx.AsyncClient, params: dict) -> None:
    r = await client.get("/api/v1/quality", params=params, headers=VIEWER)
    assert r.status_code == 422, r.text


# --- FCR in the STATS of /api/v1/queues and /api/v1/intervals --------------------------------------


async def get_support(client: httpx.AsyncClient) -> dict:
    r = await client.get("/api/v1/queues", headers=VIEWER)
    assert r.status_code == 200, r.text
    return {q["queue"]: q for q in r.json()}["support"]


async def test_queue_tile_sums_fcr_partials_of_two_partitions(client: httpx.AsyncClient) -> None:
    support = await get_support(client)
    interval = support["interval"]
    assert interval["start"] == "2024-03-05T10:00:00+08:00"
    assert (interval["customer_contacts"], interval["repeat_contacts"]) == (6, 2)
    assert (interval["fcr_eligible"], interval["fcr_resolved"]) == (4, 3)
    assert interval["fcr"] == 0.75 and interval["repeat_rate"] == pytest.approx(1 / 3)
    assert (interval["offered"], interval["answered"], interval["service_level"]) == (8, 6, 5 / 6)  # untouched
    today = support["today"]
    assert (today["customer_contacts"], today["repeat_contacts"], today["fcr_eligible"], today["fcr_resolved"]) == (
        9,
        2,
        6,
        3,
    )
    assert today["fcr"] == 0.5 and today["repeat_rate"] == pytest.approx(2 / 9)
    assert today["offered"] == 12
    # rolling windows carry no FCR
    assert (support["rolling_15m"]["fcr"], support["rolling_15m"]["repeat_rate"]) == (None, None)


async def test_queue_tile_without_fcr_partials(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/queues", headers=VIEWER)
    sales = {q["queue"]: q for q in r.json()}["sales"]
    for block in ("interval", "today"):
        assert (sales[block]["fcr"], sales[block]["repeat_rate"], sales[block]["customer_contacts"]) == (None, None, 0)


async def test_queue_tile_after_an_fcr_tombstone(client: httpx.AsyncClient, view: View) -> None:
    view.apply(topics.QUALITY_STATS, records.fcr_interval_key("support", I_1000, 1).encode(), None)
    support = await get_support(client)
    interval = support["interval"]
    assert (interval["customer_contacts"], interval["fcr_eligible"], interval["fcr_resolved"]) == (4, 3, 2)
    assert interval["fcr"] == pytest.approx(2 / 3) and interval["repeat_rate"] == 0.25
    # 4 + 3 customer contacts, 1 repeat, 3 + 2 eligible, 2 + 0 resolved
    today = support["today"]
    assert (today["customer_contacts"], today["repeat_contacts"], today["fcr_eligible"], today["fcr_resolved"]) == (
        7,
        1,
        5,
        2,
    )
    assert today["fcr"] == 0.4 and today["repeat_rate"] == pytest.approx(1 / 7)


async def test_midnight_tile_shows_yesterdays_fcr(view: View) -> None:
    tile = queries.queue_tile(view, make_settings(), "support", local_ms("2024-03-04T23:59:59"))
    assert (tile["today"]["customer_contacts"], tile["today"]["fcr"], tile["today"]["repeat_rate"]) == (5, 1.0, 1.0)
    assert (tile["interval"]["fcr_eligible"], tile["interval"]["fcr_resolved"]) == (5, 5)


async def test_intervals_carry_fcr(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/intervals", params={"queue": "support", "date": D}, headers=VIEWER)
    assert r.status_code == 200, r.text
    rows = {row["start"][11:16]: row for row in r.json()}
    assert set(rows) == {"09:30", "10:00"}
    first, second = rows["09:30"], rows["10:00"]
    assert (first["customer_contacts"], first["repeat_contacts"], first["fcr_eligible"], first["fcr_resolved"]) == (
        3,
        0,
        2,
        0,
    )
    assert (first["fcr"], first["repeat_rate"]) == (0.0, 0.0)
    assert (second["customer_contacts"], second["repeat_contacts"], second["fcr_eligible"], second["fcr_resolved"]) == (
        6,
        2,
        4,
        3,
    )
    assert second["fcr"] == 0.75 and second["repeat_rate"] == pytest.approx(1 / 3)
    assert second["offered"] == 8
    # the day's rows add up to the tile's today
    today = (await get_support(client))["today"]
    for key in ("customer_contacts", "repeat_contacts", "fcr_eligible", "fcr_resolved", "offered"):
        assert today[key] == first[key] + second[key], key

    r = await client.get("/api/v1/intervals", params={"queue": "support", "date": "2024-03-04"}, headers=VIEWER)
    [row] = r.json()
    assert (row["start"], row["fcr"], row["repeat_rate"], row["customer_contacts"]) == (
        "2024-03-04T23:30:00+08:00",
        1.0,
        1.0,
        5,
    )
