"""Which channels an alert goes to: routing rules with matches and quiet hours (docs/alerts.md).

Pure: the caller passes the local wall-clock time at which the alert is sent. A rule
(``Route``) matches an alert when each of its non-empty lists (kinds, queues, teams,
severities) holds the alert's value; an empty list matches anything. Rules are tried in order;
the first that matches decides, unless it says ``continue``, in which case the next matching
rules add their channels too. A matching rule inside its quiet hours still decides (evaluation
stops there unless ``continue``), but its channels get nothing: they are reported as
``quiet`` so that the caller can count what quiet hours held back.

An alert's queue and team come from its kind (``alert_scope``):

* ``queue_*`` kinds: queue = ``details.queue`` (else the subject, which is the queue id); no team;
* ``occupancy_high``: team = ``details.team`` (else the subject, the team id); no queue;
* ``adherence_break``: team = ``details.team`` (the agent's team from its profile; none when
  the agent has no profile yet), agent = ``details.agent_id`` (else the subject); no queue (an
  agent serves several queues);
* any other kind: ``details.queue`` and ``details.team`` when present.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from floorwatch.domain.alerts import ADHERENCE_BREAK, OCCUPANCY_HIGH

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
MINUTES_PER_DAY = 24 * 60


def hhmm_minutes(text: str) -> int:
    """Minutes after midnight of ``"HH:MM"``."""
    hours, _, minutes = text.partition(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True, slots=True)
class Quiet:
    """Quiet hours: from ``start`` (included) to ``end`` (excluded), minutes after local midnight;
    ``end <= start`` spans midnight into the next day. ``days``: weekday indexes (0 = Monday) on
    which a span STARTS; empty = every day. A span from 22:00 to 07:00 on Friday covers Friday
    22:00 to Saturday 06:59."""

    start: int
    end: int
    days: frozenset[int] = frozenset()

    @classmethod
    def of(cls, config: Any) -> Quiet | None:
        """From a ``quiet_hours`` setting (``start``, ``end``, ``days``) or ``None``."""
        if config is None:
            return None
        days = frozenset(WEEKDAYS.index(d) for d in (getattr(config, "days", None) or ()))
        return cls(hhmm_minutes(config.start), hhmm_minutes(config.end), days)

    def _day_on(self, weekday: int) -> bool:
        return not self.days or weekday in self.days

    def covers(self, local: datetime) -> bool:
        """Whether the local wall-clock time ``local`` lies inside the quiet hours."""
        minute = local.hour * 60 + local.minute
        weekday = local.weekday()
        if self.start < self.end:
            return self.start <= minute < self.end and self._day_on(weekday)
        # overnight: the evening part belongs to today's span, the morning part to yesterday's
        if minute >= self.start:
            return self._day_on(weekday)
        if minute < self.end:
            return self._day_on((weekday - 1) % 7)
        return False


@dataclass(frozen=True, slots=True)
class Route:
    """One routing rule; empty match lists match anything."""

    channels: tuple[str, ...]
    kinds: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()
    quiet: Quiet | None = None
    continue_: bool = False

    @classmethod
    def of(cls, config: Any) -> Route:
        """From an ``alerts.routes[]`` setting (``match``, ``channels``, ``quiet_hours``, ``continue``)."""
        match = config.match
        return cls(
            channels=tuple(config.channels),
            kinds=frozenset(match.kinds),
            queues=frozenset(match.queues),
            teams=frozenset(match.teams),
            severities=frozenset(match.severities),
            quiet=Quiet.of(config.quiet_hours),
            continue_=bool(config.continue_),
        )

    def matches(self, kind: str, severity: str, scope: Scope) -> bool:
        return (
            _takes(self.kinds, kind)
            and _takes(self.severities, severity)
            and _takes(self.queues, scope.queue)
            and _takes(self.teams, scope.team)
        )


def _takes(allowed: frozenset[str], value: str | None) -> bool:
    return not allowed or (value is not None and value in allowed)


@dataclass(frozen=True, slots=True)
class Scope:
    """What an alert is about, for matching and for Alertmanager labels."""

    queue: str | None = None
    team: str | None = None
    agent: str | None = None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def alert_scope(alert: Mapping[str, Any]) -> Scope:
    """The queue, team and agent of an alert record (``kind``, ``subject``, ``details``), per kind
    as the module docstring says."""
    kind = str(alert.get("kind", ""))
    subject = _text(alert.get("subject"))
    details = alert.get("details")
    details = details if isinstance(details, Mapping) else {}
    if kind.startswith("queue_"):
        return Scope(queue=_text(details.get("queue")) or subject)
    if kind == OCCUPANCY_HIGH:
        return Scope(team=_text(details.get("team")) or subject)
    if kind == ADHERENCE_BREAK:
        return Scope(team=_text(details.get("team")), agent=_text(details.get("agent_id")) or subject)
    return Scope(queue=_text(details.get("queue")), team=_text(details.get("team")))


@dataclass(frozen=True, slots=True)
class Routing:
    """Where one alert goes: ``send`` the channel ids to deliver to (configuration order, each
    once); ``quiet`` those that matching rules held back in their quiet hours (and no other
    matching rule sends to)."""

    send: tuple[str, ...] = ()
    quiet: tuple[str, ...] = field(default=())


def route_alert(alert: Mapping[str, Any], routes: Sequence[Route], local: datetime) -> Routing:
    """The channels of ``alert`` at the local wall-clock time ``local``."""
    kind = str(alert.get("kind", ""))
    severity = str(alert.get("severity", ""))
    scope = alert_scope(alert)
    send: list[str] = []
    quiet: list[str] = []
    for route in routes:
        if not route.matches(kind, severity, scope):
            continue
        target = quiet if route.quiet is not None and route.quiet.covers(local) else send
        target.extend(route.channels)
        if not route.continue_:
            break
    sent = _unique(send)
    return Routing(sent, tuple(c for c in _unique(quiet) if c not in sent))


def _unique(ids: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(ids))
