"""Worker memory and restart time per retained contact, and throughput with a full table.

For each size R (``--contacts 1e6 5e6 20e6``):

1. a fresh Tansu broker; the changelogs are filled with the state a worker holds after running
   for months at steady state, written exactly as the worker writes them (key
   ``orjson.dumps(key)``, each record to its partition):

   * ``floorwatch-contacts-changelog``: R contacts, value ``floorwatch.domain.factcodec.pack(facts)``
     with ``_p`` (the contact's partition of ``fw.contact-events``, aiokafka's default
     partitioner). The facts come from ``floorwatch.domain.contacts.apply_event`` over a
     realistic lifecycle of each contact (offer with a customer for 85 %, answer or abandon,
     holds, end, wrap-up), offered at a uniformly random time inside ``retention_days``;
   * ``floorwatch-customers-changelog``: ``{"_p", "c": {contact: projection}}`` per hashed
     customer, holding only the projections a long-running worker still keeps: those
     ``FcrAggregator.droppable`` does not drop once the intervals are folded (offered within
     the last ~3W, W = ``fcr.window_hours``);
   * ``floorwatch-fcr-final-changelog``: one final record per (local date, customer partition)
     holding the counts of its folded intervals (every interval with ``end + 2W < now``) and
     the agents' rows summed over them, built by ``FcrAggregator`` itself (``update``,
     ``due_folds``, ``fold``, ``apply_fold``) over the same contacts.

   Producing ~4 events per contact through a worker would take R / 8,000 s; the tables are the same.
2. a worker starts; restart-to-ready is worker start until it logs "rebuilt aggregates"
   (tables recovered, queue aggregates built from every contact). Its RSS is read at steady
   state: once it is idle again, after one more of its periodic releases of free memory
   (``gc.release_free_memory_every_s``), and after a full ``gc.collect()`` inside it (a thread
   of a small wrapper does it on request). The worker runs on the object allocator of
   ``worker.object_allocator`` (``PYTHONMALLOC``), as ``floorwatch worker`` would.
3. fresh contact events (``--events``, default 100,000) are produced and the throughput is
   timed until the worker's committed offsets reach the end (as benchmarks/pipeline.py).

The same steps with R = 0 (an empty table) run first: its RSS is subtracted and its
throughput is the baseline. Bytes per retained contact = (RSS full - RSS empty) / R. A size is
skipped, saying why, when it cannot fit in memory or would take longer than
``--max-size-minutes`` (estimated from the largest size run before it).

    .venv/bin/python benchmarks/retention.py --contacts 1e6 5e6 20e6
    .venv/bin/python benchmarks/retention.py --profile 1000000

Diagnostics, written to each worker's log at the measure point: the object allocator's arenas
(``sys._debugmallocstats``), the C allocator's ``mallinfo2`` and the RSS per kind of mapping
(heap, anonymous, files). Environment switches: ``FW_BENCH_TRIM_PROBE=1`` also logs the RSS
after a ``malloc_trim`` (what the worker's periodic release, ``gc.release_free_memory_every_s``,
gives back at steady state); ``FW_BENCH_CENSUS=1`` logs the collector-tracked objects by type
(frozen ones included); ``FW_BENCH_RSS_TRACE=1`` writes the RSS every 0.5 s to
``probe-<R>/rss.trace`` (which phase holds the peak). ``PYTHONMALLOC=malloc`` set for the
benchmark runs every process, the workers included, on the C allocator alone.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import math
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pipeline import contact_events, end_offsets, produce, run_faust, stop, time_group  # noqa: E402
from floorwatch.domain.contacts import Facts, apply_event  # noqa: E402
from floorwatch.domain.factcodec import pack, unpack  # noqa: E402
from floorwatch.domain.fcr import (  # noqa: E402
    FcrAggregator,
    apply_projection,
    date_final_key,
    final_key_partition,
    parse_date_record,
    partition_for,
    projection,
)
from floorwatch.domain.queue_metrics import QueueRules  # noqa: E402
from floorwatch.packedmap import PackedMap  # noqa: E402
from floorwatch.services.broker import create_topics, free_port, start_tansu, stop_process  # noqa: E402

CONTACTS_CHANGELOG = "floorwatch-contacts-changelog"
CONTACTS_PART = "contacts table (PackedMap: runs, packed facts)"
CUSTOMERS_CHANGELOG = "floorwatch-customers-changelog"
FCR_FINAL_CHANGELOG = "floorwatch-fcr-final-changelog"
DAY_MS = 86_400_000
HOUR_MS = 3_600_000
READY_LINE = "rebuilt aggregates"
CHUNK_CONTACTS = 100_000  # contacts generated, written and forgotten at a time (bounded memory)
CUSTOMER_KEY = b"bench-customer-hash-key"
QUEUES = ("sales", "support", "chat")
MIB = 1024 * 1024
IDLE_CPU_RATIO = 0.15  # a worker using less than this share of one core is idle

# run by the worker's process: a thread that, when ``<dir>/gc-request`` appears, runs a full
# collection and writes the process's RSS in bytes to ``<dir>/gc-done`` (mode's worker owns
# SIGUSR1/SIGUSR2, so a file is the request)
WORKER_WRAPPER = """
import gc, os, sys, threading, time
from pathlib import Path
probe = Path({probe_dir!r})
def rss_bytes():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
def malloc_report():
    import ctypes
    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
        info = libc.mallinfo2()
        parts = ["%s=%d" % (n, getattr(info, n)) for n, _ in MallInfo2._fields_]
        sys.stderr.write("mallinfo2 " + " ".join(parts) + "\\n")
    except (OSError, AttributeError):
        pass
    try:
        rss = {{}}
        name = None
        for line in open("/proc/self/smaps"):
            head = line.split()
            if "-" in head[0] and ":" not in head[0]:
                name = head[5] if len(head) > 5 else "[anon]"
                if name.startswith("/"):
                    name = "file"
            elif head[0] == "Rss:":
                rss[name] = rss.get(name, 0) + int(head[1])
        sys.stderr.write("rss_kib_by_mapping " + " ".join("%s=%d" % kv for kv in sorted(rss.items())) + "\\n")
    except (OSError, IndexError, ValueError):
        pass
    sys.stderr.flush()
