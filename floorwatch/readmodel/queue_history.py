"""Queue figures over a range of local dates: the interval rows of every day, the rollup of days
into days, ISO weeks or local months, and the service level heat map (docs/api.md "Ranges and
rollups", docs/metrics.md "Periods").

Exactness: a period's figures are ``stats`` of the SUM of its intervals' counts (``Counts.total``),
never an average of daily ratios, so a week's counters are the sum of its days' counters and its
service level is the one the summed counters give. The rules are ``rules_of`` all the period's
partials (lowest partition first, then in time order), ``mixed_rules`` flags a period whose
partials recorded different rules.

Cost: a period asks the view for the interval starts of its own days only (one bisect of the
queue's sorted starts, then the k starts found); the heat map does the same per day. The caller
bounds the range (at most 367 days) and collects the rows with :func:`sliced`, which gives the
event loop a turn after every week of work (a year of 48 intervals x 4 partitions a day, 70,000
partials: ~0.15 s for its day, week or month rows, ~0.5 s for its 17,600 interval rows).

Pure: the clock is the caller's (a range is of local dates), no FastAPI.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator, Iterable, Iterator
from datetime import date, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from floorwatch.config import Settings
from floorwatch.domain.intervals import iso
from floorwatch.domain.periods import Period, range_days
from floorwatch.domain.queue_metrics import Counts, service_level, stats
from floorwatch.domain.retention import drain
from floorwatch.events import from_ms, to_ms
from floorwatch.readmodel import queries
from floorwatch.readmodel.view import View
from floorwatch.records import IntervalPartial

#: the STATS keys of an interval row (the same function gives every formula the same keys)
STATS_KEYS: tuple[str, ...] = tuple(stats(Counts(), "answered_over_offered"))
#: the CSV columns of a ``rules`` object (flattened as ``rules.<key>``)
RULES_COLUMNS: tuple[str, ...] = tuple(f"rules.{k}" for k in queries.RULE_KEYS)
#: the CSV columns of an interval row of ``GET /api/v1/intervals``
INTERVAL_COLUMNS: tuple[str, ...] = ("start", "end", *STATS_KEYS, *RULES_COLUMNS, "mixed_rules")
#: the leading keys of every period row
PERIOD_KEYS: tuple[str, ...] = ("period", "from", "to", "start", "end")
#: the CSV columns of a QUEUE PERIOD ROW
PERIOD_COLUMNS: tuple[str, ...] = (*PERIOD_KEYS, *STATS_KEYS, *RULES_COLUMNS, "mixed_rules")

T = TypeVar("T")

_FAR_PAST_MS = -(2**62)  # below every representable time: "from the start of the calendar"
_FAR_FUTURE_MS = 2**62


def _midnight_ms(day: date, tz: ZoneInfo) -> int:
    return to_ms(datetime.combine(day, time(0), tzinfo=tz))


def _iso_or_none(ms: int, tz: ZoneInfo) -> str | None:
    """``iso`` of ``ms``; ``None`` at the ends of the calendar (year 1, year 9999)."""
    try:
        return iso(ms, tz)
    except (OverflowError, ValueError):
        return None


def day_span_ms(first: date, last: date, tz: ZoneInfo) -> tuple[int, int]:
    """``[local midnight starting first, local midnight after last)`` as epoch ms (the days'
    own bounds, 23 or 25 h on DST days); beyond the calendar's end the span is open."""
    try:
        lo = _midnight_ms(first, tz)
    except (OverflowError, ValueError):
        lo = _FAR_PAST_MS
    try:
        hi = _midnight_ms(last + timedelta(days=1), tz)
    except (OverflowError, ValueError):
        hi = _FAR_FUTURE_MS
    return lo, hi


def period_head(period: Period, tz: ZoneInfo) -> dict[str, Any]:
    """The leading keys of a period row: label, first and last local date, and the local
    midnights that bound it (``start``/``end`` null only at the ends of the calendar)."""
    lo, hi = day_span_ms(period.first, period.last, tz)
    return {
        "period": period.label,
        "from": period.first.isoformat(),
        "to": period.last.isoformat(),
        "start": _iso_or_none(lo, tz) if lo != _FAR_PAST_MS else None,
        "end": _iso_or_none(hi, tz) if hi != _FAR_FUTURE_MS else None,
    }


def _figures(partials: list[IntervalPartial], counts: list[Counts], fallback: dict[str, Any]) -> dict[str, Any]:
    """STATS of the summed counts, with the rules of the partials: the interval row's keys."""
    rules = queries.rules_of(partials, fallback)
    return {
        **queries.stats_of(Counts.total(counts), rules),
        "rules": rules,
        "mixed_rules": queries.mixed_rules(partials),
    }


#: a period longer than this is read a week at a time, a turn of the event loop between weeks
LONG_PERIOD_DAYS = 31


