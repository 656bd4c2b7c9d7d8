"""Schedule adherence as plain data and pure functions; see ``docs/adherence.md``.

Every time is epoch milliseconds (int) and is passed in: nothing here reads the clock.

Data (JSON-ready, so a Faust table can hold them per agent):

* **Schedule** ``{date: {"ts": published_ms, "eid": event_id, "acts": [[start_ms, end_ms,
  activity], ...]}}`` keyed by local ``YYYY-MM-DD``. ``acts`` are flattened (no overlaps,
  sorted) and never contain ``off``: time no activity covers is unscheduled (expected
  ``logged_out``). Build it with ``merge_schedule``.
* **Timeline** ``[[ts_ms, event_id, state, reason], ...]`` sorted by ``(ts, event_id)``: a set
  of state points. ``reason`` is kept for ``aux`` only. Build it with ``add_point``.

Which schedule is in force at instant *t*: the activity covering *t* in any date's
publication (so a shift of date D may run past midnight into D+1); where two dates'
publications both cover *t*, the most recently published ``(ts, event_id)`` wins. ``off``
never claims time.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date as Date
from itertools import pairwise
from typing import Any

from floorwatch.config import DEFAULT_ACTIVITY_STATES

Schedule = dict[str, dict[str, Any]]
Timeline = list[list[Any]]
Segment = tuple[int, int, str, str]  # (start_ms, end_ms, activity, schedule date)
ActivityStates = Mapping[str, Sequence[str]]

OFF = "off"
LOGGED_OUT = "logged_out"
WORKING_STATES = frozenset({"available", "on_contact", "wrap_up"})
BREAK_ACTIVITIES = frozenset({"break", "lunch"})

LATE_LOGIN = "late_login"
EARLY_LOGOUT = "early_logout"
EXTENDED_BREAK = "extended_break"
UNSCHEDULED_AUX = "unscheduled_aux"
NOT_IN_ACTIVITY = "not_in_activity"
UNSCHEDULED_WORK = "unscheduled_work"
# Precedence: the first kind whose condition holds names an out-of-adherence instant.
EXCEPTION_PRECEDENCE = (
    UNSCHEDULED_WORK,
    LATE_LOGIN,
    EARLY_LOGOUT,
    EXTENDED_BREAK,
    UNSCHEDULED_AUX,
    NOT_IN_ACTIVITY,
)
ALERTING_KINDS = frozenset(EXCEPTION_PRECEDENCE) - {UNSCHEDULED_WORK}

DAY_MS = 86_400_000
_REALTIME_LOOKBACK_MS = 3 * DAY_MS
_NEG_INF = -(2**62)


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _date_key(day: Date | str) -> str:
    return day.isoformat() if isinstance(day, Date) else str(day)


# --- schedule -------------------------------------------------------------------------------


def normalize_activities(activities: Iterable[Sequence[Any]]) -> list[list[Any]]:
    """Flatten ``(start_ms, end_ms, activity)`` items into sorted, non-overlapping non-off segments.

    Where items overlap, the one that starts latest wins (a break laid over a ``work`` shift),
    then the shorter one, then the greater activity name. Empty items are dropped; adjacent
    segments with the same activity are joined; ``off`` segments leave unscheduled time.

    One sweep over the sorted boundaries with a heap of the items begun so far, keyed by that
    precedence (items ended are dropped from its top lazily): O(n log n) for n items.
    """
    items = [(int(s), int(e), str(a)) for s, e, a in activities]
    items = [it for it in items if it[1] > it[0]]
    # sorted by precedence, which orders by start first: index = rank, and the push order
    items.sort(key=lambda it: (it[0], -it[1], it[2]))
    bounds = sorted({b for s, e, _ in items for b in (s, e)})
    heap: list[tuple[int, int, str]] = []  # (-rank, end, activity)
    out: list[list[Any]] = []
    j, n = 0, len(items)
    for lo, hi in pairwise(bounds):
        while j < n and items[j][0] <= lo:
            heapq.heappush(heap, (-j, items[j][1], items[j][2]))
            j += 1
        while heap and heap[0][1] <= lo:
            heapq.heappop(heap)
        if not heap:
            continue
        act = heap[0][2]  # begun at or before lo, ends after lo, so covers [lo, hi)
        if act == OFF:
            continue
        if out and out[-1][1] == lo and out[-1][2] == act:
            out[-1][1] = hi
        else:
            out.append([lo, hi, act])
    return out


def merge_schedule(
    existing_by_date: Schedule | None,
    date: Date | str,
    activities: Iterable[Sequence[Any]],
    published_ts_ms: int,
    event_id: str,
) -> Schedule | None:
    """Schedule after one ``schedule.published``; ``None`` when nothing changed.

    The publication with the greatest ``(published_ts_ms, event_id)`` for a date replaces the
    whole date (intraday changes are full republications), so the result does not depend on
    arrival order and a duplicate changes nothing.
    """
    cur = existing_by_date or {}
    key = _date_key(date)
    old = cur.get(key)
    if old is not None and (old["ts"], old["eid"]) >= (published_ts_ms, event_id):
        return None
    new = dict(cur)
    new[key] = {"ts": published_ts_ms, "eid": event_id, "acts": normalize_activities(activities)}
    return new


def prune_schedule(schedule: Schedule, keep_from_date: Date | str) -> Schedule:
    """Drop dates before ``keep_from_date`` (kept for retention, e.g. 62 days)."""
    keep = _date_key(keep_from_date)
    return {d: rec for d, rec in schedule.items() if d >= keep}


def in_force(schedule: Schedule, lo_ms: int | None = None, hi_ms: int | None = None) -> list[Segment]:
    """The schedule in force as sorted, non-overlapping ``(start, end, activity, date)`` segments.

    Only segments overlapping ``[lo_ms, hi_ms)`` are considered (they are not clipped).
    Overlaps between dates go to the most recently published ``(ts, event_id)``.
    """
    items: list[tuple[int, int, str, str, tuple[int, str]]] = []
    for day, rec in schedule.items():
        rank = (rec["ts"], rec["eid"])
        for s, e, a in rec["acts"]:
            if (hi_ms is not None and s >= hi_ms) or (lo_ms is not None and e <= lo_ms):
                continue
            items.append((s, e, a, day, rank))
    items.sort()
    if all(items[i][0] >= items[i - 1][1] for i in range(1, len(items))):
        return [(s, e, a, d) for s, e, a, d, _ in items]
    # the same sweep as normalize_activities: the winner is the greatest (publication, date);
    # of equal ones the first in ``items`` order (as ``max`` over them would pick)
    by_priority = sorted(range(len(items)), key=lambda i: (items[i][4], items[i][3], -i))
    priority = [0] * len(items)
    for p, i in enumerate(by_priority):
        priority[i] = p
    bounds = sorted({b for it in items for b in (it[0], it[1])})
    heap: list[tuple[int, int, int]] = []  # (-priority, end, index)
    out: list[list[Any]] = []
    j, n = 0, len(items)
    for lo, hi in pairwise(bounds):
        while j < n and items[j][0] <= lo:
            heapq.heappush(heap, (-priority[j], items[j][1], j))
            j += 1
        while heap and heap[0][1] <= lo:
            heapq.heappop(heap)
        if not heap:
            continue
        _, _, act, day, _ = items[heap[0][2]]
        if out and out[-1][1] == lo and out[-1][2] == act and out[-1][3] == day:
            out[-1][1] = hi
        else:
            out.append([lo, hi, act, day])
    return [(s, e, a, d) for s, e, a, d in out]


def _seg_at(segs: Sequence[Segment], starts: Sequence[int], t: int) -> int:
    """Index of the segment covering ``t``, or -1."""
    i = bisect_right(starts, t) - 1
    return i if i >= 0 and segs[i][1] > t else -1


def activity_at(schedule: Schedule, t_ms: int) -> tuple[str, str | None]:
    """``(activity, schedule date)`` in force at ``t_ms``; ``("off", None)`` when unscheduled."""
    segs = in_force(schedule, t_ms, t_ms + 1)
    for s, e, a, d in segs:
        if s <= t_ms < e:
            return a, d
    return OFF, None


# --- timeline -------------------------------------------------------------------------------


def _ts(point: Sequence[Any]) -> int:
    ts: int = point[0]
    return ts


def _key(point: Sequence[Any]) -> tuple[int, str]:
    return (point[0], point[1])


def add_point(
    timeline: Timeline | None, ts_ms: int, event_id: str, state: str, reason: str | None = None
) -> Timeline | None:
    """Timeline with one more state point; ``None`` when ``(ts_ms, event_id)`` is already there."""
    tl = timeline or []
    key = (ts_ms, event_id)
    i = bisect_right(tl, key, key=_key)
    if i > 0 and _key(tl[i - 1]) == key:
        return None
    new = list(tl)
    new.insert(i, [ts_ms, event_id, state, reason if state == "aux" else None])
    return new


def state_at(timeline: Timeline, t_ms: int) -> tuple[str, str | None]:
    """``(state, reason)`` in force at ``t_ms``: the last point with ``ts <= t``; before any point
    the agent counts as ``logged_out``. Points at the same ms apply in ``event_id`` order."""
    i = bisect_right(timeline, t_ms, key=_ts) - 1
    if i < 0:
        return LOGGED_OUT, None
    return timeline[i][2], timeline[i][3]


def prune_timeline(timeline: Timeline, cutoff_ms: int) -> Timeline:
    """Drop points older than ``cutoff_ms`` but keep the one in force at the cutoff."""
    i = bisect_right(timeline, cutoff_ms, key=_ts) - 1
    return timeline if i <= 0 else timeline[i:]


# --- rules ----------------------------------------------------------------------------------


def actual_label(state: str, reason: str | None) -> str:
    """``state``, or ``aux/<reason>`` for aux (``aux`` without a reason)."""
    if state == "aux":
        return f"aux/{reason}" if reason else "aux"
    return state


class _Rules:
    """Activity map compiled to casefolded sets; unknown activities allow ``aux/<activity>``."""

    __slots__ = ("_map", "_cache")

    def __init__(self, activity_states: ActivityStates | None) -> None:
        self._map: dict[str, Sequence[str]] = dict(DEFAULT_ACTIVITY_STATES)
        self._map.update(activity_states or {})
        self._cache: dict[str, frozenset[str]] = {}

    def allowed(self, activity: str, state: str, reason: str | None) -> bool:
        ok = self._cache.get(activity)
        if ok is None:
            ok = frozenset(x.strip().casefold() for x in self._map.get(activity, [f"aux/{activity}"]))
            self._cache[activity] = ok
        if state in ok:
            return True
        return state == "aux" and reason is not None and f"aux/{reason.strip().casefold()}" in ok


def allowed(activity: str, state: str, reason: str | None, activity_states: ActivityStates | None = None) -> bool:
    """Whether ``state``/``reason`` is allowed during ``activity`` (``off`` = unscheduled).

    An entry ``aux/<r>`` allows aux with reason ``r`` (case-insensitive); a bare ``aux`` allows
    any aux. Activities missing from the map fall back to the defaults, then to ``aux/<activity>``.
    """
    return _Rules(activity_states).allowed(activity, state, reason)


# --- the sweep: elementary pieces with their classification -----------------------------


@dataclass(frozen=True, slots=True)
class _Piece:
    start: int
    end: int
    activity: str
    sdate: str | None
    state: str
    reason: str | None
    ok: bool
    kind: str | None


def _block_starts(segs: Sequence[Segment]) -> list[int]:
    """Per segment, the start of its block: the run of touching segments of the same date."""
    out: list[int] = []
    for i, (s, _, _, d) in enumerate(segs):
        prev = segs[i - 1] if i else None
        out.append(out[-1] if prev is not None and prev[3] == d and prev[1] == s else s)
    return out


def _sweep(
    segs: Sequence[Segment],
    timeline: Timeline,
    lo: int,
    hi: int,
    rules: _Rules,
    extra_bounds: Iterable[int] = (),
) -> list[_Piece]:
    """Pieces of constant (activity, state) covering ``[lo, hi)``, each classified.

    ``lo`` must not be inside a block whose classification matters (it starts the context used
    for late login / early logout and extended breaks).
    """
    if hi <= lo:
        return []
    bounds = {lo, hi}
    bounds.update(b for b in extra_bounds if lo < b < hi)
    for s, e, _, _ in segs:
        if lo < s < hi:
            bounds.add(s)
        if lo < e < hi:
            bounds.add(e)
    ti = bisect_right(timeline, lo, key=_ts) - 1
    for p in timeline[ti + 1 :]:
        if p[0] >= hi:
            break
        bounds.add(p[0])
    ordered = sorted(bounds)
    starts = [s[0] for s in segs]
    bstart = _block_starts(segs)
    si = max(bisect_right(starts, lo) - 1, 0)
    pieces: list[_Piece] = []
    block: tuple[str, int] | None = None
    logged_in = False
    cands: list[str] = []
    prev_seg = -1
    prev_ok = False
    for a, b in pairwise(ordered):
        while si < len(segs) and segs[si][1] <= a:
            si += 1
        cur = si if si < len(segs) and segs[si][0] <= a else -1
        while ti + 1 < len(timeline) and timeline[ti + 1][0] <= a:
            ti += 1
        state, reason = (timeline[ti][2], timeline[ti][3]) if ti >= 0 else (LOGGED_OUT, None)
        activity = segs[cur][2] if cur >= 0 else OFF
        blk = (segs[cur][3], bstart[cur]) if cur >= 0 else None
        if blk != block:
            block, logged_in, cands = blk, False, []
        else:
            cands = [c for c in cands if rules.allowed(c, state, reason)]
            if (
                prev_seg >= 0
                and prev_seg != cur
                and prev_ok
                and segs[prev_seg][1] == a
                and segs[prev_seg][2] in BREAK_ACTIVITIES
                and rules.allowed(segs[prev_seg][2], state, reason)
            ):
                cands.append(segs[prev_seg][2])
        ok = rules.allowed(activity, state, reason)
        kind: str | None = None
        if not ok:
            if cur < 0:
                kind = UNSCHEDULED_WORK if state != LOGGED_OUT else NOT_IN_ACTIVITY
            elif state == LOGGED_OUT:
                kind = EARLY_LOGOUT if logged_in else LATE_LOGIN
            elif cands:
                kind = EXTENDED_BREAK
            elif activity == "work" and state == "aux":
                kind = UNSCHEDULED_AUX
            else:
                kind = NOT_IN_ACTIVITY
        if cur >= 0 and state != LOGGED_OUT:
            logged_in = True
        pieces.append(_Piece(a, b, activity, segs[cur][3] if cur >= 0 else None, state, reason, ok, kind))
        prev_seg, prev_ok = cur, ok
    return pieces


# --- one local day --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AdherenceException:
    """A maximal span of one kind; ``end_ms`` is ``None`` while ongoing."""

    kind: str
    start_ms: int
    end_ms: int | None
    scheduled: str
    actual: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "scheduled": self.scheduled,
            "actual": self.actual,
        }


def _ratio(num: float, den: float) -> float | None:
    return None if den == 0 else num / den


def adherence_ratio(in_adherence: float, scheduled: float) -> float | None:
    """Adherence of one agent or summed over a team: in-adherence time / scheduled time (any one
    unit), raw (no grace); ``None`` with nothing scheduled."""
    return _ratio(in_adherence, scheduled)


def conformance_ratio(worked: float, work_scheduled: float) -> float | None:
    """Conformance: worked time / scheduled work time (may exceed 1); ``None`` with no work
    scheduled."""
    return _ratio(worked, work_scheduled)


@dataclass(frozen=True, slots=True)
class DayAdherence:
    """Figures of one agent and local date, in ms; the ``*_s`` properties are seconds."""

    date: str
    scheduled_ms: int = 0
    in_adherence_ms: int = 0
    work_scheduled_ms: int = 0
    worked_ms: int = 0
    exceptions: tuple[AdherenceException, ...] = field(default_factory=tuple)
    # shrinkage parts: scheduled time of activities other than ``work``; time in ``aux`` during
    # scheduled ``work``
    off_phone_scheduled_ms: int = 0
    unscheduled_aux_ms: int = 0
    # interval start ms -> (scheduled, in_adherence, work_scheduled, worked) ms, when asked for
    intervals: dict[int, tuple[int, int, int, int]] = field(default_factory=dict)

    @property
    def scheduled_s(self) -> float:
        return self.scheduled_ms / 1000

    @property
    def in_adherence_s(self) -> float:
        return self.in_adherence_ms / 1000

    @property
    def work_scheduled_s(self) -> float:
        return self.work_scheduled_ms / 1000

    @property
    def worked_s(self) -> float:
        return self.worked_ms / 1000

    @property
    def adherence(self) -> float | None:
        """in_adherence / scheduled, raw (no grace); ``None`` with nothing scheduled yet."""
        return adherence_ratio(self.in_adherence_ms, self.scheduled_ms)

    @property
    def conformance(self) -> float | None:
        """worked / scheduled work (may exceed 1); ``None`` with no work scheduled yet."""
        return conformance_ratio(self.worked_ms, self.work_scheduled_ms)

    def as_dict(self) -> dict[str, Any]:
        """The ``/api/v1/adherence`` figures (exception times as ``start_ms``/``end_ms``)."""
        return {
            "date": self.date,
            "scheduled_s": self.scheduled_s,
            "in_adherence_s": self.in_adherence_s,
            "adherence": self.adherence,
            "work_scheduled_s": self.work_scheduled_s,
            "worked_s": self.worked_s,
            "conformance": self.conformance,
            "exceptions": [x.as_dict() for x in self.exceptions],
        }

    def adherence_intervals(self) -> dict[str, list[int]]:
        """``{"<interval start ms>": [scheduled, in_adherence, work_scheduled, worked]}`` (ms)."""
        return {str(k): list(v) for k, v in sorted(self.intervals.items())}

    def shrinkage(self) -> dict[str, int]:
        return {
            "scheduled_ms": self.scheduled_ms,
            "off_phone_scheduled_ms": self.off_phone_scheduled_ms,
            "unscheduled_aux_ms": self.unscheduled_aux_ms,
        }


def _actual_key(state: str, reason: str | None) -> str:
    return "working" if state in WORKING_STATES else actual_label(state, reason)


def evaluate_day(
    schedule: Schedule,
    date: Date | str,
    timeline: Timeline,
    day_start_ms: int,
    day_end_ms: int,
    now_ms: int,
    activity_states: ActivityStates | None = None,
    interval_starts: Sequence[int] | None = None,
) -> DayAdherence:
    """Adherence figures of local ``date`` up to ``now_ms``.

    The date's window = the date's in-force activities (also their part past midnight) plus the
    unscheduled part of ``[day_start_ms, day_end_ms)`` (the local day), minus instants another
    date's activities hold. Over that window, clipped to ``now_ms``: ``scheduled`` = the date's
    activities; ``in_adherence`` = those instants in an allowed state; ``work_scheduled`` =
    ``work`` instants; ``worked`` = every instant in a working state, scheduled or not;
    exceptions = every out-of-adherence span, ``unscheduled_work`` included. Shrinkage parts:
    ``off_phone_scheduled`` = scheduled instants of activities other than ``work``;
    ``unscheduled_aux`` = ``work`` instants in state ``aux``.

    With ``interval_starts`` (the date's interval starts, ascending; the last interval ends at
    ``day_end_ms``) the four figures are also split per interval by the instant (``intervals``);
    the date's activities past either end of the local day go to the intervals continuing the
    grid there (``interval_parts``). The sums over intervals equal the day's figures.
    """
    key = _date_key(date)
    rec = schedule.get(key)
    acts = rec["acts"] if rec else []
    lo = min(day_start_ms, acts[0][0]) if acts else day_start_ms
    hi = max(day_end_ms, acts[-1][1]) if acts else day_end_ms
    clip = min(hi, now_ms)
    probe = lo <= now_ms < hi  # also classify the instant now, to tell ongoing from just ended
    segs = in_force(schedule, lo, hi)
    pieces = _sweep(
        segs, timeline, lo, clip + 1 if probe else clip, _Rules(activity_states), (day_start_ms, day_end_ms, clip)
    )
    at_now = pieces.pop() if probe and pieces else None
    scheduled = inside = work = worked = off_phone = aux_in_work = 0
    rows: dict[int, list[int]] = {}
    spans: list[list[Any]] = []  # [kind, start, end, scheduled, actual, merge key]
    for p in pieces:
        if p.sdate is not None:
            if p.sdate != key:
                continue
        elif not day_start_ms <= p.start < day_end_ms:
            continue
        dur = p.end - p.start
        if p.sdate is not None:
            scheduled += dur
            inside += dur if p.ok else 0
            work += dur if p.activity == "work" else 0
            if p.activity != "work":
                off_phone += dur
            elif p.state == "aux":
                aux_in_work += dur
        is_worked = p.state in WORKING_STATES
        worked += dur if is_worked else 0
        if interval_starts and (p.sdate is not None or is_worked):
            for start, ms in interval_parts(p.start, p.end, interval_starts, day_end_ms):
                row = rows.get(start)
                if row is None:
                    row = rows[start] = [0, 0, 0, 0]
                if p.sdate is not None:
                    row[0] += ms
                    row[1] += ms if p.ok else 0
                    row[2] += ms if p.activity == "work" else 0
                row[3] += ms if is_worked else 0
        if p.ok:
            continue
        mkey = (p.kind, p.activity, _actual_key(p.state, p.reason))
        if spans and spans[-1][2] == p.start and spans[-1][5] == mkey:
            spans[-1][2] = p.end
        else:
            spans.append([p.kind, p.start, p.end, p.activity, actual_label(p.state, p.reason), mkey])
    if (
        at_now is not None
        and not at_now.ok
        and spans
        and spans[-1][2] == now_ms
        and (at_now.sdate == key or (at_now.sdate is None and day_start_ms <= now_ms < day_end_ms))
        and spans[-1][5] == (at_now.kind, at_now.activity, _actual_key(at_now.state, at_now.reason))
    ):
        spans[-1][2] = None  # still going on at now
    exceptions = tuple(AdherenceException(k, s, e, a, act) for k, s, e, a, act, _ in spans)
    intervals = {k: (r[0], r[1], r[2], r[3]) for k, r in sorted(rows.items()) if any(r)}
    return DayAdherence(key, scheduled, inside, work, worked, exceptions, off_phone, aux_in_work, intervals)


def interval_parts(lo: int, hi: int, starts: Sequence[int], day_end_ms: int) -> list[tuple[int, int]]:
    """``(interval start, ms)`` of ``[lo, hi)`` (parts of 0 ms left out). Inside the local day the
    intervals are ``[starts[i], starts[i+1])`` (the last ends at ``day_end_ms``); before and after
    it the grid continues with the day's interval length from ``starts[0]`` and ``day_end_ms``
    (the neighbouring days' intervals). O(intervals touched)."""
    out: list[tuple[int, int]] = []
    if hi <= lo or not starts:
        return out
    first = starts[0]
    step = starts[1] - first if len(starts) > 1 else day_end_ms - first
    if lo < first:  # before the day: grid back from its start
        b = first - ((first - lo + step - 1) // step) * step
        while b < min(hi, first):
            e = b + step
            part = min(hi, e, first) - max(lo, b)
            if part > 0:
                out.append((b, part))
            b = e
    if hi > first and lo < day_end_ms:
        a, z = max(lo, first), min(hi, day_end_ms)
        i = bisect_right(starts, a) - 1
        n = len(starts)
        while i < n and starts[i] < z:
            e = starts[i + 1] if i + 1 < n else day_end_ms
            part = min(z, e) - max(a, starts[i])
            if part > 0:
                out.append((starts[i], part))
            i += 1
    if hi > day_end_ms:  # after the day: grid on from its end
        a = max(lo, day_end_ms)
        b = day_end_ms + ((a - day_end_ms) // step) * step
        while b < hi:
            e = b + step
            part = min(hi, e) - max(a, b)
            if part > 0:
                out.append((b, part))
            b = e
    return out


# --- real time ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AdherenceNow:
    """An agent's adherence at one instant (for ``/api/v1/agents`` and the alert timer).

    ``out_of_adherence_since_ms``: start of the current continuous out-of-adherence span
    (across activity and state changes). ``alert_since_ms``: start of its tail made only of
    alerting kinds (no ``unscheduled_work``) — the clock of the adherence-break alert.
    ``severity`` and ``next_check_ms`` are filled when grace/critical are given.
    """

    activity: str
    schedule_date: str | None
    state: str
    reason: str | None
    in_adherence: bool
    out_of_adherence_since_ms: int | None
    alert_since_ms: int | None
    exception: str | None
    severity: str | None = None
    next_check_ms: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "scheduled_activity": self.activity,
            "schedule_date": self.schedule_date,
            "state": self.state,
            "reason": self.reason,
            "in_adherence": self.in_adherence,
            "out_of_adherence_since_ms": self.out_of_adherence_since_ms,
            "alert_since_ms": self.alert_since_ms,
            "exception": self.exception,
            "severity": self.severity,
            "next_check_ms": self.next_check_ms,
        }


def _run_start(
    segs: Sequence[Segment],
    starts: Sequence[int],
    timeline: Timeline,
    t: int,
    rules: _Rules,
    alerting_only: bool,
    floor: int,
) -> int | None:
    """Start of the out-of-adherence run containing instant ``t``; ``None`` if in adherence at t.

    Walks back piece by piece; stops at ``floor`` (returned when the run reaches it).
    """
    start: int | None = None
    cursor = t
    while True:
        i = _seg_at(segs, starts, cursor)
        if i >= 0:
            activity, seg_lo = segs[i][2], segs[i][0]
        else:
            j = bisect_right(starts, cursor) - 1
            activity, seg_lo = OFF, (segs[j][1] if j >= 0 else _NEG_INF)
        k = bisect_right(timeline, cursor, key=_ts) - 1
        state, reason = (timeline[k][2], timeline[k][3]) if k >= 0 else (LOGGED_OUT, None)
        pt_lo = timeline[k][0] if k >= 0 else _NEG_INF
        if rules.allowed(activity, state, reason):
            return start
        if alerting_only and i < 0 and state != LOGGED_OUT:
            return start  # unscheduled_work does not alert
        piece_lo = max(seg_lo, pt_lo)
        if piece_lo == _NEG_INF:  # out since before anything known (only with odd activity maps)
            return start if start is not None else cursor
        if piece_lo <= floor:
            return floor  # the caller looks further back
        start = piece_lo
        cursor = piece_lo - 1


def realtime_status(
    schedule: Schedule,
    timeline: Timeline,
    now_ms: int,
    activity_states: ActivityStates | None = None,
    *,
    grace_s: float | None = None,
    critical_s: float | None = None,
) -> AdherenceNow:
    """The agent's adherence at ``now_ms``; with grace/critical also the alert severity and the
    next instant it can change without a new event (``next_check_ms``)."""
    rules = _Rules(activity_states)
    lo = now_ms - _REALTIME_LOOKBACK_MS
    segs = in_force(schedule, lo, now_ms + DAY_MS)
    starts = [s[0] for s in segs]
    i = _seg_at(segs, starts, now_ms)
    activity, sdate = (segs[i][2], segs[i][3]) if i >= 0 else (OFF, None)
    state, reason = state_at(timeline, now_ms)
    ok = rules.allowed(activity, state, reason)
    out_since = alert_since = None
    kind: str | None = None
    if not ok:
        out_since = _run_start(segs, starts, timeline, now_ms, rules, False, lo)
        alert_since = _run_start(segs, starts, timeline, now_ms, rules, True, lo)
        if out_since is not None and out_since <= lo:  # very long span: look at everything
            all_segs = in_force(schedule)
            all_starts = [s[0] for s in all_segs]
            out_since = _run_start(all_segs, all_starts, timeline, now_ms, rules, False, _NEG_INF)
            alert_since = _run_start(all_segs, all_starts, timeline, now_ms, rules, True, _NEG_INF)
        if i < 0:
            kind = UNSCHEDULED_WORK if state != LOGGED_OUT else NOT_IN_ACTIVITY
        else:
            bstart = _block_starts(segs)[i]
            kind = _sweep(segs, timeline, bstart, now_ms + 1, rules)[-1].kind
    severity = next_check = None
    if grace_s is not None and critical_s is not None:
        severity = adherence_alert(alert_since, now_ms, grace_s, critical_s)
        ahead = [b for s in segs for b in (s[0], s[1]) if b > now_ms]
        k = bisect_right(timeline, now_ms, key=_ts)
        if k < len(timeline):
            ahead.append(timeline[k][0])
        if alert_since is not None:
            ahead += [t for t in (alert_since + _ms(grace_s), alert_since + _ms(critical_s)) if t > now_ms]
        next_check = min(ahead) if ahead else None
    return AdherenceNow(activity, sdate, state, reason, ok, out_since, alert_since, kind, severity, next_check)


def out_of_adherence_since(
    schedule: Schedule, timeline: Timeline, now_ms: int, activity_states: ActivityStates | None = None
) -> int | None:
    """Start of the current continuous out-of-adherence span; ``None`` when in adherence."""
    return realtime_status(schedule, timeline, now_ms, activity_states).out_of_adherence_since_ms


def next_check_ms(
    schedule: Schedule,
    timeline: Timeline,
    now_ms: int,
    activity_states: ActivityStates | None,
    grace_s: float,
    critical_s: float,
) -> int | None:
    """Next instant (> now) at which adherence or the alert severity can change with no new
    event: an activity boundary, a future-dated state point, alert start + grace or + critical."""
    return realtime_status(
        schedule, timeline, now_ms, activity_states, grace_s=grace_s, critical_s=critical_s
    ).next_check_ms


def adherence_alert(
    out_since_ms: int | None,
    now_ms: int,
    grace_s: float,
    critical_s: float,
    unscheduled_work: bool = False,
) -> str | None:
    """Severity of the adherence break at ``now_ms``: ``None``, ``"warning"`` or ``"critical"``.

    Fires at ``out_since + grace_s`` (that instant included: the agent has then been out for
    the whole grace period) and is critical from ``out_since + critical_s`` (included). Spans
    of ``unscheduled_work`` never alert.
    """
    if out_since_ms is None or unscheduled_work:
        return None
    elapsed = now_ms - out_since_ms
    if elapsed < _ms(grace_s):
        return None
    return "critical" if elapsed >= _ms(critical_s) else "warning"
