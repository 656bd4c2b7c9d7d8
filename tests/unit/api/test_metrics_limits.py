"""/metrics label caps: at most ``api.metrics_max_queues`` queue and ``api.metrics_max_teams`` team
label values per family; configured ones first, then the others by name; the cut counted.

The view: configured queues ``support`` and ``sales`` (no data), queues seen only in records
``billing``, ``zulu``, ``alpha`` -> 5 queues; configured teams ``north`` and ``south``, agents also
in ``zeta``, ``alpha`` and without a team (``none``) -> 5 teams. With caps of 3 the kept ones are
support, sales, alpha and north, south, none: 2 of each cut.
"""

from __future__ import annotations

import random

import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from floorwatch import records, topics
from floorwatch.api.metrics import ViewCollector, kept_label_values
from floorwatch.config import Settings
from floorwatch.readmodel.view import View
from tests.unit.api.test_metrics import counts, put_adherence, put_agent, put_interval, put_queue, samples
from tests.unit.settings_factory import floor_settings
from tests.unit.shanghai_day import I_1000, NOW

pytestmark = pytest.mark.usefixtures("isolated_config")

CUT = "floorwatch_metrics_label_values_cut"


def make_settings(max_queues: int = 500, max_teams: int = 200) -> Settings:
    return floor_settings(
        tokens=[],
        queues=[{"id": "support", "channel": "voice"}, {"id": "sales", "channel": "chat"}],
        teams=[{"id": "north"}, {"id": "south"}],
        api={"metrics_max_queues": max_queues, "metrics_max_teams": max_teams},
    )


def fcr_agent(view: View, agent: str, eligible: int, resolved: int) -> None:
    record = {
        "kind": "fcr_agent",
        "agent_id": agent,
        "date": "2024-03-05",
        "partition": 0,
        "updated_ms": NOW - 1_000,
        "fcr_eligible": eligible,
        "fcr_resolved": resolved,
    }
    view.apply(
        topics.QUALITY_STATS, records.agent_day_key("fcr-agent", agent, "2024-03-05", 0).encode(), orjson.dumps(record)
    )


@pytest.fixture
def view() -> View:
    v = View()
    put_interval(
        v, "support", I_1000, 0, counts(offered=4, answered=3, answered_within_sl=2, handled=2, talk_ms=200_000)
    )
    put_queue(v, "support", 0, 1, NOW - 45_000, counts(offered=3, answered=2, answered_within_sl=1), NOW - 1_000)
    put_queue(v, "billing", 0, 2, NOW - 30_000, counts(offered=2, answered=1), NOW - 2_000)
    put_queue(v, "zulu", 0, 0, None, counts(offered=1, answered=1, answered_within_sl=1), NOW - 3_000)
    put_interval(v, "alpha", I_1000, 1, counts(offered=5, answered=5, answered_within_sl=4))
    put_agent(v, "n1", "north", ["support"], "available", True)
    put_agent(v, "s1", "south", ["sales"], "aux", False)
    put_agent(v, "z1", "zeta", ["support"], "on_contact", True)
    put_agent(v, "a1", "alpha", ["billing"], "wrap_up", None)
    put_agent(v, "x1", "", ["support"], "available", None)  # no team: "none"
    put_adherence(v, "z1", "zeta", "2024-03-05", 3600, 1800)
    put_adherence(v, "n1", "north", "2024-03-05", 3600, 3600)
    fcr_agent(v, "z1", 4, 3)
    fcr_agent(v, "n1", 2, 2)
    return v


def scrape(view: View, settings: Settings) -> dict:
    registry = CollectorRegistry()
    registry.register(ViewCollector(view, settings, lambda: NOW, lambda: {"ready": True}))
    return samples(generate_latest(registry).decode())


def label_values(found: dict, label: str) -> set[str]:
    return {dict(labels)[label] for name, labels in found if name != CUT and label in dict(labels)}


