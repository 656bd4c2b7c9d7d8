"""Per-agent, per-local-date records and the adherence context assembled from them.

The worker keeps one record per ``(agent, local date)``: that date's published schedule
(``sc``) and the agent's state points whose event time falls on that date (``tl``). A day's
adherence needs its neighbours (overnight shifts) and the state in force when it began, so
``agent_context`` gathers the date, the dates either side, and the last point before them.
Records stay small (one day each) and late or replayed events touch only their own date.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from floorwatch.domain.adherence import Schedule, Timeline, add_point, in_force, merge_schedule

DayRecord = dict[str, Any]
CARRY_LOOKBACK_DAYS = 7


def day_key(agent_id: str, day: date | str) -> str:
    return f"{agent_id}|{day if isinstance(day, str) else day.isoformat()}"


def split_day_key(key: str) -> tuple[str, str]:
    agent_id, _, day = key.rpartition("|")
    return agent_id, day


def apply_state_point(
    record: DayRecord | None, ts_ms: int, event_id: str, state: str, reason: str | None
) -> DayRecord | None:
    """Day record with one more state point; ``None`` for a duplicate."""
    cur = record or {}
    tl = add_point(cur.get("tl"), ts_ms, event_id, state, reason)
    if tl is None:
        return None
    return {**cur, "tl": tl}


def apply_schedule(
    record: DayRecord | None, day: str, activities: list[tuple[int, int, str]], published_ts_ms: int, event_id: str
) -> DayRecord | None:
    """Day record after a ``schedule.published`` for ``day``; ``None`` when unchanged."""
    cur = record or {}
    existing = {day: cur["sc"]} if cur.get("sc") else None
    merged = merge_schedule(existing, day, activities, published_ts_ms, event_id)
    if merged is None:
        return None
    return {**cur, "sc": merged[day]}


def agent_context(get: Callable[[str], DayRecord | None], agent_id: str, around: date) -> tuple[Schedule, Timeline]:
    """Schedule and timeline of ``around`` ± 1 day, plus the last state point before them."""
    schedule: Schedule = {}
    timeline: Timeline = []
    for offset in (-1, 0, 1):
        day = around + timedelta(days=offset)
        rec = get(day_key(agent_id, day))
        if rec:
            if rec.get("sc"):
                schedule[day.isoformat()] = rec["sc"]
            timeline.extend(rec.get("tl") or ())
    for back in range(2, CARRY_LOOKBACK_DAYS + 1):
        rec = get(day_key(agent_id, around - timedelta(days=back)))
        if rec and rec.get("tl"):
            timeline.append(rec["tl"][-1])
            break
    timeline.sort(key=lambda p: (p[0], p[1]))
    return schedule, timeline


def current_pair_since(schedule: Schedule, timeline: Timeline, now_ms: int) -> int | None:
    """When the current (scheduled activity, actual state) pair began: the later of the last
    state point and the last activity boundary at or before ``now_ms``.

    When the agent is in adherence now, this is the instant adherence resumed, so a
    resolved adherence alert ends at the event that brought the agent back.
    """
    k = bisect_right([p[0] for p in timeline], now_ms) - 1
    state_since = timeline[k][0] if k >= 0 else None
    boundary = None
    for start, end, _activity, _day in in_force(schedule, now_ms - 3 * 86_400_000, now_ms + 1):
        for edge in (start, end):
            if edge <= now_ms and (boundary is None or edge > boundary):
                boundary = edge
    candidates = [t for t in (state_since, boundary) if t is not None]
    return max(candidates) if candidates else None


def logged_in_ms_by_interval(timeline: Timeline, starts: list[int], day_end_ms: int, now_ms: int) -> dict[int, int]:
    """Milliseconds the agent was logged in (any state but ``logged_out``) in each interval
    ``[starts[i], starts[i+1])`` (the last ends at ``day_end_ms``), up to ``now_ms``; intervals
    with none are left out. Before its first point an agent counts as logged out."""
    if not starts:
        return {}
    bounds = [*starts, day_end_ms]
    out: dict[int, int] = {}
    for k, point in enumerate(timeline):
        if point[2] == "logged_out":
            continue
        seg_lo = point[0]
        seg_hi = min(timeline[k + 1][0] if k + 1 < len(timeline) else now_ms, now_ms)
        i = max(0, bisect_right(starts, seg_lo) - 1)
        while i < len(starts) and bounds[i] < seg_hi:
            lo, hi = max(seg_lo, bounds[i]), min(seg_hi, bounds[i + 1])
            if hi > lo:
                out[starts[i]] = out.get(starts[i], 0) + hi - lo
            i += 1
    return out
