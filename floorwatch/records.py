"""Records on the output topics (worker -> API). Keys are UTF-8 strings, values JSON.

This module is the one definition of them: the records the worker writes and the API reads
each have a class here (slots) with ``to_record()`` (the JSON value the worker writes) and
``parse(data)`` (what a reader accepts, ``BadRecord`` otherwise), with the key functions and
the record kinds. The list below is the contract in short.

Workers never repartition contact events: each worker publishes *partials* for the source
partitions it owns, keyed with the partition number, and readers sum the partials of all
partitions. A partial is last-value-wins (compacted topics); a ``null`` value deletes it.

``fw.interval-stats``  key ``"{queue}|{start_ms}|{partition}"`` (``interval_key``),
class ``IntervalPartial``::

    {"queue": str, "start_ms": int, "end_ms": int, "partition": int,
     "counts": Counts.as_dict(), "rules": {sl_threshold_s, short_abandon_s, sl_target,
     sl_formula}, "mixed_rules": bool, "channel": str | None, "updated_ms": int}

    (``channel``: the channel of the first contact put in the bucket; older records lack it)

``fw.queue-stats``  key ``"{queue}|{partition}"`` (``queue_key``), class ``QueuePartial``::

    {"queue": str, "partition": int, "waiting": int, "oldest_waiting_ms": int | None,
     "rolling_15m": Counts.as_dict(), "rolling_60m": Counts.as_dict(), "computed_ms": int}

``fw.agent-status``  key ``agent_id``, class ``AgentStatus``::

    {"agent_id", "name", "team", "queues": [...], "state", "reason", "since_ms",
     "updated_ms"}

``fw.agent-status`` values also carry the real-time adherence view::

    {..., "scheduled_activity": str | None, "in_adherence": bool | None,
     "out_of_adherence_since_ms": int | None, "exception": str | None}

``fw.adherence``  key ``"{agent_id}|{date}"``, class ``Adherence``: ``DayAdherence.as_dict()`` plus::

    {"agent_id", "team", "date", "updated_ms", "scheduled_s", "in_adherence_s", "adherence",
     "work_scheduled_s", "worked_s", "conformance",
     "exceptions": [{"kind", "start_ms", "end_ms" | None, "scheduled", "actual"}],
     "logged_in_ms": {"<interval start ms>": ms logged in during that interval, up to now},
     "agent_time": {"intervals": {"<start ms>": {"available", "on_contact", "wrap_up", "aux": ms,
                                                 "aux_reasons": {"<reason>": ms}}},
                    "until_ms", "open": [since_ms, state, reason] | None,
                    "recent": [[ts_ms, state, reason], ...]},
     "adherence_intervals": {"<start ms>": [scheduled, in_adherence, work_scheduled, worked]},
     "shrinkage": {"scheduled_ms", "off_phone_scheduled_ms", "unscheduled_aux_ms"},
     "shift": {"start_ms", "end_ms", "first_login_ms" | None} | None}
    (``agent_time`` and ``shift``: ``floorwatch.domain.occupancy``)

``fw.alerts``  key alert id (``"{kind}:{subject}:{started_at_ms}"``), class ``Alert``
(``alert_record`` gives the value): the alert record of ``floorwatch.domain.alerts`` (times in
ms)::

    {"id", "kind", "subject", "severity": "warning"|"critical", "state": "firing"|"resolved",
     "started_at_ms", "resolved_at_ms", "acked_by", "acked_at_ms", "details": {...}}

``fw.alert-acks``  key alert id, class ``AlertAck``: ``{"id", "by", "at_ms"}`` — written by the API on
``POST /api/v1/alerts/{id}/ack``; alert engines and readers merge it into the alert (the
first ack wins; an ack never resolves).

``fw.quality-stats``  first contact resolution, CSAT and agent handle partials (``kind`` says
which: classes ``FcrIntervalPartial``, ``FcrAgentPartial``, ``CsatAgentPartial``,
``AgentHandlePartial``, read by ``parse_quality``; kinds ``FCR_INTERVAL``, ``FCR_AGENT``,
``CSAT_AGENT``, ``AGENT_HANDLE``; keys ``fcr_interval_key``, ``agent_day_key`` with
``FCR_AGENT_KEY`` / ``CSAT_AGENT_KEY`` / ``AGENT_HANDLE_KEY``)::

    key "fcr|{queue}|{start_ms}|{partition}" (partition of fw.customer-contacts):
    {"kind": "fcr_interval", "queue", "start_ms", "partition", "updated_ms",
     "counts": {"customer_contacts", "repeat_contacts", "fcr_eligible", "fcr_resolved"}}
    key "fcr-agent|{agent_id}|{date}|{partition}" (offered date, answering agent):
    {"kind": "fcr_agent", "agent_id", "date", "partition", "updated_ms",
     "fcr_eligible", "fcr_resolved"}
    key "csat-agent|{agent_id}|{date}|{partition}" (partition of fw.contact-events):
    {"kind": "csat_agent", "agent_id", "date", "partition", "updated_ms",
     "surveys", "score_sum", "satisfied"}
    key "ah|{agent_id}|{date}|{partition}" (partition of fw.contact-events; offered date):
    {"kind": "agent_handle", "agent_id", "date", "partition", "updated_ms",
     "intervals": {"<offered interval start ms>": [handled, talk_ms, hold_ms, wrap_ms,
                   transferred, surveys, score_sum, satisfied]}}
    (the first five of the handled contacts the agent answered, the last three of the surveys
    naming it; a tombstone when the agent-date has no row left)

``fw.customer-contacts`` (internal, not compacted)  one record per contact batch and customer
partition (``floorwatch.domain.fcr.partition_for``), key = that partition number::

    {"items": [[hashed customer, contact_id, {"o", "q", "p", "a", "r"} | None], ...]}
    (floorwatch.domain.fcr.projection; None: the contact left this customer)

``fw.worker-status``  key = worker id (``"{hostname}:{pid}"``); one record at least every
second from each running worker, a ``null`` value (tombstone) when it stops cleanly; class
``WorkerHeartbeat`` (``worker_heartbeat`` gives the value)::

    {"worker_id": str, "at_ms": int (the worker's clock when it wrote the record),
     "started_ms": int, "partitions": {input topic: [owned partition, ...]},
     "rebalancing": bool, "recovering": bool,
     "alert_channels": {"<channel>": {"delivered", "failed", "dropped", "quiet_hours", "queued": int}}}

    (``alert_channels``: only when the worker has alert channels or webhooks; per routed
    channel id and per ``alerts.webhooks`` entry by the label its log lines use, the
    notification counters since the worker started and the items queued now; at most
    ``MAX_HEARTBEAT_ALERT_CHANNELS`` entries; docs/alerts.md)

``fw.dead-letters``  key = source topic, class ``DeadLetter``::

    {"reason": str, "error": str, "topic": str, "partition": int, "offset": int,
     "raw": str (first 4 KiB), "at_ms": int}

Times are epoch milliseconds; readers reject one outside 1970..9999 (``MAX_MS``).
``fw.forecasts`` is an input topic (``forecast.published`` events of ``floorwatch.events``);
``Forecast`` is what readers keep of one.

What the API's view keeps. Partials and heartbeats are kept as the instances ``parse`` returns.
``fw.agent-status``, ``fw.adherence`` and ``fw.alerts`` records are kept as the JSON objects
read: ``AgentStatus.parse``, ``Adherence.parse`` and ``Alert.parse`` check what the view has
always checked (a JSON object; for adherence a string ``agent_id``) and return that object.
The API serves these records nearly as they are, and every reader (``queries.agent_row``,
``adherence_row``, ``alert_row``, ``/metrics``, the live pushes, the retention rules, the alert
engine adopting open alerts) reads each field for what it is, tolerating a missing or mistyped
one; the view has always accepted such records, so a typed instance would have to keep fields
of any type and every reader would change, for little memory: measured with tracemalloc over
10,000 agent-status records, the object read costs 1,210 B and a 12-slot instance 691 B, and a
floor has a few thousand agents (adherence records are mostly their exception list and
``logged_in_ms`` object, which an instance would keep as they are). An ack is kept as the object
``AlertAck.to_record()`` gives (``{"id": key, "by", "at_ms"}``, what readers index); of a dead
letter only its ``DeadLetter.parse(...).reason`` is counted.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import date as Date
from typing import Any, ClassVar, Self, overload

import orjson

from floorwatch.domain.adherence import DayAdherence
from floorwatch.domain.floor import day_key
from floorwatch.domain.queue_metrics import SL_FORMULAS, Counts
from floorwatch.events import DEFAULT_LIMITS, EventError, EventLimits, ForecastPublished, parse_event, to_ms


def interval_key(queue: str, start_ms: int, partition: int) -> str:
    return f"{queue}|{start_ms}|{partition}"


def queue_key(queue: str, partition: int) -> str:
    return f"{queue}|{partition}"


def fcr_interval_key(queue: str, start_ms: int, partition: int) -> str:
    return f"{FCR_INTERVAL_KEY}|{queue}|{start_ms}|{partition}"


def agent_day_key(kind: str, agent_id: str, day: str, partition: int) -> str:
    """``kind`` is ``FCR_AGENT_KEY`` (``fcr-agent``), ``CSAT_AGENT_KEY`` (``csat-agent``) or
    ``AGENT_HANDLE_KEY`` (``ah``)."""
    return f"{kind}|{agent_id}|{day}|{partition}"


# -- kinds and key prefixes -----------------------------------------------------------------

FCR_INTERVAL = "fcr_interval"  # fw.quality-stats "kind" of a queue-interval FCR partial
FCR_AGENT = "fcr_agent"  # ... of an agent-day FCR partial
CSAT_AGENT = "csat_agent"  # ... of an agent-day CSAT partial
AGENT_HANDLE = "agent_handle"  # ... of an agent-day partial of per-interval handle rows
QUALITY_KINDS = (FCR_INTERVAL, FCR_AGENT, CSAT_AGENT, AGENT_HANDLE)
FCR_INTERVAL_KEY = "fcr"  # key prefix of FCR_INTERVAL records (``fcr_interval_key``)
FCR_AGENT_KEY = "fcr-agent"  # key prefix of FCR_AGENT records (``agent_day_key``)
CSAT_AGENT_KEY = "csat-agent"  # key prefix of CSAT_AGENT records
AGENT_HANDLE_KEY = "ah"  # key prefix of AGENT_HANDLE records
AGENT_ROW_SIZE = 8  # handled, talk_ms, hold_ms, wrap_ms, transferred, surveys, score_sum, satisfied
MAX_AGENT_HANDLE_INTERVALS = 200  # rows per agent-date record (a 25-hour day has 100 of 15 minutes)

MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: beyond it no date can be printed
MAX_HEARTBEAT_TOPICS = 16  # owned-partition lists per heartbeat (a worker consumes five topics)
MAX_HEARTBEAT_PARTITIONS = 10_000  # partitions listed per topic
MAX_WORKER_ID = 256  # characters of a worker id
# a heartbeat's alert_channels: outcome counters (since the worker started), then the queue depth
ALERT_CHANNEL_OUTCOMES = ("delivered", "failed", "dropped", "quiet_hours")
ALERT_CHANNEL_FIELDS = (*ALERT_CHANNEL_OUTCOMES, "queued")
MAX_HEARTBEAT_ALERT_CHANNELS = 200  # entries: alerts.channels (at most 100) and 100 webhooks
MAX_ALERT_CHANNEL_LABEL = 64  # characters of a channel id or webhook label in a heartbeat

_COUNT_FIELDS = tuple(f.name for f in fields(Counts))
_FCR_COUNT_FIELDS = ("customer_contacts", "repeat_contacts", "fcr_eligible", "fcr_resolved")


class BadRecord(ValueError):
    """A record of an output topic that does not have the format of ``floorwatch.records``."""


# -- field readers: the checks every parser shares --------------------------------------------


@overload
def _int(data: dict[str, Any], name: str) -> int: ...
@overload
def _int(data: dict[str, Any], name: str, *, optional: bool) -> int | None: ...
def _int(data: dict[str, Any], name: str, *, optional: bool = False) -> int | None:
    """An integer field (a bool is not one); ``optional``: missing or ``null`` gives None."""
    value = data.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRecord(f"field {name!r}: expected an integer, got {value!r}")
    return value


@overload
def _ms(data: dict[str, Any], name: str) -> int: ...
@overload
def _ms(data: dict[str, Any], name: str, *, optional: bool) -> int | None: ...
def _ms(data: dict[str, Any], name: str, *, optional: bool = False) -> int | None:
    """An epoch-milliseconds field, within the years 1970..9999."""
    value = _int(data, name, optional=optional)
    if value is not None and not 0 <= value <= MAX_MS:
        raise BadRecord(f"field {name!r}: {value} is not a plausible epoch-ms time")
    return value


def _str(data: dict[str, Any], name: str) -> str:
    """A non-empty string field."""
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise BadRecord(f"field {name!r}: expected a non-empty string, got {value!r}")
    return value


def _loose_int(data: dict[str, Any], name: str) -> int | None:
    """A field readers do not need: kept when it is an integer, else None, never rejected."""
    value = data.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _date(data: dict[str, Any], name: str) -> str:
    """A ``YYYY-MM-DD`` field."""
    day = _str(data, name)
    try:
        Date.fromisoformat(day)
    except ValueError:
        raise BadRecord(f"field {name!r}: {day!r} is not YYYY-MM-DD") from None
    return day


def parse_counts(data: Any) -> Counts:
    """``Counts.from_dict`` with the types checked (a bad partial must not break a sum)."""
    if not isinstance(data, dict):
        raise BadRecord("counts: expected an object")
    for name in _COUNT_FIELDS:
        if name in data:
            _int(data, name, optional=name == "max_wait_ms")
    return Counts.from_dict(data)


# -- fw.interval-stats ------------------------------------------------------------------------

RULE_NUMBERS = ("sl_threshold_s", "short_abandon_s", "sl_target")


def parse_rules(value: Any) -> dict[str, Any] | None:
    """An interval's recorded rules (``QueueRules.as_dict()``), else None: a known
    ``sl_formula`` and finite numbers ≥ 0 (not booleans) for the others; other keys dropped."""
    if not isinstance(value, dict) or value.get("sl_formula") not in SL_FORMULAS:
        return None
    for key in RULE_NUMBERS:
        number = value.get(key)
        if isinstance(number, bool) or not isinstance(number, int | float) or not 0 <= number < math.inf:
            return None
    return {key: value[key] for key in (*RULE_NUMBERS, "sl_formula")}


@dataclass(slots=True)
class IntervalPartial:
    """One ``fw.interval-stats`` record: one source partition's counts of a (queue, interval).

    ``parse`` requires ``queue`` and ``start_ms``; ``end_ms``, ``partition`` and ``updated_ms``
    may be missing (None); ``rules`` that is not an object of the four rules (``sl_formula`` one
    of the formulas, the others finite numbers ≥ 0) reads as None, a ``channel`` that is not a
    non-empty string (or missing: records written before it) as None."""

    queue: str
    start_ms: int
    end_ms: int | None
    partition: int | None
    counts: Counts
    rules: dict[str, Any] | None  # QueueRules.as_dict()
    mixed_rules: bool
    updated_ms: int | None
    channel: str | None = None  # the channel of the first contact put in the bucket (interned)

    def key(self) -> str:
        return interval_key(self.queue, self.start_ms, self.partition or 0)

    def to_record(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "start_ms": self.start_ms,
            "partition": self.partition,
            "end_ms": self.end_ms,
            "counts": self.counts.as_dict(),
            "rules": self.rules,
            "mixed_rules": self.mixed_rules,
            "channel": self.channel,
            "updated_ms": self.updated_ms,
        }

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Self:
        rules = data.get("rules")
        channel = data.get("channel")
        return cls(
            queue=_str(data, "queue"),
            start_ms=_ms(data, "start_ms"),
            end_ms=_ms(data, "end_ms", optional=True),
            partition=_int(data, "partition", optional=True),
            counts=parse_counts(data.get("counts")),
            rules=parse_rules(rules),
            mixed_rules=bool(data.get("mixed_rules", False)),
            updated_ms=_ms(data, "updated_ms", optional=True),
            channel=sys.intern(channel) if isinstance(channel, str) and channel else None,
        )


# -- fw.queue-stats ---------------------------------------------------------------------------


@dataclass(slots=True)
class QueuePartial:
    """One ``fw.queue-stats`` record: one source partition's live figures of a queue.

    ``parse`` requires ``queue``; a missing ``waiting`` reads as 0, missing rolling counts as
    empty counts, the other fields as None."""

    queue: str
    partition: int | None
    waiting: int
    oldest_waiting_ms: int | None
    rolling_15m: Counts
    rolling_60m: Counts
    computed_ms: int | None

    def key(self) -> str:
        return queue_key(self.queue, self.partition or 0)

    def to_record(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "partition": self.partition,
            "waiting": self.waiting,
            "oldest_waiting_ms": self.oldest_waiting_ms,
            "rolling_15m": self.rolling_15m.as_dict(),
            "rolling_60m": self.rolling_60m.as_dict(),
            "computed_ms": self.computed_ms,
        }

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Self:
        return cls(
            queue=_str(data, "queue"),
            partition=_int(data, "partition", optional=True),
            waiting=_int(data, "waiting", optional=True) or 0,
            oldest_waiting_ms=_ms(data, "oldest_waiting_ms", optional=True),
            rolling_15m=parse_counts(data.get("rolling_15m") or {}),
            rolling_60m=parse_counts(data.get("rolling_60m") or {}),
            computed_ms=_ms(data, "computed_ms", optional=True),
        )


# -- fw.quality-stats -------------------------------------------------------------------------
# ``partition`` and ``updated_ms`` of these records are not read by the API: ``parse`` keeps
# them when they are integers and never rejects a record for them.


def _check_kind(data: dict[str, Any], kind: str) -> None:
    found = _str(data, "kind")
    if found != kind:
        raise BadRecord(f"quality record kind {found!r}, expected {kind!r}")


@dataclass(frozen=True, slots=True)
class FcrIntervalPartial:
    """One ``fw.quality-stats`` record of kind ``fcr_interval``: first contact resolution of a
    (queue, interval) from one ``fw.customer-contacts`` partition. ``counts`` holds the four FCR
    fields (others are accepted by ``parse`` and not written back)."""

    queue: str
    start_ms: int
    partition: int | None
    updated_ms: int | None
    counts: Counts

    KIND: ClassVar[str] = FCR_INTERVAL

    def key(self) -> str:
        return fcr_interval_key(self.queue, self.start_ms, self.partition or 0)

    def to_record(self) -> dict[str, Any]:
        c = self.counts
        return {
            "kind": FCR_INTERVAL,
            "queue": self.queue,
            "start_ms": self.start_ms,
            "partition": self.partition,
            "updated_ms": self.updated_ms,
            "counts": {
                "customer_contacts": c.customer_contacts,
                "repeat_contacts": c.repeat_contacts,
                "fcr_eligible": c.fcr_eligible,
                "fcr_resolved": c.fcr_resolved,
            },
        }

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Self:
        _check_kind(data, FCR_INTERVAL)
        return cls._fields(data)

    @classmethod
    def _fields(cls, data: dict[str, Any]) -> Self:
        queue = _str(data, "queue")
        start_ms = _ms(data, "start_ms")
        counts = parse_counts(data.get("counts"))
        return cls(queue, start_ms, _loose_int(data, "partition"), _loose_int(data, "updated_ms"), counts)


@dataclass(frozen=True, slots=True)
class FcrAgentPartial:
    """One ``fw.quality-stats`` record of kind ``fcr_agent``: first contact resolution of the
    contacts an agent answered, by offered date, from one ``fw.customer-contacts`` partition."""

    agent_id: str
    date: str  # local YYYY-MM-DD
    partition: int | None
    updated_ms: int | None
    fcr_eligible: int
    fcr_resolved: int

    KIND: ClassVar[str] = FCR_AGENT

    def key(self) -> str:
        return agent_day_key(FCR_AGENT_KEY, self.agent_id, self.date, self.partition or 0)

    def counts(self) -> Counts:
        return Counts(fcr_eligible=self.fcr_eligible, fcr_resolved=self.fcr_resolved)

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": FCR_AGENT,
            "agent_id": self.agent_id,
            "date": self.date,
            "partition": self.partition,
            "updated_ms": self.updated_ms,
            "fcr_eligible": self.fcr_eligible,
            "fcr_resolved": self.fcr_resolved,
        }

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Self:
        _check_kind(data, FCR_AGENT)
        return cls._fields(data)

    @classmethod
    def _fields(cls, data: dict[str, Any]) -> Self:
        eligible, resolved = _int(data, "fcr_eligible"), _int(data, "fcr_resolved")
        day = _date(data, "date")
        agent_id = _str(data, "agent_id")
        return cls(agent_id, day, _loose_int(data, "partition"), _loose_int(data, "updated_ms"), eligible, resolved)


@dataclass(frozen=True, slots=True)
class CsatAgentPartial:
    """One ``fw.quality-stats`` record of kind ``csat_agent``: an agent's surveys of a local
    date from one ``fw.contact-events`` partition."""

    agent_id: str
    date: str  # local YYYY-MM-DD
    partition: int | None
    updated_ms: int | None
    surveys: int
    score_sum: int
    satisfied: int  # surveys scoring 4 or 5

    KIND: ClassVar[str] = CSAT_AGENT

    def key(self) -> str:
        return agent_day_key(CSAT_AGENT_KEY, self.agent_id, self.date, self.partition or 0)

    def counts(self) -> Counts:
        return Counts(surveys=self.surveys, score_sum=self.score_sum, satisfied=self.satisfied)

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": CSAT_AGENT,
            "agent_id": self.agent_id,
            "date": self.date,
            "partition": self.partition,
            "updated_ms": self.updated_ms,
            "surveys": self.surveys,
            "score_sum": self.score_sum,
            "satisfied": self.satisfied,
        }

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Self:
        _check_kind(data, CSAT_AGENT)
        return cls._fields(data)

    @classmethod
    def _fields(cls, data: dict[str, Any]) -> Self:
        surveys, score_sum, satisfied = _int(data, "surveys"), _int(data, "score_sum"), _int(data, "satisfied")
        day = _date(data, "date")
        agent_id = _str(data, "agent_id")
        partition, updated_ms = _loose_int(data, "partition"), _loose_int(data, "updated_ms")
        return cls(agent_id, day, partition, updated_ms, surveys, score_sum, satisfied)


@dataclass(frozen=True, slots=True)
class AgentHandlePartial:
    """One ``fw.quality-stats`` record of kind ``agent_handle``: an agent's rows of a local date
    (of the contacts' offers) from one ``fw.contact-events`` partition, per offered interval
    ``[handled, talk_ms, hold_ms, wrap_ms, transferred, surveys, score_sum, satisfied]``.

    ``parse`` requires ``intervals`` to be an object of at most ``MAX_AGENT_HANDLE_INTERVALS``
    rows, each keyed by an interval start (epoch ms as a decimal string) and holding exactly
    eight integers."""

    agent_id: str
    date: str  # local YYYY-MM-DD of the offers
    partition: int | None
    updated_ms: int | None
    intervals: dict[int, list[int]]  # offered interval start ms -> the 8 figures

    KIND: ClassVar[str] = AGENT_HANDLE

    def key(self) -> str:
        return agent_day_key(AGENT_HANDLE_KEY, self.agent_id, self.date, self.partition or 0)

    def counts(self) -> Counts:
        """The rows summed, as the ``Counts`` fields of the same names."""
        total = [0] * AGENT_ROW_SIZE
        for row in self.intervals.values():
            for i, value in enumerate(row):
                total[i] += value
        handled, talk, hold, wrap, transferred, surveys, score_sum, satisfied = total
        return Counts(
            handled=handled,
            talk_ms=talk,
            hold_ms=hold,
            wrap_ms=wrap,
            transferred=transferred,
            surveys=surveys,
            score_sum=score_sum,
            satisfied=satisfied,
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": AGENT_HANDLE,
            "agent_id": self.agent_id,
            "date": self.date,
            "partition": self.partition,
            "updated_ms": self.updated_ms,
            "intervals": {str(start): list(row) for start, row in sorted(self.intervals.items())},
        }

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Self:
        _check_kind(data, AGENT_HANDLE)
        return cls._fields(data)

    @classmethod
    def _fields(cls, data: dict[str, Any]) -> Self:
        raw = data.get("intervals")
        if not isinstance(raw, dict) or len(raw) > MAX_AGENT_HANDLE_INTERVALS:
            raise BadRecord(f"field 'intervals': expected an object of at most {MAX_AGENT_HANDLE_INTERVALS} rows")
        intervals: dict[int, list[int]] = {}
        for start, row in raw.items():
            try:
                start_ms = int(start)
            except (TypeError, ValueError):
                raise BadRecord(f"intervals: {start!r} is not an interval start") from None
            if not 0 <= start_ms <= MAX_MS:
                raise BadRecord(f"intervals: {start_ms} is not a plausible epoch-ms time")
            if (
                not isinstance(row, list)
                or len(row) != AGENT_ROW_SIZE
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in row)
            ):
                raise BadRecord(f"intervals[{start!r}]: expected {AGENT_ROW_SIZE} integers")
            intervals[start_ms] = row
        day = _date(data, "date")
        agent_id = _str(data, "agent_id")
        partition, updated_ms = _loose_int(data, "partition"), _loose_int(data, "updated_ms")
        return cls(agent_id, day, partition, updated_ms, intervals)


QualityRecord = FcrIntervalPartial | FcrAgentPartial | CsatAgentPartial | AgentHandlePartial
_QUALITY_CLASSES: dict[
    str, type[FcrIntervalPartial] | type[FcrAgentPartial] | type[CsatAgentPartial] | type[AgentHandlePartial]
] = {
    FCR_INTERVAL: FcrIntervalPartial,
    FCR_AGENT: FcrAgentPartial,
    CSAT_AGENT: CsatAgentPartial,
    AGENT_HANDLE: AgentHandlePartial,
}


def parse_quality(data: dict[str, Any]) -> QualityRecord:
    """Any ``fw.quality-stats`` record, by its ``kind``."""
    kind = _str(data, "kind")
    found = _QUALITY_CLASSES.get(kind)
    if found is None:
        raise BadRecord(f"unknown quality record kind {kind!r}")
    return found._fields(data)


@dataclass(frozen=True, slots=True)
class QualityPartial:
    """What the API's view keeps of a ``fw.quality-stats`` record (``parse_quality``): the
    figures as ``Counts`` and what locates them. It drops ``partition`` and ``updated_ms``
    (no reader needs them), so the view's memory per partial stays that of these five slots."""

    kind: str  # FCR_INTERVAL | FCR_AGENT | CSAT_AGENT | AGENT_HANDLE (its rows summed)
    subject: str  # queue, or agent id
    start_ms: int | None  # FCR_INTERVAL
    date: str | None  # FCR_AGENT, CSAT_AGENT, AGENT_HANDLE
    counts: Counts

    @classmethod
    def of(cls, record: QualityRecord) -> Self:
        if isinstance(record, FcrIntervalPartial):
            return cls(FCR_INTERVAL, record.queue, record.start_ms, None, record.counts)
        return cls(record.KIND, record.agent_id, None, record.date, record.counts())

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Self:
        return cls.of(parse_quality(data))


# -- fw.worker-status -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkerHeartbeat:
    """One ``fw.worker-status`` record. ``parse`` requires ``worker_id`` (at most 256
    characters) and ``at_ms``; ``partitions`` must be an object of at most 16 lists of at most
    10,000 partition numbers each (missing: none); ``rebalancing`` and ``recovering`` are true
    only when they are ``true``; ``started_ms`` is not checked (kept when it is an integer).
    ``alert_channels`` never rejects the heartbeat (liveness matters more than the counters):
    one that is not an object of at most ``MAX_HEARTBEAT_ALERT_CHANNELS`` entries reads as
    none, and an entry whose name is not a string of 1..64 characters or whose value is not an
    object of the five ``ALERT_CHANNEL_FIELDS`` as integers >= 0 is skipped."""

    worker_id: str
    at_ms: int  # the worker's clock when it wrote the record
    partitions: dict[str, frozenset[int]]  # consumed topic -> partitions it owns
    rebalancing: bool
    recovering: bool
    started_ms: int | None = None
    # channel id / webhook label -> (delivered, failed, dropped, quiet_hours, queued)
    alert_channels: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def to_record(self) -> dict[str, Any]:
        """Owned partitions sorted, topics sorted; ``alert_channels`` only when not empty."""
        record: dict[str, Any] = {
            "worker_id": self.worker_id,
            "at_ms": self.at_ms,
            "started_ms": self.started_ms,
            "partitions": {t: sorted(ps) for t, ps in sorted(self.partitions.items())},
            "rebalancing": self.rebalancing,
            "recovering": self.recovering,
        }
        if self.alert_channels:
            record["alert_channels"] = {
                name: dict(zip(ALERT_CHANNEL_FIELDS, values, strict=True))
                for name, values in self.alert_channels.items()
            }
        return record

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Self:
        worker_id = _str(data, "worker_id")
        if len(worker_id) > MAX_WORKER_ID:
            raise BadRecord(f"field 'worker_id': longer than {MAX_WORKER_ID} characters")
        raw = data.get("partitions") or {}
        if not isinstance(raw, dict) or len(raw) > MAX_HEARTBEAT_TOPICS:
            raise BadRecord(f"field 'partitions': expected an object of at most {MAX_HEARTBEAT_TOPICS} topics")
        partitions: dict[str, frozenset[int]] = {}
        for topic, parts in raw.items():
            if (
                not isinstance(parts, list)
                or len(parts) > MAX_HEARTBEAT_PARTITIONS
                or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in parts)
            ):
                raise BadRecord(f"partitions of {topic!r}: expected a list of partition numbers")
            partitions[topic] = frozenset(parts)
        return cls(
            worker_id,
            _ms(data, "at_ms"),
            partitions,
            data.get("rebalancing") is True,
            data.get("recovering") is True,
            _loose_int(data, "started_ms"),
            _alert_channels(data.get("alert_channels")),
        )


