"""``GET /api/v1/quality``: first contact resolution and CSAT per agent and team."""

from __future__ import annotations

from datetime import date as Date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from floorwatch.api.deps import NowMsDep, SettingsDep, ViewDep, Viewer
from floorwatch.api.routes.floor import TeamQuery
from floorwatch.readmodel import queries

router = APIRouter(prefix="/api/v1", tags=["quality"])


@router.get("/quality")
async def quality(
    _: Viewer,
    view: ViewDep,
    settings: SettingsDep,
    now_ms: NowMsDep,
    date: Annotated[Date | None, Query(description="local YYYY-MM-DD; default today")] = None,
    team: TeamQuery = None,
) -> dict[str, Any]:
    """FCR (contacts answered that day whose window has closed) and CSAT per agent and team."""
    day = date if date is not None else queries.today(settings, now_ms)
    return queries.day_quality(view, settings, day, team=team)
