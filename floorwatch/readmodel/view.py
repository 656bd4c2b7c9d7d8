"""The API's materialized view of the worker output topics, and the Kafka loader that fills it.

``View`` keeps the last value of every record of ``fw.interval-stats``, ``fw.queue-stats`` and
``fw.agent-status`` (and, raw, ``fw.adherence``, ``fw.alerts`` and ``fw.alert-acks``; of
``fw.dead-letters`` only a count per reason, for ``/metrics``; of ``fw.worker-status`` the last
heartbeat per worker, for ``/readyz``, the wallboard badge and ``/metrics``), keyed
exactly as in ``floorwatch.records``; a ``null`` value deletes the key. ``fw.adherence`` records
are also indexed by their local date; of ``fw.forecasts`` (a raw input topic, validated with
``parse_event``) the latest ``(ts, event_id)`` publication per ``(queue, date)``; of two acks
of one alert the first (earliest ``at_ms``) is kept, whatever the order they are read in.
Partials are parsed once, when they arrive, so queries only add numbers. Bad records are
counted and skipped, never raised.
``View.expire`` drops what ``retention_days`` no longer keeps (``floorwatch.domain.retention``),
and an alert's tombstone drops its ack too.

``KafkaViewLoader`` reads those topics from the beginning, forever, with no consumer group,
and reports readiness by comparing each partition's position with the high watermark of the
fetch responses (``consumer.highwater(tp)``), never with ``end_offsets()``: Tansu answers
ListOffsets with the base offset of the last batch + 1 (see docs/ and the Tansu reference).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from floorwatch import records, topics
from floorwatch.domain.queue_metrics import Counts
from floorwatch.domain.retention import SLICE_SIZE, Horizon, ack_expired, alert_expired, status_expired
from floorwatch.events import DEFAULT_LIMITS, EventLimits

# the records of the output topics are defined (and parsed) in floorwatch.records
from floorwatch.records import (
    FCR_INTERVAL,
    Adherence,
    AgentHandlePartial,
    AgentStatus,
    Alert,
    AlertAck,
    BadRecord,
    DeadLetter,
    Forecast,
    IntervalPartial,
    QualityPartial,
    QueuePartial,
    WorkerHeartbeat,
    parse_quality,
)

log = logging.getLogger(__name__)

UTC = ZoneInfo("UTC")

# -- worker heartbeats (fw.worker-status) --------------------------------------------------

MAX_WORKERS = 256  # heartbeats kept, one per worker; a new worker beyond drops the oldest (counted)
WORKER_RETENTION_MS = 3_600_000  # a worker silent this long is forgotten (a crashed one leaves its key)
HEARTBEAT_FUTURE_MS = 60_000  # a heartbeat dated further ahead of the API's clock is not believed


@dataclass(frozen=True, slots=True)
class WorkerFreshness:
    """What the view knows of the workers at an instant (``View.worker_freshness``)."""

    age_ms: int | None  # now - the newest heartbeat read (None: none read yet), at least 0
    reporting: int  # workers whose heartbeat is at most ``stale_after_ms`` old
    settling: tuple[str, ...]  # of those, the ones rebalancing or recovering their tables
    unowned: dict[str, list[int]]  # consumed topic -> partitions no such worker owns


# distinct dead-letter reasons counted (the worker and the connectors use about twenty)
MAX_DEAD_LETTER_REASONS = 64


class View:
    """Last value per key of the output topics, with per-queue indexes for the queries."""

    def __init__(
        self,
        limits: EventLimits = DEFAULT_LIMITS,
        *,
        tz: ZoneInfo = UTC,
        retention_days: int | None = None,
        intervals_from_ms: Callable[[], int] | None = None,
    ) -> None:
        # forecasts come from a raw input topic: checked against the contract's limits, so one
        # published before a cap existed (offered 1e9) is a bad record, not a staffing load
        self.limits = limits
        # ``expire`` drops what is older than this (None: the limits' retention_days), with
        # local dates in ``tz``
        self.tz = tz
        self.retention_days = limits.retention_days if retention_days is None else retention_days
        # a view that needs only recent intervals (the worker's alert view): interval partials
        # starting before this instant are not kept (applied as their tombstone) and ``expire``
        # drops those that fall behind it
        self.intervals_from_ms = intervals_from_ms
        self.expired: dict[str, int] = {}  # topic -> records dropped by ``expire`` (age, or alert gone)
        # keyed exactly as floorwatch.records
        self.intervals: dict[str, IntervalPartial] = {}  # "{queue}|{start_ms}|{partition}"
        self.queue_stats: dict[str, QueuePartial] = {}  # "{queue}|{partition}"
        self.agents: dict[str, dict[str, Any]] = {}  # agent_id -> fw.agent-status record
        self.adherence: dict[str, Any] = {}  # raw, for the adherence endpoints
        self.alerts: dict[str, Any] = {}  # raw, for the alert endpoints
        self.alert_acks: dict[str, dict[str, Any]] = {}  # alert id -> {"id", "by", "at_ms"}
        self.dead_letters: dict[str, int] = {}  # reason -> fw.dead-letters records read (for /metrics)
        self.forecasts: dict[tuple[str, str], Forecast] = {}  # (queue, date) -> latest publication
        self.workers: dict[str, WorkerHeartbeat] = {}  # worker id -> last heartbeat (<= MAX_WORKERS)
        self.heartbeat_gone_ms: int | None = None  # newest at_ms of heartbeats no longer in ``workers``
        self.workers_cut = 0  # heartbeats dropped because ``workers`` was full
        # indexes
        self.buckets: dict[str, dict[int, dict[str, IntervalPartial]]] = {}  # queue -> start -> key -> p
        self.starts: dict[str, list[int]] = {}  # queue -> sorted starts present in buckets
        self.queue_parts: dict[str, dict[str, QueuePartial]] = {}  # queue -> key -> partial
        self.updated_ms: dict[str, int] = {}  # queue -> latest updated_ms/computed_ms seen
        self.adherence_days: dict[str, dict[str, Any]] = {}  # "YYYY-MM-DD" -> key -> fw.adherence record
        self.quality: dict[str, QualityPartial] = {}  # fw.quality-stats key -> partial
        self.fcr_parts: dict[tuple[str, int], dict[str, Counts]] = {}  # (queue, start) -> key -> counts
        self.agent_quality: dict[str, dict[str, dict[str, Counts]]] = {}  # date -> agent -> key -> counts
        # agent_handle partials: date -> agent -> key -> {offered interval start: [8 ints]}
        self.agent_handle: dict[str, dict[str, dict[str, dict[int, list[int]]]]] = {}
        self.agent_handle_keys: dict[str, tuple[str, str]] = {}  # fw.quality-stats key -> (date, agent)
        # bookkeeping
        self.version = 0  # +1 per applied change (cheap "did anything change?" for pushers)
        self.applied = 0
        self.bad_records = 0
        self.listeners: list[Callable[[str, str], None]] = []  # called with (topic, key)

    # -- writes -------------------------------------------------------------------------

    def apply(self, topic: str, key: bytes | str | None, value: bytes | None) -> bool:
        """Apply one record; ``value=None`` deletes ``key``. Returns False for a bad record."""
        try:
            skey = key.decode("utf-8", "replace") if isinstance(key, bytes) else key
            data = None if value is None else orjson.loads(value)
            if data is not None and not isinstance(data, dict):
                raise BadRecord("value is not a JSON object")
            if topic == topics.WORKER_STATUS:  # liveness only: no version bump, no listeners
                self._apply_heartbeat(skey, data)
                self.applied += 1
                return True
            if topic == topics.DEAD_LETTERS:  # a count only: no version bump, no listeners
                if data is not None:
                    reason = DeadLetter.parse(data).reason
                    if reason not in self.dead_letters and len(self.dead_letters) >= MAX_DEAD_LETTER_REASONS:
                        reason = "other"  # a label set of /metrics: bounded whatever the topic holds
                    self.dead_letters[reason] = self.dead_letters.get(reason, 0) + 1
                self.applied += 1
                return True
            if topic == topics.INTERVAL_STATS:
                skey = self._apply_interval(skey, data)
            elif topic == topics.QUEUE_STATS:
                skey = self._apply_queue(skey, data)
            elif topic == topics.AGENT_STATUS:
                skey = self._apply_raw(self.agents, skey, None if data is None else AgentStatus.parse(data), "agent_id")
            elif topic == topics.ADHERENCE:
                skey = self._apply_adherence(skey, data)
            elif topic == topics.ALERTS:
                skey = self._apply_raw(self.alerts, skey, None if data is None else Alert.parse(data), "id")
                if data is None and self.alert_acks.pop(skey, None) is not None:
                    self._count_expired(topics.ALERT_ACKS)  # the ack of a deleted alert goes with it
            elif topic == topics.ALERT_ACKS:
                skey = self._apply_ack(skey, data)
            elif topic == topics.QUALITY_STATS:
                skey = self._apply_quality(skey, data)
            elif topic == topics.FORECASTS:
                applied = self._apply_forecast(data)
                if applied is None:  # an older (or the same) publication: nothing changed
                    self.applied += 1
                    return True
                skey = applied
            else:
                return False
        except (BadRecord, orjson.JSONDecodeError, TypeError, ValueError) as exc:
            self.bad_records += 1
            log.warning("skipping bad record on %s key=%r: %s", topic, key, exc)
            return False
        self.applied += 1
        self.version += 1
        for listener in self.listeners:
            try:
                listener(topic, skey)
            except Exception:  # a listener never breaks the loader
                log.exception("view listener failed")
        return True

    def _touch(self, queue: str, ms: int | None) -> None:
        if ms is not None and ms > self.updated_ms.get(queue, -1):
            self.updated_ms[queue] = ms

    def _apply_interval(self, key: str | None, data: dict[str, Any] | None) -> str:
        new = IntervalPartial.parse(data) if data is not None else None
        if new is not None and self.intervals_from_ms is not None and new.start_ms < self.intervals_from_ms():
            key = key if key is not None else records.interval_key(new.queue, new.start_ms, new.partition or 0)
            new = None  # older than this view keeps: as its tombstone
        if key is None:
            if new is None:
                raise BadRecord("tombstone without a key")
            key = records.interval_key(new.queue, new.start_ms, new.partition or 0)
        old = self.intervals.pop(key, None)
        if old is not None and new is not None and (old.queue, old.start_ms) == (new.queue, new.start_ms):
            old = None
            self.buckets[new.queue][new.start_ms].pop(key, None)  # replaced in place below
        if old is not None:
            starts = self.buckets.get(old.queue, {})
            parts = starts.get(old.start_ms, {})
            parts.pop(key, None)
            if not parts and starts.pop(old.start_ms, None) is not None:
                ordered = self.starts[old.queue]
                del ordered[bisect.bisect_left(ordered, old.start_ms)]
        if new is not None:
            self.intervals[key] = new
            starts = self.buckets.setdefault(new.queue, {})
            new_parts = starts.get(new.start_ms)
            if new_parts is None:
                new_parts = starts[new.start_ms] = {}
                bisect.insort(self.starts.setdefault(new.queue, []), new.start_ms)
            new_parts[key] = new
            self._touch(new.queue, new.updated_ms)
        return key

    def _apply_queue(self, key: str | None, data: dict[str, Any] | None) -> str:
        new = QueuePartial.parse(data) if data is not None else None
        if key is None:
            if new is None:
                raise BadRecord("tombstone without a key")
            key = records.queue_key(new.queue, new.partition or 0)
        old = self.queue_stats.pop(key, None)
        if old is not None:
            self.queue_parts.get(old.queue, {}).pop(key, None)
        if new is not None:
            self.queue_stats[key] = new
            self.queue_parts.setdefault(new.queue, {})[key] = new
            self._touch(new.queue, new.computed_ms)
        return key

    @staticmethod
    def _adherence_date(key: str, data: dict[str, Any] | None) -> str:
        found = data.get("date") if data is not None else None
        if isinstance(found, str) and found:
            return found
        return key.rpartition("|")[2]

    def _apply_adherence(self, key: str | None, data: dict[str, Any] | None) -> str:
        if data is not None:
            data = Adherence.parse(data)
        if key is None:
            if data is None:
                raise BadRecord("tombstone without a key")
            key = f"{data['agent_id']}|{self._adherence_date('', data)}"
        old = self.adherence.pop(key, None)
        if old is not None:
            day = self._adherence_date(key, old)
            bucket = self.adherence_days.get(day, {})
            bucket.pop(key, None)
            if not bucket:
                self.adherence_days.pop(day, None)
        if data is not None:
            self.adherence[key] = data
            self.adherence_days.setdefault(self._adherence_date(key, data), {})[key] = data
        return key

    def _apply_quality(self, key: str | None, data: dict[str, Any] | None) -> str:
        if not key:
            raise BadRecord("quality record without a key")
        record = parse_quality(data) if data is not None else None
        handle = record if isinstance(record, AgentHandlePartial) else None
        new = QualityPartial.of(record) if record is not None and handle is None else None
        gone = self.agent_handle_keys.pop(key, None)
        if gone is not None:  # an agent_handle partial replaced or deleted
            day, agent = gone
            agents_of_day = self.agent_handle.get(day, {})
            parts_of_agent = agents_of_day.get(agent, {})
            parts_of_agent.pop(key, None)
            if not parts_of_agent:
                agents_of_day.pop(agent, None)
            if not agents_of_day:
                self.agent_handle.pop(day, None)
        if handle is not None:
            self.agent_handle_keys[key] = (handle.date, handle.agent_id)
            self.agent_handle.setdefault(handle.date, {}).setdefault(handle.agent_id, {})[key] = handle.intervals
        old = self.quality.pop(key, None)
        if old is not None:
            if old.kind == FCR_INTERVAL:
                slot = (old.subject, old.start_ms or 0)
                parts = self.fcr_parts.get(slot, {})
                parts.pop(key, None)
                if not parts:
                    self.fcr_parts.pop(slot, None)
            else:
                agents = self.agent_quality.get(old.date or "", {})
                parts = agents.get(old.subject, {})
                parts.pop(key, None)
                if not parts:
                    agents.pop(old.subject, None)
                if not agents:
                    self.agent_quality.pop(old.date or "", None)
        if new is not None:
            self.quality[key] = new
            if new.kind == FCR_INTERVAL:
                self.fcr_parts.setdefault((new.subject, new.start_ms or 0), {})[key] = new.counts
            else:
                self.agent_quality.setdefault(new.date or "", {}).setdefault(new.subject, {})[key] = new.counts
        return key

    def _apply_heartbeat(self, key: str | None, data: dict[str, Any] | None) -> None:
        """Keep the last heartbeat per worker; a tombstone forgets the worker (its time is kept
        in ``heartbeat_gone_ms``, so the age of the newest heartbeat keeps growing)."""
        beat = WorkerHeartbeat.parse(data) if data is not None else None
        key = key or (beat.worker_id if beat is not None else None)
        if not key:
            raise BadRecord("worker heartbeat without a worker id")
        if beat is None:
            self._forget_worker(key)
            return
        if key not in self.workers and len(self.workers) >= MAX_WORKERS:
            oldest = min(self.workers, key=lambda k: self.workers[k].at_ms)  # O(MAX_WORKERS), only when full
            self._forget_worker(oldest)
            self.workers_cut += 1
        self.workers[key] = beat

    def _forget_worker(self, key: str) -> None:
        gone = self.workers.pop(key, None)
        if gone is not None and (self.heartbeat_gone_ms is None or gone.at_ms > self.heartbeat_gone_ms):
            self.heartbeat_gone_ms = gone.at_ms

    def worker_freshness(
        self, now_ms: int, stale_after_ms: int, partitions: dict[str, int] | None = None
    ) -> WorkerFreshness:
        """The workers at ``now_ms``: age of the newest heartbeat, workers reporting (heartbeat at
        most ``stale_after_ms`` old), those of them settling (rebalancing or recovering), and the
        partitions of ``partitions`` (topic -> partition count) none of them owns. Forgets
        workers silent for ``WORKER_RETENTION_MS``; a heartbeat dated more than
        ``HEARTBEAT_FUTURE_MS`` after ``now_ms`` (a wrong worker clock) counts for nothing."""
        horizon = now_ms + HEARTBEAT_FUTURE_MS
        for key in [k for k, b in self.workers.items() if b.at_ms < now_ms - WORKER_RETENTION_MS]:
            self._forget_worker(key)
        gone = self.heartbeat_gone_ms
        newest = gone if gone is not None and gone <= horizon else None
        fresh: list[WorkerHeartbeat] = []
        for beat in self.workers.values():
            if beat.at_ms > horizon:
                continue
            if newest is None or beat.at_ms > newest:
                newest = beat.at_ms
            if now_ms - beat.at_ms <= stale_after_ms:
                fresh.append(beat)
        unowned: dict[str, list[int]] = {}
        for topic, count in (partitions or {}).items():
            owned: set[int] = set()
            for beat in fresh:
                owned |= beat.partitions.get(topic, frozenset())
            missing = [p for p in range(count) if p not in owned]
            if missing:
                unowned[topic] = missing
        return WorkerFreshness(
            age_ms=None if newest is None else max(0, now_ms - newest),
            reporting=len(fresh),
            settling=tuple(sorted(b.worker_id for b in fresh if b.rebalancing or b.recovering)),
            unowned=unowned,
        )

    def _apply_ack(self, key: str | None, data: dict[str, Any] | None) -> str:
        """``{"id", "by", "at_ms"}``; the first ack (smallest ``(at_ms, by)``) of an alert wins."""
        ack = AlertAck.parse(data) if data is not None else None
        key = key or (ack.id if ack is not None else None)
        if not key:
            raise BadRecord("ack without an alert id")
        if ack is None:
            self.alert_acks.pop(key, None)
            return key
        old = self.alert_acks.get(key)
        if old is None or (ack.at_ms, ack.by) < (old["at_ms"], old["by"]):
            self.alert_acks[key] = AlertAck(key, ack.by, ack.at_ms).to_record()
        return key

    def _apply_forecast(self, data: dict[str, Any] | None) -> str | None:
        """Keep the latest ``(ts, event_id)`` publication per (queue, date); key ``queue|date``.

        A raw input topic: anything that is not a valid ``forecast.published`` is a bad record
        (the worker dead-letters it too). Returns ``None`` when the publication does not win.
        """
        if data is None:
            return None  # not a compacted topic: a null value means nothing
        forecast = Forecast.parse(data, self.limits)
        slot = (forecast.queue, forecast.date)
        old = self.forecasts.get(slot)
        if old is not None and (forecast.ts_ms, forecast.event_id) <= (old.ts_ms, old.event_id):
            return None
        self.forecasts[slot] = forecast
        return f"{forecast.queue}|{forecast.date}"

    @staticmethod
    def _apply_raw(table: dict[str, Any], key: str | None, data: dict[str, Any] | None, id_field: str | None) -> str:
        if key is None:
            found = data.get(id_field) if (data is not None and id_field) else None
            if not isinstance(found, str):
                raise BadRecord("record without a key")
            key = found
        if data is None:
            table.pop(key, None)
        else:
            table[key] = data
        return key

    # -- expiry -------------------------------------------------------------------------

    def expire(
        self, now_ms: int, *, slice_size: int = SLICE_SIZE, dropped: Callable[[str, str], None] | None = None
    ) -> Iterator[None]:
        """Drop what ``retention_days`` no longer keeps (floorwatch.domain.retention), as a
        tombstone would; a generator that yields after each slice of ``slice_size`` keys, so a
        caller on an event loop can give it a turn (``drain`` runs it through).

        Dropped: interval partials starting before the cutoff; queue partials not computed
        since it; agent status not updated since it; FCR interval partials before it and
        agent quality partials (FCR, CSAT, handle rows) of dates before the oldest kept day;
        adherence records of those dates; forecasts of those dates; resolved alerts resolved
        before the cutoff, each with its ack; acks of no alert made before the cutoff. Firing
        alerts stay. ``dropped`` is called with ``(topic, key)`` of each (the leader tombstones
        alerts and acks with it).
        """
        h = Horizon.at(now_ms, self.tz, self.retention_days)

        def drop(topic: str, key: str) -> None:
            self._drop(topic, key)
            if dropped is not None:
                dropped(topic, key)

        def sliced(topic: str, keys: list[Any], check: Callable[[Any], bool]) -> Iterator[None]:
            for start in range(0, len(keys), slice_size):
                for key in keys[start : start + slice_size]:
                    if check(key):
                        drop(topic, key)
                        if topic == topics.ALERTS and key in self.alert_acks:
                            drop(topics.ALERT_ACKS, key)
                yield

        def still(table: dict[Any, Any], expired: Callable[[Any], bool]) -> Callable[[Any], bool]:
            """Read the record when its slice comes: the loader may have replaced it."""
            return lambda key: (rec := table.get(key)) is not None and expired(rec)

        intervals_cutoff_ms = h.cutoff_ms
        if self.intervals_from_ms is not None:
            intervals_cutoff_ms = max(intervals_cutoff_ms, self.intervals_from_ms())
        old_starts = [
            key
            for queue, ordered in self.starts.items()
            for start in ordered[: bisect.bisect_left(ordered, intervals_cutoff_ms)]
            for key in self.buckets.get(queue, {}).get(start, {})
        ]
        yield from sliced(
            topics.INTERVAL_STATS, old_starts, still(self.intervals, lambda p: p.start_ms < intervals_cutoff_ms)
        )
        yield from sliced(
            topics.QUEUE_STATS,
            list(self.queue_stats),
            still(self.queue_stats, lambda p: h.instant_expired(p.computed_ms)),
        )
        yield from sliced(topics.AGENT_STATUS, list(self.agents), still(self.agents, lambda r: status_expired(r, h)))
        yield from sliced(
            topics.QUALITY_STATS,
            list(self.quality),
            still(
                self.quality,
                lambda q: h.instant_expired(q.start_ms) if q.kind == FCR_INTERVAL else h.day_expired(q.date),
            ),
        )
        yield from sliced(
            topics.QUALITY_STATS,
            [
                key
                for day, agents in self.agent_handle.items()
                if h.day_expired(day)
                for a in agents.values()
                for key in a
            ],
            lambda key: (found := self.agent_handle_keys.get(key)) is not None and h.day_expired(found[0]),
        )
        yield from sliced(topics.ALERTS, list(self.alerts), still(self.alerts, lambda a: alert_expired(a, h)))
        yield from sliced(
            topics.ALERT_ACKS,
            list(self.alert_acks),
            lambda key: (ack := self.alert_acks.get(key)) is not None and ack_expired(ack, key in self.alerts, h),
        )
        old_days = [key for day, rows in self.adherence_days.items() if h.day_expired(day) for key in rows]
        yield from sliced(
            topics.ADHERENCE,
            old_days,
            lambda key: (rec := self.adherence.get(key)) is not None and h.day_expired(self._adherence_date(key, rec)),
        )
        yield from sliced(
            topics.FORECASTS,
            [f"{q}|{d}" for q, d in self.forecasts if h.day_expired(d)],
            lambda key: tuple(key.rsplit("|", 1)) in self.forecasts,
        )
        for queue in [q for q, starts in self.buckets.items() if not starts]:
            del self.buckets[queue]
        for queue in [q for q, ordered in self.starts.items() if not ordered]:
            del self.starts[queue]
        for queue in [q for q, parts in self.queue_parts.items() if not parts]:
            del self.queue_parts[queue]
        for queue in [q for q in self.updated_ms if q not in self.buckets and q not in self.queue_parts]:
            del self.updated_ms[queue]

    def _count_expired(self, topic: str) -> None:
        self.expired[topic] = self.expired.get(topic, 0) + 1

    def _drop(self, topic: str, key: str) -> None:
        """Forget one record as its tombstone would (indexes, version, listeners), counted."""
        if topic == topics.INTERVAL_STATS:
            self._apply_interval(key, None)
        elif topic == topics.QUEUE_STATS:
            self._apply_queue(key, None)
        elif topic == topics.AGENT_STATUS:
            self.agents.pop(key, None)
        elif topic == topics.QUALITY_STATS:
            self._apply_quality(key, None)
        elif topic == topics.ALERTS:
            self.alerts.pop(key, None)
        elif topic == topics.ALERT_ACKS:
            self.alert_acks.pop(key, None)
        elif topic == topics.ADHERENCE:
            self._apply_adherence(key, None)
        elif topic == topics.FORECASTS:
            queue, _, day = key.rpartition("|")
            self.forecasts.pop((queue, day), None)
        self._count_expired(topic)
        self.version += 1
        for listener in self.listeners:
            try:
                listener(topic, key)
            except Exception:  # a listener never breaks the sweep
                log.exception("view listener failed")

    # -- reads --------------------------------------------------------------------------

    def queue_ids(self) -> set[str]:
        """Queues seen in interval or queue partials."""
        return {q for q, starts in self.buckets.items() if starts} | {
            q for q, parts in self.queue_parts.items() if parts
        }

    def interval_partials(self, queue: str, start_ms: int) -> list[IntervalPartial]:
        return list(self.buckets.get(queue, {}).get(start_ms, {}).values())

    def interval_counts(self, queue: str, start_ms: int) -> list[Counts]:
        """Every partial's counts of a (queue, interval): contact figures and FCR."""
        found = [p.counts for p in self.buckets.get(queue, {}).get(start_ms, {}).values()]
        fcr = self.fcr_parts.get((queue, start_ms))
        if fcr:
            found.extend(fcr.values())
        return found

    def interval_starts(self, queue: str, lo_ms: int, hi_ms: int) -> list[int]:
        """Interval starts of ``queue`` with a partial, in ``[lo_ms, hi_ms)``, sorted."""
        ordered = self.starts.get(queue, [])
        return ordered[bisect.bisect_left(ordered, lo_ms) : bisect.bisect_left(ordered, hi_ms)]

    def latest_start(self, queue: str) -> int | None:
        ordered = self.starts.get(queue)
        return ordered[-1] if ordered else None

    def queue_partials(self, queue: str) -> list[QueuePartial]:
        return list(self.queue_parts.get(queue, {}).values())