def _alert_channels(raw: Any) -> dict[str, tuple[int, ...]]:
    """A heartbeat's ``alert_channels``, checked (``WorkerHeartbeat``): bad entries skipped."""
    if not isinstance(raw, dict) or len(raw) > MAX_HEARTBEAT_ALERT_CHANNELS:
        return {}
    out: dict[str, tuple[int, ...]] = {}
    for name, counters in raw.items():
        if not isinstance(name, str) or not 0 < len(name) <= MAX_ALERT_CHANNEL_LABEL or not isinstance(counters, dict):
            continue
        values = tuple(counters.get(f) for f in ALERT_CHANNEL_FIELDS)
        if all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
            out[name] = values  # type: ignore[assignment]  # checked: all ints
    return out


def worker_heartbeat(
    worker_id: str,
    at_ms: int,
    started_ms: int,
    partitions: dict[str, Iterable[int]],
    *,
    rebalancing: bool,
    recovering: bool,
    alert_channels: Mapping[str, Mapping[str, int]] | None = None,
) -> dict[str, Any]:
    """The ``fw.worker-status`` value of one heartbeat (``WorkerHeartbeat.to_record``);
    ``alert_channels``: name -> the ``ALERT_CHANNEL_FIELDS`` counters (first
    ``MAX_HEARTBEAT_ALERT_CHANNELS`` names kept)."""
    owned = {t: frozenset(ps) for t, ps in partitions.items()}
    channels = {
        name: tuple(int(counters[f]) for f in ALERT_CHANNEL_FIELDS)
        for name, counters in list((alert_channels or {}).items())[:MAX_HEARTBEAT_ALERT_CHANNELS]
    }
    return WorkerHeartbeat(worker_id, at_ms, owned, rebalancing, recovering, started_ms, channels).to_record()


