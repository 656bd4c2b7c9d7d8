"""Pure derivations from the ``View``: the JSON of the REST endpoints and websocket frames.

Every function takes the current time explicitly (``now_ms``, epoch milliseconds), so the
figures are a function of (view, settings, now) and tests can compute them by hand.

Sums over partitions use ``Counts.merge``; ``today`` is the merge of the queue's interval
partials whose start lies in today's local day, so today's totals always equal the sum of
today's intervals.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from floorwatch.config import QueueConfig, Settings, StaffingConfig
from floorwatch.domain.aggregate import ROLLING_15M_MS
from floorwatch.domain.erlang import OverCap, required_agents, traffic_intensity
from floorwatch.domain.intervals import (
    day_bounds_ms,
    day_interval_starts,
    interval_end_ms,
    interval_start_ms,
    iso,
    local_date,
)
from floorwatch.domain.queue_metrics import SL_FORMULAS, Counts, aht_s, stats
from floorwatch.readmodel.view import View
from floorwatch.records import MAX_MS, AlertAck, Forecast, IntervalPartial, QueuePartial

AGENT_STATES = ("available", "on_contact", "wrap_up", "aux")
RULE_KEYS = ("sl_threshold_s", "short_abandon_s", "sl_target", "sl_formula")


# -- rules ------------------------------------------------------------------------------


ROLLING_15M_S = ROLLING_15M_MS / 1000


def config_rules(queue: QueueConfig) -> dict[str, Any]:
    return {k: getattr(queue, k) for k in RULE_KEYS}


def _valid_rules(rules: dict[str, Any] | None) -> bool:
    return isinstance(rules, dict) and rules.get("sl_formula") in SL_FORMULAS


def rules_of(partials: Iterable[IntervalPartial], fallback: dict[str, Any]) -> dict[str, Any]:
    """The rules recorded with the partials (lowest partition first), else ``fallback``."""
    ordered = sorted(partials, key=lambda p: (p.partition is None, p.partition or 0))
    for p in ordered:
        if _valid_rules(p.rules):
            return {k: p.rules.get(k, fallback[k]) for k in RULE_KEYS}  # type: ignore[union-attr]
    return dict(fallback)


def mixed_rules(partials: Iterable[IntervalPartial]) -> bool:
    seen: set[tuple[Any, ...]] = set()
    mixed = False
    for p in partials:
        mixed = mixed or p.mixed_rules
        if _valid_rules(p.rules):
            seen.add(tuple(p.rules.get(k) for k in RULE_KEYS))  # type: ignore[union-attr]
    return mixed or len(seen) > 1


# -- sums -------------------------------------------------------------------------------


merge = Counts.total


def stats_of(counts: Counts, rules: dict[str, Any]) -> dict[str, Any]:
    return stats(counts, rules["sl_formula"])


def agent_counts(view: View) -> dict[str, dict[str, int]]:
    """Per queue: logged-in agents whose profile lists it (``staffed``), and by state."""
    out: dict[str, dict[str, int]] = {}
    for record in view.agents.values():
        state = record.get("state")
        queues = record.get("queues")
        if not isinstance(state, str) or state == "logged_out" or not isinstance(queues, list):
            continue
        for queue in {q for q in queues if isinstance(q, str)}:
            tile = out.get(queue)
            if tile is None:
                tile = out[queue] = empty_agents()
            tile["staffed"] += 1
            if state in AGENT_STATES:
                tile[state] += 1
    return out


def empty_agents() -> dict[str, int]:
    return {"staffed": 0, **{s: 0 for s in AGENT_STATES}}


# -- /api/v1/queues ---------------------------------------------------------------------


def queue_order(view: View, settings: Settings) -> list[str]:
    """Configured queues in config order, then every other queue of the view, sorted."""
    configured = [q.id for q in settings.queues]
    known = set(configured)
    return configured + sorted(q for q in view.queue_ids() if q not in known)


def current_rules(view: View, settings: Settings, queue: str) -> dict[str, Any]:
    """Rules of the queue's latest interval with a partial, else the queue's config."""
    fallback = config_rules(settings.queue(queue))
    latest = view.latest_start(queue)
    if latest is None:
        return fallback
    return rules_of(view.interval_partials(queue, latest), fallback)


def oldest_waiting_ms(partials: list[QueuePartial]) -> int | None:
    oldest = [p.oldest_waiting_ms for p in partials if p.waiting > 0 and p.oldest_waiting_ms is not None]
    return min(oldest) if oldest else None


def longest_wait_s(partials: list[QueuePartial], now_ms: int) -> float | None:
    oldest = oldest_waiting_ms(partials)
    if oldest is None:
        return None
    return max(0, now_ms - oldest) / 1000


#: the cap on required agents when a caller passes none: the ``staffing.max_agents_per_queue`` default
DEFAULT_MAX_AGENTS: int = StaffingConfig().max_agents_per_queue
#: distinct (load, AHT, T, target, cap) Erlang C results kept; least recently used ones are cut
#: (``required_agents_cache_stats()["evicted"]`` counts them)
REQUIRED_AGENTS_CACHE_ENTRIES = 4096


@lru_cache(maxsize=REQUIRED_AGENTS_CACHE_ENTRIES)
def erlang_c_required(
    traffic: float, aht_s: float, threshold_s: float, target_sl: float, max_agents: int
) -> int | OverCap:
    """Erlang C required agents, or ``OverCap`` above ``max_agents``; memoised, because the
    queues route, /metrics, the websocket frames and the staffing route size the same loads."""
    return required_agents(traffic, aht_s, threshold_s, target_sl, max_agents=max_agents)


def required_agents_cache_stats() -> dict[str, int]:
    """Hits, misses, entries and evicted (results cut by the bound) of ``erlang_c_required``."""
    info = erlang_c_required.cache_info()
    return {"hits": info.hits, "misses": info.misses, "entries": info.currsize, "evicted": info.misses - info.currsize}


def _sized(traffic: float, aht_s: float, rules: dict[str, Any], max_agents: int) -> int | OverCap | None:
    if traffic >= max_agents:  # Erlang C needs N > A: over the cap without a search (inf too)
        return OverCap(max_agents)
    try:
        return erlang_c_required(traffic, aht_s, float(rules["sl_threshold_s"]), float(rules["sl_target"]), max_agents)
    except (ValueError, OverflowError, ArithmeticError):  # absurd figures: no answer
        return None


def erlang_required(
    offered: float,
    aht_s: float | None,
    interval_s: float,
    rules: dict[str, Any],
    *,
    max_agents: int = DEFAULT_MAX_AGENTS,
) -> int | OverCap | None:
    """Erlang C agents for ``offered`` contacts of ``aht_s`` in ``interval_s`` under the queue's
    T and target; 0 without contacts; ``OverCap`` when more than ``max_agents`` would be needed;
    ``None`` when there is no usable AHT (or no answer)."""
    if offered <= 0:
        return 0
    if aht_s is None or aht_s <= 0 or interval_s <= 0:
        return None
    try:
        traffic = traffic_intensity(offered, aht_s, interval_s)
    except (ValueError, OverflowError, ArithmeticError):  # absurd forecast figures: no answer
        return None
    return _sized(traffic, aht_s, rules, max_agents)


def required_fields(required: int | OverCap | None) -> dict[str, Any]:
    """``required_agents`` (a number, or null when unknown or over the cap) and
    ``required_agents_over_cap`` of a queue tile or a staffing row."""
    over = isinstance(required, OverCap)
    return {"required_agents": None if over else required, "required_agents_over_cap": over}


def forecast_for_interval(forecast: Forecast | None, start_ms: int, end_ms: int) -> tuple[float, float | None] | None:
    """``(offered, aht_s)`` the forecast gives the interval ``[start_ms, end_ms)``.

    Each forecast interval ``[start, start + interval_minutes)`` contributes its offered volume
    in proportion to its overlap with ours (so 15-minute forecasts add up into 30-minute
    intervals, a 60-minute one splits in two halves); the AHT is the mean weighted by those
    offered shares (by overlap when they are all 0). ``None`` when no forecast interval overlaps.
    """
    if forecast is None:
        return None
    return _spread(forecast.interval_minutes * 60_000, forecast.intervals, start_ms, end_ms)


def _spread(
    length: int, intervals: Iterable[tuple[int, float, float]], start_ms: int, end_ms: int
) -> tuple[float, float | None] | None:
    """``forecast_for_interval`` of forecast intervals of ``length`` ms."""
    offered = aht_weighted = overlap_total = aht_by_overlap = 0.0
    seen = False
    for f_start, f_offered, f_aht in intervals:
        overlap = min(end_ms, f_start + length) - max(start_ms, f_start)
        if overlap <= 0:
            continue
        seen = True
        share = overlap / length
        offered += f_offered * share
        aht_weighted += f_offered * share * f_aht
        overlap_total += share
        aht_by_overlap += share * f_aht
    if not seen:
        return None
    if offered > 0:
        return offered, aht_weighted / offered
    return offered, aht_by_overlap / overlap_total


def queue_forecast(view: View, settings: Settings, queue: str, start_ms: int) -> tuple[float, float | None] | None:
    """The forecast of the interval starting at ``start_ms`` (from its local date's publication)."""
    tz = settings.tz
    day = local_date(start_ms, tz).isoformat()
    end_ms = interval_end_ms(start_ms, tz, settings.interval_minutes)
    return forecast_for_interval(view.forecasts.get((queue, day)), start_ms, end_ms)


def live_required_agents(
    rolling_15m: Counts,
    rolling_60m: Counts,
    rules: dict[str, Any],
    forecast: tuple[float, float | None, float] | None = None,
    *,
    max_agents: int = DEFAULT_MAX_AGENTS,
) -> int | OverCap | None:
    """Required agents now: Erlang C for the current interval's forecast when one was published
    (``forecast`` = (offered, aht_s, interval seconds)) and is usable, else for the arrival rate
    of the last 15 minutes and the AHT of the last 60. ``OverCap`` when more than
    ``max_agents`` would be needed.

    ``None`` without a forecast until a contact has been handled in the last hour (no AHT).
    """
    if forecast is not None:
        from_forecast = erlang_required(forecast[0], forecast[1], forecast[2], rules, max_agents=max_agents)
        if from_forecast is not None:
            return from_forecast
    aht = aht_s(rolling_60m)
    if aht is None or aht <= 0:
        return None
    return erlang_required(rolling_15m.offered, aht, ROLLING_15M_S, rules, max_agents=max_agents)


def current_forecast(
    view: View, settings: Settings, queue: str, now_ms: int
) -> tuple[float, float | None, float] | None:
    """(offered, aht_s, interval seconds) of the current interval's forecast, if published."""
    tz, minutes = settings.tz, settings.interval_minutes
    start = interval_start_ms(now_ms, tz, minutes)
    found = queue_forecast(view, settings, queue, start)
    if found is None:
        return None
    return found[0], found[1], (interval_end_ms(start, tz, minutes) - start) / 1000


def queue_tile(
    view: View,
    settings: Settings,
    queue: str,
    now_ms: int,
    agents: dict[str, int] | None = None,
) -> dict[str, Any]:
    tz, minutes = settings.tz, settings.interval_minutes
    config = settings.queue(queue)
    rules = current_rules(view, settings, queue)
    live = view.queue_partials(queue)

    start = interval_start_ms(now_ms, tz, minutes)
    current = view.interval_partials(queue, start)
    interval_rules = rules_of(current, rules)
    end = interval_end_ms(start, tz, minutes)

    lo, hi = day_bounds_ms(local_date(now_ms, tz), tz)
    today = merge(c for s in view.interval_starts(queue, lo, hi) for c in view.interval_counts(queue, s))

    updated = view.updated_ms.get(queue)
    oldest = oldest_waiting_ms(live)
    rolling_15m = merge(p.rolling_15m for p in live)
    rolling_60m = merge(p.rolling_60m for p in live)
    return {
        "queue": queue,
        "name": config.name,
        "channel": config.channel,
        "waiting": sum(p.waiting for p in live),
        "longest_wait_s": longest_wait_s(live, now_ms),
        "oldest_waiting": iso(oldest, tz) if oldest is not None else None,
        "agents": dict(agents) if agents else empty_agents(),
        **required_fields(
            live_required_agents(
                rolling_15m,
                rolling_60m,
                rules,
                current_forecast(view, settings, queue, now_ms),
                max_agents=settings.staffing.max_agents_per_queue,
            )
        ),
        "sl_target": rules["sl_target"],
        "sl_threshold_s": rules["sl_threshold_s"],
        "today": stats_of(today, rules),
        "interval": {
            **stats_of(merge(view.interval_counts(queue, start)), interval_rules),
            "start": iso(start, tz),
            "end": iso(end, tz),
        },
        "rolling_15m": stats_of(rolling_15m, rules),
        "rolling_60m": stats_of(rolling_60m, rules),
        "updated_at": iso(updated, tz) if updated is not None else None,
    }


def queues_overview(view: View, settings: Settings, now_ms: int) -> list[dict[str, Any]]:
    """``GET /api/v1/queues``."""
    agents = agent_counts(view)
    return [queue_tile(view, settings, q, now_ms, agents.get(q)) for q in queue_order(view, settings)]


# -- /api/v1/intervals ------------------------------------------------------------------


def day_intervals(view: View, settings: Settings, queue: str, day: date) -> list[dict[str, Any]]:
    """``GET /api/v1/intervals``: every interval of the local ``day`` that has contacts."""
    tz, minutes = settings.tz, settings.interval_minutes
    fallback = config_rules(settings.queue(queue))
    try:
        lo, hi = day_bounds_ms(day, tz)
    except (OverflowError, ValueError):  # 0001-01-01 / 9999-12-31: no data there
        return []
    out: list[dict[str, Any]] = []
    for start in view.interval_starts(queue, lo, hi):
        partials = view.interval_partials(queue, start)
        counts = merge(view.interval_counts(queue, start))
        if counts.offered <= 0:
            continue
        rules = rules_of(partials, fallback)
        ends = [p.end_ms for p in partials if p.end_ms is not None]
        end = max(ends) if ends else interval_end_ms(start, tz, minutes)
        out.append(
            {
                "start": iso(start, tz),
                "end": iso(end, tz),
                **stats_of(counts, rules),
                "rules": rules,
                "mixed_rules": mixed_rules(partials),
            }
        )
    return out


# -- /api/v1/staffing -------------------------------------------------------------------


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def staffed_ms_by_interval(view: View, queue: str, day: str) -> dict[int, int]:
    """Σ logged-in milliseconds per interval start of the agents whose current profile lists
    ``queue``, from the ``logged_in_ms`` of that day's ``fw.adherence`` records."""
    total: dict[int, int] = {}
    for record in view.adherence_days.get(day, {}).values():
        profile = view.agents.get(record.get("agent_id")) or {}
        queues = profile.get("queues")
        if not isinstance(queues, list) or queue not in queues:
            continue
        by_start = record.get("logged_in_ms")
        if not isinstance(by_start, dict):
            continue
        for start, ms in by_start.items():
            if isinstance(start, str) and start.lstrip("-").isdigit() and isinstance(ms, int):
                total[int(start)] = total.get(int(start), 0) + ms
    return total


@dataclass(frozen=True, slots=True)
class StaffingInterval:
    """One interval of a staffing day: its bounds, its staffing counters summed over the
    partitions (``counts``: offered, handled, talk, hold and wrap-up; the other fields 0) and
    rules, the forecast's ``(offered, aht_s)`` (``None`` without one) and the required agents
    with their source."""

    start: int
    end: int
    counts: Counts
    rules: dict[str, Any]
    planned: tuple[float, float | None] | None
    required: int | OverCap | None
    required_from: str | None


def _forecast_in(forecast: Forecast, starts: list[int], start: int, end: int) -> tuple[float, float | None] | None:
    """``forecast_for_interval(forecast, start, end)`` from only the forecast intervals that can
    overlap ``[start, end)`` (a slice of the sorted ``starts``, in their order: the same sums),
    without walking the whole day for every interval."""
    length = forecast.interval_minutes * 60_000
    lo = bisect.bisect_right(starts, start - length)
    hi = bisect.bisect_left(starts, end)
    return _spread(length, forecast.intervals[lo:hi], start, end)


def _staffing_counts(partials: list[IntervalPartial]) -> Counts:
    """The counters staffing reads, summed over ``partials`` (the rest of ``Counts.total`` is not
    needed here and costs ~30 µs an interval)."""
    if len(partials) == 1:
        return partials[0].counts
    parts = [p.counts for p in partials]
    return Counts(
        offered=sum(c.offered for c in parts),
        handled=sum(c.handled for c in parts),
        talk_ms=sum(c.talk_ms for c in parts),
        hold_ms=sum(c.hold_ms for c in parts),
        wrap_ms=sum(c.wrap_ms for c in parts),
    )


def staffing_intervals(
    view: View, settings: Settings, queue: str, day: date, *, sized: bool = True
) -> list[StaffingInterval]:
    """The intervals of the local ``day`` that have a forecast or contacts, sorted by start, with
    what ``GET /api/v1/staffing`` shows of them (the rows of ``day_staffing``, the ranged rollups).
    ``sized=False`` leaves the required agents out (``None``): forecast accuracy needs none."""
    tz, minutes = settings.tz, settings.interval_minutes
    fallback = config_rules(settings.queue(queue))
    try:
        lo, hi = day_bounds_ms(day, tz)
        starts = day_interval_starts(day, tz, minutes)
    except (OverflowError, ValueError):
        return []
    forecast = view.forecasts.get((queue, day.isoformat()))
    f_starts = [i[0] for i in forecast.intervals] if forecast is not None else []
    with_contacts = set(view.interval_starts(queue, lo, hi))
    cap = settings.staffing.max_agents_per_queue
    out: list[StaffingInterval] = []
    for start in sorted(set(starts) | with_contacts):
        end = interval_end_ms(start, tz, minutes)
        partials = view.interval_partials(queue, start)
        counts = _staffing_counts(partials)
        planned = _forecast_in(forecast, f_starts, start, end) if forecast is not None else None
        if planned is None and counts.offered <= 0:
            continue
        rules = rules_of(partials, fallback)
        if not sized:
            out.append(StaffingInterval(start, end, counts, rules, planned, None, None))
            continue
        interval_s = (end - start) / 1000
        required: int | OverCap | None = None
        source = None
        if planned is not None:
            required = erlang_required(planned[0], planned[1], interval_s, rules, max_agents=cap)
            source = "forecast" if required is not None else None
        if required is None and counts.offered > 0:
            required = erlang_required(counts.offered, aht_s(counts), interval_s, rules, max_agents=cap)
            source = "actual" if required is not None else None
        out.append(StaffingInterval(start, end, counts, rules, planned, required, source))
    return out


def day_staffing(
    view: View, settings: Settings, queue: str, day: date, now_ms: int | None = None
) -> list[dict[str, Any]]:
    """``GET /api/v1/staffing``: forecast vs actual per interval of the local ``day`` that has a
    forecast or contacts, with the Erlang C required agents (from the forecast when there is
    one, else from the actuals; null with ``required_agents_over_cap`` true above
    ``staffing.max_agents_per_queue``) and the average staffed agents: logged-in seconds of the agents
    whose current profile lists the queue / the interval's elapsed seconds (``null`` for an
    interval that has not begun at ``now_ms``; docs/staffing.md)."""
    tz = settings.tz
    staffed_ms = staffed_ms_by_interval(view, queue, day.isoformat())
    out: list[dict[str, Any]] = []
    for i in staffing_intervals(view, settings, queue, day):
        actual_aht = aht_s(i.counts)
        f_offered, f_aht = i.planned if i.planned is not None else (None, None)
        out.append(
            {
                "start": iso(i.start, tz),
                "end": iso(i.end, tz),
                "forecast_offered": f_offered,
                "forecast_aht_s": f_aht,
                "actual_offered": i.counts.offered,
                "actual_aht_s": actual_aht,
                "offered_variance": _difference(i.counts.offered, f_offered),
                "aht_variance_s": _difference(actual_aht, f_aht),
                **required_fields(i.required),
                "required_from": i.required_from,
                "avg_staffed_agents": _avg_staffed(staffed_ms.get(i.start, 0), i.start, i.end, now_ms),
            }
        )
    return out


def _avg_staffed(staffed_ms: int, start: int, end: int, now_ms: int | None) -> float | None:
    elapsed = end - start if now_ms is None else min(end, now_ms) - start
    return None if elapsed <= 0 else staffed_ms / elapsed


def today(settings: Settings, now_ms: int) -> date:
    return local_date(now_ms, settings.tz)


# -- shared helpers for raw records -----------------------------------------------------


def _epoch_ms(value: Any) -> int | None:
    """A plausible epoch-ms integer, else ``None`` (raw records are never trusted)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_MS:
        return None
    return value


def iso_or_none(value: Any, settings: Settings) -> str | None:
    ms = _epoch_ms(value)
    return iso(ms, settings.tz) if ms is not None else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


# -- /api/v1/agents ---------------------------------------------------------------------


def agent_row(record: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """One ``fw.agent-status`` record as the API shows it (times as local RFC 3339)."""
    queues = record.get("queues")
    in_adherence = record.get("in_adherence")
    return {
        "agent_id": _text(record.get("agent_id")),
        "name": _text(record.get("name")) or _text(record.get("agent_id")),
        "team": _text(record.get("team")),
        "queues": [q for q in queues if isinstance(q, str)] if isinstance(queues, list) else [],
        "state": _text(record.get("state")),
        "reason": _text(record.get("reason")),
        "since": iso_or_none(record.get("since_ms"), settings),
        "scheduled_activity": _text(record.get("scheduled_activity")),
        "in_adherence": in_adherence if isinstance(in_adherence, bool) else None,
        "out_of_adherence_since": iso_or_none(record.get("out_of_adherence_since_ms"), settings),
        "exception": _text(record.get("exception")),
    }


def _agent_sort_key(row: dict[str, Any]) -> tuple[str, str, str]:
    return (row["team"] or "", (row["name"] or "").casefold(), row["agent_id"] or "")


def agent_matches(record: dict[str, Any], team: str | None = None, queues: frozenset[str] | None = None) -> bool:
    if team is not None and record.get("team") != team:
        return False
    if queues is not None:
        served = record.get("queues")
        if not isinstance(served, list) or not queues.intersection(q for q in served if isinstance(q, str)):
            return False
    return True


def agents_list(
    view: View, settings: Settings, team: str | None = None, queues: frozenset[str] | None = None
) -> list[dict[str, Any]]:
    """``GET /api/v1/agents``: every agent with a status, by team then name.

    No clock here on purpose: ``since`` and ``out_of_adherence_since`` are instants, and a
    client computes "time in state" from them, so the rows change only when an agent does.
    """
    rows = []
    for key, record in view.agents.items():
        if agent_matches(record, team, queues):
            row = agent_row(record, settings)
            row["agent_id"] = row["agent_id"] or key
            row["name"] = row["name"] or row["agent_id"]
            rows.append(row)
    rows.sort(key=_agent_sort_key)
    return rows


# -- /api/v1/adherence ------------------------------------------------------------------


def exception_row(data: Any, settings: Settings) -> dict[str, Any] | None:
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        return None
    return {
        "kind": data["kind"],
        "start": iso_or_none(data.get("start_ms"), settings),
        "end": iso_or_none(data.get("end_ms"), settings),
        "scheduled": _text(data.get("scheduled")),
        "actual": _text(data.get("actual")),
    }


def adherence_row(record: dict[str, Any], view: View, settings: Settings) -> dict[str, Any]:
    agent_id = _text(record.get("agent_id"))
    team = _text(record.get("team"))
    if team is None and agent_id is not None:  # older records: take the team of the live status
        team = _text(view.agents.get(agent_id, {}).get("team"))
    raw_exceptions = record.get("exceptions")
    exceptions = [
        row
        for row in (exception_row(x, settings) for x in (raw_exceptions if isinstance(raw_exceptions, list) else []))
        if row is not None
    ]
    return {
        "agent_id": agent_id,
        "team": team,
        "date": _text(record.get("date")),
        "scheduled_s": _number(record.get("scheduled_s")),
        "in_adherence_s": _number(record.get("in_adherence_s")),
        "adherence": _number(record.get("adherence")),
        "work_scheduled_s": _number(record.get("work_scheduled_s")),
        "worked_s": _number(record.get("worked_s")),
        "conformance": _number(record.get("conformance")),
        "exceptions": exceptions,
        "updated_at": iso_or_none(record.get("updated_ms"), settings),
    }


def adherence_list(
    view: View, settings: Settings, day: date, team: str | None = None, agent_id: str | None = None
) -> list[dict[str, Any]]:
    """``GET /api/v1/adherence``: the ``fw.adherence`` records of a local date, by team and agent."""
    rows = [adherence_row(r, view, settings) for r in view.adherence_days.get(day.isoformat(), {}).values()]
    rows = [
        r
        for r in rows
        if r["agent_id"] is not None
        and (team is None or r["team"] == team)
        and (agent_id is None or r["agent_id"] == agent_id)
    ]
    rows.sort(key=lambda r: (r["team"] or "", r["agent_id"]))
    return rows


# -- /api/v1/alerts ---------------------------------------------------------------------

ALERT_STATES = ("firing", "resolved")


def merged_ack(record: dict[str, Any], ack: dict[str, Any] | None) -> tuple[str | None, int | None]:
    """``(acked_by, acked_at_ms)``: the first of the alert's own ack and the ``fw.alert-acks`` one."""
    candidates: list[tuple[int, str]] = []
    by, at = record.get("acked_by"), _epoch_ms(record.get("acked_at_ms"))
    if isinstance(by, str) and by:
        candidates.append((at if at is not None else MAX_MS, by))
    if ack is not None:
        candidates.append((ack["at_ms"], ack["by"]))
    if not candidates:
        return None, None
    at_ms, who = min(candidates)
    return who, (at_ms if at_ms != MAX_MS else None)


def alert_row(key: str, record: dict[str, Any], ack: dict[str, Any] | None, settings: Settings) -> dict[str, Any]:
    """The alert object (docs/api.md) with local RFC 3339 times, merged with its ack."""
    acked_by, acked_at_ms = merged_ack(record, ack)
    state = record.get("state")
    details = record.get("details")
    return {
        "id": _text(record.get("id")) or key,
        "kind": _text(record.get("kind")),
        "subject": _text(record.get("subject")),
        "severity": _text(record.get("severity")),
        "state": state if state in ALERT_STATES else "firing",
        "started_at": iso_or_none(record.get("started_at_ms"), settings),
        "resolved_at": iso_or_none(record.get("resolved_at_ms"), settings),
        "acked_by": acked_by,
        "acked_at": iso(acked_at_ms, settings.tz) if acked_at_ms is not None else None,
        "details": details if isinstance(details, dict) else {},
    }


def _alert_sort_key(key: str, record: dict[str, Any]) -> tuple[int, str]:
    started = _epoch_ms(record.get("started_at_ms"))
    return (-(started if started is not None else 0), key)


def alerts_list(
    view: View, settings: Settings, state: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """``GET /api/v1/alerts``: newest first (by ``started_at``), optionally of one state."""
    out: list[dict[str, Any]] = []
    for key, record in sorted(view.alerts.items(), key=lambda kv: _alert_sort_key(*kv)):
        row = alert_row(key, record, view.alert_acks.get(key), settings)
        if state is not None and row["state"] != state:
            continue
        out.append(row)
        if limit is not None and len(out) >= limit:
            break
    return out


def alert(view: View, settings: Settings, alert_id: str) -> dict[str, Any] | None:
    record = view.alerts.get(alert_id)
    if record is None:
        return None
    return alert_row(alert_id, record, view.alert_acks.get(alert_id), settings)


def ack_record(alert_id: str, by: str, now_ms: int) -> dict[str, Any]:
    """The ``fw.alert-acks`` value the API writes (``records.AlertAck``)."""
    return AlertAck(alert_id, by, now_ms).to_record()


# -- /api/v1/quality ----------------------------------------------------------------------


def quality_figures(counts: Counts) -> dict[str, Any]:
    """FCR and CSAT of summed agent-day partials (the same ratios as STATS)."""
    figures = stats_of(counts, {"sl_formula": "answered_over_offered"})
    return {k: figures[k] for k in ("fcr_eligible", "fcr_resolved", "fcr", "surveys", "csat_avg", "csat_satisfied")}


def day_quality(view: View, settings: Settings, day: date, team: str | None = None) -> dict[str, Any]:
    """``GET /api/v1/quality``: FCR and CSAT per agent and per team for the local ``day``.

    FCR counts the contacts an agent answered that were offered that day and whose window has
    closed; CSAT the surveys of contacts offered that day, by the surveyed agent. An agent's
    team is the one of its current profile."""
    per_agent = view.agent_quality.get(day.isoformat(), {})
    agents: list[dict[str, Any]] = []
    teams: dict[str | None, list[Counts]] = {}
    for aid in sorted(per_agent):
        record = view.agents.get(aid) or {}
        agent_team = _text(record.get("team"))
        if team is not None and agent_team != team:
            continue
        counts = merge(per_agent[aid].values())
        teams.setdefault(agent_team, []).append(counts)
        agents.append(
            {"agent_id": aid, "name": _text(record.get("name")) or aid, "team": agent_team, **quality_figures(counts)}
        )
    return {
        "date": day.isoformat(),
        "fcr_window_hours": settings.fcr.window_hours,
        "agents": agents,
        "teams": [
            {"team": t, "agents": len(parts), **quality_figures(merge(parts))}
            for t, parts in sorted(teams.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
        ],
    }
