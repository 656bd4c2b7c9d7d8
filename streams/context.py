"""What the worker's agents, rebuilds, pruning and publisher share: the ``Worker`` context.

``WorkerState`` is what the worker derives in memory (aggregators, dirty sets, timers) with its
injected clock; ``Worker`` holds it with the app, the settings, the topics and tables
(streams/topology.py), the output batch (``Outbox``) and the ways a batch's effects leave the
process: changelog writes, FCR projections, dead letters, output records.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import date as date_cls
from typing import Any

import faust
import orjson
from faust.types import EventT

from floorwatch import records, topics
from floorwatch.config import Settings
from floorwatch.domain.aggregate import QueueAggregator, kept_minutes_span_ms
from floorwatch.domain.contacts import FactLimitError
from floorwatch.domain.fcr import HOUR_MS, FcrAggregator, partition_for
from floorwatch.domain.queue_metrics import QueueRules
from floorwatch.events import BaseEvent, EventError, EventLimits, parse_event
from floorwatch.streams.batches import Acknowledger, apply_each, fatal, take_batches
from floorwatch.streams.produce import Outbox, kafka_producer, send_batched
from floorwatch.streams.rocks_store import PartitionedRocksStore
from floorwatch.streams.topology import Tables, Topics

log = logging.getLogger("floorwatch.worker")

PUBLISH_TICK_S = 0.025  # how often the publisher looks; each partial still waits worker.publish_interval_s
RAW_MAX = 4096


def quiet_client_logs() -> None:
    """aiokafka logs every produced record at DEBUG; formatting them cost ~8 % of the worker."""
    logging.getLogger("aiokafka").setLevel(logging.INFO)


class WorkerState:
    """What this worker derives in memory from the tables of the partitions it owns."""

    def __init__(
        self, settings: Settings, clock: Callable[[], float] = time.time, on_fatal: Callable[[str], None] = fatal
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.on_fatal = on_fatal  # a record write failed: by default the process exits
        self.limits = EventLimits.from_settings(settings)
        self.customer_key = settings.privacy.customer_hash_key.encode("utf-8")
        self.processing_errors = 0  # events dead-lettered because applying them raised
        self.aggregators: dict[int, QueueAggregator] = {}
        self.fcr: dict[int, FcrAggregator] = {}  # per partition of fw.customer-contacts
        self.fcr_late_ignored = 0  # FCR projections refused: their interval was already folded
        self.last_quality_s = 0.0
        self.dirty_agents: dict[str, int] = {}
        self.last_rolling_s = 0.0
        self.last_prune_s = 0.0
        # fw.adherence keys of days before this were tombstoned by this process (None: none yet)
        self.adherence_expired_before: date_cls | None = None
        self.drop_unowned_pending = False  # a partition was revoked: its memory-store keys go
        self.retention_cut: dict[str, int] = {}  # kind of record -> forgotten by prune (retention_days)
        self.last_adherence_s = 0.0
        self.last_floor_s = 0.0
        self.last_published: dict[tuple[str, int], float] = {}  # (queue, partition) -> last publish
        self.next_check: dict[str, int | None] = {}  # owned agent -> next instant to evaluate
        self.agent_parts: set[int] = set()
        self.dirty_days: set[tuple[str, str]] = set()
        self.last_interval_start: int | None = None
        self._rules: dict[str, QueueRules] = {}

    def rules_for(self, queue: str) -> QueueRules:
        rules = self._rules.get(queue)
        if rules is None:
            q = self.settings.queue(queue)
            rules = QueueRules.from_seconds(q.sl_threshold_s, q.short_abandon_s, q.sl_target, q.sl_formula)
            self._rules[queue] = rules
        return rules

    def new_aggregator(self) -> QueueAggregator:
        span_ms = kept_minutes_span_ms(round(self.settings.ingest.max_future_s * 1000))
        return QueueAggregator(self.settings.tz, self.settings.interval_minutes, span_ms)

    def new_fcr(self) -> FcrAggregator:
        s = self.settings
        return FcrAggregator(
            s.tz,
            s.interval_minutes,
            round(s.fcr.window_hours * HOUR_MS),
            fold_quiet_ms=round(s.fcr.fold_quiet_s * 1000),
        )


async def run_sliced(steps: Generator[None, None, Any]) -> Any:
    """Run a sliced generator of floorwatch.domain.retention, a turn of the loop per slice."""
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            return stop.value
        await asyncio.sleep(0)


ApplyBatch = Callable[[list[EventT], list[Any]], Any]


@dataclass
class Worker:
    """The worker's context: one per ``create_app``, shared by its agents and its publisher."""

    app: faust.App
    settings: Settings
    st: WorkerState
    topics: Topics
    tables: Tables
    outbox: Outbox

    def active(self, topic_name: str) -> set[int]:
        return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic_name}

    # --- the customers table ------------------------------------------------------------------

    def customer_record(self, cu: str) -> dict[str, Any] | None:
        """``{"_p", "c": {contact: projection}}`` of a customer (the table holds its JSON bytes;
        a legacy dict value, from a store that decoded it, is taken as it is)."""
        raw = self.tables.customers.data.get(cu)
        if raw is None:
            return None
        rec = raw if isinstance(raw, dict) else orjson.loads(raw)
        return rec if isinstance(rec, dict) else None

    def customer_contacts(self, cu: str) -> dict[str, Any] | None:
        rec = self.customer_record(cu)
        return None if rec is None else rec["c"]

    def store_customer(self, cu: str, p: int, contacts: dict[str, Any]) -> None:
        """The customer's contacts in partition ``p`` (a customer with none is not kept)."""
        if contacts:
            self.tables.customers.data[cu] = orjson.dumps({"_p": p, "c": contacts})
        else:
            self.tables.customers.data.pop(cu, None)

    # --- what a batch writes ------------------------------------------------------------------

    async def write_changelog(self, table: Any, changed: dict[str, int]) -> list[Any]:
        """Changelog records for keys changed in a batch, each to its source partition.

        Written in batches through the app's producer rather than ``Table.send_changelog``,
        whose per-record bookkeeping cost 2/3 of the worker's time; the producer is flushed
        before every offset commit, so a committed event's state is always in the changelog.
        """
        data = table.data
        if isinstance(data, PartitionedRocksStore):  # its values reach RocksDB once acknowledged
            return await data.send_changelog(kafka_producer(self.app), table.changelog_topic.get_topic_name(), changed)
        return await send_batched(
            kafka_producer(self.app),
            table.changelog_topic.get_topic_name(),
            (
                (
                    p,
                    orjson.dumps(key),
                    None
                    if (value := data.get(key)) is None
                    else value
                    if isinstance(value, bytes)
                    else orjson.dumps(value),
                )
                for key, p in changed.items()
            ),
        )

    async def send_projections(self, moved: dict[str, tuple[Any, Any]]) -> list[Any]:
        """Contacts whose FCR projection changed in a batch: one record per customer partition
        holding ``[customer, contact, projection | None]`` items (a record per projection cost
        the worker a third of its throughput in Faust's per-event overhead)."""
        partitions = self.settings.kafka.partitions
        by_part: dict[int, list[list[Any]]] = {}
        for cid, (before, after) in moved.items():
            if before == after:
                continue
            if before is not None and (after is None or after[0] != before[0]):
                by_part.setdefault(partition_for(before[0], partitions), []).append([before[0], cid, None])
            if after is not None:
                by_part.setdefault(partition_for(after[0], partitions), []).append([after[0], cid, after[1]])
        return await send_batched(
            kafka_producer(self.app),
            self.topics.customers.get_topic_name(),
            ((part, str(part).encode(), orjson.dumps({"items": items})) for part, items in by_part.items()),
        )

    async def dead_letter(self, event: EventT, exc: EventError) -> Any:
        """Write the event to ``fw.dead-letters``; returns the write's delivery future."""
        raw = event.value if isinstance(event.value, bytes) else bytes(str(event.value), "utf-8")
        msg = event.message
        log.warning("dead letter %s[%s]@%s: %s", msg.topic, msg.partition, msg.offset, exc)
        return await self.topics.out[topics.DEAD_LETTERS].send(
            key=msg.topic.encode(),
            value=records.dumps(
                records.DeadLetter(
                    reason=exc.reason,
                    error=str(exc),
                    topic=msg.topic,
                    partition=msg.partition,
                    offset=msg.offset,
                    raw=raw[:RAW_MAX].decode("utf-8", "replace"),
                    at_ms=int(self.st.clock() * 1000),
                ).to_record()
            ),
        )

    # --- the input agents' loop ---------------------------------------------------------------

    def validated(self, event: EventT, expect: tuple[str, ...]) -> tuple[dict[str, Any], BaseEvent]:
        """The event as a dict and as its model, checked against the event contract (types,
        sizes, event time within retention and the allowed future); ``EventError`` if not."""
        try:
            data = orjson.loads(event.value)
        except orjson.JSONDecodeError as exc:
            raise EventError(f"not JSON: {exc}", "not_json") from None
        parsed = parse_event(data, limits=self.st.limits, now_ms=int(self.st.clock() * 1000))
        if not parsed.type.startswith(expect):
            raise EventError(f"event type {parsed.type!r} does not belong on {event.message.topic}", "wrong_topic")
        return data, parsed

    async def run_batches(self, stream: faust.StreamT, name: str, apply_batch: ApplyBatch) -> None:
        """The loop of every input agent: apply a batch event by event (one that fails is
        dead-lettered, the others are applied), wait until Kafka acknowledged every record the
        batch caused, then acknowledge the batch's events (streams/batches.py); the next batches
        are applied meanwhile."""
        w = self.settings.worker
        acks = Acknowledger(stream, self.st.on_fatal)
        async for batch in take_batches(stream, w.batch_size, w.batch_within_s):
            pending: list[Any] = []
            try:
                await apply_batch(batch, pending)
            except Exception as exc:  # a defect outside the per-event guard: crash-only
                self.st.on_fatal(f"{name}: applying a batch failed: {exc!r}")
                raise
            await acks.submit(batch, pending)

    async def dead_letter_error(self, pending: list[Any], event: EventT, exc: Exception) -> None:
        if isinstance(exc, FactLimitError):
            exc = EventError(str(exc), exc.reason)
        if not isinstance(exc, EventError):
            self.st.processing_errors += 1
            log.error(
                "processing error on %s[%s]@%s: %r",
                event.message.topic,
                event.message.partition,
                event.message.offset,
                exc,
            )
            exc = EventError(f"{type(exc).__name__}: {exc}"[:RAW_MAX], "processing_error")
        pending.append(await self.dead_letter(event, exc))

    async def each(self, batch: list[EventT], pending: list[Any], apply_one: Callable[[EventT], None]) -> None:
        async def one(event: EventT) -> None:
            apply_one(event)

        async def on_error(event: EventT, exc: Exception) -> None:
            await self.dead_letter_error(pending, event, exc)

        await apply_each(batch, one, on_error)

    # --- output records -----------------------------------------------------------------------

    def output_refused(self, exc: BaseException) -> None:
        log.error("an output batch was refused (%r); the next pass publishes again what changes", exc)

    async def emit(self, topic_name: str, key: bytes, value: bytes | None) -> None:
        """An output record of this publisher pass (sent in batches by ``flush_outbox``)."""
        if self.outbox.add(topic_name, key, value):
            await self.flush_outbox()

    async def flush_outbox(self) -> None:
        if self.outbox.count:
            await self.outbox.flush(kafka_producer(self.app), self.output_refused)