# -- fw.forecasts (an input topic, read by the API and the worker's alert view) ----------------


@dataclass(frozen=True, slots=True)
class Forecast:
    """One ``forecast.published`` (the winning one of its queue and date). ``fw.forecasts`` is
    an input topic: its records are events of ``floorwatch.events``, written by the planning
    tools, not by the worker, so this class only reads them (no ``to_record``)."""

    queue: str
    date: str  # local YYYY-MM-DD
    ts_ms: int
    event_id: str
    interval_minutes: int
    intervals: tuple[tuple[int, float, float], ...]  # (start ms, offered, aht_s), sorted by start

    @classmethod
    def of(cls, event: ForecastPublished) -> Self:
        rows = sorted((to_ms(i.start), float(i.offered), float(i.aht_s)) for i in event.intervals)
        return cls(
            event.queue, event.date.isoformat(), event.ts_ms, event.event_id, event.interval_minutes, tuple(rows)
        )

    @classmethod
    def parse(cls, data: dict[str, Any], limits: EventLimits = DEFAULT_LIMITS) -> Self:
        """A valid ``forecast.published`` under ``limits``, else ``BadRecord``."""
        try:
            event = parse_event(data, limits=limits)
        except EventError as exc:
            raise BadRecord(str(exc)) from None
        if not isinstance(event, ForecastPublished):
            raise BadRecord(f"not a forecast: {event.type}")
        return cls.of(event)


