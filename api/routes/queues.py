"""Queue figures: ``GET /api/v1/queues``, ``/api/v1/intervals``, ``/api/v1/staffing``,
``/api/v1/queues/{queue}/days`` and ``/api/v1/queues/{queue}/heatmap`` (role ``viewer``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from floorwatch.api.csv_export import CSV_RESPONSES, CsvWanted, csv_response
from floorwatch.api.deps import NowMsDep, SettingsDep, ViewDep, Viewer
from floorwatch.api.ranges import DateRange, RangeDep
from floorwatch.domain.periods import DATE_GROUPS
from floorwatch.readmodel import queries, queue_history, staffing_history

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
    queue: Annotated[str, Query(min_length=1, max_length=256)],
    as_csv: CsvWanted,
    rng: RangeDep,
) -> list[dict[str, Any]] | Response:
    """Every interval of the local day that has contacts, sorted by start. With ``from``/``to``
    or ``group``: ``interval`` (default) lists the interval rows of every day of the range;
    ``day``, ``week``, ``month``, ``range`` (the whole range) one QUEUE PERIOD ROW per period
    (docs/api.md)."""
    if not rng.ranged:
        rows = queries.day_intervals(view, settings, queue, rng.first)
        return csv_response(rows, "intervals", rng.first) if as_csv else rows
    group = rng.grouping("interval")
    if group == "interval":
        days = await queue_history.sliced(
            queue_history.iter_range_intervals(view, settings, queue, rng.first, rng.last)
        )
        rows = [row for day in days for row in day]
        columns = queue_history.INTERVAL_COLUMNS
    else:
        rows = await queue_history.sliced(queue_history.iter_period_rows(view, settings, queue, rng.periods(group)))
        columns = queue_history.PERIOD_COLUMNS
    return await _ranged_csv(rows, "intervals", rng, queue, columns) if as_csv else rows


QueuePath = Annotated[str, Path(min_length=1, max_length=256)]


async def _ranged_csv(
    rows: list[dict[str, Any]], endpoint: str, rng: DateRange, queue: str, columns: Sequence[str]
) -> Response:
    """The CSV of a ranged answer, converted in a worker thread (a year of interval rows takes
    about a second; the rows are this request's own dicts, not the view's)."""
    return await asyncio.to_thread(
        csv_response, rows, endpoint, rng.first, last=rng.last, subject=queue, columns=columns
    )


@router.get("/queues/{queue}/days", response_model=list[dict[str, Any]], responses=CSV_RESPONSES)
async def queue_days(
    _: Viewer, view: ViewDep, settings: SettingsDep, queue: QueuePath, as_csv: CsvWanted, rng: RangeDep
) -> list[dict[str, Any]] | Response:
    """One QUEUE PERIOD ROW per day, ISO week, local month or the whole range (``range``) of the
    range (default ``day``;
    without ``from``/``to``: the ``date``, default today), empty periods included."""
    group = rng.grouping("day", DATE_GROUPS)
    rows = await queue_history.sliced(queue_history.iter_period_rows(view, settings, queue, rng.periods(group)))
    return await _ranged_csv(rows, "queue-days", rng, queue, queue_history.PERIOD_COLUMNS) if as_csv else rows


@router.get("/queues/{queue}/heatmap", response_model=dict[str, Any], responses=CSV_RESPONSES)
async def queue_heatmap(
    _: Viewer, view: ViewDep, settings: SettingsDep, queue: QueuePath, as_csv: CsvWanted, rng: RangeDep
) -> dict[str, Any] | Response:
    """Service level per half hour (per hour at 60-minute intervals) of each local date of the
    range (default today); CSV: one row per date, one column per slot."""
    rng.grouping("day", ("day",))  # the heat map's rows are days: any other group is a 422
    days = await queue_history.sliced(queue_history.iter_heatmap_days(view, settings, queue, rng.first, rng.last))
    body = {**queue_history.heatmap_head(settings, queue, rng.first, rng.last), "days": days}
    if as_csv:
        rows, columns = queue_history.heatmap_csv_rows(body)
        return await _ranged_csv(rows, "heatmap", rng, queue, columns)
    return body


@router.get("/staffing", response_model=list[dict[str, Any]], responses=CSV_RESPONSES)
async def list_staffing(
    _: Viewer,
    view: ViewDep,
    settings: SettingsDep,
    now_ms: NowMsDep,
    queue: Annotated[str, Query(min_length=1, max_length=256)],
    as_csv: CsvWanted,
    rng: RangeDep,
) -> list[dict[str, Any]] | Response:
    """Forecast vs actual and required agents per interval of the local day (intervals with a
    forecast or contacts), sorted by start. With ``from``/``to`` or ``group``: ``interval``
    (default) lists the interval rows of every day of the range; ``day``, ``week``, ``month``,
    ``range`` one STAFFING PERIOD ROW per period (docs/api.md)."""
    if not rng.ranged:
        rows = queries.day_staffing(view, settings, queue, rng.first, now_ms)
        return csv_response(rows, "staffing", rng.first) if as_csv else rows
    group = rng.grouping("interval")
    if group == "interval":
        days = await queue_history.sliced(
            staffing_history.iter_range_staffing(view, settings, queue, rng.first, rng.last, now_ms)
        )
        rows = [row for day in days for row in day]
        columns = staffing_history.INTERVAL_COLUMNS
    else:
        periods = staffing_history.iter_period_rows(view, settings, queue, rng.periods(group), now_ms)
        rows = await queue_history.sliced(periods)
        columns = staffing_history.PERIOD_COLUMNS
    return await _ranged_csv(rows, "staffing", rng, queue, columns) if as_csv else rows
