"""Forecast vs actual over a range of local dates: the staffing rows of every day, their rollup
into days, ISO weeks or local months (STAFFING PERIOD ROW), and today's forecast accuracy for
/metrics (docs/staffing.md "Forecast accuracy", docs/api.md "Ranges and rollups").

Exactness: a period adds its intervals' parts and divides once. Contacts are the SUM of the
intervals' counts (``Counts.total``: ``actual_offered``, ``actual_aht_s`` = handle time / handled
of the sum); the forecast's offered and its handle time F·FAHT are summed over the intervals that
have a forecast (``math.fsum``); the WAPEs are ``floorwatch.domain.forecast_accuracy`` parts added;
agent hours are integer agent-milliseconds summed, then divided by 3,600,000.

Which intervals: those ``queries.staffing_intervals`` lists (a forecast or contacts), the same
as the interval rows of ``GET /api/v1/staffing``; the WAPEs only those with a forecast that have
ENDED at ``now``. ``staffed_agent_hours`` is every logged-in millisecond of the period's days of
the agents whose current profile lists the queue (``fw.adherence`` ``logged_in_ms``), intervals
without a forecast or contacts included (their required agents are 0).

Pure: the clock is the caller's, no FastAPI.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from floorwatch.config import Settings
from floorwatch.domain.forecast_accuracy import Accuracy, interval_accuracy
from floorwatch.domain.intervals import day_bounds_ms
from floorwatch.domain.periods import Period, range_days
from floorwatch.domain.queue_metrics import Counts, aht_s
from floorwatch.domain.retention import drain
from floorwatch.readmodel import queries
from floorwatch.readmodel.queue_history import LONG_PERIOD_DAYS, PERIOD_KEYS, SLICE_DAYS, iter_steps, period_head
from floorwatch.readmodel.view import View

HOUR_MS = 3_600_000

#: the CSV columns of an interval row of ``GET /api/v1/staffing`` (``queries.day_staffing``)
INTERVAL_COLUMNS: tuple[str, ...] = (
    "start",
    "end",
    "forecast_offered",
    "forecast_aht_s",
    "actual_offered",
    "actual_aht_s",
    "offered_variance",
    "aht_variance_s",
    "required_agents",
    "required_agents_over_cap",
    "required_from",
    "avg_staffed_agents",
)
#: the figures of a STAFFING PERIOD ROW, after the period keys
FIGURE_KEYS: tuple[str, ...] = (
    "forecast_offered",
    "actual_offered",
    "forecast_aht_s",
    "actual_aht_s",
    "offered_variance",
    "aht_variance_s",
    "wape_offered",
    "wape_aht",
    "forecast_intervals",
    "required_agent_hours",
    "staffed_agent_hours",
)
#: the CSV columns of a STAFFING PERIOD ROW
PERIOD_COLUMNS: tuple[str, ...] = (*PERIOD_KEYS, *FIGURE_KEYS)


def part_of(interval: queries.StaffingInterval, now_ms: int) -> Accuracy:
    """One staffing interval's WAPE parts at ``now_ms`` (nothing unless forecast and ended)."""
    planned = interval.planned
    counts = interval.counts
    return interval_accuracy(
        end_ms=interval.end,
        now_ms=now_ms,
        actual_offered=counts.offered,
        forecast_offered=planned[0] if planned is not None else None,
        handled=counts.handled,
        handle_ms=counts.talk_ms + counts.hold_ms + counts.wrap_ms,
        forecast_aht_s=planned[1] if planned is not None else None,
    )


def day_accuracy(view: View, settings: Settings, queue: str, day: date, now_ms: int) -> Accuracy:
    """The WAPE parts of the ``day``'s intervals with a forecast that have ended at ``now_ms``."""
    if (queue, day.isoformat()) not in view.forecasts:
        return Accuracy()
    return Accuracy.total(
        part_of(i, now_ms)
        for i in queries.staffing_intervals(view, settings, queue, day, sized=False)
        if i.end <= now_ms and i.planned is not None
    )


def iter_range_staffing(
    view: View, settings: Settings, queue: str, first: date, last: date, now_ms: int
) -> Iterator[tuple[list[dict[str, Any]], int]]:
    """The interval rows of each day of ``[first, last]``, one day at a time (with its 1 day of
    work, for ``queue_history.sliced``)."""
    for day in range_days(first, last):
        yield queries.day_staffing(view, settings, queue, day, now_ms), 1


def range_staffing(
    view: View, settings: Settings, queue: str, first: date, last: date, now_ms: int
) -> list[dict[str, Any]]:
    """The interval rows of ``GET /api/v1/staffing`` of every day of ``[first, last]``, sorted by
    start (days in order, each day's rows sorted)."""
    return [row for rows, _ in iter_range_staffing(view, settings, queue, first, last, now_ms) for row in rows]


