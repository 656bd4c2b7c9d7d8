"""Agent time (ms per logged-in state and aux reason), occupancy, shrinkage and shift facts as
plain data and pure functions; see ``docs/adherence.md``.

Every time is epoch milliseconds (int) and is passed in: nothing here reads the clock.

An agent's state points (the timeline of ``floorwatch.domain.adherence``: ``[[ts_ms, event_id,
state, reason], ...]`` sorted by ``(ts, event_id)``) say which state lasts from each point to the
next one; before its first point an agent is ``logged_out``. Time is attributed to the interval
in which it happens (wall clock). Only the four logged-in states are counted; an aux point
without a reason counts under ``"unspecified"``.

Writer side (the worker, per agent and local date): ``agent_time_record`` builds the record's
``agent_time`` part (closed time per interval up to ``until_ms``, the state still open there, the
recent points for rolling windows); ``shift_record`` the ``shift`` part. Reader side (the API):
``interval_times`` adds the open state up to the reader's now, ``day_time`` sums the intervals,
``rolling_time`` gives the last 15 minutes from ``recent``; ``shrinkage_ratio``, ``shift_status``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from floorwatch.domain.queue_metrics import occupancy

STATES = ("available", "on_contact", "wrap_up", "aux")
UNSPECIFIED_REASON = "unspecified"
ROLLING_15M_MS = 900_000
RECENT_MAX_POINTS = 1000
LOGGED_OUT = "logged_out"
AUX = "aux"
AUX_REASONS_KEY = "aux_reasons"

_STATE_SET = frozenset(STATES)


def aux_reason(reason: Any) -> str:
    """The reason key an aux point counts under (``"unspecified"`` without one)."""
    return reason if isinstance(reason, str) and reason else UNSPECIFIED_REASON


@dataclass(slots=True)
class AgentTime:
    """Milliseconds per logged-in state (keys of ``STATES`` only) and per aux reason; summable."""

    state_ms: dict[str, int] = field(default_factory=dict)
    aux_ms: dict[str, int] = field(default_factory=dict)

    def add(self, other: AgentTime) -> None:
        for k, v in other.state_ms.items():
            self.state_ms[k] = self.state_ms.get(k, 0) + v
        for k, v in other.aux_ms.items():
            self.aux_ms[k] = self.aux_ms.get(k, 0) + v

    def add_state(self, state: str, reason: Any, ms: int) -> None:
        """Count ``ms`` of ``state`` (ignored for ``logged_out``, unknown states, ``ms <= 0``)."""
        if ms <= 0 or state not in _STATE_SET:
            return
        self.state_ms[state] = self.state_ms.get(state, 0) + ms
        if state == AUX:
            key = aux_reason(reason)
            self.aux_ms[key] = self.aux_ms.get(key, 0) + ms

    @property
    def handle_ms(self) -> int:
        """Agent handle time: on_contact + wrap_up."""
        return self.state_ms.get("on_contact", 0) + self.state_ms.get("wrap_up", 0)

    @property
    def available_ms(self) -> int:
        return self.state_ms.get("available", 0)

    def is_empty(self) -> bool:
        return not any(self.state_ms.values())

    def occupancy(self) -> float | None:
        """handle / (handle + available); ``None`` when both are 0 (``queue_metrics.occupancy``,
        the one definition)."""
        return occupancy(self.handle_ms, self.available_ms)

    def state_s(self) -> dict[str, float]:
        """All four states in seconds (0.0 when none)."""
        return {s: self.state_ms.get(s, 0) / 1000 for s in STATES}

    def aux_s(self) -> dict[str, float]:
        return {k: v / 1000 for k, v in sorted(self.aux_ms.items())}

    def as_entry(self) -> dict[str, Any]:
        """The record's per-interval entry: non-zero states, ``aux_reasons`` when aux is."""
        out: dict[str, Any] = {s: self.state_ms[s] for s in STATES if self.state_ms.get(s)}
        if out.get(AUX):
            out[AUX_REASONS_KEY] = {k: v for k, v in sorted(self.aux_ms.items()) if v}
        return out

    @classmethod
    def from_entry(cls, entry: Any) -> AgentTime:
        """An entry of the record's ``intervals`` (anything malformed reads as nothing)."""
        out = cls()
        if not isinstance(entry, Mapping):
            return out
        for s in STATES:
            v = entry.get(s)
            if isinstance(v, int) and v > 0:
                out.state_ms[s] = v
        reasons = entry.get(AUX_REASONS_KEY)
        if isinstance(reasons, Mapping):
            for k, v in reasons.items():
                if isinstance(k, str) and isinstance(v, int) and v > 0:
                    out.aux_ms[k] = v
        return out


