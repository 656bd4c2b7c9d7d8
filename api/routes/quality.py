"""``GET /api/v1/quality``: first contact resolution and CSAT per agent and team."""

from __future__ import annotations

from datetime import date as Date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from floorwatch.api.csv_export import CSV_RESPONSES, CsvWanted, csv_response
from floorwatch.api.deps import NowMsDep, SettingsDep, ViewDep, Viewer
from floorwatch.api.routes.floor import TeamQuery
from floorwatch.readmodel import queries

router = APIRouter(prefix="/api/v1", tags=["quality"])


@router.get("/quality", response_model=dict[str, Any], responses=CSV_RESPONSES)
async def quality(
    _: Viewer,
    view: ViewDep,
    settings: SettingsDep,
    now_ms: NowMsDep,
    as_csv: CsvWanted,
    date: Annotated[Date | None, Query(description="local YYYY-MM-DD; default today")] = None,
    team: TeamQuery = None,
    rows_of: Annotated[
        Literal["agents", "teams"],
        Query(alias="list", description="with format=csv: the rows of this list (default agents)"),
    ] = "agents",
) -> dict[str, Any] | Response:
    """FCR (contacts answered that day whose window has closed) and CSAT per agent and team."""
    day = date if date is not None else queries.today(settings, now_ms)
    body = queries.day_quality(view, settings, day, team=team)
    return csv_response(body[rows_of], f"quality-{rows_of}", day) if as_csv else body
