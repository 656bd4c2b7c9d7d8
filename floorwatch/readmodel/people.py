"""Agent performance, teams and the floor from the ``View`` (docs/metrics.md §10-12).

``GET /api/v1/agents/{agent_id}/performance``, ``GET /api/v1/teams``, the occupancy gauges of
``/metrics`` and the ``occupancy_high`` alert all read the figures built here, from:

* ``view.adherence_days[date]``: the ``fw.adherence`` record of each agent and local date, with
  its ``agent_time`` (ms per state per interval, the open state, the recent points),
  ``adherence_intervals``, ``shrinkage`` and ``shift`` (``floorwatch.domain.occupancy`` reads them);
* ``view.agent_handle[date][agent]``: per partition, rows of 8 ints per offered interval
  ``[handled, talk_ms, hold_ms, wrap_ms, transferred, surveys, score_sum, satisfied]``;
* ``view.agent_quality[date][agent]``: the day's FCR and CSAT counts (as ``/api/v1/quality``);
* ``view.agents``: the live status, whose profile team is an agent's team (else the record's).

Every figure is a sum of milliseconds or counts first and a ratio after (a team's occupancy is
never an average of its agents'). Work is bounded by the agents of one date.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from operator import itemgetter
from typing import Any

from floorwatch.config import Settings, TeamConfig
from floorwatch.domain.adherence import adherence_ratio, conformance_ratio
from floorwatch.domain.intervals import day_bounds_ms, day_interval_starts, interval_end_ms, iso, local_date
from floorwatch.domain.occupancy import (
    AgentTime,
    adherence_by_interval,
    day_time,
    interval_times,
    logged_in_at,
    rolling_time,
    shift_status,
    shrinkage_ratio,
)
from floorwatch.domain.queue_metrics import Counts, aht_s, ratio
from floorwatch.domain.retention import drain
from floorwatch.readmodel.view import View

# indexes of an agent_handle row
HANDLED, TALK_MS, HOLD_MS, WRAP_MS, TRANSFERRED, SURVEYS, SCORE_SUM, SATISFIED = range(8)
HANDLE_WIDTH = 8
# indexes of an adherence_intervals row
SCHEDULED, IN_ADHERENCE, WORK_SCHEDULED, WORKED = range(4)
SHRINKAGE_KEYS = ("scheduled_ms", "off_phone_scheduled_ms", "unscheduled_aux_ms")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def ms_of_seconds(value: Any) -> int:
    """A record's ``*_s`` figure (ms / 1000) back in whole ms (0 when missing)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return round(value * 1000)


@dataclass(slots=True)
class Figures:
    """Summable figures of one agent (or of several) over one interval or one day."""

    time: AgentTime = field(default_factory=AgentTime)
    handle: list[int] = field(default_factory=lambda: [0] * HANDLE_WIDTH)
    adherence: list[int] = field(default_factory=lambda: [0, 0, 0, 0])  # scheduled, in, work sched, worked
    fcr_eligible: int = 0
    fcr_resolved: int = 0
    surveys: int = 0
    score_sum: int = 0

    def add(self, other: Figures) -> None:
        self.time.add(other.time)
        for i, v in enumerate(other.handle):
            self.handle[i] += v
        for i, v in enumerate(other.adherence):
            self.adherence[i] += v
        self.fcr_eligible += other.fcr_eligible
        self.fcr_resolved += other.fcr_resolved
        self.surveys += other.surveys
        self.score_sum += other.score_sum

    def aht_s(self) -> float | None:
        """(talk + hold + wrap) / handled of the contacts answered (None when none handled)."""
        h = self.handle
        return aht_s(Counts(handled=h[HANDLED], talk_ms=h[TALK_MS], hold_ms=h[HOLD_MS], wrap_ms=h[WRAP_MS]))

    def block(self, *, day: bool) -> dict[str, Any]:
        """The BLOCK of the API: contacts, agent time, adherence, FCR (day only) and CSAT."""
        h, t = self.handle, self.time
        handled = h[HANDLED]
        return {
            "handled": handled,
            "talk_s": h[TALK_MS] / 1000,
            "hold_s": h[HOLD_MS] / 1000,
            "wrap_s": h[WRAP_MS] / 1000,
            "aht_s": self.aht_s(),
            "transfers": h[TRANSFERRED],
            "occupancy": t.occupancy(),
            "handle_s": t.handle_ms / 1000,
            "available_s": t.available_ms / 1000,
            "state_s": t.state_s(),
            "aux_s": t.aux_s(),
            "adherence": adherence_ratio(self.adherence[IN_ADHERENCE], self.adherence[SCHEDULED]),
            "conformance": conformance_ratio(self.adherence[WORKED], self.adherence[WORK_SCHEDULED]),
            "fcr": ratio(self.fcr_resolved, self.fcr_eligible) if day else None,
            "csat_avg": ratio(self.score_sum, self.surveys),
            "surveys": self.surveys,
        }