# --- splitting time at interval boundaries ----------------------------------------------------


def split_at(lo: int, hi: int, starts: Sequence[int], end_ms: int) -> Iterator[tuple[int, int]]:
    """``(interval start, ms)`` of ``[lo, hi)`` clipped to ``[starts[0], end_ms)``, per interval
    ``[starts[i], starts[i+1])`` (the last ends at ``end_ms``); parts of 0 ms are left out.
    O(log n + intervals touched)."""
    if not starts:
        return
    lo, hi = max(lo, starts[0]), min(hi, end_ms)
    if hi <= lo:
        return
    i = bisect_right(starts, lo) - 1
    n = len(starts)
    while i < n:
        b_lo = starts[i]
        b_hi = starts[i + 1] if i + 1 < n else end_ms
        if b_lo >= hi:
            return
        part = min(hi, b_hi) - max(lo, b_lo)
        if part > 0:
            yield b_lo, part
        i += 1


def _add_split(
    out: dict[int, AgentTime], lo: int, hi: int, state: str, reason: Any, starts: Sequence[int], end_ms: int
) -> None:
    if state not in _STATE_SET:
        return
    for start, ms in split_at(lo, hi, starts, end_ms):
        t = out.get(start)
        if t is None:
            t = out[start] = AgentTime()
        t.add_state(state, reason, ms)


# --- writer side ---------------------------------------------------------------------------


def _ts(point: Sequence[Any]) -> int:
    ts: int = point[0]
    return ts


def recent_points(
    timeline: Sequence[Sequence[Any]], updated_ms: int, window_ms: int = ROLLING_15M_MS
) -> list[list[Any]]:
    """``[[ts, state, reason], ...]``: the point in force at ``updated_ms - window_ms`` (its ts
    may be earlier) and every point after it, at most ``RECENT_MAX_POINTS`` (the newest)."""
    i = max(bisect_right(timeline, updated_ms - window_ms, key=_ts) - 1, 0)
    i = max(i, len(timeline) - RECENT_MAX_POINTS)
    return [[p[0], p[2], p[3]] for p in timeline[i:]]


def agent_time_record(
    timeline: Sequence[Sequence[Any]],
    starts: Sequence[int],
    day_start_ms: int,
    day_end_ms: int,
    updated_ms: int,
) -> dict[str, Any]:
    """The record's ``agent_time`` of one local date.

    ``timeline``: the agent's points around the date (with the point in force before it, as
    ``agent_context`` gives them); ``starts``: the date's interval starts (ascending, the last
    interval ends at ``day_end_ms``). ``intervals`` count ``[day_start_ms, until_ms)`` where
    ``until_ms`` = the last point's ts clamped to the day; ``open`` is the state in force at
    ``until_ms`` (``None`` at the day's end or when logged out): readers add it up to their now.
    O(points + intervals).
    """
    until = min(max(timeline[-1][0], day_start_ms), day_end_ms) if timeline else day_start_ms
    per: dict[int, AgentTime] = {}
    k = max(bisect_right(timeline, day_start_ms, key=_ts) - 1, 0)
    n = len(timeline)
    while k + 1 < n:
        p, nxt = timeline[k], timeline[k + 1]
        if p[0] >= until:
            break
        _add_split(per, p[0], min(nxt[0], until), p[2], p[3], starts, day_end_ms)
        k += 1
    open_: list[Any] | None = None
    if timeline and until < day_end_ms:
        j = bisect_right(timeline, until, key=_ts) - 1
        if j >= 0 and timeline[j][2] != LOGGED_OUT:
            p = timeline[j]
            open_ = [p[0], p[2], p[3]]
    return {
        "intervals": {str(s): per[s].as_entry() for s in sorted(per) if not per[s].is_empty()},
        "until_ms": until,
        "open": open_,
        "recent": recent_points(timeline, updated_ms),
    }


def first_login_ms(timeline: Sequence[Sequence[Any]], lo: int, hi: int) -> int | None:
    """First instant in ``[lo, hi)`` at which the agent is logged in (the state in force, after
    every point at that ms, is not ``logged_out``); ``None`` if none."""
    if hi <= lo:
        return None
    i = bisect_right(timeline, lo, key=_ts) - 1
    if i >= 0 and timeline[i][2] != LOGGED_OUT:
        return lo
    n = len(timeline)
    i += 1
    while i < n and timeline[i][0] < hi:
        # the last point of a ms decides the state in force from it
        if (i + 1 == n or timeline[i + 1][0] != timeline[i][0]) and timeline[i][2] != LOGGED_OUT:
            return int(timeline[i][0])
        i += 1
    return None


