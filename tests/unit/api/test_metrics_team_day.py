"""/metrics: today's shrinkage, absent agents, late logins and AHT per team, and today's
offered contacts, service level and transfer ratio per channel, on the hand-built floor of
tests/unit/readmodel/people_day.py (now 2024-03-05 10:17:30) with the channel partials of
tests/unit/api/test_api_people.py.

north = a1 + a2: shrinkage (300 s off-phone + 0 + 0 + 0) / (2850 + 2850) s = 300/5700;
  a1 logged in at its shift start (on time), a2 at 09:45 for a 09:30 shift (late): absent 0, late 1;
  contacts (a1 only; a2's row is zeros): 2 + 1 + 1 handled, talk 400 + 100 + 200 s, hold 60 s,
  wrap 100 + 20 + 50 s -> AHT 930 / 4 = 232.5 s.
south = a3: shrinkage 0 / 4650 = 0.0; shift from 09:00, never logged in: absent 1, late 0; no
  contact: no AHT sample.
west (configured, no agent): absent 0, late 0; no shrinkage (nothing scheduled) and no AHT.
a9 and a7 have no team: in no team sample (as in /api/v1/teams, where they are floor only).

voice = support + mystery: offered 4 + 5 + 1 = 10; answered 3 + 4 + 1 = 8 (2 still waiting),
  within 3 + 4 + 0 = 7, none abandoned -> SL 7/8; handled 3 + 3 + 1 = 7, transferred 1 -> 1/7.
chat = sales + webchat (formulas differ -> answered_over_offered): offered 2 + 3 = 5, within
  1 + 1 = 2 of 3 answered + 2 abandoned -> SL 2/5; handled 2 + 1 = 3, transferred 1 -> 1/3.
The per-queue ratios would not give these: mean of support's and mystery's transfer ratios today
is (1/6 + 0) / 2 = 1/12, not 1/7.
"""

from __future__ import annotations

from datetime import date

import pytest

from floorwatch.readmodel.people import team_day_figures, teams_overview
from floorwatch.readmodel.view import View
from tests.unit.api.test_api_people import view as people_view  # noqa: F401 - the fixture, by name
from tests.unit.api.test_metrics_occupancy import scrape
from tests.unit.readmodel.people_day import D, build_view, make_settings, t
from tests.unit.shanghai_day import NOW

pytestmark = pytest.mark.usefixtures("isolated_config")

NOW_DATE = date(2024, 3, 5)


@pytest.fixture
def view(people_view: View) -> View:  # noqa: F811 - the floor and channels of test_api_people
    return people_view


def team_values(found: dict, name: str) -> dict[str, float]:
    return {dict(labels)["team"]: v for (n, labels), v in found.items() if n == name}


def channel_values(found: dict, name: str) -> dict[str, float]:
    return {dict(labels)["channel"]: v for (n, labels), v in found.items() if n == name}


def test_team_day_families(view: View) -> None:
    found = scrape(view, make_settings())
    assert team_values(found, "floorwatch_team_shrinkage_ratio") == {"north": 300 / 5700, "south": 0.0}
    assert team_values(found, "floorwatch_team_absent_agents") == {"north": 0, "west": 0, "south": 1}
    assert team_values(found, "floorwatch_team_late_logins") == {"north": 1, "west": 0, "south": 0}
    assert team_values(found, "floorwatch_team_aht_seconds") == {"north": 232.5}


def test_team_day_figures_are_the_teams_endpoint_day_figures(view: View) -> None:
    """The same sums as GET /api/v1/teams' day blocks, which build every agent's intervals."""
    settings = make_settings()
    overview = teams_overview(view, settings, NOW_DATE, NOW)
    groups = team_day_figures(view, settings, NOW)
    assert list(groups) == [t["id"] for t in overview["teams"]] == ["north", "west", "south"]
    for team in overview["teams"]:
        group, day = groups[team["id"]], team["day"]
        assert group.agents == team["agents"]
        assert (group.absent, group.late_logins) == (day["absent"], day["late_logins"])
        assert group.day.aht_s() == day["aht_s"]
        assert group.day.handle[4] == day["transfers"]
    assert [g.agents for g in groups.values()] == [2, 0, 1]


def test_channel_families(view: View) -> None:
    found = scrape(view, make_settings())
    assert channel_values(found, "floorwatch_channel_offered_contacts") == {"voice": 10, "chat": 5}
    assert channel_values(found, "floorwatch_channel_service_level_ratio") == {"voice": 7 / 8, "chat": 2 / 5}
    assert channel_values(found, "floorwatch_channel_transfer_ratio") == {"voice": 1 / 7, "chat": 1 / 3}


def test_team_day_families_respect_the_team_cap(view: View) -> None:
    settings = make_settings()
    settings = settings.model_copy(update={"api": settings.api.model_copy(update={"metrics_max_teams": 1})})
    found = scrape(view, settings)
    for name in ("floorwatch_team_absent_agents", "floorwatch_team_late_logins"):
        assert set(team_values(found, name)) == {"north"}
    assert team_values(found, "floorwatch_team_aht_seconds") == {"north": 232.5}


