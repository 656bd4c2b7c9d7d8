"""How long ``GET /metrics`` takes to render at the largest supported floor: 10,000 agents and 500 queues.

    .venv/bin/python benchmarks/metrics.py [--agents 10000] [--queues 500] [--renders 20]

The view is built through ``View.apply`` with the record formats of ``floorwatch.records``:
500 queues x every 30-minute interval of today up to 16:00 local (32 intervals) x 8 partitions
of interval partials (128,000 records), 500 x 8 queue partials, 10,000 agents over 20 teams in
all states (with real-time adherence fields), 10,000 fw.adherence records of today (agent time,
adherence per interval, shrinkage and a shift from 08:00), two agent_handle records per agent, 200 alerts
and a few dead letters. Each render is what the route does: the collector over the view plus
``api.metrics.render`` of the app registry (ingest counters included), as the route does. Between renders, every
queue's current-interval partial of partition 0 and its queue partial are replaced (the view
changes as under live load; nothing is cached between scrapes anyway).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from datetime import datetime

import orjson
from prometheus_client import CollectorRegistry

from floorwatch import records, topics
from floorwatch.api.ingest import ApiMetrics
from floorwatch.api.metrics import ViewCollector, render
from floorwatch.config import Settings
from floorwatch.events import to_ms
from floorwatch.readmodel.view import View

RULES = {"sl_threshold_s": 20.0, "short_abandon_s": 5.0, "sl_target": 0.8, "sl_formula": "answered_over_offered"}
CHANNELS = ("voice", "chat", "email", "callback")
STATES = ("available", "on_contact", "wrap_up", "aux", "logged_out")


def counts(rng: random.Random) -> dict[str, int]:
    answered = rng.randint(0, 40)
    abandoned = rng.randint(0, 6)
    short = rng.randint(0, abandoned)
    return {
        "offered": answered + abandoned + 1,
        "waiting": 1,
        "answered": answered,
        "answered_within_sl": rng.randint(0, answered),
        "abandoned": abandoned,
        "short_abandoned": short,
        "abandoned_within_sl": short,
        "overflowed": 0,
        "handled": answered,
        "wait_answered_ms": answered * rng.randint(1000, 30000),
        "wait_abandoned_ms": rng.randint(0, 90000),
        "talk_ms": answered * 200_000,
        "hold_ms": answered * 10_000,
        "wrap_ms": answered * 30_000,
        "max_wait_ms": rng.randint(1000, 120000),
    }


def interval(view: View, queue: str, start: int, p: int, rng: random.Random, now_ms: int) -> None:
    record = {
        "queue": queue,
        "start_ms": start,
        "end_ms": start + 1_800_000,
        "partition": p,
        "counts": counts(rng),
        "rules": RULES,
        "mixed_rules": False,
        "updated_ms": now_ms,
        "channel": CHANNELS[int(queue[1:]) % len(CHANNELS)],  # the bucket's first contact's (workers write it)
    }
    view.apply(topics.INTERVAL_STATS, records.interval_key(queue, start, p).encode(), orjson.dumps(record))


def queue_partial(view: View, queue: str, p: int, rng: random.Random, now_ms: int) -> None:
    record = {
        "queue": queue,
        "partition": p,
        "waiting": rng.randint(0, 3),
        "oldest_waiting_ms": now_ms - 30_000,
        "rolling_15m": counts(rng),
        "rolling_60m": counts(rng),
        "computed_ms": now_ms,
    }
    view.apply(topics.QUEUE_STATS, records.queue_key(queue, p).encode(), orjson.dumps(record))


def shift_start(day_start: int) -> int:
    return day_start + 8 * 3_600_000


def agent_day_parts(rng: random.Random, day_start: int, now_ms: int) -> dict[str, object]:
    """The occupancy keys of an fw.adherence record: a shift from 08:00, agent time and
    adherence in every interval since, 40 recent state points, shrinkage."""
    start = shift_start(day_start)
    starts = range(start, now_ms, 1_800_000)
    intervals = {
        str(s): {
            "available": 300_000,
            "on_contact": 1_200_000,
            "wrap_up": 200_000,
            "aux": 100_000,
            "aux_reasons": {"break": 100_000},
        }
        for s in starts
    }
    recent = [[now_ms - 1_000_000 + 25_000 * i, STATES[i % 4], "break" if i % 4 == 3 else None] for i in range(40)]
    return {
        "agent_time": {"intervals": intervals, "until_ms": recent[-1][0], "open": recent[-1], "recent": recent},
        "adherence_intervals": {str(s): [1_800_000, 1_600_000, 1_700_000, 1_500_000] for s in starts},
        "shrinkage": {
            "scheduled_ms": 28_800_000,
            "off_phone_scheduled_ms": 3_600_000,
            "unscheduled_aux_ms": rng.randint(0, 900_000),
        },
        "shift": {
            "start_ms": start,
            "end_ms": start + 28_800_000,
            "first_login_ms": rng.choice([None, start, start + 120_000]),
        },
    }


def build(n_agents: int, n_queues: int, settings: Settings, now_ms: int, day_start: int) -> View:
    rng = random.Random(1)
    view = View()
    queues = [f"q{i:03d}" for i in range(n_queues)]
    starts = list(range(day_start, now_ms, 1_800_000))
    for q in queues:
        for s in starts:
            for p in range(8):
                interval(view, q, s, p, rng, now_ms)
        for p in range(8):
            queue_partial(view, q, p, rng, now_ms)
    day = datetime.fromtimestamp(now_ms / 1000, settings.tz).date().isoformat()
    for i in range(n_agents):
        aid, team = f"agent-{i:05d}", f"team-{i % 20:02d}"
        state = STATES[i % len(STATES)]
        status = {
            "agent_id": aid,
            "name": aid,
            "team": team,
            "queues": rng.sample(queues, 3),
            "state": state,
            "reason": "break" if state == "aux" else None,
            "since_ms": now_ms - 60_000,
            "updated_ms": now_ms,
            "scheduled_activity": "work",
            "in_adherence": i % 7 != 0,
            "out_of_adherence_since_ms": None if i % 7 else now_ms - 200_000,
            "exception": None,
        }
        view.apply(topics.AGENT_STATUS, aid.encode(), orjson.dumps(status))
        adherence = {
            "agent_id": aid,
            "team": team,
            "date": day,
            "updated_ms": now_ms,
            "scheduled_s": 28_800,
            "in_adherence_s": rng.randint(20_000, 28_800),
            "adherence": 0.9,
            "work_scheduled_s": 25_000,
            "worked_s": rng.randint(20_000, 25_000),
            "conformance": 0.9,
            "exceptions": [],
            **agent_day_parts(rng, day_start, now_ms),
        }
        view.apply(topics.ADHERENCE, f"{aid}|{day}".encode(), orjson.dumps(adherence))
        for p in range(2):  # contacts answered, in two contact partitions
            rows = {
                str(s): [3, 600_000, 20_000, 90_000, 1, 1, 4, 1]
                for s in range(shift_start(day_start), now_ms, 1_800_000)
            }
            key = records.agent_day_key(records.AGENT_HANDLE_KEY, aid, day, p)
            handle = {"kind": "agent_handle", "agent_id": aid, "date": day, "partition": p, "updated_ms": now_ms}
            view.apply(topics.QUALITY_STATS, key.encode(), orjson.dumps({**handle, "intervals": rows}))
    for i in range(200):
        kind = ("queue_waiting", "queue_service_level", "adherence_break")[i % 3]
        alert_id = f"{kind}:s{i}:{now_ms}"
        view.apply(
            topics.ALERTS,
            alert_id.encode(),
            orjson.dumps(
                {
                    "id": alert_id,
                    "kind": kind,
                    "subject": f"s{i}",
                    "severity": "warning",
                    "state": "firing" if i % 2 else "resolved",
                    "started_at_ms": now_ms - 60_000,
                }
            ),
        )
    for reason in ("not_json", "missing_field", "not_json"):
        view.apply(topics.DEAD_LETTERS, b"fw.contact-events", orjson.dumps({"reason": reason}))
    return view


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--queues", type=int, default=500)
    parser.add_argument("--renders", type=int, default=20)
    args = parser.parse_args()

    settings = Settings(timezone="Asia/Shanghai", teams=[{"id": f"team-{i:02d}"} for i in range(20)])
    day_start = to_ms(datetime(2026, 11, 24, 0, 0, tzinfo=settings.tz))
    now_ms = day_start + 16 * 3_600_000 - 1  # 15:59:59.999: 32 intervals today
    t0 = time.perf_counter()
    view = build(args.agents, args.queues, settings, now_ms, day_start)
    print(
        f"view built in {time.perf_counter() - t0:.1f} s: {len(view.intervals):,} interval partials, "
        f"{len(view.queue_stats):,} queue partials, {len(view.agents):,} agents, "
        f"{len(view.adherence):,} adherence records, {len(view.alerts)} alerts"
    )

    registry = CollectorRegistry()
    ApiMetrics(registry).accepted.inc(12345)
    clock = [now_ms]
    registry.register(ViewCollector(view, settings, lambda: clock[0], lambda: {"ready": True}))
    rng = random.Random(2)
    current = max(range(day_start, now_ms, 1_800_000))  # the current interval
    # the view was loaded long before a scrape in a running API: collect the garbage of the build
    # first, or the first render pays for a full GC of the freshly built 1.5M-object heap
    gc.collect()
    t = time.perf_counter()
    render(registry)
    cold = (time.perf_counter() - t) * 1000
    times, size = [], 0
    for _ in range(args.renders):
        for i in range(args.queues):  # live load: every queue's current interval and live partial change
            interval(view, f"q{i:03d}", current, 0, rng, clock[0])
            queue_partial(view, f"q{i:03d}", 0, rng, clock[0])
        t = time.perf_counter()
        body = render(registry)  # what GET /metrics returns
        times.append((time.perf_counter() - t) * 1000)
        size = len(body)
    samples = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    print(f"/metrics: {samples:,} samples, {size / 1024:.0f} KiB")
    print(f"first render (cold: today's closed intervals summed from scratch): {cold:.1f} ms")
    print(
        f"render over {args.renders} (every queue's current interval changed before each): "
        f"median {statistics.median(times):.1f} ms, max {max(times):.1f} ms, "
        f"min {min(times):.1f} ms (target < 250 ms)"
    )


if __name__ == "__main__":
    main()
