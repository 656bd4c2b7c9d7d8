"""Pipeline throughput on the real broker, against two baselines measured in the same run.

1. raw aiokafka consumer (getmany + orjson.loads): the broker/client limit;
2. a bare Faust agent (per event orjson.loads into a dict): Faust's own ceiling, once on
   asyncio's loop (Faust's default) and once on uvloop (the worker's ``worker.event_loop``);
3. the Floorwatch worker (validation, contact facts table, aggregates, publishing).

N contact events are pre-produced to 8 partitions; each consumer starts after that and the
clock runs from its first record to its last one (for Faust apps: until the committed
offsets reach the end of every partition). Prints events/s and the ratios.

    .venv/bin/python benchmarks/pipeline.py --events 200000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from floorwatch import topics  # noqa: E402
from floorwatch.services.broker import create_topics, free_port, start_tansu, stop_process  # noqa: E402

TOPIC = topics.CONTACT_EVENTS


def contact_events(n_events: int, seed: int = 7, customers: bool = True) -> list[tuple[bytes, bytes]]:
    """Realistic contact lifecycles (offered, answered/abandoned, ended, wrap-up), time-ordered.

    With ``customers``, 85 % of offers carry a customer id from a pool of a third of the
    contacts (so customers call again), and wrap-ups say whether the contact was resolved:
    the worker then also feeds first contact resolution (``fw.customer-contacts``)."""
    rng = random.Random(seed)
    # 150 ms apart: 200,000 events span ~8 h; they end before now, well inside retention
    # (the worker refuses events older than retention_days or later than now + max_future_s)
    t0 = (int(time.time()) // 60) * 60_000 - n_events * 150 - 3_600_000
    pending: list[tuple[int, dict]] = []
    n = 0
    while len(pending) < n_events:
        cid = f"c{n}"
        n += 1
        offered = t0 + n * 150
        queue = rng.choice(["sales", "support", "chat"])
        base = {"contact_id": cid, "queue": queue}
        offer = {**base, "type": "contact.offered", "channel": "voice"}
        if customers and rng.random() < 0.85:
            offer["customer"] = f"cust{rng.randrange(max(1, n_events // 12))}"
        pending.append((offered, offer))
        wait = int(rng.expovariate(1 / 20_000))
        if rng.random() < 0.1:
            pending.append((offered + wait, {**base, "type": "contact.abandoned"}))
            continue
        agent = f"a{rng.randrange(500)}"
        answered = offered + wait
        ended = answered + int(rng.lognormvariate(11.9, 0.5))
        pending.append((answered, {**base, "type": "contact.answered", "agent_id": agent}))
        pending.append((ended, {"contact_id": cid, "type": "contact.ended", "agent_id": agent}))
        wrapup: dict[str, Any] = {"contact_id": cid, "type": "contact.wrapup_ended", "agent_id": agent}
        if customers:
            wrapup["resolved"] = rng.random() < 0.8
        pending.append((ended + 30_000, wrapup))
    pending.sort(key=lambda x: x[0])
    out = []
    for i, (ts, ev) in enumerate(pending[:n_events], start=1):
        ev["event_id"] = f"b{i}"
        ev["ts"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts // 1000)) + f".{ts % 1000:03d}+00:00"
        out.append((ev["contact_id"].encode(), orjson.dumps(ev)))
    return out


async def produce(bootstrap: str, records: list[tuple[bytes, bytes]]) -> float:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    started = time.perf_counter()
    for key, value in records:
        await producer.send(TOPIC, value, key=key)
    await producer.flush()
    await producer.stop()
    return len(records) / (time.perf_counter() - started)


async def raw_consumer(bootstrap: str, n: int) -> float:
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    seen = 0
    first = None
    sink: dict = {}
    while seen < n:
        batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
        for records in batch.values():
            if first is None:
                first = time.perf_counter()
            for r in records:
                ev = orjson.loads(r.value)
                sink[ev["contact_id"]] = ev
            seen += len(records)
    elapsed = time.perf_counter() - (first or time.perf_counter())
    await consumer.stop()
    return n / elapsed


async def end_offsets(bootstrap: str, topic: str = TOPIC) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or range(8)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    ends = {tp.partition: 0 for tp in tps}
    idle = 0
    while idle < 3:  # fetch high watermarks are right on Tansu; ListOffsets is not
        batch = await consumer.getmany(timeout_ms=300, max_records=50_000)
        idle = idle + 1 if not batch else 0
        for tp, records in batch.items():
            ends[tp.partition] = records[-1].offset + 1
    await consumer.stop()
    return ends


async def committed(bootstrap: str, group: str, parts: list[int], topic: str = TOPIC) -> dict[int, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        out = {}
        for p in parts:  # Tansu fails to decode a whole-group answer; per partition works
            res = await admin.list_consumer_group_offsets(group, partitions=[TopicPartition(topic, p)])
            meta = res.get(TopicPartition(topic, p))
            out[p] = meta.offset if meta is not None and meta.offset >= 0 else 0
        return out
    finally:
        await admin.close()


async def time_group(bootstrap: str, group: str, ends: dict[int, int], proc: subprocess.Popen, log: Path) -> float:
    """Seconds from the group's first committed progress to offsets at the ends."""
    first_t = None
    first_done = 0
    total = sum(ends.values())
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{group} exited:\n{log.read_text()[-2000:]}")
        done = sum(min(v, ends[p]) for p, v in (await committed(bootstrap, group, list(ends))).items())
        now = time.perf_counter()
        if first_t is None and done > 0:
            first_t, first_done = now, done
        if done >= total:
            return (total - first_done) / (now - first_t) if first_t and now > first_t else float("nan")
        await asyncio.sleep(0.2)


