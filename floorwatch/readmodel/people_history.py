"""People figures over a range of local dates: one agent's performance, the teams and the floor,
adherence and quality, rolled up into intervals, days, ISO weeks or local months (docs/api.md
"Ranges and rollups", docs/metrics.md "Periods").

Exactness: a period's figures come from the SUMMED milliseconds and counts of its days
(``Figures.add``, ``Group.merge``, ``Counts.total``, integer ms), ratios after through the same
functions as a single day (``Figures.block``, ``adherence_ratio``, ``conformance_ratio``,
``quality_figures``): a week's adherence is its in-adherence ms over its scheduled ms, never an
average of daily ratios.

Cost: the agent performance reads only that agent's days (key lookups, no pass over the
floor); the teams take each date's day sums from ``TeamsCache.day_sums`` (computed once per
date, shared, reused); adherence and quality read the records of the range's dates once. The
sliced functions (``*_steps``) yield between slices; ``run_sliced`` gives the event loop a turn
at each. The caller bounds the range (at most 367 days).

Pure: the clock is the caller's, no FastAPI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from floorwatch.config import Settings
from floorwatch.domain.adherence import adherence_ratio, conformance_ratio
from floorwatch.domain.intervals import interval_end_ms, iso
from floorwatch.domain.periods import Group as Grouping, Period
from floorwatch.domain.queue_metrics import Counts
from floorwatch.domain.retention import drain
from floorwatch.readmodel import queries
from floorwatch.readmodel.people import (
    DayFrame,
    DaySums,
    Figures,
    Group,
    agent_day,
    agent_known,
    agent_record,
    agent_team,
    ms_of_seconds,
    team_name,
    team_order,
    team_targets,
)
from floorwatch.readmodel.queue_history import PERIOD_KEYS, period_head
from floorwatch.readmodel.view import View

T = TypeVar("T")

#: the keys a TEAM PERIOD ROW adds to the day BLOCK
TEAM_EXTRA_KEYS: tuple[str, ...] = ("shrinkage", "absent", "late_logins", "scheduled_s")
#: the figures of an adherence period row
ADHERENCE_KEYS: tuple[str, ...] = (
    "days",
    "scheduled_s",
    "in_adherence_s",
    "adherence",
    "work_scheduled_s",
    "worked_s",
    "conformance",
    "exception_count",
)
#: the figures of a quality row (``queries.quality_figures``)
QUALITY_KEYS: tuple[str, ...] = tuple(queries.quality_figures(Counts()))

DAYS_PER_SLICE = 31  # one agent's days computed between two turns of the event loop
RECORDS_PER_SLICE = 1000  # adherence or quality records read between two turns


async def run_sliced(steps: Generator[None, None, T]) -> T:
    """Run a sliced generator to its end, a turn of the event loop between two slices."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value
        await asyncio.sleep(0)


def _days(periods: Iterable[Period]) -> list[date]:
    return [day for p in periods for day in p.days()]


# -- GET /api/v1/agents/{agent_id}/performance?from&to&group ------------------------------------


