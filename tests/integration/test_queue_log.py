"""A hand-written Asterisk queue_log through the real broker, worker and API.

``tests/fixtures/queue_log/day.log`` holds every call verb and every agent verb of the issue,
plus three bad lines. The expected interval STATS and final agent states are computed by hand
in ``tests/unit/domain/test_queue_log.py`` (DAY_STATS, DAY_AGENTS); here the same figures must come
out of ``GET /api/v1/intervals`` and the agent view, also after the file is replayed twice.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest

from floorwatch import topics
from floorwatch.domain.intervals import iso
from tests.integration.harness import ROOT, VIEWER_TOKEN, Stack, read_topic, wait_until
from tests.unit.domain.test_queue_log import DAY_AGENTS, DAY_STATS, FIXTURES

pytestmark = pytest.mark.integration

FIXTURE_DAY = "2026-11-24"
# The fixture's lines are moved by whole days to three days ago (Shanghai has no daylight saving
# time, so local times stay): the worker and the connector refuse events older than retention.
SHIFT_DAYS = (datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=3) - date.fromisoformat(FIXTURE_DAY)).days
DAY = (date.fromisoformat(FIXTURE_DAY) + timedelta(days=SHIFT_DAYS)).isoformat()


def moved(text: str) -> str:
    """Dates of the fixture's expected figures, on the day the lines are moved to."""
    return text.replace(FIXTURE_DAY, DAY)


def moved_fixture(tmp: Path) -> Path:
    """``day.log`` with every numeric epoch moved by ``SHIFT_DAYS`` days (same file name)."""
    out = []
    for line in (FIXTURES / "day.log").read_text().splitlines(keepends=True):
        head, sep, rest = line.partition("|")
        out.append((str(int(head) + SHIFT_DAYS * 86_400) if head.isdigit() else head) + sep + rest)
    (tmp / "moved").mkdir(exist_ok=True)
    path = tmp / "moved" / "day.log"
    path.write_text("".join(out))
    return path