def chunks(period: Period, days: int) -> Iterator[tuple[date, date]]:
    """``[first, last]`` of each run of at most ``days`` consecutive dates of the period, in order."""
    first = period.first
    while True:
        if (period.last - first).days < days:
            yield first, period.last
            return
        last = first + timedelta(days=days - 1)
        yield first, last
        first = last + timedelta(days=1)


_ABSENT = object()  # a rule key the partial's rules do not have


def _rules_key(p: IntervalPartial) -> tuple[Any, ...]:
    """What ``queries.rules_of`` and ``queries.mixed_rules`` read of a partial: its partition, its
    ``mixed_rules`` flag and its rules' values (or absence) of ``queries.RULE_KEYS``."""
    rules = p.rules
    if not isinstance(rules, dict):
        return (p.partition, p.mixed_rules, None)
    return (p.partition, p.mixed_rules, tuple(rules.get(k, _ABSENT) for k in queries.RULE_KEYS))


def period_row_steps(
    view: View, settings: Settings, queue: str, period: Period
) -> Generator[int, None, dict[str, Any]]:
    """:func:`period_row`. Days, weeks and months are one read of the view, as before. A longer
    period (a ``range`` of more than ``LONG_PERIOD_DAYS``, up to a year) is read and summed a
    week (``SLICE_DAYS`` days) at a time, yielding the days done before each further week so
    the caller can give the event loop a turn: each week's counts are summed
    (``Counts.total``, integer counters: the sum of the weeks' sums is the sum), and of its
    partials only the first of each distinct ``_rules_key`` is kept, in order. ``rules_of``
    (the first partial with valid rules of the lowest partition) and ``mixed_rules`` (any flag,
    or two distinct valid rules) give the same answer on those as on all the partials."""
    tz = settings.tz
    fallback = queries.config_rules(settings.queue(queue))
    span = (period.last - period.first).days + 1
    if span <= LONG_PERIOD_DAYS:
        partials: list[IntervalPartial] = []
        counts: list[Counts] = []
        lo, hi = day_span_ms(period.first, period.last, tz)
        for start in view.interval_starts(queue, lo, hi):
            partials.extend(view.interval_partials(queue, start))
            counts.extend(view.interval_counts(queue, start))
        return {**period_head(period, tz), **_figures(partials, counts, fallback)}
    kept: dict[tuple[Any, ...], IntervalPartial] = {}
    totals: list[Counts] = []
    for n, (first, last) in enumerate(chunks(period, SLICE_DAYS)):
        if n:
            yield SLICE_DAYS
        lo, hi = day_span_ms(first, last, tz)
        week: list[Counts] = []
        for start in view.interval_starts(queue, lo, hi):
            for partial in view.interval_partials(queue, start):
                kept.setdefault(_rules_key(partial), partial)
            week.extend(view.interval_counts(queue, start))
        totals.append(Counts.total(week))
    return {**period_head(period, tz), **_figures(list(kept.values()), totals, fallback)}


def period_row(view: View, settings: Settings, queue: str, period: Period) -> dict[str, Any]:
    """QUEUE PERIOD ROW: the period's keys, then STATS of the sum of every interval's counts of
    its days (contacts and FCR, as the queue tile's ``today``), its rules and ``mixed_rules``."""
    return drain(period_row_steps(view, settings, queue, period))


def iter_steps(steps: Generator[int, None, T], days: int) -> Iterator[tuple[T | None, int]]:
    """For :func:`sliced`: ``(None, d)`` for each step of ``d`` days of a row's work, then the
    row with the days left of its ``days``."""
    done = 0
    while True:
        try:
            step = next(steps)
        except StopIteration as stop:
            yield stop.value, days - done
            return
        done += step
        yield None, step


def iter_period_rows(
    view: View, settings: Settings, queue: str, periods: Iterable[Period]
) -> Iterator[tuple[dict[str, Any] | None, int]]:
    """Each period's row and its number of days (the work it took, for :func:`sliced`); a
    period longer than ``LONG_PERIOD_DAYS`` is read a week at a time, a ``(None, 7)`` between
    its weeks."""
    for p in periods:
        yield from iter_steps(period_row_steps(view, settings, queue, p), (p.last - p.first).days + 1)


def period_rows(view: View, settings: Settings, queue: str, periods: Iterable[Period]) -> list[dict[str, Any]]:
    """One QUEUE PERIOD ROW per period, in order, empty periods included (zeros, ratios null)."""
    return [row for row, _ in iter_period_rows(view, settings, queue, periods) if row is not None]


def iter_range_intervals(
    view: View, settings: Settings, queue: str, first: date, last: date
) -> Iterator[tuple[list[dict[str, Any]], int]]:
    """The interval rows of each day of ``[first, last]``, one day at a time."""
    for day in range_days(first, last):
        yield queries.day_intervals(view, settings, queue, day), 1


