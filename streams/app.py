"""The Faust application: topics, tables, agents and the publisher (thin shells over the domain).

Design (docs/architecture.md): input topics are keyed so that no ``group_by`` is needed;
the only persisted state is per-contact facts (table ``contacts``, co-partitioned with
``fw.contact-events``) and per-agent facts (table ``agents``, co-partitioned with
``fw.agent-events``). Queue aggregates are derived in memory per source partition and
published as per-partition partials that readers sum.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import faust
import orjson
from faust.types import EventT

from floorwatch import records, topics
from floorwatch.config import Settings
from floorwatch.domain.aggregate import QueueAggregator
from floorwatch.domain.agents import agent_status, apply_agent_event
from floorwatch.domain.contacts import apply_event, reference_ms
from floorwatch.domain.intervals import day_bounds_ms, interval_end_ms, interval_start_ms, local_date
from floorwatch.domain.queue_metrics import QueueRules
from floorwatch.events import EventError, parse_event

log = logging.getLogger("floorwatch.worker")

APP_ID = "floorwatch"
ROLLING_REFRESH_S = 5.0
PRUNE_EVERY_S = 3600.0
RAW_MAX = 4096


def quiet_client_logs() -> None:
    """aiokafka logs every produced record at DEBUG; formatting them cost ~8 % of the worker."""
    logging.getLogger("aiokafka").setLevel(logging.INFO)


def broker_urls(bootstrap: str) -> str:
    return ";".join(f"kafka://{h.strip()}" for h in bootstrap.split(",") if h.strip())


class WorkerState:
    """What this worker derives in memory from the tables of the partitions it owns."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.aggregators: dict[int, QueueAggregator] = {}
        self.dirty_agents: dict[str, int] = {}
        self.rejected: Counter[str] = Counter()
        self.processed = 0
        self.last_rolling_s = 0.0
        self.last_prune_s = 0.0
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
        return QueueAggregator(self.settings.tz, self.settings.interval_minutes)