async def drained_after(bootstrap: str) -> float:
    """Seconds until the workers' commits on ``fw.customer-contacts`` reach that topic's end."""
    started = time.perf_counter()
    ends = await end_offsets(bootstrap, topics.CUSTOMER_CONTACTS)
    while True:
        done = await committed(bootstrap, "floorwatch", list(ends), topics.CUSTOMER_CONTACTS)
        if all(done.get(p, 0) >= end for p, end in ends.items()):
            return time.perf_counter() - started
        await asyncio.sleep(0.2)


async def run_workers(
    bootstrap: str, ends: dict[int, int], tmp: Path, n: int, extra_env: dict[str, str] | None = None
) -> float:
    """Start ``n`` Floorwatch workers at once; contact events/s until their commits reach the
    ends (then, printed, how long the FCR projections took to drain after that)."""
    env = {
        **os.environ,
        "FLOORWATCH_KAFKA": bootstrap,
        "FLOORWATCH_CONFIG": str(ROOT / "floorwatch.yaml"),
        "FLOORWATCH_PRIVACY__CUSTOMER_HASH_KEY": "bench-customer-hash-key",  # the worker needs one
        **(extra_env or {}),
    }
    tmp.mkdir(parents=True, exist_ok=True)
    procs = [
        run_faust(
            [
                sys.executable,
                "-m",
                "floorwatch.cli",
                "worker",
                "--data-dir",
                str(tmp / f"w{i}"),
                "--loglevel",
                "warning",
            ],
            env,
            tmp / f"worker{i}.log",
        )
        for i in range(n)
    ]
    try:
        rate = await time_group(bootstrap, "floorwatch", ends, procs[0], tmp / "worker0.log")
        print(
            f"  {n} worker(s): fw.customer-contacts drained {await drained_after(bootstrap):.1f} s "
            "after the contact events"
        )
        return rate
    finally:
        for proc in procs:
            stop(proc)