@dataclass(slots=True)
class AgentDay:
    """One agent's figures of one local date."""

    agent_id: str
    team: str | None
    record: dict[str, Any] | None  # the fw.adherence record of the date
    day: Figures
    intervals: dict[int, Figures]
    rolling: AgentTime | None  # rolling 15 min (today only)
    logged_in: bool  # logged in at now (today only)


@dataclass(slots=True)
class DayFrame:
    """The local date's bounds, interval starts and whether it is today."""

    day: str
    lo: int
    hi: int
    starts: list[int]
    today: bool

    @classmethod
    def of(cls, settings: Settings, day: date, now_ms: int) -> DayFrame | None:
        tz = settings.tz
        try:
            lo, hi = day_bounds_ms(day, tz)
            starts = day_interval_starts(day, tz, settings.interval_minutes)
        except (OverflowError, ValueError):  # 0001-01-01 / 9999-12-31: no data there
            return None
        return cls(day.isoformat(), lo, hi, starts, local_date(now_ms, tz) == day)


def _records_by_agent(view: View, day: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for record in view.adherence_days.get(day, {}).values():
        aid = _text(record.get("agent_id"))
        if aid is not None:
            out[aid] = record
    return out


def agent_record(view: View, day: str, agent_id: str) -> dict[str, Any] | None:
    """The agent's fw.adherence record of the date, by its key ``{agent_id}|{date}`` (one
    lookup, not a pass over the date's records); a record naming another agent is not it."""
    record = view.adherence_days.get(day, {}).get(f"{agent_id}|{day}")
    return record if isinstance(record, dict) and _text(record.get("agent_id")) == agent_id else None


def _date_agent_ids(view: View, day: str, records: Mapping[str, Any]) -> set[str]:
    """The agents of a local date: those with an fw.adherence record, contact rows or quality."""
    return set(records) | set(_handle_parts(view, day)) | set(view.agent_quality.get(day, {}))


def _handle_parts(view: View, day: str) -> Mapping[str, Mapping[str, Mapping[int, list[int]]]]:
    return view.agent_handle.get(day, {})


def _handle_rows(view: View, frame: DayFrame, agent_id: str) -> list[tuple[int, list[int]]]:
    """The agent's agent_handle rows of the date, every partition: (interval start, 8 ints);
    rows outside the date, malformed or all zeros skipped."""
    lo, hi = frame.lo, frame.hi
    return [
        (start, row)
        for part in _handle_parts(view, frame.day).get(agent_id, {}).values()
        for start, row in part.items()
        if lo <= start < hi and len(row) == HANDLE_WIDTH and any(row)
    ]


HandleMemo = dict[str, tuple[Mapping[int, list[int]], list[int]]]


def _part_sums(part: Mapping[int, list[int]], lo: int, hi: int) -> list[int]:
    """Column sums of one agent_handle record's rows that ``_handle_rows`` keeps (rows of
    zeros add nothing)."""
    rows = [row for start, row in part.items() if lo <= start < hi and len(row) == HANDLE_WIDTH]
    return [sum(map(itemgetter(i), rows)) for i in range(HANDLE_WIDTH)]


def _handle_sums(
    view: View, frame: DayFrame, agent_ids: Iterable[str], memo: HandleMemo | None, seen: HandleMemo
) -> list[int]:
    """Column sums of the agents' agent_handle rows of the date. ``memo`` (record key -> (the
    record's rows object, its sums)) keeps each record's sums while the view holds the same
    object (a new record is a new object); ``seen`` collects this pass's entries."""
    lo, hi = frame.lo, frame.hi
    parts_of = _handle_parts(view, frame.day)
    sums = [0] * HANDLE_WIDTH
    for aid in agent_ids:
        for key, part in parts_of.get(aid, {}).items():
            hit = memo.get(key) if memo is not None else None
            if hit is None or hit[0] is not part:
                hit = (part, _part_sums(part, lo, hi))
            seen[key] = hit
            for i, v in enumerate(hit[1]):
                sums[i] += v
    return sums


def agent_team(view: View, agent_id: str, record: Mapping[str, Any] | None) -> str | None:
    """The team of the agent's current profile (fw.agent-status), else the record's."""
    status = view.agents.get(agent_id)
    team = _text(status.get("team")) if isinstance(status, dict) else None
    if team is None and record is not None:
        team = _text(record.get("team"))
    return team


def agent_day(
    view: View,
    frame: DayFrame,
    agent_id: str,
    record: dict[str, Any] | None,
    now_ms: int,
) -> AgentDay:
    """Every figure of one agent on the frame's date, agent time extended to ``now_ms``."""
    lo, hi = frame.lo, frame.hi
    intervals: dict[int, Figures] = {}

    def at(start: int) -> Figures:
        found = intervals.get(start)
        if found is None:
            found = intervals[start] = Figures()
        return found

    agent_time = record.get("agent_time") if record is not None else None
    per_interval = interval_times(agent_time, frame.starts, hi, now_ms)
    for start, t in per_interval.items():
        if lo <= start < hi:
            at(start).time.add(t)
    if record is not None:
        for start, row in adherence_by_interval(record.get("adherence_intervals")).items():
            if lo <= start < hi and any(row):
                fig = at(start)
                for i, v in enumerate(row):
                    fig.adherence[i] += v
    day = Figures()
    for start, row in _handle_rows(view, frame, agent_id):
        fig = at(start)
        for i, v in enumerate(row):
            fig.handle[i] += v
            day.handle[i] += v
        fig.surveys += row[SURVEYS]
        fig.score_sum += row[SCORE_SUM]
    day.time = day_time({s: f.time for s, f in intervals.items()})
    if record is not None:
        day.adherence = [
            ms_of_seconds(record.get(k)) for k in ("scheduled_s", "in_adherence_s", "work_scheduled_s", "worked_s")
        ]
    quality = view.agent_quality.get(frame.day, {}).get(agent_id)
    if quality:
        counts = Counts.total(list(quality.values()))
        day.fcr_eligible, day.fcr_resolved = counts.fcr_eligible, counts.fcr_resolved
        day.surveys, day.score_sum = counts.surveys, counts.score_sum
    rolling: AgentTime | None = None
    logged_in = False
    if frame.today:
        recent = agent_time.get("recent") if isinstance(agent_time, dict) else None
        recent = recent if isinstance(recent, list) else None
        rolling = rolling_time(recent, now_ms)
        logged_in = logged_in_at(recent, now_ms)
    return AgentDay(
        agent_id, agent_team(view, agent_id, record), record, day, dict(sorted(intervals.items())), rolling, logged_in
    )


AGENTS_PER_SLICE = 25  # agents a sliced pass handles between two turns of the event loop (~10-20 ms)


def date_agents_steps(view: View, frame: DayFrame, now_ms: int) -> Generator[None, None, list[AgentDay]]:
    """Every agent with figures on the date (an fw.adherence record, contact rows or quality),
    a slice of ``AGENTS_PER_SLICE`` agents per step."""
    records = _records_by_agent(view, frame.day)
    ids = sorted(_date_agent_ids(view, frame.day, records))
    out: list[AgentDay] = []
    for i, aid in enumerate(ids):
        if i and i % AGENTS_PER_SLICE == 0:
            yield
        out.append(agent_day(view, frame, aid, records.get(aid), now_ms))
    return out


def date_agents(view: View, frame: DayFrame, now_ms: int) -> list[AgentDay]:
    return drain(date_agents_steps(view, frame, now_ms))


def rolling_block(time: AgentTime | None) -> dict[str, Any] | None:
    if time is None:
        return None
    return {"occupancy": time.occupancy(), "state_s": time.state_s()}


def _interval_rows(intervals: Mapping[int, Figures], settings: Settings, hi: int) -> list[dict[str, Any]]:
    tz, minutes = settings.tz, settings.interval_minutes
    return [
        {
            "start": iso(start, tz),
            "end": iso(min(interval_end_ms(start, tz, minutes), hi), tz),
            **fig.block(day=False),
        }
        for start, fig in sorted(intervals.items())
    ]


# -- GET /api/v1/agents/{agent_id}/performance -------------------------------------------------


def agent_known(view: View, agent_id: str) -> bool:
    """Whether the view has seen the agent: a status, or any record of any date."""
    if agent_id in view.agents:
        return True
    if any(f"{agent_id}|{day}" in records for day, records in view.adherence_days.items()):
        return True
    return any(agent_id in agents for agents in view.agent_handle.values()) or any(
        agent_id in agents for agents in view.agent_quality.values()
    )


def agent_performance(view: View, settings: Settings, agent_id: str, day: date, now_ms: int) -> dict[str, Any] | None:
    """``GET /api/v1/agents/{agent_id}/performance``; ``None`` for an agent the view never saw."""
    if not agent_known(view, agent_id):
        return None
    status = view.agents.get(agent_id) or {}
    frame = DayFrame.of(settings, day, now_ms)
    record = _records_by_agent(view, frame.day).get(agent_id) if frame is not None else None
    max_concurrent = status.get("max_concurrent")
    out: dict[str, Any] = {
        "agent_id": agent_id,
        "name": _text(status.get("name")) or agent_id,
        "team": agent_team(view, agent_id, record),
        "date": day.isoformat(),
        "max_concurrent": dict(max_concurrent) if isinstance(max_concurrent, dict) else {},
    }
    if frame is None:
        return {**out, "day": Figures().block(day=True), "intervals": [], "rolling_15m": None}
    figures = agent_day(view, frame, agent_id, record, now_ms)
    return {
        **out,
        "day": figures.day.block(day=True),
        "intervals": _interval_rows(figures.intervals, settings, frame.hi),
        "rolling_15m": rolling_block(figures.rolling),
    }


# -- GET /api/v1/teams -------------------------------------------------------------------------


@dataclass(slots=True)
class Group:
    """Sums over a set of agents (a team, the floor)."""

    agents: int = 0
    day: Figures = field(default_factory=Figures)
    intervals: dict[int, Figures] = field(default_factory=dict)
    rolling: AgentTime | None = None
    logged_in: int = 0
    shrinkage: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SHRINKAGE_KEYS, 0))
    absent: int = 0
    late_logins: int = 0

    def add(self, agent: AgentDay, now_ms: int) -> None:
        self.agents += 1
        self.day.add(agent.day)
        for start, fig in agent.intervals.items():
            mine = self.intervals.get(start)
            if mine is None:
                mine = self.intervals[start] = Figures()
            mine.add(fig)
        if agent.rolling is not None:
            if self.rolling is None:
                self.rolling = AgentTime()
            self.rolling.add(agent.rolling)
        self.logged_in += agent.logged_in
        self.add_record(agent.record, now_ms)

    def add_record(self, record: Mapping[str, Any] | None, now_ms: int) -> None:
        """The agent-date's shrinkage counters and shift status (late / absent) at ``now_ms``."""
        record = record or {}
        shrinkage = record.get("shrinkage")
        if isinstance(shrinkage, dict):
            for k in SHRINKAGE_KEYS:
                v = shrinkage.get(k)
                if isinstance(v, int) and not isinstance(v, bool):
                    self.shrinkage[k] += v
        shift = record.get("shift")
        status = shift_status(shift if isinstance(shift, dict) else None, now_ms)
        self.absent += status == "absent"
        self.late_logins += status == "late"

    def merge(self, other: Group) -> None:
        """Add another group's sums (the floor is the sum of its teams and the agents with none)."""
        self.agents += other.agents
        self.day.add(other.day)
        for start, fig in other.intervals.items():
            mine = self.intervals.get(start)
            if mine is None:
                mine = self.intervals[start] = Figures()
            mine.add(fig)
        if other.rolling is not None:
            if self.rolling is None:
                self.rolling = AgentTime()
            self.rolling.add(other.rolling)
        self.logged_in += other.logged_in
        for k in SHRINKAGE_KEYS:
            self.shrinkage[k] += other.shrinkage[k]
        self.absent += other.absent
        self.late_logins += other.late_logins

    def day_block(self) -> dict[str, Any]:
        """The day BLOCK of the summed figures with shrinkage, absent, late logins and scheduled seconds."""
        return {
            **self.day.block(day=True),
            "shrinkage": shrinkage_ratio(self.shrinkage),
            "absent": self.absent,
            "late_logins": self.late_logins,
            "scheduled_s": self.day.adherence[SCHEDULED] / 1000,
        }

    def team_block(self, settings: Settings, hi: int) -> dict[str, Any]:
        return {
            "day": self.day_block(),
            "intervals": _interval_rows(self.intervals, settings, hi),
            "rolling_15m": rolling_block(self.rolling),
        }


