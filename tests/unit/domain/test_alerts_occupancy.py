"""occupancy_high (floorwatch.domain.alerts): a team's rolling 15 min occupancy above the
threshold for duration_s with at least min_agents logged in; resolves at or below the threshold.
Times are explicit (the book reads no clock)."""

from __future__ import annotations

from floorwatch.config import OccupancyAlertConfig
from floorwatch.domain.alerts import (
    OCCUPANCY_HIGH,
    AlertBook,
    observe_team_occupancy,
    occupancy_condition,
    occupancy_rule,
)

CFG = OccupancyAlertConfig()  # threshold 0.9, duration 900 s, min 3 agents


def observe(book: AlertBook, occupancy: float | None, agents: int, now_ms: int) -> list[tuple[str, int]]:
    return [(c.type, c.at_ms) for c in observe_team_occupancy(book, "north", occupancy, agents, CFG, now_ms)]


def test_defaults_and_condition() -> None:
    rule = occupancy_rule(CFG)
    assert (rule.threshold, rule.min_duration_s, rule.clear_duration_s, rule.cooldown_s) == (0.9, 900.0, 0, 0)
    assert occupancy_condition(0.95, 3, 3) == 0.95
    assert occupancy_condition(0.95, 2, 3) is None  # too few agents: no evidence
    assert occupancy_condition(None, 5, 3) is None


def test_fires_after_duration_above_threshold_and_resolves_at_threshold() -> None:
    book = AlertBook()
    assert observe(book, 0.95, 3, 0) == []
    assert observe(book, 0.96, 4, 899_999) == []
    assert observe(book, 0.95, 3, 900_000) == [("fired", 900_000)]
    alert = book.open_alert(OCCUPANCY_HIGH, "north")
    assert alert is not None
    assert (alert["kind"], alert["subject"], alert["severity"], alert["id"]) == (
        "occupancy_high",
        "north",
        "warning",
        "occupancy_high:north:900000",
    )
    assert alert["details"] == {"team": "north", "occupancy": 0.95, "threshold": 0.9, "agents": 3}
    assert observe(book, 0.91, 3, 950_000) == []  # still above
    assert observe(book, 0.9, 3, 1_000_000) == [("resolved", 1_000_000)]  # at the threshold
    assert book.open_alert(OCCUPANCY_HIGH, "north") is None


def test_a_dip_to_the_threshold_restarts_the_duration() -> None:
    book = AlertBook()
    observe(book, 0.95, 3, 0)
    assert observe(book, 0.85, 3, 500_000) == []
    assert observe(book, 0.95, 3, 600_000) == []
    assert observe(book, 0.95, 3, 1_400_000) == []  # 800 s above since the dip
    assert observe(book, 0.95, 3, 1_500_000) == [("fired", 1_500_000)]


def test_not_below_min_agents() -> None:
    book = AlertBook()
    for now in range(0, 3_600_000, 60_000):
        assert observe(book, 1.0, 2, now) == []
    # three agents: the duration counts from then
    assert observe(book, 1.0, 3, 3_600_000) == []
    assert observe(book, 1.0, 3, 4_500_000) == [("fired", 4_500_000)]
    # down to two agents while firing: no evidence, the alert resolves
    assert observe(book, 1.0, 2, 4_560_000) == [("resolved", 4_560_000)]
