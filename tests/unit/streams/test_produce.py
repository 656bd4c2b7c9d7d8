"""``send_batched``: records to per-partition aiokafka batches, in order, rolling over when full."""

from __future__ import annotations

from typing import Any

from aiokafka.producer.message_accumulator import BatchBuilder
from aiokafka.record.default_records import DefaultRecordBatch

from floorwatch.streams.produce import send_batched


class FakeProducer:
    """``create_batch`` / ``send_batch`` as aiokafka's producer has them, with real builders."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.sent: list[tuple[str, int, list[tuple[bytes | None, bytes | None]]]] = []

    def create_batch(self) -> BatchBuilder:
        return BatchBuilder(self.batch_size, 0, is_transactional=False, key_serializer=None, value_serializer=None)

    async def send_batch(self, batch: BatchBuilder, topic: str, *, partition: int) -> Any:
        records = [(r.key, r.value) for r in DefaultRecordBatch(bytes(batch._build()))]
        self.sent.append((topic, partition, records))
        return ("delivery", len(self.sent))  # stands for the batch's delivery future


async def test_one_batch_per_partition_in_order() -> None:
    producer = FakeProducer(16_384)
    records = [(p, f"k{i}".encode(), None if i == 3 else f"v{i}".encode()) for i, p in enumerate([2, 0, 2, 2, 0])]
    assert await send_batched(producer, "t", records) == [("delivery", 1), ("delivery", 2)]
    by_part = {p: recs for _, p, recs in producer.sent}
    assert by_part == {2: [(b"k0", b"v0"), (b"k2", b"v2"), (b"k3", None)], 0: [(b"k1", b"v1"), (b"k4", b"v4")]}
    assert {t for t, _, _ in producer.sent} == {"t"}


async def test_a_full_batch_is_sent_and_a_new_one_started() -> None:
    producer = FakeProducer(1_000)  # ~3 records of 300 bytes a batch
    records = [(1, f"k{i}".encode(), bytes(300)) for i in range(10)]
    sent = await send_batched(producer, "t", records)
    assert len(sent) == len(producer.sent) >= 3
    assert sent == [("delivery", i) for i in range(1, len(producer.sent) + 1)]  # one future per batch
    assert [k for _, _, recs in producer.sent for k, _ in recs] == [f"k{i}".encode() for i in range(10)]
    big = FakeProducer(1_000)
    assert len(await send_batched(big, "t", [(0, b"huge", bytes(5_000))])) == 1  # a first record always fits
    assert big.sent[0][2] == [(b"huge", bytes(5_000))]


async def test_nothing_to_send_sends_nothing() -> None:
    producer = FakeProducer(16_384)
    assert await send_batched(producer, "t", []) == [] and producer.sent == []
