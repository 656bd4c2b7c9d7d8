"""Which records expire when (``retention_days``): pure decisions with explicit times.

Every kind of state is measured against one ``Horizon``: ``today`` is the local date of ``now``
in the configured time zone, the *oldest kept day* is ``today - retention_days``, and the
*cutoff* is the local midnight that starts the oldest kept day. A record dated by a local date
expires when that date is before the oldest kept day; a record dated by an instant expires
when that instant is before the cutoff. So on 2024-03-20 with ``retention_days: 7`` the oldest
kept day is 2024-03-13 and everything of 2024-03-12 and before goes.

Worker tables (streams/pruning.py ``prune`` drives these, then writes changelog tombstones):

* contact facts: offered (``reference_ms``) before the cutoff;
* ``agent-days`` records (``"{agent}|{date}"``: a date's schedule and state points): date
  before the oldest kept day;
* ``agents`` records: the agent is *seen* while its record holds an event (profile or state)
  at or after the cutoff, or while any of its ``agent-days`` records is kept (a schedule or a
  state point on a kept date, future dates included). An agent seen by neither expires: its
  record (alert book included) goes, and its ``fw.agent-status`` key, its open alerts'
  ``fw.alerts`` and ``fw.alert-acks`` keys and its ``fw.adherence`` keys are tombstoned.

The alert book of an agent record holds only *open* alerts (a resolved alert leaves the book
with its ``resolved`` change), so resolved alerts of every kind are expired from ``fw.alerts``
by whoever reads that topic whole: the leader worker's view (streams/alerting.py), which
tombstones a resolved alert once its ``resolved_at_ms`` is before the cutoff, with its ack.
Firing alerts never expire by age: they end when their owner resolves them, or with their
agent.

Functions that walk a whole table are generators yielding after each slice of ``slice_size``
keys, so the worker and the API can give their event loop a turn in between
(``drain`` runs one to its end when nothing else is waiting).
"""

from __future__ import annotations

from collections.abc import Container, Generator, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from floorwatch.domain.contacts import reference_ms
from floorwatch.domain.floor import day_key, split_day_key
from floorwatch.domain.intervals import day_bounds_ms, local_date

SLICE_SIZE = 1_000  # keys handled between two turns of the event loop
# a worker process does not know which days its predecessor tombstoned in fw.adherence: its
# first prune also covers this many days before the oldest kept day (a week's outage)
RESTART_CATCH_UP_DAYS = 7

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Horizon:
    """What is kept at one instant: dates from ``oldest_kept_day``, instants from ``cutoff_ms``."""

    today: date
    oldest_kept_day: date
    cutoff_ms: int

    @classmethod
    def at(cls, now_ms: int, tz: ZoneInfo, retention_days: int) -> Horizon:
        today = local_date(now_ms, tz)
        oldest = today - timedelta(days=retention_days)
        return cls(today, oldest, day_bounds_ms(oldest, tz)[0])

    def instant_expired(self, ms: Any) -> bool:
        """An instant (epoch ms) before the cutoff; a missing or non-integer time expires too
        (a record that carries no time of its own would otherwise stay forever)."""
        if isinstance(ms, bool) or not isinstance(ms, int):
            return True
        return ms < self.cutoff_ms

    def day_expired(self, day: Any) -> bool:
        """A local date (``date`` or ``YYYY-MM-DD``) before the oldest kept day; a string that
        is not a date expires too (no query ever asks for it)."""
        if isinstance(day, date):
            return day < self.oldest_kept_day
        try:
            return date.fromisoformat(day) < self.oldest_kept_day
        except (TypeError, ValueError):
            return True


# --- the worker's tables ----------------------------------------------------------------------


def contact_expired(facts: Mapping[str, Any], h: Horizon) -> bool:
    """Contact facts offered (else last touched) before the cutoff."""
    return reference_ms(facts) < h.cutoff_ms  # type: ignore[arg-type]


def day_record_expired(key: str, h: Horizon) -> bool:
    """An ``agent-days`` record, by the date in its key ``"{agent}|{YYYY-MM-DD}"``."""
    return h.day_expired(split_day_key(key)[1])


