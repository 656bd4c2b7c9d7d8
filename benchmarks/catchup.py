"""Catching up after an outage: the worker's own rate, the end-to-end rate, a worker outage.

One fresh stack (the embedded Tansu broker in memory, one ``floorwatch worker``, one
``floorwatch api``, free loopback ports), three measurements in one run:

a. **worker rate**: N contact events (complete lifecycles: offered, answered or abandoned,
   ended, wrap-up; 85 % of offers with a customer id, wrap-ups with ``resolved``) produced
   straight to ``fw.contact-events``; events / seconds from the first send until the worker's
   committed offsets reach the end of every partition. The API runs and reads the worker's
   output meanwhile, as in b (it is not paused: an API stopped for minutes lost its broker
   connection, which is what the first version of this script did), and the script waits
   until the API shows these events before b starts.
b. **end-to-end rate**: another N events (fresh contacts, same hours), API running; events /
   seconds from the first send until ``GET /api/v1/intervals`` shows all of them: per queue,
   the sums over the intervals of offered, answered, abandoned, handled and handle time
   (``aht_s`` x ``handled``) equal what the produced events imply (computed here from the
   events, not by Floorwatch's code). Every event moves one of those sums, and a contact's
   events are on one partition in time order, so equal sums mean every event was shown. The
   instant the worker's commits reached the end is printed too (the worker's rate within b).
c. **outage**: the worker is killed (SIGKILL), ``floorwatch simulate --agents A --speed 0``
   produces the last M minutes of a floor of A agents (its model: shifts, breaks, arrivals per
   queue from an intraday profile, talk/hold/wrap per channel; contact and agent events), then
   one probe offer per partition of ``fw.contact-events`` on queue ``probe``; the worker is
   restarted. Catch-up time = restart until the REST view shows every probe
   (``waiting`` of queue ``probe`` equals the probes sent) and the worker's committed offsets
   of every input topic are at their ends. The outage's events are produced before the
   restart, so an M-minute outage needs no M minutes of waiting.

``--ws-clients N`` (default 1) keeps N wallboard websocket clients (``/ws``, no filter, the
light client of ``benchmarks/ws_client.py``) connected throughout, as a floor has its screens:
the API's hub then recomputes and pushes the floor's state as the view changes. The frames
they received are printed. CPU seconds of Tansu, the worker and the API are read from /proc for
each phase.
``--profile-api FILE`` / ``--profile-worker FILE`` run that process under cProfile (a
benchmark-side hook: nothing in Floorwatch changes) and write the stats when it stops.

    .venv/bin/python benchmarks/catchup.py --events 120000 --agents 1000 --outage-minutes 30
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from floorwatch import topics  # noqa: E402

QUEUES = ("sales", "support", "chat")
PROBE_QUEUE = "probe"
POLL_S = 0.5  # the REST view (3 requests a look) and the committed offsets are polled this often
PHASE_TIMEOUT_S = 1800.0  # a phase that has not finished by then fails the run
MAX_EVENTS = 2_000_000  # --events cap (the events are held in memory)
INTERVAL_ROWS_CAP = 1_000  # rows read per /intervals answer


# -- pure parts (unit-tested) -------------------------------------------------------------


def iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, ZoneInfo("UTC")).isoformat(timespec="milliseconds")


def contact_lifecycles(
    n_events: int, first_offer_ms: int, last_offer_ms: int, *, prefix: str, seed: int = 7, customers: bool = True
) -> list[dict[str, Any]]:
    """Complete contact lifecycles, at least ``n_events`` events (whole contacts only), sorted
    by time; offers spread evenly over ``[first_offer_ms, last_offer_ms]``; every event at most
    25 minutes after its offer. 10 % abandon after an exponential wait (mean 20 s); the rest are
    answered after it, end after a talk of 30 s to 20 min (lognormal, median ~2.5 min) and end
    wrap-up 1 to 120 s later. Contact ids and event ids start with ``prefix``."""
    rng = random.Random(seed)
    contacts = max(1, math.ceil(n_events / 3.7))  # 0.9 x 4 + 0.1 x 2 events per contact
    step = (last_offer_ms - first_offer_ms) / max(1, contacts - 1)
    out: list[tuple[int, int, dict[str, Any]]] = []
    seq = 0
    k = 0
    while len(out) < n_events:
        cid = f"{prefix}c{k}"
        offered = first_offer_ms + int(min(k, contacts - 1) * step)
        k += 1
        queue = rng.choice(QUEUES)
        offer: dict[str, Any] = {
            "type": "contact.offered",
            "contact_id": cid,
            "queue": queue,
            "channel": "chat" if queue == "chat" else "voice",
        }
        if customers and rng.random() < 0.85:
            offer["customer"] = f"{prefix}cust{rng.randrange(max(1, contacts // 3))}"
        wait = min(int(rng.expovariate(1 / 20_000)), 180_000)
        lifecycle: list[tuple[int, dict[str, Any]]] = [(offered, offer)]
        if rng.random() < 0.1:
            lifecycle.append((offered + wait, {"type": "contact.abandoned", "contact_id": cid, "queue": queue}))
        else:
            agent = f"a{rng.randrange(1000)}"
            answered = offered + wait
            ended = answered + int(min(max(rng.lognormvariate(11.9, 0.5), 30_000), 1_200_000))
            wrapped = ended + rng.randint(1_000, 120_000)
            lifecycle.append(
                (answered, {"type": "contact.answered", "contact_id": cid, "queue": queue, "agent_id": agent})
            )
            lifecycle.append((ended, {"type": "contact.ended", "contact_id": cid, "agent_id": agent}))
            wrapup: dict[str, Any] = {"type": "contact.wrapup_ended", "contact_id": cid, "agent_id": agent}
            if customers:
                wrapup["resolved"] = rng.random() < 0.8
            lifecycle.append((wrapped, wrapup))
        for at, event in lifecycle:
            seq += 1
            out.append((at, seq, {**event, "event_id": f"{prefix}e{seq}", "ts": iso_ms(at)}))
    out.sort(key=lambda x: (x[0], x[1]))
    return [e for _, _, e in out]


@dataclass(frozen=True, slots=True)
class Figures:
    """Per queue sums the REST view shows over the intervals of a day."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    handled: int = 0
    handle_ms: int = 0  # talk + hold + wrap of handled contacts