def test_kept_label_values_configured_first_then_by_name() -> None:
    seen = {"z", "a", "c", "b", "d"}
    assert kept_label_values(["b", "a"], seen, 3) == (["b", "a", "c"], 2)  # d, z cut
    assert kept_label_values(["b", "a"], seen, 10) == (["b", "a", "c", "d", "z"], 0)
    assert kept_label_values(["b", "a", "b"], seen, 1) == (["b"], 4)  # a (configured), c, d, z cut
    assert kept_label_values(["q"], set(), 2) == (["q"], 0)  # configured and without data: kept
    assert kept_label_values([], ["y", "x", "y"], 1) == (["x"], 1)


def test_uncapped_scrape_has_every_queue_and_team(view: View) -> None:
    found = scrape(view, make_settings())
    assert label_values(found, "queue") == {"support", "sales", "billing", "zulu", "alpha"}
    assert label_values(found, "team") == {"north", "south", "zeta", "alpha", "none"}
    assert found[(CUT, frozenset({("label", "queue")}))] == 0
    assert found[(CUT, frozenset({("label", "team")}))] == 0


def test_caps_keep_configured_then_by_name_and_count_the_cut(view: View) -> None:
    full = scrape(view, make_settings())
    capped = scrape(view, make_settings(max_queues=3, max_teams=3))
    assert label_values(capped, "queue") == {"support", "sales", "alpha"}
    assert label_values(capped, "team") == {"north", "south", "none"}
    assert capped[(CUT, frozenset({("label", "queue")}))] == 2  # billing, zulu
    assert capped[(CUT, frozenset({("label", "team")}))] == 2  # alpha, zeta
    # the kept series are exactly the uncapped ones, with the same values
    kept = {"queue": {"support", "sales", "alpha"}, "team": {"north", "south", "none"}}
    expected = {
        key: v
        for key, v in full.items()
        if key[0] != CUT and all(value in kept[label] for label, value in key[1] if label in kept)
    }
    assert {key: v for key, v in capped.items() if key[0] != CUT} == expected
    # every team family kept all three teams (configured ones even at 0)
    for family in ("floorwatch_agents_out_of_adherence", "floorwatch_agents_scheduled"):
        assert {dict(labels)["team"] for name, labels in capped if name == family} == {"north", "south", "none"}


def test_configured_values_beyond_the_cap_are_cut_too(view: View) -> None:
    found = scrape(view, make_settings(max_queues=1, max_teams=1))
    assert label_values(found, "queue") == {"support"}
    assert label_values(found, "team") == {"north"}
    assert found[(CUT, frozenset({("label", "queue")}))] == 4
    assert found[(CUT, frozenset({("label", "team")}))] == 4


def test_random_queue_names_do_not_grow_the_scrape() -> None:
    """A script posting random queue names: the exposition keeps 3 queues, whatever arrives."""
    view, rng = View(), random.Random(7)
    names = [f"junk-{rng.getrandbits(48):012x}" for _ in range(1000)]
    for name in names:
        put_queue(view, name, 0, 1, NOW - 10_000, counts(offered=1), NOW - 1_000)
    collector = ViewCollector(view, make_settings(max_queues=3), lambda: NOW)
    registry = CollectorRegistry()
    registry.register(collector)
    found = samples(generate_latest(registry).decode())
    assert label_values(found, "queue") == {"support", "sales", sorted(names)[0]}
    assert found[(CUT, frozenset({("label", "queue")}))] == len(set(names)) + 2 - 3
    assert collector.cut == {"queue": len(set(names)) - 1, "team": 0}
    assert len(collector._closed) <= 3  # the per-queue memo follows the kept queues

    # earlier names arrive: the kept set moves, and the memo of the queue left out is dropped
    for name in ("aaa-1", "aaa-0"):
        put_queue(view, name, 0, 1, NOW - 10_000, counts(offered=1), NOW - 1_000)
    found = samples(generate_latest(registry).decode())
    assert label_values(found, "queue") == {"support", "sales", "aaa-0"}
    assert set(collector._closed) <= {"support", "sales", "aaa-0"}
    assert collector.cut["queue"] == len(set(names)) + 2 + 2 - 3
