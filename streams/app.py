"""The Faust application: topics, tables, agents and the publisher (thin shells over the domain).

Design (docs/architecture.md): input topics are keyed so that no ``group_by`` is needed;
the only persisted state is per-contact facts (table ``contacts``, co-partitioned with
``fw.contact-events``) and per-agent facts (table ``agents``, co-partitioned with
``fw.agent-events``). Queue aggregates are derived in memory per source partition and
published as per-partition partials that readers sum.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from datetime import date as date_cls
from collections.abc import Callable, Generator
from typing import Any

import faust
import orjson
from faust.types import EventT

from floorwatch import records, topics
from floorwatch.config import Settings
from floorwatch.domain.aggregate import ROLLING_15M_MS, ROLLING_60M_MS, QueueAggregator, kept_minutes_span_ms
from floorwatch.domain.adherence import evaluate_day, realtime_status
from floorwatch.streams.alerting import WebhookNotifier, run_queue_alerts
from floorwatch.streams.batches import Acknowledger, apply_each, fatal, settle, take_batches
from floorwatch.streams.produce import Outbox, kafka_producer, send_batched
from floorwatch.streams.packed_store import item_slices, key_slices, packed, packed_store_url
from floorwatch.streams.rocks_store import PartitionedRocksStore, store_url
from floorwatch.memory import fix_mmap_threshold, release_free_memory
from floorwatch.domain.agents import agent_status, apply_agent_event
from floorwatch.domain.alerts import ADHERENCE_BREAK, AlertBook, adherence_rule
from floorwatch.domain.floor import (
    agent_context,
    apply_schedule,
    apply_state_point,
    current_pair_since,
    day_key,
    logged_in_ms_by_interval,
)
from floorwatch.domain.contacts import FactLimitError, apply_event
from floorwatch.domain.factcodec import pack, peek, unpack
from floorwatch.domain.fcr import (
    FOLD_SLICE,
    HOUR_MS,
    FcrAggregator,
    Fold,
    apply_projection,
    date_final_key,
    final_key,
    final_key_partition,
    parse_final_key,
    partition_for,
    record_partition,
    projection,
)
from floorwatch.domain.intervals import (
    day_bounds_ms,
    day_interval_starts,
    interval_end_ms,
    interval_start_ms,
    local_date,
)
from floorwatch.domain.queue_metrics import QueueRules
from floorwatch.domain.retention import (
    SLICE_SIZE,
    Horizon,
    adherence_keys_to_tombstone,
    forget_agents,
    plan_agent_expiry,
)
from floorwatch.events import BaseEvent, EventError, EventLimits, parse_event, to_ms

log = logging.getLogger("floorwatch.worker")

APP_ID = topics.WORKER_APP_ID
ROLLING_REFRESH_S = 5.0
PUBLISH_TICK_S = 0.025  # how often the publisher looks; each partial still waits worker.publish_interval_s
# fw.worker-status: the publisher writes this worker's heartbeat this often, so that with its
# tick the gap stays within a second (one record a second: Tansu keeps every record, no compaction)
HEARTBEAT_S = 1.0 - PUBLISH_TICK_S
PRUNE_EVERY_S = 3600.0
MAINTAIN_EVERY_S = 1.0  # how often the publisher looks for due merges of the contacts store
MMAP_THRESHOLD_BYTES = 256 << 10  # allocations this large get their own mapping (floorwatch.memory)
ADHERENCE_REFRESH_S = 60.0
RAW_MAX = 4096


def quiet_client_logs() -> None:
    """aiokafka logs every produced record at DEBUG; formatting them cost ~8 % of the worker."""
    logging.getLogger("aiokafka").setLevel(logging.INFO)


def set_fetch_max_wait(ms: int) -> None:
    """Faust builds its worker consumer with ``fetch_max_wait_ms=1500`` and no setting for it;
    set the wait on the consumer it creates, before the consumer starts its fetcher."""
    from faust.transport.drivers import aiokafka as driver

    cls = driver.AIOKafkaConsumerThread
    original = getattr(cls, "_floorwatch_original_create", None) or cls._create_worker_consumer
    cls._floorwatch_original_create = original

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = ms
        return consumer

    cls._create_worker_consumer = create


def worker_id() -> str:
    """This worker's key on fw.worker-status: host name and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def broker_urls(bootstrap: str) -> str:
    return ";".join(f"kafka://{h.strip()}" for h in bootstrap.split(",") if h.strip())


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