def replay(stack: Stack, path: Path) -> subprocess.CompletedProcess[str]:
    """``floorwatch replay-queue-log FILE`` against the stack's broker."""
    return subprocess.run(
        [sys.executable, "-m", "floorwatch.services.queue_log", str(path)],
        cwd=ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# contacts with a caller id that are not transfer or overflow legs, by hand from day.log (the
# anonymous caller is nobody; no number calls twice), so no repeats. FCR eligibility needs the
# 24 h window to close, which depends on when the suite runs: tests/integration/test_quality.py
# and test_pipeline.py cover it.
DAY_CUSTOMERS = {("sales", "09:00"): 7, ("sales", "09:30"): 1, ("support", "09:00"): 1, ("support", "09:30"): 3}
CLOCK_DEPENDENT = ("fcr_eligible", "fcr_resolved", "fcr")


def day_stats_on_the_stack() -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for (q, start), stats in DAY_STATS.items():
        n = DAY_CUSTOMERS.get((q, start[11:16]), 0)
        out[(q, moved(start))] = {
            **{k: v for k, v in stats.items() if k not in CLOCK_DEPENDENT},
            "customer_contacts": n,
            "repeat_contacts": 0,
            "repeat_rate": 0.0 if n else None,
        }
    return out


def interval_mismatches(stack: Stack) -> list[str]:
    bad = []
    expected = day_stats_on_the_stack()
    for queue in ("sales", "support"):
        rows = {r["start"]: r for r in stack.get("/api/v1/intervals", queue=queue, date=DAY)}
        want = {start: s for (q, start), s in expected.items() if q == queue}
        if set(rows) != set(want):
            bad.append(f"{queue}: intervals {sorted(rows)} != {sorted(want)}")
            continue
        for start, stats in want.items():
            row = rows[start]
            diff = {k: (row.get(k), v) for k, v in stats.items() if row.get(k) != pytest.approx(v)}
            if diff:
                bad.append(f"{queue} {start}: {diff}")
    return bad


# when each agent entered its final state (hand-derived from day.log)
DAY_SINCE = {
    "SIP/1001": "2026-11-24T09:50:00+08:00",
    "SIP/1002": "2026-11-24T09:55:00+08:00",
    "Agent/2001": "2026-11-24T09:45:45+08:00",
    "SIP/1003": "2026-11-24T09:51:05+08:00",
    "Local/3001@from-queue": "2026-11-24T09:30:00+08:00",
}


def agent_states(stack: Stack) -> tuple[str, dict[str, tuple[Any, ...]]]:
    """Final (state, reason, queues, team, since) per agent: GET /api/v1/agents, else fw.agent-status."""
    resp = httpx.get(f"{stack.api_url}/api/v1/agents", timeout=10, headers={"Authorization": f"Bearer {VIEWER_TOKEN}"})
    if resp.status_code == 200:
        return "api", {
            r["agent_id"]: (r["state"], r["reason"], sorted(r["queues"]), r["team"], r["since"]) for r in resp.json()
        }
    settings = stack.settings()
    latest: dict[str, Any] = {}
    for key, value in asyncio.run(read_topic(stack.bootstrap, topics.AGENT_STATUS, idle_s=0.5)):
        if key is not None:
            latest[key.decode()] = None if value is None else orjson.loads(value)
    return "topic", {
        aid: (v["state"], v["reason"], sorted(v["queues"]), v["team"], iso(v["since_ms"], settings.tz))
        for aid, v in latest.items()
        if v
    }


def live_agents(stack: Stack) -> dict[str, Any]:
    return {
        q["queue"]: {**q["agents"], "waiting": q["waiting"]}
        for q in stack.get("/api/v1/queues")
        if q["queue"] in ("sales", "support")
    }


def test_queue_log_day_gives_the_hand_computed_figures(stack: Stack, tmp_path: Path) -> None:
    stack.worker()
    stack.api()
    day_log = moved_fixture(tmp_path)

    done = replay(stack, day_log)
    assert done.returncode == 0, done.stderr
    assert "62 lines 72 events 3 dead letters" in done.stderr, done.stderr

    last: list[str] = []

    def settled() -> bool:
        nonlocal last
        last = interval_mismatches(stack)
        return not last

    try:
        wait_until(settled, 60, "the hand-computed interval STATS", interval_s=1)
    except TimeoutError:
        raise AssertionError("\n".join(last)) from None

    want_agents = {
        aid: (state, reason, sorted(queues), "asterisk", moved(DAY_SINCE[aid]))
        for aid, (state, reason, queues) in DAY_AGENTS.items()
    }
    source = "?"

    def agents_ok() -> bool:
        nonlocal source
        source, got = agent_states(stack)
        return got == want_agents

    wait_until(agents_ok, 30, "the hand-derived agent states")
    print(f"agent states checked via {source}")
    # live tiles: SIP/1001 in a meeting (both queues), Agent/2001 available and SIP/1003 on 120 (support);
    # 119 still waiting in support. staffed = logged-in agents whose profile lists the queue, by state
    assert live_agents(stack) == {
        "sales": {"staffed": 1, "available": 0, "on_contact": 0, "wrap_up": 0, "aux": 1, "waiting": 0},
        "support": {"staffed": 3, "available": 1, "on_contact": 1, "wrap_up": 0, "aux": 1, "waiting": 1},
    }

    def queue_log_dead() -> list[dict[str, Any]]:
        return [
            orjson.loads(v)
            for k, v in asyncio.run(read_topic(stack.bootstrap, topics.DEAD_LETTERS, 0.5))
            if k == b"queue_log"
        ]

    dead = queue_log_dead()
    assert [(d["line"], d["reason"]) for d in dead] == [(36, "unknown_verb"), (37, "non_numeric"), (38, "out_of_order")]
    assert all(d["topic"] == "queue_log" and d["file"].endswith("day.log") for d in dead)

    # a replay of the same lines is deduplicated downstream: the figures do not move
    again = replay(stack, day_log)
    assert again.returncode == 0, again.stderr
    wait_until(lambda: len(queue_log_dead()) == 6, 30, "the second replay's dead letters")
    time.sleep(3)  # the worker has the second replay's events by now (same partitions, in order)
    assert interval_mismatches(stack) == []
    assert agent_states(stack)[1] == want_agents


def test_implausible_epochs_between_good_lines_stop_nothing(stack: Stack, tmp_path: Path) -> None:
    """Epoch 99999999999 (the year 5138) once moved the connector's newest time so that every
    later real line was out of order, also after a restart; epoch 999999999999999 made it exit 1
    at every start. Both are dead letters now, and the good lines around them are produced."""
    t0 = int(time.time()) - 600  # ten minutes ago: well inside the event time window
    log = tmp_path / "queue_log"
    log.write_text(
        f"{t0}|c1|sales|NONE|ENTERQUEUE||1|1\n"
        f"{t0 + 5}|c1|sales|SIP/1001|CONNECT|5|x|1\n"
        "99999999999|c2|sales|NONE|ENTERQUEUE||2|1\n"
        "999999999999999|c3|sales|NONE|ENTERQUEUE||3|1\n"
        f"{t0 + 65}|c1|sales|SIP/1001|COMPLETECALLER|5|60|1\n"
    )
    state = tmp_path / "queue_log.state.json"
    args = [
        sys.executable,
        "-m",
        "floorwatch.services.queue_log",
        str(log),
        "--follow",
        "--poll",
        "0.1",
        "--state",
        str(state),
    ]

    def start(n: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            args,
            cwd=ROOT,
            env=stack.env,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"connector-{n}.err").open("wb"),
        )

    def contacts() -> list[tuple[str, str]]:
        return [
            (e["type"], e["contact_id"])
            for e in (orjson.loads(v) for _, v in asyncio.run(read_topic(stack.bootstrap, topics.CONTACT_EVENTS, 0.5)))
        ]

    def dead() -> list[tuple[int, str]]:
        return [
            (d["line"], d["reason"])
            for d in (
                orjson.loads(v)
                for k, v in asyncio.run(read_topic(stack.bootstrap, topics.DEAD_LETTERS, 0.5))
                if k == b"queue_log"
            )
        ]

    first = start(1)
    try:
        want = [("contact.offered", "c1@sales"), ("contact.answered", "c1@sales"), ("contact.ended", "c1@sales")]
        wait_until(lambda: contacts() == want, 60, "the good lines' contact events")
        wait_until(
            lambda: dead() == [(3, "implausible_time"), (4, "implausible_time")],
            30,
            "two implausible_time dead letters",
        )
        assert first.poll() is None, (tmp_path / "connector-1.err").read_text()  # still following
    finally:
        first.terminate()
        first.wait(30)
    assert first.returncode == 0, (tmp_path / "connector-1.err").read_text()
    saved = orjson.loads(state.read_bytes())
    assert saved["mapper"]["max_epoch"] == t0 + 65

    with log.open("a") as fh:  # later real lines, after a restart on the same state
        fh.write(f"{t0 + 120}|c4|sales|NONE|ENTERQUEUE||4|1\n{t0 + 130}|c4|sales|NONE|ABANDON|1|1|10\n")
    second = start(2)
    try:
        more = [("contact.offered", "c4@sales"), ("contact.abandoned", "c4@sales")]
        wait_until(lambda: contacts() == want + more, 60, "the later lines' contact events")
        assert dead() == [(3, "implausible_time"), (4, "implausible_time")]  # nothing out of order
        assert second.poll() is None, (tmp_path / "connector-2.err").read_text()
    finally:
        second.terminate()
        second.wait(30)
    assert second.returncode == 0, (tmp_path / "connector-2.err").read_text()
