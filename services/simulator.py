"""``floorwatch simulate``: the contact-center simulator, producing events to Kafka or NDJSON.

The model is ``services.sim_model``; this module adds the options, pacing and output. With
speed s > 0 an event at simulated time t is sent at wall time start_wall + (t - start) / s;
speed 0 sends as fast as possible. Kafka messages go to ``route(event)`` with value
``dumps(event)``; NDJSON lines are the events as generated (timestamps to the millisecond).

Defaults: speed is ``simulator.speed`` for Kafka and 0 with ``--out``; a paced run without
``--truth`` goes on day after day, any other run lasts one day unless ``--duration`` says.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import re
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson

from floorwatch.cliargs import NON_NEGATIVE, POSITIVE_INT, RATE, run_until_signalled
from floorwatch.config import Settings
from floorwatch.domain.intervals import iso
from floorwatch.events import dumps, parse_event, route, to_ms
from floorwatch.kafka import start_producer
from floorwatch.services.sim_model import (
    Behaviour,
    RandomSampler,
    Simulation,
    SimulationResult,
    simulate,
    truth,
)

__all__ = [
    "Behaviour",
    "RunOptions",
    "SimulationResult",
    "add_arguments",
    "main",
    "resolve",
    "run",
    "simulate",
]

log = logging.getLogger("floorwatch.simulator")

DAY_MS = 86_400_000
KAFKA_CONNECT_TIMEOUT_S = 30.0
MIN_SLEEP_S = 0.001
_UNIT_MS = {"d": DAY_MS, "h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|d|h|m|s)")


def parse_duration(text: str) -> int:
    """``"2h"``, ``"90m"``, ``"3600s"``, ``"1d"``, ``"1h30m"`` or plain seconds -> milliseconds."""
    value = text.strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        total = float(value) * 1000
    else:
        parts = _DURATION.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 2h, 90m, 3600s)")
        total = sum(float(n) * _UNIT_MS[u] for n, u in parts)
    if total <= 0:
        raise argparse.ArgumentTypeError(f"duration must be positive: {text!r}")
    return round(total)


def parse_start(text: str | None, settings: Settings) -> int:
    """Local ISO date-time (an explicit offset is honoured) -> epoch ms; default now, to the minute."""
    if text is None:
        now = datetime.now(settings.tz).replace(second=0, microsecond=0)
        return to_ms(now)
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--start: not an ISO date-time: {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=settings.tz)
    return to_ms(parsed)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``floorwatch simulate`` options."""
    d = Behaviour()
    add = parser.add_argument
    add("--seed", type=int, default=None, help="random seed (default: simulator.seed)")
    add("--agents", type=POSITIVE_INT, default=None, help="agents on the roster (default: simulator.agents)")
    add(
        "--speed",
        type=NON_NEGATIVE,
        default=None,
        help="simulated seconds per wall second: 1 real time, 600 ten minutes a second, 0 as fast as "
        "possible (default: simulator.speed, or 0 with --out)",
    )
    add(
        "--start",
        default=None,
        metavar="ISO",
        help="local start date-time, e.g. 2025-03-04T09:00 (default: now, to the minute)",
    )
    add(
        "--duration",
        type=parse_duration,
        default=None,
        help="simulated span, e.g. 2h, 90m, 3600s, 1d (default: unbounded when paced without --truth, else 1d)",
    )
    add("--truth", type=Path, default=None, metavar="FILE", help="write the figures the events imply (JSON)")
    add("--out", default=None, metavar="FILE", help='NDJSON events to FILE ("-" = stdout) instead of Kafka')
    add("--kafka", default=None, metavar="BOOTSTRAP", help="bootstrap servers (default: kafka.bootstrap)")
    add("--late-login-rate", type=RATE, default=d.late_login_rate, help="share of shifts starting late")
    add(
        "--break-overrun-rate",
        type=RATE,
        default=d.break_overrun_rate,
        help="share of breaks and lunches that run over",
    )
    add(
        "--aux-per-hour",
        type=NON_NEGATIVE,
        default=d.unscheduled_aux_per_hour,
        help="unscheduled (personal) aux per worked hour",
    )
    add("--early-logout-rate", type=RATE, default=d.early_logout_rate, help="share of shifts ending early")
    add(
        "--load",
        type=NON_NEGATIVE,
        default=d.load,
        help="expected Erlangs per scheduled agent in the tightest busy half hour (sets the volume)",
    )


@dataclass(frozen=True)
class RunOptions:
    seed: int
    agents: int
    speed: float
    start_ms: int
    end_ms: int | None
    truth: Path | None
    out: str | None
    bootstrap: str
    behaviour: Behaviour


