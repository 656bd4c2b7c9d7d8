"""Staffing maths speed: the worst case at the input caps, and what ``floorwatch erlang`` computes.

Part 1, at the caps. Every staffing function the API's event loop (and the leader worker's,
through the queue tiles) calls, over a grid up to the caps: forecast ``offered`` up to
``ingest.max_forecast_offered`` (100,000 per interval), ``aht_s`` up to
``ingest.max_forecast_aht_s`` (86,400 s), 15- and 30-minute intervals, rolling 15-minute
counts up to 4.5 million contacts, thresholds 0..300 s, targets 0.5..0.999, loads just under
``staffing.max_agents_per_queue`` (10,000) included. Printed per function: the worst single
call (best of 3 per input, memo cleared), and the previous implementation (Erlang B by the
recursion from 0, then one agent at a time) on the same inputs where it finishes in
reasonable time (A <= 100,000 Erlangs), with the ratio. Then whole routes: ``/api/v1/staffing``
of 96 fifteen-minute intervals whose loads are all different and just under the cap, per
queue, and ``/api/v1/queues`` for several queues, cold (memo cleared) and warm.

Part 2, the calculator. Per interval: traffic from (offered, AHT, 30 min), the required
agents (80 % in 20 s, max occupancy 85 %, shrinkage 30 %) and the six table rows, i.e.
``staffing_plan`` exactly as the CLI calls it. Offered volumes are log-uniform in 1..3,000 per
half hour and AHTs uniform in 60..900 s (0.03 to 1,500 Erlangs), seeded. The same 1,000
intervals are then run with Erlang A (mean patience 120 s). Budget: the Erlang C run must take
under 1 s in total. Finally one end-to-end ``floorwatch erlang --json`` process is timed
(median of 5), next to a bare ``python -c pass`` start for reference.

    .venv/bin/python benchmarks/erlang.py [--intervals 1000] [--seed 7] [--no-cli] [--no-caps]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from functools import partial
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from floorwatch import topics  # noqa: E402
from floorwatch.config import Settings  # noqa: E402
from floorwatch.domain.erlang import erlang_b, required_agents, staffing_plan  # noqa: E402
from floorwatch.domain.queue_metrics import Counts  # noqa: E402
from floorwatch.readmodel import queries  # noqa: E402
from floorwatch.readmodel.view import View  # noqa: E402

BUDGET_S = 1.0
CAP = 10_000  # staffing.max_agents_per_queue default
MAX_OFFERED = 100_000  # ingest.max_forecast_offered default
MAX_AHT_S = 86_400  # ingest.max_forecast_aht_s default
CALL_BUDGET_MS = 10.0  # no single call on an event loop longer than this
ROUTE_BUDGET_MS = 100.0
BASELINE_MAX_ERLANGS = 100_000  # the old walk takes ~10 ms here, and grows linearly beyond
CLI_ARGS = [
    "--offered",
    "300",
    "--interval-minutes",
    "30",
    "--aht",
    "240",
    "--threshold",
    "20",
    "--target-sl",
    "0.8",
    "--max-occupancy",
    "0.85",
    "--shrinkage",
    "0.3",
    "--json",
]


def intervals(count: int, seed: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(round(math.exp(rng.uniform(0.0, math.log(3000))), 1), round(rng.uniform(60, 900))) for _ in range(count)]


def run(work: list[tuple[float, float]], patience_s: float | None) -> tuple[float, int]:
    start = time.perf_counter()
    total_agents = 0
    for offered, aht in work:
        plan = staffing_plan(
            offered=offered,
            interval_s=1800,
            aht_s=aht,
            threshold_s=20,
            target_sl=0.8,
            max_occupancy=0.85,
            shrinkage=0.3,
            patience_s=patience_s,
        )
        assert isinstance(plan.required_agents, int), plan.required_agents  # under the cap by construction
        total_agents += plan.required_agents
    return time.perf_counter() - start, total_agents


def cli_command() -> tuple[list[str], str]:
    """``floorwatch erlang`` when the CLI registers it, else the module entry point."""
    exe = shutil.which("floorwatch", path=str(ROOT / ".venv" / "bin")) or shutil.which("floorwatch")
    if exe:
        probe = subprocess.run([exe, "erlang", "--help"], capture_output=True, cwd=ROOT)
        if probe.returncode == 0:
            return [exe, "erlang"], "floorwatch erlang"
    return [sys.executable, "-m", "floorwatch.services.erlang_cli"], "python -m floorwatch.services.erlang_cli"


def time_process(cmd: list[str], repeat: int = 5) -> float:
    samples = []
    env = dict(os.environ)
    for _ in range(repeat):
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, cwd=ROOT, env=env)
        samples.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed: {done.stderr.decode().strip()}")
    return statistics.median(samples)


# --------------------------------------------------------------------------- part 1: the caps


def old_erlang_b(n: int, a: float) -> float:
    """The previous Erlang B: the recursion from B(0) = 1 (O(N))."""
    b = 1.0
    for k in range(1, n + 1):
        ab = a * b
        b = ab / (k + ab)
    return b


def old_required(a: float, aht: float, t: float, target: float) -> int:
    """The previous required-agents search: the recursion from 0, then N walked up one agent
    at a time from floor(A) + 1 (no cap)."""
    if a == 0:
        return 0
    first = math.floor(a) + 1
    b, n = 1.0, 0
    while True:
        n += 1
        ab = a * b
        b = ab / (n + ab)
        if n >= first:
            c = min(1.0, n * b / (n - a * (1.0 - b)))
            if max(0.0, 1.0 - c * math.exp(-(n - a) * t / aht)) >= target:
                return n


def best_ms(call, repeat: int = 3, before=None) -> float:
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


RULE_GRID = [(t, target) for t in (0.0, 20.0, 300.0) for target in (0.5, 0.8, 0.95, 0.999)]
NEAR_CAP_LOADS = (5_000.0, 9_000.0, 9_500.0, 9_876.5, 9_990.0, 9_999.5)


def forecast_grid() -> list[tuple[float, float, float]]:
    """(offered, aht_s, interval_s) up to the caps, plus loads just under the agents cap."""
    grid = [
        (float(o), float(aht), float(iv))
        for o in (1, 10, 100, 1_000, 10_000, 50_000, MAX_OFFERED)
        for aht in (1, 10, 60, 180, 600, 3_600, MAX_AHT_S)
        for iv in (900, 1800)
    ]
    for a in NEAR_CAP_LOADS:
        for aht in (20.0, 240.0, 3_600.0, float(MAX_AHT_S)):
            for iv in (900.0, 1800.0):
                offered = a * iv / aht
                if offered <= MAX_OFFERED:
                    grid.append((offered, aht, iv))
    return grid


class Worst:
    def __init__(self, name: str) -> None:
        self.name = name
        self.ms = 0.0
        self.inputs = ""
        self.old_ms: float | None = None
        self.calls = 0
        self.worst_old_ms = 0.0  # worst old-walk time over the inputs where it ran
        self.worst_old_inputs = ""
        self.new_ms_there = 0.0  # the new time on that input
        self.skipped = 0

    def add(self, ms: float, inputs: str, old_ms: float | None) -> None:
        self.calls += 1
        if ms > self.ms:
            self.ms, self.inputs, self.old_ms = ms, inputs, old_ms
        if old_ms is None:
            self.skipped += 1
        elif old_ms > self.worst_old_ms:
            self.worst_old_ms, self.worst_old_inputs, self.new_ms_there = old_ms, inputs, ms

    def report(self) -> bool:
        old = "old walk not run there" if self.old_ms is None else f"old {self.old_ms:.3f} ms"
        print(f"  {self.name:<26} worst {self.ms:7.3f} ms ({old}) at {self.inputs}; {self.calls} calls")
        if self.worst_old_ms:
            print(
                f"  {'':<26} old walk's worst {self.worst_old_ms:7.3f} ms at {self.worst_old_inputs}: "
                f"new {self.new_ms_there:.3f} ms there, ratio {self.worst_old_ms / self.new_ms_there:.0f}x"
                + (
                    f"; {self.skipped} inputs over {BASELINE_MAX_ERLANGS:,} Erlangs not run by the old walk"
                    if self.skipped
                    else ""
                )
            )
        return self.ms <= CALL_BUDGET_MS


def caps_functions() -> bool:
    print(
        f"Per call, over a grid up to the caps (offered <= {MAX_OFFERED:,}, AHT <= {MAX_AHT_S:,} s, "
        f"cap {CAP:,} agents); budget {CALL_BUDGET_MS:.0f} ms per call:"
    )
    ok = True
    clear = queries.erlang_c_required.cache_clear

    w_req, w_fc, w_live = Worst("required_agents"), Worst("erlang_required (forecast)"), Worst("live_required_agents")
    for offered, aht, iv in forecast_grid():
        a = offered * aht / iv
        for t, target in RULE_GRID:
            rules = {"sl_threshold_s": t, "sl_target": target}
            label = (
                f"A={a:,.1f} (offered {offered:,.0f}, AHT {aht:,.0f} s, {iv / 60:.0f} min), T={t:g}, target={target}"
            )
            old = best_ms(partial(old_required, a, aht, t, target), 1) if a <= BASELINE_MAX_ERLANGS else None
            w_req.add(best_ms(partial(required_agents, a, aht, t, target, max_agents=CAP)), label, old)
            w_fc.add(
                best_ms(partial(queries.erlang_required, offered, aht, iv, rules, max_agents=CAP), before=clear),
                label,
                old,
            )
    for offered_15m in (1, 10, 100, 1_000, 10_000, 100_000, 4_500_000):
        for aht in (1.0, 10.0, 60.0, 180.0, 600.0, 3_600.0, float(MAX_AHT_S)):
            hour = Counts(handled=10, talk_ms=int(aht * 10_000))
            a = offered_15m * aht / 900
            for t, target in RULE_GRID:
                rules = {"sl_threshold_s": t, "sl_target": target}
                label = f"A={a:,.1f} (15 min: {offered_15m:,} offered, AHT {aht:,.0f} s), T={t:g}, target={target}"
                old = best_ms(partial(old_required, a, aht, t, target), 1) if a <= BASELINE_MAX_ERLANGS else None

                def live(
                    offered_15m: int = offered_15m, hour: Counts = hour, rules: dict[str, float] = rules
                ) -> object:
                    return queries.live_required_agents(Counts(offered=offered_15m), hour, rules, max_agents=CAP)

                w_live.add(best_ms(live, before=clear), label, old)
    w_b = Worst("erlang_b")
    for a in (10.0, 100.0, 1_000.0, *NEAR_CAP_LOADS):
        for n in sorted(
            {
                math.floor(a) + 1,
                math.floor(a) + int(math.sqrt(a)),
                math.floor(a) + int(5 * math.sqrt(a)),
                max(1, math.floor(a) - int(5 * math.sqrt(a))),
                CAP,
            }
        ):
            w_b.add(best_ms(partial(erlang_b, n, a)), f"N={n:,}, A={a:,.1f}", best_ms(partial(old_erlang_b, n, a), 1))
    w_plan = Worst("staffing_plan (CLI)")
    for a in (100.0, 1_000.0, *NEAR_CAP_LOADS, 20_000.0, 4_800_000.0):
        for t, target in RULE_GRID:
            label = f"A={a:,.1f}, T={t:g}, target={target}, max occupancy 0.85"
            w_plan.add(
                best_ms(
                    partial(
                        staffing_plan,
                        offered=a,
                        interval_s=1800,
                        aht_s=1800,
                        threshold_s=t,
                        target_sl=target,
                        max_occupancy=0.85,
                        max_agents=CAP,
                    )
                ),
                label,
                None,
            )
    for w in (w_b, w_req, w_fc, w_live, w_plan):
        ok = w.report() and ok
    return ok


def capped_view(settings: Settings, queues: list[str], day: str, intervals: int, minutes: int) -> View:
    """Forecasts whose loads are all different and just under the cap (the costly kind)."""
    view = View()
    tz = settings.tz
    midnight = datetime.fromisoformat(f"{day}T00:00:00").replace(tzinfo=tz)
    for qi, queue in enumerate(queues):
        rows = []
        for i in range(intervals):
            a = 9_000.0 + 999.0 * ((qi * intervals + i) % 997) / 997  # 9,000 .. 9,999 Erlangs
            aht = 3_600.0
            start = (midnight + timedelta(minutes=minutes * i)).isoformat()
            rows.append({"start": start, "offered": a * minutes * 60 / aht, "aht_s": aht})
        event = {
            "event_id": f"bench-{queue}",
            "type": "forecast.published",
            "ts": midnight.isoformat(),
            "queue": queue,
            "date": day,
            "interval_minutes": minutes,
            "intervals": rows,
        }
        if not view.apply(topics.FORECASTS, queue.encode(), orjson.dumps(event)):
            raise SystemExit(f"forecast for {queue} refused by the view")
    return view


def caps_routes(n_queues: int) -> bool:
    day = "2024-03-05"
    queues = [f"q{i:02d}" for i in range(n_queues)]
    settings = Settings(timezone="UTC", interval_minutes=15, queues=[{"id": q} for q in queues])
    view = capped_view(settings, queues, day, 96, 15)
    now_ms = int(datetime.fromisoformat(f"{day}T12:05:00+00:00").timestamp() * 1000)
    clear = queries.erlang_c_required.cache_clear
    print(
        f"Routes: {n_queues} queues x 96 fifteen-minute forecast intervals, every load different, "
        f"9,000..9,999 Erlangs (AHT 3,600 s); budget {ROUTE_BUDGET_MS:.0f} ms per route:"
    )
    ok = True
    per_queue = []
    for q in queues:
        per_queue.append(
            best_ms(lambda q=q: queries.day_staffing(view, settings, q, date.fromisoformat(day), now_ms), before=clear)
        )
    warm = best_ms(lambda: queries.day_staffing(view, settings, queues[0], date.fromisoformat(day), now_ms))
    overview_cold = best_ms(lambda: queries.queues_overview(view, settings, now_ms), before=clear)
    overview_warm = best_ms(lambda: queries.queues_overview(view, settings, now_ms))
    real = queries.required_agents
    # the baseline in place of the route's solver; called as queries.required_agents(..., max_agents=...)
    queries.required_agents = lambda a, aht, t, target, max_agents=None: old_required(  # type: ignore[assignment]  # noqa: ARG005
        a, aht, t, target
    )
    try:
        old_route = best_ms(
            lambda: queries.day_staffing(view, settings, queues[0], date.fromisoformat(day), now_ms), 1, before=clear
        )
    finally:
        queries.required_agents = real
        clear()
    worst = max(per_queue)
    print(
        f"  /api/v1/staffing (day_staffing), one queue: worst {worst:.1f} ms cold, {warm:.2f} ms warm "
        f"(old walk: {old_route:.1f} ms cold, ratio {old_route / worst:.1f}x)"
    )
    print(
        f"  /api/v1/queues (queues_overview), {n_queues} queues: {overview_cold:.2f} ms cold, "
        f"{overview_warm:.2f} ms warm"
    )
    ok = worst <= ROUTE_BUDGET_MS and overview_cold <= ROUTE_BUDGET_MS
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end process timing")
    parser.add_argument("--no-caps", action="store_true", help="skip part 1 (the worst case at the caps)")
    parser.add_argument("--queues", type=int, default=8, help="queues of the route timings of part 1")
    args = parser.parse_args()
    caps_ok = True

    work = intervals(args.intervals, args.seed)
    loads = [offered * aht / 1800 for offered, aht in work]
    print(
        f"{platform.python_implementation()} {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs"
    )
    if not args.no_caps:
        caps_ok = caps_functions()
        caps_ok = caps_routes(args.queues) and caps_ok
        print(
            f"caps: every call <= {CALL_BUDGET_MS:.0f} ms and every route <= {ROUTE_BUDGET_MS:.0f} ms -> "
            f"{'OK' if caps_ok else 'OVER BUDGET'}"
        )
        print()
    print(
        f"{len(work)} intervals, traffic {min(loads):.2f}..{max(loads):.0f} Erlangs "
        f"(median {statistics.median(loads):.0f})"
    )

    run(work[:50], None)  # warm up imports and caches
    best_c = min(run(work, None)[0] for _ in range(3))
    _, agents = run(work, None)
    print(
        f"Erlang C: {best_c * 1000:8.1f} ms total, {best_c / len(work) * 1e6:7.1f} us per interval "
        f"(best of 3; {agents} agents required in all)"
    )
    best_a = min(run(work, 120.0)[0] for _ in range(2))
    print(
        f"Erlang A: {best_a * 1000:8.1f} ms total, {best_a / len(work) * 1e6:7.1f} us per interval "
        f"(patience 120 s, best of 2)"
    )

    if not args.no_cli:
        cmd, label = cli_command()
        per_call = time_process(cmd + CLI_ARGS)
        bare = time_process([sys.executable, "-c", "pass"])
        print(
            f"CLI end to end ({label} --json): {per_call * 1000:.0f} ms per invocation "
            f"(median of 5; bare interpreter start {bare * 1000:.0f} ms)"
        )

    ok = best_c < BUDGET_S * len(work) / 1000
    print(f"budget: 1,000 intervals in < {BUDGET_S:.0f} s -> {'OK' if ok else 'OVER BUDGET'}")
    return 0 if ok and caps_ok else 1


if __name__ == "__main__":
    sys.exit(main())
