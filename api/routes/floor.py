"""Agents, adherence and the caller: ``GET /api/v1/agents``, ``/api/v1/adherence``, ``/api/v1/me``."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from floorwatch.api.csv_export import CSV_RESPONSES, CsvWanted, csv_response
from floorwatch.api.deps import NowMsDep, SettingsDep, ViewDep, Viewer
from floorwatch.api.ranges import RangeDep
from floorwatch.domain.periods import DATE_GROUPS
from floorwatch.readmodel import people_history, queries

router = APIRouter(prefix="/api/v1", tags=["agents"])

TeamQuery = Annotated[str | None, Query(min_length=1, max_length=256, description="only agents of this team")]


@router.get("/agents", response_model=list[dict[str, Any]], responses=CSV_RESPONSES)
async def list_agents(
    _: Viewer, view: ViewDep, settings: SettingsDep, now_ms: NowMsDep, as_csv: CsvWanted, team: TeamQuery = None
) -> list[dict[str, Any]] | Response:
    """Every agent with a status: state, since, scheduled activity and real-time adherence."""
    rows = queries.agents_list(view, settings, team=team)
    return csv_response(rows, "agents", queries.today(settings, now_ms)) if as_csv else rows


@router.get("/adherence", response_model=list[dict[str, Any]], responses=CSV_RESPONSES)
async def list_adherence(
    _: Viewer,
    view: ViewDep,
    settings: SettingsDep,
    as_csv: CsvWanted,
    rng: RangeDep,
    team: TeamQuery = None,
    agent_id: Annotated[str | None, Query(min_length=1, max_length=256, description="only this agent")] = None,
) -> list[dict[str, Any]] | Response:
    """Adherence, conformance and exceptions of every agent scheduled on the local date. With
    from/to or group: per agent and day, week, month or range (default day) with records, the summed
    seconds and the ratios of the sums."""
    if rng.ranged:
        group = rng.grouping("day", DATE_GROUPS)
        steps = people_history.adherence_range_steps(view, settings, rng.periods(group), team=team, agent_id=agent_id)
        ranged = await people_history.run_sliced(steps)
        if as_csv:
            return await asyncio.to_thread(
                csv_response,
                ranged,
                "adherence",
                rng.first,
                last=rng.last,
                subject=agent_id,
                columns=people_history.ADHERENCE_COLUMNS,
            )
        return ranged
    day = rng.first
    rows = queries.adherence_list(view, settings, day, team=team, agent_id=agent_id)
    return csv_response(rows, "adherence", day) if as_csv else rows


@router.get("/me")
async def me(principal: Viewer) -> dict[str, Any]:
    """The token's name and effective roles (the wallboard shows supervisor controls from it)."""
    return {"name": principal.name, "roles": sorted(principal.roles)}
