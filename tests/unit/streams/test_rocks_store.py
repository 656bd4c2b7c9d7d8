"""The RocksDB table store: writes reach the DB only once their changelog record is acknowledged,
in the partition of that record, together with the offset they reached."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import faust
import orjson
import pytest
from aiokafka.structs import RecordMetadata
from faust.types import TP

from floorwatch.config import Settings
from floorwatch.streams.rocks_store import PartitionedRocksStore, store_url

TOPIC = "t-contacts-changelog"


class FakeBuilder:
    """A producer batch that holds ``capacity`` records."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: list[tuple[bytes | None, bytes | None]] = []

    def append(self, *, timestamp: Any, key: bytes | None, value: bytes | None) -> Any:
        if len(self.records) >= self.capacity:
            return None
        self.records.append((key, value))
        return object()


class FakeProducer:
    """Takes batches; the test decides when (and with which base offset) Kafka acknowledges."""

    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self.sent: list[tuple[int, FakeBuilder, asyncio.Future[Any]]] = []
        self.tickets_at_send: list[int] = []
        self.store: PartitionedRocksStore | None = None

    def create_batch(self) -> FakeBuilder:
        return FakeBuilder(self.capacity)

    async def send_batch(self, builder: FakeBuilder, topic: str, *, partition: int) -> asyncio.Future[Any]:
        assert topic == TOPIC
        if self.store is not None:  # every batch is registered before the producer has it
            self.tickets_at_send.append(sum(len(q) for q in self.store._tickets.values()))
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.sent.append((partition, builder, fut))
        return fut

    def ack(self, index: int, base_offset: int) -> None:
        part = self.sent[index][0]
        self.sent[index][2].set_result(RecordMetadata(TOPIC, part, TP(TOPIC, part), base_offset, -1, 0, 0))


def open_store(datadir: Path) -> tuple[faust.App, PartitionedRocksStore]:
    app = faust.App("t", store=store_url("rocksdb", 1 << 20, 8 << 20), datadir=str(datadir), autodiscover=False)
    table = app.Table(
        "contacts",
        default=None,
        partitions=8,
        schema=faust.Schema(key_type=str, key_serializer="json", value_serializer="json"),
    )
    store = table.data
    assert isinstance(store, PartitionedRocksStore)
    return app, store


def on_disk(datadir: Path, partition: int, key: str) -> Any:
    """What a fresh process finds in the partition's DB (no overlay: a crash lost it)."""
    _, store = open_store(datadir)
    try:
        raw = store._db_for_partition(partition).get(orjson.dumps(key))
        return None if raw is None else orjson.loads(raw)
    finally:
        for db in store._dbs.values():
            db.close()
        store._dbs.clear()


def persisted(datadir: Path, partition: int) -> int | None:
    _, store = open_store(datadir)
    try:
        return store.persisted_offset(TP(TOPIC, partition))
    finally:
        for db in store._dbs.values():
            db.close()
        store._dbs.clear()


def close(store: PartitionedRocksStore) -> None:
    for db in store._dbs.values():
        db.close()
    store._dbs.clear()


async def test_a_write_reaches_rocksdb_only_once_its_changelog_record_is_acknowledged(tmp_path: Path) -> None:
    _, store = open_store(tmp_path)
    producer = FakeProducer()
    producer.store = store
    store["c1"] = {"_p": 3, "state": "offered"}
    store["c2"] = {"_p": 3, "state": "answered"}
    futures = await store.send_changelog(producer, TOPIC, {"c1": 3, "c2": 3})
    assert len(futures) == 1 and producer.tickets_at_send == [1]
    assert [(k, v) for k, v in producer.sent[0][1].records] == [
        (b'"c1"', b'{"_p":3,"state":"offered"}'),
        (b'"c2"', b'{"_p":3,"state":"answered"}'),
    ]
    assert store.flush_acknowledged() == 0  # not acknowledged: nothing on disk
    assert store.get("c1") == {"_p": 3, "state": "offered"}  # read from the overlay
    close(store)
    assert on_disk(tmp_path, 3, "c1") is None and persisted(tmp_path, 3) is None  # a crash loses it

    _, store = open_store(tmp_path)
    producer = FakeProducer()
    store["c1"] = {"_p": 3, "state": "offered"}
    store["c2"] = {"_p": 3, "state": "answered"}
    await store.send_changelog(producer, TOPIC, {"c1": 3, "c2": 3})
    producer.ack(0, base_offset=40)
    assert store.flush_acknowledged() == 2
    assert store.overlay_keys == 0
    assert store.get("c2") == {"_p": 3, "state": "answered"}  # now from the DB
    close(store)
    assert on_disk(tmp_path, 3, "c2") == {"_p": 3, "state": "answered"}
    assert persisted(tmp_path, 3) == 41  # base offset 40, two records: the last is 41
    assert on_disk(tmp_path, 0, "c2") is None  # only in the partition of its record


