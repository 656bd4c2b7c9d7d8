"""Alert routing: matches, first match / continue, quiet hours (overnight, days), scope per kind.

Expected channel lists are written out by hand from the rules of each test."""

from datetime import datetime

import pytest

from floorwatch.config import Settings
from floorwatch.domain.alert_routing import Quiet, Route, Routing, Scope, alert_scope, hhmm_minutes, route_alert


def alert(kind: str, subject: str, severity: str = "warning", **details: object) -> dict:
    return {"id": f"{kind}:{subject}:0", "kind": kind, "subject": subject, "severity": severity, "details": details}


# 2026-12-04 is a Friday (weekday 4)
FRI = datetime(2026, 12, 4)


def at(day: int, hh: int, mm: int = 0) -> datetime:
    return datetime(2026, 12, day, hh, mm)


def test_hhmm():
    assert hhmm_minutes("00:00") == 0
    assert hhmm_minutes("07:30") == 450
    assert hhmm_minutes("23:59") == 1439


def test_same_day_quiet_hours_include_start_exclude_end():
    q = Quiet(hhmm_minutes("12:00"), hhmm_minutes("13:30"))
    assert not q.covers(at(4, 11, 59))
    assert q.covers(at(4, 12, 0))
    assert q.covers(at(4, 13, 29))
    assert not q.covers(at(4, 13, 30))


def test_overnight_span_belongs_to_the_day_it_starts():
    # Fridays only, 22:00 -> 07:00: Friday 22:00 .. Saturday 06:59
    q = Quiet(hhmm_minutes("22:00"), hhmm_minutes("07:00"), frozenset({4}))
    assert FRI.weekday() == 4
    assert not q.covers(at(4, 21, 59))
    assert q.covers(at(4, 22, 0))
    assert q.covers(at(4, 23, 59))
    assert q.covers(at(5, 0, 0))  # Saturday morning: Friday's span
    assert q.covers(at(5, 6, 59))
    assert not q.covers(at(5, 7, 0))
    assert not q.covers(at(5, 22, 0))  # Saturday evening: no span starts on Saturday
    assert not q.covers(at(4, 3, 0))  # Friday morning belongs to Thursday's span: not listed


def test_overnight_every_day_and_midnight_end():
    q = Quiet(hhmm_minutes("22:00"), hhmm_minutes("07:00"))
    assert q.covers(at(1, 2, 0)) and q.covers(at(1, 23, 0)) and not q.covers(at(1, 12, 0))
    until_midnight = Quiet(hhmm_minutes("18:00"), hhmm_minutes("00:00"))
    assert until_midnight.covers(at(1, 23, 59)) and not until_midnight.covers(at(2, 0, 0))


def test_scope_per_kind():
    assert alert_scope(alert("queue_waiting", "sales", queue="sales")) == Scope(queue="sales")
    assert alert_scope(alert("queue_service_level", "sales")) == Scope(queue="sales")  # no details: the subject
    assert alert_scope(alert("occupancy_high", "t1", team="t1")) == Scope(team="t1")
    assert alert_scope(alert("adherence_break", "a7", agent_id="a7", team="t2")) == Scope(team="t2", agent="a7")
    assert alert_scope(alert("adherence_break", "a7", agent_id="a7", team=None)) == Scope(agent="a7")
    assert alert_scope(alert("something_new", "x", queue="q", team="t")) == Scope(queue="q", team="t")
    assert alert_scope({"kind": "queue_waiting"}) == Scope()


def test_empty_lists_match_anything_and_values_must_be_listed():
    r = Route(channels=("c",), kinds=frozenset({"queue_waiting"}), queues=frozenset({"sales"}))
    assert r.matches("queue_waiting", "warning", Scope(queue="sales"))
    assert not r.matches("queue_waiting", "warning", Scope(queue="support"))
    assert not r.matches("queue_longest_wait", "warning", Scope(queue="sales"))
    assert not r.matches("queue_waiting", "warning", Scope())  # no queue: a queue list does not take it
    teams = Route(channels=("c",), teams=frozenset({"t1"}))
    assert teams.matches("adherence_break", "critical", Scope(team="t1", agent="a"))
    assert not teams.matches("queue_waiting", "critical", Scope(queue="t1"))
    crit = Route(channels=("c",), severities=frozenset({"critical"}))
    assert crit.matches("x", "critical", Scope()) and not crit.matches("x", "warning", Scope())
    assert Route(channels=("c",)).matches("anything", "", Scope())


