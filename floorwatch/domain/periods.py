"""Date ranges and the periods a range is grouped into (reports and rollups).

A range is ``[first, last]`` of local dates, both inclusive. ``group`` cuts it into periods:

* ``day``: each local date;
* ``week``: ISO 8601 weeks (Monday to Sunday; the week belongs to the ISO year of its
  Thursday, so 2026-12-31 is in ``2026-W53`` and 2027-01-01 too);
* ``month``: local calendar months;
* ``range``: the whole range as one period, labelled ``<first>/<last>`` (ISO 8601 interval
  notation, ``2026-11-28/2026-12-04``): the range's total, computed like any other period.

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

Group = Literal["interval", "day", "week", "month", "range"]
GROUPS: tuple[Group, ...] = ("interval", "day", "week", "month", "range")
DATE_GROUPS: tuple[Group, ...] = ("day", "week", "month", "range")


@dataclass(frozen=True, slots=True)
class Period:
    """One period of a grouped range: its label and its first and last local date (inclusive)."""

    label: str  # "2026-12-04", "2026-W49", "2026-12", "2026-11-28/2026-12-04"
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


def range_label(first: date, last: date) -> str:
    """The label of the ``range`` period: ISO 8601 interval notation of its dates,
    ``2026-11-28/2026-12-04`` (a one-day range ``2026-12-04/2026-12-04``)."""
    return f"{first.isoformat()}/{last.isoformat()}"


def period_label(day: date, group: Group) -> str:
    """The label of the period containing ``day``: the date, its ISO week, or its month (a
    ``range`` period's label depends on both its ends: :func:`range_label`)."""
    if group == "range":
        raise ValueError("the range period's label is range_label(first, last)")
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
    gives days (its intervals are listed per day by the caller); ``range`` one period, the
    whole range (none when ``last < first``)."""
    if group == "range":
        return [Period(range_label(first, last), first, last)] if first <= last else []
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
