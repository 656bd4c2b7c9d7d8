"""``GET /api/v1/quality``: first contact resolution and CSAT per agent and team."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from floorwatch.api.csv_export import CSV_RESPONSES, CsvWanted, csv_response
from floorwatch.api.deps import SettingsDep, ViewDep, Viewer
from floorwatch.api.ranges import RangeDep
from floorwatch.api.routes.floor import TeamQuery
from floorwatch.domain.periods import DATE_GROUPS
from floorwatch.readmodel import people_history, queries

router = APIRouter(prefix="/api/v1", tags=["quality"])


@router.get("/quality", response_model=dict[str, Any], responses=CSV_RESPONSES)
async def quality(
    _: Viewer,
    view: ViewDep,
    settings: SettingsDep,
    as_csv: CsvWanted,
    rng: RangeDep,
    team: TeamQuery = None,
    rows_of: Annotated[
        Literal["agents", "teams"],
        Query(alias="list", description="with format=csv: the rows of this list (default agents)"),
    ] = "agents",
) -> dict[str, Any] | Response:
    """FCR (contacts answered that day whose window has closed) and CSAT per agent and team.
    With from/to or group: per agent and per team and day, week, month or range (default day) with
    data, from the summed counts."""
    if rng.ranged:
        group = rng.grouping("day", DATE_GROUPS)
        steps = people_history.quality_range_steps(view, settings, rng.first, rng.last, group, rng.periods(group), team)
        ranged = await people_history.run_sliced(steps)
        if as_csv:
            return await asyncio.to_thread(
                csv_response,
                ranged[rows_of],
                f"quality-{rows_of}",
                rng.first,
                last=rng.last,
                columns=people_history.QUALITY_COLUMNS[rows_of],
            )
        return ranged
    day = rng.first
    body = queries.day_quality(view, settings, day, team=team)
    return csv_response(body[rows_of], f"quality-{rows_of}", day) if as_csv else body
