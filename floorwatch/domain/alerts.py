"""Alerts as a pure state machine with hysteresis; see ``docs/adherence.md`` §6.

``AlertBook`` holds the open alerts and, per ``(kind, subject)``, a tracker of the condition.
Callers ``observe`` a condition value at an explicit time and get the ``Change``s to publish
(``fired``, ``escalated``, ``resolved``, ``acked``). Nothing reads the clock; the book is
serialisable with ``to_dict``/``from_dict`` so a worker can persist it.

Timing is exact: an alert fires at ``condition start + min_duration_s`` (not at the moment it
happens to be observed), resolves at ``clear start + clear_duration_s``, and escalates at
``condition start + critical_after_s``. Between observations the last observed value is
assumed to hold; ``tick`` re-applies it when only time passes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

WARNING, CRITICAL = "warning", "critical"
FIRING, RESOLVED = "firing", "resolved"
FIRED, ESCALATED, CLEARED, ACKED = "fired", "escalated", "resolved", "acked"

ADHERENCE_BREAK = "adherence_break"
QUEUE_WAITING = "queue_waiting"
QUEUE_LONGEST_WAIT = "queue_longest_wait"
QUEUE_SERVICE_LEVEL = "queue_service_level"
QUEUE_ABANDON_RATE = "queue_abandon_rate"
QUEUE_STAFFING_GAP = "queue_staffing_gap"
QUEUE_KINDS = (QUEUE_WAITING, QUEUE_LONGEST_WAIT, QUEUE_SERVICE_LEVEL, QUEUE_ABANDON_RATE, QUEUE_STAFFING_GAP)


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


@dataclass(frozen=True, slots=True)
class AlertRule:
    """How a condition value becomes an alert.

    Values: ``bool`` (fire while true, clear while false), ``None`` (no evidence: clear), or a
    number compared with ``threshold``: fire when ``value > threshold`` (``value < threshold``
    with ``below``), clear when ``value <= clear_threshold`` (``>=`` with ``below``;
    ``clear_threshold`` defaults to ``threshold``). Between the two nothing changes.
    The condition must hold ``min_duration_s`` to fire, the clear condition
    ``clear_duration_s`` to resolve; after a resolution the same (kind, subject) does not fire
    again for ``cooldown_s``. Severity is ``warning``, escalated once to ``critical`` when the
    fire condition has held ``critical_after_s`` or the value passes ``critical_threshold``.
    """

    threshold: float | None = None
    clear_threshold: float | None = None
    below: bool = False
    min_duration_s: float = 0
    clear_duration_s: float = 0
    cooldown_s: float = 0
    critical_after_s: float | None = None
    critical_threshold: float | None = None

    def evaluate(self, value: Any) -> tuple[bool, bool, bool]:
        """``(fire, clear, critical)`` conditions of one value."""
        if value is None:
            return False, True, False
        if isinstance(value, bool):
            return value, not value, False
        v = float(value)
        if self.threshold is None or math.isnan(v):
            return False, True, False
        clear_at = self.threshold if self.clear_threshold is None else self.clear_threshold
        if self.below:
            fire, clear = v < self.threshold, v >= clear_at
            crit = self.critical_threshold is not None and v < self.critical_threshold
        else:
            fire, clear = v > self.threshold, v <= clear_at
            crit = self.critical_threshold is not None and v > self.critical_threshold
        return fire, clear and not fire, crit and fire


def adherence_rule(grace_s: float, critical_s: float) -> AlertRule:
    """Adherence break: fire after ``grace_s`` out of adherence, clear at once, no cool-down,
    critical after ``critical_s`` (both counted from the start of the span)."""
    return AlertRule(min_duration_s=grace_s, clear_duration_s=0, cooldown_s=0, critical_after_s=critical_s)


@dataclass(frozen=True, slots=True)
class Change:
    """One transition of an alert; ``alert`` is the full record after it."""

    type: str  # fired | escalated | resolved | acked
    at_ms: int
    alert: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "at_ms": self.at_ms, "alert": dict(self.alert)}


def needs_notification(change: Change) -> bool:
    """Whether a change is pushed to people (webhooks, notification sounds).

    ``fired`` and ``resolved`` always; ``escalated`` unless the alert was acknowledged (an
    ack stops re-notification, an escalation is a re-notification); ``acked`` never. Every
    change is still published to ``fw.alerts`` and the websocket.
    """
    if change.type == ESCALATED:
        return change.alert.get("acked_by") is None
    return change.type in (FIRED, CLEARED)


def alert_id(kind: str, subject: str, started_at_ms: int) -> str:
    return f"{kind}:{subject}:{started_at_ms}"


def _new_tracker() -> dict[str, Any]:
    return {
        "fire_since": None,
        "clear_since": None,
        "crit_since": None,
        "cond_since": None,
        "value": None,
        "details": {},
        "open": None,
        "cooldown_until": None,
        "seen": None,
        "crit_done": False,
    }


class AlertBook:
    """Open alerts and per-(kind, subject) condition trackers; one open alert per pair."""

    def __init__(self) -> None:
        self.open: dict[str, dict[str, Any]] = {}
        self.trackers: dict[str, dict[str, dict[str, Any]]] = {}

    # -- persistence ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "open": {k: dict(v) for k, v in self.open.items()},
            "trackers": {k: {s: dict(t) for s, t in subs.items()} for k, subs in self.trackers.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> AlertBook:
        book = cls()
        if data:
            book.open = {k: dict(v) for k, v in data.get("open", {}).items()}
            book.trackers = {
                k: {s: {**_new_tracker(), **t} for s, t in subs.items()} for k, subs in data.get("trackers", {}).items()
            }
        return book

    def adopt(self, alert: Mapping[str, Any]) -> None:
        """Take over an open alert published earlier (a new leader continues it)."""
        tr = self.trackers.setdefault(alert["kind"], {}).setdefault(alert["subject"], _new_tracker())
        self.open[alert["id"]] = dict(alert)
        tr["open"] = alert["id"]
        tr["cond_since"] = tr["fire_since"] = alert["started_at_ms"]
        tr["crit_done"] = alert.get("severity") == CRITICAL

    # -- queries --------------------------------------------------------------------------

    def get(self, alert_id_: str) -> dict[str, Any] | None:
        """An open alert by id (resolved alerts leave the book with their ``resolved`` change)."""
        return self.open.get(alert_id_)

    def open_alert(self, kind: str, subject: str) -> dict[str, Any] | None:
        tr = self.trackers.get(kind, {}).get(subject)
        return self.open.get(tr["open"]) if tr and tr["open"] else None

    def firing(self) -> list[dict[str, Any]]:
        return sorted(self.open.values(), key=lambda a: (a["started_at_ms"], a["id"]))

    # -- transitions ----------------------------------------------------------------------

    def observe(
        self,
        kind: str,
        subject: str,
        value: Any,
        now_ms: int,
        details: Mapping[str, Any] | None = None,
        rule: AlertRule = AlertRule(),
        since_ms: int | None = None,
    ) -> list[Change]:
        """Record the condition value at ``now_ms``; return the changes it causes.

        ``since_ms`` (optional) is when the observed condition began, when the caller knows
        it exactly (adherence: the start of the out-of-adherence span), so timing does not
        depend on when observations happen. Time never goes back: an observation older than
        the latest one for the pair is taken as made at the latest one.
        """
        subs = self.trackers.setdefault(kind, {})
        tr = subs.get(subject)
        if tr is None:
            tr = subs[subject] = _new_tracker()
        now = now_ms if tr["seen"] is None else max(now_ms, tr["seen"])
        fire, clear, crit = rule.evaluate(value)
        at = now if since_ms is None else min(since_ms, now)
        changes: list[Change] = []
        if (
            fire
            and since_ms is not None
            and tr["open"] is not None
            and tr["cond_since"] is not None
            and at > tr["cond_since"]
        ):
            # the caller says the condition began anew: the open alert ended when it did
            changes += self._resolve(tr, self.open[tr["open"]], at, rule)
            tr["fire_since"] = None
        if fire:
            tr["fire_since"] = at if since_ms is not None or tr["fire_since"] is None else tr["fire_since"]
        else:
            tr["fire_since"] = None
        if clear:
            tr["clear_since"] = at if since_ms is not None or tr["clear_since"] is None else tr["clear_since"]
        else:
            tr["clear_since"] = None
        tr["crit_since"] = (tr["crit_since"] if tr["crit_since"] is not None else now) if crit else None
        tr["value"] = value if isinstance(value, (bool, int, float, str)) or value is None else str(value)
        tr["details"] = dict(details or {})
        return changes + self._advance(kind, subject, tr, now, rule)

    def tick(self, now_ms: int, rules: Mapping[str, AlertRule]) -> list[Change]:
        """Apply the passing of time (no new values) to every pair whose kind has a rule."""
        changes: list[Change] = []
        for kind, subs in self.trackers.items():
            rule = rules.get(kind)
            if rule is None:
                continue
            for subject, tr in subs.items():
                now = now_ms if tr["seen"] is None else max(now_ms, tr["seen"])
                changes += self._advance(kind, subject, tr, now, rule)
        return changes

    def next_due_ms(self, rules: Mapping[str, AlertRule]) -> int | None:
        """Earliest future instant at which ``tick`` can change something."""
        due: list[int] = []
        for kind, subs in self.trackers.items():
            rule = rules.get(kind)
            if rule is None:
                continue
            for tr in subs.values():
                t = self._due(tr, rule)
                if t is not None:
                    due.append(t)
        return min(due) if due else None

    def ack(self, alert_id_: str, user: str, now_ms: int) -> Change | None:
        """Acknowledge an open alert (it stays open); ``None`` if unknown, resolved or already
        acknowledged (the first ack is kept)."""
        alert = self.open.get(alert_id_)
        if alert is None or alert["acked_by"] is not None:
            return None
        alert["acked_by"] = user
        alert["acked_at_ms"] = now_ms
        return Change(ACKED, now_ms, dict(alert))

    def prune(self, now_ms: int) -> int:
        """Forget idle trackers (no open alert, no pending condition, cool-down over)."""
        dropped = 0
        for kind in list(self.trackers):
            subs = self.trackers[kind]
            for subject in list(subs):
                tr = subs[subject]
                cooling = tr["cooldown_until"] is not None and tr["cooldown_until"] > now_ms
                if tr["open"] is None and tr["fire_since"] is None and not cooling:
                    del subs[subject]
                    dropped += 1
            if not subs:
                del self.trackers[kind]
        return dropped

    # -- internals ------------------------------------------------------------------------

    @staticmethod
    def _due(tr: dict[str, Any], rule: AlertRule) -> int | None:
        if tr["open"] is not None:
            times = []
            if tr["clear_since"] is not None:
                times.append(tr["clear_since"] + _ms(rule.clear_duration_s))
            if tr["fire_since"] is not None and rule.critical_after_s is not None and not tr["crit_done"]:
                times.append(tr["cond_since"] + _ms(rule.critical_after_s))
            times = [t for t in times if tr["seen"] is None or t > tr["seen"]]
            return min(times) if times else None
        if tr["fire_since"] is None:
            return None
        t: int = tr["fire_since"] + _ms(rule.min_duration_s)
        if tr["cooldown_until"] is not None:
            t = max(t, tr["cooldown_until"])
        return t

    def _advance(self, kind: str, subject: str, tr: dict[str, Any], now: int, rule: AlertRule) -> list[Change]:
        tr["seen"] = now
        changes: list[Change] = []
        alert = self.open.get(tr["open"]) if tr["open"] else None
        if alert is None and tr["fire_since"] is not None:
            start = tr["fire_since"] + _ms(rule.min_duration_s)
            if tr["cooldown_until"] is not None:
                start = max(start, tr["cooldown_until"])
            if start <= now:
                alert = {
                    "id": alert_id(kind, subject, start),
                    "kind": kind,
                    "subject": subject,
                    "severity": WARNING,
                    "state": FIRING,
                    "started_at_ms": start,
                    "resolved_at_ms": None,
                    "acked_by": None,
                    "acked_at_ms": None,
                    "details": dict(tr["details"]),
                }
                self.open[alert["id"]] = alert
                tr["open"] = alert["id"]
                tr["cond_since"] = tr["fire_since"]
                tr["crit_done"] = False
                changes.append(Change(FIRED, start, dict(alert)))
        if alert is None:
            return changes
        if tr["fire_since"] is not None:
            tr["cond_since"] = tr["fire_since"]
        if alert["severity"] != CRITICAL and tr["fire_since"] is not None:
            when: int | None = None
            if rule.critical_after_s is not None:
                when = tr["cond_since"] + _ms(rule.critical_after_s)
            if tr["crit_since"] is not None:
                when = tr["crit_since"] if when is None else min(when, tr["crit_since"])
            if when is not None and when <= now:
                when = max(when, alert["started_at_ms"])
                alert["severity"] = CRITICAL
                alert["details"] = dict(tr["details"])
                tr["crit_done"] = True
                changes.append(Change(ESCALATED, when, dict(alert)))
        if tr["clear_since"] is not None:
            end = tr["clear_since"] + _ms(rule.clear_duration_s)
            if end <= now:
                changes += self._resolve(tr, alert, end, rule)
        return changes

    def _resolve(self, tr: dict[str, Any], alert: dict[str, Any], end: int, rule: AlertRule) -> list[Change]:
        end = max(end, alert["started_at_ms"])
        alert["state"] = RESOLVED
        alert["resolved_at_ms"] = end
        alert["details"] = dict(tr["details"])
        del self.open[alert["id"]]
        tr["open"] = None
        tr["cooldown_until"] = end + _ms(rule.cooldown_s)
        return [Change(CLEARED, end, dict(alert))]


# --- queue alerts ---------------------------------------------------------------------------

# Default hysteresis of queue alerts (seconds); documented in docs/adherence.md §6.
QUEUE_TIMING: dict[str, dict[str, float]] = {
    QUEUE_WAITING: {"min_duration_s": 30, "clear_duration_s": 60, "cooldown_s": 300},
    QUEUE_LONGEST_WAIT: {"min_duration_s": 15, "clear_duration_s": 60, "cooldown_s": 300},
    QUEUE_SERVICE_LEVEL: {"min_duration_s": 60, "clear_duration_s": 60, "cooldown_s": 300},
    QUEUE_ABANDON_RATE: {"min_duration_s": 60, "clear_duration_s": 120, "cooldown_s": 600},
    QUEUE_STAFFING_GAP: {"min_duration_s": 120, "clear_duration_s": 60, "cooldown_s": 300},
}
CLEAR_FRACTION = 0.8  # "too high" alerts clear at 80 % of their threshold
CRITICAL_FACTOR = 2.0  # ... and are critical beyond twice it


@dataclass(frozen=True, slots=True)
class QueueLimits:
    """The queue-alert thresholds of one queue: ``alerts.*`` with the queue's own
    ``queues[].alerts`` overrides applied (``queue_limits``); ``queue_rules`` and
    ``queue_conditions`` read it like ``AlertsConfig``."""

    waiting_max: int
    longest_wait_max_s: float
    min_contacts: int
    abandon_rate_max: float
    timing: Mapping[str, Mapping[str, float]]


QUEUE_LIMIT_FIELDS = ("waiting_max", "longest_wait_max_s", "min_contacts", "abandon_rate_max")


def queue_limits(alerts: Any, override: Any = None) -> QueueLimits:
    """``alerts`` (``AlertsConfig``) with each field ``override`` (``QueueAlertOverrides``, or
    ``None``) sets in its place; an unset (``None``) field keeps the global value."""
    values = {name: getattr(alerts, name) for name in QUEUE_LIMIT_FIELDS}
    if override is not None:
        for name in QUEUE_LIMIT_FIELDS:
            own = getattr(override, name, None)
            if own is not None:
                values[name] = own
    return QueueLimits(
        waiting_max=int(values["waiting_max"]),
        longest_wait_max_s=float(values["longest_wait_max_s"]),
        min_contacts=int(values["min_contacts"]),
        abandon_rate_max=float(values["abandon_rate_max"]),
        timing=getattr(alerts, "timing", None) or {},
    )


def queue_rules(alerts: Any, sl_target: float) -> dict[str, AlertRule]:
    """Rules of the five queue alert kinds from ``alerts:`` (``AlertsConfig``) and the queue's
    ``sl_target``."""
    waiting_max = float(alerts.waiting_max)
    longest = float(alerts.longest_wait_max_s)
    overrides = getattr(alerts, "timing", None) or {}
    timing = {kind: {**base, **overrides.get(kind, {})} for kind, base in QUEUE_TIMING.items()}
    abandon = float(alerts.abandon_rate_max)
    return {
        QUEUE_WAITING: AlertRule(
            threshold=waiting_max,
            clear_threshold=math.floor(waiting_max * CLEAR_FRACTION),
            critical_threshold=waiting_max * CRITICAL_FACTOR,
            **timing[QUEUE_WAITING],
        ),
        QUEUE_LONGEST_WAIT: AlertRule(
            threshold=longest,
            clear_threshold=longest * CLEAR_FRACTION,
            critical_threshold=longest * CRITICAL_FACTOR,
            **timing[QUEUE_LONGEST_WAIT],
        ),
        QUEUE_SERVICE_LEVEL: AlertRule(threshold=sl_target, below=True, **timing[QUEUE_SERVICE_LEVEL]),
        QUEUE_ABANDON_RATE: AlertRule(
            threshold=abandon,
            clear_threshold=abandon * CLEAR_FRACTION,
            critical_threshold=abandon * CRITICAL_FACTOR,
            **timing[QUEUE_ABANDON_RATE],
        ),
        QUEUE_STAFFING_GAP: AlertRule(threshold=0, **timing[QUEUE_STAFFING_GAP]),
    }


def queue_conditions(
    alerts: Any,
    *,
    waiting: int,
    longest_wait_s: float | None,
    interval_service_level: float | None,
    interval_contacts: int,
    rolling_15m_abandon_rate: float | None,
    rolling_15m_contacts: int,
    required_agents: int | None,
    staffed: int,
) -> dict[str, float | None]:
    """Condition value of each queue alert kind (``None`` = no evidence, which clears).

    * waiting: contacts waiting now; longest wait: seconds (0 with nobody waiting);
    * service level: the current interval's, only with ``N >= alerts.min_contacts``;
    * abandon rate: rolling 15 minutes, only with ``N >= alerts.min_contacts`` there too;
    * staffing gap: ``required - staffed`` when the required agents are known.
    """
    enough = int(alerts.min_contacts)
    return {
        QUEUE_WAITING: waiting,
        QUEUE_LONGEST_WAIT: longest_wait_s or 0.0,
        QUEUE_SERVICE_LEVEL: interval_service_level if interval_contacts >= enough else None,
        QUEUE_ABANDON_RATE: rolling_15m_abandon_rate if rolling_15m_contacts >= enough else None,
        QUEUE_STAFFING_GAP: None if required_agents is None else required_agents - staffed,
    }


def observe_queue(
    book: AlertBook, queue: str, values: Mapping[str, float | None], rules: Mapping[str, AlertRule], now_ms: int
) -> list[Change]:
    """Observe every queue condition of ``queue`` (subject = queue id)."""
    changes: list[Change] = []
    for kind in QUEUE_KINDS:
        if kind in values and kind in rules:
            rule = rules[kind]
            details = {"queue": queue, "value": values[kind], "threshold": rule.threshold}
            changes += book.observe(kind, queue, values[kind], now_ms, details, rule)
    return changes


# --- team occupancy -------------------------------------------------------------------------

OCCUPANCY_HIGH = "occupancy_high"


def occupancy_rule(config: Any) -> AlertRule:
    """``occupancy_high`` from ``alerts.occupancy_high`` (``OccupancyAlertConfig``): fire once the
    occupancy has stayed above ``threshold`` for ``duration_s``; resolve as soon as it is at or
    below it (no cool-down: firing again takes ``duration_s`` above the threshold anyway)."""
    return AlertRule(threshold=float(config.threshold), min_duration_s=float(config.duration_s))


def occupancy_condition(occupancy: float | None, agents_logged_in: int, min_agents: int) -> float | None:
    """The condition value: the team's rolling 15 min occupancy, ``None`` (no evidence, which
    clears) without one or with fewer than ``min_agents`` agents logged in."""
    if occupancy is None or agents_logged_in < min_agents:
        return None
    return occupancy


def observe_team_occupancy(
    book: AlertBook,
    team: str,
    occupancy: float | None,
    agents_logged_in: int,
    config: Any,
    now_ms: int,
) -> list[Change]:
    """Observe one team's occupancy (subject = team id; details: team, occupancy, threshold,
    agents logged in)."""
    rule = occupancy_rule(config)
    value = occupancy_condition(occupancy, agents_logged_in, int(config.min_agents))
    details = {"team": team, "occupancy": occupancy, "threshold": rule.threshold, "agents": agents_logged_in}
    return book.observe(OCCUPANCY_HIGH, team, value, now_ms, details, rule)
