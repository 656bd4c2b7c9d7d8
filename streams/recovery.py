"""Changelog recovery that does not trust ListOffsets(latest).

Tansu answers ListOffsets(latest) with *base offset of the last batch + 1* whenever the last
batch holds several records, so Faust's recovery would stop inside the last batch and lose its
records (measured: a table lost 14 of 20,000 updates in 1 of 3 memory-store restarts). After Faust's own high-water lookup we fetch
each changelog partition once from *reported end - 1* and take
max(reported end, fetch-response high watermark, last fetched offset + 1). On Apache Kafka
this returns the same number as Kafka (one small fetch per partition).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.types import TP


def bootstrap_of(app) -> str:  # type: ignore[no-untyped-def]
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
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
        auto_offset_reset="earliest", fetch_max_wait_ms=100,
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
    async def _build_highwaters(self, consumer, tps: Iterable[TP], destination, title: str) -> None:  # type: ignore[no-untyped-def,override]
        await super()._build_highwaters(consumer, tps, destination, title)
        reported = {TopicPartition(tp.topic, tp.partition): destination[tp] + 1 for tp in tps}
        ends = await true_end_offsets(bootstrap_of(self.app), reported)
        for tp in tps:
            true_end = ends[TopicPartition(tp.topic, tp.partition)]
            if true_end - 1 != destination[tp]:
                self.log.info("changelog %s: reported end %s, true end %s", tp, destination[tp] + 1, true_end)
            destination[tp] = true_end - 1


class TansuSafeTableManager(TableManager):
    """``TableManager`` whose recovery uses :class:`TansuSafeRecovery`."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = TansuSafeRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery

