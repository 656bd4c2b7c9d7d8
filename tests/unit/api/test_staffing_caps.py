"""Required agents at the input caps, through the in-process API.

Forecasts of 48 half-hour intervals for three queues, with offered up to
``ingest.max_forecast_offered`` (100,000 per interval) and AHT up to ``ingest.max_forecast_aht_s``
(86,400 s): loads from 0 to 4.8 million Erlangs, against ``staffing.max_agents_per_queue``
(10,000). The expected figures come from the previous implementation, the one-agent-at-a-time
walk kept in ``tests/unit/domain/test_erlang.py`` (run only where A < 10,000, where it finishes): a
load of A >= 10,000 is over the cap by definition (Erlang C needs N > A), and so is a walk
result above 10,000.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from floorwatch import topics
from floorwatch.api.main import create_app
from floorwatch.config import Settings
from floorwatch.domain.erlang import OverCap
from floorwatch.readmodel import queries
from floorwatch.readmodel.view import View
from tests.unit.api.asgi import asgi_client
from tests.unit.domain.test_erlang import linear_walk_required
from tests.unit.settings_factory import floor_settings
from tests.unit.shanghai_day import local_ms

pytestmark = pytest.mark.usefixtures("isolated_config")

DAY = "2024-03-05"
VIEWER = {"Authorization": "Bearer viewer-secret"}
CAP = 10_000
QUEUES = {"north": (20.0, 0.8), "south": (20.0, 0.8), "east": (60.0, 0.9)}  # T, target

# (offered per half hour, AHT s): A = offered x AHT / 1,800 s
LOADS: list[tuple[float, float]] = [
    (100_000, 86_400),  # both at their caps: 4.8 million Erlangs
    (100_000, 180),  # A = 10,000 = the cap: over it (N must exceed A)
    (100_000, 179.82),  # A = 9,990 < cap, but the target needs more than 10,000
    (100_000, 162),  # A = 9,000
    (100_000, 17.9),  # A = 994.4
    (50_000, 36),  # A = 1,000
    (7, 86_400),  # A = 336, a day-long AHT
    (1, 86_400),  # A = 48
    (10, 180),  # A = 1
    (0, 300),  # nothing offered: 0 agents
    (99_999, 180),  # A = 9,999.9
    (100_000, 171),  # A = 9,500
]


def make_settings() -> Settings:
    return floor_settings(
        queues=[{"id": q, "sl_threshold_s": t, "sl_target": target} for q, (t, target) in QUEUES.items()]
    )


def interval_start(i: int) -> str:
    return f"{DAY}T{i // 2:02d}:{30 * (i % 2):02d}:00"


def load_of(queue_index: int, i: int) -> tuple[float, float]:
    return LOADS[(i + 5 * queue_index) % len(LOADS)]


def expected(offered: float, aht: float, queue: str) -> int | None:
    """Required agents by the reference walk, None for over the cap."""
    t, target = QUEUES[queue]
    a = offered * aht / 1800
    if a >= CAP:
        return None
    n = linear_walk_required(a, aht, t, target)
    return None if n > CAP else n


def capped_view() -> View:
    view = View()
    for qi, queue in enumerate(QUEUES):
        event = {
            "event_id": f"f-{queue}",
            "type": "forecast.published",
            "ts": f"{DAY}T00:00:00+08:00",
            "queue": queue,
            "date": DAY,
            "interval_minutes": 30,
            "intervals": [
                {"start": f"{interval_start(i)}+08:00", "offered": o, "aht_s": a}
                for i, (o, a) in ((i, load_of(qi, i)) for i in range(48))
            ],
        }
        assert view.apply(topics.FORECASTS, queue.encode(), orjson.dumps(event))
    return view


def app_at(view: View, clock: dict[str, int]) -> Any:
    return create_app(make_settings(), view=view, producer=None, clock=lambda: clock["now"])


def test_the_grid_reaches_both_sides_of_the_cap() -> None:
    outcomes = {expected(o, a, q) is None for q in QUEUES for o, a in LOADS}
    assert outcomes == {True, False}
    # A < cap and still over it: the requirement, not the load, decides
    assert 100_000 * 179.82 / 1800 < CAP and expected(100_000, 179.82, "north") is None


async def test_queues_route_over_the_cap_where_the_forecast_needs_it_and_numbers_elsewhere() -> None:
    view = capped_view()
    clock = {"now": 0}
    seen_over = seen_numbers = 0
    async with asgi_client(app_at(view, clock)) as c:
        for i in range(48):
            clock["now"] = local_ms(interval_start(i)) + 600_000  # 10 minutes into interval i
            r = await c.get("/api/v1/queues", headers=VIEWER)
            assert r.status_code == 200, r.text
            tiles = {t["queue"]: t for t in r.json()}
            for qi, queue in enumerate(QUEUES):
                offered, aht = load_of(qi, i)
                want = expected(offered, aht, queue)
                tile = tiles[queue]
                assert tile["required_agents_over_cap"] is (want is None), (i, queue, offered, aht)
                assert tile["required_agents"] == want, (i, queue, offered, aht)
                seen_over += want is None
                seen_numbers += want is not None
    assert seen_over >= 30 and seen_numbers >= 60


async def test_staffing_route_rows_at_the_caps() -> None:
    queries.erlang_c_required.cache_clear()  # cold: every row sized from scratch
    view = capped_view()
    clock = {"now": local_ms(f"{DAY}T12:00:00")}
    async with asgi_client(app_at(view, clock)) as c:
        for qi, queue in enumerate(QUEUES):
            started = time.perf_counter()
            r = await c.get("/api/v1/staffing", params={"queue": queue, "date": DAY}, headers=VIEWER)
            elapsed_s = time.perf_counter() - started
            assert r.status_code == 200, r.text
            rows = r.json()
            assert len(rows) == 48
            for i, row in enumerate(rows):
                offered, aht = load_of(qi, i)
                want = expected(offered, aht, queue)
                assert row["forecast_offered"] == offered
                assert (row["required_agents"], row["required_agents_over_cap"]) == (want, want is None), (i, queue)
                assert row["required_from"] == "forecast"
            # the same day took > 90 s per route before the cap and the search (one load alone
            # walked 5 billion agents); a generous bound that still catches any walk to the load
            assert elapsed_s < 2.0, elapsed_s


def test_metrics_export_over_cap_and_omit_the_number() -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from floorwatch.api.metrics import ViewCollector

    i = 1  # 00:30: north (1e5, 180) over the cap by its load; south (1, 86,400) 48 Erlangs; east (1e5, 17.9)
    now = local_ms(interval_start(i)) + 60_000
    registry = CollectorRegistry()
    registry.register(ViewCollector(capped_view(), make_settings(), lambda: now))
    samples: dict[tuple[str, str], float] = {}
    for fam in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in fam.samples:
            if (
                s.name.startswith("floorwatch_queue_required_agents")
                or s.name == "floorwatch_queue_staffing_gap_agents"
            ):
                samples[(s.name, s.labels["queue"])] = s.value
    for qi, queue in enumerate(QUEUES):
        want = expected(*load_of(qi, i), queue)
        assert samples[("floorwatch_queue_required_agents_over_cap", queue)] == (1 if want is None else 0)
        if want is None:
            assert ("floorwatch_queue_required_agents", queue) not in samples
            assert ("floorwatch_queue_staffing_gap_agents", queue) not in samples
        else:
            assert samples[("floorwatch_queue_required_agents", queue)] == want
            assert samples[("floorwatch_queue_staffing_gap_agents", queue)] == want  # nobody staffed
    assert {samples[("floorwatch_queue_required_agents_over_cap", q)] for q in QUEUES} == {0, 1}


def test_staffing_gap_alert_fires_over_the_cap() -> None:
    """Over the cap the requirement is only known to exceed 10,000: the alert sees 10,001
    required for 0 staffed, a gap, and fires after its 120 s minimum duration."""
    from floorwatch.streams.alerting import QueueAlerter

    view = capped_view()
    alerter = QueueAlerter(make_settings(), view)
    start = local_ms(interval_start(1)) + 60_000  # north over the cap, south and east not
    alerter.step(start)
    fired = [c for c in alerter.step(start + 121_000) if c.alert["kind"] == "queue_staffing_gap"]
    by_queue = {c.alert["subject"]: c for c in fired}
    assert by_queue["north"].type == "fired"
    assert by_queue["north"].alert["details"]["value"] == CAP + 1
    south = expected(*load_of(1, 1), "south")
    assert south is not None and by_queue["south"].alert["details"]["value"] == south


def test_live_required_agents_caps_the_rolling_load() -> None:
    """The live path (rolling 15-minute rate, 60-minute AHT) is capped the same way."""
    from floorwatch.domain.queue_metrics import Counts

    rules = {"sl_threshold_s": 20, "sl_target": 0.8}
    hour = Counts(handled=1, talk_ms=86_400_000)  # AHT 86,400 s
    # 100 offered in 15 minutes at 86,400 s: A = 100 x 86,400 / 900 = 9,600
    assert queries.live_required_agents(Counts(offered=100), hour, rules) == linear_walk_required(
        9600.0, 86_400, 20, 0.8
    )
    # 105 offered: A = 10,080 >= cap
    assert queries.live_required_agents(Counts(offered=105), hour, rules) == OverCap(CAP)
    assert queries.live_required_agents(Counts(offered=100), hour, rules, max_agents=9_000) == OverCap(9_000)
    assert queries.required_fields(OverCap(CAP)) == {"required_agents": None, "required_agents_over_cap": True}
    assert queries.required_fields(None) == {"required_agents": None, "required_agents_over_cap": False}


def test_the_staffing_memo_is_bounded_and_counts_what_it_cut() -> None:
    """4,096 results at most; 4,100 distinct loads leave 4,096 and count 4 evicted."""
    queries.erlang_c_required.cache_clear()
    rules = {"sl_threshold_s": 20, "sl_target": 0.8}
    extra = 4
    for i in range(queries.REQUIRED_AGENTS_CACHE_ENTRIES + extra):
        assert queries.erlang_required(1 + i / 1000, 180.0, 1800.0, rules) is not None
    stats = queries.required_agents_cache_stats()
    assert stats["entries"] == queries.REQUIRED_AGENTS_CACHE_ENTRIES == 4096
    assert stats["evicted"] == extra and stats["misses"] == 4096 + extra and stats["hits"] == 0
    queries.erlang_required(1 + (4096 + extra - 1) / 1000, 180.0, 1800.0, rules)  # the latest: kept
    assert queries.required_agents_cache_stats()["hits"] == 1
    queries.erlang_c_required.cache_clear()


def test_staffing_gap_alert_counts_the_staffed_agents() -> None:
    """The worker's alerter subtracts the logged-in agents whose profile lists the queue (as
    the API's tile and /metrics do): south needs R agents; with R - 2 staffed (one of them on
    a contact, one logged out who does not count) the gap is 2, with R staffed no alert."""
    from floorwatch.streams.alerting import QueueAlerter

    start = local_ms(interval_start(1)) + 60_000
    required = expected(*load_of(1, 1), "south")
    assert required is not None and required > 3
    for staffed, gap in ((required - 2, 2), (required, None)):
        view = capped_view()
        for i in range(staffed):
            state = "on_contact" if i == 0 else "available"
            view.apply(
                topics.AGENT_STATUS,
                f"a{i}".encode(),
                orjson.dumps({"agent_id": f"a{i}", "state": state, "queues": ["south"]}),
            )
        view.apply(
            topics.AGENT_STATUS, b"gone", orjson.dumps({"agent_id": "gone", "state": "logged_out", "queues": ["south"]})
        )
        alerter = QueueAlerter(make_settings(), view)
        alerter.step(start)
        fired = {
            c.alert["subject"]: c for c in alerter.step(start + 121_000) if c.alert["kind"] == "queue_staffing_gap"
        }
        if gap is None:
            assert "south" not in fired
        else:
            assert fired["south"].alert["details"]["value"] == gap
