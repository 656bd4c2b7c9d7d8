"""GET /metrics from a hand-built view: exact values, label sets, and no agent id anywhere.

Time zone Asia/Shanghai, 30-minute intervals, now = 2024-03-05 10:17:30 local.

Queue ``support`` (voice, T=20 s, target 0.8, answered_over_offered), two partitions:

  interval 10:00 p0: offered 4 (1 waiting), A=3, A_T=2, answer waits 30 s in all, handled 2
                     (talk 200 + hold 20 + wrap 20 s), max wait 15 s
                 p1: offered 3, A=1 (A_T=1, 4 s), B=2 (S=1, B_T=1, the long one 40 s), handled 1
                     (talk 100 + wrap 10 s), max wait 40 s
      -> offered 7, A=4, A_T=3, B=2, S=1, N=5: SL 3/5, abandon rate 1/5, ASA 34/4 = 8.5 s,
         AHT 350/3 s, handled 3
  interval 09:30 p0: offered 2, A=2, A_T=2 -> today offered 9, A=6, A_T=5, B=2, S=1, N=7: SL 5/7
  yesterday 23:30 p1: offered 5 (not today)
  live: waiting 1 + 2 = 3, oldest now - 90.5 s; rolling_15m offered 5, A=3, A_T=2, B=1: SL 2/4
Queue ``billing`` (not configured, its partial says answered_over_answered): A=2, A_T=1 -> SL 0.5
Queue ``sales`` (chat): no data at all -> zero counts, no ratio samples.

Agents (ids deliberately unusual, to be searched for in the exposition):
  north: agent-zz-001 available (support, sales), agent-zz-002 on_contact (support, out of adherence),
         agent-zz-003 aux (support, out of adherence)
  south: agent-zz-004 logged_out (support), agent-zz-005 wrap_up (sales)
Adherence today: north 3000 + 2400 in-adherence / 3600 + 3600 scheduled = 0.75; south 1800/3600
  (team taken from the live status, the record has none); yesterday's record ignored.
Alerts: adherence_break on agent-zz-002 firing (critical, unacked); queue_waiting support firing
  (warning, acked through fw.alert-acks); queue_service_level resolved.
Dead letters: 2 not_json, 1 wrong_topic, 1 without reason ("unknown").
Pipeline lag: newest computed_ms = now - 500 ms -> 0.5 s.
"""

from __future__ import annotations

import random
import re

import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from floorwatch import records, topics
from floorwatch.api.main import create_app
from floorwatch.api.metrics import (
    OUTCOMES,
    WINDOWS,
    GroupOffsetsProbe,
    ViewCollector,
    fast_merge,
    render as fast_render,
)
from floorwatch.config import Settings
from floorwatch.domain.queue_metrics import Counts
from floorwatch.readmodel import queries
from floorwatch.readmodel.view import View
from tests.unit.api.asgi import asgi_client
from tests.unit.settings_factory import SUPPORT_AND_SALES, floor_settings
from tests.unit.shanghai_day import I_0930, I_1000, I_YESTERDAY, NOW, RULES

pytestmark = pytest.mark.usefixtures("isolated_config")


AGENT_IDS = [f"agent-zz-00{i}" for i in range(1, 6)]
ALLOWED_LABELS = {
    "queue",
    "channel",
    "team",
    "state",
    "window",
    "outcome",
    "kind",
    "severity",
    "reason",
    "topic",
    "label",
}


def make_settings() -> Settings:
    return floor_settings(queues=SUPPORT_AND_SALES, teams=[{"id": "north"}, {"id": "south"}])


def counts(**kw: int | None) -> dict:
    return Counts(**kw).as_dict()  # type: ignore[arg-type]


def put_interval(view: View, queue: str, start: int, p: int, c: dict, rules: dict = RULES, updated: int = 0) -> None:
    record = {
        "queue": queue,
        "start_ms": start,
        "end_ms": start + 1_800_000,
        "partition": p,
        "counts": c,
        "rules": rules,
        "mixed_rules": False,
        "updated_ms": updated or start + 60_000,
    }
    view.apply(topics.INTERVAL_STATS, records.interval_key(queue, start, p).encode(), orjson.dumps(record))