def team_order(settings: Settings, seen: Iterable[str | None]) -> list[str]:
    """Configured teams in config order, then every other team seen, sorted."""
    configured = [t.id for t in settings.teams]
    known = set(configured)
    return configured + sorted({t for t in seen if t is not None and t not in known})


def date_groups_steps(
    view: View, settings: Settings, day: date, now_ms: int
) -> Generator[None, None, tuple[DayFrame | None, dict[str | None, Group]]]:
    """The date's frame and one ``Group`` per team of its agents (``None``: agents without a
    team), each agent added to its team's group once; a slice of agents per step."""
    frame = DayFrame.of(settings, day, now_ms)
    agents = (yield from date_agents_steps(view, frame, now_ms)) if frame is not None else []
    today = frame is not None and frame.today
    groups: dict[str | None, Group] = {}
    for i, agent in enumerate(agents):
        if i and i % AGENTS_PER_SLICE == 0:
            yield
        group = groups.get(agent.team)
        if group is None:
            group = groups[agent.team] = Group(rolling=AgentTime() if today else None)
        group.add(agent, now_ms)
    return frame, groups


def teams_overview_steps(
    view: View, settings: Settings, day: date, now_ms: int
) -> Generator[None, None, dict[str, Any]]:
    """``GET /api/v1/teams``: per team and for the floor, the sums of the agents' figures; a
    slice of agents per step (``teams_overview`` runs it to the end, ``TeamsCache`` a turn of the
    event loop per slice). Each agent is added to its team's group once; the floor is the sum of
    the groups."""
    frame, groups = yield from date_groups_steps(view, settings, day, now_ms)
    return teams_answer(settings, day, frame, groups)