EXPIRE_EVERY_S = 600.0  # the API's view drops what retention no longer keeps this often


async def expire_sliced(view: View, now_ms: int, dropped: Callable[[str, str], None] | None = None) -> dict[str, int]:
    """Run ``view.expire`` on an event loop, giving it a turn after each slice; returns the
    records dropped by topic."""
    before = dict(view.expired)
    for _ in view.expire(now_ms, dropped=dropped):
        await asyncio.sleep(0)
    return {t: n - before.get(t, 0) for t, n in view.expired.items() if n != before.get(t, 0)}


async def expire_periodically(
    view: View, clock_ms: Callable[[], int], ready: Callable[[], bool], every_s: float = EXPIRE_EVERY_S
) -> None:
    """Every ``every_s``, once the view has caught up (``ready``: an ack read before its alert
    is not an orphan), drop what retention no longer keeps. Cancel the task to stop."""
    while True:
        await asyncio.sleep(every_s)
        try:
            if not ready():
                continue
            started = time.monotonic()
            dropped = await expire_sliced(view, clock_ms())
            if dropped:
                log.info("view retention: dropped %s in %.2f s", dropped, time.monotonic() - started)
        except Exception:  # a bad record must not end the sweeps
            log.exception("view retention sweep failed")


# --------------------------------------------------------------------------------------
# Kafka loader