def _ms(ts: str) -> int:
    return int(datetime.fromisoformat(ts).timestamp() * 1000 + 0.5)


def expected_figures(events: list[dict[str, Any]]) -> dict[str, Figures]:
    """What the events imply per queue: offers, answers, abandons, contacts answered and ended
    (handled) and their handle time (ended - answered + wrap-up end - ended); no holds, no
    transfers. Computed from the events alone."""
    offers: dict[str, tuple[str, int]] = {}
    answered: dict[str, int] = {}
    ended: dict[str, int] = {}
    wrapped: dict[str, int] = {}
    abandoned: set[str] = set()
    for e in events:
        cid, kind, at = e["contact_id"], e["type"], _ms(e["ts"])
        if kind == "contact.offered":
            offers[cid] = (e["queue"], at)
        elif kind == "contact.answered":
            answered[cid] = at
        elif kind == "contact.abandoned":
            abandoned.add(cid)
        elif kind == "contact.ended":
            ended[cid] = at
        elif kind == "contact.wrapup_ended":
            wrapped[cid] = at
    sums: dict[str, list[int]] = {}
    for cid, (queue, _) in offers.items():
        row = sums.setdefault(queue, [0, 0, 0, 0, 0])
        row[0] += 1
        if cid in abandoned:
            row[2] += 1
        elif cid in answered:
            row[1] += 1
            if cid in ended and ended[cid] >= answered[cid]:
                row[3] += 1
                row[4] += ended[cid] - answered[cid]
                if cid in wrapped:
                    row[4] += max(0, wrapped[cid] - ended[cid])
    return {q: Figures(*row) for q, row in sums.items()}