def shift_record(
    acts: Sequence[Sequence[Any]] | None, timeline: Sequence[Sequence[Any]], now_ms: int
) -> dict[str, Any] | None:
    """The record's ``shift``: ``None`` without activities for the date; start/end = the first
    activity's start and the last one's end; ``first_login_ms`` = first instant in ``[start,
    end)`` and at or before ``now_ms`` at which the agent is logged in (``None`` if none yet)."""
    if not acts:
        return None
    start, end = int(acts[0][0]), int(acts[-1][1])
    return {"start_ms": start, "end_ms": end, "first_login_ms": first_login_ms(timeline, start, min(end, now_ms + 1))}


# --- reader side ---------------------------------------------------------------------------


def interval_times(
    agent_time: dict[str, Any] | None, starts: list[int], day_end_ms: int, now_ms: int
) -> dict[int, AgentTime]:
    """Per interval start (only intervals with time): the record's closed time plus the open
    state over ``[until_ms, min(now_ms, day_end_ms))``, split at ``starts``."""
    out: dict[int, AgentTime] = {}
    if not isinstance(agent_time, Mapping):
        return out
    intervals = agent_time.get("intervals")
    if isinstance(intervals, Mapping):
        for key, entry in intervals.items():
            try:
                start = int(key)
            except (TypeError, ValueError):
                continue
            t = AgentTime.from_entry(entry)
            if not t.is_empty():
                out[start] = t
    open_ = agent_time.get("open")
    until = agent_time.get("until_ms")
    if isinstance(open_, Sequence) and len(open_) >= 2 and isinstance(until, int):
        _add_split(
            out, until, min(now_ms, day_end_ms), open_[1], open_[2] if len(open_) > 2 else None, starts, day_end_ms
        )
    return {s: out[s] for s in sorted(out) if not out[s].is_empty()}


def day_time(per_interval: Mapping[int, AgentTime]) -> AgentTime:
    """The sum over intervals (also usable over agents)."""
    out = AgentTime()
    for t in per_interval.values():
        out.add(t)
    return out


def rolling_time(recent: list[Any] | None, now_ms: int, window_ms: int = ROLLING_15M_MS) -> AgentTime:
    """Milliseconds per state within ``(now_ms - window_ms, now_ms]``: each point's state lasts to
    the next point (the last one to now); time before the first point counts as logged out."""
    out = AgentTime()
    if not recent:
        return out
    lo = now_ms - window_ms
    i = max(bisect_right(recent, lo, key=_ts) - 1, 0)
    n = len(recent)
    while i < n:
        p = recent[i]
        if p[0] > now_ms:
            break
        end = recent[i + 1][0] if i + 1 < n else now_ms
        out.add_state(p[1], p[2] if len(p) > 2 else None, min(end, now_ms) - max(p[0], lo))
        i += 1
    return out


def logged_in_at(recent: list[Any] | None, now_ms: int) -> bool:
    """Whether the state in force at ``now_ms`` (last point with ts <= now) is not logged out."""
    if not recent:
        return False
    i = bisect_right(recent, now_ms, key=_ts) - 1
    return i >= 0 and recent[i][1] != LOGGED_OUT


def shrinkage_ratio(shrinkage: dict[str, Any] | None) -> float | None:
    """(off_phone_scheduled_ms + unscheduled_aux_ms) / scheduled_ms; ``None`` when 0 or missing."""
    if not isinstance(shrinkage, Mapping):
        return None
    den = shrinkage.get("scheduled_ms") or 0
    if not den:
        return None
    return ((shrinkage.get("off_phone_scheduled_ms") or 0) + (shrinkage.get("unscheduled_aux_ms") or 0)) / den


LATE = "late"
ABSENT = "absent"
ON_TIME = "on_time"


def shift_status(shift: dict[str, Any] | None, now_ms: int) -> str | None:
    """``"late"`` (logged in after the start), ``"absent"`` (not logged in since the start),
    ``"on_time"``; ``None`` without a shift or before it starts."""
    if not isinstance(shift, Mapping):
        return None
    start = shift.get("start_ms")
    if not isinstance(start, int) or now_ms < start:
        return None
    first = shift.get("first_login_ms")
    if first is None:
        return ABSENT
    return LATE if first > start else ON_TIME


def adherence_by_interval(raw: Any) -> dict[int, list[int]]:
    """The record's ``adherence_intervals`` as ``{start_ms: [scheduled, in_adherence,
    work_scheduled, worked]}`` (malformed entries left out)."""
    out: dict[int, list[int]] = {}
    if not isinstance(raw, Mapping):
        return out
    for key, row in raw.items():
        try:
            start = int(key)
        except (TypeError, ValueError):
            continue
        if isinstance(row, Sequence) and len(row) == 4 and all(isinstance(v, int) for v in row):
            out[start] = list(row)
    return out
