"""The Faust application: the assembly of the worker's parts (thin shells over the domain).

Design (docs/architecture.md): input topics are keyed so that no ``group_by`` is needed;
the only persisted state is per-contact facts (table ``contacts``, co-partitioned with
``fw.contact-events``) and per-agent facts (table ``agents``, co-partitioned with
``fw.agent-events``). Queue aggregates are derived in memory per source partition and
published as per-partition partials that readers sum.

The parts: ``context.py`` (``Worker``: app, settings, ``WorkerState``, topics, tables, output
batch, changelog writes, dead letters), ``topology.py`` (topics and tables), ``agents/`` (one
module per input agent), ``rebuild.py`` (queue and FCR aggregators from the tables),
``pruning.py`` (retention), ``publisher.py`` (``Publisher``: the output partials, heartbeat,
maintenance).
"""

from __future__ import annotations

import os
import socket
from typing import Any

import faust

from floorwatch import topics
from floorwatch.config import Settings
from floorwatch.memory import fix_mmap_threshold
from floorwatch.streams.agents import agent_events, contacts, customers, forecasts, schedules
from floorwatch.streams.alerting import WebhookNotifier, run_queue_alerts
from floorwatch.streams.context import PUBLISH_TICK_S, RAW_MAX, Worker, WorkerState, quiet_client_logs
from floorwatch.streams.produce import Outbox
from floorwatch.streams.publisher import (
    ADHERENCE_REFRESH_S,
    HEARTBEAT_S,
    MAINTAIN_EVERY_S,
    PRUNE_EVERY_S,
    ROLLING_REFRESH_S,
    Publisher,
)
from floorwatch.streams.rebuild import AggregateRebuild, FcrRebuild
from floorwatch.streams.rocks_store import store_url
from floorwatch.streams.topology import declare_tables, declare_topics

__all__ = [
    "ADHERENCE_REFRESH_S",
    "APP_ID",
    "HEARTBEAT_S",
    "MAINTAIN_EVERY_S",
    "MMAP_THRESHOLD_BYTES",
    "PRUNE_EVERY_S",
    "PUBLISH_TICK_S",
    "RAW_MAX",
    "ROLLING_REFRESH_S",
    "WorkerState",
    "broker_urls",
    "create_app",
    "quiet_client_logs",
    "set_fetch_max_wait",
    "worker_id",
]

APP_ID = topics.WORKER_APP_ID
MMAP_THRESHOLD_BYTES = 256 << 10  # allocations this large get their own mapping (floorwatch.memory)


def set_fetch_max_wait(ms: int) -> None:
    """Faust builds its worker consumer with ``fetch_max_wait_ms=1500`` and no setting for it;
    set the wait on the consumer it creates, before the consumer starts its fetcher."""
    from faust.transport.drivers import aiokafka as driver

    cls: Any = driver.AIOKafkaConsumerThread
    original = getattr(cls, "_floorwatch_original_create", None) or cls._create_worker_consumer
    cls._floorwatch_original_create = original

    def create(self: Any, transport: Any) -> Any:
        consumer = original(self, transport)
        consumer._fetch_max_wait_ms = ms  # noqa: SLF001 - Faust has no setting for this wait
        return consumer

    cls._create_worker_consumer = create


def worker_id() -> str:
    """This worker's key on fw.worker-status: host name and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def broker_urls(bootstrap: str) -> str:
    return ";".join(f"kafka://{h.strip()}" for h in bootstrap.split(",") if h.strip())


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
        consumer_max_fetch_size=w.consumer_max_fetch_bytes,
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

    ctx = Worker(
        app,
        settings,
        st,
        declare_topics(app, settings),
        declare_tables(app, settings),
        Outbox(settings.kafka.output_partitions),
    )
    aggregates = AggregateRebuild(ctx)
    fcr_build = FcrRebuild(ctx)
    contacts.register(ctx, aggregates)
    customers.register(ctx, fcr_build)
    agent_events.register(ctx)
    schedules.register(ctx)
    forecasts.register(ctx)
    pub = Publisher(ctx, aggregates, fcr_build, notifier, worker_id())

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # Faust's receiver type has *args; it passes app and keywords
    async def forget_heartbeat(app: faust.App, **kwargs: Any) -> None:  # noqa: ARG001
        """A clean stop deletes this worker's heartbeat (the producer is flushed after this)."""
        await pub.forget_heartbeat()

    @app.task
    async def publisher() -> None:
        await pub.run()

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]  # as above
    async def on_revoked(app: faust.App, revoked: Any, **kwargs: Any) -> None:  # noqa: ARG001
        if revoked:
            st.drop_unowned_pending = True  # publish_once drops their keys once settled
        for tp in revoked:
            if tp.topic == topics.CONTACT_EVENTS:
                st.aggregators.pop(tp.partition, None)
                aggregates.epoch += 1  # a rebuild in flight read a table that may change now
            elif tp.topic == topics.CUSTOMER_CONTACTS:
                st.fcr.pop(tp.partition, None)
                fcr_build.epoch += 1  # a build in flight read a table that may change now

    return app
