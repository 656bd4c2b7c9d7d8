"""FCR finality on the real stack: a replay of contacts an hour old (every interval past its
end + 2W with a 20 s window) is counted, folded into ``fcr-final`` records — one per local date
and partition, holding its intervals' counts and its agents' rows together — once the replay
has been quiet for ``fcr.fold_quiet_s``, and the figures stay the same — also after a SIGKILL,
when the restarted worker rebuilds them from the final records."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import datetime

import orjson
import pytest

from tests.integration.harness import Stack, produce, read_topic, wait_until
from tests.integration.test_quality import day_sums, scenario

pytestmark = pytest.mark.integration

WINDOW_S = 20.0
FINAL_CHANGELOG = "floorwatch-fcr-final-changelog"


def start_ms(interval: str) -> int:
    """The start of an interval named ``"queue|start_ms"`` in a date record."""
    return int(interval.rsplit("|", 1)[1])


def test_a_replay_is_folded_and_its_figures_survive_a_sigkill(tmp_path) -> None:
    stack = Stack(
        tmp_path,
        fcr={"window_hours": WINDOW_S / 3600, "fold_quiet_s": 3},
        teams=[{"id": "red", "name": "Red"}, {"id": "blue", "name": "Blue"}],
    )
    try:
        settings = stack.settings()
        worker = stack.worker()
        stack.api()
        t0_ms = int(time.time() * 1000) - 3_600_000  # an hour ago: past every interval's end + 2W
        day = datetime.fromtimestamp(t0_ms / 1000, settings.tz).date().isoformat()
        asyncio.run(produce(stack.bootstrap, scenario(t0_ms)))

        # as computed by hand in test_quality: A (followed by B) and C (resolved: false) are
        # not resolved, B and D (its leg E resolved) are; B repeats A
        closed = {"customer_contacts": 4, "repeat_contacts": 1, "fcr_eligible": 4, "fcr_resolved": 2}

        def finals() -> dict[str, dict]:
            latest = dict(asyncio.run(read_topic(stack.bootstrap, FINAL_CHANGELOG)))
            return {orjson.loads(k): orjson.loads(v) for k, v in latest.items() if v is not None}

        def folded() -> dict[str, dict] | None:
            recs = finals()
            sums = [sum(c[i] for r in recs.values() for c in r["c"].values()) for i in range(4)]
            return recs if sums == list(closed.values()) else None

        recs = wait_until(folded, 60, "every interval folded into final records")
        # one record per (local date, partition): key "date|partition"
        assert all(k.startswith(f"{day}|") and r["_p"] == int(k.rsplit("|", 1)[1]) for k, r in recs.items())
        assert all(list(r) == ["_p", "c", "a"] for r in recs.values())
        # its intervals: those of the replay's offers (within a minute of t0)
        assert all(t0_ms - 1_800_000 < start_ms(name) <= t0_ms + 60_000 for r in recs.values() for name in r["c"])
        # the agents' rows are in the same records as the counts, so once every count is folded
        # so is every row: a1: A, C, D (D resolved); a2: B
        agents: dict[str, list[int]] = {}
        for r in recs.values():
            for aid, (elig, res) in r["a"].items():
                row = agents.setdefault(aid, [0, 0])
                row[0] += elig
                row[1] += res
        assert agents == {"a1": [3, 1], "a2": [1, 1]}
        wait_until(lambda: day_sums(stack, day) == closed, 30, "figures after the fold")

        worker.kill(signal.SIGKILL)
        stack.worker("worker-restarted")
        time.sleep(2)  # the restarted worker republishes from the final records
        wait_until(lambda: day_sums(stack, day) == closed, 30, "figures after the restart")
        quality = stack.get("/api/v1/quality", date=day)
        assert [(a["agent_id"], a["fcr_eligible"], a["fcr_resolved"]) for a in quality["agents"]] == [
            ("a1", 3, 1),
            ("a2", 1, 1),
        ]
        assert finals() == recs  # nothing folded twice
    finally:
        stack.close()