# -- fw.agent-status, fw.adherence, fw.alerts, fw.alert-acks, fw.dead-letters -----------------
# The API's view keeps agent status, adherence and alert records as the JSON objects read (see
# the module docstring for why): ``parse`` of these classes checks what the view has always
# checked and returns that object, not an instance.


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadRecord("value is not a JSON object")
    return data


def _loose_str(data: dict[str, Any], name: str) -> str | None:
    """A field readers do not need: kept when it is a string, else None, never rejected."""
    value = data.get(name)
    return value if isinstance(value, str) else None


# the real-time adherence fields of ``AdherenceNow.as_dict()`` an fw.agent-status value carries
AGENT_ADHERENCE_FIELDS = ("scheduled_activity", "in_adherence", "out_of_adherence_since_ms", "exception")


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """One ``fw.agent-status`` record: ``floorwatch.domain.agents.agent_status`` (profile,
    current state and since) with the real-time adherence fields of ``AdherenceNow``.

    ``parse`` accepts any JSON object and returns it: the API serves these records nearly as
    they are and every reader reads each field for what it is (``queries.agent_row``), so the
    view keeps the object (module docstring)."""

    agent_id: str
    name: str
    team: str | None
    queues: tuple[str, ...]
    state: str  # an agent state, or "logged_out"
    reason: str | None
    since_ms: int | None
    updated_ms: int
    scheduled_activity: str | None = None
    in_adherence: bool | None = None
    out_of_adherence_since_ms: int | None = None
    exception: str | None = None
    max_concurrent: dict[str, int] | None = None  # channel -> contacts at once (profile); absent: 1 each

    @classmethod
    def of(cls, status: dict[str, Any], adherence: dict[str, Any]) -> Self:
        """``status``: ``agent_status(...)``; ``adherence``: ``AdherenceNow.as_dict()`` (the
        four ``AGENT_ADHERENCE_FIELDS`` are taken from it)."""
        return cls(
            status["agent_id"],
            status["name"],
            status["team"],
            tuple(status["queues"]),
            status["state"],
            status["reason"],
            status["since_ms"],
            status["updated_ms"],
            adherence["scheduled_activity"],
            adherence["in_adherence"],
            adherence["out_of_adherence_since_ms"],
            adherence["exception"],
            status.get("max_concurrent") or None,
        )

    def key(self) -> str:
        return self.agent_id

    def to_record(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "name": self.name,
            "team": self.team,
            "queues": list(self.queues),
            "state": self.state,
            "reason": self.reason,
            "since_ms": self.since_ms,
            "updated_ms": self.updated_ms,
            "scheduled_activity": self.scheduled_activity,
            "in_adherence": self.in_adherence,
            "out_of_adherence_since_ms": self.out_of_adherence_since_ms,
            "exception": self.exception,
            "max_concurrent": self.max_concurrent or {},
        }

    @staticmethod
    def parse(data: Any) -> dict[str, Any]:
        """The record as read, if it is a JSON object."""
        return _object(data)


