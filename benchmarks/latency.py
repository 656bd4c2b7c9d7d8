"""Latency: contact event produced -> the wallboard websocket frame that reflects it (target: p99
under 250 ms at 2,000 events/s; docs/performance.md).

For each N, starts its own Tansu broker, one worker (``floorwatch worker``) and one API
(``floorwatch api``) as processes on free loopback ports (a fresh stack per N, so every N
starts from the same empty history), then produces contact events at a steady rate
(default 2,000 events/s: offered / answered / abandoned / ended / wrap-up over three queues,
every event carrying ``produced_ms``) while N websocket clients (default N=1, then N=1,000, in
separate client processes) are connected to ``/ws?token=…`` without a filter, as a floor TV is.

What "reflects" means (the probe): every 100 ms one ``contact.offered`` on queue ``probe``
with a fresh contact id (``probe-<i>``, keys spread over all partitions, never answered) is
produced with the background load. Each probe raises the probe queue's ``waiting`` by exactly
one and nothing lowers it, so probe *i* (1, 2, … in produce order) is reflected by the first
frame whose ``probe`` queue row has ``waiting >= i``. Latency = wall-clock arrival of that
frame at the client − wall-clock time just before ``producer.send`` of probe *i* (same host,
same clock). Samples: every (client, probe produced inside the measuring window) pair.

Breakdown of the same probes, from instants carried by records (no polling race): the
producer's acks=all callback; the CreateTime of the worker's contacts-changelog record of
``probe-<i>`` (written right after the batch that applied it); ``computed_ms`` and CreateTime
of the first ``fw.queue-stats`` records whose summed probe ``waiting`` reaches *i* (the
publisher tick, and when it sent the record); the frame's ``server_ts`` (the API hub tick);
the frame's arrival. The reader of those topics polls lazily and costs the broker ~nothing.

The clients are ``benchmarks/ws_client.py`` connections (an ``asyncio.Protocol`` that parses
frames as they arrive and offers permessage-deflate, as browsers do): they stand in for TVs on
other machines, so they are kept cheap. With the ``websockets`` library 1,000 of them took
54-58 % of the 2 cores; these take ~26 %.

Every process (broker, worker, API, this load generator, the client processes) shares the
machine's cores; the report prints each one's CPU during the window. On a small machine
N=1,000 measures the machine as much as Floorwatch: check the client processes' event-loop
lag and the total CPU before blaming the server.

    .venv/bin/python benchmarks/latency.py                     # N=1, then N=1,000: ~2 min
    .venv/bin/python benchmarks/latency.py --no-deflate        # clients without permessage-deflate
    .venv/bin/python benchmarks/latency.py --clients 1 --history-min 10   # with 10 min of history
    .venv/bin/python benchmarks/latency.py --publish-interval 0.1 \
        --what-if worker_fetch_ms=50,api_fetch_ms=50,hub_tick_s=0.05   # experiment, see --help
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import heapq
import itertools
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from floorwatch import topics  # noqa: E402
from floorwatch.events import parse_event  # noqa: E402

PROBE_QUEUE = "probe"
BACKGROUND_QUEUES = ("sales", "support", "chat")
VIEWER_TOKEN = "bench-viewer-secret"
TARGET_P99_MS = 250.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- small helpers ---------------------------------------------------------------------


def iso_now(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, int(round(q / 100 * len(values) + 0.5)) - 1))
    return values[k]


def summary(values: list[float]) -> dict[str, float]:
    v = sorted(values)
    return {"n": len(v), "p50": pct(v, 50), "p95": pct(v, 95), "p99": pct(v, 99), "max": v[-1] if v else float("nan")}


def fmt(s: dict[str, float]) -> str:
    return f"p50 {s['p50']:6.0f}  p95 {s['p95']:6.0f}  p99 {s['p99']:6.0f}  max {s['max']:6.0f} ms  (n={s['n']:,})"


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads) from /proc."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return float("nan")
    rest = raw[raw.rindex(")") + 2 :].split()
    return (int(rest[11]) + int(rest[12])) / CLK_TCK


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError, IndexError, ValueError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    return (
        f"{platform.machine()} {model}, {os.cpu_count()} cores{mem}, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


# -- the stack -------------------------------------------------------------------------


def write_config(path: Path, publish_interval_s: float | None) -> None:
    import yaml

    data = yaml.safe_load((ROOT / "floorwatch.yaml").read_text())
    data["auth"] = {
        "tokens": [
            {"name": "bench-viewer", "roles": ["viewer"], "sha256": hashlib.sha256(VIEWER_TOKEN.encode()).hexdigest()}
        ]
    }
    data["privacy"] = {"customer_hash_key": "bench-customer-hash-key"}  # the worker needs one
    if publish_interval_s is not None:
        data.setdefault("worker", {})["publish_interval_s"] = publish_interval_s
    path.write_text(yaml.safe_dump(data, sort_keys=False))


WHAT_IF_KEYS = {
    "worker_fetch_ms": "fetch_max_wait_ms of the worker's consumers (now also the setting "
    "worker.fetch_max_wait_ms, which the worker applies after construction)",
    "api_fetch_ms": "fetch_max_wait_ms of the API's view loader (now also the setting api.fetch_max_wait_ms)",
    "hub_tick_s": "tick of the API's websocket hub (api.live.TICK_S, 0.1)",
    "worker_fetch_pace_ms": "at least this long between fetch requests of each of the worker's consumers",
    "api_fetch_pace_ms": "at least this long between fetch requests of each of the API's consumers",
    "gc_log_ms": "log the worker's and API's garbage collections that take at least this long",
    "switch_interval_ms": "sys.setswitchinterval of the worker and the API (Python's default: 5 ms)",
}


def parse_what_if(text: str | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, _, value = item.partition("=")
        if key.strip() not in WHAT_IF_KEYS:
            raise SystemExit(f"--what-if: unknown key {key!r}; known: {', '.join(WHAT_IF_KEYS)}")
        out[key.strip()] = float(value)
    return out


def patched_cli(argv: list[str]) -> int:
    """``floorwatch.cli`` with the ``--what-if`` settings applied in this process (an experiment:
    these knobs are not configurable in Floorwatch; nothing under streams/ or api/ changes)."""
    what_if = json.loads(os.environ.get("FW_LATENCY_WHAT_IF", "{}"))
    role = argv[0]
    fetch = what_if.get(f"{role}_fetch_ms")
    if fetch is not None:
        # the worker sets worker.fetch_max_wait_ms on its consumer after creating it, so the
        # setting must say the same as the patch below, or it silently wins
        os.environ[f"FLOORWATCH_{role.upper()}__FETCH_MAX_WAIT_MS"] = str(int(fetch))
        from aiokafka import AIOKafkaConsumer

        original = AIOKafkaConsumer.__init__

        def init(self: Any, *a: Any, **k: Any) -> None:
            k["fetch_max_wait_ms"] = int(fetch)
            original(self, *a, **k)

        AIOKafkaConsumer.__init__ = init
    pace = what_if.get(f"{role}_fetch_pace_ms")
    if pace is not None:
        from aiokafka import AIOKafkaConsumer

        from benchmarks.tansu_fetch import pace_fetches

        original_start = AIOKafkaConsumer.start

        async def start(self: Any) -> None:
            await original_start(self)
            t0 = time.monotonic()

            def report(n: int) -> None:
                if n % 500 == 0:
                    print(f"what-if pace: {n} fetches, {n / (time.monotonic() - t0):.1f}/s", flush=True)

            pace_fetches(self, pace, report)

        AIOKafkaConsumer.start = start
    switch = what_if.get("switch_interval_ms")
    if switch is not None:
        sys.setswitchinterval(switch / 1000)
    gc_log = what_if.get("gc_log_ms")
    if gc_log is not None:
        import gc

        started: dict[str, float] = {}

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                started["t"] = time.perf_counter()
            elif (took := (time.perf_counter() - started.get("t", time.perf_counter())) * 1000) >= gc_log:
                print(
                    f"what-if gc ({role}): generation {info['generation']} took {took:.0f} ms, "
                    f"collected {info['collected']}, tracked {len(gc.get_objects(info['generation']))}",
                    flush=True,
                )

        gc.callbacks.append(on_gc)
    tick = what_if.get("hub_tick_s")
    if tick is not None and role == "api":
        import floorwatch.api.live as api_live

        api_live.TICK_S = tick
        kwdefaults = api_live.Hub.__init__.__kwdefaults__
        assert kwdefaults is not None  # Hub takes tick_s as a keyword-only argument
        kwdefaults["tick_s"] = tick
    print(f"latency benchmark what-if ({role}): {what_if}", flush=True)
    from floorwatch.cli import main as cli_main

    return cli_main(argv)


def start_floorwatch(args: list[str], env: dict[str, str], log: Path, what_if: dict[str, float]) -> subprocess.Popen:
    if what_if:
        entry = [str(Path(__file__).resolve()), "--patched-cli"]
        env = {**env, "FW_LATENCY_WHAT_IF": json.dumps(what_if)}
    else:
        entry = ["-m", "floorwatch.cli"]
    return subprocess.Popen(
        [sys.executable, *entry, *args],
        env=env,
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen | asyncio.subprocess.Process, sig: int = signal.SIGKILL) -> None:
    if proc.returncode is None and (not isinstance(proc, subprocess.Popen) or proc.poll() is None):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)


async def wait_log(proc: subprocess.Popen, log: Path, needle: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if needle in log.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{log.name}: exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{log.name}: no {needle!r} after {timeout_s} s:\n{log.read_text()[-3000:]}")


async def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout_s: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"API exited {proc.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            await asyncio.sleep(0.3)
    raise TimeoutError(f"API not ready after {timeout_s} s:\n{log.read_text()[-3000:]}")


# -- load ------------------------------------------------------------------------------


class Floor:
    """Background contact lifecycles; ``take(now, n)`` returns exactly ``n`` events: the due
    follow-ups (answered/abandoned/ended/wrap-up, in due order) topped up with new offers."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.heap: list[tuple[float, int, dict[str, Any]]] = []
        self.seq = 0
        self.contacts = 0

    def _push(self, due: float, event: dict[str, Any]) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (due, self.seq, event))

    def take(self, now: float, n: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        heap = self.heap
        while heap and heap[0][0] <= now and len(out) < n:
            out.append(heapq.heappop(heap)[2])
        rng = self.rng
        while len(out) < n:
            self.contacts += 1
            cid = f"c{self.contacts}"
            queue = rng.choice(BACKGROUND_QUEUES)
            base = {"contact_id": cid, "queue": queue}
            out.append({**base, "type": "contact.offered", "channel": "chat" if queue == "chat" else "voice"})
            wait = min(rng.expovariate(1 / 4.0), 40.0)
            if rng.random() < 0.1:
                self._push(now + wait, {**base, "type": "contact.abandoned"})
                continue
            agent = f"a{rng.randrange(1000)}"
            talk = rng.expovariate(1 / 12.0)
            self._push(now + wait, {**base, "type": "contact.answered", "agent_id": agent})
            self._push(now + wait + talk, {"contact_id": cid, "type": "contact.ended", "agent_id": agent})
            self._push(
                now + wait + talk + rng.expovariate(1 / 4.0),
                {"contact_id": cid, "type": "contact.wrapup_ended", "agent_id": agent},
            )
        return out


async def preload_history(bootstrap: str, minutes: float, contacts_per_s: float) -> int:
    """``minutes`` of finished contacts (offered + answered or abandoned) ending now, as fast
    as the producer goes: the worker's rolling 15/60-minute figures then cover a realistic
    population instead of the first seconds of a run. Returns the number of contacts."""
    from aiokafka import AIOKafkaProducer

    rng = random.Random(11)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks=1, client_id="bench-history")
    await producer.start()
    now = time.time()
    n = int(minutes * 60 * contacts_per_s)
    try:
        for k in range(n):
            t = now - minutes * 60 - 60 + k / contacts_per_s
            cid = f"h{k}"
            queue = rng.choice(BACKGROUND_QUEUES)
            wait = min(rng.expovariate(1 / 4.0), 40.0)
            follow = (
                {"type": "contact.abandoned"}
                if rng.random() < 0.1
                else {"type": "contact.answered", "agent_id": f"a{rng.randrange(1000)}"}
            )
            offered = {"type": "contact.offered", "channel": "chat" if queue == "chat" else "voice"}
            for i, (at, extra) in enumerate(((t, offered), (t + wait, follow))):
                event = {
                    "event_id": f"{cid}-{i}",
                    "contact_id": cid,
                    "queue": queue,
                    "ts": iso_now(at),
                    "produced_ms": int(at * 1000),
                    **extra,
                }
                await producer.send(topics.CONTACT_EVENTS, orjson.dumps(event), key=cid.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return n


async def wait_history(url: str, contacts: int, timeout_s: float) -> float:
    """Until the API's rolling 60-minute offered count of the background queues reaches
    ``contacts`` (the worker has processed the history); returns the seconds it took."""
    import httpx

    started = time.monotonic()
    seen = 0
    async with httpx.AsyncClient(timeout=5, headers={"Authorization": f"Bearer {VIEWER_TOKEN}"}) as client:
        while time.monotonic() - started < timeout_s:
            with contextlib.suppress(httpx.HTTPError, KeyError, TypeError, ValueError):
                rows = (await client.get(f"{url}/api/v1/queues")).json()
                seen = sum(int(r["rolling_60m"]["offered"] or 0) for r in rows if r["queue"] in BACKGROUND_QUEUES)
                if seen >= contacts:
                    return time.monotonic() - started
            await asyncio.sleep(2.0)
    raise TimeoutError(f"history not processed after {timeout_s} s ({seen:,} of {contacts:,} contacts)")


@dataclass
class Load:
    rate: float
    probe_interval_s: float
    linger_ms: int  # as the API's ingest producer: kafka.producer_linger_ms
    probe_t: list[float] = field(default_factory=list)  # index i-1 -> produce time of probe i
    probe_ack: dict[int, float] = field(default_factory=dict)  # probe i -> acks=all received
    sent: int = 0  # background events
    errors: int = 0
    sent_log: list[tuple[float, int]] = field(default_factory=list)  # (time, background sent so far)
    stop: bool = False

    def _done(self, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            self.errors += 1

    async def run(self, bootstrap: str) -> None:
        from aiokafka import AIOKafkaProducer

        # as the API's ingest producer: acks=all, linger kafka.producer_linger_ms
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=self.linger_ms, client_id="bench-load"
        )
        await producer.start()
        try:
            await asyncio.gather(self._background(producer), self._probes(producer))
            await producer.flush()
        finally:
            await producer.stop()

    async def _background(self, producer: Any) -> None:
        floor = Floor()
        t0 = time.time()
        n = 0
        while not self.stop:
            now = time.time()
            due = int((now - t0) * self.rate) - self.sent
            if due > 0:
                ts, ms = iso_now(now), int(now * 1000)
                for event in floor.take(now, min(due, 500)):
                    n += 1
                    event["event_id"] = f"e{n}"
                    event["ts"] = ts
                    event["produced_ms"] = ms
                    fut = await producer.send(
                        topics.CONTACT_EVENTS, orjson.dumps(event), key=event["contact_id"].encode()
                    )
                    fut.add_done_callback(self._done)
                    self.sent += 1
                self.sent_log.append((now, self.sent))
            await asyncio.sleep(0.005)

    async def _probes(self, producer: Any) -> None:
        t0 = time.time()
        i = 0
        while not self.stop:
            i += 1
            await asyncio.sleep(max(0.0, t0 + i * self.probe_interval_s - time.time()))
            now = time.time()
            cid = f"probe-{i}"
            event = {
                "event_id": cid,
                "type": "contact.offered",
                "contact_id": cid,
                "queue": PROBE_QUEUE,
                "channel": "voice",
                "ts": iso_now(now),
                "produced_ms": int(now * 1000),
            }
            fut = await producer.send(topics.CONTACT_EVENTS, orjson.dumps(event), key=cid.encode())
            self.probe_t.append(now)
            fut.add_done_callback(self._done)
            fut.add_done_callback(lambda _fut, i=i: self.probe_ack.__setitem__(i, time.time()))

    def rate_between(self, a: float, b: float) -> float:
        inside = [(t, n) for t, n in self.sent_log if a <= t <= b]
        if len(inside) < 2:
            return float("nan")
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])