def performance_range_steps(
    view: View,
    settings: Settings,
    agent_id: str,
    first: date,
    last: date,
    group: Grouping,
    periods: list[Period],
    now_ms: int,
) -> Generator[None, None, dict[str, Any] | None]:
    """The ranged performance of one agent (``None`` for an agent the view never saw): the total
    of the range and one row per period (``interval``: per interval of each day that the
    single-day answer lists, its BLOCK with ``fcr`` null). Only the agent's own days are read;
    ``DAYS_PER_SLICE`` days per step."""
    if not agent_known(view, agent_id):
        return None
    tz, minutes = settings.tz, settings.interval_minutes
    status = view.agents.get(agent_id) or {}
    total = Figures()
    rows: list[dict[str, Any]] = []
    last_record: dict[str, Any] | None = None
    done = 0
    for period in periods:
        summed = Figures()
        for day in period.days():
            if done and done % DAYS_PER_SLICE == 0:
                yield
            done += 1
            frame = DayFrame.of(settings, day, now_ms)
            if frame is None:
                continue
            record = agent_record(view, frame.day, agent_id)
            last_record = record if record is not None else last_record
            figures = agent_day(view, frame, agent_id, record, now_ms)
            summed.add(figures.day)
            if group == "interval":
                for start, fig in figures.intervals.items():
                    rows.append(
                        {
                            "period": iso(start, tz),
                            "from": frame.day,
                            "to": frame.day,
                            "start": iso(start, tz),
                            "end": iso(min(interval_end_ms(start, tz, minutes), frame.hi), tz),
                            **fig.block(day=False),
                        }
                    )
        total.add(summed)
        if group != "interval":
            rows.append({**period_head(period, tz), **summed.block(day=True)})
    max_concurrent = status.get("max_concurrent")
    name = status.get("name")
    return {
        "agent_id": agent_id,
        "name": name if isinstance(name, str) and name else agent_id,
        "team": agent_team(view, agent_id, last_record),
        "from": first.isoformat(),
        "to": last.isoformat(),
        "group": group,
        "max_concurrent": dict(max_concurrent) if isinstance(max_concurrent, dict) else {},
        "total": total.block(day=True),
        "periods": rows,
    }


def performance_csv_rows(body: Mapping[str, Any], tz: ZoneInfo) -> list[dict[str, Any]]:
    """CSV rows of a ranged performance: a first row with ``period`` "total" (the range's dates
    and local midnights), then the periods."""
    whole = Period("total", date.fromisoformat(body["from"]), date.fromisoformat(body["to"]))
    return [{**period_head(whole, tz), **body["total"]}, *body["periods"]]


def flat_columns(row: Mapping[str, Any]) -> tuple[str, ...]:
    """The CSV column names of a row: nested objects as dotted names (an empty one, like
    ``aux_s`` without aux time, keeps its own name)."""
    out: list[str] = []
    for key, value in row.items():
        if isinstance(value, Mapping) and value:
            out.extend(f"{key}.{sub}" for sub in flat_columns(value))
        else:
            out.append(key)
    return tuple(out)


#: the CSV columns of a BLOCK (``state_s`` as four columns; ``aux_s`` adds one per reason)
BLOCK_COLUMNS: tuple[str, ...] = flat_columns(Figures().block(day=True))
PERFORMANCE_COLUMNS: tuple[str, ...] = (*PERIOD_KEYS, *BLOCK_COLUMNS)


# -- GET /api/v1/teams?from&to&group ------------------------------------------------------------


def team_period_row(period: Period, group: Group, tz: ZoneInfo) -> dict[str, Any]:
    """TEAM PERIOD ROW: the period's keys, the agent-days counted, the day BLOCK of the summed
    figures with shrinkage, absent, late logins (agent-days) and scheduled seconds."""
    return {**period_head(period, tz), "agents": group.agents, **group.day_block()}


def teams_range_steps(
    settings: Settings, first: date, last: date, group: Grouping, periods: list[Period], sums: Mapping[date, DaySums]
) -> Generator[None, None, dict[str, Any]]:
    """``GET /api/v1/teams?from&to&group``: per period, each team's and the floor's sums of
    their days' sums (``sums``: every date of the periods, ``TeamsCache.day_sums``); teams as
    the single-day answer orders them, over every date's teams; every period listed.
    ``DAYS_PER_SLICE`` dates per step."""
    tz = settings.tz
    seen: set[str | None] = set()
    for day in _days(periods):
        seen.update(sums.get(day, {}))
    teams = team_order(settings, seen)
    floor_rows: list[dict[str, Any]] = []
    team_rows: dict[str, list[dict[str, Any]]] = {t: [] for t in teams}
    done = 0
    for period in periods:
        by_team: dict[str | None, Group] = {}
        for day in period.days():
            if done and done % DAYS_PER_SLICE == 0:
                yield
            done += 1
            for team, day_group in sums.get(day, {}).items():
                mine = by_team.get(team)
                if mine is None:
                    mine = by_team[team] = Group()
                mine.merge(day_group)
        floor = Group()
        for part in by_team.values():
            floor.merge(part)
        floor_rows.append(team_period_row(period, floor, tz))
        for team in teams:
            team_rows[team].append(team_period_row(period, by_team.get(team) or Group(), tz))
    configs = {t.id: t for t in settings.teams}
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "group": group,
        "floor": {"periods": floor_rows},
        "teams": [
            {
                "id": team,
                "name": team_name(configs.get(team), team),
                "targets": team_targets(configs.get(team)),
                "periods": team_rows[team],
            }
            for team in teams
        ],
    }


