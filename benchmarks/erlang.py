"""Staffing calculator speed: what ``floorwatch erlang`` computes, for 1,000 different intervals.

Per interval: traffic from (offered, AHT, 30 min), the required agents (80 % in 20 s, max
occupancy 85 %, shrinkage 30 %) and the six table rows, i.e. ``staffing_plan`` exactly as the
CLI calls it. Offered volumes are log-uniform in 1..3,000 per half hour and AHTs uniform in
60..900 s (0.03 to 1,500 Erlangs), seeded. The same 1,000 intervals are then run with Erlang A
(mean patience 120 s). Budget: the Erlang C run must take under 1 s in total (issue 7).
Finally one end-to-end ``floorwatch erlang --json`` process is timed (median of 5), next to a
bare ``python -c pass`` start for reference.

    .venv/bin/python benchmarks/erlang.py [--intervals 1000] [--seed 7]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from floorwatch.domain.erlang import staffing_plan  # noqa: E402

BUDGET_S = 1.0
CLI_ARGS = ["--offered", "300", "--interval-minutes", "30", "--aht", "240", "--threshold", "20",
            "--target-sl", "0.8", "--max-occupancy", "0.85", "--shrinkage", "0.3", "--json"]


def intervals(count: int, seed: int) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(round(math.exp(rng.uniform(0.0, math.log(3000))), 1), round(rng.uniform(60, 900)))
            for _ in range(count)]


def run(work: list[tuple[float, float]], patience_s: float | None) -> tuple[float, int]:
    start = time.perf_counter()
    total_agents = 0
    for offered, aht in work:
        plan = staffing_plan(offered=offered, interval_s=1800, aht_s=aht, threshold_s=20,
                             target_sl=0.8, max_occupancy=0.85, shrinkage=0.3, patience_s=patience_s)
        total_agents += plan.required_agents
    return time.perf_counter() - start, total_agents


def cli_command() -> tuple[list[str], str]:
    """``floorwatch erlang`` when the CLI registers it, else the module entry point."""
    exe = shutil.which("floorwatch", path=str(ROOT / ".venv" / "bin")) or shutil.which("floorwatch")
    if exe:
        probe = subprocess.run([exe, "erlang", "--help"], capture_output=True, cwd=ROOT)
        if probe.returncode == 0:
            return [exe, "erlang"], "floorwatch erlang"
    return [sys.executable, "-m", "services.erlang_cli"], "python -m services.erlang_cli"


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end process timing")
    args = parser.parse_args()

    work = intervals(args.intervals, args.seed)
    loads = [offered * aht / 1800 for offered, aht in work]
    print(f"{platform.python_implementation()} {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    print(f"{len(work)} intervals, traffic {min(loads):.2f}..{max(loads):.0f} Erlangs "
          f"(median {statistics.median(loads):.0f})")

    run(work[:50], None)                                  # warm up imports and caches
    best_c = min(run(work, None)[0] for _ in range(3))
    _, agents = run(work, None)
    print(f"Erlang C: {best_c * 1000:8.1f} ms total, {best_c / len(work) * 1e6:7.1f} us per interval "
          f"(best of 3; {agents} agents required in all)")
    best_a = min(run(work, 120.0)[0] for _ in range(2))
    print(f"Erlang A: {best_a * 1000:8.1f} ms total, {best_a / len(work) * 1e6:7.1f} us per interval "
          f"(patience 120 s, best of 2)")

    if not args.no_cli:
        cmd, label = cli_command()
        per_call = time_process(cmd + CLI_ARGS)
        bare = time_process([sys.executable, "-c", "pass"])
        print(f"CLI end to end ({label} --json): {per_call * 1000:.0f} ms per invocation "
              f"(median of 5; bare interpreter start {bare * 1000:.0f} ms)")

    ok = best_c < BUDGET_S * len(work) / 1000
    print(f"budget: 1,000 intervals in < {BUDGET_S:.0f} s -> {'OK' if ok else 'OVER BUDGET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