def test_another_instant_and_no_data() -> None:
    """Before any shift starts (08:00 the same day) nobody is absent or late; an empty view has
    the configured teams' zero counts and no ratio."""
    found = scrape(build_view(), make_settings(), t("08:00"))
    assert team_values(found, "floorwatch_team_absent_agents") == {"north": 0, "west": 0, "south": 0}
    assert team_values(found, "floorwatch_team_late_logins") == {"north": 0, "west": 0, "south": 0}
    found = scrape(View(), make_settings())
    assert team_values(found, "floorwatch_team_absent_agents") == {"north": 0, "west": 0}
    assert team_values(found, "floorwatch_team_shrinkage_ratio") == {}
    assert channel_values(found, "floorwatch_channel_offered_contacts") == {"voice": 0, "chat": 0}
    assert channel_values(found, "floorwatch_channel_transfer_ratio") == {}


def test_channel_figures_follow_a_changed_partial(view: View) -> None:
    """The collector keeps each (queue, interval)'s merged counts between scrapes; a replaced
    partial (a late event in a closed interval) and a new one are read at the next scrape.
    support 09:30 p0 becomes offered 6, answered 5 (5 within), handled 5, transferred 2; a new
    mystery 10:00 p1 adds offered 1, answered 1 (1 within), handled 1:
    voice offered 6 + 5 + 1 + 1 = 13; within 5 + 4 + 0 + 1 = 10 of 5 + 4 + 1 + 1 = 11 answered;
    transferred 2 + 1 = 3 of 5 + 3 + 1 + 1 = 10 handled."""
    from prometheus_client import CollectorRegistry, generate_latest

    from floorwatch.api.metrics import ViewCollector
    from tests.unit.api.test_metrics import samples
    from tests.unit.readmodel.people_day import put_interval
    from tests.unit.shanghai_day import I_0930, I_1000

    registry = CollectorRegistry()
    registry.register(ViewCollector(view, make_settings(), lambda: NOW))
    first = samples(generate_latest(registry).decode())
    assert channel_values(first, "floorwatch_channel_offered_contacts")["voice"] == 10
    aoo = "answered_over_offered"
    put_interval(
        view, "support", I_0930, 0, None, aoo, offered=6, answered=5, answered_within_sl=5, handled=5, transferred=2
    )
    put_interval(view, "mystery", I_1000, 1, None, aoo, offered=1, answered=1, answered_within_sl=1, handled=1)
    found = samples(generate_latest(registry).decode())
    assert channel_values(found, "floorwatch_channel_offered_contacts") == {"voice": 13, "chat": 5}
    assert channel_values(found, "floorwatch_channel_service_level_ratio")["voice"] == 10 / 11
    assert channel_values(found, "floorwatch_channel_transfer_ratio")["voice"] == 3 / 10


def test_rows_outside_the_date_are_left_out(view: View) -> None:
    """a2 gains a record whose 10:00 row counts (2 handled, 100 s of talk) and whose row at
    yesterday's 23:30 does not: north AHT (930 + 100) / (4 + 2) s, as in /api/v1/teams."""
    from tests.unit.readmodel.people_day import put_handle
    from tests.unit.shanghai_day import I_1000, I_YESTERDAY

    put_handle(
        view, "a2", D, 3, {I_1000: [2, 100_000, 0, 0, 0, 0, 0, 0], I_YESTERDAY: [5, 9_000_000, 0, 0, 0, 0, 0, 0]}
    )
    found = scrape(view, make_settings())
    assert team_values(found, "floorwatch_team_aht_seconds") == {"north": 1030 / 6}
    north = teams_overview(view, make_settings(), NOW_DATE, NOW)["teams"][0]
    assert north["day"]["aht_s"] == 1030 / 6


def test_team_aht_follows_a_replaced_contact_record(view: View) -> None:
    """The collector keeps each agent_handle record's sums between scrapes while the view holds
    the same record: a1's partition 1 replaced by one row of 10:00 (3 handled, 300 s of talk,
    30 s of wrap) gives north (400 + 60 + 100 + 300 + 30) / (2 + 3) = 178 s at the next scrape."""
    from prometheus_client import CollectorRegistry, generate_latest

    from floorwatch.api.metrics import ViewCollector
    from tests.unit.api.test_metrics import samples
    from tests.unit.readmodel.people_day import put_handle
    from tests.unit.shanghai_day import I_1000

    registry = CollectorRegistry()
    registry.register(ViewCollector(view, make_settings(), lambda: NOW))
    assert team_values(samples(generate_latest(registry).decode()), "floorwatch_team_aht_seconds") == {"north": 232.5}
    put_handle(view, "a1", D, 1, {I_1000: [3, 300_000, 0, 30_000, 0, 0, 0, 0]})
    found = samples(generate_latest(registry).decode())
    assert team_values(found, "floorwatch_team_aht_seconds") == {"north": 890 / 5}
    assert teams_overview(view, make_settings(), NOW_DATE, NOW)["teams"][0]["day"]["aht_s"] == 890 / 5
