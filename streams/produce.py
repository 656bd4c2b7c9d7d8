"""Records to Kafka a batch per partition: one delivery future per batch, not one per record.

Faust's ``Producer.send`` (and aiokafka's ``send`` under it) creates a future and a log
record per message and, for each new topic-partition, a ``MessageBatch``; for the changelog
and projection records a batch writes, that bookkeeping was a fifth of the worker's time.
Batches go through the app's own aiokafka producer; the agents wait for the returned delivery
futures before they acknowledge the events that caused them (streams/batches.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiokafka.partitioner import murmur2

Record = tuple[int, bytes | None, bytes | None]  # (partition, key, value)


def kafka_producer(app: Any) -> Any:
    """The aiokafka producer under a started Faust app's producer."""
    return app.producer._ensure_producer()  # noqa: SLF001 — Faust exposes no public accessor


async def send_batched(producer: Any, topic: str, records: Iterable[Record]) -> list[Any]:
    """Send ``records`` to ``topic`` in per-partition batches (order kept within a partition);
    returns the delivery future of each batch (awaiting one raises if Kafka refused it)."""
    builders: dict[int, Any] = {}
    sent: list[Any] = []
    for part, key, value in records:
        builder = builders.get(part)
        if builder is None:
            builder = builders[part] = producer.create_batch()
        if builder.append(timestamp=None, key=key, value=value) is None:  # full
            sent.append(await producer.send_batch(builder, topic, partition=part))
            builder = builders[part] = producer.create_batch()
            builder.append(timestamp=None, key=key, value=value)  # a batch's first record always fits
    for part, builder in builders.items():
        if builder.record_count():
            sent.append(await producer.send_batch(builder, topic, partition=part))
    return sent


def default_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2 of the key, as aiokafka and the Java
    client) gives a keyed record: compacted output topics keep each key where it always was."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class Outbox:
    """Keyed output records of one publisher pass, sent at its end in per-partition batches
    (``send_batched``) instead of one Faust ``Topic.send`` each: the first publish after a
    restart sends every retained interval and agent-day, and per-record sends were most of it.
    Records keep their order within a topic partition; ``limit`` records at most are held (a
    pass flushes early when it reaches it)."""

    def __init__(self, partitions: int, limit: int = 10_000) -> None:
        self.partitions = partitions
        self.limit = limit
        self.held: dict[str, list[Record]] = {}
        self.count = 0

    def add(self, topic: str, key: bytes, value: bytes | None) -> bool:
        """Hold a record; ``True`` when the outbox is full and should be flushed now."""
        self.held.setdefault(topic, []).append((default_partition(key, self.partitions), key, value))
        self.count += 1
        return self.count >= self.limit

    async def flush(self, producer: Any, on_error: Any) -> int:
        """Send what is held; ``on_error(exc)`` for a batch Kafka refuses (derived outputs: the
        next pass sends them again). Returns the records sent."""
        held, sent = self.held, self.count
        self.held, self.count = {}, 0
        for topic, records in held.items():
            for fut in await send_batched(producer, topic, records):
                fut.add_done_callback(lambda f: f.cancelled() or f.exception() is None or on_error(f.exception()))
        return sent
