"""The worker's tables on RocksDB (``worker.store: rocksdb``): on disk, one DB per partition.

A subclass of Faust's own RocksDB store (``faust.stores.rocksdb.Store``, rocksdict driver),
which keeps one DB per changelog partition under the worker's data directory and persists
in each DB the changelog offset it has applied, so that a restarted worker reads only the
changelog after it. What is overridden, and why:

* **Partitions.** Faust's store picks the DB of a read or a write from the *current event*;
  the worker applies events in batches and writes tables from its publisher and pruning,
  where the current event is some other event or none. Here a write goes to the partition of
  its changelog record (the partition ``write_changelog`` sends it to, which is the ``_p``
  the worker keeps inside values), and a read looks in the overlay, then in the DB its key
  was last seen in, then in every open DB (bloom filters first).
* **Never ahead of the changelog.** A table write goes to an in-memory *overlay* (read before
  the DB), never straight to RocksDB. ``send_changelog`` takes the overlay's bytes of the
  changed keys, registers them as a *ticket* per record batch *before* the batch is handed to
  the producer, and sends them. Once Kafka acknowledged a ticket's batch, its values and the
  changelog offset they reached go to RocksDB in one atomic write batch (per partition).
  The producer keeps one batch in flight per partition, so acknowledgements of a partition
  come in offset order: every acknowledged ticket of a partition precedes every pending one,
  and every record at or below the persisted offset is in the DB. A crash loses only the
  overlay, whose changelog records are either not acknowledged (their events are delivered
  again, their batch was never acknowledged) or after the persisted offset (read again at
  recovery). RocksDB's write-ahead log recovers a prefix of whole write batches, so the DB
  and its offset stay consistent after a machine crash too.
* **Encoding.** Keys and values are the exact bytes of the changelog records (keys and dict
  values as orjson JSON, bytes values such as packed contact facts as they are), so a DB
  filled by recovery and one filled by the worker hold the same bytes.
* **Options.** Memtables per DB and a block cache shared by every DB of the process, both
  from settings (Faust's defaults: 3 x 64 MiB memtables and a 2 GiB cache per DB).
* **Revocation** closes the DB (Faust only drops its reference) and forgets the overlay and
  tickets of the partition: the next owner rebuilds from the changelog.

Recovery is Faust's (with the Tansu end-offset workaround of streams/recovery.py and the
consistency check on); ``apply_changelog_batch`` counts what it applied, logged once recovery
completes ("recovered N changelog records").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import rocksdict
from faust.stores import STORES
from faust.stores.rocksdb import RocksDBOptions, Store as FaustRocksStore
from faust.types import TP
from yarl import URL

log = logging.getLogger("floorwatch.worker")

SCHEME = "floorwatch-rocksdb"
FLUSH_DELAY_S = 0.05  # acknowledged tickets are written together this long after the first one
MIB = 1 << 20


def store_url(store: str, write_buffer_bytes: int, block_cache_bytes: int) -> str:
    """The Faust store URL of ``worker.store`` (``memory`` or ``rocksdb``)."""
    if store == "memory":
        return "memory://"
    if store == "rocksdb":
        return f"{SCHEME}://?write_buffer_bytes={write_buffer_bytes}&block_cache_bytes={block_cache_bytes}"
    raise ValueError(f"unknown store {store!r}")


_shared_caches: dict[int, Any] = {}


def shared_cache(size_bytes: int) -> Any:
    """One block cache per size for the whole process (every table's every partition)."""
    cache = _shared_caches.get(size_bytes)
    if cache is None:
        cache = _shared_caches[size_bytes] = rocksdict.Cache(size_bytes)
    return cache


class SmallRocksOptions(RocksDBOptions):
    """Faust's options with a block cache shared by every DB and small memtables."""

    def as_options(self) -> Any:
        opts = rocksdict.Options(raw_mode=True)
        opts.create_if_missing(True)
        if self.max_open_files is not None:
            opts.set_max_open_files(self.max_open_files)
        opts.set_write_buffer_size(self.write_buffer_size)
        opts.set_max_write_buffer_number(self.max_write_buffer_number)
        opts.set_target_file_size_base(self.target_file_size_base)
        table = rocksdict.BlockBasedOptions()
        table.set_bloom_filter(self.bloom_filter_size, block_based=True)
        table.set_block_cache(shared_cache(self.block_cache_size))
        table.set_index_type(rocksdict.BlockBasedIndexType.binary_search())
        opts.set_block_based_table_factory(table)
        return opts

    def open(self, path: Path, *, read_only: bool = False) -> Any:  # noqa: ARG002 - never read-only here
        db = rocksdict.Rdict(str(path), options=self.as_options(), access_type=rocksdict.AccessType.read_write())
        db.set_read_options(rocksdict.ReadOptions())
        return db


@dataclass
class Ticket:
    """Changelog records of one producer batch: (key, value | None, overlay sequence | None)."""

    partition: int
    records: list[tuple[bytes, bytes | None, int | None]]
    future: Any = None  # the batch's delivery future, once the producer took it
    dropped: bool = False  # its partition was revoked: never flushed


@dataclass
class FlushStats:
    flushes: int = 0
    records: int = 0
    failed_tickets: int = 0
    per_partition_offset: dict[int, int] = field(default_factory=dict)


class PartitionedRocksStore(FaustRocksStore):
    """Faust's RocksDB store writing where the changelog goes, never ahead of it."""

    def __init__(self, url: str | URL, app: Any, table: Any, **kwargs: Any) -> None:
        query = URL(url).query
        super().__init__(url, app, table, **kwargs)
        self.rocksdb_options = SmallRocksOptions(
            write_buffer_size=int(query.get("write_buffer_bytes", 4 * MIB)),
            max_write_buffer_number=2,
            target_file_size_base=16 * MIB,
            block_cache_size=int(query.get("block_cache_bytes", 64 * MIB)),
            use_rocksdict=True,
        )
        self._overlay: dict[bytes, tuple[bytes | None, int, int | None]] = {}  # key -> (value, seq, partition)
        self._seq = 0
        self._tickets: dict[int, deque[Ticket]] = {}
        self._flush_handle: asyncio.TimerHandle | None = None
        self.stats = FlushStats()
        self.recovered_records = 0
        self._last_part: int | None = None  # partition of the last key read from a DB
        self._closed = False  # stopped: nothing is written (a late flush must not reopen a DB)

    # -- encoding: the changelog's bytes ---------------------------------------------------
    def _encode_key(self, key: Any) -> bytes:
        return orjson.dumps(key)

    def _decode_key(self, key: bytes | None) -> Any:
        return None if key is None else orjson.loads(key)

    def _encode_value(self, value: Any) -> bytes | None:
        """A bytes value (a packed record, floorwatch.domain.factcodec) as it is, else JSON."""
        if value is None or isinstance(value, bytes):
            return value
        return orjson.dumps(value)

    def _decode_value(self, value: bytes | None) -> Any:
        """JSON when it is a JSON object (first byte ``{``: every JSON value the tables hold),
        else the bytes as they are (a packed record never starts with ``{``)."""
        if value is None or value[:1] != b"{":
            return value
        return orjson.loads(value)

    # -- writes: the overlay ---------------------------------------------------------------
    def __setitem__(self, key: Any, value: Any) -> None:
        p = value.get("_p") if isinstance(value, dict) else None
        self._put(self._encode_key(key), self._encode_value(value), p if isinstance(p, int) else None)

    def _put(self, key: bytes, value: bytes | None, partition: int | None) -> None:
        self._seq += 1
        if partition is None:
            old = self._overlay.get(key)
            partition = old[2] if old is not None else None
        self._overlay[key] = (value, self._seq, partition)

    def _set(self, key: bytes, value: bytes | None) -> None:
        self._put(key, value, None)

    def _del(self, key: bytes) -> None:
        self._put(key, None, None)

    @property
    def overlay_keys(self) -> int:
        """Keys written whose value is not yet in RocksDB (pending acknowledgement)."""
        return len(self._overlay)

    # -- reads: overlay, then the key's DB, then every open DB ------------------------------
    def _get(self, key: bytes) -> bytes | None:
        entry = self._overlay.get(key)
        if entry is not None:
            return entry[0]
        return self._db_get(key)

    def _db_get(self, key: bytes) -> bytes | None:
        """The key's value in the open DBs: first the DB of the last hit (a scan of the table's
        keys then reads them partition after partition), then the others (bloom filters make
        a miss cheap). Faust's key index (an LRU with a lock) cost more than the DB reads."""
        last = self._last_part
        db = self._dbs.get(last) if last is not None else None
        if db is not None:
            value = db.get(key)
            if value is not None:
                return value
        for part, db in self._dbs.items():
            if part != last:
                value = db.get(key)
                if value is not None:
                    self._last_part = part
                    return value
        return None

    def _contains(self, key: bytes) -> bool:
        return self._get(key) is not None

    def _iteritems(self) -> Iterator[tuple[bytes, bytes]]:
        overlay = dict(self._overlay)  # a snapshot: writes may happen between two slices
        for db in list(self._dbs_for_actives()):
            for key, value in self._visible_items(db):
                if key not in overlay:
                    yield key, value
        for key, (overlay_value, _, _) in overlay.items():
            if overlay_value is not None:
                yield key, overlay_value

    def _iterkeys(self) -> Iterator[bytes]:
        overlay = dict(self._overlay)
        for db in list(self._dbs_for_actives()):
            for key in self._visible_keys(db):
                if key not in overlay:
                    yield key
        for key, (value, _, _) in overlay.items():
            if value is not None:
                yield key

    def _itervalues(self) -> Iterator[bytes]:
        for _, value in self._iteritems():
            yield value

    def _size(self) -> int:
        return sum(1 for _ in self._iteritems())

    # -- the changelog and the flush ---------------------------------------------------------
    async def send_changelog(self, producer: Any, topic: str, changed: Mapping[Any, int]) -> list[Any]:
        """Send the current values of ``changed`` keys (key -> partition) as changelog records,
        a producer batch per partition (more when one is full); returns the delivery futures.
        Each batch is registered as a ticket before the producer takes it."""
        by_part: dict[int, list[tuple[bytes, bytes | None, int | None]]] = {}
        for key, p in changed.items():
            kb = self._encode_key(key)
            entry = self._overlay.get(kb)
            rec: tuple[bytes, bytes | None, int | None]
            if entry is None:
                rec = (kb, self._db_get(kb), None)  # unchanged since written to the DB
            else:
                rec = (kb, entry[0], entry[1])
                if entry[2] != p:
                    self._overlay[kb] = (entry[0], entry[1], p)
            by_part.setdefault(p, []).append(rec)
        tickets: list[Ticket] = []
        builders: list[tuple[Ticket, Any]] = []
        for p, recs in by_part.items():
            ticket, builder = Ticket(p, []), producer.create_batch()
            for rec in recs:
                if builder.append(timestamp=None, key=rec[0], value=rec[1]) is None:  # full
                    builders.append((ticket, builder))
                    ticket, builder = Ticket(p, []), producer.create_batch()
                    builder.append(timestamp=None, key=rec[0], value=rec[1])
                ticket.records.append(rec)
            builders.append((ticket, builder))
        for ticket, _ in builders:  # registered before any of them reaches the producer
            self._tickets.setdefault(ticket.partition, deque()).append(ticket)
            tickets.append(ticket)
        futures = []
        for ticket, builder in builders:
            try:
                ticket.future = await producer.send_batch(builder, topic, partition=ticket.partition)
            except BaseException:
                for t in tickets:  # not sent: never flushed (the batch is not acknowledged either)
                    if t.future is None:
                        t.dropped = True
                self._schedule_flush()
                raise
            ticket.future.add_done_callback(self._on_acknowledged)
            futures.append(ticket.future)
        return futures

    def _on_acknowledged(self, _fut: Any) -> None:
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_handle is None:
            loop = asyncio.get_event_loop()
            self._flush_handle = loop.call_later(FLUSH_DELAY_S, self._flush_from_timer)

    def _flush_from_timer(self) -> None:
        self._flush_handle = None
        try:
            self.flush_acknowledged()
        except Exception:  # the overlay keeps the values: nothing is lost, the next flush retries
            log.exception("table %s: writing acknowledged changes to RocksDB failed", self.table_name)

    def flush_acknowledged(self) -> int:
        """Write every acknowledged ticket to RocksDB, per partition in offset order and in one
        write batch with the partition's persisted offset; returns the records written."""
        written = 0
        if self._closed:
            return 0
        for p, queue in list(self._tickets.items()):
            done: list[tuple[int, Ticket]] = []
            pending: deque[Ticket] = deque()
            for ticket in queue:
                fut = ticket.future
                if ticket.dropped:
                    continue
                if fut is None or not fut.done():
                    pending.append(ticket)
                elif fut.cancelled() or fut.exception() is not None:
                    self.stats.failed_tickets += 1
                    log.error(
                        "table %s: a changelog batch of partition %d failed; its values stay in memory only",
                        self.table_name,
                        p,
                    )
                elif fut.result() is None:  # acks=0: no offset, so nothing can be persisted
                    self.stats.failed_tickets += 1
                else:
                    done.append((fut.result().offset, ticket))
            if not done:
                self._tickets[p] = pending
                continue
            done.sort(key=lambda item: item[0])
            batch = rocksdict.WriteBatch(raw_mode=True)
            last = -1
            final_seq: dict[bytes, int | None] = {}  # key -> overlay sequence of the value it ends with
            for base, ticket in done:
                for key, value, seq in ticket.records:
                    if value is None:
                        batch.delete(key)
                    else:
                        batch.put(key, value)
                    final_seq[key] = seq
                last = max(last, base + len(ticket.records) - 1)
            batch.put(self.offset_key, str(last).encode())
            self._db_for_partition(p).write(batch)
            self._tickets[p] = pending
            self.stats.flushes += 1
            self.stats.per_partition_offset[p] = last
            for key, seq in final_seq.items():
                entry = self._overlay.get(key)
                if seq is not None and entry is not None and entry[1] == seq:
                    del self._overlay[key]  # the DB ends with the newest write: memory may forget it
            written += sum(len(ticket.records) for _, ticket in done)
        self.stats.records += written
        return written

    # -- recovery ---------------------------------------------------------------------------
    def apply_changelog_batch(self, batch: Iterable[Any], to_key: Any, to_value: Any) -> None:
        events = list(batch)
        super().apply_changelog_batch(events, to_key, to_value)
        self.recovered_records += len(events)

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        mine = sorted(tp.partition for tp in active_tps if tp.topic in self.table.changelog_topic.topics)
        offsets = {p: self.persisted_offset(TP(self.table.changelog_topic.get_topic_name(), p)) for p in mine}
        log.info(
            "rocksdb table %s: recovered %d changelog records (persisted offsets %s)",
            self.table_name,
            self.recovered_records,
            offsets,
        )
        self.recovered_records = 0
        await super().on_recovery_completed(active_tps, standby_tps)

    # -- partitions -------------------------------------------------------------------------
    def revoke_partitions(self, table: Any, tps: set[TP]) -> None:
        try:
            self.flush_acknowledged()
        except Exception:
            log.exception("table %s: flush before revocation failed", self.table_name)
        for tp in tps:
            if tp.topic not in table.changelog_topic.topics:
                continue
            for ticket in self._tickets.pop(tp.partition, ()):
                ticket.dropped = True
            for key in [k for k, e in self._overlay.items() if e[2] == tp.partition]:
                del self._overlay[key]
            db = self._dbs.pop(tp.partition, None)
            if db is not None:
                db.close()

    async def stop(self) -> None:
        started = time.monotonic()
        try:
            self.flush_acknowledged()
        finally:
            self._closed = True
            for db in self._dbs.values():
                db.close()
            self._dbs.clear()
        log.info("rocksdb table %s closed in %.2f s", self.table_name, time.monotonic() - started)


STORES.aliases[SCHEME] = f"{__name__}:PartitionedRocksStore"