@dataclass(slots=True)
class _Sums:
    """What a period adds up, interval by interval."""

    counts: list[Counts] = field(default_factory=list)
    forecast_offered: list[float] = field(default_factory=list)
    forecast_handle_s: list[float] = field(default_factory=list)  # F·FAHT
    forecast_aht_weight: list[float] = field(default_factory=list)  # F of those with a FAHT
    accuracy: list[Accuracy] = field(default_factory=list)
    required_agent_ms: int = 0
    staffed_ms: int = 0

    def add_day(self, view: View, settings: Settings, queue: str, day: date, now_ms: int) -> None:
        for i in queries.staffing_intervals(view, settings, queue, day):
            self.counts.append(i.counts)
            if i.planned is not None:
                f_offered, f_aht = i.planned
                self.forecast_offered.append(f_offered)
                if f_aht is not None:
                    self.forecast_handle_s.append(f_offered * f_aht)
                    self.forecast_aht_weight.append(f_offered)
                self.accuracy.append(part_of(i, now_ms))
            if isinstance(i.required, int):
                self.required_agent_ms += i.required * (i.end - i.start)
        self.staffed_ms += _staffed_ms(view, settings, queue, day)

    def figures(self) -> dict[str, Any]:
        total = Counts.total(self.counts)
        actual_aht = aht_s(total)
        forecast = math.fsum(self.forecast_offered) if self.forecast_offered else None
        weight = math.fsum(self.forecast_aht_weight)
        forecast_aht = math.fsum(self.forecast_handle_s) / weight if weight > 0 else None
        accuracy = Accuracy.total(self.accuracy)
        return {
            "forecast_offered": forecast,
            "actual_offered": total.offered,
            "forecast_aht_s": forecast_aht,
            "actual_aht_s": actual_aht,
            "offered_variance": None if forecast is None else total.offered - forecast,
            "aht_variance_s": None if actual_aht is None or forecast_aht is None else actual_aht - forecast_aht,
            "wape_offered": accuracy.wape_offered,
            "wape_aht": accuracy.wape_aht,
            "forecast_intervals": len(self.forecast_offered),
            "required_agent_hours": self.required_agent_ms / HOUR_MS,
            "staffed_agent_hours": self.staffed_ms / HOUR_MS,
        }


def _staffed_ms(view: View, settings: Settings, queue: str, day: date) -> int:
    """Logged-in ms of the ``day`` (interval starts inside it) of the agents whose current
    profile lists ``queue``."""
    try:
        lo, hi = day_bounds_ms(day, settings.tz)
    except (OverflowError, ValueError):
        return 0
    by_start = queries.staffed_ms_by_interval(view, queue, day.isoformat())
    return sum(ms for start, ms in by_start.items() if lo <= start < hi)


def period_row_steps(
    view: View, settings: Settings, queue: str, period: Period, now_ms: int
) -> Generator[int, None, dict[str, Any]]:
    """:func:`period_row`; a period longer than ``queue_history.LONG_PERIOD_DAYS`` (a ``range`` of
    more than a month) yields the days added before each further week (``SLICE_DAYS``), so a
    year's row gives the event loop a turn every week, like the day rows; returns the row."""
    sums = _Sums()
    long = (period.last - period.first).days + 1 > LONG_PERIOD_DAYS
    for n, day in enumerate(period.days()):
        if long and n and n % SLICE_DAYS == 0:
            yield SLICE_DAYS
        sums.add_day(view, settings, queue, day, now_ms)
    return {**period_head(period, settings.tz), **sums.figures()}


def period_row(view: View, settings: Settings, queue: str, period: Period, now_ms: int) -> dict[str, Any]:
    """STAFFING PERIOD ROW: the period's keys, then its summed forecast, actuals, WAPEs and hours."""
    return drain(period_row_steps(view, settings, queue, period, now_ms))


def iter_period_rows(
    view: View, settings: Settings, queue: str, periods: Iterable[Period], now_ms: int
) -> Iterator[tuple[dict[str, Any] | None, int]]:
    """Each period's row and its number of days (the work it took, for ``queue_history.sliced``);
    a ``(None, 7)`` between the weeks of a period longer than ``LONG_PERIOD_DAYS``."""
    for p in periods:
        yield from iter_steps(period_row_steps(view, settings, queue, p, now_ms), (p.last - p.first).days + 1)


def period_rows(
    view: View, settings: Settings, queue: str, periods: Iterable[Period], now_ms: int
) -> list[dict[str, Any]]:
    """One STAFFING PERIOD ROW per period, in order, empty periods included (zeros, ratios null)."""
    return [row for row, _ in iter_period_rows(view, settings, queue, periods, now_ms) if row is not None]