def put_queue(view: View, queue: str, p: int, waiting: int, oldest: int | None, r15: dict, computed: int) -> None:
    record = {
        "queue": queue,
        "partition": p,
        "waiting": waiting,
        "oldest_waiting_ms": oldest,
        "rolling_15m": r15,
        "rolling_60m": r15,
        "computed_ms": computed,
    }
    view.apply(topics.QUEUE_STATS, records.queue_key(queue, p).encode(), orjson.dumps(record))


def put_agent(view: View, agent_id: str, team: str, queues: list[str], state: str, in_adherence: bool | None) -> None:
    record = {
        "agent_id": agent_id,
        "name": agent_id.upper(),
        "team": team,
        "queues": queues,
        "state": state,
        "reason": "break" if state == "aux" else None,
        "since_ms": NOW - 60_000,
        "updated_ms": NOW - 60_000,
        "scheduled_activity": "work" if in_adherence is not None else None,
        "in_adherence": in_adherence,
        "out_of_adherence_since_ms": NOW - 30_000 if in_adherence is False else None,
    }
    view.apply(topics.AGENT_STATUS, agent_id.encode(), orjson.dumps(record))


def put_adherence(view: View, agent_id: str, team: str | None, day: str, scheduled: float, in_adh: float) -> None:
    record = {
        "agent_id": agent_id,
        "date": day,
        "updated_ms": NOW - 1_000,
        "scheduled_s": scheduled,
        "in_adherence_s": in_adh,
        "adherence": in_adh / scheduled,
        "work_scheduled_s": scheduled,
        "worked_s": in_adh,
        "conformance": in_adh / scheduled,
        "exceptions": [],
    }
    if team is not None:
        record["team"] = team
    view.apply(topics.ADHERENCE, f"{agent_id}|{day}".encode(), orjson.dumps(record))


def put_alert(view: View, kind: str, subject: str, severity: str, state: str) -> str:
    alert_id = f"{kind}:{subject}:{NOW - 120_000}"
    record = {
        "id": alert_id,
        "kind": kind,
        "subject": subject,
        "severity": severity,
        "state": state,
        "started_at_ms": NOW - 120_000,
        "resolved_at_ms": NOW if state == "resolved" else None,
        "acked_by": None,
        "acked_at_ms": None,
        "details": {"agent_id": subject, "name": subject.upper()},
    }
    view.apply(topics.ALERTS, alert_id.encode(), orjson.dumps(record))
    return alert_id


@pytest.fixture
def view() -> View:
    v = View()
    put_interval(
        v,
        "support",
        I_1000,
        0,
        counts(
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
        ),
        updated=NOW - 3_000,
    )
    put_interval(
        v,
        "support",
        I_1000,
        1,
        counts(
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
        ),
        updated=NOW - 2_000,
    )
    put_interval(
        v,
        "support",
        I_0930,
        0,
        counts(offered=2, answered=2, answered_within_sl=2, wait_answered_ms=4_000, handled=2, talk_ms=120_000),
    )
    put_interval(v, "support", I_YESTERDAY, 1, counts(offered=5, answered=5, answered_within_sl=5))
    put_queue(v, "support", 0, 1, NOW - 45_000, counts(offered=3, answered=2, answered_within_sl=1), NOW - 1_000)
    put_queue(
        v, "support", 1, 2, NOW - 90_500, counts(offered=2, answered=1, answered_within_sl=1, abandoned=1), NOW - 500
    )
    put_interval(
        v,
        "billing",
        I_1000,
        3,
        counts(offered=2, answered=2, answered_within_sl=1, wait_answered_ms=30_000),
        rules={**RULES, "sl_formula": "answered_over_answered", "sl_threshold_s": 15.0},
        updated=NOW - 9_000,
    )
    put_agent(v, "agent-zz-001", "north", ["support", "sales"], "available", True)
    put_agent(v, "agent-zz-002", "north", ["support"], "on_contact", False)
    put_agent(v, "agent-zz-003", "north", ["support"], "aux", False)
    put_agent(v, "agent-zz-004", "south", ["support"], "logged_out", None)
    put_agent(v, "agent-zz-005", "south", ["sales"], "wrap_up", True)
    put_adherence(v, "agent-zz-001", "north", "2024-03-05", 3600, 3000)
    put_adherence(v, "agent-zz-002", "north", "2024-03-05", 3600, 2400)
    put_adherence(v, "agent-zz-005", None, "2024-03-05", 3600, 1800)
    put_adherence(v, "agent-zz-003", "north", "2024-03-04", 3600, 0)  # yesterday
    put_alert(v, "adherence_break", "agent-zz-002", "critical", "firing")
    acked = put_alert(v, "queue_waiting", "support", "warning", "firing")
    v.apply(topics.ALERT_ACKS, acked.encode(), orjson.dumps({"id": acked, "by": "sup", "at_ms": NOW - 1}))
    put_alert(v, "queue_service_level", "support", "warning", "resolved")
    for reason in ("not_json", "not_json", "wrong_topic", None):
        dead = {
            "reason": reason,
            "error": "x",
            "topic": topics.CONTACT_EVENTS,
            "partition": 0,
            "offset": 1,
            "raw": "agent-zz-001 customer 555",
            "at_ms": NOW,
        }
        v.apply(topics.DEAD_LETTERS, topics.CONTACT_EVENTS.encode(), orjson.dumps(dead))
    return v


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate sample {key}"
            out[key] = s.value
    return out