@dataclass(frozen=True, slots=True)
class Adherence:
    """One ``fw.adherence`` record: ``DayAdherence.as_dict()`` of an agent and local date, with
    the agent, its team, when it was computed and its logged-in time per interval; then its
    agent time (``occupancy.agent_time_record``), the adherence figures per interval and the
    shrinkage parts (from ``figures``), and its shift (``occupancy.shift_record``).

    ``parse`` requires a string ``agent_id`` and returns the JSON object read (the view keeps
    it, indexed by its ``date``)."""

    agent_id: str
    team: str | None
    updated_ms: int
    figures: DayAdherence
    logged_in_ms: dict[int, int]  # interval start ms -> ms logged in during it, up to now
    agent_time: dict[str, Any]  # occupancy.agent_time_record(...)
    shift: dict[str, Any] | None  # occupancy.shift_record(...); None without a schedule

    def key(self) -> str:
        return day_key(self.agent_id, self.figures.date)

    def to_record(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "team": self.team,
            "updated_ms": self.updated_ms,
            **self.figures.as_dict(),
            "logged_in_ms": {str(k): v for k, v in self.logged_in_ms.items()},
            "agent_time": self.agent_time,
            "adherence_intervals": self.figures.adherence_intervals(),
            "shrinkage": self.figures.shrinkage(),
            "shift": self.shift,
        }

    @staticmethod
    def parse(data: Any) -> dict[str, Any]:
        """The record as read, if it is a JSON object with a string ``agent_id``."""
        if not isinstance(_object(data).get("agent_id"), str):
            raise BadRecord("field 'agent_id': expected a string")
        return data