def resolve(settings: Settings, args: argparse.Namespace) -> RunOptions:
    """Options from parsed arguments and settings; missing attributes take their defaults."""
    d = Behaviour()

    def arg(name: str, default: Any = None) -> Any:
        value = getattr(args, name, None)
        return default if value is None else value

    out = arg("out")
    truth_path = arg("truth")
    speed = float(arg("speed", 0.0 if out is not None else settings.simulator.speed))
    start_ms = parse_start(arg("start"), settings)
    duration_ms = arg("duration")
    if duration_ms is None and (speed == 0 or truth_path is not None):
        duration_ms = DAY_MS
    return RunOptions(
        seed=int(arg("seed", settings.simulator.seed)),
        agents=int(arg("agents", settings.simulator.agents)),
        speed=speed,
        start_ms=start_ms,
        end_ms=None if duration_ms is None else start_ms + duration_ms,
        truth=None if truth_path is None else Path(truth_path),
        out=out,
        bootstrap=arg("kafka", settings.kafka.bootstrap),
        behaviour=Behaviour(
            late_login_rate=arg("late_login_rate", d.late_login_rate),
            break_overrun_rate=arg("break_overrun_rate", d.break_overrun_rate),
            unscheduled_aux_per_hour=arg("aux_per_hour", d.unscheduled_aux_per_hour),
            early_logout_rate=arg("early_logout_rate", d.early_logout_rate),
            load=arg("load", d.load),
        ),
    )


class _FileSink:
    def __init__(self, target: str) -> None:
        self._own = target != "-"
        self._fh: IO[bytes] = open(target, "wb") if self._own else sys.stdout.buffer  # noqa: SIM115

    async def send(self, event: dict[str, Any]) -> None:
        parse_event(event)
        self._fh.write(orjson.dumps(event) + b"\n")

    async def idle(self) -> None:
        self._fh.flush()

    async def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self._fh.flush()
        if self._own:
            self._fh.close()


class _KafkaSink:
    def __init__(self, producer: Any) -> None:
        self._producer = producer
        self.failed = 0

    @classmethod
    async def connect(cls, bootstrap: str, linger_ms: int) -> _KafkaSink:
        producer = await start_producer(
            bootstrap, timeout_s=KAFKA_CONNECT_TIMEOUT_S, client_id="floorwatch-simulator", linger_ms=linger_ms, acks=1
        )
        return cls(producer)

    def _done(self, fut: asyncio.Future[Any]) -> None:
        if not fut.cancelled() and fut.exception() is not None:
            self.failed += 1
            if self.failed == 1:
                log.error("simulator: produce failed: %s", fut.exception())

    async def send(self, event: dict[str, Any]) -> None:
        parsed = parse_event(event)
        topic, key = route(parsed)
        fut = await self._producer.send(topic, dumps(parsed), key=key.encode())
        fut.add_done_callback(self._done)

    async def idle(self) -> None:
        """Nothing to do: the producer's linger sends pending batches."""

    async def close(self) -> None:
        try:
            await self._producer.flush()
        finally:
            await self._producer.stop()


async def _pump(sim: Simulation, sink: Any, speed: float, stop: asyncio.Event | None) -> tuple[bool, int]:
    """Send the events in order, paced; (ran to the end, events sent)."""
    loop = asyncio.get_running_loop()
    wall0 = loop.time()
    sent = 0
    for t_ms, event in sim.stream():
        if stop is not None and stop.is_set():
            return False, sent
        if speed > 0:
            delay = wall0 + (t_ms - sim.start_ms) / 1000 / speed - loop.time()
            if delay > MIN_SLEEP_S:
                await sink.idle()
                if stop is None:
                    await asyncio.sleep(delay)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), delay)
                    if stop.is_set():
                        return False, sent
        await sink.send(event)
        sent += 1
        if sent % 2000 == 0:
            await asyncio.sleep(0)
    return True, sent


async def run(settings: Settings, options: RunOptions, stop: asyncio.Event | None = None) -> int:
    """Simulate and send; ``stop`` ends a run early (no truth is written then)."""
    sampler = RandomSampler(settings, options.seed, options.agents, options.behaviour)
    keep = options.truth is not None
    sim = Simulation(settings, sampler, options.seed, options.start_ms, options.end_ms, keep_records=keep)
    if options.out is not None:
        sink: Any = _FileSink(options.out)
    else:
        try:
            sink = await _KafkaSink.connect(options.bootstrap, settings.kafka.producer_linger_ms)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            print(f"floorwatch simulate: cannot reach Kafka at {options.bootstrap}: {exc}", file=sys.stderr)
            return 1
    completed, sent = False, 0
    try:
        completed, sent = await _pump(sim, sink, options.speed, stop)
    except BrokenPipeError:
        completed = False
    finally:
        with contextlib.suppress(BrokenPipeError):
            await sink.close()
    if completed and options.truth is not None:
        options.truth.write_bytes(orjson.dumps(truth(sim, options.seed), option=orjson.OPT_INDENT_2) + b"\n")
    end_ms = options.end_ms if completed and options.end_ms is not None else sim.now
    span = f"{iso(options.start_ms, settings.tz)} to {iso(end_ms, settings.tz)}"
    print(f"floorwatch simulate: {sent} events, {span}{'' if completed else ' (stopped)'}", file=sys.stderr)
    if isinstance(sink, _KafkaSink) and sink.failed:
        print(f"floorwatch simulate: {sink.failed} events failed to produce", file=sys.stderr)
        return 1
    return 0


def main(settings: Settings, args: argparse.Namespace) -> int:
    """Entry point of ``floorwatch simulate``; Ctrl-C or SIGTERM stops cleanly."""
    try:
        options = resolve(settings, args)
    except ValueError as exc:
        print(f"floorwatch simulate: {exc}", file=sys.stderr)
        return 2

    return run_until_signalled(lambda stop: run(settings, options, stop))
