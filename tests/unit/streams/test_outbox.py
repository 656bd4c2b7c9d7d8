"""streams/produce.py: output records batched per partition land where Faust's sends put them."""

import asyncio

from aiokafka.partitioner import DefaultPartitioner

from floorwatch.streams.produce import Outbox, default_partition


def test_default_partition_is_kafkas_default_partitioner() -> None:
    for n in (1, 3, 8, 12):
        for key in (b"q|1700000000000|0", b"agent-7", b"", "é-ü".encode()):
            assert default_partition(key, n) == DefaultPartitioner()(key, list(range(n)), list(range(n)))


class FakeBatch:
    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes | None]] = []

    def append(self, timestamp: object, key: bytes | None, value: bytes | None) -> object:
        self.records.append((key, value))
        return object()

    def record_count(self) -> int:
        return len(self.records)


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, int, list[tuple[bytes | None, bytes | None]]]] = []

    def create_batch(self) -> FakeBatch:
        return FakeBatch()

    async def send_batch(self, batch: FakeBatch, topic: str, partition: int) -> asyncio.Future:
        self.sent.append((topic, partition, batch.records))
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        fut.set_result(None)
        return fut


def test_outbox_keeps_order_per_partition_and_reports_full() -> None:
    box = Outbox(partitions=4, limit=3)
    assert box.add("fw.a", b"k1", b"1") is False
    assert box.add("fw.a", b"k1", None) is False
    assert box.add("fw.b", b"k2", b"2") is True  # the third record fills it
    producer = FakeProducer()
    assert asyncio.run(box.flush(producer, on_error=print)) == 3
    assert box.count == 0 and box.held == {}
    by_topic = {(t, p): recs for t, p, recs in producer.sent}
    assert by_topic[("fw.a", default_partition(b"k1", 4))] == [(b"k1", b"1"), (b"k1", None)]
    assert by_topic[("fw.b", default_partition(b"k2", 4))] == [(b"k2", b"2")]
