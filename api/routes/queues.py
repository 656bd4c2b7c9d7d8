"""Queue figures: ``GET /api/v1/queues``, ``/api/v1/intervals`` and ``/api/v1/staffing`` (role ``viewer``)."""

from __future__ import annotations

from datetime import date as Date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from floorwatch.api.csv_export import CSV_RESPONSES, CsvWanted, csv_response
from floorwatch.api.deps import NowMsDep, SettingsDep, ViewDep, Viewer
from floorwatch.readmodel import queries

router = APIRouter(prefix="/api/v1", tags=["queues"])


@router.get("/queues", response_model=list[dict[str, Any]], responses=CSV_RESPONSES)
async def list_queues(
    _: Viewer, view: ViewDep, settings: SettingsDep, now_ms: NowMsDep, as_csv: CsvWanted
) -> list[dict[str, Any]] | Response:
    """Live tile of every configured queue (config order), then of any other queue seen."""
    rows = queries.queues_overview(view, settings, now_ms)
    return csv_response(rows, "queues", queries.today(settings, now_ms)) if as_csv else rows


@router.get("/intervals", response_model=list[dict[str, Any]], responses=CSV_RESPONSES)
async def list_intervals(
    _: Viewer,
    view: ViewDep,
    settings: SettingsDep,
    now_ms: NowMsDep,
    queue: Annotated[str, Query(min_length=1, max_length=256)],
    as_csv: CsvWanted,
    date: Annotated[Date | None, Query(description="local YYYY-MM-DD; default today")] = None,
) -> list[dict[str, Any]] | Response:
    """Every interval of the local day that has contacts, sorted by start."""
    day = date if date is not None else queries.today(settings, now_ms)
    rows = queries.day_intervals(view, settings, queue, day)
    return csv_response(rows, "intervals", day) if as_csv else rows


@router.get("/staffing", response_model=list[dict[str, Any]], responses=CSV_RESPONSES)
async def list_staffing(
    _: Viewer,
    view: ViewDep,
    settings: SettingsDep,
    now_ms: NowMsDep,
    queue: Annotated[str, Query(min_length=1, max_length=256)],
    as_csv: CsvWanted,
    date: Annotated[Date | None, Query(description="local YYYY-MM-DD; default today")] = None,
) -> list[dict[str, Any]] | Response:
    """Forecast vs actual and required agents per interval of the local day (intervals with a
    forecast or contacts), sorted by start."""
    day = date if date is not None else queries.today(settings, now_ms)
    rows = queries.day_staffing(view, settings, queue, day, now_ms)
    return csv_response(rows, "staffing", day) if as_csv else rows