def range_intervals(view: View, settings: Settings, queue: str, first: date, last: date) -> list[dict[str, Any]]:
    """The interval rows of ``GET /api/v1/intervals`` of every day of ``[first, last]``, sorted
    by start (days in order, each day's rows sorted; the days' spans do not overlap)."""
    return [row for rows, _ in iter_range_intervals(view, settings, queue, first, last) for row in rows]


#: days of work between two turns of the event loop (a week at 4 partitions per interval is ~3 ms)
SLICE_DAYS = 7


async def sliced(parts: Iterable[tuple[T | None, int]], every_days: int = SLICE_DAYS) -> list[T]:
    """Collect ``(item, days)`` pairs, giving the event loop a turn after every ``every_days``
    days of work, so a year's range never holds the loop for long. An item ``None`` is work
    without an item yet (a week of a long period's row, :func:`iter_steps`); a period row reads
    each week of its days consistently, like the day rows of a range."""
    out: list[T] = []
    done = 0
    for item, days in parts:
        if item is not None:
            out.append(item)
        done += days
        if done >= every_days:
            done = 0
            await asyncio.sleep(0)
    return out


# -- heat map ---------------------------------------------------------------------------


def slot_minutes(interval_minutes: int) -> int:
    """30 when 30-minute slots hold whole intervals (15 and 30), else the interval length (60)."""
    return 30 if 30 % interval_minutes == 0 else interval_minutes


def slot_labels(minutes: int) -> list[str]:
    """``00:00``, ``00:30``, ... the wall-clock starts of a day's slots."""
    return [f"{m // 60:02d}:{m % 60:02d}" for m in range(0, 24 * 60, minutes)]


def _wall_minute(start_ms: int, tz: ZoneInfo) -> int:
    local = from_ms(start_ms).astimezone(tz)
    return local.hour * 60 + local.minute


def heatmap_day(
    view: View, queue: str, day: date, tz: ZoneInfo, minutes: int, labels: list[str], fallback: dict[str, Any]
) -> dict[str, Any]:
    """One heat map row: per slot, the offered and the service level of the summed counts of
    the intervals whose LOCAL wall-clock start falls in the slot (both 02:00 intervals of a
    fall-back day in one slot; a slot skipped by spring-forward has none: 0 and null)."""
    partials: list[list[IntervalPartial]] = [[] for _ in labels]
    counts: list[list[Counts]] = [[] for _ in labels]
    lo, hi = day_span_ms(day, day, tz)
    for start in view.interval_starts(queue, lo, hi):
        slot = _wall_minute(start, tz) // minutes
        partials[slot].extend(view.interval_partials(queue, start))
        counts[slot].extend(view.interval_counts(queue, start))
    cells = []
    for label, slot_partials, slot_counts in zip(labels, partials, counts, strict=True):
        if not slot_counts:
            cells.append({"slot": label, "offered": 0, "service_level": None})
            continue
        total = Counts.total(slot_counts)
        rules = queries.rules_of(slot_partials, fallback)
        cells.append(
            {"slot": label, "offered": total.offered, "service_level": service_level(total, rules["sl_formula"])}
        )
    return {"date": day.isoformat(), "cells": cells}


def heatmap_head(settings: Settings, queue: str, first: date, last: date) -> dict[str, Any]:
    """The heat map's keys but ``days``."""
    minutes = slot_minutes(settings.interval_minutes)
    return {
        "queue": queue,
        "from": first.isoformat(),
        "to": last.isoformat(),
        "slot_minutes": minutes,
        "sl_target": settings.queue(queue).sl_target,
        "slots": slot_labels(minutes),
    }


def iter_heatmap_days(
    view: View, settings: Settings, queue: str, first: date, last: date
) -> Iterator[tuple[dict[str, Any], int]]:
    """Each date's heat map row, one day at a time."""
    minutes = slot_minutes(settings.interval_minutes)
    labels = slot_labels(minutes)
    fallback = queries.config_rules(settings.queue(queue))
    for day in range_days(first, last):
        yield heatmap_day(view, queue, day, settings.tz, minutes, labels, fallback), 1


def heatmap(view: View, settings: Settings, queue: str, first: date, last: date) -> dict[str, Any]:
    """``GET /api/v1/queues/{queue}/heatmap``: one row per local date of ``[first, last]``, one
    cell per slot of the day, with the queue's configured ``sl_target`` to colour against."""
    days = [row for row, _ in iter_heatmap_days(view, settings, queue, first, last)]
    return {**heatmap_head(settings, queue, first, last), "days": days}


def heatmap_csv_rows(body: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """CSV of a heat map: one row per date, ``date`` then one column per slot label holding the
    service level; returns the rows and the columns (the header of an empty range too)."""
    columns = ["date", *body["slots"]]
    rows = [{"date": d["date"], **{c["slot"]: c["service_level"] for c in d["cells"]}} for d in body["days"]]
    return rows, columns