BARE_APP = """
import asyncio, faust, orjson, sys
if "{loop}" == "uvloop":
    import uvloop
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
app = faust.App("{group}", broker="kafka://{bootstrap}", env_prefix="BENCH_", autodiscover=False,
                web_enabled=False, broker_session_timeout=6, broker_heartbeat_interval=0.5,
                broker_request_timeout=20, broker_commit_interval=0.5, consumer_auto_offset_reset="earliest",
                table_standby_replicas=0, datadir="{datadir}")
topic = app.topic("{topic}", key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
sink = {{}}
@app.agent(topic)
async def bare(stream):
    async for value in stream:
        ev = orjson.loads(value)
        sink[ev["contact_id"]] = ev
if __name__ == "__main__":
    sys.argv = ["bare", "worker", "--without-web", "-l", "warn"]
    app.main()
"""


def run_faust(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, 9)
        proc.wait()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2, help="also run this many workers together (0/1: skip)")
    parser.add_argument(
        "--no-customers", action="store_true", help="offers without customer ids (no first-contact-resolution traffic)"
    )
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fw-bench-"))
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = start_tansu("127.0.0.1", port, tmp / "broker.log")
    try:
        await create_topics(bootstrap, 8)
        records = contact_events(args.events, customers=not args.no_customers)
        produce_rate = await produce(bootstrap, records)
        ends = await end_offsets(bootstrap)
        assert sum(ends.values()) == len(records), (sum(ends.values()), len(records))
        raw_rate = await raw_consumer(bootstrap, len(records))

        bare_rates: dict[str, float] = {}
        for loop in ("asyncio", "uvloop"):  # the worker runs on uvloop (worker.event_loop)
            bare_py = tmp / f"bare_{loop}.py"
            bare_py.write_text(
                BARE_APP.format(
                    bootstrap=bootstrap,
                    topic=TOPIC,
                    datadir=tmp / f"bare-{loop}",
                    loop=loop,
                    group=f"bench-bare-{loop}",
                )
            )
            proc = run_faust([sys.executable, str(bare_py)], dict(os.environ), tmp / f"bare-{loop}.log")
            try:
                bare_rates[loop] = await time_group(
                    bootstrap, f"bench-bare-{loop}", ends, proc, tmp / f"bare-{loop}.log"
                )
            finally:
                stop(proc)

        worker_rate = await run_workers(bootstrap, ends, tmp / "one", 1)
    finally:
        stop_process(broker)
    two_rate = None
    if args.workers >= 2:
        port = free_port()
        bootstrap = f"127.0.0.1:{port}"
        broker = start_tansu("127.0.0.1", port, tmp / "broker2.log")
        try:
            await create_topics(bootstrap, 8)
            await produce(bootstrap, records)
            two_rate = await run_workers(bootstrap, await end_offsets(bootstrap), tmp / "two", args.workers)
        finally:
            stop_process(broker)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(
        f"events: {len(records)} contact events, 8 partitions, Tansu in memory, "
        f"{'no customer ids' if args.no_customers else '85 % of offers with a customer id'}"
    )
    print(f"produce (aiokafka):            {produce_rate:>10,.0f} events/s")
    print(f"raw aiokafka consumer:         {raw_rate:>10,.0f} events/s")
    print(f"bare Faust agent (asyncio):    {bare_rates['asyncio']:>10,.0f} events/s")
    print(f"bare Faust agent (uvloop):     {bare_rates['uvloop']:>10,.0f} events/s")
    print(f"floorwatch worker (1 process): {worker_rate:>10,.0f} events/s  (uvloop)")
    print(f"ratio worker / raw aiokafka:   {worker_rate / raw_rate:>10.3f}")
    print(
        f"ratio worker / bare Faust:     {worker_rate / bare_rates['asyncio']:>10.3f}"
        "  (bare on asyncio, Faust's default)"
    )
    print(
        f"ratio worker / bare Faust:     {worker_rate / bare_rates['uvloop']:>10.3f}  (bare on uvloop, as the worker)"
    )
    if two_rate is not None:
        print(
            f"floorwatch workers ({args.workers} processes): {two_rate:>9,.0f} events/s"
            f"  (x{two_rate / worker_rate:.2f} of one worker; same 2 cores as the broker)"
        )


if __name__ == "__main__":
    asyncio.run(main())