CLOSE_TIMEOUT_S = 10.0  # the view loader waits this long for its consumer to stop before reconnecting

VIEW_TOPICS_REQUIRED = (topics.INTERVAL_STATS, topics.QUEUE_STATS, topics.AGENT_STATUS)
VIEW_TOPICS_OPTIONAL = (
    topics.ADHERENCE,
    topics.ALERTS,
    topics.ALERT_ACKS,
    topics.DEAD_LETTERS,
    topics.FORECASTS,
    topics.QUALITY_STATS,
    topics.WORKER_STATUS,
)


async def _fresh_metadata(consumer: Any) -> Callable[[str], set[int] | None]:
    """``partitions_for_topic`` on metadata fetched now, topics created after start included.

    ``AIOKafkaConsumer.topics()`` fetches the whole cluster metadata but does not store it,
    and ``partitions_for_topic`` only knows topics the client already tracks, so a topic created
    after start would never show up; the client's ``fetch_all_metadata()`` returns the fresh
    cluster view (aiokafka is pinned in pyproject). Test doubles provide the public pair.
    """
    client = getattr(consumer, "_client", None)
    fetch = getattr(client, "fetch_all_metadata", None)
    if fetch is not None:
        cluster = await fetch()
        return cluster.partitions_for_topic
    await consumer.topics()
    return consumer.partitions_for_topic