def create_app(settings: Settings, state: WorkerState | None = None) -> faust.App:
    """A Faust app wired to ``settings``; Faust reads only ``FLOORWATCH_FAUST_*`` env vars."""
    w = settings.worker
    partitions = settings.kafka.partitions
    fix_mmap_threshold(MMAP_THRESHOLD_BYTES)  # large buffers go back to the system when freed
    app = faust.App(
        APP_ID,
        broker=broker_urls(settings.kafka.bootstrap),
        env_prefix="FLOORWATCH_FAUST_",
        autodiscover=False,
        store=store_url(w.store, w.rocksdb_write_buffer_bytes, w.rocksdb_block_cache_bytes),
        datadir=w.datadir,
        topic_partitions=partitions,
        # Faust declares its changelog and leader topics only where Floorwatch creates topics
        topic_allow_declare=settings.kafka.creates_topics,
        topic_replication_factor=settings.kafka.replication_factor,
        table_standby_replicas=0,
        broker_session_timeout=w.session_timeout_s,
        broker_heartbeat_interval=w.heartbeat_interval_s,
        broker_request_timeout=max(w.request_timeout_s, w.session_timeout_s + 5),
        broker_commit_interval=w.commit_interval_s,
        broker_commit_every=10_000,
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        web_enabled=False,
        web_host="127.0.0.1",
        timezone=settings.tz,
        TableManager="floorwatch.streams.recovery:TansuSafeTableManager",
        key_serializer="raw",
        value_serializer="raw",
    )
    quiet_client_logs()
    set_fetch_max_wait(w.fetch_max_wait_ms)
    st = state or WorkerState(settings)

    notifier = WebhookNotifier(settings)

    @app.task
    async def deliver_webhooks() -> None:
        await notifier.run()

    @app.task
    async def queue_alerts() -> None:
        await run_queue_alerts(app, settings, notifier, clock=st.clock)

    def topic(name: str, n: int = partitions) -> faust.TopicT:
        return app.topic(
            name, key_type=bytes, value_type=bytes, partitions=n, key_serializer="raw", value_serializer="raw"
        )

    contact_topic = topic(topics.CONTACT_EVENTS)
    agent_topic = topic(topics.AGENT_EVENTS)
    schedule_topic = topic(topics.SCHEDULES)
    forecast_topic = topic(topics.FORECASTS)
    customer_topic = topic(topics.CUSTOMER_CONTACTS)
    out = {name: topic(name, settings.kafka.output_partitions) for name in topics.OUTPUTS}

    json_schema = faust.Schema(key_type=str, key_serializer="json", value_serializer="json")
    # values: the packed facts (floorwatch.domain.factcodec), kept as bytes in memory
    # (Faust takes a table's serializers from key_type/value_type: bytes is "raw")
    packed_schema = faust.Schema(key_type=str, key_serializer="json", value_type=bytes, value_serializer="raw")
    # on the memory store: a PackedMap (floorwatch.packedmap), ~125 bytes a contact
    contacts = app.Table(
        "contacts",
        default=None,
        partitions=partitions,
        schema=packed_schema,
        key_type=str,
        value_type=bytes,
        store=packed_store_url(w.contacts_hot_keys) if w.store == "memory" else None,
    )
    agents = app.Table("agents", default=None, partitions=partitions, schema=json_schema)
    agent_days = app.Table("agent-days", default=None, partitions=partitions, schema=json_schema)
    # hashed customer -> {"_p": partition, "c": {contact_id: fcr projection}}
    # held as the changelog's JSON bytes (parsed on use): ~300 bytes a customer instead of ~900
    customers = app.Table(
        "customers", default=None, partitions=partitions, schema=packed_schema, key_type=str, value_type=bytes
    )
    # "date|partition" -> JSON bytes {"_p", "c": {"queue|start_ms": [4 FCR counts]}, "a": {agent:
    # [eligible, resolved]}}: the final FCR figures of a local date's folded intervals, one record
    # per date and partition, kept as bytes (floorwatch.domain.fcr, finality); a legacy record
    # "queue|start|partition" -> {"_p", "c": [4 counts], "a"?} of one interval is still read
    fcr_final = app.Table(
        "fcr-final", default=None, partitions=partitions, schema=packed_schema, key_type=str, value_type=bytes
    )

    def active(topic_name: str) -> set[int]:
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic_name}

    # the one rebuild of queue aggregators in flight; "epoch" moves at every revocation, and a
    # rebuild that saw it move installs nothing (the table may have been recovered meanwhile)
    rebuild: dict[str, Any] = {"task": None, "epoch": 0}

    async def rebuild_aggregators(parts: frozenset[int]) -> None:
        """Build the aggregators of ``parts`` from the contact facts (after recovery or a
        rebalance): SLICE_SIZE keys of a snapshot of the table's keys at a time, a turn of the
        event loop in between. They are installed into st.aggregators only when complete, so
        meanwhile no event of those partitions is applied (the contacts agent awaits this) and
        no prune touches them (prune_contacts skips a partition without an aggregator)."""
        while (app.rebalancing or app.in_recovery) and not app.should_stop:
            await asyncio.sleep(PUBLISH_TICK_S)
        epoch = rebuild["epoch"]
        started = time.monotonic()
        now_ms = int(st.clock() * 1000)
        built = {p: st.new_aggregator() for p in parts}
        for agg in built.values():
            agg.prune_minutes(now_ms)  # minutes no rolling window reaches are not built at all
        n = 0
        for pairs in item_slices(contacts, SLICE_SIZE):  # no event of these partitions is applied meanwhile
            for cid, raw in pairs:
                facts = unpack(raw)
                if facts.get("_p") in built:
                    built[facts["_p"]].update(cid, None, facts)
                    n += 1
            await asyncio.sleep(0)
            if rebuild["epoch"] != epoch:
                log.info("rebuild of partitions %s dropped: partitions were revoked meanwhile", sorted(parts))
                return
        st.aggregators.update(built)
        release_free_memory()  # the recovery's and the rebuild's temporaries
        log.info(
            "rebuilt aggregates of partitions %s from %d contacts in %.2f s",
            sorted(parts),
            n,
            time.monotonic() - started,
        )

    def ensure_aggregators(wanted: set[int]) -> asyncio.Future | None:
        """The rebuild of the partitions of ``wanted`` that have no aggregator, started or
        joined; ``None`` when every one has one. One rebuild runs at a time: one of other
        partitions in flight is returned first (``aggregators_ready`` loops)."""
        missing = wanted - st.aggregators.keys()
        if not missing:
            return None
        task = rebuild["task"]
        if task is not None and task.done() and not task.cancelled() and task.exception() is not None:
            log.error("rebuild of queue aggregators failed: %r", task.exception())
        if task is None or task.done():
            task = rebuild["task"] = asyncio.ensure_future(rebuild_aggregators(frozenset(missing)))
        return task

    async def aggregators_ready(wanted: set[int]) -> None:
        """Wait until every partition of ``wanted`` has its aggregator (the shared rebuild goes
        on if this waiter is cancelled)."""
        while (task := ensure_aggregators(wanted)) is not None:
            await asyncio.shield(task)

    def build_fcr(missing: set[int], now_ms: int) -> Generator[None, None, dict[int, FcrAggregator]]:
        """FCR aggregators of ``missing`` from the tables (final records first: their contacts
        are context), yielding after every date record (each is parsed once) or ``SLICE_SIZE``
        other keys; returns them, not installed."""
        built = {p: st.new_fcr() for p in missing}
        n = 0
        for key in list(fcr_final.data):
            part = final_key_partition(key)
            value = fcr_final.data.get(key) if part in built else None
            n += 1
            if value is not None:
                built[part].load(key, value)
                if isinstance(parse_final_key(key)[0], str):
                    n = SLICE_SIZE  # a date record: a turn of the loop after it
            if n >= SLICE_SIZE:
                n = 0
                yield
        yield
        keys = list(customers.data)
        for start in range(0, len(keys), SLICE_SIZE):
            for cu in keys[start : start + SLICE_SIZE]:
                rec = customer_record(cu)
                if rec is not None and rec.get("_p") in built:
                    built[rec["_p"]].update(cu, rec["c"], now_ms)
            yield
        for agg in built.values():
            agg.hold_folds(now_ms)  # what is still to be consumed may be a replay of past days
        return built

    def ensure_fcr(wanted: set[int]) -> None:
        """``build_fcr`` at once (the rare path: an aggregator dropped mid-batch)."""
        missing = wanted - st.fcr.keys()
        if missing:
            steps = build_fcr(missing, int(st.clock() * 1000))
            while True:
                try:
                    next(steps)
                except StopIteration as done:
                    st.fcr.update(done.value)
                    return

    fcr_build: dict[str, Any] = {"epoch": 0, "lock": asyncio.Lock()}

    async def ensure_fcr_sliced(wanted: set[int]) -> None:
        """``build_fcr`` a slice per turn of the event loop (after a restart the final records
        and projections of a large center took seconds in one loop); one build at a time, the
        customers agent and the publisher both wait for it; a revocation meanwhile discards it
        (the next call builds again)."""
        if not wanted - st.fcr.keys():
            return
        async with fcr_build["lock"]:
            missing = wanted - st.fcr.keys()
            if not missing:
                return
            epoch, started = fcr_build["epoch"], time.monotonic()
            built = await run_sliced(build_fcr(missing, int(st.clock() * 1000)))
            if fcr_build["epoch"] != epoch:
                return
            st.fcr.update(built)
            release_free_memory()  # the date records' and projections' parsing temporaries
            log.info("rebuilt FCR state of partitions %s in %.2f s", sorted(missing), time.monotonic() - started)

    def customer_record(cu: str) -> dict[str, Any] | None:
        """``{"_p", "c": {contact: projection}}`` of a customer (the table holds its JSON bytes;
        a legacy dict value, from a store that decoded it, is taken as it is)."""
        raw = customers.data.get(cu)
        if raw is None:
            return None
        rec = raw if isinstance(raw, dict) else orjson.loads(raw)
        return rec if isinstance(rec, dict) else None

    def customer_contacts(cu: str) -> dict[str, Any] | None:
        rec = customer_record(cu)
        return None if rec is None else rec["c"]

    def store_customer(cu: str, p: int, contacts: dict[str, Any]) -> None:
        """The customer's contacts in partition ``p`` (a customer with none is not kept)."""
        if contacts:
            customers.data[cu] = orjson.dumps({"_p": p, "c": contacts})
        else:
            customers.data.pop(cu, None)

    async def fold_fcr(p: int, agg: FcrAggregator, now_ms: int) -> int:
        """Fold partition ``p``'s FCR intervals whose contributions are final: each local date
        they belong to gets its record in ``fcr-final`` rewritten once, with these intervals'
        counts and agents' rows added (FOLD_SLICE intervals, or one date's record, per turn of
        the event loop), and only once Kafka acknowledged the records do they replace the live
        counts (so the projections they cover may be dropped). A date's fold is one record:
        a worker killed before its acknowledgement recovers the old record and the
        projections, after it the new record. A failed write puts the table's old records back
        (nothing of the fold is applied). Returns how many intervals were folded."""
        keys = agg.due_folds(now_ms)
        if not keys:
            return 0
        fold = Fold(p)
        written: dict[str, int] = {}
        held: dict[str, Any] = {}
        try:
            for i, key in enumerate(keys):
                agg.fold_interval(fold, key)
                if (i + 1) % FOLD_SLICE == 0:
                    await asyncio.sleep(0)
            for day in list(fold.added):
                await asyncio.sleep(0)
                agg.finish_fold(fold, (day,))
            for day, raw in fold.dates.items():
                name = date_final_key(day, p)
                held[name] = fcr_final.data.get(name)
                fcr_final.data[name] = raw
                written[name] = p
            await settle(await write_changelog(fcr_final, written), st.on_fatal)
        except Exception:
            for name, old in held.items():  # the table never runs ahead of the changelog
                if old is None:
                    fcr_final.data.pop(name, None)
                else:
                    fcr_final.data[name] = old
            st.fcr.pop(p, None)  # rebuilt from the tables before the next use: the intervals stay live
            raise
        if st.fcr.get(p) is not agg:  # revoked or rebuilt meanwhile: the tables hold the truth
            return 0
        agg.apply_fold(fold)
        return len(keys)

    async def write_changelog(table: faust.Table, changed: dict[str, int]) -> list[Any]:
        """Changelog records for keys changed in a batch, each to its source partition.

        Written in batches through the app's producer rather than ``Table.send_changelog``,
        whose per-record bookkeeping cost 2/3 of the worker's time; the producer is flushed
        before every offset commit, so a committed event's state is always in the changelog.
        """
        data = table.data
        if isinstance(data, PartitionedRocksStore):  # its values reach RocksDB once acknowledged
            return await data.send_changelog(kafka_producer(app), table.changelog_topic.get_topic_name(), changed)
        return await send_batched(
            kafka_producer(app),
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

    async def send_projections(moved: dict[str, tuple[Any, Any]]) -> list[Any]:
        """Contacts whose FCR projection changed in a batch: one record per customer partition
        holding ``[customer, contact, projection | None]`` items (a record per projection cost
        the worker a third of its throughput in Faust's per-event overhead)."""
        by_part: dict[int, list[list[Any]]] = {}
        for cid, (before, after) in moved.items():
            if before == after:
                continue
            if before is not None and (after is None or after[0] != before[0]):
                by_part.setdefault(partition_for(before[0], partitions), []).append([before[0], cid, None])
            if after is not None:
                by_part.setdefault(partition_for(after[0], partitions), []).append([after[0], cid, after[1]])
        return await send_batched(
            kafka_producer(app),
            customer_topic.get_topic_name(),
            ((part, str(part).encode(), orjson.dumps({"items": items})) for part, items in by_part.items()),
        )

    async def dead_letter(event: EventT, exc: EventError) -> Any:
        """Write the event to ``fw.dead-letters``; returns the write's delivery future."""
        raw = event.value if isinstance(event.value, bytes) else bytes(str(event.value), "utf-8")
        msg = event.message
        log.warning("dead letter %s[%s]@%s: %s", msg.topic, msg.partition, msg.offset, exc)
        return await out[topics.DEAD_LETTERS].send(
            key=msg.topic.encode(),
            value=records.dumps(
                {
                    "reason": exc.reason,
                    "error": str(exc),
                    "topic": msg.topic,
                    "partition": msg.partition,
                    "offset": msg.offset,
                    "raw": raw[:RAW_MAX].decode("utf-8", "replace"),
                    "at_ms": int(st.clock() * 1000),
                }
            ),
        )

    def validated(event: EventT, expect: tuple[str, ...]) -> tuple[dict[str, Any], BaseEvent]:
        """The event as a dict and as its model, checked against the event contract (types,
        sizes, event time within retention and the allowed future); ``EventError`` if not."""
        try:
            data = orjson.loads(event.value)
        except orjson.JSONDecodeError as exc:
            raise EventError(f"not JSON: {exc}", "not_json") from None
        parsed = parse_event(data, limits=st.limits, now_ms=int(st.clock() * 1000))
        if not parsed.type.startswith(expect):
            raise EventError(f"event type {parsed.type!r} does not belong on {event.message.topic}", "wrong_topic")
        return data, parsed

    async def run_batches(
        stream: faust.StreamT, name: str, apply_batch: Callable[[list[EventT], list[Any]], Any]
    ) -> None:
        """The loop of every input agent: apply a batch event by event (one that fails is
        dead-lettered, the others are applied), wait until Kafka acknowledged every record the
        batch caused, then acknowledge the batch's events (streams/batches.py); the next batches
        are applied meanwhile."""
        acks = Acknowledger(stream, st.on_fatal)
        async for batch in take_batches(stream, w.batch_size, w.batch_within_s):
            pending: list[Any] = []
            try:
                await apply_batch(batch, pending)
            except Exception as exc:  # a defect outside the per-event guard: crash-only
                st.on_fatal(f"{name}: applying a batch failed: {exc!r}")
                raise
            await acks.submit(batch, pending)

    async def dead_letter_error(pending: list[Any], event: EventT, exc: Exception) -> None:
        if isinstance(exc, FactLimitError):
            exc = EventError(str(exc), exc.reason)
        if not isinstance(exc, EventError):
            st.processing_errors += 1
            log.error(
                "processing error on %s[%s]@%s: %r",
                event.message.topic,
                event.message.partition,
                event.message.offset,
                exc,
            )
            exc = EventError(f"{type(exc).__name__}: {exc}"[:RAW_MAX], "processing_error")
        pending.append(await dead_letter(event, exc))

    async def each(batch: list[EventT], pending: list[Any], apply_one: Callable[[EventT], None]) -> None:
        async def one(event: EventT) -> None:
            apply_one(event)

        async def on_error(event: EventT, exc: Exception) -> None:
            await dead_letter_error(pending, event, exc)

        await apply_each(batch, one, on_error)

    @app.agent(contact_topic, name="contact-events")
    async def process_contacts(stream: faust.StreamT) -> None:
        async def apply_batch(batch: list[EventT], pending: list[Any]) -> None:
            await aggregators_ready(active(topics.CONTACT_EVENTS) | {e.message.partition for e in batch})
            changed: dict[str, int] = {}
            moved: dict[str, tuple[Any, Any]] = {}  # contact -> (projection before the batch, after)

            def apply_one(event: EventT) -> None:
                data, parsed = validated(event, ("contact.", "survey."))
                p = event.message.partition
                cid = data["contact_id"]
                old_raw = contacts.data.get(cid)
                old = None if old_raw is None else unpack(old_raw)
                new = apply_event(old, data, parsed.ts_ms, st.rules_for, customer_key=st.customer_key)
                if new is None:
                    return
                new["_p"] = p
                has_customer = "cu" in new or (old is not None and "cu" in old)
                if has_customer:
                    before = moved[cid][0] if cid in moved else projection(old)
                    after = projection(new)
                new_raw = pack(new)
                # everything that can fail on bad input happened above; now memory changes,
                # and on an unexpected failure it is put back as it was
                contacts.data[cid] = new_raw
                try:
                    st.aggregators[p].update(cid, old, new)
                except Exception:
                    if old_raw is None:
                        contacts.data.pop(cid, None)
                    else:
                        contacts.data[cid] = old_raw
                    st.aggregators.pop(p, None)  # rebuilt from the table before the next use
                    raise
                changed[cid] = p
                if has_customer:
                    moved[cid] = (before, after)

            await each(batch, pending, apply_one)
            pending += await write_changelog(contacts, changed)
            pending += await send_projections(moved)

        await run_batches(stream, "contact-events", apply_batch)

    @app.agent(customer_topic, name="customer-contacts")
    async def process_customers(stream: faust.StreamT) -> None:
        """Contact projections per customer -> FCR outcomes (floorwatch.domain.fcr)."""

        async def apply_batch(batch: list[EventT], pending: list[Any]) -> None:
            await ensure_fcr_sliced(active(topics.CUSTOMER_CONTACTS) | {e.message.partition for e in batch})
            changed: dict[str, int] = {}

            def apply_one(event: EventT) -> None:
                p = event.message.partition
                try:
                    items = orjson.loads(event.value)["items"]
                    for cu, cid, value in items:
                        if not (
                            isinstance(cu, str) and isinstance(cid, str) and (value is None or isinstance(value, dict))
                        ):
                            raise ValueError("expected [customer, contact, projection | null] items")
                except (ValueError, KeyError, TypeError) as exc:
                    raise EventError(f"bad customer projections: {exc}", "bad_internal_record") from None
                staged: dict[str, dict[str, Any]] = {}  # customer -> contacts after this record
                if p not in st.fcr:
                    ensure_fcr({p})
                agg, now_ms = st.fcr[p], int(st.clock() * 1000)
                for cu, cid, value in items:
                    before = staged[cu] if cu in staged else customer_contacts(cu)
                    new = apply_projection(before, cid, value)
                    if new is None:
                        continue
                    if not agg.accepts(before, cid, value, now_ms):  # its interval is folded: late
                        st.fcr_late_ignored += 1
                        log.debug("late FCR projection of contact %s ignored (its interval is folded)", cid)
                        continue
                    staged[cu] = new
                for cu, new in staged.items():
                    store_customer(cu, p, new)
                    changed[cu] = p

            await each(batch, pending, apply_one)
            now_ms = int(st.clock() * 1000)
            for cu, p in changed.items():  # derived once per customer and batch
                try:
                    st.fcr[p].update(cu, customer_contacts(cu), now_ms)
                except Exception as exc:
                    log.error("FCR update of a customer failed (%r); partition %s rebuilt", exc, p)
                    st.fcr.pop(p, None)  # rebuilt from the table before the next use
            pending += await write_changelog(customers, changed)

        await run_batches(stream, "customer-contacts", apply_batch)

    @app.agent(agent_topic, name="agent-events")
    async def process_agents(stream: faust.StreamT) -> None:
        async def apply_batch(batch: list[EventT], pending: list[Any]) -> None:
            changed: dict[str, int] = {}
            changed_days: dict[str, int] = {}

            def apply_one(event: EventT) -> None:
                data, parsed = validated(event, ("agent.",))
                ts_ms = parsed.ts_ms
                aid = data["agent_id"]
                p = event.message.partition
                day_rec = key = day = None
                if data["type"] == "agent.state":
                    day = local_date(ts_ms, settings.tz).isoformat()
                    key = day_key(aid, day)
                    day_rec = apply_state_point(
                        agent_days.data.get(key), ts_ms, data["event_id"], data["state"], data.get("reason")
                    )
                new = apply_agent_event(agents.data.get(aid), data, ts_ms)
                # both records computed: now memory changes (plain assignments)
                if day_rec is not None:
                    day_rec["_p"] = p
                    agent_days.data[key] = day_rec
                    changed_days[key] = p  # type: ignore[index]
                    st.dirty_days.add((aid, day))  # type: ignore[arg-type]
                if new is not None:
                    new["_p"] = p
                    agents.data[aid] = new
                    changed[aid] = p

            await each(batch, pending, apply_one)
            pending += await write_changelog(agent_days, changed_days)
            pending += await write_changelog(agents, changed)
            st.dirty_agents.update(changed)
            st.dirty_agents.update({key.rpartition("|")[0]: p for key, p in changed_days.items()})

        await run_batches(stream, "agent-events", apply_batch)

    @app.agent(schedule_topic, name="schedules")
    async def process_schedules(stream: faust.StreamT) -> None:
        async def apply_batch(batch: list[EventT], pending: list[Any]) -> None:
            changed_days: dict[str, int] = {}

            def apply_one(event: EventT) -> None:
                data, parsed = validated(event, ("schedule.",))
                aid, day = data["agent_id"], str(data["date"])
                acts = [(to_ms(a.start), to_ms(a.end), a.activity) for a in parsed.activities]  # type: ignore[attr-defined]
                key = day_key(aid, day)
                rec = apply_schedule(agent_days.data.get(key), day, acts, parsed.ts_ms, data["event_id"])
                if rec is None:
                    return
                p = event.message.partition
                rec["_p"] = p
                agent_days.data[key] = rec
                changed_days[key] = p
                st.dirty_days.add((aid, day))
                st.dirty_agents[aid] = p

            await each(batch, pending, apply_one)
            pending += await write_changelog(agent_days, changed_days)

        await run_batches(stream, "schedules", apply_batch)

    @app.agent(forecast_topic, name="forecasts")
    async def process_forecasts(stream: faust.StreamT) -> None:
        """Forecasts are read by the API from the topic; the worker dead-letters bad ones."""

        async def apply_batch(batch: list[EventT], pending: list[Any]) -> None:
            def check(event: EventT) -> None:
                validated(event, ("forecast.",))

            await each(batch, pending, check)

        await run_batches(stream, "forecasts", apply_batch)

    async def prune(now_ms: int, owned: set[int]) -> None:
        """Forget what ``retention_days`` no longer keeps (floorwatch.domain.retention decides):
        contacts and their FCR projections, agent-days records, agents; tombstones in the
        changelogs and, for forgotten agents and days, on fw.agent-status, fw.adherence,
        fw.alerts and fw.alert-acks. A slice of keys at a time, the event loop gets a turn in
        between; records of partitions not owned are left to their owner."""
        started = time.monotonic()
        h = Horizon.at(now_ms, settings.tz, settings.retention_days)
        cut = {"contacts": await prune_contacts(h, owned), "customers": await prune_customers(h, now_ms)}
        cut.update(await prune_agents(h))
        for kind, n in cut.items():
            st.retention_cut[kind] = st.retention_cut.get(kind, 0) + n
        if any(cut.values()):
            log.info(
                "retention: before %s forgot %s in %.2f s",
                h.oldest_kept_day,
                {k: n for k, n in cut.items() if n},
                time.monotonic() - started,
            )

    async def run_sliced(steps: Generator[None, None, Any]) -> Any:
        """Run a sliced generator of floorwatch.domain.retention, a turn of the loop per slice."""
        while True:
            try:
                next(steps)
            except StopIteration as stop:
                return stop.value
            await asyncio.sleep(0)

    async def prune_contacts(h: Horizon, owned: set[int]) -> int:
        """Contacts offered before the cutoff: out of the table and their partition's aggregates."""
        expired: dict[str, int] = {}
        for keys in key_slices(contacts, SLICE_SIZE):
            for cid in keys:
                raw = contacts.data.get(cid)
                if raw is None:
                    continue
                part, ref_ms = peek(raw)  # contact_expired without unpacking every contact
                if part not in owned or not ref_ms < h.cutoff_ms:
                    continue
                f = unpack(raw)
                agg = st.aggregators.get(f["_p"])
                if agg is None:  # revoked meanwhile: the new owner prunes it
                    continue
                del contacts.data[cid]
                agg.forget(cid, f)
                expired[cid] = f["_p"]
            await asyncio.sleep(0)
        await write_changelog(contacts, expired)
        return len(expired)

    async def prune_customers(h: Horizon, now_ms: int) -> int:
        """FCR projections no longer needed (floorwatch.domain.fcr ``droppable``: context of
        folded intervals only), and any offered before the cutoff less the FCR window; final
        records of dates before the cutoff (and legacy records of intervals before it), counted
        in retention_cut["fcr_final"]; the published figures of their intervals and agents
        become tombstones."""
        fcr_cutoff = h.cutoff_ms - round(settings.fcr.window_hours * HOUR_MS)
        mine = active(topics.CUSTOMER_CONTACTS)
        gone: dict[str, int] = {}
        for p in sorted(mine):
            agg = st.fcr.get(p)
            while agg is not None and (dates := agg.expire_dates(h.cutoff_ms, 1)):  # each parsed once
                for day in dates:
                    name = date_final_key(day, p)
                    if fcr_final.data.pop(name, None) is not None:
                        gone[name] = p
                await asyncio.sleep(0)
            while agg is not None and (keys := agg.expire_legacy(h.cutoff_ms, SLICE_SIZE)):
                for key in keys:
                    name = final_key(key[0], key[1], p)
                    if fcr_final.data.pop(name, None) is not None:
                        gone[name] = p
                await asyncio.sleep(0)
        await write_changelog(fcr_final, gone)
        st.retention_cut["fcr_final"] = st.retention_cut.get("fcr_final", 0) + len(gone)
        pruned: dict[str, int] = {}
        keys = list(customers.data)
        for start in range(0, len(keys), SLICE_SIZE):
            held: dict[int, list[tuple[str, Any]]] = {}
            for cu in keys[start : start + SLICE_SIZE]:
                rec = customer_record(cu)
                if rec is not None and rec.get("_p") in mine:
                    held.setdefault(rec["_p"], []).append((cu, rec["c"]))
            for p, rows in held.items():
                agg = st.fcr.get(p)
                if agg is None:
                    continue
                drops = agg.expired(rows, fcr_cutoff)
                for cu, contacts_now in rows:
                    done = agg.droppable(contacts_now, now_ms)
                    if done:
                        drops[cu] = drops.get(cu, []) + done
                for cu, cids in drops.items():
                    left = {k: v for k, v in customer_contacts(cu).items() if k not in cids}
                    store_customer(cu, p, left)
                    agg.update(cu, left, now_ms)
                    pruned[cu] = p
            await asyncio.sleep(0)
        await write_changelog(customers, pruned)
        return len(pruned)

    async def prune_agents(h: Horizon) -> dict[str, int]:
        """Day records dated before the oldest kept day, agents seen by neither an event since
        the cutoff nor a kept day record, and the output keys they leave behind."""
        plan = await run_sliced(plan_agent_expiry(agents.data, agent_days.data, active(topics.AGENT_EVENTS), h))
        gone = await run_sliced(forget_agents(agents.data, agent_days.data, plan, h, touched=st.dirty_agents))
        await write_changelog(agent_days, gone.days)
        await write_changelog(agents, gone.agents)
        forgotten = set(gone.agent_ids)
        for aid in forgotten:
            st.next_check.pop(aid, None)  # else its adherence of "today" is published every minute
        # nothing republishes what is tombstoned below
        st.dirty_days = {(a, d) for a, d in st.dirty_days if a not in forgotten and not h.day_expired(d)}
        sent = 0

        async def tombstone(topic: str, key: str) -> None:
            nonlocal sent
            await out[topic].send(key=key.encode(), value=None)
            sent += 1
            if sent % SLICE_SIZE == 0:
                await asyncio.sleep(0)

        for aid in gone.agent_ids:
            await tombstone(topics.AGENT_STATUS, aid)
        for alert_id in gone.alert_ids:  # acks are keyed by alert id
            await tombstone(topics.ALERTS, alert_id)
            await tombstone(topics.ALERT_ACKS, alert_id)
        adherence = 0
        for key in adherence_keys_to_tombstone(plan.kept | set(gone.skipped), gone, st.adherence_expired_before, h):
            await tombstone(topics.ADHERENCE, key)
            adherence += 1
        st.adherence_expired_before = h.oldest_kept_day
        return {
            "agent_days": len(gone.days),
            "agents": len(gone.agent_ids),
            "open_alerts": len(gone.alert_ids),
            "adherence_keys": adherence,
        }

    outbox = Outbox(settings.kafka.output_partitions)

    def output_refused(exc: BaseException) -> None:
        log.error("an output batch was refused (%r); the next pass publishes again what changes", exc)

    async def emit(topic_name: str, key: bytes, value: bytes | None) -> None:
        """An output record of this publisher pass (sent in batches by ``flush_outbox``)."""
        if outbox.add(topic_name, key, value):
            await flush_outbox()

    async def flush_outbox() -> None:
        if outbox.count:
            await outbox.flush(kafka_producer(app), output_refused)

    def partition_of_record(value: Any) -> int | None:
        return value.get("_p") if isinstance(value, dict) else None

    async def drop_unowned() -> int | None:
        """Memory-store keys of partitions this worker no longer owns, dropped after a revocation
        (Faust's memory store forgets only what its own recovery loaded; retention leaves other
        owners' keys alone, so they would stay until a restart). A slice of keys per turn of the
        event loop; a rebalance or recovery starting meanwhile stops the pass (``None``: not
        finished), since a partition assigned again is being recovered into the same dicts."""
        plan = [
            (contacts, topics.CONTACT_EVENTS, lambda raw: peek(raw)[0]),
            (customers, topics.CUSTOMER_CONTACTS, record_partition),
            (fcr_final, topics.CUSTOMER_CONTACTS, record_partition),
            (agents, topics.AGENT_EVENTS, partition_of_record),
            (agent_days, topics.AGENT_EVENTS, partition_of_record),
        ]
        dropped = 0
        for table, topic_name, part_of in plan:
            data = table.data
            if isinstance(data, PartitionedRocksStore):  # closes a revoked partition's DB itself
                continue
            for keys in key_slices(table, SLICE_SIZE):
                if app.rebalancing or app.in_recovery:
                    return None
                owned_now = active(topic_name)
                for key in keys:
                    value = data.get(key)
                    if value is None:
                        continue
                    part = part_of(value)
                    if part is not None and part not in owned_now:
                        del data[key]
                        dropped += 1
                await asyncio.sleep(0)
        return dropped

    maintenance: dict[str, Any] = {"task": None, "last_s": 0.0}

    async def maintain_contacts() -> None:
        """The contacts map's due merges (floorwatch.packedmap), a slice per turn of the event
        loop, in a task of its own: merging millions of entries takes seconds, and the
        publisher goes on meanwhile. Freed buffers go back to the system afterwards."""
        contacts_map = packed(contacts)
        if contacts_map is None or contacts_map.loading or app.rebalancing or app.in_recovery:
            return
        started = time.monotonic()
        merged = await run_sliced(contacts_map.maintenance())
        if merged:
            release_free_memory()
            log.info(
                "contacts store: %d merges in %.2f s, %d runs, %.0f MiB packed",
                merged,
                time.monotonic() - started,
                len(contacts_map.runs),
                contacts_map.nbytes() / (1 << 20),
            )

    async def publish_once() -> None:
        now_s = st.clock()
        now_ms = int(now_s * 1000)
        if st.drop_unowned_pending:
            started = time.monotonic()
            dropped = await drop_unowned()
            if dropped is not None:
                st.drop_unowned_pending = False
                st.retention_cut["unowned_partition_keys"] = st.retention_cut.get("unowned_partition_keys", 0) + dropped
                log.info("dropped %d keys of partitions no longer owned in %.2f s", dropped, time.monotonic() - started)
        owned = active(topics.CONTACT_EVENTS)
        for p in list(st.aggregators):
            if p not in owned:
                del st.aggregators[p]
        # started or joined, not awaited: the heartbeat and the partitions already built go on
        # meanwhile (the contacts agent awaits it before applying events)
        ensure_aggregators(owned)
        if now_s - st.last_prune_s >= PRUNE_EVERY_S:
            st.last_prune_s = now_s
            await prune(now_ms, owned)
        task = maintenance["task"]
        if (task is None or task.done()) and now_s - maintenance["last_s"] >= MAINTAIN_EVERY_S:
            maintenance["last_s"] = now_s
            if task is not None and not task.cancelled() and task.exception() is not None:
                log.error("contacts store maintenance failed: %r", task.exception())
            maintenance["task"] = asyncio.ensure_future(maintain_contacts())
        interval_now = interval_start_ms(now_ms, settings.tz, settings.interval_minutes)
        refresh_all = now_s - st.last_rolling_s >= ROLLING_REFRESH_S or interval_now != st.last_interval_start
        if refresh_all:
            st.last_rolling_s = now_s
            st.last_interval_start = interval_now
        coalesce_s = settings.worker.publish_interval_s
        for p, agg in list(st.aggregators.items()):  # a rebuild may install partitions meanwhile
            agg.prune_minutes(now_ms)
            dirty_buckets, dirty_queues = agg.take_dirty()
            wanted = agg.queues() if refresh_all else dirty_queues
            due = {q for q in wanted if now_s - st.last_published.get((q, p), -1e18) >= coalesce_s}
            # a partial goes out at once when it has not for coalesce_s, else when that has passed
            agg.dirty_queues |= dirty_queues - due
            agg.dirty_buckets |= {b for b in dirty_buckets if b[0] not in due}
            for queue, start in dirty_buckets:
                if queue not in due:
                    continue
                bucket = agg.buckets.get((queue, start))
                key = records.interval_key(queue, start, p).encode()
                if bucket is None or bucket.contacts == 0:
                    await emit(topics.INTERVAL_STATS, key, None)
                    continue
                r = bucket.rules or [0, 0, 0.0, "answered_over_offered"]
                await emit(
                    topics.INTERVAL_STATS,
                    key,
                    records.dumps(
                        {
                            "queue": queue,
                            "start_ms": start,
                            "partition": p,
                            "end_ms": interval_end_ms(start, settings.tz, settings.interval_minutes),
                            "counts": bucket.counts.as_dict(),
                            "rules": QueueRules(r[0], r[1], r[2], r[3]).as_dict(),
                            "mixed_rules": bucket.mixed_rules,
                            "updated_ms": now_ms,
                        }
                    ),
                )
            for queue in due:
                st.last_published[(queue, p)] = now_s
                await emit(
                    topics.QUEUE_STATS,
                    records.queue_key(queue, p).encode(),
                    records.dumps(
                        {
                            "queue": queue,
                            "partition": p,
                            "waiting": len(agg.waiting.get(queue, ())),
                            "oldest_waiting_ms": agg.oldest_waiting_ms(queue),
                            "rolling_15m": agg.rolling(queue, now_ms, ROLLING_15M_MS).as_dict(),
                            "rolling_60m": agg.rolling(queue, now_ms, ROLLING_60M_MS).as_dict(),
                            "computed_ms": now_ms,
                        }
                    ),
                )
        if now_s - st.last_floor_s >= coalesce_s:
            st.last_floor_s = now_s
            await publish_floor(now_s, now_ms)
        if now_s - st.last_quality_s >= coalesce_s:
            st.last_quality_s = now_s
            await publish_quality(now_ms)
        await flush_outbox()

    async def publish_quality(now_ms: int) -> None:
        """FCR partials (customer partitions) and CSAT per agent-day (contact partitions)."""
        mine = active(topics.CUSTOMER_CONTACTS)
        for p in list(st.fcr):
            if p not in mine:
                del st.fcr[p]
        await ensure_fcr_sliced(mine)
        for p, agg in list(st.fcr.items()):
            agg.advance(now_ms, customer_contacts)
            await fold_fcr(p, agg, now_ms)
            dirty_intervals, dirty_days = agg.take_dirty()
            for day, (ikeys, aids) in agg.by_date(dirty_intervals, dirty_days).items():  # a record parsed once
                for queue, start in ikeys:
                    counts = agg.interval_figures((queue, start))  # final + live
                    await emit(
                        topics.QUALITY_STATS,
                        records.fcr_interval_key(queue, start, p).encode(),
                        None
                        if counts is None
                        else records.dumps(
                            {
                                "kind": "fcr_interval",
                                "queue": queue,
                                "start_ms": start,
                                "partition": p,
                                "updated_ms": now_ms,
                                "counts": {
                                    "customer_contacts": counts.customer_contacts,
                                    "repeat_contacts": counts.repeat_contacts,
                                    "fcr_eligible": counts.fcr_eligible,
                                    "fcr_resolved": counts.fcr_resolved,
                                },
                            }
                        ),
                    )
                for aid in aids:
                    row = agg.agent_day_figures((aid, day))  # final + live
                    await emit(
                        topics.QUALITY_STATS,
                        records.agent_day_key("fcr-agent", aid, day, p).encode(),
                        None
                        if row is None
                        else records.dumps(
                            {
                                "kind": "fcr_agent",
                                "agent_id": aid,
                                "date": day,
                                "partition": p,
                                "updated_ms": now_ms,
                                "fcr_eligible": row[0],
                                "fcr_resolved": row[1],
                            }
                        ),
                    )
        for p, qagg in list(st.aggregators.items()):
            for aid, day in qagg.take_dirty_agent_days():
                row = qagg.agent_surveys.get((aid, day))
                await emit(
                    topics.QUALITY_STATS,
                    records.agent_day_key("csat-agent", aid, day, p).encode(),
                    None
                    if row is None
                    else records.dumps(
                        {
                            "kind": "csat_agent",
                            "agent_id": aid,
                            "date": day,
                            "partition": p,
                            "updated_ms": now_ms,
                            "surveys": row[0],
                            "score_sum": row[1],
                            "satisfied": row[2],
                        }
                    ),
                )

    def agent_partition(aid: str) -> int | None:
        """Source partition of an agent: from its record, else from any of its day records."""
        rec = agents.data.get(aid)
        if rec is not None and "_p" in rec:
            return rec["_p"]
        today = local_date(int(st.clock() * 1000), settings.tz)
        for offset in (0, -1, 1):
            day = agent_days.data.get(day_key(aid, today.fromordinal(today.toordinal() + offset))) or {}
            if "_p" in day:
                return day["_p"]
        return None

    def evaluate_agent(aid: str, now_ms: int) -> tuple[dict[str, Any], list[Any]]:
        """Real-time adherence of one agent, and the alert changes it causes (book persisted)."""
        adh = settings.adherence
        schedule, timeline = agent_context(agent_days.data.get, aid, local_date(now_ms, settings.tz))
        status = realtime_status(
            schedule, timeline, now_ms, adh.activity_states, grace_s=adh.grace_s, critical_s=adh.critical_s
        )
        record = agents.data.get(aid) or {}
        book = AlertBook.from_dict(record.get("ab"))
        profile = record.get("pr")
        details = {
            "agent_id": aid,
            "name": profile[2] if profile else aid,
            "team": profile[3] if profile else None,
            "scheduled_activity": status.activity,
            "state": status.state,
            "reason": status.reason,
            "exception": status.exception,
            "out_of_adherence_since_ms": status.alert_since_ms,
        }
        out = status.alert_since_ms is not None
        since = status.alert_since_ms if out else current_pair_since(schedule, timeline, now_ms)
        changes = book.observe(
            ADHERENCE_BREAK, aid, out, now_ms, details, adherence_rule(adh.grace_s, adh.critical_s), since_ms=since
        )
        if changes:
            record = {**record, "ab": book.to_dict(), "_p": agent_partition(aid)}
            agents.data[aid] = record
        st.next_check[aid] = status.next_check_ms
        return status.as_dict(), changes

    async def publish_floor(now_s: float, now_ms: int) -> None:
        """Agent status with real-time adherence, adherence-break alerts, daily adherence."""
        owned = active(topics.AGENT_EVENTS)
        gained = owned - st.agent_parts
        if owned != st.agent_parts:
            st.agent_parts = set(owned)
            st.next_check = {a: t for a, t in st.next_check.items() if (agents.data.get(a) or {}).get("_p") in owned}
        due: dict[str, int] = {a: p for a, p in st.dirty_agents.items() if p in owned}
        st.dirty_agents = {}
        if gained:
            for aid, rec in agents.data.items():
                if rec is not None and rec.get("_p") in gained:
                    due[aid] = rec["_p"]
            for key, rec in agent_days.data.items():
                if rec is not None and rec.get("_p") in gained:
                    aid, _, day = key.rpartition("|")
                    due[aid] = rec["_p"]
                    st.dirty_days.add((aid, day))
        for aid, when in st.next_check.items():
            if when is not None and when <= now_ms and aid not in due:
                due[aid] = -1
        today = local_date(now_ms, settings.tz).isoformat()
        for aid in due:
            status, changes = evaluate_agent(aid, now_ms)
            record = agents.data.get(aid) or {}
            part = record.get("_p")
            if changes and part in owned:
                await write_changelog(agents, {aid: part})
            for change in changes:
                alert = change.alert
                await out[topics.ALERTS].send(key=alert["id"].encode(), value=records.dumps(alert))
                notifier.notify(change)
            value = agent_status(aid, record, now_ms)
            value.update(
                {k: status[k] for k in ("scheduled_activity", "in_adherence", "out_of_adherence_since_ms", "exception")}
            )
            await emit(topics.AGENT_STATUS, aid.encode(), records.dumps(value))
            st.dirty_days.add((aid, today))
        if now_s - st.last_adherence_s >= ADHERENCE_REFRESH_S:
            st.last_adherence_s = now_s
            st.dirty_days |= {(a, today) for a in st.next_check}
        dirty_days, st.dirty_days = st.dirty_days, set()
        for aid, day in dirty_days:
            if agent_partition(aid) not in owned:
                continue
            await emit(topics.ADHERENCE, day_key(aid, day).encode(), records.dumps(day_adherence(aid, day, now_ms)))

    def day_adherence(aid: str, day: str, now_ms: int) -> dict[str, Any]:
        d = date_cls.fromisoformat(day)
        schedule, timeline = agent_context(agent_days.data.get, aid, d)
        lo, hi = day_bounds_ms(d, settings.tz)
        figures = evaluate_day(schedule, day, timeline, lo, hi, now_ms, settings.adherence.activity_states)
        profile = (agents.data.get(aid) or {}).get("pr")
        logged_in = logged_in_ms_by_interval(
            timeline, day_interval_starts(d, settings.tz, settings.interval_minutes), hi, now_ms
        )
        return {
            "agent_id": aid,
            "team": profile[3] if profile else None,
            "updated_ms": now_ms,
            **figures.as_dict(),
            "logged_in_ms": {str(k): v for k, v in logged_in.items()},
        }

    me = worker_id()
    started_ms = int(st.clock() * 1000)
    heartbeats = {"stopped": False}  # set at shutdown, after which only the tombstone is written

    async def send_heartbeat() -> None:
        """This worker's fw.worker-status record: alive now, what it owns, whether it settles."""
        owned: dict[str, set[int]] = {t: set() for t in topics.CONSUMED}
        for tp in app.assignor.assigned_actives():
            if tp.topic in owned:
                owned[tp.topic].add(tp.partition)
        value = records.worker_heartbeat(
            me,
            int(st.clock() * 1000),
            started_ms,
            owned,
            rebalancing=bool(app.rebalancing),
            recovering=bool(app.in_recovery),
        )
        await out[topics.WORKER_STATUS].send(key=me.encode(), value=records.dumps(value))

    @app.on_before_shutdown.connect
    async def forget_heartbeat(app: faust.App, **kwargs: Any) -> None:  # noqa: ARG001
        """A clean stop deletes this worker's heartbeat (the producer is flushed after this)."""
        heartbeats["stopped"] = True
        try:
            await out[topics.WORKER_STATUS].send(key=me.encode(), value=None)
        except Exception:
            log.exception("could not write the heartbeat tombstone of %s", me)

    @app.task
    async def publisher() -> None:
        quiet_client_logs()
        period = PUBLISH_TICK_S
        last_heartbeat = -HEARTBEAT_S
        while not app.should_stop:
            started = time.monotonic()
            # the heartbeat goes out from this loop, rebalancing or not: it stops when the loop does
            if started - last_heartbeat >= HEARTBEAT_S and not heartbeats["stopped"]:
                last_heartbeat = started
                try:
                    await send_heartbeat()
                except Exception:
                    log.exception("heartbeat failed; retrying next tick")
            if not (app.rebalancing or app.in_recovery):
                try:
                    await publish_once()
                except Exception:  # a publish failure must not stop processing
                    log.exception("publish failed; retrying next tick")
            await app.sleep(max(0.0, period - (time.monotonic() - started)))

    @app.on_partitions_revoked.connect
    async def on_revoked(app: faust.App, revoked: Any, **kwargs: Any) -> None:  # noqa: ARG001
        if revoked:
            st.drop_unowned_pending = True  # publish_once drops their keys once settled
        for tp in revoked:
            if tp.topic == topics.CONTACT_EVENTS:
                st.aggregators.pop(tp.partition, None)
                rebuild["epoch"] += 1  # a rebuild in flight read a table that may change now
            elif tp.topic == topics.CUSTOMER_CONTACTS:
                st.fcr.pop(tp.partition, None)
                fcr_build["epoch"] += 1  # a build in flight read a table that may change now

    return app