@dataclass(frozen=True, slots=True)
class Alert:
    """One ``fw.alerts`` record: an alert of ``floorwatch.domain.alerts`` (``AlertBook``; its
    ``Change.alert``), times in ms.

    ``parse`` accepts any JSON object and returns it: readers take each field for what it is
    (``queries.alert_row``, the retention rules, the alert engines adopting open alerts)."""

    id: str  # alert_id(kind, subject, started_at_ms)
    kind: str
    subject: str
    severity: str  # "warning" | "critical"
    state: str  # "firing" | "resolved"
    started_at_ms: int
    resolved_at_ms: int | None
    acked_by: str | None
    acked_at_ms: int | None
    details: dict[str, Any]

    @classmethod
    def of(cls, alert: dict[str, Any]) -> Self:
        """An ``AlertBook`` alert (a dict with the fields of this class). One the book adopted from
        the topic needs only what the book itself reads (id, kind, subject, severity, state,
        start); a missing resolution or ack reads as None, missing details as ``{}``."""
        return cls(
            alert["id"],
            alert["kind"],
            alert["subject"],
            alert["severity"],
            alert["state"],
            alert["started_at_ms"],
            alert.get("resolved_at_ms"),
            alert.get("acked_by"),
            alert.get("acked_at_ms"),
            alert.get("details", {}),
        )

    def key(self) -> str:
        return self.id

    def to_record(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "subject": self.subject,
            "severity": self.severity,
            "state": self.state,
            "started_at_ms": self.started_at_ms,
            "resolved_at_ms": self.resolved_at_ms,
            "acked_by": self.acked_by,
            "acked_at_ms": self.acked_at_ms,
            "details": self.details,
        }

    @staticmethod
    def parse(data: Any) -> dict[str, Any]:
        """The record as read, if it is a JSON object."""
        return _object(data)