def shown_figures(rows: list[dict[str, Any]]) -> Figures:
    """The sums of one queue's ``GET /api/v1/intervals`` rows (handle time from ``aht_s``)."""
    offered = answered = abandoned = handled = handle_ms = 0
    for r in rows:
        offered += int(r.get("offered") or 0)
        answered += int(r.get("answered") or 0)
        abandoned += int(r.get("abandoned") or 0)
        n = int(r.get("handled") or 0)
        handled += n
        if n and r.get("aht_s") is not None:
            handle_ms += round(float(r["aht_s"]) * 1000 * n)
    return Figures(offered, answered, abandoned, handled, handle_ms)


def add_figures(a: dict[str, Figures], b: dict[str, Figures]) -> dict[str, Figures]:
    out = dict(a)
    for q, f in b.items():
        g = out.get(q, Figures())
        out[q] = Figures(
            g.offered + f.offered,
            g.answered + f.answered,
            g.abandoned + f.abandoned,
            g.handled + f.handled,
            g.handle_ms + f.handle_ms,
        )
    return out


def local_dates(events: list[dict[str, Any]], tz: ZoneInfo) -> list[str]:
    """The local dates (YYYY-MM-DD) of the offers: the days to read intervals of."""
    return sorted(
        {
            datetime.fromisoformat(e["ts"]).astimezone(tz).date().isoformat()
            for e in events
            if e["type"] == "contact.offered"
        }
    )