def teams_answer(
    settings: Settings, day: date, frame: DayFrame | None, groups: Mapping[str | None, Group]
) -> dict[str, Any]:
    """The ``GET /api/v1/teams`` answer of the date's groups (``date_groups_steps``); the
    groups are only read."""
    today = frame is not None and frame.today
    hi = frame.hi if frame is not None else 0
    floor = Group(rolling=AgentTime() if today else None)
    for group in groups.values():
        floor.merge(group)
    configs = {t.id: t for t in settings.teams}
    teams = []
    for team in team_order(settings, groups):
        config = configs.get(team)
        group = groups.get(team) or Group(rolling=AgentTime() if today else None)
        teams.append(
            {
                "id": team,
                "name": team_name(config, team),
                "agents": group.agents,
                "targets": team_targets(config),
                **group.team_block(settings, hi),
            }
        )
    return {"date": day.isoformat(), "floor": floor.team_block(settings, hi), "teams": teams}


def team_name(config: TeamConfig | None, team: str) -> str:
    """A team's configured name, else its id."""
    return (config.name if config is not None else "") or team


def team_targets(config: TeamConfig | None) -> dict[str, float | None]:
    """A team's configured targets (``null`` when not configured)."""
    targets = config.targets if config is not None else None
    return {
        "occupancy": targets.occupancy if targets is not None else None,
        "adherence": targets.adherence if targets is not None else None,
        "aht_s": targets.aht_s if targets is not None else None,
    }