async def test_a_write_after_the_send_stays_in_memory_until_its_own_record_is_acknowledged(tmp_path: Path) -> None:
    _, store = open_store(tmp_path)
    producer = FakeProducer()
    store["c1"] = {"_p": 1, "n": 1}
    await store.send_changelog(producer, TOPIC, {"c1": 1})
    store["c1"] = {"_p": 1, "n": 2}  # applied by the next batch, its record not sent yet
    producer.ack(0, base_offset=7)
    assert store.flush_acknowledged() == 1
    assert store.get("c1") == {"_p": 1, "n": 2} and store.overlay_keys == 1
    close(store)
    assert on_disk(tmp_path, 1, "c1") == {"_p": 1, "n": 1}  # what the changelog holds up to 7
    assert persisted(tmp_path, 1) == 7


async def test_acknowledged_batches_are_applied_in_offset_order_and_pending_ones_are_held(tmp_path: Path) -> None:
    _, store = open_store(tmp_path)
    producer = FakeProducer()
    store["k"] = {"_p": 2, "v": "first"}
    await store.send_changelog(producer, TOPIC, {"k": 2})
    store["k"] = {"_p": 2, "v": "second"}
    await store.send_changelog(producer, TOPIC, {"k": 2})
    store["other"] = {"_p": 2, "v": "third"}
    await store.send_changelog(producer, TOPIC, {"other": 2})
    # the producer enqueued the second batch first: it got the lower offset, so "first" is last
    producer.ack(1, base_offset=5)
    producer.ack(0, base_offset=6)
    assert store.flush_acknowledged() == 2
    assert store.get("k") == {"_p": 2, "v": "second"}  # memory keeps the newest write
    assert store.get("other") == {"_p": 2, "v": "third"}  # pending: from the overlay
    close(store)
    assert on_disk(tmp_path, 2, "k") == {"_p": 2, "v": "first"}  # the changelog's last value up to 6
    assert on_disk(tmp_path, 2, "other") is None
    assert persisted(tmp_path, 2) == 6


async def test_full_batches_split_into_tickets_each_with_its_own_offsets(tmp_path: Path) -> None:
    _, store = open_store(tmp_path)
    producer = FakeProducer(capacity=2)
    producer.store = store
    for i in range(5):
        store[f"c{i}"] = {"_p": 4, "i": i}
    await store.send_changelog(producer, TOPIC, {f"c{i}": 4 for i in range(5)})
    assert [len(b.records) for _, b, _ in producer.sent] == [2, 2, 1]
    assert producer.tickets_at_send == [3, 3, 3]  # all registered before the first send
    producer.ack(0, 100)
    producer.ack(1, 102)
    assert store.flush_acknowledged() == 4
    producer.ack(2, 104)
    assert store.flush_acknowledged() == 1
    close(store)
    assert persisted(tmp_path, 4) == 104
    assert [on_disk(tmp_path, 4, f"c{i}") for i in (0, 4)] == [{"_p": 4, "i": 0}, {"_p": 4, "i": 4}]