def partition_keys(partitions: int, prefix: str, limit: int = 100_000) -> list[str]:
    """One key per partition (Kafka's default murmur2 partitioner), in partition order."""
    from aiokafka.partitioner import murmur2

    found: dict[int, str] = {}
    for i in range(limit):
        key = f"{prefix}{i}"
        p = (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
        found.setdefault(p, key)
        if len(found) == partitions:
            return [found[p] for p in range(partitions)]
    raise ValueError(f"no key for every partition within {limit} tries")


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


# -- the stack ------------------------------------------------------------------------------


def profiled_cli(out: str, argv: list[str]) -> int:
    """``floorwatch.cli`` under cProfile; the stats go to ``out`` when it returns or exits."""
    import cProfile

    from floorwatch.cli import main as cli_main

    prof = cProfile.Profile()
    code = 0
    signal.signal(signal.SIGUSR1, lambda *_: prof.dump_stats(out))  # a snapshot on request
    try:
        code = prof.runcall(cli_main, argv) or 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 0
    finally:
        prof.dump_stats(out)
    return code


class Stack:
    def __init__(self, tmp: Path, args: argparse.Namespace) -> None:
        from benchmarks.latency import write_config
        from floorwatch.config import load_settings
        from floorwatch.services.broker import free_port

        self.tmp = tmp
        self.args = args
        self.port, self.api_port = free_port(), free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.url = f"http://127.0.0.1:{self.api_port}"
        config = tmp / "floorwatch.yaml"
        write_config(config, None)
        os.environ["FLOORWATCH_CONFIG"] = str(config)
        self.settings = load_settings()
        self.env = {
            **os.environ,
            "FLOORWATCH_CONFIG": str(config),
            "FLOORWATCH_KAFKA": self.bootstrap,
            "FLOORWATCH_API_PORT": str(self.api_port),
        }
        self.tansu: Any = None
        self.worker: subprocess.Popen | None = None
        self.api: subprocess.Popen | None = None
        self.worker_starts = 0
        self.clients: list[Any] = []  # websocket clients (benchmarks.ws_client), kept open

    def start_process(self, role: str, argv: list[str], profile: str | None) -> subprocess.Popen:
        entry = [str(Path(__file__).resolve()), "--profiled-cli", profile] if profile else ["-m", "floorwatch.cli"]
        log = self.tmp / f"{role}.log"
        return subprocess.Popen(
            [sys.executable, *entry, *argv],
            env=self.env,
            cwd=ROOT,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    async def start(self) -> None:
        from benchmarks.latency import wait_ready
        from floorwatch.services.broker import create_topics, start_tansu

        self.tansu = start_tansu("127.0.0.1", self.port, self.tmp / "broker.log")
        await create_topics(
            self.bootstrap, self.settings.kafka.partitions, output_partitions=self.settings.kafka.output_partitions
        )
        await self.start_worker(profile=self.args.profile_worker)
        self.api = self.start_process("api", ["api", "--loglevel", "warning"], self.args.profile_api)
        await wait_ready(self.url, self.api, self.tmp / "api.log", 90)

    async def start_worker(self, profile: str | None = None) -> float:
        """Start the worker; seconds until it logged ``rebuilt aggregates`` (ready)."""
        from benchmarks.latency import wait_log

        log = self.tmp / "worker.log"
        before = log.stat().st_size if log.exists() else 0
        self.worker_starts += 1
        self.worker = self.start_process(
            "worker", ["worker", "--data-dir", str(self.tmp / "worker"), "--loglevel", "info"], profile
        )
        started = time.monotonic()
        deadline = started + 600
        while time.monotonic() < deadline:  # at most 3,000 looks
            with log.open("rb") as f:
                f.seek(before)
                if b"rebuilt aggregates" in f.read():
                    return time.monotonic() - started
            if self.worker.poll() is not None:
                await wait_log(self.worker, log, "\x00never", 0)  # raises with the log's tail
            await asyncio.sleep(0.2)
        raise TimeoutError("worker not ready after 600 s")

    def pids(self) -> dict[str, int]:
        return {"tansu": self.tansu.pid, "worker": self.worker.pid, "api": self.api.pid}  # type: ignore[union-attr]

    def close(self) -> None:
        from benchmarks.latency import kill_group
        from floorwatch.services.broker import stop_process

        for proc, profile in ((self.api, self.args.profile_api), (self.worker, self.args.profile_worker)):
            if proc is not None and profile and proc.poll() is None:
                os.kill(proc.pid, signal.SIGUSR1)  # the profile so far (a stop may not get to write it)
                time.sleep(2)
        for proc, sig in ((self.api, signal.SIGTERM), (self.worker, signal.SIGTERM)):
            if proc is None:
                continue
            kill_group(proc, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(20)
            kill_group(proc)
        if self.tansu is not None:
            stop_process(self.tansu)


class Cpu:
    """CPU seconds of the stack's processes between ``start()`` and ``stop()``."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack

    def start(self) -> None:
        from benchmarks.latency import cpu_seconds

        self.t0 = time.monotonic()
        self.c0 = {n: cpu_seconds(p) for n, p in self.stack.pids().items()}

    def stop(self) -> str:
        from benchmarks.latency import cpu_seconds

        wall = time.monotonic() - self.t0
        c1 = {n: cpu_seconds(p) for n, p in self.stack.pids().items()}
        return ", ".join(
            f"{n} {c1[n] - self.c0.get(n, c1[n]):.1f} s ({(c1[n] - self.c0.get(n, c1[n])) / wall:.0%})" for n in c1
        )


# -- measuring ------------------------------------------------------------------------------


async def produce_events(bootstrap: str, events: list[dict[str, Any]], linger_ms: int) -> dict[int, int]:
    """Send ``events`` keyed by contact id; returns the end offset reached per partition."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=linger_ms, max_batch_size=256 * 1024, acks=1, client_id="bench-catchup"
    )
    await producer.start()
    ends: dict[int, int] = {}
    futures = []
    try:
        for e in events:
            futures.append(await producer.send(topics.CONTACT_EVENTS, orjson.dumps(e), key=e["contact_id"].encode()))
        await producer.flush()
        for f in futures:
            meta = f.result()
            ends[meta.partition] = max(ends.get(meta.partition, 0), meta.offset + 1)
    finally:
        await producer.stop()
    return ends


async def committed_at_ends(bootstrap: str, ends: dict[int, int], topic: str = topics.CONTACT_EVENTS) -> bool:
    from benchmarks.pipeline import committed

    done = await committed(bootstrap, "floorwatch", sorted(ends), topic)
    return all(done.get(p, 0) >= end for p, end in ends.items())


async def view_figures(client: Any, url: str, dates: list[str]) -> dict[str, Figures]:
    out: dict[str, Figures] = {}
    for q in QUEUES:
        rows: list[dict[str, Any]] = []
        for d in dates:
            resp = await client.get(f"{url}/api/v1/intervals", params={"queue": q, "date": d})
            resp.raise_for_status()
            rows.extend(resp.json()[:INTERVAL_ROWS_CAP])
        out[q] = shown_figures(rows)
    return out


async def wait_shown(
    url: str, want: dict[str, Figures], dates: list[str], t0: float, worker_done: Any = None
) -> tuple[float, float | None]:
    """Seconds from ``t0`` until the REST view shows ``want`` (and, when ``worker_done`` is
    given, the seconds until that coroutine function first said True)."""
    import httpx

    from benchmarks.latency import VIEWER_TOKEN

    worker_s: float | None = None
    last: dict[str, Figures] = {}
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {VIEWER_TOKEN}"}) as client:
        while time.perf_counter() - t0 < PHASE_TIMEOUT_S:  # at most PHASE_TIMEOUT_S / POLL_S looks
            if worker_done is not None and worker_s is None and await worker_done():
                worker_s = time.perf_counter() - t0
            with contextlib.suppress(httpx.HTTPError, ValueError):
                last = await view_figures(client, url, dates)
                if all(last.get(q, Figures()) == f for q, f in want.items()):
                    return time.perf_counter() - t0, worker_s
            await asyncio.sleep(POLL_S)
    raise TimeoutError(f"the view did not show the events within {PHASE_TIMEOUT_S:g} s: want {want}, last {last}")


async def wait_worker(bootstrap: str, ends: dict[int, int], t0: float, worker: subprocess.Popen) -> float:
    while time.perf_counter() - t0 < PHASE_TIMEOUT_S:
        if worker.poll() is not None:
            raise RuntimeError("the worker exited")
        if await committed_at_ends(bootstrap, ends):
            return time.perf_counter() - t0
        await asyncio.sleep(POLL_S / 2)
    raise TimeoutError("the worker did not commit the end")


async def probe_waiting(client: Any, url: str) -> int:
    resp = await client.get(f"{url}/api/v1/queues")
    resp.raise_for_status()
    return sum(int(r.get("waiting") or 0) for r in resp.json() if r.get("queue") == PROBE_QUEUE)


async def produce_probes(bootstrap: str, partitions: int, tag: str) -> int:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", client_id="bench-catchup-probe")
    await producer.start()
    keys = partition_keys(partitions, f"probe-{tag}-")
    try:
        now = int(time.time() * 1000)
        for i, cid in enumerate(keys):
            event = {
                "type": "contact.offered",
                "event_id": f"{cid}-o",
                "contact_id": cid,
                "queue": PROBE_QUEUE,
                "channel": "voice",
                "ts": iso_ms(now + i),
            }
            await producer.send(topics.CONTACT_EVENTS, orjson.dumps(event), key=cid.encode())
        await producer.flush()
    finally:
        await producer.stop()
    return len(keys)


async def outage(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    """Kill the worker, produce ``args.outage_minutes`` of a floor of ``args.agents`` agents
    and a probe per partition, restart the worker; time until the view shows the probes and
    the worker's commits are at the ends of the input topics."""
    import httpx

    from benchmarks.latency import VIEWER_TOKEN, kill_group
    from benchmarks.soak import input_lag

    partitions = stack.settings.kafka.partitions
    assert stack.worker is not None
    kill_group(stack.worker, signal.SIGKILL)
    stack.worker.wait()
    _, ends_before = await input_lag(stack.bootstrap, partitions)
    tz = stack.settings.tz
    start_local = (datetime.now(tz) - timedelta(minutes=args.outage_minutes)).strftime("%Y-%m-%dT%H:%M")
    sim_log = stack.tmp / "simulator.log"
    produced_at = time.perf_counter()
    sim = subprocess.run(
        [
            sys.executable,
            "-m",
            "floorwatch.cli",
            "simulate",
            "--agents",
            str(args.agents),
            "--speed",
            "0",
            "--start",
            start_local,
            "--duration",
            f"{args.outage_minutes}m",
            "--kafka",
            stack.bootstrap,
            "--seed",
            "11",
        ],
        env=stack.env,
        cwd=ROOT,
        stdout=sim_log.open("wb"),
        stderr=subprocess.STDOUT,
        timeout=PHASE_TIMEOUT_S,
        check=False,
    )
    if sim.returncode != 0:
        raise RuntimeError(f"simulator failed:\n{sim_log.read_text()[-2000:]}")
    produce_s = time.perf_counter() - produced_at
    probes = await produce_probes(stack.bootstrap, partitions, str(stack.worker_starts))
    _, ends_after = await input_lag(stack.bootstrap, partitions)
    backlog = ends_after - ends_before
    cpu = Cpu(stack)
    t0 = time.perf_counter()
    ready_s = await stack.start_worker()
    cpu.start()
    shown_s: float | None = None
    async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {VIEWER_TOKEN}"}) as client:
        while time.perf_counter() - t0 < PHASE_TIMEOUT_S:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                if await probe_waiting(client, stack.url) >= probes:  # nothing lowers the probes' waiting
                    lag, _ = await input_lag(stack.bootstrap, partitions)
                    if lag == 0:
                        shown_s = time.perf_counter() - t0
                        break
            await asyncio.sleep(POLL_S)
    if shown_s is None:
        raise TimeoutError("the outage's backlog was not shown in time")
    return {
        "backlog_events": backlog,
        "produce_s": produce_s,
        "ready_s": ready_s,
        "caught_up_s": shown_s,
        "after_ready_s": shown_s - ready_s,
        "cpu": cpu.stop(),
        "simulator": sim_log.read_text()[-400:].strip(),
    }


async def connect_clients(stack: Stack, n: int) -> list[int]:
    """``n`` wallboard clients on ``/ws`` without a filter; returns a one-item list counting
    the frames they receive (the connections live until the API stops)."""
    from benchmarks.latency import VIEWER_TOKEN
    from benchmarks.ws_client import connect

    frames = [0]

    def on_message(_: bytes, __: float) -> None:
        frames[0] += 1

    ws_url = stack.url.replace("http://", "ws://") + f"/ws?token={VIEWER_TOKEN}"
    stack.clients = [await connect(ws_url, on_message, deflate=False) for _ in range(n)]
    return frames


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from benchmarks.latency import machine

    stack = Stack(tmp, args)
    print(f"machine: {machine()}", flush=True)
    print(f"logs in {tmp}", flush=True)
    result: dict[str, Any] = {}
    try:
        await stack.start()
        frames = await connect_clients(stack, args.ws_clients)
        linger = stack.settings.kafka.producer_linger_ms
        now = int(time.time() * 1000)
        first, last = now - 3 * 3_600_000, now - 3_600_000  # every event at least 35 min before now
        batch_a = contact_lifecycles(args.events, first, last, prefix="a", seed=7)
        batch_b = contact_lifecycles(args.events, first, last, prefix="b", seed=8)
        dates = local_dates(batch_a + batch_b, stack.settings.tz)
        want_a = expected_figures(batch_a)
        want_ab = add_figures(want_a, expected_figures(batch_b))

        # a. the worker's own rate
        assert stack.api is not None and stack.worker is not None
        cpu = Cpu(stack)
        cpu.start()
        t0 = time.perf_counter()
        ends = await produce_events(stack.bootstrap, batch_a, linger)
        produced_s = time.perf_counter() - t0
        worker_s = await wait_worker(stack.bootstrap, ends, t0, stack.worker)
        result["a"] = {
            "events": len(batch_a),
            "produce_s": produced_s,
            "worker_s": worker_s,
            "rate": len(batch_a) / worker_s,
            "cpu": cpu.stop(),
        }
        print(
            f"a. worker: {len(batch_a):,} events, produced in {produced_s:.1f} s, committed after "
            f"{worker_s:.1f} s: {len(batch_a) / worker_s:,.0f} events/s; CPU {result['a']['cpu']}",
            flush=True,
        )
        t1 = time.perf_counter()
        later_s, _ = await wait_shown(stack.url, want_a, dates, t1)
        print(f"   the API showed batch a {later_s:.1f} s after the worker's commits", flush=True)

        # b. end to end
        cpu.start()
        t0 = time.perf_counter()
        ends_b: dict[int, int] = {}

        async def worker_done() -> bool:
            return bool(ends_b) and await committed_at_ends(stack.bootstrap, ends_b)

        producing = asyncio.create_task(produce_events(stack.bootstrap, batch_b, linger))
        shown = asyncio.create_task(wait_shown(stack.url, want_ab, dates, t0, worker_done))
        ends_b.update(await producing)
        produced_s = time.perf_counter() - t0
        shown_s, worker_b_s = await shown
        result["b"] = {
            "events": len(batch_b),
            "produce_s": produced_s,
            "shown_s": shown_s,
            "worker_s": worker_b_s,
            "rate": len(batch_b) / shown_s,
            "cpu": cpu.stop(),
        }
        print(
            f"b. end to end: {len(batch_b):,} events, produced in {produced_s:.1f} s, worker committed after "
            f"{worker_b_s or float('nan'):.1f} s, shown by GET /api/v1/intervals after {shown_s:.1f} s: "
            f"{len(batch_b) / shown_s:,.0f} events/s; CPU {result['b']['cpu']}",
            flush=True,
        )
        result["ratio"] = result["b"]["rate"] / result["a"]["rate"]
        print(f"ratio end to end / worker: {result['ratio']:.2f}", flush=True)

        if args.outage_minutes > 0:
            c = await outage(stack, args)
            result["c"] = c
            hours = args.outage_minutes / 60
            print(
                f"c. outage: worker killed, {args.outage_minutes:g} min of a {args.agents:,}-agent floor "
                f"({c['backlog_events']:,} input events incl. probes, "
                f"{c['backlog_events'] / args.agents / hours:.0f} per agent-hour) produced in "
                f"{c['produce_s']:.1f} s; restarted worker ready after {c['ready_s']:.1f} s, caught up "
                f"(probes shown, commits at the ends) {c['caught_up_s']:.1f} s after the restart "
                f"({c['after_ready_s']:.1f} s after ready); CPU {c['cpu']}",
                flush=True,
            )
            print(f"   simulator: {c['simulator']}", flush=True)
        result["frames"] = frames[0]
        print(f"websocket clients: {args.ws_clients}, frames received {frames[0]:,}", flush=True)
        return result
    finally:
        stack.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=120_000, help="contact events of phases a and b, each")
    p.add_argument("--agents", type=int, default=1000, help="agents of the floor during the outage")
    p.add_argument("--outage-minutes", type=float, default=30.0, help="minutes of worker outage (0: skip c)")
    p.add_argument("--ws-clients", type=int, default=1, help="wallboard websocket clients connected throughout")
    p.add_argument("--profile-api", default=None, metavar="FILE", help="run the API under cProfile, stats to FILE")
    p.add_argument("--profile-worker", default=None, metavar="FILE", help="run the worker under cProfile")
    p.add_argument("--keep", action="store_true", help="keep the temp dir with the logs")
    args = p.parse_args(argv)
    if not 1 <= args.events <= MAX_EVENTS:
        p.error(f"--events: 1 to {MAX_EVENTS:,}")
    if not 0 <= args.outage_minutes <= 24 * 60:
        p.error("--outage-minutes: 0 to 1,440")
    return args


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="fw-catchup-"))
    try:
        await run(args, tmp)
    finally:
        if args.keep:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--profiled-cli"]:
        sys.exit(profiled_cli(sys.argv[2], sys.argv[3:]))
    asyncio.run(main(parse_args()))