CONTACTS_CHANGELOG = "floorwatch-contacts-changelog"  # Faust: {app id}-{table}-changelog


@dataclass
class Observers:
    """One plain consumer of the worker's contacts changelog and of fw.queue-stats.

    It needs no promptness: the instants come from the records themselves (their Kafka
    CreateTime, set when the worker called ``send``, and ``computed_ms``), so it polls with a
    long fetch wait and costs the broker next to nothing. (Tansu holds every fetch for a
    share of ``fetch_max_wait_ms`` and its in-memory fetch costs grow with the log: a 10 ms
    poller of the input topic alone took 40-80 % of a core within a minute.)
    """

    applied: dict[int, float] = field(default_factory=dict)  # probe i -> worker wrote its facts
    # (summed probe waiting, record CreateTime s, computed_ms s), first record reaching each sum
    out_seen: list[tuple[int, float, float]] = field(default_factory=list)
    ticks: set[float] = field(default_factory=set)  # computed_ms (s) of every probe-queue record
    # every fw.queue-stats record of the probe queue: (CreateTime s, partition, waiting, computed_ms s)
    records: list[tuple[float, int, int, float]] = field(default_factory=list)
    stop: bool = False

    async def run(self, bootstrap: str) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=1000,
            client_id="bench-observer",
        )
        await consumer.start()
        try:
            wanted: list[Any] = []
            for _ in range(100):
                await consumer.topics()
                wanted = [
                    TopicPartition(t, p)
                    for t in (CONTACTS_CHANGELOG, topics.QUEUE_STATS)
                    for p in sorted(consumer.partitions_for_topic(t) or ())
                ]
                if {tp.topic for tp in wanted} == {CONTACTS_CHANGELOG, topics.QUEUE_STATS}:
                    break
                await asyncio.sleep(0.2)
            consumer.assign(wanted)
            probe_key = b'"probe-'
            stats_prefix = f"{PROBE_QUEUE}|".encode()
            while not self.stop:
                batches = await consumer.getmany(timeout_ms=200)
                for tp, messages in batches.items():
                    for m in messages:
                        if not m.key:
                            continue
                        if tp.topic == CONTACTS_CHANGELOG:
                            if m.key.startswith(probe_key):
                                self.applied.setdefault(int(m.key[7:-1]), m.timestamp / 1000)
                        elif m.key.startswith(stats_prefix) and m.value is not None:
                            data = orjson.loads(m.value)
                            self.records.append(
                                (
                                    m.timestamp / 1000,
                                    int(data["partition"]),
                                    int(data.get("waiting") or 0),
                                    int(data.get("computed_ms") or 0) / 1000,
                                )
                            )
        finally:
            await consumer.stop()

    def replay(self) -> None:
        """``out_seen`` and ``ticks`` from the probe-queue records in the order the worker sent
        them (CreateTime), whatever order the partitions were read in."""
        by_part: dict[int, int] = {}
        best = 0
        self.out_seen = []
        self.ticks = set()
        for sent, partition, waiting, computed in sorted(self.records):
            self.ticks.add(computed)
            by_part[partition] = waiting
            total = sum(by_part.values())
            if total > best:
                best = total
                self.out_seen.append((total, sent, computed))


