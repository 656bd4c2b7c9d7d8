"""occupancy_high on the leader's QueueAlerter with an injected clock, over the hand-built floor of
tests/unit/readmodel/people_day.py, and the alert view's fw.adherence horizon.

north = a1 + a2 (2 logged in). Rolling at 10:17:30: 1230/1800 (0.683); at 10:18:30 (window from
10:03:30): a1 on_contact 90 + 690, available 120; a2 available 390, on_contact 510 -> 1290/1800;
at 10:19:30: 1350/1800 (0.75).
"""

from __future__ import annotations

import orjson
import pytest

from floorwatch import records, topics
from floorwatch.config import Settings
from floorwatch.domain.alerts import alert_id
from floorwatch.readmodel.view import View
from floorwatch.streams.alerting import (
    ALERT_VIEW_OPTIONAL,
    ALERT_VIEW_REQUIRED,
    OCCUPANCY_VIEW_OPTIONAL,
    AlertView,
    QueueAlerter,
)
from tests.unit.readmodel.people_day import YESTERDAY, D, build_view, put_status
from tests.unit.settings_factory import floor_settings
from tests.unit.shanghai_day import NOW

pytestmark = pytest.mark.usefixtures("isolated_config")


def make_settings(**occupancy: object) -> Settings:
    config = {"threshold": 0.6, "duration_s": 60, "min_agents": 2, **occupancy}
    return floor_settings(tokens=[], teams=[{"id": "north"}], alerts={"occupancy_high": config})


def occupancy_changes(alerter: QueueAlerter, now_ms: int) -> list[tuple[str, str, int]]:
    return [(c.type, c.alert["subject"], c.at_ms) for c in alerter.step(now_ms) if c.alert["kind"] == "occupancy_high"]


def test_fires_after_the_duration_with_the_live_figures() -> None:
    view = build_view(contacts=False)
    alerter = QueueAlerter(make_settings(), view)
    assert occupancy_changes(alerter, NOW) == []
    assert occupancy_changes(alerter, NOW + 59_999) == []
    changes = [c for c in alerter.step(NOW + 60_000) if c.alert["kind"] == "occupancy_high"]
    assert [(c.type, c.alert["subject"], c.at_ms) for c in changes] == [("fired", "north", NOW + 60_000)]
    assert changes[0].alert["details"] == {"team": "north", "occupancy": 1290 / 1800, "threshold": 0.6, "agents": 2}
    # a2 moves to team south: north keeps one agent logged in, below min_agents -> resolved
    put_status(view, "a2", "Bob", "south", "on_contact")
    assert occupancy_changes(alerter, NOW + 61_000) == [("resolved", "north", NOW + 61_000)]


class OnlyTopics(View):
    """A view fed only the given topics (the others are read and dropped)."""

    def __init__(self, wanted: set[str]) -> None:
        super().__init__()
        self.wanted = wanted

    def apply(self, topic: str, key: bytes | str | None, value: bytes | None) -> bool:
        return super().apply(topic, key, value) if topic in self.wanted else True


def test_the_alert_view_topics_are_enough_for_occupancy_high() -> None:
    wanted = {*ALERT_VIEW_REQUIRED, *ALERT_VIEW_OPTIONAL, *OCCUPANCY_VIEW_OPTIONAL}
    assert topics.QUALITY_STATS not in wanted
    decided = []
    for view in (build_view(contacts=False), build_view(OnlyTopics(wanted), contacts=False)):
        alerter = QueueAlerter(make_settings(), view)
        decided.append([occupancy_changes(alerter, now) for now in (NOW, NOW + 60_000)])
    assert decided[0] == decided[1] == [[], [("fired", "north", NOW + 60_000)]]


def test_min_agents_and_threshold_and_disabled() -> None:
    for settings in (make_settings(min_agents=3), make_settings(threshold=0.8), make_settings(enabled=False)):
        alerter = QueueAlerter(settings, build_view(contacts=False))
        for now in range(NOW, NOW + 120_000, 10_000):
            assert occupancy_changes(alerter, now) == []


def test_a_new_leader_adopts_and_resolves_an_open_occupancy_alert() -> None:
    view = build_view(contacts=False)
    started = NOW - 600_000
    key = alert_id("occupancy_high", "west", started)
    alert = {
        "id": key,
        "kind": "occupancy_high",
        "subject": "west",
        "severity": "warning",
        "state": "firing",
        "started_at_ms": started,
        "resolved_at_ms": None,
        "acked_by": None,
        "acked_at_ms": None,
        "details": {"team": "west"},
    }
    assert view.apply(topics.ALERTS, key.encode(), records.dumps(alert))
    alerter = QueueAlerter(make_settings(), view)
    # west has no agent today: no occupancy, the adopted alert resolves; north only starts counting
    assert occupancy_changes(alerter, NOW) == [("resolved", "west", NOW)]


def test_alert_view_keeps_adherence_records_from_its_horizon() -> None:
    horizon = [D]
    view = AlertView(adherence_from=lambda: horizon[0])
    for day in (YESTERDAY, D):
        record = {"agent_id": "a1", "date": day, "team": "north", "updated_ms": NOW}
        assert view.apply(topics.ADHERENCE, f"a1|{day}".encode(), orjson.dumps(record))
    assert set(view.adherence_days) == {D}
    assert set(view.adherence) == {f"a1|{D}"}
    assert not view.apply(topics.ADHERENCE, b"a2|2024-03-05", orjson.dumps({"date": D}))  # still checked
    horizon[0] = "2024-03-06"
    assert view.drop_old_adherence() == 1
    assert (view.adherence, view.adherence_days) == ({}, {})
    assert isinstance(view, View)