def serve():
    while True:
        req = probe / "gc-request"
        if req.exists():
            req.unlink()
            gc.collect()
            sys._debugmallocstats()  # to the worker's log (stderr): the object allocator's arenas
            malloc_report()  # and the C allocator's heap and mappings
            if os.environ.get("FW_BENCH_CENSUS"):  # gc-tracked objects by type (frozen ones too)
                gc.unfreeze()
                objects = gc.get_objects()  # once: the GC policy's thread may freeze meanwhile
                sizes = {{}}
                for o in objects:
                    t = type(o).__qualname__
                    n, b = sizes.get(t, (0, 0))
                    sizes[t] = (n + 1, b + sys.getsizeof(o))
                top = sorted(sizes.items(), key=lambda kv: -kv[1][1])[:30]
                sys.stderr.write("census " + " | ".join("%s %d %d" % (t, n, b) for t, (n, b) in top) + "\\n")
                for o in objects:  # fetched records the consumer still holds, per partition
                    if type(o).__name__ == "Fetcher" and hasattr(o, "_records"):
                        held = []
                        for tp, res in list(o._records.items()):
                            pr = getattr(res, "_partition_records", None)
                            buf = getattr(getattr(pr, "_records", None), "_buffer", None)
                            held.append("%s-%d %s %s" % (tp.topic, tp.partition, type(res).__name__,
                                                         None if buf is None else len(buf)))
                        sys.stderr.write("fetcher holds %d: %s\\n" % (len(held), " | ".join(held)))
                big = []  # objects of 256 KiB or more (their own mappings) and who holds them
                for o in objects:
                    for r in [o, *gc.get_referents(o)]:
                        try:
                            size = sys.getsizeof(r)
                        except TypeError:
                            continue
                        if size >= 262144:
                            big.append((size, type(r).__qualname__, type(o).__qualname__, id(r)))
                seen = set()
                rows = []
                for size, kind, holder, ident in sorted(big, reverse=True):
                    if ident not in seen:
                        seen.add(ident)
                        rows.append((size, kind, holder))
                sys.stderr.write("big objects %d, %d bytes: " % (len(rows), sum(r[0] for r in rows))
                                 + " | ".join("%d %s in %s" % r for r in rows[:40]) + "\\n")
            rss = rss_bytes()
            if os.environ.get("FW_BENCH_TRIM_PROBE"):  # what giving free heap pages back would save
                import ctypes
                ctypes.CDLL("libc.so.6").malloc_trim(0)
                sys.stderr.write("rss before trim %d after trim %d\\n" % (rss, rss_bytes()))
            (probe / "gc-done.tmp").write_text(str(rss))
            (probe / "gc-done.tmp").rename(probe / "gc-done")
        time.sleep(0.1)
threading.Thread(target=serve, daemon=True).start()
def trace_rss():  # FW_BENCH_RSS_TRACE=1: the RSS every 0.5 s, to find the phase of the peak
    with open(probe / "rss.trace", "w") as out:
        while True:
            out.write("%.1f %d\\n" % (time.time(), rss_bytes()))
            out.flush()
            time.sleep(0.5)
if os.environ.get("FW_BENCH_RSS_TRACE"):
    threading.Thread(target=trace_rss, daemon=True).start()
