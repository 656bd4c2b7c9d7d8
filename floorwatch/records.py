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
     sl_formula}, "mixed_rules": bool, "updated_ms": int}

``fw.queue-stats``  key ``"{queue}|{partition}"`` (``queue_key``), class ``QueuePartial``::

    {"queue": str, "partition": int, "waiting": int, "oldest_waiting_ms": int | None,
     "rolling_15m": Counts.as_dict(), "rolling_60m": Counts.as_dict(), "computed_ms": int}

``fw.agent-status``  key ``agent_id``::

    {"agent_id", "name", "team", "queues": [...], "state", "reason", "since_ms",
     "updated_ms"}

``fw.agent-status`` values also carry the real-time adherence view::

    {..., "scheduled_activity": str | None, "in_adherence": bool | None,
     "out_of_adherence_since_ms": int | None, "exception": str | None}

``fw.adherence``  key ``"{agent_id}|{date}"``: ``DayAdherence.as_dict()`` plus::

    {"agent_id", "team", "date", "updated_ms", "scheduled_s", "in_adherence_s", "adherence",
     "work_scheduled_s", "worked_s", "conformance",
     "exceptions": [{"kind", "start_ms", "end_ms" | None, "scheduled", "actual"}],
     "logged_in_ms": {"<interval start ms>": ms logged in during that interval, up to now}}

``fw.alerts``  key alert id (``"{kind}:{subject}:{started_at_ms}"``): the alert record of
``floorwatch.domain.alerts`` (times in ms)::

    {"id", "kind", "subject", "severity": "warning"|"critical", "state": "firing"|"resolved",
     "started_at_ms", "resolved_at_ms", "acked_by", "acked_at_ms", "details": {...}}

``fw.alert-acks``  key alert id: ``{"id", "by", "at_ms"}`` — written by the API on
``POST /api/v1/alerts/{id}/ack``; alert engines and readers merge it into the alert (the
first ack wins; an ack never resolves).

``fw.quality-stats``  first contact resolution and CSAT partials (``kind`` says which: classes
``FcrIntervalPartial``, ``FcrAgentPartial``, ``CsatAgentPartial``, read by ``parse_quality``;
kinds ``FCR_INTERVAL``, ``FCR_AGENT``, ``CSAT_AGENT``; keys ``fcr_interval_key``,
``agent_day_key`` with ``FCR_AGENT_KEY`` / ``CSAT_AGENT_KEY``)::

    key "fcr|{queue}|{start_ms}|{partition}" (partition of fw.customer-contacts):
    {"kind": "fcr_interval", "queue", "start_ms", "partition", "updated_ms",
     "counts": {"customer_contacts", "repeat_contacts", "fcr_eligible", "fcr_resolved"}}
    key "fcr-agent|{agent_id}|{date}|{partition}" (offered date, answering agent):
    {"kind": "fcr_agent", "agent_id", "date", "partition", "updated_ms",
     "fcr_eligible", "fcr_resolved"}
    key "csat-agent|{agent_id}|{date}|{partition}" (partition of fw.contact-events):
    {"kind": "csat_agent", "agent_id", "date", "partition", "updated_ms",
     "surveys", "score_sum", "satisfied"}

``fw.customer-contacts`` (internal, not compacted)  one record per contact batch and customer
partition (``floorwatch.domain.fcr.partition_for``), key = that partition number::

    {"items": [[hashed customer, contact_id, {"o", "q", "p", "a", "r"} | None], ...]}
    (floorwatch.domain.fcr.projection; None: the contact left this customer)