def teams_overview(view: View, settings: Settings, day: date, now_ms: int) -> dict[str, Any]:
    return drain(teams_overview_steps(view, settings, day, now_ms))


def team_day_figures(view: View, settings: Settings, now_ms: int, memo: HandleMemo | None = None) -> dict[str, Group]:
    """Today's day figures of each team that need no agent time, for ``/metrics``: the agents'
    contact rows (``day.handle``: handled, AHT, transfers), shrinkage counters, absent and late
    logins, summed as ``GET /api/v1/teams`` sums them (the same agents of the date, team rule,
    rows and ``Group.add_record``) but without the per-interval agent time and adherence that
    the endpoint also builds (~0.3 ms per agent). Teams in ``team_order``; configured teams
    without agents included (empty groups). ``memo`` (kept by the caller between calls, updated
    here to today's records): each agent_handle record's column sums while it is unchanged."""
    frame = DayFrame.of(settings, local_date(now_ms, settings.tz), now_ms)
    groups: dict[str, Group] = {}
    members: dict[str, list[str]] = {}
    if frame is not None:
        records = _records_by_agent(view, frame.day)
        for aid in _date_agent_ids(view, frame.day, records):
            record = records.get(aid)
            team = agent_team(view, aid, record)
            if team is None:
                continue
            group = groups.get(team)
            if group is None:
                group = groups[team] = Group()
            group.agents += 1
            group.add_record(record, now_ms)
            members.setdefault(team, []).append(aid)
        seen: HandleMemo = {}
        for team, team_ids in members.items():
            groups[team].day.handle = _handle_sums(view, frame, team_ids, memo, seen)
        if memo is not None:
            memo.clear()
            memo.update(seen)
    return {team: groups.get(team) or Group() for team in team_order(settings, groups)}