def agent_last_event_ms(record: Mapping[str, Any]) -> int | None:
    """Event time of the latest profile or state event the agent record holds."""
    times = [slot[0] for slot in (record.get("pr"), record.get("st")) if slot]
    return max(times) if times else None


def agent_expired(record: Mapping[str, Any] | None, has_kept_day: bool, h: Horizon) -> bool:
    """An agent is forgotten when no kept ``agent-days`` record names it and its record holds
    no event at or after the cutoff (a record with no event at all, e.g. only an alert book,
    counts as unseen)."""
    if has_kept_day:
        return False
    if record is None:
        return True
    last = agent_last_event_ms(record)
    return last is None or last < h.cutoff_ms


def open_alert_ids(record: Mapping[str, Any] | None) -> list[str]:
    """Ids of the open alerts in an agent record's alert book (``"ab"``)."""
    book = (record or {}).get("ab") or {}
    return list(book.get("open") or {})


@dataclass(slots=True)
class AgentExpiry:
    """What one pass over an owner's ``agents`` and ``agent-days`` found expired.

    ``days``: day key -> changelog partition; ``agents``: agent id -> changelog partition of
    its record (``None``: no record, or one never written to the changelog); ``kept``: owned
    agents that stay (their ``fw.adherence`` keys of days crossing the horizon expire too).
    """

    days: dict[str, int | None] = field(default_factory=dict)
    agents: dict[str, int | None] = field(default_factory=dict)
    kept: set[str] = field(default_factory=set)


def _owned(record: Mapping[str, Any], owned: Container[int]) -> bool:
    p = record.get("_p")
    return p is None or p in owned


def plan_agent_expiry(
    agents: Mapping[str, Any],
    days: Mapping[str, Any],
    owned: Container[int],
    h: Horizon,
    slice_size: int = SLICE_SIZE,
) -> Generator[None, None, AgentExpiry]:
    """Walk the owned records of ``days`` then ``agents`` (records whose ``_p`` is an owned
    partition, or that have none) a slice at a time; returns the ``AgentExpiry``.

    The tables may change between slices (events keep arriving): keys are taken once, each
    record is read when its slice comes, and ``forget_agents`` checks again before deleting.
    """
    plan = AgentExpiry()
    day_agents: set[str] = set()  # agents with an owned day record, kept or not
    kept_day: set[str] = set()
    keys = list(days)
    for start in range(0, len(keys), slice_size):
        for key in keys[start : start + slice_size]:
            rec = days.get(key)
            if rec is None or not _owned(rec, owned):
                continue
            aid = split_day_key(key)[0]
            day_agents.add(aid)
            if day_record_expired(key, h):
                plan.days[key] = rec.get("_p")
            else:
                kept_day.add(aid)
        yield
    keys = list(agents)
    for start in range(0, len(keys), slice_size):
        for aid in keys[start : start + slice_size]:
            rec = agents.get(aid)
            if rec is None or not _owned(rec, owned):
                continue
            if agent_expired(rec, aid in kept_day, h):
                plan.agents[aid] = rec.get("_p")
            else:
                plan.kept.add(aid)
        yield
    for aid in day_agents:  # agents known only by day records
        if aid in kept_day:
            plan.kept.add(aid)
        elif aid not in agents:
            plan.agents.setdefault(aid, None)
    return plan


@dataclass(slots=True)
class Forgotten:
    """What ``forget_agents`` deleted, and the output keys to tombstone because of it."""

    days: dict[str, int] = field(default_factory=dict)  # day key -> changelog partition
    agents: dict[str, int] = field(default_factory=dict)  # agent id -> changelog partition
    agent_ids: list[str] = field(default_factory=list)  # every agent forgotten (fw.agent-status keys)
    alert_ids: list[str] = field(default_factory=list)  # open alerts of forgotten agents (and their acks)
    skipped: list[str] = field(default_factory=list)  # agents changed since the plan: judged again next time