@dataclass(slots=True)
class _Lag:
    position: int | None
    highwater: int | None

    @property
    def caught_up(self) -> bool:
        return self.position is not None and self.highwater is not None and self.position >= self.highwater


class KafkaViewLoader:
    """Reads the output topics into a ``View`` forever; knows whether it has caught up.

    Readiness: every assigned partition has had a fetch response and its position is at or
    past that response's high watermark (an empty partition, highwater 0 and position 0, is
    caught up). Once caught up the loader stays ready while fetch responses keep arriving
    (live lag under load does not flip readiness); it is not ready while the required topics
    do not exist, while the broker is unreachable, or when no fetch response has arrived for
    ``stale_after_s``.
    """

    def __init__(
        self,
        bootstrap: str,
        view: View,
        *,
        required: tuple[str, ...] = VIEW_TOPICS_REQUIRED,
        optional: tuple[str, ...] = VIEW_TOPICS_OPTIONAL,
        retry_s: float = 1.0,
        metadata_refresh_s: float = 10.0,
        stale_after_s: float = 15.0,
        max_records: int = 10_000,
        fetch_max_wait_ms: int = 500,
        consumer_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.view = view
        self.required = required
        self.optional = optional
        self.retry_s = retry_s
        self.metadata_refresh_s = metadata_refresh_s
        self.stale_after_s = stale_after_s
        self.max_records = max_records
        self._consumer_factory = consumer_factory or self._default_consumer
        self._consumer: Any = None
        self._lag: dict[Any, _Lag] = {}
        self._caught_up = False
        self._state = "starting"
        self._error: str | None = None
        self._last_fetch = 0.0  # monotonic time at which a newer fetch response was seen
        self._last_poll_ms = -1  # newest consumer.last_poll_timestamp() seen
        self._positions: dict[Any, int] = {}  # next offset per partition, kept across reconnects
        self._stopping = False

    def _default_consumer(self) -> Any:
        from aiokafka import AIOKafkaConsumer

        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id="floorwatch-api-view",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
        )

    # -- status -------------------------------------------------------------------------

    @property
    def ready(self) -> bool:
        fresh = time.monotonic() - self._last_fetch < self.stale_after_s
        return self._caught_up and self._state == "consuming" and fresh

    def status(self) -> dict[str, Any]:
        """``{"ready": bool, "lag": {topic: records behind | None}, "state": ..., "error": ...}``."""
        by_topic: dict[str, int | None] = {}
        for tp, lag in self._lag.items():
            if lag.caught_up:
                by_topic.setdefault(tp.topic, 0)
                continue
            behind = None if lag.position is None or lag.highwater is None else lag.highwater - lag.position
            current = by_topic.get(tp.topic, 0)
            by_topic[tp.topic] = None if (behind is None or current is None) else current + behind
        out: dict[str, Any] = {"ready": self.ready, "lag": by_topic, "state": self._state}
        if self._error:
            out["error"] = self._error
        return out

    # -- loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Consume forever; reconnect after any error. Cancel the task to stop."""
        while not self._stopping:
            try:
                await self._run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure is shown on /readyz and retried
                self._state = "retrying"
                self._error = f"{type(exc).__name__}: {exc}"
                self._caught_up = False
                log.warning("view loader: %s; retrying in %.1fs", self._error, self.retry_s)
            finally:
                await self._close()
            if not self._stopping:
                await asyncio.sleep(self.retry_s)

    async def stop(self) -> None:
        self._stopping = True
        await self._close()

    async def _close(self) -> None:
        """Stop the consumer, giving up after ``CLOSE_TIMEOUT_S``: a consumer whose broker
        connection died while the process was paused could wait in ``stop`` forever, and the
        loader would never reconnect."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):  # TimeoutError included
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await consumer.stop()

    async def _run_once(self) -> None:
        self._state = "connecting"
        consumer = self._consumer_factory()
        self._consumer = consumer
        await consumer.start()
        self._state = "waiting_for_topics"
        assigned = await self._wait_for_topics(consumer)
        self._state = "consuming"
        self._error = None
        self._last_fetch = time.monotonic()
        next_refresh = time.monotonic() + self.metadata_refresh_s
        while not self._stopping:
            batches = await consumer.getmany(timeout_ms=500, max_records=self.max_records)
            for tp, messages in batches.items():
                for msg in messages:
                    self.view.apply(tp.topic, msg.key, msg.value)
            await self._update_lag(consumer)
            if time.monotonic() >= next_refresh:
                next_refresh = time.monotonic() + self.metadata_refresh_s
                assigned = await self._refresh_assignment(consumer, assigned)

    async def _partitions(self, consumer: Any) -> tuple[set[Any], list[str]]:
        """All partitions of the view topics that exist, and the required topics missing."""
        from aiokafka import TopicPartition

        partitions_for_topic = await _fresh_metadata(consumer)
        wanted: set[Any] = set()
        missing: list[str] = []
        for topic in (*self.required, *self.optional):
            parts = partitions_for_topic(topic)
            if not parts:
                if topic in self.required:
                    missing.append(topic)
                continue
            wanted.update(TopicPartition(topic, p) for p in parts)
        return wanted, missing

    async def _wait_for_topics(self, consumer: Any) -> set[Any]:
        while True:
            wanted, missing = await self._partitions(consumer)
            if not missing:
                self._assign(consumer, wanted)
                return wanted
            self._error = "waiting for topics: " + ", ".join(missing)
            await asyncio.sleep(self.retry_s)

    async def _refresh_assignment(self, consumer: Any, assigned: set[Any]) -> set[Any]:
        """Pick up topics/partitions created after start, keeping the positions already read."""
        wanted, _ = await self._partitions(consumer)
        wanted |= assigned
        if wanted == assigned:
            return assigned
        self._assign(consumer, wanted)
        log.info("view loader: now reading %d partitions", len(wanted))
        return wanted

    def _assign(self, consumer: Any, wanted: set[Any]) -> None:
        """Assign ``wanted``, resuming every partition already read where it stopped.

        ``assign`` forgets positions, so after a reconnect or when a topic appears later the
        partitions read so far continue from ``self._positions`` instead of being re-read.
        """
        consumer.assign(sorted(wanted))
        for tp in wanted:
            offset = self._positions.get(tp)
            if offset is not None:
                consumer.seek(tp, offset)
        self._lag = {tp: _Lag(None, None) for tp in wanted}

    async def _update_lag(self, consumer: Any) -> None:
        for tp in list(self._lag):
            highwater = consumer.highwater(tp)
            position: int | None = None
            if highwater is not None:  # a fetch response came, so the position is valid
                try:
                    # asyncio.timeout, not wait_for: wait_for can swallow a cancellation on 3.11
                    async with asyncio.timeout(1.0):
                        position = await consumer.position(tp)
                except TimeoutError:
                    position = None
            self._lag[tp] = _Lag(position, highwater)
            if position is not None:
                self._positions[tp] = position
            polled = consumer.last_poll_timestamp(tp) if hasattr(consumer, "last_poll_timestamp") else None
            if polled is not None and polled > self._last_poll_ms:
                self._last_poll_ms = polled
                self._last_fetch = time.monotonic()
        if not self._caught_up and self._lag and all(lag.caught_up for lag in self._lag.values()):
            self._caught_up = True
            log.info("view loader: caught up (%d partitions, %d records)", len(self._lag), self.view.applied)