def create_app(settings: Settings, state: WorkerState | None = None) -> faust.App:
    """A Faust app wired to ``settings``; Faust reads only ``FLOORWATCH_FAUST_*`` env vars."""
    w = settings.worker
    partitions = settings.kafka.partitions
    app = faust.App(
        APP_ID,
        broker=broker_urls(settings.kafka.bootstrap),
        env_prefix="FLOORWATCH_FAUST_",
        autodiscover=False,
        store=w.store,
        datadir=w.datadir,
        topic_partitions=partitions,
        topic_allow_declare=True,
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
        TableManager="streams.recovery:TansuSafeTableManager",
        key_serializer="raw",
        value_serializer="raw",
    )
    quiet_client_logs()
    st = state or WorkerState(settings)
    app.floorwatch_state = st  # type: ignore[attr-defined]

    def topic(name: str) -> faust.TopicT:
        return app.topic(name, key_type=bytes, value_type=bytes, partitions=partitions,
                         key_serializer="raw", value_serializer="raw")

    contact_topic = topic(topics.CONTACT_EVENTS)
    agent_topic = topic(topics.AGENT_EVENTS)
    schedule_topic = topic(topics.SCHEDULES)
    forecast_topic = topic(topics.FORECASTS)
    out = {name: topic(name) for name in topics.OUTPUTS}

    json_schema = faust.Schema(key_type=str, key_serializer="json", value_serializer="json")
    contacts = app.Table("contacts", default=None, partitions=partitions, schema=json_schema)
    agents = app.Table("agents", default=None, partitions=partitions, schema=json_schema)

    def active(topic_name: str) -> set[int]:
        return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic_name}

    def ensure_aggregators(wanted: set[int]) -> None:
        """Build aggregators for owned partitions from the contact facts (after recovery)."""
        missing = wanted - st.aggregators.keys()
        if not missing:
            return
        started = time.monotonic()
        built = {p: st.new_aggregator() for p in missing}
        n = 0
        for cid, facts in contacts.data.items():
            if facts is not None and facts.get("_p") in built:
                built[facts["_p"]].update(cid, facts)
                n += 1
        st.aggregators.update(built)
        log.info("rebuilt aggregates of partitions %s from %d contacts in %.2f s",
                 sorted(missing), n, time.monotonic() - started)

    async def write_changelog(table: faust.Table, changed: dict[str, int]) -> None:
        """Changelog records for keys changed in a batch, each to its source partition.

        Written through the app's producer rather than ``Table.send_changelog``, whose
        per-record bookkeeping cost 2/3 of the worker's time; the producer is flushed before
        every offset commit, so a committed event's state is always in the changelog.
        """
        name = table.changelog_topic.get_topic_name()
        send = app.producer.send
        data = table.data
        for key, p in changed.items():
            await send(name, orjson.dumps(key), orjson.dumps(data[key]), p, None, None)

    async def dead_letter(event: EventT, exc: EventError) -> None:
        st.rejected[exc.reason] += 1
        raw = event.value if isinstance(event.value, bytes) else bytes(str(event.value), "utf-8")
        msg = event.message
        log.warning("dead letter %s[%s]@%s: %s", msg.topic, msg.partition, msg.offset, exc)
        await out[topics.DEAD_LETTERS].send(
            key=msg.topic.encode(),
            value=records.dumps({
                "reason": exc.reason, "error": str(exc), "topic": msg.topic,
                "partition": msg.partition, "offset": msg.offset,
                "raw": raw[:RAW_MAX].decode("utf-8", "replace"), "at_ms": int(st.clock() * 1000),
            }),
        )

    async def validated(event: EventT, expect: tuple[str, ...]) -> tuple[dict[str, Any], int] | None:
        try:
            try:
                data = orjson.loads(event.value)
            except orjson.JSONDecodeError as exc:
                raise EventError(f"not JSON: {exc}", "not_json") from None
            parsed = parse_event(data)
            if not parsed.type.startswith(expect):
                raise EventError(f"event type {parsed.type!r} does not belong on {event.message.topic}",
                                 "wrong_topic")
        except EventError as exc:
            await dead_letter(event, exc)
            return None
        st.processed += 1
        return data, parsed.ts_ms

    @app.agent(contact_topic, name="contact-events")
    async def process_contacts(stream: faust.StreamT) -> None:
        async for batch in stream.take_events(w.batch_size, w.batch_within_s):
            ensure_aggregators(active(topics.CONTACT_EVENTS) | {e.message.partition for e in batch})
            changed: dict[str, int] = {}
            for event in batch:
                ok = await validated(event, ("contact.", "survey."))
                if ok is None:
                    continue
                data, ts_ms = ok
                p = event.message.partition
                cid = data["contact_id"]
                new = apply_event(contacts.data.get(cid), data, ts_ms, st.rules_for)
                if new is None:
                    continue
                new["_p"] = p
                contacts.data[cid] = new
                st.aggregators[p].update(cid, new)
                changed[cid] = p
            await write_changelog(contacts, changed)

    @app.agent(agent_topic, name="agent-events")
    async def process_agents(stream: faust.StreamT) -> None:
        async for batch in stream.take_events(w.batch_size, w.batch_within_s):
            changed: dict[str, int] = {}
            for event in batch:
                ok = await validated(event, ("agent.",))
                if ok is None:
                    continue
                data, ts_ms = ok
                aid = data["agent_id"]
                new = apply_agent_event(agents.data.get(aid), data, ts_ms)
                if new is None:
                    continue
                p = event.message.partition
                new["_p"] = p
                agents.data[aid] = new
                changed[aid] = p
            await write_changelog(agents, changed)
            st.dirty_agents.update(changed)

    @app.agent(schedule_topic, name="schedules")
    async def process_schedules(stream: faust.StreamT) -> None:
        async for batch in stream.take_events(w.batch_size, w.batch_within_s):
            for event in batch:
                await validated(event, ("schedule.",))

    @app.agent(forecast_topic, name="forecasts")
    async def process_forecasts(stream: faust.StreamT) -> None:
        async for batch in stream.take_events(w.batch_size, w.batch_within_s):
            for event in batch:
                await validated(event, ("forecast.",))

    async def prune(now_ms: int, owned: set[int]) -> None:
        """Forget contacts older than ``retention_days`` (tombstones in the changelog)."""
        today = local_date(now_ms, settings.tz)
        cutoff_ms, _ = day_bounds_ms(today.fromordinal(today.toordinal() - settings.retention_days), settings.tz)
        name = contacts.changelog_topic.get_topic_name()
        expired = [(cid, f["_p"]) for cid, f in contacts.data.items()
                   if f is not None and f.get("_p") in owned and reference_ms(f) < cutoff_ms]
        for cid, p in expired:
            del contacts.data[cid]
            st.aggregators[p].forget(cid)
            await app.producer.send(name, orjson.dumps(cid), None, p, None, None)
        if expired:
            log.info("retention: forgot %d contacts offered before %s", len(expired), cutoff_ms)

    async def publish_once() -> None:
        now_s = st.clock()
        now_ms = int(now_s * 1000)
        owned = active(topics.CONTACT_EVENTS)
        for p in list(st.aggregators):
            if p not in owned:
                del st.aggregators[p]
        ensure_aggregators(owned)
        if now_s - st.last_prune_s >= PRUNE_EVERY_S:
            st.last_prune_s = now_s
            await prune(now_ms, owned)
        interval_now = interval_start_ms(now_ms, settings.tz, settings.interval_minutes)
        refresh_all = (now_s - st.last_rolling_s >= ROLLING_REFRESH_S
                       or interval_now != st.last_interval_start)
        if refresh_all:
            st.last_rolling_s = now_s
            st.last_interval_start = interval_now
        for p, agg in st.aggregators.items():
            dirty_buckets, dirty_queues = agg.take_dirty()
            for queue, start in dirty_buckets:
                bucket = agg.buckets.get((queue, start))
                key = records.interval_key(queue, start, p).encode()
                if bucket is None or not bucket.members:
                    await out[topics.INTERVAL_STATS].send(key=key, value=None)
                    continue
                r = bucket.rules or [0, 0, 0.0, "answered_over_offered"]
                await out[topics.INTERVAL_STATS].send(key=key, value=records.dumps({
                    "queue": queue, "start_ms": start, "partition": p,
                    "end_ms": interval_end_ms(start, settings.tz, settings.interval_minutes),
                    "counts": bucket.counts.as_dict(),
                    "rules": QueueRules(r[0], r[1], r[2], r[3]).as_dict(),
                    "mixed_rules": bucket.mixed_rules, "updated_ms": now_ms,
                }))
            queues = agg.queues() if refresh_all else dirty_queues
            for queue in queues:
                await out[topics.QUEUE_STATS].send(
                    key=records.queue_key(queue, p).encode(),
                    value=records.dumps({
                        "queue": queue, "partition": p,
                        "waiting": len(agg.waiting.get(queue, ())),
                        "oldest_waiting_ms": agg.oldest_waiting_ms(queue),
                        "rolling_15m": agg.rolling(queue, now_ms, 15 * 60_000).as_dict(),
                        "rolling_60m": agg.rolling(queue, now_ms, 60 * 60_000).as_dict(),
                        "computed_ms": now_ms,
                    }),
                )
        owned_agents = active(topics.AGENT_EVENTS)
        dirty, st.dirty_agents = st.dirty_agents, {}
        for aid, p in dirty.items():
            record = agents.data.get(aid)
            if p in owned_agents and record is not None:
                await out[topics.AGENT_STATUS].send(
                    key=aid.encode(), value=records.dumps(agent_status(aid, record, now_ms)))

    @app.task
    async def publisher() -> None:
        quiet_client_logs()
        period = settings.api.publish_interval_s
        while not app.should_stop:
            started = time.monotonic()
            if not (app.rebalancing or app.in_recovery):
                try:
                    await publish_once()
                except Exception:  # a publish failure must not stop processing
                    log.exception("publish failed; retrying next tick")
            await app.sleep(max(0.0, period - (time.monotonic() - started)))

    @app.on_partitions_revoked.connect
    async def on_revoked(app: faust.App, revoked: Any, **kwargs: Any) -> None:  # noqa: ARG001
        for tp in revoked:
            if tp.topic == topics.CONTACT_EVENTS:
                st.aggregators.pop(tp.partition, None)

    return app
