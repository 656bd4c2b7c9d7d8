"""Tansu's CPU for one tailing consumer, against the record batches in the log it fetches.

A producer writes 2,000 small events/s to 8 partitions (acks=all, ``--linger`` ms); after
``--warm`` s of log, one consumer tails the topic with ``--max-wait`` ms fetches for 15 s and
the broker's CPU over those 15 s is printed (from /proc, as % of one core). Tansu's fetch cost
grows with the batches already in the partition, so the producer's linger (batches per second)
and the age of the log decide it; a broker with a segment index (Kafka) does not behave so.

    .venv/bin/python benchmarks/tansu_fetch.py --warm 60 --linger 5 --max-wait 100
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.pipeline import free_port, start_tansu, stop_process

RATE = 2000


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, clock ticks


def pace_fetches(consumer: AIOKafkaConsumer, pace_ms: float, on_fetch: Callable[[int], None]) -> None:
    """Make a started consumer's fetcher send its fetch requests at least ``pace_ms`` apart;
    ``on_fetch(n)`` after the n-th one is sent (an experiment on aiokafka's internals)."""
    fetcher = consumer._fetcher
    send = fetcher._proc_fetch_request
    state = {"last": 0.0, "n": 0}

    async def paced(assignment: Any, node_id: Any, request: Any) -> Any:
        wait = state["last"] + pace_ms / 1000 - time.monotonic()
        if wait > 0:
            try:
                await asyncio.sleep(wait)
            except asyncio.CancelledError:  # closing: as aiokafka's own fetch task does
                return False
        state["last"] = time.monotonic()
        state["n"] += 1
        on_fetch(int(state["n"]))
        return await send(assignment, node_id, request)

    fetcher._proc_fetch_request = paced


async def produce(producer: AIOKafkaProducer, seconds: float) -> None:
    t0, n = time.monotonic(), 0
    while time.monotonic() - t0 < seconds:
        for _ in range(20):
            await producer.send("t", orjson.dumps({"n": n, "pad": "x" * 150}), key=str(n % 997).encode())
            n += 1
        await asyncio.sleep(max(0.0, t0 + n / RATE - time.monotonic()))


async def main(args: argparse.Namespace) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = start_tansu("127.0.0.1", port, Path(tempfile.mkdtemp(prefix="fw-tansu-")) / "broker.log")
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        await admin.create_topics([NewTopic("t", 8, 1)])
        await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=args.linger)
        await producer.start()
        await produce(producer, args.warm)
        consumer = None
        fetches = [0]
        if args.max_wait:
            consumer = AIOKafkaConsumer(
                "t",
                bootstrap_servers=bootstrap,
                group_id=None,
                fetch_max_wait_ms=args.max_wait,
                auto_offset_reset="latest",
            )
            await consumer.start()
            pace_fetches(consumer, args.pace, lambda n: fetches.__setitem__(0, n))

        async def tail() -> None:
            while consumer is not None:
                await consumer.getmany(timeout_ms=1000)

        tailing = asyncio.create_task(tail())
        c0, t0, f0 = cpu_s(broker.pid), time.monotonic(), fetches[0]
        await produce(producer, 15)
        elapsed = time.monotonic() - t0
        share = 100 * (cpu_s(broker.pid) - c0) / elapsed
        tailing.cancel()
        consumer_text = (
            "no consumer" if consumer is None else f"1 consumer, fetch_max_wait {args.max_wait} ms, pace {args.pace} ms"
        )
        print(
            f"log {args.warm:g} s old, producer linger {args.linger} ms, {consumer_text}: "
            f"broker {share:.0f} % of a core, {(fetches[0] - f0) / elapsed:.1f} fetches/s"
        )
        if consumer is not None:
            await consumer.stop()
        await producer.stop()
    finally:
        stop_process(broker)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--warm", type=float, default=60, help="seconds of log before measuring")
    p.add_argument("--linger", type=int, default=5, help="producer linger_ms")
    p.add_argument("--max-wait", type=int, default=100, help="consumer fetch_max_wait_ms (0: no consumer)")
    p.add_argument("--pace", type=int, default=0, help="at least this many ms between fetch requests")
    asyncio.run(main(p.parse_args()))