def value(found: dict, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


def render(view: View, probe: GroupOffsetsProbe | None = None) -> str:
    registry = CollectorRegistry()
    registry.register(ViewCollector(view, make_settings(), lambda: NOW, lambda: {"ready": True}, probe))
    return generate_latest(registry).decode()


@pytest.fixture
def found(view: View) -> dict:
    return samples(render(view))


def test_queue_figures_are_exact(found: dict) -> None:
    s = {"queue": "support", "channel": "voice"}
    assert value(found, "floorwatch_queue_waiting_contacts", **s) == 3
    assert value(found, "floorwatch_queue_longest_wait_seconds", **s) == 90.5
    assert value(found, "floorwatch_queue_service_level_target_ratio", **s) == 0.8
    assert value(found, "floorwatch_queue_service_level_threshold_seconds", **s) == 20
    assert value(found, "floorwatch_queue_service_level_ratio", **s, window="interval") == 0.6
    assert value(found, "floorwatch_queue_service_level_ratio", **s, window="today") == pytest.approx(5 / 7)
    assert value(found, "floorwatch_queue_service_level_ratio", **s, window="rolling_15m") == 0.5
    interval = {o: value(found, "floorwatch_queue_contacts", **s, window="interval", outcome=o) for o in OUTCOMES}
    assert interval == {
        "offered": 7,
        "answered": 4,
        "answered_within_sl": 3,
        "abandoned": 2,
        "short_abandoned": 1,
        "overflowed": 0,
        "handled": 3,
    }
    assert value(found, "floorwatch_queue_contacts", **s, window="today", outcome="offered") == 9
    assert value(found, "floorwatch_queue_contacts", **s, window="rolling_15m", outcome="abandoned") == 1
    assert value(found, "floorwatch_queue_abandon_rate_ratio", **s, window="interval") == 0.2
    assert value(found, "floorwatch_queue_asa_seconds", **s, window="interval") == 8.5
    assert value(found, "floorwatch_queue_aht_seconds", **s, window="interval") == pytest.approx(350 / 3)
    assert value(found, "floorwatch_queue_average_abandon_seconds", **s, window="interval") == 40
    assert {value(found, "floorwatch_queue_agents", **s, state=st) for st in ("staffed",)} == {3}
    assert [
        value(found, "floorwatch_queue_agents", **s, state=st) for st in ("available", "on_contact", "wrap_up", "aux")
    ] == [1, 1, 0, 1]
    # billing: not configured, its own formula and threshold from the partial
    b = {"queue": "billing", "channel": "voice"}
    assert value(found, "floorwatch_queue_service_level_ratio", **b, window="interval") == 0.5
    assert value(found, "floorwatch_queue_service_level_threshold_seconds", **b) == 15
    # sales: zero counts, no 0/0 ratios, nobody waiting
    c = {"queue": "sales", "channel": "chat"}
    assert value(found, "floorwatch_queue_waiting_contacts", **c) == 0
    assert value(found, "floorwatch_queue_longest_wait_seconds", **c) == 0
    assert value(found, "floorwatch_queue_contacts", **c, window="today", outcome="offered") == 0
    for window in WINDOWS:
        assert value(found, "floorwatch_queue_service_level_ratio", **c, window=window) is None
        assert value(found, "floorwatch_queue_asa_seconds", **c, window=window) is None
    # staffing is not known yet: the families exist but have no samples
    assert not [
        k for k in found if k[0] in ("floorwatch_queue_required_agents", "floorwatch_queue_staffing_gap_agents")
    ]


def test_agents_adherence_alerts_pipeline(found: dict) -> None:
    agents = {(dict(k[1])["team"], dict(k[1])["state"]): v for k, v in found.items() if k[0] == "floorwatch_agents"}
    assert {k: v for k, v in agents.items() if v} == {
        ("north", "available"): 1,
        ("north", "on_contact"): 1,
        ("north", "aux"): 1,
        ("south", "logged_out"): 1,
        ("south", "wrap_up"): 1,
    }
    assert set(agents) == {
        (t, s) for t in ("north", "south") for s in ("available", "on_contact", "wrap_up", "aux", "logged_out")
    }
    assert value(found, "floorwatch_agents_out_of_adherence", team="north") == 2
    assert value(found, "floorwatch_agents_out_of_adherence", team="south") == 0
    assert value(found, "floorwatch_agents_scheduled", team="north") == 3
    assert value(found, "floorwatch_team_adherence_ratio", team="north") == 0.75
    assert value(found, "floorwatch_team_adherence_ratio", team="south") == 0.5
    assert value(found, "floorwatch_team_scheduled_seconds", team="north") == 7200
    assert value(found, "floorwatch_team_in_adherence_seconds", team="north") == 5400
    assert value(found, "floorwatch_team_conformance_ratio", team="north") == 0.75
    assert value(found, "floorwatch_alerts_firing", kind="adherence_break", severity="critical") == 1
    assert value(found, "floorwatch_alerts_firing", kind="queue_waiting", severity="warning") == 1
    assert value(found, "floorwatch_alerts_firing", kind="queue_service_level", severity="warning") == 0
    assert value(found, "floorwatch_alerts_unacknowledged", kind="adherence_break") == 1
    assert value(found, "floorwatch_alerts_unacknowledged", kind="queue_waiting") == 0
    assert value(found, "floorwatch_events_rejected_total", reason="not_json") == 2
    assert value(found, "floorwatch_events_rejected_total", reason="wrong_topic") == 1
    assert value(found, "floorwatch_events_rejected_total", reason="unknown") == 1
    assert value(found, "floorwatch_events_rejected_total", reason="missing_field") == 0
    assert value(found, "floorwatch_pipeline_lag_seconds") == 0.5
    assert value(found, "floorwatch_pipeline_last_update_timestamp_seconds") == (NOW - 500) / 1000
    assert value(found, "floorwatch_view_ready") == 1
    assert value(found, "floorwatch_view_bad_records_total") == 0
    assert not [k for k in found if k[0] == "floorwatch_events_processed_total"]  # no probe reading


def test_processed_comes_from_the_probe(view: View) -> None:
    probe = GroupOffsetsProbe("unused:9092")
    probe.offsets, probe.read_at = {topics.CONTACT_EVENTS: 1200, topics.AGENT_EVENTS: 34}, 1.0
    found = samples(render(view, probe))
    assert value(found, "floorwatch_events_processed_total", topic=topics.CONTACT_EVENTS) == 1200
    assert value(found, "floorwatch_events_processed_total", topic=topics.AGENT_EVENTS) == 34


def test_names_units_labels_and_no_agent_or_customer_id(view: View) -> None:
    text = render(view)
    for agent_id in AGENT_IDS:
        assert agent_id not in text and agent_id.upper() not in text
    assert "customer" not in text and "555" not in text
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("floorwatch_"), family.name
        assert not re.search(r"_(ms|milliseconds|percent|minutes)$", family.name), family.name
        for s in family.samples:
            assert set(s.labels) <= ALLOWED_LABELS, (s.name, s.labels)
            if s.name.endswith("_ratio"):
                assert 0 <= s.value <= 1, s


def test_same_figures_as_the_queues_endpoint(view: View) -> None:
    settings = make_settings()
    found = samples(render(view))
    for tile in queries.queues_overview(view, settings, NOW):
        lv = {"queue": tile["queue"], "channel": tile["channel"]}
        assert value(found, "floorwatch_queue_waiting_contacts", **lv) == tile["waiting"]
        assert value(found, "floorwatch_queue_longest_wait_seconds", **lv) == (tile["longest_wait_s"] or 0)
        for window in WINDOWS:
            st = tile[window]
            assert value(found, "floorwatch_queue_service_level_ratio", **lv, window=window) == st["service_level"]
            assert value(found, "floorwatch_queue_asa_seconds", **lv, window=window) == st["asa_s"]
            assert value(found, "floorwatch_queue_aht_seconds", **lv, window=window) == st["aht_s"]
            for outcome in OUTCOMES:
                assert value(found, "floorwatch_queue_contacts", **lv, window=window, outcome=outcome) == st[outcome]
        for state, n in tile["agents"].items():
            assert value(found, "floorwatch_queue_agents", **lv, state=state) == n


def test_fast_merge_equals_counts_merge() -> None:
    rng = random.Random(3)
    for _ in range(200):
        parts = [
            Counts(
                **{k: rng.randint(0, 50) for k in Counts().as_dict() if k != "max_wait_ms"},
                max_wait_ms=rng.choice([None, rng.randint(0, 9000)]),
            )
            for _ in range(rng.randint(0, 9))
        ]
        expected = Counts()
        for p in parts:
            expected.merge(p)
        assert fast_merge(parts) == expected


async def test_endpoint_is_unauthenticated_and_includes_ingest_counters(view: View) -> None:
    app = create_app(make_settings(), view=view, producer=None, clock=lambda: NOW)
    app.state.metrics.accepted.inc(7)
    app.state.metrics.rejected.labels(reason="not_json").inc()
    async with asgi_client(app) as client:
        first = await client.get("/metrics")
        second = await client.get("/metrics", headers={"Authorization": "Bearer whatever"})
    assert first.status_code == 200 and second.status_code == 200
    assert first.headers["content-type"].startswith("text/plain")
    found = samples(second.text)
    assert value(found, "floorwatch_api_events_accepted_total") == 7
    assert value(found, "floorwatch_api_events_rejected_total", reason="not_json") == 1
    assert value(found, "floorwatch_queue_waiting_contacts", queue="support", channel="voice") == 3
    assert app.state.metrics_collector.probe is None  # injected view: the app does not talk to Kafka


def test_late_change_to_a_closed_interval_shows_at_the_next_scrape(view: View) -> None:
    registry = CollectorRegistry()
    registry.register(ViewCollector(view, make_settings(), lambda: NOW))
    lv = {"queue": "support", "channel": "voice", "window": "today", "outcome": "offered"}
    assert value(samples(generate_latest(registry).decode()), "floorwatch_queue_contacts", **lv) == 9
    # a replayed event lands in 09:30 (a closed interval) on another partition, then a tombstone
    put_interval(view, "support", I_0930, 5, counts(offered=4, answered=4, answered_within_sl=4))
    assert value(samples(generate_latest(registry).decode()), "floorwatch_queue_contacts", **lv) == 13
    view.apply(topics.INTERVAL_STATS, records.interval_key("support", I_0930, 0).encode(), None)
    assert value(samples(generate_latest(registry).decode()), "floorwatch_queue_contacts", **lv) == 11
    # the current interval changes without invalidating anything, and still counts
    put_interval(view, "support", I_1000, 7, counts(offered=1, waiting=1))
    assert value(samples(generate_latest(registry).decode()), "floorwatch_queue_contacts", **lv) == 12


def test_fast_render_writes_what_generate_latest_writes(view: View) -> None:
    from prometheus_client import Counter, Gauge, Histogram

    registry = CollectorRegistry()
    registry.register(ViewCollector(view, make_settings(), lambda: NOW, lambda: {"ready": False}))
    Counter("floorwatch_test_things", "Things.", ["reason"], registry=registry).labels(reason='a "b"\\n').inc(3)
    Gauge("floorwatch_test_big", "Big.", registry=registry).set(1.7e18)
    Histogram("floorwatch_test_seconds", "Hist.", registry=registry).observe(0.3)
    fast, reference = fast_render(registry).decode(), generate_latest(registry).decode()
    assert samples(fast) == samples(reference)
    assert [f.name for f in text_string_to_metric_families(fast)] == [
        f.name for f in text_string_to_metric_families(reference)
    ]
    assert sorted(line for line in fast.splitlines() if line.startswith("#")) == sorted(
        line for line in reference.splitlines() if line.startswith("#")
    )
