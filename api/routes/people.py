"""Agent performance, teams and channels: ``GET /api/v1/agents/{agent_id}/performance``,
``/api/v1/teams``, ``/api/v1/channels``."""

from __future__ import annotations

import asyncio
from datetime import date as Date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import Response

from floorwatch.api.csv_export import CSV_RESPONSES, CsvWanted, csv_response, day_then_intervals
from floorwatch.api.deps import NowMsDep, SettingsDep, TeamsDep, ViewDep, Viewer
from floorwatch.api.ranges import RangeDep
from floorwatch.domain.periods import DATE_GROUPS
from floorwatch.readmodel import channels, people, people_history, queries

router = APIRouter(prefix="/api/v1", tags=["agents"])

DateQuery = Annotated[Date | None, Query(description="local YYYY-MM-DD; default today")]


@router.get(
    "/agents/{agent_id}/performance",
    response_model=dict[str, Any],
    responses={**CSV_RESPONSES, 404: {"description": "an agent the view has never seen"}},
)
async def agent_performance(
    _: Viewer,
    view: ViewDep,
    settings: SettingsDep,
    now_ms: NowMsDep,
    agent_id: Annotated[str, Path(min_length=1, max_length=256)],
    as_csv: CsvWanted,
    rng: RangeDep,
) -> dict[str, Any] | Response:
    """Contacts, agent time, occupancy, adherence, FCR and CSAT of one agent on a local date,
    for the day and per interval, with the rolling 15 minutes (today only). With from/to or
    group: the total of the range and one row per interval, day, week, month or the whole range
    (range; default day)."""
    if rng.ranged:
        group = rng.grouping("day")
        steps = people_history.performance_range_steps(
            view, settings, agent_id, rng.first, rng.last, group, rng.periods(group), now_ms
        )
        ranged = await people_history.run_sliced(steps)
        if ranged is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown agent {agent_id!r}")
        if as_csv:
            return await asyncio.to_thread(
                csv_response,
                people_history.performance_csv_rows(ranged, settings.tz),
                "performance",
                rng.first,
                last=rng.last,
                subject=agent_id,
                columns=people_history.PERFORMANCE_COLUMNS,
            )
        return ranged
    day = rng.first
    found = people.agent_performance(view, settings, agent_id, day, now_ms)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"unknown agent {agent_id!r}")
    if as_csv:
        return csv_response(day_then_intervals(found, {}), "performance", day)
    return found


@router.get("/teams", response_model=dict[str, Any], responses=CSV_RESPONSES)
async def teams(
    _: Viewer, cache: TeamsDep, settings: SettingsDep, as_csv: CsvWanted, rng: RangeDep
) -> dict[str, Any] | Response:
    """Per team and for the floor: the sums of the agents' figures, ratios after, with
    shrinkage, absence and late logins. Computed once for every reader: an answer is reused
    for at least 5 s (docs/api.md). With from/to or group: per day, week, month or range (default
    day), the sums of each date's sums (each date computed once and reused)."""
    if rng.ranged:
        group = rng.grouping("day", DATE_GROUPS)
        periods = rng.periods(group)
        sums = {day: await cache.day_sums(day) for day in rng.days()}
        ranged = await people_history.run_sliced(
            people_history.teams_range_steps(settings, rng.first, rng.last, group, periods, sums)
        )
        if as_csv:
            return await asyncio.to_thread(
                csv_response,
                people_history.teams_csv_rows(ranged),
                "teams",
                rng.first,
                last=rng.last,
                columns=people_history.TEAMS_COLUMNS,
            )
        return ranged
    day = rng.first
    body = await cache.get(day)
    if as_csv:  # the floor first, as a row with id "floor"; the cached answer is not modified
        like = body["teams"][0] if body["teams"] else None  # the teams' columns, in their order
        return csv_response([{"id": "floor", **body["floor"]}, *body["teams"]], "teams", day, like)
    return body


@router.get("/channels", tags=["queues"], response_model=dict[str, Any], responses=CSV_RESPONSES)
async def list_channels(
    _: Viewer, view: ViewDep, settings: SettingsDep, now_ms: NowMsDep, as_csv: CsvWanted, date: DateQuery = None
) -> dict[str, Any] | Response:
    """Per channel: its queues and the STATS of their summed counters, for the day and per interval."""
    day = date if date is not None else queries.today(settings, now_ms)
    body = channels.day_channels(view, settings, day)
    if as_csv:  # per channel its day row (start and end empty), then one row per interval
        rows = [
            row
            for ch in body["channels"]
            for row in day_then_intervals(ch, {"channel": ch["channel"], "queues": ch["queues"]})
        ]
        return csv_response(rows, "channels", day)
    return body