async def test_deletes_are_tombstones_and_failed_batches_are_never_written(tmp_path: Path) -> None:
    _, store = open_store(tmp_path)
    producer = FakeProducer()
    store["gone"] = {"_p": 0, "x": 1}
    store["kept"] = {"_p": 5, "x": 1}
    await store.send_changelog(producer, TOPIC, {"gone": 0, "kept": 5})
    producer.ack(0, 0)
    producer.ack(1, 0)
    assert store.flush_acknowledged() == 2
    assert store.pop("gone") == {"_p": 0, "x": 1}
    assert "gone" not in store and store.get("gone") is None
    store["kept"] = {"_p": 5, "x": 2}
    await store.send_changelog(producer, TOPIC, {"gone": 0, "kept": 5})
    assert producer.sent[2][1].records == [(b'"gone"', None)]
    producer.ack(2, 1)
    producer.sent[3][2].set_exception(RuntimeError("broker refused"))
    assert store.flush_acknowledged() == 1
    assert store.stats.failed_tickets == 1
    assert store.get("kept") == {"_p": 5, "x": 2}  # memory as applied; disk as the changelog
    close(store)
    assert on_disk(tmp_path, 0, "gone") is None and persisted(tmp_path, 0) == 1
    assert on_disk(tmp_path, 5, "kept") == {"_p": 5, "x": 1} and persisted(tmp_path, 5) == 0


async def test_iteration_merges_the_overlay_over_the_active_partitions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, store = open_store(tmp_path)
    monkeypatch.setattr(app.assignor, "assigned_actives", lambda: {TP(TOPIC, 1), TP(TOPIC, 2)})
    producer = FakeProducer()
    for key, p in (("a", 1), ("b", 2), ("c", 1), ("elsewhere", 6)):
        store[key] = {"_p": p}
    await store.send_changelog(producer, TOPIC, {"a": 1, "b": 2, "c": 1, "elsewhere": 6})
    for i in range(len(producer.sent)):
        producer.ack(i, 0)
    store.flush_acknowledged()
    store["a"] = {"_p": 1, "new": True}  # overlay over the DB
    del store["c"]  # a tombstone hides the DB's value
    store["d"] = {"_p": 2}
    assert dict(store.items()) == {"a": {"_p": 1, "new": True}, "b": {"_p": 2}, "d": {"_p": 2}}
    assert sorted(store) == ["a", "b", "d"] and len(store) == 3
    assert store.get("elsewhere") == {"_p": 6}  # reads find any open partition's key
    close(store)


async def test_bytes_values_are_stored_as_they_are(tmp_path: Path) -> None:
    _, store = open_store(tmp_path)
    producer = FakeProducer()
    packed = bytes([1, 0, 7]) + b"{packed"  # a packed record: never starts with "{"
    store["c"] = packed
    store["d"] = {"_p": 2, "packed": False}
    await store.send_changelog(producer, TOPIC, {"c": 2, "d": 2})
    assert producer.sent[0][1].records == [(b'"c"', packed), (b'"d"', b'{"_p":2,"packed":false}')]
    producer.ack(0, 0)
    store.flush_acknowledged()
    assert store.get("c") == packed and store.get("d") == {"_p": 2, "packed": False}
    close(store)


def test_recovery_counts_what_it_applied_and_persists_its_offset(tmp_path: Path) -> None:
    _, store = open_store(tmp_path)

    class Msg:
        def __init__(self, offset: int, key: bytes, value: bytes | None) -> None:
            self.topic, self.partition, self.offset = TOPIC, 7, offset
            self.tp = TP(TOPIC, 7)
            self.key, self.value = key, value

    class Ev:
        def __init__(self, *args: Any) -> None:
            self.message = Msg(*args)

    store.apply_changelog_batch(
        [Ev(10, b'"x"', b'{"_p":7}'), Ev(11, b'"y"', b'{"_p":7}'), Ev(12, b'"x"', None)], to_key=None, to_value=None
    )
    assert store.recovered_records == 3
    assert store.get("y") == {"_p": 7} and store.get("x") is None
    close(store)
    assert persisted(tmp_path, 7) == 12


def test_the_store_setting_takes_names_and_the_former_urls(
    monkeypatch: pytest.MonkeyPatch, isolated_config: None
) -> None:
    assert Settings().worker.store == "memory"
    assert Settings(worker={"store": "rocksdb://"}).worker.store == "rocksdb"
    assert Settings(worker={"store": "memory://"}).worker.store == "memory"
    with pytest.raises(ValueError):
        Settings(worker={"store": "aerospike://"})
    assert store_url("memory", 1, 2) == "memory://"
    assert store_url("rocksdb", 4096, 8192) == "floorwatch-rocksdb://?write_buffer_bytes=4096&block_cache_bytes=8192"