# -- live: rolling 15 min per team (gauges, occupancy_high) --------------------------------------


@dataclass(slots=True)
class LiveTeam:
    """A team's (or the floor's) rolling 15 min agent time and agents logged in now."""

    time: AgentTime = field(default_factory=AgentTime)
    logged_in: int = 0


def live_occupancy(view: View, settings: Settings, now_ms: int) -> tuple[dict[str, LiveTeam], LiveTeam]:
    """Per team (agents with a team) and for the floor: the rolling 15 min agent time of today's
    fw.adherence records and how many of those agents are logged in now. Reads only
    ``agent_time.recent`` of today's records (one per agent)."""
    day = local_date(now_ms, settings.tz).isoformat()
    teams: dict[str, LiveTeam] = {}
    floor = LiveTeam()
    for aid, record in _records_by_agent(view, day).items():
        agent_time = record.get("agent_time")
        recent = agent_time.get("recent") if isinstance(agent_time, dict) else None
        recent = recent if isinstance(recent, list) else None
        time = rolling_time(recent, now_ms)
        logged_in = logged_in_at(recent, now_ms)
        floor.time.add(time)
        floor.logged_in += logged_in
        team = agent_team(view, aid, record)
        if team is not None:
            live = teams.get(team)
            if live is None:
                live = teams[team] = LiveTeam()
            live.time.add(time)
            live.logged_in += logged_in
    return teams, floor


# -- the teams overview, computed once for every reader ------------------------------------------

TEAMS_MIN_AGE_S = 5.0  # an answer is reused this long at least
TEAMS_COST_FACTOR = 10.0  # ... and at least this many times what computing it cost (big floors)
TEAMS_MAX_DATES = 8  # dates whose answer is kept; the least recently computed goes first
TEAMS_PAST_MIN_AGE_S = 60.0  # a past date's day sums (ranges) are reused this long at least
TEAMS_SUMS_MAX_DATES = 128  # dates whose day sums are kept (~3 KB a team each); least recently used go


DaySums = dict[str | None, Group]
"""One date's day sums per team (``None``: the agents without a team): ``Group`` with
``agents``, ``day``, ``shrinkage``, ``absent`` and ``late_logins`` (no intervals, no rolling
window). Shared by every reader: never modified."""


def day_sums_of(groups: Mapping[str | None, Group]) -> DaySums:
    """The day part of a date's groups (``date_groups_steps``), for ranges."""
    return {
        team: Group(
            agents=g.agents,
            day=g.day,
            shrinkage=g.shrinkage,
            absent=g.absent,
            late_logins=g.late_logins,
        )
        for team, g in groups.items()
    }


@dataclass(slots=True)
class _CachedTeams:
    value: dict[str, Any]
    at_s: float  # monotonic time the computation started
    max_age_s: float


@dataclass(slots=True)
class _Computed:
    """One computation of a date: the answer and the day sums."""

    value: dict[str, Any]
    sums: DaySums


