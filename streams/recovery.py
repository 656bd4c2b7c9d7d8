"""Changelog recovery that does not trust ListOffsets(latest).

Tansu answers ListOffsets(latest) with *base offset of the last batch + 1* whenever the last
batch holds several records, so Faust's recovery would stop inside the last batch and lose its
records (measured: a table lost 14 of 20,000 updates in 1 of 3 memory-store restarts). After
Faust's own high-water lookup we fetch each changelog partition once from *reported end - 1* and take
max(reported end, fetch-response high watermark, last fetched offset + 1). On Apache Kafka
this returns the same number as Kafka (one small fetch per partition).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.serializers import codecs
from faust.stores.memory import Store as MemoryStore
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP

from floorwatch.packedmap import PackedMap
from floorwatch.streams.packed_store import PackedMemoryStore

log = logging.getLogger(__name__)

BULK_FETCH_BYTES = 8 << 20  # per partition and fetch: a changelog record is ~0.3 KB
BULK_MAX_RECORDS = 20_000  # applied per turn of the event loop (one getmany)
BULK_STALL_S = 60.0  # no record for this long while records are due: recovery fails (crash-only)


def bootstrap_of(app: Any) -> str:
    return ",".join(f"{url.host}:{url.port or 9092}" for url in app.conf.broker)


async def true_end_offsets(
    bootstrap: str, reported: Mapping[TopicPartition, int], timeout_s: float = 10
) -> dict[TopicPartition, int]:
    """The real end offset of each partition, probing the last batch of each."""
    ends = dict(reported)
    probe = [tp for tp, end in reported.items() if end > 0]
    if not probe:
        return ends
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    try:
        consumer.assign(probe)
        for tp in probe:
            consumer.seek(tp, reported[tp] - 1)
        pending = set(probe)
        deadline = time.monotonic() + timeout_s
        while pending and time.monotonic() < deadline:
            batch = await consumer.getmany(*pending, timeout_ms=200)
            for tp, records in batch.items():
                if records:
                    ends[tp] = max(ends[tp], records[-1].offset + 1)
            for tp in list(pending):
                highwater = consumer.highwater(tp)
                if highwater is None:
                    continue
                ends[tp] = max(ends[tp], highwater)
                if await consumer.position(tp) >= highwater:
                    pending.discard(tp)
        if pending:
            raise TimeoutError(f"could not read the end of {sorted(map(str, pending))}")
    finally:
        await consumer.stop()
    return ends


class TansuSafeRecovery(Recovery):
    async def _build_highwaters(self, consumer, tps: set[TP], destination, title: str) -> None:
        await super()._build_highwaters(consumer, tps, destination, title)
        reported = {TopicPartition(tp.topic, tp.partition): destination[tp] + 1 for tp in tps}
        ends = await true_end_offsets(bootstrap_of(self.app), reported)
        for tp in tps:
            true_end = ends[TopicPartition(tp.topic, tp.partition)]
            if true_end - 1 != destination[tp]:
                self.log.info("changelog %s: reported end %s, true end %s", tp, destination[tp] + 1, true_end)
            destination[tp] = true_end - 1

    async def _wait(self, coro, timeout=None) -> None:
        """Faust bounds each recovery step by the broker request timeout and, when it passes,
        silently goes on; the bulk read inside ``_build_offsets`` takes as long as the changelog
        is (a minute per few million records) and has its own stall limit, so it gets none."""
        if getattr(getattr(coro, "cr_code", None), "co_name", "") == "_build_offsets":
            timeout = None
        await super()._wait(coro, timeout=timeout)

    async def _build_offsets(self, consumer, tps: set[TP], destination, title: str) -> None:
        """After Faust's start offsets of the active changelog partitions: apply what memory-store
        tables have to read in bulk (``bulk_recover``) and move their offsets to the end, so
        Faust's per-event recovery finds nothing left for them."""
        await super()._build_offsets(consumer, tps, destination, title)
        if title != "active":
            return
        plan: dict[TP, tuple[Any, int, int]] = {}
        for tp in tps:
            table = self.tp_to_table.get(tp)
            highwater = self.active_highwaters.get(tp)
            if table is None or highwater is None or not bulk_loadable(table):
                continue
            plan[tp] = (table, destination[tp] + 1, highwater)
        if not plan:
            return
        started = time.monotonic()
        applied = await bulk_recover(bootstrap_of(self.app), plan)
        for tp, (_, _, highwater) in plan.items():
            destination[tp] = max(destination[tp], highwater)
        total = sum(applied.values())
        took = time.monotonic() - started
        log.info(
            "bulk changelog recovery: %d records of %d partitions in %.2f s (%.0f records/s)",
            total,
            len(plan),
            took,
            total / took if took > 0 else 0.0,
        )


