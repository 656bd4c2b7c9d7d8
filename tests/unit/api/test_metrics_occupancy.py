"""/metrics: rolling 15 min occupancy per team and of the floor, and the transfer ratio per queue,
on the hand-built floor of tests/unit/readmodel/people_day.py.

Rolling (10:02:30, 10:17:30]: north = a1 (on_contact 780 s, available 120 s) + a2 (available
450 s, on_contact 450 s) -> 1230 / 1800; south (a3, no state) has no occupancy: no sample; the
floor adds a9's 900 s of aux, which is in neither term -> 1230 / 1800.
support 09:30: handled 4, transferred 0; 10:00: handled 3, transferred 1 -> interval 1/3, today 1/7.
"""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from floorwatch.api.metrics import ViewCollector
from floorwatch.config import Settings
from floorwatch.readmodel.view import View
from tests.unit.api.test_metrics import samples, value
from tests.unit.readmodel.people_day import build_view, make_settings, put_interval
from tests.unit.shanghai_day import I_0930, I_1000, NOW

pytestmark = pytest.mark.usefixtures("isolated_config")

TEAM = "floorwatch_team_occupancy_ratio"
FLOOR = "floorwatch_floor_occupancy_ratio"
TRANSFER = "floorwatch_queue_transfer_ratio"


@pytest.fixture
def view() -> View:
    v = build_view(contacts=False)
    put_interval(v, "support", I_0930, 0, None, "answered_over_offered", offered=4, answered=4, handled=4)
    put_interval(
        v, "support", I_1000, 0, None, "answered_over_offered", offered=3, answered=3, handled=3, transferred=1
    )
    return v


def scrape(view: View, settings: Settings, now_ms: int = NOW) -> dict:
    registry = CollectorRegistry()
    registry.register(ViewCollector(view, settings, lambda: now_ms))
    return samples(generate_latest(registry).decode())


def test_team_and_floor_occupancy(view: View) -> None:
    found = scrape(view, make_settings())
    assert value(found, TEAM, team="north") == 1230 / 1800
    assert {dict(labels)["team"] for name, labels in found if name == TEAM} == {"north"}  # south: 0/0
    assert value(found, FLOOR) == 1230 / 1800


def test_occupancy_of_another_instant(view: View) -> None:
    """At 10:25 (window (10:10, 10:25]): a1 on_contact 900 s, a2 on_contact 900 s -> 1.0."""
    found = scrape(view, make_settings(), NOW + 450_000)
    assert value(found, TEAM, team="north") == 1.0
    assert value(found, FLOOR) == 1.0


def test_team_occupancy_respects_the_team_cap(view: View) -> None:
    settings = make_settings().model_copy(
        update={"api": make_settings().api.model_copy(update={"metrics_max_teams": 1})}
    )
    found = scrape(view, settings)
    assert {dict(labels)["team"] for name, labels in found if name == TEAM} == {"north"}
    assert value(found, "floorwatch_metrics_label_values_cut", label="team") == 3  # west (configured), none (a7), south
    assert value(found, FLOOR) == 1230 / 1800  # the floor is not a team label
    settings = make_settings().model_copy(update={"teams": []})
    found = scrape(view, settings.model_copy(update={"api": settings.api.model_copy(update={"metrics_max_teams": 2})}))
    # kept: "none" (agents without a team, first), then north by name; south cut
    assert {dict(labels)["team"] for name, labels in found if name == TEAM} == {"north"}


def test_transfer_ratio_per_queue_and_window(view: View) -> None:
    found = scrape(view, make_settings())
    s = {"queue": "support", "channel": "voice"}
    assert value(found, TRANSFER, **s, window="interval") == 1 / 3
    assert value(found, TRANSFER, **s, window="today") == 1 / 7
    assert value(found, TRANSFER, **s, window="rolling_15m") is None  # nothing handled: omitted
