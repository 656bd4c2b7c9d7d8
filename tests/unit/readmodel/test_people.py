"""Agent performance, teams and the floor (floorwatch.readmodel.people) on the hand-built floor of
``people_day`` (its docstring has the timelines and the hand figures used here)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from floorwatch.readmodel import people
from floorwatch.readmodel.view import View
from tests.unit.readmodel.people_day import YESTERDAY, D, build_view, make_settings
from tests.unit.shanghai_day import NOW

ZERO_STATES = {"available": 0.0, "on_contact": 0.0, "wrap_up": 0.0, "aux": 0.0}


@pytest.fixture
def view() -> View:
    return build_view()


def states(available: float = 0.0, on_contact: float = 0.0, wrap_up: float = 0.0, aux: float = 0.0) -> dict[str, float]:
    return {"available": available, "on_contact": on_contact, "wrap_up": wrap_up, "aux": aux}


def test_agent_performance_day_intervals_and_rolling(view: View) -> None:
    found = people.agent_performance(view, make_settings(), "a1", date(2024, 3, 5), NOW)
    assert found is not None
    assert {k: found[k] for k in ("agent_id", "name", "team", "date", "max_concurrent")} == {
        "agent_id": "a1",
        "name": "Ann",
        "team": "north",
        "date": D,
        "max_concurrent": {"chat": 2},
    }
    assert found["day"] == {
        "handled": 4,
        "talk_s": 700.0,
        "hold_s": 60.0,
        "wrap_s": 170.0,
        "aht_s": 232.5,
        "transfers": 1,
        "occupancy": 2130 / 2550,
        "handle_s": 2130.0,
        "available_s": 420.0,
        "state_s": states(420.0, 1830.0, 300.0, 300.0),
        "aux_s": {"meeting": 300.0},
        "adherence": 2550 / 2850,
        "conformance": 2250 / 2550,
        "fcr": 2 / 3,
        "csat_avg": 4.5,
        "surveys": 2,
    }
    assert found["intervals"] == [
        {
            "start": "2024-03-05T09:30:00+08:00",
            "end": "2024-03-05T10:00:00+08:00",
            "handled": 3,
            "talk_s": 500.0,
            "hold_s": 60.0,
            "wrap_s": 120.0,
            "aht_s": 680_000 / 3 / 1000,
            "transfers": 1,
            "occupancy": 0.8,
            "handle_s": 1200.0,
            "available_s": 300.0,
            "state_s": states(300.0, 900.0, 300.0, 300.0),
            "aux_s": {"meeting": 300.0},
            "adherence": 1500 / 1800,
            "conformance": 0.8,
            "fcr": None,
            "csat_avg": 3.0,
            "surveys": 2,
        },
        {
            "start": "2024-03-05T10:00:00+08:00",
            "end": "2024-03-05T10:30:00+08:00",
            "handled": 1,
            "talk_s": 200.0,
            "hold_s": 0.0,
            "wrap_s": 50.0,
            "aht_s": 250.0,
            "transfers": 0,
            "occupancy": 930 / 1050,
            "handle_s": 930.0,
            "available_s": 120.0,
            "state_s": states(120.0, 930.0),
            "aux_s": {},
            "adherence": 1.0,
            "conformance": 1.0,
            "fcr": None,
            "csat_avg": None,
            "surveys": 0,
        },
    ]
    assert found["rolling_15m"] == {"occupancy": 780 / 900, "state_s": states(120.0, 780.0)}


def test_open_state_grows_with_now(view: View) -> None:
    """Two minutes later a1's open on_contact has 120 s more in 10:00-10:30 and in the day."""
    later = people.agent_performance(view, make_settings(), "a1", date(2024, 3, 5), NOW + 120_000)
    assert later is not None
    assert later["day"]["state_s"] == states(420.0, 1950.0, 300.0, 300.0)
    assert later["day"]["occupancy"] == 2250 / 2670
    assert later["intervals"][1]["handle_s"] == 1050.0
    # rolling (10:04:30, 10:19:30]: on_contact 30 + 750, available 120
    assert later["rolling_15m"] == {"occupancy": 780 / 900, "state_s": states(120.0, 780.0)}


def test_past_date_runs_open_state_to_the_day_end_and_has_no_rolling_window(view: View) -> None:
    found = people.agent_performance(view, make_settings(), "a1", date(2024, 3, 4), NOW)
    assert found is not None
    assert found["date"] == YESTERDAY
    assert found["rolling_15m"] is None
    assert found["day"]["state_s"] == states(1200.0, 600.0)
    assert found["day"]["occupancy"] == 600 / 1800
    assert (found["day"]["fcr"], found["day"]["surveys"], found["day"]["adherence"]) == (None, 0, None)
    assert [(r["start"], r["end"]) for r in found["intervals"]] == [
        ("2024-03-04T23:30:00+08:00", "2024-03-05T00:00:00+08:00")
    ]


def test_agent_known_only_from_a_quality_partial_and_unknown_agent(view: View) -> None:
    found = people.agent_performance(view, make_settings(), "a7", date(2024, 3, 5), NOW)
    assert found is not None
    assert (found["name"], found["team"], found["max_concurrent"], found["intervals"]) == ("a7", None, {}, [])
    assert (found["day"]["fcr"], found["day"]["handled"], found["day"]["occupancy"]) == (1.0, 0, None)
    assert found["day"]["state_s"] == ZERO_STATES
    assert found["rolling_15m"] == {"occupancy": None, "state_s": ZERO_STATES}
    assert people.agent_performance(view, make_settings(), "nobody", date(2024, 3, 5), NOW) is None
    # a known agent on a date without anything: zeros, no interval
    empty = people.agent_performance(view, make_settings(), "a2", date(2024, 2, 1), NOW)
    assert empty is not None
    assert (empty["intervals"], empty["day"]["handled"], empty["rolling_15m"]) == ([], 0, None)


