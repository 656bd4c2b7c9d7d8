"""``GET /api/v1/channels``: the STATS of each channel, the sums of its queues' counters.

A queue's channel is its configured ``channel``; a queue that is not configured takes the
channel recorded in its interval partials (the channel of the first contact counted in the
bucket; the first partial of the date that names one, by interval then partition), else
``queue_defaults``' channel. A channel's STATS use the service-level formula its queues share
in that interval (in the day: over the day), else ``queue_defaults.sl_formula`` with
``mixed_rules: true``. Work: the queues of the view times the intervals of one date.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from floorwatch.config import Settings
from floorwatch.domain.intervals import day_bounds_ms, interval_end_ms, iso
from floorwatch.domain.queue_metrics import Counts
from floorwatch.readmodel.queries import config_rules, merge, queue_order, rules_of, stats_of
from floorwatch.readmodel.view import View
from floorwatch.records import IntervalPartial


def _recorded_channel(partials: list[IntervalPartial]) -> str | None:
    for p in sorted(partials, key=lambda p: (p.partition is None, p.partition or 0)):
        if p.channel:
            return p.channel
    return None


def queue_channel(view: View, settings: Settings, queue: str, starts: list[int]) -> str:
    """The queue's configured channel, else the first one its partials of ``starts`` record."""
    configured = settings.queues_by_id.get(queue)
    if configured is not None:
        return configured.channel
    for start in starts:
        found = _recorded_channel(view.interval_partials(queue, start))
        if found is not None:
            return found
    return settings.queue(queue).channel


def _with_formula(counts: Any, formulas: set[str], settings: Settings) -> dict[str, Any]:
    mixed = len(formulas) > 1
    formula = next(iter(formulas)) if len(formulas) == 1 else settings.queue_defaults.sl_formula
    return {**stats_of(counts, {"sl_formula": formula}), "sl_formula": formula, "mixed_rules": mixed}


QueueInterval = Callable[[View, Settings, str, int], tuple[Counts, str]]


def queue_interval(view: View, settings: Settings, queue: str, start: int) -> tuple[Counts, str]:
    """A (queue, interval)'s partials merged, and the service-level formula they record (else
    the queue's configured one)."""
    counts = merge(view.interval_counts(queue, start))
    formula = rules_of(view.interval_partials(queue, start), config_rules(settings.queue(queue)))["sl_formula"]
    return counts, formula


def day_channels(
    view: View,
    settings: Settings,
    day: date,
    *,
    intervals: bool = True,
    of_interval: QueueInterval = queue_interval,
) -> dict[str, Any]:
    """``GET /api/v1/channels``: per channel its queues, the day's STATS and every interval of
    the date with contacts (``intervals=False``, for ``/metrics``: the day's STATS only, the
    interval rows left empty). Each (queue, interval) is read once through ``of_interval``
    (``/metrics`` passes a memo of ``queue_interval`` that drops an entry when a partial of it
    changes)."""
    tz, minutes = settings.tz, settings.interval_minutes
    try:
        lo, hi = day_bounds_ms(day, tz)
    except (OverflowError, ValueError):  # 0001-01-01 / 9999-12-31: no data there
        return {"date": day.isoformat(), "channels": []}
    by_channel: dict[str, list[tuple[str, list[int]]]] = {}
    for queue in queue_order(view, settings):
        starts = view.interval_starts(queue, lo, hi)
        if not starts and queue not in settings.queues_by_id:
            continue
        by_channel.setdefault(queue_channel(view, settings, queue, starts), []).append((queue, starts))
    configured_order = list(dict.fromkeys(q.channel for q in settings.queues))
    order = configured_order + sorted(c for c in by_channel if c not in configured_order)
    channels = []
    for channel in order:
        queues = by_channel.get(channel, [])
        per_start: dict[int, tuple[list[Any], set[str]]] = {}
        for queue, starts in queues:
            for start in starts:
                queue_counts, formula = of_interval(view, settings, queue, start)
                if queue_counts.offered <= 0:
                    continue  # as /api/v1/intervals: an interval counts once it has contacts
                slot = per_start.setdefault(start, ([], set()))
                slot[0].append(queue_counts)
                slot[1].add(formula)
        day_formulas: set[str] = set()
        rows = []
        for start in sorted(per_start):
            counts, formulas = per_start[start]
            day_formulas |= formulas
            if not intervals:
                continue
            rows.append(
                {
                    "start": iso(start, tz),
                    "end": iso(min(interval_end_ms(start, tz, minutes), hi), tz),
                    **_with_formula(merge(counts), formulas, settings),
                }
            )
        day_counts = merge(c for counts, _ in per_start.values() for c in counts)
        if not day_formulas:  # no contact yet: the formula the channel's queues are configured with
            day_formulas = {settings.queue(q).sl_formula for q, _ in queues} or {settings.queue_defaults.sl_formula}
        channels.append(
            {
                "channel": channel,
                "queues": [q for q, _ in queues],
                "day": _with_formula(day_counts, day_formulas, settings),
                "intervals": rows,
            }
        )
    return {"date": day.isoformat(), "channels": channels}