def forget_agents(
    agents: MutableMapping[str, Any],
    days: MutableMapping[str, Any],
    plan: AgentExpiry,
    h: Horizon,
    touched: Container[str] = (),
    slice_size: int = SLICE_SIZE,
) -> Generator[None, None, Forgotten]:
    """Delete what ``plan`` found expired, a slice at a time; returns what went.

    A day record's date never changes, so its key is enough. An agent is deleted only when its
    record (read now) is still expired, it has no day record from the oldest kept day to
    tomorrow (the dates one can appear on between the plan and now; far-future schedules come
    with a dirty agent, see ``touched``), and it
    is not in ``touched`` (agents with events applied but not yet published: the worker's dirty
    agents); otherwise it is skipped (listed in ``skipped``).
    """
    out = Forgotten()
    recent = _dates(h.oldest_kept_day, h.today + timedelta(days=2))  # up to tomorrow
    items = list(plan.days.items())
    for start in range(0, len(items), slice_size):
        for key, p in items[start : start + slice_size]:
            if days.pop(key, None) is not None and p is not None:
                out.days[key] = p
        yield
    items2 = list(plan.agents.items())
    for start in range(0, len(items2), slice_size):
        for aid, p in items2[start : start + slice_size]:
            rec = agents.get(aid)
            has_kept_day = any(day_key(aid, d) in days for d in recent)
            if aid in touched or not agent_expired(rec, has_kept_day, h):
                out.skipped.append(aid)
                continue
            if rec is not None:
                del agents[aid]
                out.alert_ids += open_alert_ids(rec)
                if p is not None:
                    out.agents[aid] = p
            out.agent_ids.append(aid)
        yield
    return out


def adherence_keys_to_tombstone(
    kept_agents: Iterable[str],
    forgotten: Forgotten,
    since: date | None,
    h: Horizon,
) -> Iterator[str]:
    """``fw.adherence`` keys (``"{agent}|{date}"``) that expire now, each once.

    The worker publishes an agent's adherence for every day it has a day record of and, while
    it evaluates the agent, for today, so its keys are not the day records' keys. Expiring now:
    every forgotten day record's key; for every kept agent, the dates from ``since`` (the oldest
    kept day of the previous prune; ``None``: this process's first, which looks back
    ``RESTART_CATCH_UP_DAYS``) to the day before the oldest kept day; for every forgotten agent,
    every date from ``since`` to today.
    """
    first = since if since is not None else h.oldest_kept_day - timedelta(days=RESTART_CATCH_UP_DAYS)
    crossing = _dates(first, h.oldest_kept_day)
    seen: set[str] = set()
    for key in forgotten.days:
        seen.add(key)
        yield key
    for aid in kept_agents:
        for d in crossing:
            key = day_key(aid, d)
            if key not in seen:
                yield key
    through_today = _dates(first, h.today + timedelta(days=1))
    for aid in forgotten.agent_ids:
        for d in through_today:
            key = day_key(aid, d)
            if key not in seen:
                yield key


def _dates(first: date, end: date) -> list[str]:
    """ISO dates in ``[first, end)``."""
    return [(first + timedelta(days=i)).isoformat() for i in range(max(0, (end - first).days))]


# --- the output topics (the API's and the leader's views) ------------------------------------


def alert_expired(alert: Mapping[str, Any], h: Horizon) -> bool:
    """A resolved alert whose ``resolved_at_ms`` (else ``started_at_ms``) is before the cutoff.
    Firing alerts never expire by age; a record that is neither firing nor resolved is judged
    by its times like a resolved one."""
    if alert.get("state") == "firing":
        return False
    end = alert.get("resolved_at_ms")
    if isinstance(end, bool) or not isinstance(end, int):
        end = alert.get("started_at_ms")
    return h.instant_expired(end)


def ack_expired(ack: Mapping[str, Any], alert_present: bool, h: Horizon) -> bool:
    """An ack whose alert is absent and that was made before the cutoff (an ack read before
    its alert is kept until then; the ack of an expired or deleted alert goes with it)."""
    return not alert_present and h.instant_expired(ack.get("at_ms"))


def status_expired(status: Mapping[str, Any], h: Horizon) -> bool:
    """An ``fw.agent-status`` record not updated (``updated_ms``) since the cutoff."""
    return h.instant_expired(status.get("updated_ms"))


def drain(steps: Generator[Any, None, T]) -> T:
    """Run a sliced generator to its end; its return value."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