ROUTES = [
    Route(channels=("sales-mail",), kinds=frozenset({"queue_waiting"}), queues=frozenset({"sales"})),
    Route(channels=("pager", "am"), severities=frozenset({"critical"}), continue_=True),
    Route(channels=("t1-mail", "am"), teams=frozenset({"t1"})),
    Route(channels=("catch-all",)),
]


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        # first rule matches and stops
        (alert("queue_waiting", "sales", queue="sales"), ("sales-mail",)),
        (alert("queue_waiting", "sales", "critical", queue="sales"), ("sales-mail",)),
        # critical continues, then the team rule (am once), which stops
        (alert("adherence_break", "a1", "critical", agent_id="a1", team="t1"), ("pager", "am", "t1-mail")),
        # critical continues to the catch-all
        (alert("queue_waiting", "support", "critical", queue="support"), ("pager", "am", "catch-all")),
        (alert("adherence_break", "a2", agent_id="a2", team="t1"), ("t1-mail", "am")),
        (alert("adherence_break", "a3", agent_id="a3", team="t2"), ("catch-all",)),
        (alert("occupancy_high", "t1", team="t1"), ("t1-mail", "am")),
    ],
)
def test_first_match_wins_unless_continue(record, expected):
    assert route_alert(record, ROUTES, FRI) == Routing(send=expected)


def test_no_route_matches_nothing():
    only = [Route(channels=("c",), kinds=frozenset({"occupancy_high"}))]
    assert route_alert(alert("queue_waiting", "q"), only, FRI) == Routing()
    assert route_alert(alert("queue_waiting", "q"), [], FRI) == Routing()


def test_a_quiet_rule_still_decides_and_reports_its_channels():
    night = Quiet(hhmm_minutes("20:00"), hhmm_minutes("08:00"))
    routes = [
        Route(channels=("mail",), kinds=frozenset({"queue_waiting"}), quiet=night),
        Route(channels=("catch-all",)),
    ]
    record = alert("queue_waiting", "sales", queue="sales")
    assert route_alert(record, routes, at(4, 12)) == Routing(send=("mail",))
    # at night the rule matches, sends nothing, and does not fall through to the catch-all
    assert route_alert(record, routes, at(4, 21)) == Routing(quiet=("mail",))
    # with continue the next rules still get it
    cont = [Route(channels=("mail", "am"), quiet=night, continue_=True), Route(channels=("am", "log"))]
    assert route_alert(record, cont, at(4, 21)) == Routing(send=("am", "log"), quiet=("mail",))
    assert route_alert(record, cont, at(4, 12)) == Routing(send=("mail", "am", "log"))


def test_routes_from_settings():
    s = Settings(
        alerts={
            "channels": [{"id": "am", "type": "alertmanager", "url": "http://am:9093"}],
            "routes": [
                {
                    "match": {"kinds": ["adherence_break"], "teams": ["t1"], "severities": ["critical"]},
                    "channels": ["am"],
                    "quiet_hours": {"start": "22:00", "end": "06:30", "days": ["sat", "sun"]},
                    "continue": True,
                },
                {"channels": ["am"]},
            ],
        }
    )
    first, second = (Route.of(r) for r in s.alerts.routes)
    assert first == Route(
        channels=("am",),
        kinds=frozenset({"adherence_break"}),
        teams=frozenset({"t1"}),
        severities=frozenset({"critical"}),
        quiet=Quiet(22 * 60, 6 * 60 + 30, frozenset({5, 6})),
        continue_=True,
    )
    assert second == Route(channels=("am",))