def team(found: dict[str, Any], team_id: str) -> dict[str, Any]:
    return next(t for t in found["teams"] if t["id"] == team_id)


def test_teams_sum_milliseconds_then_divide(view: View) -> None:
    found = people.teams_overview(view, make_settings(), date(2024, 3, 5), NOW)
    assert found["date"] == D
    assert [t["id"] for t in found["teams"]] == ["north", "west", "south"]  # configured, then seen
    north = team(found, "north")
    assert (north["name"], north["agents"]) == ("North", 2)
    assert north["targets"] == {"occupancy": 0.85, "adherence": None, "aht_s": 300.0}
    day = north["day"]
    # a1 + a2: on_contact 1830 + 450, wrap_up 300, available 420 + 1500, aux 300
    assert day["state_s"] == states(1920.0, 2280.0, 300.0, 300.0)
    assert day["occupancy"] == 2580 / 4500
    assert day["occupancy"] != (2130 / 2550 + 450 / 1950) / 2  # not an average of the agents'
    assert (day["adherence"], day["conformance"]) == (4500 / 5700, 4200 / 5400)
    assert (day["shrinkage"], day["absent"], day["late_logins"], day["scheduled_s"]) == (300 / 5700, 0, 1, 5700.0)
    assert (day["handled"], day["aht_s"], day["transfers"], day["fcr"], day["csat_avg"]) == (4, 232.5, 1, 2 / 3, 4.5)
    assert [(r["start"][11:16], r["occupancy"], r["adherence"]) for r in north["intervals"]] == [
        ("09:30", 1200 / 2400, 2400 / 3600),
        ("10:00", 1380 / 2100, 1.0),
    ]
    # rolling: a1 on_contact 780, available 120; a2 available 450, on_contact 450
    assert north["rolling_15m"] == {"occupancy": 1230 / 1800, "state_s": states(570.0, 1230.0)}

    west = team(found, "west")
    assert (west["name"], west["agents"], west["intervals"]) == ("west", 0, [])
    assert west["targets"] == {"occupancy": None, "adherence": None, "aht_s": None}
    assert (west["day"]["occupancy"], west["day"]["shrinkage"], west["day"]["scheduled_s"]) == (None, None, 0.0)

    south = team(found, "south")
    assert (south["agents"], south["day"]["absent"], south["day"]["late_logins"]) == (1, 1, 0)
    assert (south["day"]["adherence"], south["day"]["shrinkage"], south["day"]["occupancy"]) == (0.0, 0.0, None)
    assert [r["start"][11:16] for r in south["intervals"]] == ["09:00", "09:30", "10:00"]
    assert south["rolling_15m"] == {"occupancy": None, "state_s": ZERO_STATES}


def test_floor_counts_agents_without_a_team(view: View) -> None:
    floor = people.teams_overview(view, make_settings(), date(2024, 3, 5), NOW)["floor"]
    assert "id" not in floor
    day = floor["day"]
    assert day["state_s"] == states(1920.0, 2280.0, 300.0, 300.0 + 1050.0)  # + a9's lunch
    assert day["aux_s"] == {"lunch": 1050.0, "meeting": 300.0}
    assert day["occupancy"] == 2580 / 4500  # aux is in neither term
    assert (day["absent"], day["late_logins"], day["scheduled_s"]) == (1, 1, 10350.0)
    assert day["shrinkage"] == 300 / 10350
    assert day["fcr"] == 3 / 4  # a1 2 of 3, a7 1 of 1
    assert floor["rolling_15m"] == {"occupancy": 1230 / 1800, "state_s": states(570.0, 1230.0, 0.0, 900.0)}


def test_teams_of_a_past_date_and_of_an_unprintable_date(view: View) -> None:
    found = people.teams_overview(view, make_settings(), date(2024, 3, 4), NOW)
    north = team(found, "north")
    assert (north["agents"], north["rolling_15m"], north["day"]["occupancy"]) == (1, None, 600 / 1800)
    assert found["floor"]["rolling_15m"] is None
    far = people.teams_overview(view, make_settings(), date(9999, 12, 31), NOW)
    assert far["floor"]["day"]["handled"] == 0
    assert [t["agents"] for t in far["teams"]] == [0, 0]


def test_profile_team_wins_over_the_record_team(view: View) -> None:
    """a2 moved to team south in its profile: its time counts there, not in north."""
    from tests.unit.readmodel.people_day import put_status

    put_status(view, "a2", "Bob", "south", "on_contact")
    found = people.teams_overview(view, make_settings(), date(2024, 3, 5), NOW)
    assert (team(found, "north")["agents"], team(found, "south")["agents"]) == (1, 2)
    assert team(found, "north")["day"]["occupancy"] == 2130 / 2550


def test_live_occupancy_per_team_and_floor(view: View) -> None:
    teams, floor = people.live_occupancy(view, make_settings(), NOW)
    assert set(teams) == {"north", "south"}
    assert (teams["north"].time.occupancy(), teams["north"].logged_in) == (1230 / 1800, 2)
    assert (teams["south"].time.occupancy(), teams["south"].logged_in) == (None, 0)
    assert (floor.time.occupancy(), floor.logged_in) == (1230 / 1800, 3)  # a9 on lunch is logged in