# -- websocket clients (run in child processes: --client-proc) --------------------------


async def client_proc(url: str, n: int, out: Path, deflate: bool, connect_parallel: int) -> None:
    """``n`` websocket clients in this process; prints ``CONNECTED ok failed``, waits for
    ``stop`` on stdin, writes what each client saw to ``out`` and prints ``DONE``."""
    from benchmarks.ws_client import connect

    results: list[dict[str, Any]] = [
        {"rows": [], "frames": 0, "bytes": 0, "error": None, "deflate": False} for _ in range(n)
    ]
    connected = 0
    failed = 0
    done_connecting = asyncio.Event()
    gate = asyncio.Semaphore(connect_parallel)
    stop = asyncio.Event()
    needle = f'"queue":"{PROBE_QUEUE}"'.encode()

    def probe_waiting(frame: dict[str, Any]) -> int | None:
        q = frame.get("queues")
        rows = q if isinstance(q, list) else (q or {}).get("upsert", [])
        for row in rows:
            if row.get("queue") == PROBE_QUEUE:
                return int(row.get("waiting") or 0)
        return None

    def receiver(res: dict[str, Any]) -> Callable[[bytes, float], None]:
        rows = res["rows"]
        best = [-1]

        def on_message(msg: bytes, now: float) -> None:
            res["frames"] += 1
            res["bytes"] += len(msg)
            if needle in msg:
                frame = orjson.loads(msg)
                w = probe_waiting(frame)
                if w is not None and w > best[0]:
                    best[0] = w
                    rows.append((w, now, frame.get("server_ts", 0) / 1000))

        return on_message

    async def one(i: int) -> None:
        nonlocal connected, failed
        res = results[i]
        try:
            async with gate:
                ws = await connect(url, receiver(res), deflate=deflate)
        except Exception as exc:  # noqa: BLE001 - recorded and reported, never silent
            res["error"] = f"{type(exc).__name__}: {exc}"[:200]
            failed += 1
        else:
            res["deflate"] = ws.deflate  # what the server accepted
            connected += 1
        if connected + failed == n:
            done_connecting.set()
        if not res["error"]:
            reason = await ws.closed
            if not stop.is_set():
                res["error"] = reason[:200]

    lags: list[float] = []

    async def lag_monitor() -> None:
        while not stop.is_set():
            t = time.monotonic()
            await asyncio.sleep(0.05)
            lags.append(time.monotonic() - t - 0.05)

    async def read_stdin() -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = await reader.readline()
            if not line or line.strip() == b"stop":
                stop.set()
                return

    tasks = [asyncio.create_task(one(i)) for i in range(n)]
    monitor = asyncio.create_task(lag_monitor())
    stdin_task = asyncio.create_task(read_stdin())
    cpu0 = time.process_time()
    await done_connecting.wait()
    print(f"CONNECTED {connected} {failed}", flush=True)
    await stop.wait()
    cpu = time.process_time() - cpu0
    lag = summary([x * 1000 for x in lags])
    out.write_bytes(orjson.dumps({"clients": results, "loop_lag_ms": lag, "cpu_s": cpu}))
    print("DONE", flush=True)
    for t in (*tasks, monitor, stdin_task):
        t.cancel()
    os._exit(0)  # 1,000 close handshakes are not part of the measurement