def teams_range(
    settings: Settings, first: date, last: date, group: Grouping, periods: list[Period], sums: Mapping[date, DaySums]
) -> dict[str, Any]:
    """``teams_range_steps`` run to its end."""
    return drain(teams_range_steps(settings, first, last, group, periods, sums))


#: the CSV columns of the ranged teams (the floor's rows have ``name`` and ``targets`` empty)
TEAMS_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    *flat_columns({"targets": team_targets(None)}),
    *PERIOD_KEYS,
    "agents",
    *BLOCK_COLUMNS,
    *TEAM_EXTRA_KEYS,
)


def teams_csv_rows(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """CSV rows of the ranged teams: one per (team, period), the floor's first with ``id`` "floor"."""
    rows = [{"id": "floor", **row} for row in body["floor"]["periods"]]
    for team in body["teams"]:
        rows.extend(
            {"id": team["id"], "name": team["name"], "targets": team["targets"], **row} for row in team["periods"]
        )
    return rows


# -- GET /api/v1/adherence?from&to&group ------------------------------------------------------


@dataclass(slots=True)
class _AdherenceSums:
    team: str | None = None
    days: int = 0
    ms: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # scheduled, in, work scheduled, worked
    exceptions: int = 0


_ADHERENCE_MS_FIELDS = ("scheduled_s", "in_adherence_s", "work_scheduled_s", "worked_s")


def _adherence_records(view: View, day: str, agent_id: str | None) -> Iterable[dict[str, Any]]:
    if agent_id is not None:
        record = agent_record(view, day, agent_id)
        return [record] if record is not None else []
    return view.adherence_days.get(day, {}).values()


def adherence_range_steps(
    view: View, settings: Settings, periods: list[Period], team: str | None = None, agent_id: str | None = None
) -> Generator[None, None, list[dict[str, Any]]]:
    """``GET /api/v1/adherence?from&to&group``: per (agent, period) with at least one
    ``fw.adherence`` record (of the team, when asked): the records counted (``days``), their
    seconds summed as integer ms, ratios after, and the exceptions counted. A record's team is
    the ``/api/v1/adherence`` rule (its own, else the live status's); a row's team is the one of
    its latest record. By team, agent, then period; ``RECORDS_PER_SLICE`` records per step."""
    tz = settings.tz
    out: list[dict[str, Any]] = []
    read = 0
    for period in periods:
        agents: dict[str, _AdherenceSums] = {}
        for day in period.days():
            for record in _adherence_records(view, day.isoformat(), agent_id):
                if read and read % RECORDS_PER_SLICE == 0:
                    yield
                read += 1
                aid = record.get("agent_id")
                if not isinstance(aid, str) or (agent_id is not None and aid != agent_id):
                    continue
                record_team = record.get("team") if isinstance(record.get("team"), str) else None
                if record_team is None:
                    status_team = (view.agents.get(aid) or {}).get("team")
                    record_team = status_team if isinstance(status_team, str) else None
                if team is not None and record_team != team:
                    continue
                sums = agents.get(aid)
                if sums is None:
                    sums = agents[aid] = _AdherenceSums()
                sums.team = record_team
                sums.days += 1
                for i, key in enumerate(_ADHERENCE_MS_FIELDS):
                    sums.ms[i] += ms_of_seconds(record.get(key))
                raw = record.get("exceptions")
                if isinstance(raw, list):
                    sums.exceptions += sum(queries.exception_row(x, settings) is not None for x in raw)
        head = period_head(period, tz)
        for aid, sums in agents.items():
            scheduled, in_adherence, work_scheduled, worked = sums.ms
            out.append(
                {
                    "agent_id": aid,
                    "team": sums.team,
                    **head,
                    "days": sums.days,
                    "scheduled_s": scheduled / 1000,
                    "in_adherence_s": in_adherence / 1000,
                    "adherence": adherence_ratio(in_adherence, scheduled),
                    "work_scheduled_s": work_scheduled / 1000,
                    "worked_s": worked / 1000,
                    "conformance": conformance_ratio(worked, work_scheduled),
                    "exception_count": sums.exceptions,
                }
            )
    out.sort(key=lambda r: (r["team"] or "", r["agent_id"], r["from"]))
    return out


ADHERENCE_COLUMNS: tuple[str, ...] = ("agent_id", "team", *PERIOD_KEYS, *ADHERENCE_KEYS)


# -- GET /api/v1/quality?from&to&group --------------------------------------------------------


def quality_range_steps(
    view: View, settings: Settings, first: date, last: date, group: Grouping, periods: list[Period], team: str | None
) -> Generator[None, None, dict[str, Any]]:
    """``GET /api/v1/quality?from&to&group``: FCR and CSAT per (agent, period) and per (team,
    period) with data, from the summed counts of the period's days (the single-day rules: an
    agent's team is its current profile's; a team's ``agents`` counts its agents with data in
    the period). Agents by id then period; teams by id (no team last) then period."""
    tz = settings.tz
    agents: list[dict[str, Any]] = []
    teams: list[tuple[str | None, date, dict[str, Any]]] = []
    read = 0
    for period in periods:
        per_agent: dict[str, list[Counts]] = {}
        for day in period.days():
            for aid, parts in view.agent_quality.get(day.isoformat(), {}).items():
                if read and read % RECORDS_PER_SLICE == 0:
                    yield
                read += 1
                per_agent.setdefault(aid, []).extend(parts.values())
        head = period_head(period, tz)
        by_team: dict[str | None, list[Counts]] = {}
        for aid in sorted(per_agent):
            status = view.agents.get(aid) or {}
            agent_team = status.get("team") if isinstance(status.get("team"), str) else None
            if team is not None and agent_team != team:
                continue
            counts = Counts.total(per_agent[aid])
            by_team.setdefault(agent_team, []).append(counts)
            name = status.get("name")
            agents.append(
                {
                    "agent_id": aid,
                    "name": name if isinstance(name, str) and name else aid,
                    "team": agent_team,
                    **head,
                    **queries.quality_figures(counts),
                }
            )
        for t, members in by_team.items():
            teams.append(
                (
                    t,
                    period.first,
                    {"team": t, "agents": len(members), **head, **queries.quality_figures(Counts.total(members))},
                )
            )
    agents.sort(key=lambda r: (r["agent_id"], r["from"]))
    teams.sort(key=lambda x: (x[0] is None, x[0] or "", x[1]))
    return {
        "from": first.isoformat(),
        "to": last.isoformat(),
        "group": group,
        "fcr_window_hours": settings.fcr.window_hours,
        "agents": agents,
        "teams": [row for _, _, row in teams],
    }


QUALITY_COLUMNS: dict[str, tuple[str, ...]] = {
    "agents": ("agent_id", "name", "team", *PERIOD_KEYS, *QUALITY_KEYS),
    "teams": ("team", "agents", *PERIOD_KEYS, *QUALITY_KEYS),
}