``fw.worker-status``  key = worker id (``"{hostname}:{pid}"``); one record at least every
second from each running worker, a ``null`` value (tombstone) when it stops cleanly; class
``WorkerHeartbeat`` (``worker_heartbeat`` gives the value)::

    {"worker_id": str, "at_ms": int (the worker's clock when it wrote the record),
     "started_ms": int, "partitions": {input topic: [owned partition, ...]},
     "rebalancing": bool, "recovering": bool}

``fw.dead-letters``  key = source topic::

    {"reason": str, "error": str, "topic": str, "partition": int, "offset": int,
     "raw": str (first 4 KiB), "at_ms": int}

Times are epoch milliseconds; readers reject one outside 1970..9999 (``MAX_MS``). The API keeps
``fw.agent-status``, ``fw.adherence``, ``fw.alerts``, ``fw.alert-acks`` and ``fw.dead-letters``
as plain objects (no class here). ``fw.forecasts`` is an input topic (``forecast.published``
events of ``floorwatch.events``); ``Forecast`` is what readers keep of one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date as Date
from typing import Any, ClassVar, Self, overload

import orjson

from floorwatch.domain.queue_metrics import Counts
from floorwatch.events import DEFAULT_LIMITS, EventError, EventLimits, ForecastPublished, parse_event, to_ms


def interval_key(queue: str, start_ms: int, partition: int) -> str:
    return f"{queue}|{start_ms}|{partition}"


def queue_key(queue: str, partition: int) -> str:
    return f"{queue}|{partition}"


def fcr_interval_key(queue: str, start_ms: int, partition: int) -> str:
    return f"{FCR_INTERVAL_KEY}|{queue}|{start_ms}|{partition}"


def agent_day_key(kind: str, agent_id: str, day: str, partition: int) -> str:
    """``kind`` is ``FCR_AGENT_KEY`` (``fcr-agent``) or ``CSAT_AGENT_KEY`` (``csat-agent``)."""
    return f"{kind}|{agent_id}|{day}|{partition}"


# -- kinds and key prefixes -----------------------------------------------------------------

FCR_INTERVAL = "fcr_interval"  # fw.quality-stats "kind" of a queue-interval FCR partial
FCR_AGENT = "fcr_agent"  # ... of an agent-day FCR partial
CSAT_AGENT = "csat_agent"  # ... of an agent-day CSAT partial
QUALITY_KINDS = (FCR_INTERVAL, FCR_AGENT, CSAT_AGENT)
FCR_INTERVAL_KEY = "fcr"  # key prefix of FCR_INTERVAL records (``fcr_interval_key``)
FCR_AGENT_KEY = "fcr-agent"  # key prefix of FCR_AGENT records (``agent_day_key``)
CSAT_AGENT_KEY = "csat-agent"  # key prefix of CSAT_AGENT records

MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: beyond it no date can be printed
MAX_HEARTBEAT_TOPICS = 16  # owned-partition lists per heartbeat (a worker consumes five topics)
MAX_HEARTBEAT_PARTITIONS = 10_000  # partitions listed per topic
MAX_WORKER_ID = 256  # characters of a worker id

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


@dataclass(slots=True)
class IntervalPartial:
    """One ``fw.interval-stats`` record: one source partition's counts of a (queue, interval).

    ``parse`` requires ``queue`` and ``start_ms``; ``end_ms``, ``partition`` and ``updated_ms``
    may be missing (None); ``rules`` that is not an object reads as None."""

    queue: str
    start_ms: int
    end_ms: int | None
    partition: int | None
    counts: Counts
    rules: dict[str, Any] | None  # QueueRules.as_dict()
    mixed_rules: bool
    updated_ms: int | None

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
            "updated_ms": self.updated_ms,
        }

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Self:
        rules = data.get("rules")
        return cls(
            queue=_str(data, "queue"),
            start_ms=_ms(data, "start_ms"),
            end_ms=_ms(data, "end_ms", optional=True),
            partition=_int(data, "partition", optional=True),
            counts=parse_counts(data.get("counts")),
            rules=rules if isinstance(rules, dict) else None,
            mixed_rules=bool(data.get("mixed_rules", False)),
            updated_ms=_ms(data, "updated_ms", optional=True),
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


QualityRecord = FcrIntervalPartial | FcrAgentPartial | CsatAgentPartial
_QUALITY_CLASSES: dict[str, type[FcrIntervalPartial] | type[FcrAgentPartial] | type[CsatAgentPartial]] = {
    FCR_INTERVAL: FcrIntervalPartial,
    FCR_AGENT: FcrAgentPartial,
    CSAT_AGENT: CsatAgentPartial,
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

    kind: str  # FCR_INTERVAL | FCR_AGENT | CSAT_AGENT
    subject: str  # queue, or agent id
    start_ms: int | None  # FCR_INTERVAL
    date: str | None  # FCR_AGENT, CSAT_AGENT
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
    only when they are ``true``; ``started_ms`` is not checked (kept when it is an integer)."""

    worker_id: str
    at_ms: int  # the worker's clock when it wrote the record
    partitions: dict[str, frozenset[int]]  # consumed topic -> partitions it owns
    rebalancing: bool
    recovering: bool
    started_ms: int | None = None

    def to_record(self) -> dict[str, Any]:
        """Owned partitions sorted, topics sorted."""
        return {
            "worker_id": self.worker_id,
            "at_ms": self.at_ms,
            "started_ms": self.started_ms,
            "partitions": {t: sorted(ps) for t, ps in sorted(self.partitions.items())},
            "rebalancing": self.rebalancing,
            "recovering": self.recovering,
        }

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
        )


def worker_heartbeat(
    worker_id: str,
    at_ms: int,
    started_ms: int,
    partitions: dict[str, Iterable[int]],
    *,
    rebalancing: bool,
    recovering: bool,
) -> dict[str, Any]:
    """The ``fw.worker-status`` value of one heartbeat (``WorkerHeartbeat.to_record``)."""
    owned = {t: frozenset(ps) for t, ps in partitions.items()}
    return WorkerHeartbeat(worker_id, at_ms, owned, rebalancing, recovering, started_ms).to_record()


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


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def loads(raw: bytes | None) -> Any:
    return None if raw is None else orjson.loads(raw)