@dataclass(slots=True)
class _CachedSums:
    sums: DaySums
    at_s: float
    max_age_s: float


class TeamsCache:
    """``teams_overview`` for every reader of a date at once: one computation at a time per date,
    a slice of agents per turn of the event loop, reused for ``max(TEAMS_MIN_AGE_S,
    TEAMS_COST_FACTOR x its CPU time)`` (a 1,000-agent floor costs ~0.4 s a computation: every
    wallboard polling ``/api/v1/teams`` shares one every 5 s, and nothing blocks the loop for more
    than a slice). At most ``TEAMS_MAX_DATES`` dates are kept; ``computed`` counts the computations.

    The same computation gives the date's day sums per team (``day_sums``, for ranges of dates):
    kept for ``TEAMS_SUMS_MAX_DATES`` dates (least recently used evicted), reused like the
    answer for today (and later dates) and for ``max(TEAMS_PAST_MIN_AGE_S, TEAMS_COST_FACTOR x
    its CPU time)`` for a past date. A range asks each of its dates: a computation only for the
    dates not fresh, each shared with any other reader of that date."""

    def __init__(
        self,
        view: View,
        settings: Settings,
        clock_ms: Callable[[], int],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.view = view
        self.settings = settings
        self.clock_ms = clock_ms
        self.monotonic = monotonic
        self.entries: dict[date, _CachedTeams] = {}
        self.sums: dict[date, _CachedSums] = {}  # in order of use, the least recent first
        self.running: dict[date, asyncio.Future[_Computed]] = {}
        self.answers_wanted: set[date] = set()  # dates whose running computation keeps its answer
        self.computed = 0
        self.last_cost_s = 0.0

    def latest(self, day: date) -> dict[str, Any] | None:
        """The last answer for ``day``, however old (``None`` before the first)."""
        entry = self.entries.get(day)
        return entry.value if entry is not None else None

    async def get(self, day: date) -> dict[str, Any]:
        entry = self.entries.get(day)
        if entry is not None and self.monotonic() - entry.at_s < entry.max_age_s:
            return entry.value
        self.answers_wanted.add(day)  # the computation keeps its answer (a range's would not)
        return (await self._run(day)).value

    async def day_sums(self, day: date) -> DaySums:
        """The date's day sums per team (read only)."""
        entry = self.sums.get(day)
        if entry is not None and self.monotonic() - entry.at_s < entry.max_age_s:
            self.sums[day] = self.sums.pop(day)  # most recently used
            return entry.sums
        return (await self._run(day)).sums

    def _run(self, day: date) -> asyncio.Future[_Computed]:
        task = self.running.get(day)
        if task is None:
            task = self.running[day] = asyncio.ensure_future(self._compute(day))
        return asyncio.shield(task)

    async def _compute(self, day: date) -> _Computed:
        try:
            started = self.monotonic()
            now_ms = self.clock_ms()
            steps = date_groups_steps(self.view, self.settings, day, now_ms)
            cost = 0.0
            while True:
                t0 = self.monotonic()
                try:
                    next(steps)
                except StopIteration as stop:
                    frame, groups = stop.value
                    value = teams_answer(self.settings, day, frame, groups)
                    sums = day_sums_of(groups)
                    cost += self.monotonic() - t0
                    break
                cost += self.monotonic() - t0
                await asyncio.sleep(0)
            self.computed += 1
            self.last_cost_s = cost
            if day in self.answers_wanted:
                self.entries.pop(day, None)
                self.entries[day] = _CachedTeams(value, started, max(TEAMS_MIN_AGE_S, TEAMS_COST_FACTOR * cost))
                while len(self.entries) > TEAMS_MAX_DATES:
                    del self.entries[next(iter(self.entries))]
            past = day < local_date(now_ms, self.settings.tz)
            min_age = TEAMS_PAST_MIN_AGE_S if past else TEAMS_MIN_AGE_S
            self.sums.pop(day, None)
            self.sums[day] = _CachedSums(sums, started, max(min_age, TEAMS_COST_FACTOR * cost))
            while len(self.sums) > TEAMS_SUMS_MAX_DATES:
                del self.sums[next(iter(self.sums))]
            return _Computed(value, sums)
        finally:
            self.running.pop(day, None)
            self.answers_wanted.discard(day)
