"""``worker.store: rocksdb`` on the real stack: a worker SIGKILLed mid-stream and restarted on the
same data directory reads only the changelog after its persisted offsets, and every figure
stays exact; a replacement worker with an empty data directory rebuilds exactly."""

from __future__ import annotations

import asyncio
import re
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.harness import ROOT, Proc, Stack, produce, wait_until
from tests.integration.test_pipeline import expect_truth, sim_events

pytestmark = pytest.mark.integration

RECOVERED = re.compile(r"rocksdb table (\S+): recovered (\d+) changelog records")


@pytest.fixture
def rocks_stack(tmp_path: Path) -> Any:
    worker = yaml.safe_load((ROOT / "floorwatch.yaml").read_text())["worker"]
    s = Stack(tmp_path, worker={**worker, "store": "rocksdb"})
    try:
        yield s
    finally:
        s.close()


def start_worker(stack: Stack, name: str) -> tuple[Proc, int]:
    """A worker on ``<tmp>/<name>`` (the same directory as before for the same name); returns it
    and where its log of this start begins."""
    log_path = stack.tmp / f"{name}.log"
    start = len(log_path.read_text(errors="replace")) if log_path.exists() else 0
    proc = stack.worker(name, wait=False)
    proc.wait_log("rebuilt aggregates", 90, after=start)
    return proc, start


def recovered(proc: Proc, after: int) -> dict[str, int]:
    """Changelog records each table recovered at this start (summed over recoveries)."""
    out: dict[str, int] = {}
    for table, n in RECOVERED.findall(proc.log()[after:]):
        out[table] = out.get(table, 0) + int(n)
    return out


def final_agent_states(events: list[dict[str, Any]]) -> dict[str, tuple[str, Any, Any]]:
    """(state, reason, team) per agent from what was posted: its last state event, its profile."""
    state: dict[str, tuple[str, Any]] = {}
    team: dict[str, Any] = {}
    for e in events:
        if e["type"] == "agent.state":
            state[e["agent_id"]] = (e["state"], e.get("reason"))
        elif e["type"] == "agent.profile":
            team[e["agent_id"]] = e.get("team")
    return {aid: (s, r, team.get(aid)) for aid, (s, r) in state.items()}


def expect_agents(stack: Stack, want: dict[str, tuple[str, Any, Any]]) -> None:
    def shown() -> dict[str, tuple[str, Any, Any]]:
        return {a["agent_id"]: (a["state"], a["reason"], a["team"]) for a in stack.get("/api/v1/agents")}

    last: dict[str, Any] = {}

    def same() -> bool:
        nonlocal last
        last = shown()
        return last == want

    try:
        wait_until(same, 60, "agent states equal to the posted events'", interval_s=1)
    except TimeoutError:
        diff = {a: (last.get(a), want.get(a)) for a in set(last) | set(want) if last.get(a) != want.get(a)}
        raise AssertionError(f"agents differ (shown, posted): {diff}") from None


def test_sigkill_restart_reads_only_the_changelog_tail_and_stays_exact(rocks_stack: Stack) -> None:
    """Worker A is SIGKILLed mid-stream; a replacement B with an empty directory rebuilds from
    the changelog and applies more events; B is SIGKILLed and A restarts on its own directory:
    it reads only the changelog after its persisted offsets (what B wrote, and what A wrote
    after its last write to disk), and every figure is exact."""
    stack = rocks_stack
    settings = stack.settings()
    assert settings.worker.store == "rocksdb"
    result = sim_events(settings, seed=13, agents=80, hours=2)
    events = list(result.events)
    n = len(events)
    cuts = [n * 3 // 4, n * 3 // 4 + n // 64, n * 3 // 4 + n // 32]
    first, middle, by_b, last = (
        events[: cuts[0]],
        events[cuts[0] : cuts[1]],
        events[cuts[1] : cuts[2]],
        events[cuts[2] :],
    )
    applied = {e["contact_id"] for e in first if "contact_id" in e}

    a, start = start_worker(stack, "worker")
    assert recovered(a, start).get("contacts", 0) == 0  # an empty directory, an empty changelog
    stack.api()
    asyncio.run(produce(stack.bootstrap, first))
    expect_agents(stack, final_agent_states(first))  # the first part is applied
    sending = threading.Thread(target=lambda: asyncio.run(produce(stack.bootstrap, middle)))
    sending.start()
    time.sleep(0.4)
    a.kill(signal.SIGKILL)  # mid-stream: the middle part is being posted and applied
    sending.join()

    started = time.monotonic()
    b, b_start = start_worker(stack, "worker-replacement")  # an empty data directory
    fresh_s = time.monotonic() - started
    full = recovered(b, b_start)
    assert full["contacts"] >= len(applied), (full, len(applied))  # every changelog record
    asyncio.run(produce(stack.bootstrap, by_b))
    expect_agents(stack, final_agent_states(events[: cuts[2]]))  # B applied them from its rebuilt tables
    b.kill(signal.SIGKILL)

    started = time.monotonic()
    a, start = start_worker(stack, "worker")  # A again, on its own directory
    restart_s = time.monotonic() - started
    tail = recovered(a, start)
    asyncio.run(produce(stack.bootstrap, last))
    expect_truth(stack, result.truth, timeout_s=90)
    expect_agents(stack, final_agent_states(events))
    # A read only what followed its persisted offsets: B's writes at least, and far fewer
    # records than its contacts table holds (a key per contact of the first part)
    assert 0 < tail["contacts"] and tail["contacts"] * 4 < len(applied), (tail, len(applied))
    assert tail["contacts"] * 10 < full["contacts"], (tail, full)
    print(
        f"\nreplacement, empty directory: {fresh_s:.1f} s to ready, recovered {full}\n"
        f"restart on its own directory: {restart_s:.1f} s to ready, recovered {tail}; "
        f"contacts in the table before: {len(applied)}"
    )