from floorwatch.cli import main
sys.exit(main({argv!r}))
"""


def contact_partition(contact_id: str, partitions: int) -> int:
    """The ``fw.contact-events`` partition of a contact (aiokafka's default partitioner)."""
    return (murmur2(contact_id.encode()) & 0x7FFFFFFF) % partitions


def lifecycle(
    rng: random.Random, contact_id: str, offered_ms: int, customer: str | None, next_eid: Callable[[], str]
) -> list[tuple[int, dict[str, Any]]]:
    """One contact's events as ``(ts_ms, event)``: offered; 10 % abandoned, else answered,
    20 % of those with one hold, ended, wrap-up saying whether it was resolved (80 %)."""
    queue = rng.choice(QUEUES)
    base = {"contact_id": contact_id}
    offer: dict[str, Any] = {
        **base,
        "type": "contact.offered",
        "queue": queue,
        "channel": "chat" if queue == "chat" else "voice",
    }
    if customer is not None:
        offer["customer"] = customer
    events: list[tuple[int, dict[str, Any]]] = [(offered_ms, offer)]
    wait_ms = int(rng.expovariate(1 / 20_000))
    if rng.random() < 0.1:
        events.append((offered_ms + wait_ms, {**base, "type": "contact.abandoned"}))
    else:
        agent = f"a{rng.randrange(10_000)}"
        answered_ms = offered_ms + wait_ms
        ended_ms = answered_ms + int(rng.lognormvariate(11.9, 0.5))
        events.append((answered_ms, {**base, "type": "contact.answered", "agent_id": agent}))
        if rng.random() < 0.2:
            hold_at = answered_ms + (ended_ms - answered_ms) // 3
            events.append((hold_at, {**base, "type": "contact.hold_started", "agent_id": agent}))
            events.append((hold_at + 30_000, {**base, "type": "contact.hold_ended", "agent_id": agent}))
        events.append((ended_ms, {**base, "type": "contact.ended", "agent_id": agent}))
        events.append(
            (
                ended_ms + 30_000,
                {**base, "type": "contact.wrapup_ended", "agent_id": agent, "resolved": rng.random() < 0.8},
            )
        )
    for _, ev in events:
        ev["event_id"] = next_eid()
    return events


def facts_of(
    events: list[tuple[int, dict[str, Any]]], rules_for: Callable[[str], QueueRules], customer_key: bytes
) -> Facts:
    """The contact's facts as the worker holds them after these events (without ``_p``)."""
    facts: Facts | None = None
    for ts_ms, ev in events:
        new = apply_event(facts, ev, ts_ms, rules_for, customer_key=customer_key)
        if new is not None:
            facts = new
    assert facts is not None
    return facts


@dataclass(frozen=True)
class FcrShape:
    """What FCR finality depends on (the worker's settings): local time zone, interval length,
    window W."""

    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    interval_minutes: int = 30
    window_ms: int = 24 * HOUR_MS


@dataclass(frozen=True)
class Retained:
    contacts: list[tuple[int, bytes, bytes]]  # (partition, key, value) for the contacts changelog
    customers: list[tuple[int, bytes, bytes]]  # same for the customers changelog (kept projections only)
    finals: dict[str, dict[str, Any]]  # date record per fcr-final key, of this chunk's customers
    projections: int  # projections of this chunk before the folded ones were dropped


def steady_state_fcr(
    by_customer: dict[str, tuple[int, dict[str, Any]]], now_ms: int, shape: FcrShape, partitions: int
) -> tuple[dict[str, tuple[int, dict[str, Any]]], dict[str, dict[str, Any]]]:
    """What a worker that ran for months keeps of these customers' FCR state at ``now_ms``:
    the projections ``droppable`` does not drop and the final records (parsed) of the dates
    of the folded intervals (every interval with ``end + 2W < now``), computed by
    ``FcrAggregator`` as the worker's publisher (``fold_fcr``) and retention pass
    (``prune_customers``) do, one aggregator per customer partition, without the
    ``fold_quiet`` hold (it only delays folds after a start)."""
    aggs = {p: FcrAggregator(shape.tz, shape.interval_minutes, shape.window_ms) for p in range(partitions)}
    for cu, (p, contacts) in by_customer.items():
        aggs[p].update(cu, contacts, now_ms)
    finals: dict[str, dict[str, Any]] = {}
    for p, agg in aggs.items():
        fold = agg.fold(agg.due_folds(now_ms, limit=len(agg.intervals) + 1), p)
        agg.apply_fold(fold)
        for day, raw in fold.dates.items():
            finals[date_final_key(day, p)] = orjson.loads(raw)
    kept: dict[str, tuple[int, dict[str, Any]]] = {}
    for cu, (p, contacts) in by_customer.items():
        drop = set(aggs[p].droppable(contacts, now_ms))
        left = {cid: proj for cid, proj in contacts.items() if cid not in drop}
        if left:
            kept[cu] = (p, left)
    return kept, finals


def merge_finals(into: dict[str, dict[str, Any]], more: dict[str, dict[str, Any]]) -> None:
    """Add the date records of other customers of the same dates (sums over disjoint
    customers): each interval's counts and each agent's row."""
    for name, rec in more.items():
        held = into.get(name)
        if held is None:
            held = into[name] = {"_p": rec["_p"], "c": {}, "a": {}}
        for interval, c in rec["c"].items():
            held["c"][interval] = [x + y for x, y in zip(held["c"].get(interval, [0, 0, 0, 0]), c, strict=True)]
        for agent, row in rec["a"].items():
            mine = held["a"].setdefault(agent, [0, 0])
            mine[0] += row[0]
            mine[1] += row[1]


def final_records(finals: dict[str, dict[str, Any]]) -> list[tuple[int, bytes, bytes]]:
    """Changelog records of ``fcr-final`` as the worker writes them (key: the JSON string;
    value: the JSON, ``_p``, ``"c"``, ``"a"`` in that order)."""
    return [(rec["_p"], orjson.dumps(name), orjson.dumps(rec)) for name, rec in finals.items()]


def retained_chunk(
    first: int,
    count: int,
    seed: int,
    now_ms: int,
    retention_days: int,
    partitions: int,
    rules_for: Callable[[str], QueueRules],
    customer_key: bytes,
    tag: str = "bench",
    shape: FcrShape = FcrShape(),
) -> Retained:
    """Changelog records of contacts ``first .. first + count - 1`` and of their customers'
    FCR state at steady state (``steady_state_fcr``).

    Offers are uniformly random in ``[now - (retention_days - 1) days, now - 2 h]`` (inside
    retention with a day to spare); 85 % carry a customer from a pool of ``count // 3`` of
    this chunk (about 2.6 contacts per customer), so FCR holds realistic customers."""
    rng = random.Random(seed * 1_000_003 + first)
    lo_ms = now_ms - (retention_days - 1) * DAY_MS
    hi_ms = now_ms - 2 * HOUR_MS
    pool = max(1, count // 3)
    eid_counter = [first * 8]

    def next_eid() -> str:
        eid_counter[0] += 1
        return f"e-{tag}-{eid_counter[0]}"

    contacts: list[tuple[int, bytes, bytes]] = []
    by_customer: dict[str, tuple[int, dict[str, Any]]] = {}
    for i in range(first, first + count):
        cid = f"r-{tag}-{i}"
        customer = f"cust-{first}-{rng.randrange(pool)}" if rng.random() < 0.85 else None
        facts = facts_of(lifecycle(rng, cid, rng.randrange(lo_ms, hi_ms), customer, next_eid), rules_for, customer_key)
        p = contact_partition(cid, partitions)
        facts["_p"] = p
        contacts.append((p, orjson.dumps(cid), pack(facts)))
        proj = projection(facts)
        if proj is not None:
            cu, value = proj
            held = by_customer.get(cu)
            new = apply_projection(held[1] if held else None, cid, value)
            if new is not None:
                by_customer[cu] = (partition_for(cu, partitions), new)
    kept, finals = steady_state_fcr(by_customer, now_ms, shape, partitions)
    customers = [(p, orjson.dumps(cu), orjson.dumps({"_p": p, "c": c})) for cu, (p, c) in kept.items()]
    return Retained(contacts, customers, finals, sum(len(c) for _, c in by_customer.values()))


def bytes_per_contact(rss_full_bytes: int, rss_empty_bytes: int, contacts: int) -> float:
    """Worker memory a retained contact costs: RSS growth over the empty worker, per contact."""
    if contacts <= 0:
        raise ValueError("contacts must be positive")
    return (rss_full_bytes - rss_empty_bytes) / contacts


def marginal_bytes_per_contact(
    rss_small_bytes: int, contacts_small: int, rss_large_bytes: int, contacts_large: int
) -> float:
    """Memory per contact between two sizes: what one more contact costs, without the fixed
    per-interval state (published partials, interval buckets) a small table is dominated by."""
    if contacts_large <= contacts_small:
        raise ValueError("the second size must be larger")
    return (rss_large_bytes - rss_small_bytes) / (contacts_large - contacts_small)


def per_million(value: float, contacts: int) -> float:
    """``value`` (seconds, bytes ...) scaled to one million retained contacts."""
    if contacts <= 0:
        raise ValueError("contacts must be positive")
    return value * 1_000_000 / contacts


def retained_contacts(agents: int, contacts_per_agent_day: float, retention_days: int) -> int:
    """Contacts a center holds at steady state: agents x contacts per agent-day x retention days."""
    return round(agents * contacts_per_agent_day * retention_days)


def fits(contacts: int, bytes_per: float, available_bytes: int, reserve_bytes: int) -> bool:
    """Whether a size can run: the worker's growth plus a reserve (the broker's in-memory copy,
    ~0.5 KB a contact, and the rest of the shared machine) within what is available."""
    return contacts * bytes_per + reserve_bytes <= available_bytes


def fits_in_time(contacts: int, seconds_per_million: float, budget_s: float) -> bool:
    """Whether a size is expected to finish (fill, restart, idle) within ``budget_s``."""
    return contacts / 1_000_000 * seconds_per_million <= budget_s


def available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def write_records(bootstrap: str, topic: str, records: list[tuple[int, bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=512 * 1024, max_request_size=8 * MIB
    )
    await producer.start()
    try:
        for p, key, value in records:
            await producer.send(topic, value, key=key, partition=p)
        await producer.flush()
    finally:
        await producer.stop()


async def fill(
    bootstrap: str,
    n: int,
    seed: int,
    now_ms: int,
    retention_days: int,
    partitions: int,
    rules_for: Callable[[str], QueueRules],
    shape: FcrShape,
) -> Filled:
    """Write ``n`` retained contacts, their customers' kept projections and, last, the final
    record of every date with folded intervals (summed over the chunks: their customers are
    disjoint)."""
    started = time.perf_counter()
    value_bytes = 0
    customers = 0
    projections = 0
    kept_projections = 0
    finals: dict[str, dict[str, Any]] = {}
    for first in range(0, n, CHUNK_CONTACTS):
        chunk = retained_chunk(
            first,
            min(CHUNK_CONTACTS, n - first),
            seed,
            now_ms,
            retention_days,
            partitions,
            rules_for,
            CUSTOMER_KEY,
            shape=shape,
        )
        value_bytes += sum(len(k) + len(v) for _, k, v in chunk.contacts)
        customers += len(chunk.customers)
        projections += chunk.projections
        kept_projections += sum(len(orjson.loads(v)["c"]) for _, _, v in chunk.customers)
        merge_finals(finals, chunk.finals)
        await write_records(bootstrap, CONTACTS_CHANGELOG, chunk.contacts)
        await write_records(bootstrap, CUSTOMERS_CHANGELOG, chunk.customers)
        del chunk
        gc.collect()
        if first // CHUNK_CONTACTS % 10 == 9:
            print(
                f"    written {first + CHUNK_CONTACTS:,} contacts in {time.perf_counter() - started:.0f} s", flush=True
            )
    records = final_records(finals)
    final_bytes = sum(len(k) + len(v) for _, k, v in records)
    intervals = sum(len(rec["c"]) for rec in finals.values())
    agent_rows = sum(len(rec["a"]) for rec in finals.values())
    del finals
    await write_records(bootstrap, FCR_FINAL_CHANGELOG, records)
    return Filled(
        time.perf_counter() - started,
        value_bytes,
        customers,
        projections,
        kept_projections,
        len(records),
        intervals,
        agent_rows,
        final_bytes,
    )


@dataclass(frozen=True)
class Filled:
    seconds: float
    contact_bytes: int  # keys + values of the contacts changelog
    customers: int  # customer records (with at least one kept projection)
    projections: int  # projections of all contacts with a customer
    kept_projections: int  # projections a long-running worker still holds
    final_records: int  # fcr-final records (local dates per customer partition)
    final_intervals: int  # folded intervals' counts in them
    final_agent_rows: int  # agents' rows in them
    final_bytes: int  # keys + values of the fcr-final changelog


@dataclass
class Run:
    contacts: int
    ready_s: float
    settle_s: float  # from ready until the worker's CPU use falls below IDLE_CPU_RATIO
    rss_bytes: int
    events_per_s: float
    ready_line: str


async def worker_run(
    bootstrap: str,
    tmp: Path,
    name: str,
    fresh: list[tuple[bytes, bytes]],
    n: int,
    ready_timeout_s: float,
    partitions: int,
    data_name: str | None = None,
) -> Run:
    """Start a worker, time it to ready, read its RSS after a gc, then time fresh events (none:
    no throughput, ``nan``). ``data_name``: the data directory of an earlier run to start on."""
    probe = tmp / f"probe-{name}"
    probe.mkdir(parents=True)
    log = tmp / f"worker-{name}.log"
    argv = ["worker", "--data-dir", str(tmp / f"data-{data_name or name}"), "--loglevel", "info"]
    wrapper = tmp / f"worker_{name}.py"
    wrapper.write_text(WORKER_WRAPPER.format(probe_dir=str(probe), argv=argv))
    env = {
        **os.environ,
        "FLOORWATCH_KAFKA": bootstrap,
        "FLOORWATCH_CONFIG": str(ROOT / "floorwatch.yaml"),
        "FLOORWATCH_PRIVACY__CUSTOMER_HASH_KEY": CUSTOMER_KEY.decode(),
    }
    allocator, release_every_s = settings_memory()
    # the wrapper calls the CLI in its own process, which never restarts itself: it is started
    # on the allocator `floorwatch worker` would restart onto (an explicit PYTHONMALLOC wins)
    env.setdefault("PYTHONMALLOC", allocator)
    started = time.perf_counter()
    proc = run_faust([sys.executable, str(wrapper)], env, log)
    try:
        ready_line = ""
        while not ready_line:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited:\n{log.read_text()[-3000:]}")
            if time.perf_counter() - started > ready_timeout_s:
                raise TimeoutError(f"worker not ready after {ready_timeout_s:.0f} s:\n{log.read_text()[-3000:]}")
            for line in log.read_text(errors="replace").splitlines():
                if READY_LINE in line and f"partitions {list(range(partitions))}" in line:
                    ready_line = line.strip()
            await asyncio.sleep(0.2)
        ready_s = time.perf_counter() - started
        # after ready the worker publishes every retained interval once and runs its first
        # retention pass: memory and throughput are read once it is idle again
        settled_at = await wait_idle(proc, log)
        settle_s = settled_at - started - ready_s
        # steady state: one periodic release of free memory (gc.release_free_memory_every_s)
        # after the worker went idle
        await asyncio.sleep(release_every_s + 1)
        (probe / "gc-request").write_text("")
        while not (probe / "gc-done").exists():
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited:\n{log.read_text()[-3000:]}")
            await asyncio.sleep(0.1)
        rss = int((probe / "gc-done").read_text())
        if not fresh:
            return Run(n, ready_s, settle_s, rss, math.nan, ready_line)
        await produce(bootstrap, fresh)
        rate = await time_group(bootstrap, "floorwatch", await end_offsets(bootstrap), proc, log)
        return Run(n, ready_s, settle_s, rss, rate, ready_line)
    finally:
        stop(proc)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def wait_idle(proc: subprocess.Popen, log: Path, window_s: float = 2.0, timeout_s: float = 1800) -> float:
    """perf_counter() when the worker first used under IDLE_CPU_RATIO of a core over ``window_s``."""
    deadline = time.perf_counter() + timeout_s
    before = cpu_seconds(proc.pid)
    while time.perf_counter() < deadline:
        await asyncio.sleep(window_s)
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited:\n{log.read_text()[-3000:]}")
        now = cpu_seconds(proc.pid)
        if now - before < IDLE_CPU_RATIO * window_s:
            return time.perf_counter()
        before = now
    raise TimeoutError(f"worker still busy {timeout_s:.0f} s after ready")


def deep_size(obj: Any, seen: set[int]) -> int:
    """``sys.getsizeof`` of ``obj`` and everything it holds that ``seen`` has not counted
    (shared objects, e.g. interned fact keys, are counted once)."""
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        size += sum(deep_size(v, seen) for v in obj)
    elif hasattr(obj, "__slots__"):
        size += sum(deep_size(getattr(obj, name), seen) for name in obj.__slots__ if hasattr(obj, name))
    return size


def profile_in_process(
    n: int, seed: int, retention_days: int, partitions: int, rules_for: Callable[[str], QueueRules]
) -> dict[str, float]:
    """Bytes per contact of each part of a worker's retained state at steady state, built here
    as the worker builds it from the same changelog records the benchmark writes: the contacts
    table's dict (packed facts, kept as bytes), the queue aggregators of all partitions, the
    customers table (kept projections), the fcr-final table (date records, JSON bytes as read)
    and the FCR aggregators (date records loaded first, then the customers, as the worker's
    ``build_fcr``); tracemalloc deltas."""
    import tracemalloc

    from floorwatch.domain.aggregate import QueueAggregator

    shape = shape_from_settings()
    now_ms = int(time.time() * 1000)
    records: list[Retained] = []
    finals: dict[str, dict[str, Any]] = {}
    for first in range(0, n, CHUNK_CONTACTS):
        chunk = retained_chunk(
            first,
            min(CHUNK_CONTACTS, n - first),
            seed,
            now_ms,
            retention_days,
            partitions,
            rules_for,
            CUSTOMER_KEY,
            shape=shape,
        )
        merge_finals(finals, chunk.finals)
        records.append(Retained(chunk.contacts, chunk.customers, {}, chunk.projections))
    final_rows = final_records(finals)
    del finals
    gc.collect()
    tracemalloc.start()
    out: dict[str, float] = {}

    def step(name: str, build: Callable[[], Any]) -> Any:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        built = build()
        gc.collect()
        out[name] = (tracemalloc.get_traced_memory()[0] - before) / n
        return built

    # the memory store's PackedMap, loaded as the bulk recovery loads it: keys decoded from the
    # changelog's JSON, values the packed bytes (copied into the map's buffers)
    def load_table() -> PackedMap:
        packed_map = PackedMap(hot_limit=settings_hot_keys())
        packed_map.begin_load()
        for r in records:
            for _, k, v in r.contacts:
                packed_map.load_put(orjson.loads(k), v)
        for _ in packed_map.finish_load():
            pass
        return packed_map

    table = step(CONTACTS_PART, load_table)
    from floorwatch.domain.aggregate import kept_minutes_span_ms

    settings = worker_settings()
    span_ms = kept_minutes_span_ms(round(settings.ingest.max_future_s * 1000))

    def build_aggregators() -> dict[int, QueueAggregator]:
        aggs = {p: QueueAggregator(shape.tz, shape.interval_minutes, span_ms) for p in range(partitions)}
        for agg in aggs.values():
            agg.prune_minutes(now_ms)  # as the worker's rebuild: only minutes a window reaches
        for pairs in table.scan_items():
            for cid, raw in pairs:
                facts = unpack(raw)
                aggs[facts["_p"]].update(cid, None, facts)
        return aggs

    aggs = step("queue aggregators (all partitions)", build_aggregators)
    customers = step(
        "customers table (kept FCR projections)",
        lambda: {orjson.loads(k): bytes(bytearray(v)) for r in records for _, k, v in r.customers},
    )
    fcr_final = step(
        "fcr-final table (date records, bytes)",
        lambda: {orjson.loads(k): bytes(bytearray(v)) for _, k, v in final_rows},
    )

    def build_fcr() -> dict[int, FcrAggregator]:
        fcr = {
            p: FcrAggregator(
                shape.tz, shape.interval_minutes, shape.window_ms, fold_quiet_ms=round(settings.fcr.fold_quiet_s * 1000)
            )
            for p in range(partitions)
        }
        for key, raw in fcr_final.items():
            fcr[final_key_partition(key)].load(key, raw)
        for cu, raw in customers.items():
            rec = orjson.loads(raw)
            fcr[rec["_p"]].update(cu, rec["c"], now_ms)
        for agg in fcr.values():
            agg.take_dirty()  # the worker publishes and clears these on its first pass
        return fcr

    fcr = step("FCR aggregators (open dates parsed, live counts)", build_fcr)
    tracemalloc.stop()
    # where a contact's table entry goes: its key, its value (sys.getsizeof: without the
    # allocator's rounding to 16 bytes), the dict's slot (the rest of the tracemalloc delta)
    sample = next(table.scan_items(10_000))
    out["  table: contact id (UTF-8 bytes)"] = sum(len(cid.encode()) for cid, _ in sample) / len(sample)
    out["  table: packed facts (bytes)"] = sum(len(raw) for _, raw in sample) / len(sample)
    out["  table: runs' buffers per contact"] = table.nbytes() / max(1, len(table))
    agg_parts = {"buckets": 0.0, "minutes": 0.0, "waiting": 0.0}
    seen: set[int] = set()
    for agg in aggs.values():
        agg_parts["buckets"] += deep_size(agg.buckets, seen)
        agg_parts["minutes"] += deep_size(agg.minutes, seen)
        agg_parts["waiting"] += deep_size(agg.waiting, seen)
    out["  aggregators: minute buckets"] = agg_parts["minutes"] / n
    out["  aggregators: interval buckets (counts, sorted waits)"] = agg_parts["buckets"] / n
    out["  buckets: minute / interval"] = sum(len(a.minutes) for a in aggs.values()) / max(
        1, sum(len(a.buckets) for a in aggs.values())
    )
    kept = sum(len(orjson.loads(raw)["c"]) for raw in customers.values())
    out["  customers: projections kept per 1,000 made"] = kept * 1000 / max(1, sum(r.projections for r in records))
    parsed = [parse_date_record(raw) for raw in fcr_final.values()]
    out["  fcr-final: records per 1,000 contacts"] = len(fcr_final) * 1000 / n
    out["  fcr-final: folded intervals per 1,000 contacts"] = sum(len(f.counts) for f in parsed) * 1000 / n
    out["  fcr-final: agent rows per contact"] = sum(len(f.agents) for f in parsed) / n
    out["  fcr-final: JSON bytes per interval or agent row"] = sum(len(raw) for raw in fcr_final.values()) / max(
        1, sum(len(f.counts) + len(f.agents) for f in parsed)
    )
    out["  FCR aggregators: parsed final intervals and agent rows per 1,000 contacts"] = (
        sum(len(f.counts) + len(f.agents) for a in fcr.values() for f in a.open_dates.values()) * 1000 / n
    )
    out["  FCR aggregators: open dates of all dates (per partition)"] = sum(
        len(a.open_dates) for a in fcr.values()
    ) / max(1, sum(len(a.date_records) for a in fcr.values()))
    out["  FCR aggregators: share of date records held as the table's bytes"] = sum(
        fcr[final_key_partition(k)].date_records.get(k.rsplit("|", 1)[0]) is raw for k, raw in fcr_final.items()
    ) / max(1, len(fcr_final))
    out["  FCR aggregators: live contacts per 1,000 contacts"] = sum(len(a.by_contact) for a in fcr.values()) * 1000 / n
    out["sum of the parts"] = sum(
        out[name]
        for name in (
            CONTACTS_PART,
            "queue aggregators (all partitions)",
            "customers table (kept FCR projections)",
            "fcr-final table (date records, bytes)",
            "FCR aggregators (open dates parsed, live counts)",
        )
    )
    return out


def parse_size(text: str) -> int:
    return int(float(text))


def worker_settings() -> Any:
    """The settings the benchmark's worker runs with (the repository's floorwatch.yaml unless
    FLOORWATCH_CONFIG names another file)."""
    os.environ.setdefault("FLOORWATCH_CONFIG", str(ROOT / "floorwatch.yaml"))
    from floorwatch.config import load_settings

    return load_settings()


def settings_memory() -> tuple[str, float]:
    """``worker.object_allocator`` and ``gc.release_free_memory_every_s`` of the settings the
    benchmark's worker runs with."""
    settings = worker_settings()
    return settings.worker.object_allocator, settings.gc.release_free_memory_every_s


def settings_hot_keys() -> int:
    """``worker.contacts_hot_keys`` of the settings the benchmark's worker runs with."""
    return int(worker_settings().worker.contacts_hot_keys)


def rules_from_settings() -> Callable[[str], QueueRules]:
    settings = worker_settings()
    cache: dict[str, QueueRules] = {}

    def rules_for(queue: str) -> QueueRules:
        if queue not in cache:
            q = settings.queue(queue)
            cache[queue] = QueueRules.from_seconds(q.sl_threshold_s, q.short_abandon_s, q.sl_target, q.sl_formula)
        return cache[queue]

    return rules_for


def shape_from_settings() -> FcrShape:
    settings = worker_settings()
    tz = ZoneInfo(settings.tz) if isinstance(settings.tz, str) else settings.tz
    return FcrShape(tz, settings.interval_minutes, round(settings.fcr.window_hours * HOUR_MS))


async def one_size(
    n: int,
    args: argparse.Namespace,
    tmp: Path,
    fresh: list[tuple[bytes, bytes]],
    rules_for: Callable[[str], QueueRules],
    fill_s: dict[int, float],
) -> Run:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = start_tansu("127.0.0.1", port, tmp / f"broker-{n}.log")
    try:
        await create_topics(bootstrap, args.partitions)
        if n:
            now_ms = int(time.time() * 1000)
            filled = await fill(
                bootstrap, n, args.seed, now_ms, args.retention_days, args.partitions, rules_for, shape_from_settings()
            )
            print(
                f"  {n:,} contacts written to the changelogs in {filled.seconds:.0f} s "
                f"({filled.contact_bytes / n:.0f} bytes of key + value per contact; {filled.customers:,} customer "
                f"records holding {filled.kept_projections:,} of {filled.projections:,} projections; "
                f"{filled.final_records:,} fcr-final date records holding {filled.final_intervals:,} intervals "
                f"and {filled.final_agent_rows:,} agent rows, {filled.final_bytes / n:.0f} bytes per contact; "
                f"broker RSS {rss_of(broker.pid) / MIB:,.0f} MiB)",
                flush=True,
            )
            fill_s[n] = filled.seconds
        run = await worker_run(bootstrap, tmp, str(n), fresh, n, args.ready_timeout_s, args.partitions)
        print(
            f"  {n:,} contacts: ready {run.ready_s:.1f} s, idle {run.settle_s:.1f} s later, "
            f"RSS {run.rss_bytes / MIB:,.0f} MiB, "
            f"fresh events {run.events_per_s:,.0f}/s",
            flush=True,
        )
        print(f"    {run.ready_line}", flush=True)
        for i in range(1, args.restarts + 1):  # SIGKILLed, then started again on its data directory
            again = await worker_run(
                bootstrap, tmp, f"{n}-restart{i}", [], n, args.ready_timeout_s, args.partitions, data_name=str(n)
            )
            print(
                f"  {n:,} contacts, restart {i} on the same data directory: ready {again.ready_s:.1f} s, "
                f"idle {again.settle_s:.1f} s later, RSS {again.rss_bytes / MIB:,.0f} MiB",
                flush=True,
            )
            print(f"    {again.ready_line}", flush=True)
        return run
    finally:
        stop_process(broker)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--contacts",
        nargs="+",
        type=parse_size,
        default=[1_000_000, 5_000_000],
        help="retained contact counts (1e6 style accepted)",
    )
    parser.add_argument("--events", type=int, default=100_000, help="fresh contact events timed after recovery")
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--retention-days", type=int, default=62)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--assume-bytes-per-contact",
        type=float,
        default=600,
        help="worker growth estimate used to skip sizes that cannot fit before the first measurement",
    )
    parser.add_argument(
        "--broker-bytes-per-contact",
        type=float,
        default=400,
        help="the embedded broker's in-memory copy of the changelogs per contact",
    )
    parser.add_argument("--reserve-gib", type=float, default=4, help="memory left to the rest of the machine")
    parser.add_argument(
        "--max-size-minutes",
        type=float,
        default=45,
        help="skip a size expected to take longer (fill + restart + idle), estimated from the largest size run so far",
    )
    parser.add_argument(
        "--assume-s-per-million",
        type=float,
        default=400,
        help="time estimate per million contacts before the first measurement",
    )
    parser.add_argument("--ready-timeout-s", type=float, default=3600)
    parser.add_argument(
        "--restarts",
        type=int,
        default=0,
        help="after each size's run, kill the worker and start it again on the same data "
        "directory this many times (with worker.store rocksdb: reads only the tail)",
    )
    parser.add_argument(
        "--profile",
        type=parse_size,
        default=0,
        help="only profile this many contacts in this process (no broker, no worker)",
    )
    args = parser.parse_args()
    if args.profile:
        print(f"in-process profile of {args.profile:,} retained contacts (bytes per contact):")
        for name, value in profile_in_process(
            args.profile, args.seed, args.retention_days, args.partitions, rules_from_settings()
        ).items():
            print(f"  {name:<55} {value:>9,.1f}")
        return
    tmp = Path(tempfile.mkdtemp(prefix="fw-retention-"))
    rules_for = rules_from_settings()
    fresh = contact_events(args.events)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"{available_bytes() / 2**30:.1f} GiB available"
    )
    print(
        "method: a months-long worker's steady state written straight into the changelogs (contacts packed, "
        "customers' kept projections, fcr-final records of the dates of folded intervals); "
        "the worker recovers them",
        flush=True,
    )
    fill_s: dict[int, float] = {}
    empty = await one_size(0, args, tmp, fresh, rules_for, fill_s)
    estimate = args.assume_bytes_per_contact
    s_per_million = args.assume_s_per_million
    results: list[Run] = []
    skipped: list[tuple[int, str]] = []
    for n in args.contacts:
        per = estimate + args.broker_bytes_per_contact
        if not fits(n, per, available_bytes(), int(args.reserve_gib * 2**30)):
            why = (
                f"~{n * per / 2**30:.1f} GiB (worker growth + broker copy) do not fit in "
                f"{available_bytes() / 2**30:.1f} GiB available less {args.reserve_gib} GiB"
            )
            print(f"  {n:,} contacts skipped: {why}", flush=True)
            skipped.append((n, why))
            continue
        if not fits_in_time(n, s_per_million, args.max_size_minutes * 60):
            why = (
                f"~{n / 1e6 * s_per_million / 60:.0f} min expected (fill + ready + idle at "
                f"{s_per_million:.0f} s per million) exceed --max-size-minutes {args.max_size_minutes:.0f}"
            )
            print(f"  {n:,} contacts skipped: {why}", flush=True)
            skipped.append((n, why))
            continue
        run = await one_size(n, args, tmp, fresh, rules_for, fill_s)
        results.append(run)
        estimate = max(estimate, bytes_per_contact(run.rss_bytes, empty.rss_bytes, n))
        s_per_million = per_million(fill_s[n] + run.ready_s + run.settle_s, n)

    print()
    print(
        f"empty worker: ready {empty.ready_s:.1f} s, idle {empty.settle_s:.1f} s later, "
        f"RSS {empty.rss_bytes / MIB:,.0f} MiB, "
        f"{empty.events_per_s:,.0f} events/s ({args.events:,} fresh contact events)"
    )
    print(
        f"{'retained':>12} {'RSS MiB':>9} {'bytes/contact':>14} {'ready s':>8} {'s per 1e6':>10} "
        f"{'idle after s':>12} {'events/s':>9} {'vs empty':>9}"
    )
    for run in results:
        per = bytes_per_contact(run.rss_bytes, empty.rss_bytes, run.contacts)
        print(
            f"{run.contacts:>12,} {run.rss_bytes / MIB:>9,.0f} {per:>14,.0f} {run.ready_s:>8.1f} "
            f"{per_million(run.ready_s, run.contacts):>10.1f} {run.settle_s:>12.1f} {run.events_per_s:>9,.0f} "
            f"{run.events_per_s / empty.events_per_s:>9.3f}"
        )
    for a, b in itertools.pairwise(results):
        print(
            f"marginal {a.contacts:,} -> {b.contacts:,}: "
            f"{marginal_bytes_per_contact(a.rss_bytes, a.contacts, b.rss_bytes, b.contacts):,.0f} bytes/contact, "
            f"{per_million(b.ready_s - a.ready_s, b.contacts - a.contacts):.1f} s ready per 1e6"
        )
    for run in results:
        print(f"{run.contacts:,}: changelogs written in {fill_s[run.contacts]:.0f} s")
    for n, why in skipped:
        print(f"{n:>12,} skipped: {why}")
    if any(math.isnan(r.events_per_s) for r in [empty, *results]):
        print("note: nan events/s means the group committed everything in one step (too few events)")


if __name__ == "__main__":
    asyncio.run(main())