def alert_record(alert: dict[str, Any]) -> dict[str, Any]:
    """The ``fw.alerts`` value of an ``AlertBook`` alert (``Alert.of(alert).to_record()``)."""
    return Alert.of(alert).to_record()


@dataclass(frozen=True, slots=True)
class AlertAck:
    """One ``fw.alert-acks`` record, key the alert id, written by the API on
    ``POST /api/v1/alerts/{id}/ack``. ``parse`` requires ``by`` (a non-empty string) and
    ``at_ms``; ``id`` is kept when it is a string (the key wins: readers use the key)."""

    id: str | None
    by: str
    at_ms: int

    def to_record(self) -> dict[str, Any]:
        return {"id": self.id, "by": self.by, "at_ms": self.at_ms}

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Self:
        by = _str(data, "by")
        at_ms = _ms(data, "at_ms")
        return cls(_loose_str(data, "id"), by, at_ms)


UNKNOWN_REASON = "unknown"  # the reason a dead letter without one is counted under


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One ``fw.dead-letters`` record (key: the source topic): an input record the worker
    could not use. ``raw`` holds at most its first 4 KiB, decoded.

    Readers only count dead letters by reason, so ``parse`` accepts any JSON object: a
    ``reason`` that is not a non-empty string reads as ``UNKNOWN_REASON``, the other fields as
    None unless of their type (the queue-log loader writes ``file`` and ``line`` instead of
    ``partition`` and ``offset``)."""

    reason: str
    error: str | None
    topic: str | None
    partition: int | None
    offset: int | None
    raw: str | None
    at_ms: int | None

    def to_record(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "error": self.error,
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "raw": self.raw,
            "at_ms": self.at_ms,
        }

    @classmethod
    def parse(cls, data: Any) -> Self:
        data = _object(data)
        reason = data.get("reason")
        return cls(
            reason if isinstance(reason, str) and reason else UNKNOWN_REASON,
            _loose_str(data, "error"),
            _loose_str(data, "topic"),
            _loose_int(data, "partition"),
            _loose_int(data, "offset"),
            _loose_str(data, "raw"),
            _loose_int(data, "at_ms"),
        )


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def loads(raw: bytes | None) -> Any:
    return None if raw is None else orjson.loads(raw)