# -- a phase ---------------------------------------------------------------------------


@dataclass
class Phase:
    n: int
    window: tuple[float, float] = (0.0, 0.0)
    clients: list[dict[str, Any]] = field(default_factory=list)
    connected: int = 0
    failed: int = 0
    connect_s: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    client_lag: list[dict[str, float]] = field(default_factory=list)
    rate: float = 0.0
    grace_s: float = 0.0


async def run_phase(
    n: int,
    procs: int,
    url: str,
    tmp: Path,
    duration_s: float,
    settle_s: float,
    grace_s: float,
    deflate: bool,
    pids: dict[str, int],
    load: Load,
) -> Phase:
    phase = Phase(n, grace_s=grace_s)
    k = max(1, min(procs, n))
    sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    children: list[tuple[asyncio.subprocess.Process, Path]] = []
    t_connect = time.monotonic()
    for i, size in enumerate(sizes):
        out = tmp / f"clients-{n}-{i}.json"
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).resolve()),
            "--client-proc",
            url,
            str(size),
            str(out),
            "--deflate" if deflate else "--no-deflate",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        children.append((child, out))
    try:
        for child, _ in children:
            line = await asyncio.wait_for(child.stdout.readline(), 120)  # type: ignore[union-attr]
            parts = line.decode().split()
            if not parts or parts[0] != "CONNECTED":
                raise RuntimeError(f"client process said {line!r}")
            phase.connected += int(parts[1])
            phase.failed += int(parts[2])
        phase.connect_s = time.monotonic() - t_connect
        await asyncio.sleep(settle_s)
        all_pids = {**pids, **{f"clients{i}": c.pid for i, (c, _) in enumerate(children)}}
        cpu0 = {name: cpu_seconds(pid) for name, pid in all_pids.items()}
        w0 = time.time()
        await asyncio.sleep(duration_s)
        w1 = time.time()
        phase.cpu = {name: (cpu_seconds(pid) - cpu0[name]) / (w1 - w0) for name, pid in all_pids.items()}
        phase.window = (w0, w1)
        phase.rate = load.rate_between(w0, w1)
        await asyncio.sleep(grace_s)  # let the last probes of the window arrive
        for child, _ in children:
            child.stdin.write(b"stop\n")  # type: ignore[union-attr]
            await child.stdin.drain()  # type: ignore[union-attr]
        for child, out in children:
            line = await asyncio.wait_for(child.stdout.readline(), 60)  # type: ignore[union-attr]
            if line.strip() != b"DONE":
                raise RuntimeError(f"client process said {line!r}")
            data = orjson.loads(out.read_bytes())
            phase.clients.extend(data["clients"])
            phase.client_lag.append({**data["loop_lag_ms"], "cpu_s": data["cpu_s"]})
            await child.wait()
    finally:
        for child, _ in children:
            kill_group(child)
    return phase