def _composed(outer: Callable[[Any], Any], inner: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    """``outer(inner(raw))``: a changelog key as the table keeps it."""
    return lambda raw: outer(inner(raw))


def _decoder(serializer: Any) -> Callable[[bytes], Any]:
    if serializer in (None, "raw"):
        return lambda raw: raw
    if serializer == "json":
        return orjson.loads
    return lambda raw: codecs.loads(serializer, raw)


def bulk_loadable(table: Any) -> bool:
    """Plain tables on a memory store (a dict or a PackedMap): their changelog can be applied
    without Faust's events."""
    return type(table.data) in (MemoryStore, PackedMemoryStore) and getattr(table, "window", None) is None


async def _finish_loads(maps: Iterable[PackedMap]) -> None:
    """End the load mode of packed maps (their merge), a turn of the event loop per slice."""
    for packed_map in maps:
        for _ in packed_map.finish_load():
            await asyncio.sleep(0)


def apply_changelog_records(
    data: MutableMapping[Any, Any],
    records: Iterable[Any],
    last: int,
    key_of: Callable[[bytes], Any],
    value_of: Callable[[bytes], Any],
) -> int:
    """Apply changelog records (``offset``, ``key``, ``value`` bytes; ``None`` value: a
    tombstone) up to offset ``last`` to ``data``, one by one in offset order; returns how many."""
    n = 0
    put = data.load_put if isinstance(data, PackedMap) and data.loading else None
    for rec in records:
        if rec.offset > last:
            break
        key = key_of(rec.key)
        if put is not None:  # the newest version, no lookup, nothing kept per record
            put(key, None if rec.value is None else value_of(rec.value))
        elif rec.value is None:
            data.pop(key, None)
        else:
            data[key] = value_of(rec.value)
        n += 1
    return n


async def bulk_recover(bootstrap: str, plan: Mapping[TP, tuple[Any, int, int]]) -> dict[TP, int]:
    """Apply changelog records ``[start, last]`` of each partition straight into its table's
    memory store, in offset order, with one plain consumer; returns the records applied per
    partition.

    Faust's own recovery turns every changelog record into a message and an event, queues it and
    applies it in buffers: ~6,000 records/s here, while the broker serves ~300,000 records/s to
    a plain consumer. Records are applied one by one in offset order (a key set, deleted and set
    again ends set), a slice of at most ``BULK_MAX_RECORDS`` per turn of the event loop.
    """
    due = {tp: v for tp, v in plan.items() if v[2] >= v[1]}
    applied = {tp: 0 for tp in plan}
    if not due:
        return applied
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=BULK_FETCH_BYTES,
        fetch_max_bytes=4 * BULK_FETCH_BYTES,
    )
    loading = {id(m): m for table, _, _ in due.values() if isinstance(m := table.data.data, PackedMap)}
    for packed_map in loading.values():
        packed_map.begin_load()  # writes shadow older versions without lookups until finish_load
    await consumer.start()
    try:
        by_ktp = {TopicPartition(tp.topic, tp.partition): tp for tp in due}
        consumer.assign(list(by_ktp))
        for ktp, tp in by_ktp.items():
            consumer.seek(ktp, due[tp][1])
        pending = set(by_ktp)
        last_progress = time.monotonic()
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=500, max_records=BULK_MAX_RECORDS)
            if any(batch.values()):
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > BULK_STALL_S:
                raise TimeoutError(f"changelog recovery stalled on {sorted(map(str, pending))}")
            for ktp, records in batch.items():
                tp = by_ktp[ktp]
                table, _, last = due[tp]
                data = table.data.data
                schema = table.schema  # what the changelog topic decodes with, when set
                key_of = _decoder(getattr(schema, "key_serializer", None) or table.key_serializer)
                value_of = _decoder(getattr(schema, "value_serializer", None) or table.value_serializer)
                to_key = table._to_key  # noqa: SLF001 - Faust has no public key decoder
                applied[tp] += apply_changelog_records(data, records, last, _composed(to_key, key_of), value_of)
                if records and records[-1].offset >= last:
                    pending.discard(ktp)
    finally:
        await consumer.stop()
        await _finish_loads(loading.values())
    return applied


class TansuSafeTableManager(TableManager):
    """``TableManager`` whose recovery uses :class:`TansuSafeRecovery`."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = TansuSafeRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
