"""Date ranges and the periods a range is grouped into (reports and rollups).

A range is ``[first, last]`` of local dates, both inclusive. ``group`` cuts it into periods:

* ``day``: each local date;
* ``week``: ISO 8601 weeks (Monday to Sunday; the week belongs to the ISO year of its
  Thursday, so 2026-12-31 is in ``2026-W53`` and 2027-01-01 too);
* ``month``: local calendar months.

A period's ``first`` and ``last`` are clipped to the range: a week range that starts on a
Wednesday makes a first period of Wednesday to Sunday, so the periods of a range always cover
exactly the range's days, each once, and a period's sums equal the sums of its days.
(``interval`` grouping is the caller's: it lists the intervals of the range's days.)

Pure: no clock, no zone (a local date is already local).
"""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

Group = Literal["interval", "day", "week", "month"]
GROUPS: tuple[Group, ...] = ("interval", "day", "week", "month")
DATE_GROUPS: tuple[Group, ...] = ("day", "week", "month")


@dataclass(frozen=True, slots=True)
class Period:
    """One period of a grouped range: its label and its first and last local date (inclusive)."""

    label: str  # "2026-12-04", "2026-W49", "2026-12"
    first: date
    last: date

    def days(self) -> Iterator[date]:
        day = self.first
        while day <= self.last:
            yield day
            day += timedelta(days=1)


def range_days(first: date, last: date) -> list[date]:
    """Every local date of ``[first, last]`` (empty when ``last < first``)."""
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def period_label(day: date, group: Group) -> str:
    """The label of the period containing ``day``: the date, its ISO week, or its month."""
    if group == "week":
        year, week, _ = day.isocalendar()
        return f"{year:04d}-W{week:02d}"
    if group == "month":
        return f"{day.year:04d}-{day.month:02d}"
    return day.isoformat()


def _period_bounds(day: date, group: Group) -> tuple[date, date]:
    """The whole period containing ``day`` (a week's ends clamped to the calendar's)."""
    if group == "week":
        weekday = day.weekday()
        first = day - timedelta(days=min(weekday, (day - date.min).days))
        return first, day + timedelta(days=min(6 - weekday, (date.max - day).days))
    if group == "month":
        return day.replace(day=1), day.replace(day=monthrange(day.year, day.month)[1])
    return day, day


def periods(first: date, last: date, group: Group) -> list[Period]:
    """The periods of ``[first, last]`` in order, clipped to the range. ``group`` ``interval``
    gives days (its intervals are listed per day by the caller)."""
    if group == "interval":
        group = "day"
    out: list[Period] = []
    day = first
    while day <= last:
        lo, hi = _period_bounds(day, group)
        hi = min(hi, last)
        out.append(Period(period_label(day, group), max(lo, first), hi))
        if hi == date.max:
            break
        day = hi + timedelta(days=1)
    return out
