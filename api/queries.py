"""Pure derivations from the ``View``: the JSON of ``/api/v1/queues`` and ``/api/v1/intervals``.

Every function takes the current time explicitly (``now_ms``, epoch milliseconds), so the
figures are a function of (view, settings, now) and tests can compute them by hand.

Sums over partitions use ``Counts.merge``; ``today`` is the merge of the queue's interval
partials whose start lies in today's local day, so today's totals always equal the sum of
today's intervals.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from api.view import IntervalPartial, QueuePartial, View
from floorwatch.config import QueueConfig, Settings
from floorwatch.domain.intervals import day_bounds_ms, interval_end_ms, interval_start_ms, iso, local_date
from floorwatch.domain.queue_metrics import SL_FORMULAS, Counts, stats

AGENT_STATES = ("available", "on_contact", "wrap_up", "aux")
RULE_KEYS = ("sl_threshold_s", "short_abandon_s", "sl_target", "sl_formula")


# -- rules ------------------------------------------------------------------------------


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


def merge(counts: Iterable[Counts]) -> Counts:
    total = Counts()
    for c in counts:
        total.merge(c)
    return total


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


def longest_wait_s(partials: list[QueuePartial], now_ms: int) -> float | None:
    oldest = [p.oldest_waiting_ms for p in partials if p.waiting > 0 and p.oldest_waiting_ms is not None]
    if not oldest:
        return None
    return max(0, now_ms - min(oldest)) / 1000


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
    today = merge(p.counts for s in view.interval_starts(queue, lo, hi) for p in view.interval_partials(queue, s))

    updated = view.updated_ms.get(queue)
    return {
        "queue": queue,
        "name": config.name,
        "channel": config.channel,
        "waiting": sum(p.waiting for p in live),
        "longest_wait_s": longest_wait_s(live, now_ms),
        "agents": dict(agents) if agents else empty_agents(),
        "required_agents": None,
        "sl_target": rules["sl_target"],
        "sl_threshold_s": rules["sl_threshold_s"],
        "today": stats_of(today, rules),
        "interval": {
            **stats_of(merge(p.counts for p in current), interval_rules),
            "start": iso(start, tz),
            "end": iso(end, tz),
        },
        "rolling_15m": stats_of(merge(p.rolling_15m for p in live), rules),
        "rolling_60m": stats_of(merge(p.rolling_60m for p in live), rules),
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
        counts = merge(p.counts for p in partials)
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


def today(settings: Settings, now_ms: int) -> date:
    return local_date(now_ms, settings.tz)