def analyse(phase: Phase, load: Load, obs: Observers) -> dict[str, Any]:
    """Latency samples of one phase, and the breakdown of the same probes.

    Count-based like the clients: the n-th probe is "in" a record or frame once the probe
    queue's summed ``waiting`` there reaches n.
    """
    obs.replay()
    w0, w1 = phase.window
    probes = [(i + 1, t) for i, t in enumerate(load.probe_t) if w0 <= t <= w1]
    total: list[float] = []
    hub: list[float] = []  # queue-stats record sent -> hub tick
    send: list[float] = []  # hub tick -> arrival
    missing = 0
    out_seen = obs.out_seen
    out_at: dict[int, tuple[float, float]] = {}  # probe i -> (record CreateTime, computed_ms)
    j = 0
    for i, _ in probes:
        while j < len(out_seen) and out_seen[j][0] < i:
            j += 1
        if j < len(out_seen):
            out_at[i] = (out_seen[j][1], out_seen[j][2])
    slices: dict[int, list[float]] = {}  # the same latencies by 10 s slice of the window
    errors = [c["error"] for c in phase.clients if c["error"]]
    for client in phase.clients:
        rows = client["rows"]
        j = 0
        for i, t in probes:
            while j < len(rows) and rows[j][0] < i:
                j += 1
            in_slice = slices.setdefault(int((t - w0) // 10), [])
            if j == len(rows):  # never reflected while observed: counts as infinitely late
                missing += 1
                total.append(float("inf"))
                in_slice.append(float("inf"))
                continue
            _, arrival, server_ts = rows[j]
            total.append((arrival - t) * 1000)
            in_slice.append(total[-1])
            send.append((arrival - server_ts) * 1000)
            if i in out_at:
                hub.append((server_ts - out_at[i][0]) * 1000)
    ms = 1000
    t_of = dict(probes)
    ticks = sorted(t for t in obs.ticks if w0 <= t <= w1)
    frames = sum(c["frames"] for c in phase.clients)
    return {
        "n": phase.n,
        "connected": phase.connected,
        "failed": phase.failed,
        "errors": errors[:3],
        "n_errors": len(errors),
        "probes": len(probes),
        "missing": missing,
        "rate": phase.rate,
        "grace_s": phase.grace_s,
        "connect_s": phase.connect_s,
        "cpu": phase.cpu,
        "client_lag": phase.client_lag,
        "frames_per_client_s": frames / max(1, len(phase.clients)) / (w1 - w0 + phase.grace_s),
        "deflate_negotiated": sum(1 for c in phase.clients if c.get("deflate")),
        "bytes_per_frame": sum(c["bytes"] for c in phase.clients) / max(1, frames),
        "total": summary(total),
        "p99_by_10s": [pct(sorted(v), 99) for _, v in sorted(slices.items())],
        "publisher_spacing": summary([(b - a) * ms for a, b in itertools.pairwise(ticks)]),
        "stages": {
            "produce -> broker ack (acks=all)": summary(
                [(load.probe_ack[i] - t) * ms for i, t in probes if i in load.probe_ack]
            ),
            "produce -> worker applied it (changelog write)": summary(
                [(obs.applied[i] - t) * ms for i, t in probes if i in obs.applied]
            ),
            "applied -> publisher tick (computed_ms)": summary(
                [(c - obs.applied[i]) * ms for i, (_, c) in out_at.items() if i in obs.applied]
            ),
            "publisher tick -> fw.queue-stats record sent": summary([(sent - c) * ms for sent, c in out_at.values()]),
            "= produce -> fw.queue-stats record sent": summary(
                [(sent - t_of[i]) * ms for i, (sent, _) in out_at.items()]
            ),
            "record sent -> API hub tick (server_ts)": summary(hub),
            "hub tick -> frame at client": summary(send),
        },
    }


def report(results: list[dict[str, Any]], settings_line: str) -> None:
    print()
    print(f"machine: {machine()}")
    print(
        f"stack: Tansu (in memory) + 1 worker + 1 API (uvicorn) + load/observer process + "
        f"client processes, all on these {os.cpu_count()} cores, loopback"
    )
    print(settings_line)
    for r in results:
        print()
        print(
            f"== N = {r['n']:,} websocket clients ({r['connected']:,} connected, {r['failed']} failed, "
            f"connect {r['connect_s']:.1f} s; {r['n_errors']} client errors) =="
        )
        for e in r["errors"]:
            print(f"   client error: {e}")
        print(
            f"background produce rate achieved: {r['rate']:,.0f} events/s; probes in window: {r['probes']}; "
            f"samples never reflected before the end (window + {r['grace_s']:g} s; counted as inf): "
            f"{r['missing']:,}"
        )
        print(
            f"frames: {r['frames_per_client_s']:.1f}/s per client, {r['bytes_per_frame']:,.0f} bytes each; "
            f"permessage-deflate negotiated by {r.get('deflate_negotiated', 0):,} of {r['connected']:,} clients"
        )
        print(f"LATENCY produce -> websocket frame: {fmt(r['total'])}")
        print(f"   p99 by 10 s of the window: {' '.join(f'{v:.0f}' for v in r['p99_by_10s'])} ms")
        print(f"   (spacing of worker publishes carrying probe-queue records: {fmt(r['publisher_spacing'])})")
        for name, s in r["stages"].items():
            print(f"   {name:<48} {fmt(s)}")
        cpu = "  ".join(f"{k} {v * 100:.0f}%" for k, v in r["cpu"].items())
        print(f"CPU (of one core) during the window: {cpu}")
        for i, lag in enumerate(r["client_lag"]):
            print(f"   client process {i}: event-loop lag p99 {lag['p99']:.0f} ms, max {lag['max']:.0f} ms")
        if r.get("produce_errors"):
            print(f"WARNING: {r['produce_errors']} produce errors")
        verdict = "MEETS" if r["total"]["p99"] < TARGET_P99_MS else "MISSES"
        print(f"verdict: p99 {r['total']['p99']:.0f} ms {verdict} the {TARGET_P99_MS:.0f} ms target")


async def run_stack(args: argparse.Namespace, n: int, tmp: Path) -> dict[str, Any]:
    """A fresh broker + worker + API, the load, ``n`` websocket clients; the analysed phase."""
    from floorwatch.services.broker import create_topics, free_port, start_tansu, stop_process

    tmp.mkdir(parents=True)
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    api_port = free_port()
    url = f"http://127.0.0.1:{api_port}"
    ws_url = f"ws://127.0.0.1:{api_port}/ws?token={VIEWER_TOKEN}"
    config = tmp / "floorwatch.yaml"
    write_config(config, args.publish_interval)
    env = {
        **os.environ,
        "FLOORWATCH_CONFIG": str(config),
        "FLOORWATCH_KAFKA": bootstrap,
        "FLOORWATCH_API_PORT": str(api_port),
    }

    print(f"[{time.strftime('%X')}] N={n:,}: starting broker, worker, API in {tmp}", flush=True)
    broker = start_tansu("127.0.0.1", port, tmp / "broker.log")
    procs: list[subprocess.Popen] = []
    load = Load(args.rate, args.probe_interval, args.linger_ms)
    obs = Observers()
    bg: list[asyncio.Task[Any]] = []
    try:
        await create_topics(bootstrap, args.partitions, output_partitions=args.output_partitions)
        worker = start_floorwatch(
            ["worker", "--data-dir", str(tmp / "worker"), "--loglevel", "info"], env, tmp / "worker.log", args.what_if
        )
        procs.append(worker)
        api = start_floorwatch(["api", "--loglevel", "warning"], env, tmp / "api.log", args.what_if)
        procs.append(api)
        await wait_log(worker, tmp / "worker.log", "rebuilt aggregates", 120)
        await wait_ready(url, api, tmp / "api.log", 60)
        pids = {"broker": broker.pid, "worker": worker.pid, "api": api.pid, "load+observers": os.getpid()}

        if args.history_min > 0:
            contacts_per_s = args.rate / 3.8  # the live mix has ~3.8 events per contact
            print(
                f"[{time.strftime('%X')}] preloading {args.history_min:g} min of history "
                f"({contacts_per_s * args.history_min * 60:,.0f} contacts)",
                flush=True,
            )
            contacts = await preload_history(bootstrap, args.history_min, contacts_per_s)
            took = await wait_history(url, contacts, 900)
            print(f"[{time.strftime('%X')}] the worker processed the history in {took:.0f} s", flush=True)
        if args.observers:
            bg.append(asyncio.create_task(obs.run(bootstrap)))
            await asyncio.sleep(1.0)
        bg.append(asyncio.create_task(load.run(bootstrap)))
        print(
            f"[{time.strftime('%X')}] producing {args.rate:,.0f} events/s + a probe every "
            f"{args.probe_interval * 1000:.0f} ms; warm-up {args.warmup:.0f} s",
            flush=True,
        )
        await asyncio.sleep(args.warmup)
        print(f"[{time.strftime('%X')}] N={n:,}: connecting", flush=True)
        phase = await run_phase(
            n, args.client_procs, ws_url, tmp, args.duration, args.settle, args.grace, args.deflate, pids, load
        )
        for task in bg:
            if task.done():
                task.result()  # surface a failed producer/observer
        result = analyse(phase, load, obs)
        result["produce_errors"] = load.errors
        print(f"[{time.strftime('%X')}] N={n:,}: p99 {result['total']['p99']:.0f} ms", flush=True)
        return result
    finally:
        load.stop = obs.stop = True
        for task in bg:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 5)
        for proc in reversed(procs):
            kill_group(proc, signal.SIGTERM if "api" in proc.args else signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            kill_group(proc)
        stop_process(broker)


async def main(args: argparse.Namespace) -> None:
    sample = {
        "event_id": "x",
        "type": "contact.offered",
        "contact_id": "x",
        "queue": PROBE_QUEUE,
        "channel": "voice",
        "ts": iso_now(time.time()),
        "produced_ms": 0,
    }
    parse_event(sample)  # the events are valid input
    tmp = Path(tempfile.mkdtemp(prefix="fw-latency-"))
    config = tmp / "floorwatch.yaml"
    write_config(config, args.publish_interval)
    from floorwatch.config import load_settings

    os.environ["FLOORWATCH_CONFIG"] = str(config)
    settings = load_settings()
    args.partitions = settings.kafka.partitions
    args.linger_ms = settings.kafka.producer_linger_ms
    args.output_partitions = settings.kafka.output_partitions
    settings_line = (
        f"settings: publish_interval_s {settings.worker.publish_interval_s}, worker batch "
        f"{settings.worker.batch_size}/{settings.worker.batch_within_s} s, "
        f"{settings.kafka.partitions} partitions, load producer linger {args.linger_ms} ms, "
        f"api.fetch_max_wait_ms "
        f"{settings.api.fetch_max_wait_ms}, hub tick 0.1 s, api.ws_frames_per_s "
        f"{settings.api.ws_frames_per_s:,}, clients "
        f"{'offer' if args.deflate else 'do not offer'} permessage-deflate, server "
        f"api.ws_per_message_deflate {settings.api.ws_per_message_deflate}, "
        f"history preloaded: {args.history_min:g} min; each N on a fresh stack"
        + (f"\nWHAT-IF (patched, not the shipped design): {args.what_if}" if args.what_if else "")
    )
    try:
        results = [await run_stack(args, n, tmp / f"n{n}") for n in args.clients]
        report(results, settings_line)
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=2000.0, help="background contact events/s")
    p.add_argument("--duration", type=float, default=30.0, help="measuring window per N, seconds")
    p.add_argument("--clients", default="1,1000", help="comma-separated N values, run in turn")
    p.add_argument("--client-procs", type=int, default=2, help="processes the clients of one N share")
    p.add_argument("--warmup", type=float, default=8.0, help="seconds of load before each N's clients connect")
    p.add_argument("--settle", type=float, default=3.0, help="seconds after all clients connected")
    p.add_argument(
        "--grace",
        type=float,
        default=5.0,
        help="seconds the clients stay connected after the window, for its last probes",
    )
    p.add_argument("--probe-interval", type=float, default=0.1)
    p.add_argument(
        "--history-min",
        type=float,
        default=0.0,
        help="first preload this many minutes (<= 55) of finished contacts at the same "
        "contact rate, so rolling 15/60-minute figures cover a realistic population "
        "(10 min: ~316k contacts, ~2 min more)",
    )
    p.add_argument(
        "--publish-interval",
        type=float,
        default=None,
        help="override worker.publish_interval_s (default: the config's)",
    )
    p.add_argument(
        "--deflate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="clients offer permessage-deflate, as browsers do",
    )
    p.add_argument(
        "--observers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="read the worker changelog and fw.queue-stats for the breakdown (lazy polling)",
    )
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--keep", action="store_true", help="keep the temp dir with the process logs")
    p.add_argument(
        "--what-if",
        default=None,
        metavar="KEY=VALUE,...",
        help="EXPERIMENT, not the shipped design: patch knobs Floorwatch does not expose, in "
        "the worker/API processes only: " + "; ".join(f"{k}: {v}" for k, v in WHAT_IF_KEYS.items()),
    )
    p.add_argument("--client-proc", nargs=3, metavar=("URL", "N", "OUT"), help=argparse.SUPPRESS)
    p.add_argument("--connect-parallel", type=int, default=50, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.clients = [int(x) for x in str(args.clients).split(",") if x.strip()]
    args.what_if = parse_what_if(args.what_if)
    if not 0 <= args.history_min <= 55:
        p.error("--history-min: 0 to 55 minutes (it must fit in the rolling 60-minute window)")
    return args


if __name__ == "__main__":
    if sys.argv[1:2] == ["--patched-cli"]:
        sys.exit(patched_cli(sys.argv[2:]))
    ARGS = parse_args()
    if ARGS.client_proc:
        url_, n_, out_ = ARGS.client_proc
        import uvloop  # the clients stand in for TVs on other machines: keep their share of these cores small

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        asyncio.run(client_proc(url_, int(n_), Path(out_), ARGS.deflate, ARGS.connect_parallel))
    else:
        asyncio.run(main(ARGS))
