"""The alert state machine: hysteresis, cool-down, escalation, ack, persistence."""

from __future__ import annotations

import orjson
import pytest

from floorwatch.config import AlertsConfig
from floorwatch.domain.alerts import (
    AlertBook,
    AlertRule,
    adherence_rule,
    needs_notification,
    observe_queue,
    queue_conditions,
    queue_rules,
)

S = 1000
T0 = 1_741_053_600_000  # 2025-03-04 10:00:00+08:00
WAITING = AlertRule(threshold=10, clear_threshold=8, min_duration_s=30, clear_duration_s=60, cooldown_s=300)


def at(seconds: float) -> int:
    return T0 + round(seconds * S)


def feed(
    book: AlertBook,
    values: list[tuple[float, object]],
    rule: AlertRule = WAITING,
    kind: str = "queue_waiting",
    subject: str = "support",
) -> list[tuple[str, int]]:
    """Observe (second, value) pairs; return (change type, seconds after T0)."""
    out = []
    for sec, value in values:
        for c in book.observe(kind, subject, value, at(sec), {"value": value}, rule):
            out.append((c.type, (c.at_ms - T0) // S))
    return out


def test_fires_only_after_the_condition_held_for_min_duration() -> None:
    book = AlertBook()
    # 11 waiting for 20 s, back to 10 (not > 10): the pending condition is forgotten
    assert feed(book, [(0, 11), (10, 12), (20, 10), (30, 11), (55, 11)]) == []
    # held from 30 s: fires at exactly 60 s, observed at 65 s
    assert feed(book, [(65, 11)]) == [("fired", 60)]
    alert = book.open_alert("queue_waiting", "support")
    assert alert is not None and alert["id"] == f"queue_waiting:support:{at(60)}"
    assert (alert["state"], alert["severity"], alert["started_at_ms"]) == ("firing", "warning", at(60))


def test_hovering_at_the_threshold_gives_one_alert_not_a_flood() -> None:
    book = AlertBook()
    values = [(s, 11) for s in range(0, 40, 5)]
    # then 10 minutes hovering 9 <-> 11 every 5 s: 9 is not clear (clear needs <= 8)
    values += [(40 + i * 5, 9 if i % 2 else 11) for i in range(120)]
    changes = feed(book, values)
    assert changes == [("fired", 30)]
    # <= 8 for 60 s clears: 8 from 640 s, resolved at 700 s
    assert feed(book, [(640, 8), (660, 7), (699, 5)]) == []
    assert feed(book, [(700, 5)]) == [("resolved", 700)]
    # a clear interrupted by 9 starts over (hysteresis band keeps nothing pending either)
    book2 = AlertBook()
    feed(book2, [(0, 11), (30, 11)])
    assert feed(book2, [(40, 8), (90, 9), (100, 8), (159, 8)]) == []
    assert feed(book2, [(160, 8)]) == [("resolved", 160)]


def test_cooldown_blocks_refiring_then_fires_exactly_at_its_end() -> None:
    book = AlertBook()
    assert feed(book, [(0, 11), (30, 11), (40, 5), (100, 5)]) == [("fired", 30), ("resolved", 100)]
    # immediately above again: min duration met at 130 s, but cool-down runs to 400 s
    assert feed(book, [(100, 12), (131, 12), (399, 12)]) == []
    assert feed(book, [(400, 12)]) == [("fired", 400)]


def test_observing_the_same_state_twice_changes_nothing() -> None:
    book = AlertBook()
    assert feed(book, [(0, 11), (40, 11)]) == [("fired", 30)]
    before = orjson.dumps(book.to_dict())
    assert feed(book, [(40, 11)]) == []
    assert orjson.dumps(book.to_dict()) == before
    # an older observation is taken as made at the latest time: no change, no time travel
    assert feed(book, [(35, 11)]) == []
    assert len(book.firing()) == 1


def test_ack_keeps_the_alert_open_and_stops_renotification() -> None:
    book = AlertBook()
    rule = AlertRule(threshold=10, clear_threshold=8, min_duration_s=0, critical_threshold=20)
    fired = book.observe("queue_waiting", "support", 11, at(0), {}, rule)
    assert [c.type for c in fired] == ["fired"] and needs_notification(fired[0])
    alert_id = fired[0].alert["id"]
    acked = book.ack(alert_id, "sam", at(10))
    assert acked is not None and acked.type == "acked" and not needs_notification(acked)
    assert (acked.alert["state"], acked.alert["acked_by"], acked.alert["acked_at_ms"]) == ("firing", "sam", at(10))
    assert book.ack(alert_id, "kim", at(20)) is None  # the first ack is kept
    assert book.ack("nope", "kim", at(20)) is None
    # escalation of an acked alert is published but does not notify again
    esc = book.observe("queue_waiting", "support", 25, at(30), {}, rule)
    assert [(c.type, c.alert["severity"], c.alert["acked_by"]) for c in esc] == [("escalated", "critical", "sam")]
    assert not needs_notification(esc[0])
    res = book.observe("queue_waiting", "support", 3, at(40), {}, rule)
    assert [c.type for c in res] == ["resolved"] and needs_notification(res[0])
    assert book.ack(alert_id, "sam", at(50)) is None  # resolved alerts leave the book
    # an unacknowledged escalation notifies
    book2 = AlertBook()
    book2.observe("queue_waiting", "support", 11, at(0), {}, rule)
    esc2 = book2.observe("queue_waiting", "support", 21, at(1), {}, rule)
    assert [c.type for c in esc2] == ["escalated"] and needs_notification(esc2[0])


def test_adherence_rule_times_are_exact_whenever_observed() -> None:
    rule = adherence_rule(120, 600)
    book = AlertBook()
    # the worker wakes up late (at 11 min) but knows the span started at 0
    changes = book.observe("adherence_break", "a1", True, at(660), {}, rule, since_ms=at(0))
    assert [(c.type, c.at_ms) for c in changes] == [("fired", at(120)), ("escalated", at(600))]
    assert changes[-1].alert["started_at_ms"] == at(120) and changes[-1].alert["severity"] == "critical"
    # immediate clear, no cool-down: a new span fires again after its own grace
    assert [c.type for c in book.observe("adherence_break", "a1", False, at(700), {}, rule)] == ["resolved"]
    again = book.observe("adherence_break", "a1", True, at(830), {}, rule, since_ms=at(705))
    assert [(c.type, c.at_ms) for c in again] == [("fired", at(825))]


def test_a_new_span_start_closes_the_open_adherence_alert() -> None:
    # the worker did not observe the short return to adherence, but the new span start tells
    rule = adherence_rule(120, 600)
    book = AlertBook()
    book.observe("adherence_break", "a1", True, at(130), {}, rule, since_ms=at(0))
    changes = book.observe("adherence_break", "a1", True, at(400), {}, rule, since_ms=at(200))
    assert [(c.type, c.at_ms) for c in changes] == [("resolved", at(200)), ("fired", at(320))]
    assert book.observe("adherence_break", "a1", True, at(410), {}, rule, since_ms=at(200)) == []


def test_tick_and_next_due_drive_time_only_transitions() -> None:
    rules = {"adherence_break": adherence_rule(120, 600)}
    book = AlertBook()
    assert book.observe("adherence_break", "a1", True, at(0), {}, rules["adherence_break"], since_ms=at(0)) == []
    assert book.next_due_ms(rules) == at(120)
    assert book.tick(at(119), rules) == []
    assert [(c.type, c.at_ms) for c in book.tick(at(120), rules)] == [("fired", at(120))]
    assert book.next_due_ms(rules) == at(600)
    assert [c.type for c in book.tick(at(600), rules)] == ["escalated"]
    assert book.next_due_ms(rules) is None
    assert book.tick(at(900), rules) == []


def test_book_survives_serialisation_mid_flight() -> None:
    values = [(0, 11), (20, 11), (40, 11), (60, 5), (90, 5), (130, 5), (200, 11), (600, 11), (700, 11)]
    straight = AlertBook()
    expected = feed(straight, values)
    book = AlertBook()
    got = []
    for sec, value in values:
        book = AlertBook.from_dict(orjson.loads(orjson.dumps(book.to_dict())))
        got += feed(book, [(sec, value)])
    assert got == expected == [("fired", 30), ("resolved", 120), ("fired", 420)]


def test_prune_forgets_only_idle_pairs() -> None:
    book = AlertBook()
    feed(book, [(0, 11), (30, 11), (40, 5), (100, 5)], subject="a")  # resolved at 100, cool-down to 400
    feed(book, [(0, 3)], subject="b")  # idle
    feed(book, [(0, 11)], subject="c")  # pending
    assert book.prune(at(200)) == 1 and set(book.trackers["queue_waiting"]) == {"a", "c"}
    assert book.prune(at(400)) == 1 and set(book.trackers["queue_waiting"]) == {"c"}


# --- queue alerts ---------------------------------------------------------------------------

CFG = AlertsConfig(waiting_max=10, longest_wait_max_s=120, min_contacts=10, abandon_rate_max=0.1)


def values(**over: object) -> dict:
    base = dict(
        waiting=0,
        longest_wait_s=None,
        interval_service_level=0.9,
        interval_contacts=20,
        rolling_15m_abandon_rate=0.0,
        rolling_15m_contacts=20,
        required_agents=None,
        staffed=5,
    )
    base.update(over)
    return queue_conditions(CFG, **base)  # type: ignore[arg-type]


def test_queue_conditions() -> None:
    assert values() == {
        "queue_waiting": 0,
        "queue_longest_wait": 0.0,
        "queue_service_level": 0.9,
        "queue_abandon_rate": 0.0,
        "queue_staffing_gap": None,
    }
    assert values(interval_service_level=0.5, interval_contacts=9)["queue_service_level"] is None
    assert values(rolling_15m_abandon_rate=0.5, rolling_15m_contacts=9)["queue_abandon_rate"] is None
    assert values(required_agents=8, staffed=5)["queue_staffing_gap"] == 3


def test_queue_rules_defaults() -> None:
    rules = queue_rules(CFG, sl_target=0.8)
    w = rules["queue_waiting"]
    assert (w.threshold, w.clear_threshold, w.critical_threshold) == (10, 8, 20)
    assert (w.min_duration_s, w.clear_duration_s, w.cooldown_s) == (30, 60, 300)
    sl = rules["queue_service_level"]
    assert sl.evaluate(0.79) == (True, False, False)
    assert sl.evaluate(0.8) == (False, True, False)  # at target is not below target
    assert sl.evaluate(None) == (False, True, False)  # too few contacts: no evidence
    assert rules["queue_abandon_rate"].evaluate(0.09) == (False, False, False)  # hysteresis band
    assert rules["queue_abandon_rate"].evaluate(0.08) == (False, True, False)
    assert rules["queue_staffing_gap"].evaluate(1) == (True, False, False)
    assert rules["queue_staffing_gap"].evaluate(0) == (False, True, False)
    assert rules["queue_longest_wait"].evaluate(241) == (True, False, True)


@pytest.mark.parametrize(
    ("kind", "bad", "good", "fire_s"),
    [
        ("queue_waiting", {"waiting": 11}, {"waiting": 3}, 30),
        ("queue_longest_wait", {"longest_wait_s": 130}, {"longest_wait_s": 10}, 15),
        ("queue_service_level", {"interval_service_level": 0.7}, {"interval_service_level": 0.85}, 60),
        ("queue_abandon_rate", {"rolling_15m_abandon_rate": 0.15}, {"rolling_15m_abandon_rate": 0.02}, 60),
        ("queue_staffing_gap", {"required_agents": 7, "staffed": 5}, {"required_agents": 5, "staffed": 5}, 120),
    ],
)
def test_each_queue_kind_fires_and_resolves(kind: str, bad: dict, good: dict, fire_s: int) -> None:
    rules = queue_rules(CFG, sl_target=0.8)
    book = AlertBook()
    changes = []
    for sec in range(0, 600, 5):
        figures = values(**(bad if sec < 300 else good))
        changes += [
            (c.type, c.alert["kind"], (c.at_ms - T0) // S)
            for c in observe_queue(book, "support", figures, rules, at(sec))
        ]
    clear_s = rules[kind].clear_duration_s
    assert changes == [("fired", kind, fire_s), ("resolved", kind, 300 + clear_s)]
