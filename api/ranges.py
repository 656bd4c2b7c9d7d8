"""Date ranges and grouping of the read endpoints: ``from``, ``to`` (local dates, inclusive) and
``group`` (``interval``, ``day``, ``week``, ``month``, ``range``: the whole range as one period),
docs/api.md "Ranges and rollups".

A route asks for :data:`RangeDep`. Without ``from``/``to``/``group`` it answers as before (one
``date``, default today); with any of them it answers the grouped shape of its resource.

Rules (422 otherwise): ``from`` and ``to`` come together and not with ``date``; ``from <= to``;
at most :data:`MAX_RANGE_DAYS` days (a year and a day: a month view of a whole year; what the
view no longer retains is simply empty). ``group`` alone groups the one ``date`` (or today).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date as Date
from typing import Annotated

from fastapi import Depends, HTTPException, Query, status

from floorwatch.api.deps import NowMsDep, SettingsDep
from floorwatch.domain.periods import GROUPS, Group, Period, periods, range_days
from floorwatch.readmodel import queries

MAX_RANGE_DAYS = 367


@dataclass(frozen=True, slots=True)
class DateRange:
    """The asked local dates ``[first, last]``; ``group`` ``None`` when none was asked;
    ``ranged``: the caller gave ``from``/``to`` or ``group`` (answer the grouped shape)."""

    first: Date
    last: Date
    group: Group | None
    ranged: bool

    def days(self) -> list[Date]:
        return range_days(self.first, self.last)

    def grouping(self, default: Group, allowed: tuple[Group, ...] = GROUPS) -> Group:
        """The asked group, else ``default``; 422 for a group this resource has not."""
        group = self.group or default
        if group not in allowed:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                detail=f"group={group} is not offered here; one of: {', '.join(allowed)}",
            )
        return group

    def periods(self, group: Group) -> list[Period]:
        return periods(self.first, self.last, group)


def _bad(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=detail)


def date_range(
    settings: SettingsDep,
    now_ms: NowMsDep,
    date: Annotated[Date | None, Query(description="local YYYY-MM-DD; default today")] = None,
    first: Annotated[
        Date | None, Query(alias="from", description="first local date of a range (with to; not with date)")
    ] = None,
    last: Annotated[Date | None, Query(alias="to", description="last local date of a range, inclusive")] = None,
    group: Annotated[
        Group | None,
        Query(description="rollup: interval, day, week (ISO), month (local calendar) or range (the whole range)"),
    ] = None,
) -> DateRange:
    if (first is None) != (last is None):
        raise _bad("from and to come together")
    if first is not None and last is not None:
        if date is not None:
            raise _bad("date or from/to, not both")
        if last < first:
            raise _bad("to is before from")
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise _bad(f"a range spans at most {MAX_RANGE_DAYS} days")
        return DateRange(first, last, group, True)
    day = date if date is not None else queries.today(settings, now_ms)
    return DateRange(day, day, group, group is not None)


RangeDep = Annotated[DateRange, Depends(date_range)]
