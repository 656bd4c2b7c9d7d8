"""The worker's throughput on Python's object allocator against the C allocator, in one run.

``PYTHONMALLOC=malloc`` puts every Python object on the C heap, whose free pages the worker's
periodic trim gives back (docs/performance.md, "Where the 1 M worker's memory goes"). This
measures what it costs in events/s: rounds of one fresh broker, N contact events produced,
one worker consuming them until its commits reach the ends (benchmarks/pipeline.py's timing),
the two allocators alternating (the first of each round alternates too, so a machine that
gets busier or quieter during the run favours neither). Prints each round and the ratio of
the medians.

    .venv/bin/python benchmarks/allocator.py --events 100000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.pipeline import contact_events, end_offsets, produce, run_workers  # noqa: E402
from floorwatch.services.broker import create_topics, free_port, start_tansu, stop_process  # noqa: E402

ALLOCATORS = {"pymalloc": {"PYTHONMALLOC": "pymalloc"}, "malloc": {"PYTHONMALLOC": "malloc"}}


async def one(records: list, tmp: Path, name: str) -> float:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = start_tansu("127.0.0.1", port, tmp / f"broker-{name}.log")
    try:
        await create_topics(bootstrap, 8)
        await produce(bootstrap, records)
        return await run_workers(bootstrap, await end_offsets(bootstrap), tmp / name, 1, ALLOCATORS[name.split("-")[0]])
    finally:
        stop_process(broker)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="fw-alloc-"))
    records = contact_events(args.events, customers=True)
    rates: dict[str, list[float]] = {name: [] for name in ALLOCATORS}
    for r in range(args.rounds):
        order = list(ALLOCATORS) if r % 2 == 0 else list(reversed(ALLOCATORS))
        for name in order:
            rate = await one(records, tmp, f"{name}-{r}")
            rates[name].append(rate)
            print(f"round {r + 1}: {name:<8} {rate:>8,.0f} events/s", flush=True)
    med = {name: statistics.median(v) for name, v in rates.items()}
    print(
        f"{args.events:,} contact events, {args.rounds} rounds; medians: "
        + ", ".join(f"{n} {m:,.0f}" for n, m in med.items())
    )
    print(f"ratio malloc / pymalloc: {med['malloc'] / med['pymalloc']:.3f}")


if __name__ == "__main__":
    asyncio.run(main())
