"""The real stack: Tansu broker, Faust worker process(es), the API, over real sockets."""

from __future__ import annotations

import asyncio
import random
import re
import signal
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest

from floorwatch import topics
from floorwatch.services.simulator import simulate
from tests.integration.harness import (
    ADMIN_TOKEN,
    INGEST_TOKEN,
    VIEWER_TOKEN,
    Stack,
    produce,
    read_topic,
    wait_until,
)

pytestmark = pytest.mark.integration

TZ = "Asia/Shanghai"
# a day well inside retention whenever the suite runs (events older than retention_days are
# refused as implausible)
DAY = (datetime.now(ZoneInfo(TZ)).date() - timedelta(days=3)).isoformat()


def post_events(
    stack: Stack, body: bytes, token: str = INGEST_TOKEN, ctype: str = "application/json"
) -> httpx.Response:
    return httpx.post(
        f"{stack.api_url}/api/v1/events",
        content=body,
        timeout=10,
        headers={"Authorization": f"Bearer {token}", "Content-Type": ctype},
    )


def ev(n: int, clock: str, **fields: Any) -> dict[str, Any]:
    return {"event_id": f"it-{n}", "ts": f"{DAY}T{clock}+08:00", **fields}


def queue_row(stack: Stack, queue: str) -> dict[str, Any] | None:
    return next((q for q in stack.get("/api/v1/queues") if q["queue"] == queue), None)


def intervals(stack: Stack, queue: str, day: str) -> dict[str, dict[str, Any]]:
    return {row["start"]: row for row in stack.get("/api/v1/intervals", queue=queue, date=day)}


def test_http_ingest_reaches_worker_and_bad_input_is_contained(stack: Stack) -> None:
    worker = stack.worker()
    stack.api()
    good = [
        ev(1, "09:00:00", type="contact.offered", contact_id="h1", queue="sales", channel="voice"),
        ev(2, "09:00:12", type="contact.answered", contact_id="h1", queue="sales", agent_id="a1"),
        ev(3, "09:01:00", type="contact.offered", contact_id="h2", queue="sales", channel="voice"),
        ev(4, "09:01:03", type="contact.abandoned", contact_id="h2", queue="sales"),  # short (< 5 s)
    ]
    resp = post_events(stack, orjson.dumps(good))
    assert resp.status_code == 202 and resp.json() == {
        "accepted": 4,
        "rejected": [],
        "rejected_count": 0,
        "rejected_by_reason": {},
    }

    # not JSON at all -> 400; oversized -> 413; items with errors -> listed, not forwarded
    assert post_events(stack, b"{this is not json").status_code == 400
    assert post_events(stack, b"[" + b" " * 1_100_000 + b"]").status_code == 413
    bad = [
        ev(10, "09:02:00", type="contact.offered", contact_id="x", queue=7, channel="voice"),  # wrong type
        ev(11, "09:02:00", type="contact.vanished", contact_id="x"),  # unknown type
        ev(12, "09:02:00", type="contact.answered", contact_id="x"),  # missing queue, agent_id
        "not an object",
    ]
    resp = post_events(stack, b"\n".join(orjson.dumps(b) for b in bad), ctype="application/x-ndjson")
    assert resp.status_code == 202
    body = resp.json()
    assert body["accepted"] == 0
    assert [r["index"] for r in body["rejected"]] == [0, 1, 2, 3]
    assert "queue" in body["rejected"][0]["error"]
    assert "contact.vanished" in body["rejected"][1]["error"]
    assert "agent_id" in body["rejected"][2]["error"]
    # roles: a viewer token may not ingest, no token is 401
    assert post_events(stack, orjson.dumps(good), token=VIEWER_TOKEN).status_code == 403
    assert httpx.post(f"{stack.api_url}/api/v1/events", content=b"[]", timeout=5).status_code == 401

    # garbage straight onto the topics (no API in front) -> dead letters, worker survives
    asyncio.run(
        produce(
            stack.bootstrap,
            [],
            raw=[
                (topics.CONTACT_EVENTS, b"\xff\xfe not json"),
                (topics.CONTACT_EVENTS, orjson.dumps(ev(20, "09:03:00", type="contact.offered", contact_id="z"))),
                (
                    topics.AGENT_EVENTS,
                    orjson.dumps(ev(21, "09:03:00", type="agent.state", agent_id="a1", state="dancing")),
                ),
                (
                    topics.AGENT_EVENTS,
                    orjson.dumps(
                        ev(22, "09:03:00", type="contact.offered", contact_id="q", queue="sales", channel="voice")
                    ),
                ),
            ],
        )
    )
    # ... and a valid event after all that is still processed
    late = [
        ev(30, "09:05:00", type="contact.offered", contact_id="h3", queue="sales", channel="voice"),
        ev(31, "09:05:30", type="contact.answered", contact_id="h3", queue="sales", agent_id="a2"),
    ]
    assert post_events(stack, orjson.dumps(late)).json()["accepted"] == 2

    def dead() -> dict[str, int]:
        reasons: dict[str, int] = {}
        for _key, value in asyncio.run(read_topic(stack.bootstrap, topics.DEAD_LETTERS, idle_s=0.5)):
            reasons[orjson.loads(value)["reason"]] = reasons.get(orjson.loads(value)["reason"], 0) + 1
        return reasons if sum(reasons.values()) >= 4 else {}

    assert wait_until(dead, 30, "dead letters") == {
        "not_json": 1,
        "missing_field": 1,
        "invalid_field": 1,
        "wrong_topic": 1,
    }

    def settled() -> dict[str, Any] | None:
        rows = intervals(stack, "sales", DAY)
        row = rows.get(f"{DAY}T09:00:00+08:00")
        return row if row and row["offered"] == 3 and row["answered"] == 2 else None

    row = wait_until(settled, 30, "the 09:00 sales interval")
    # h1 answered after 12 s (within 20 s), h3 after 30 s (late), h2 abandoned after 3 s (short)
    assert row["answered_within_sl"] == 1 and row["short_abandoned"] == 1 and row["abandoned"] == 1
    assert row["service_level"] == 0.5  # A_T / (A + B - S + F) = 1 / 2
    assert row["asa_s"] == 21.0  # (12 + 30) / 2
    assert row["abandon_rate"] == 0.0 and row["avg_abandon_s"] is None
    assert worker.proc.poll() is None


def sim_day(settings: Any) -> date:
    """Three days ago: every first-contact-resolution window (24 h) has closed, and the day is
    well inside retention whenever the suite runs."""
    return datetime.now(settings.tz).date() - timedelta(days=3)


def sim_events(settings: Any, seed: int, agents: int, hours: float) -> Any:
    start = datetime.combine(sim_day(settings), time(9, 0), tzinfo=settings.tz)
    return simulate(
        settings, seed=seed, agents=agents, start_ms=int(start.timestamp() * 1000), duration_ms=int(hours * 3_600_000)
    )


def quality_mismatches(stack: Stack, truth: dict[str, Any], day: str) -> list[str]:
    """FCR and CSAT per agent and team of ``/api/v1/quality`` against the truth."""
    got = stack.get("/api/v1/quality", date=day)
    bad = []
    for section, id_field in (("agents", "agent_id"), ("teams", "team")):
        rows = {row[id_field]: row for row in got[section]}
        want = {k: days[day] for k, days in truth["quality"][section].items() if day in days}
        if set(rows) != set(want):
            bad.append(f"quality {section}: {sorted(set(rows) ^ set(want), key=str)} differ")
        for k, fig in want.items():
            row = rows.get(k, {})
            diff = {f: (row.get(f), v) for f, v in fig.items() if f in row and row.get(f) != v}
            if diff:
                bad.append(f"quality {section} {k}: {diff}")
    return bad


def _block_diff(got: dict[str, Any] | None, want: dict[str, Any]) -> dict[str, Any]:
    got = got or {}
    return {k: (got.get(k), v) for k, v in want.items() if got.get(k) != v}


def _by_start(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["start"]: row for row in rows}


def _day_and_interval_diffs(name: str, got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """The ``day`` block and every interval block of ``want`` against ``got``'s."""
    bad = []
    if diff := _block_diff(got.get("day"), want["day"]):
        bad.append(f"{name} day: {diff}")
    ivs = _by_start(got.get("intervals") or [])
    for start, block in want["intervals"].items():
        if diff := _block_diff(ivs.get(start), block):
            bad.append(f"{name} {start}: {diff}")
    return bad


def people_mismatches(stack: Stack, truth: dict[str, Any], day: str) -> list[str]:
    """Agent performance, teams, floor and channels of the API against the truth: every field
    of every day and interval block the truth has, exactly (and no interval the truth lacks)."""
    bad: list[str] = []
    for agent_id, days in truth["performance"].items():
        want = days.get(day)
        if want is None:
            continue
        try:
            got = stack.get(f"/api/v1/agents/{agent_id}/performance", date=day)
        except httpx.HTTPStatusError as e:  # 404 until the API has read a record of the agent
            bad.append(f"performance {agent_id}: {e.response.status_code}")
            continue
        bad += _day_and_interval_diffs(f"performance {agent_id}", got, want)
        if extra := set(_by_start(got.get("intervals") or [])) - set(want["intervals"]):
            bad.append(f"performance {agent_id}: unexpected intervals {sorted(extra)}")
    got_teams = stack.get("/api/v1/teams", date=day)
    groups = [
        (f"team {t}", days.get(day), next((r for r in got_teams["teams"] if r["id"] == t), None))
        for t, days in truth["teams"].items()
    ]
    groups.append(("floor", truth["floor"].get(day), got_teams["floor"]))
    for name, want, got in groups:
        if want is None:
            continue
        if got is None:
            bad.append(f"{name}: missing")
            continue
        bad += _day_and_interval_diffs(name, got, want)
    got_channels = {row["channel"]: row for row in stack.get("/api/v1/channels", date=day)["channels"]}
    for channel, want in truth["channels"].items():
        got = got_channels.get(channel, {})
        if day in want["days"] and (diff := _block_diff(got.get("day"), want["days"][day])):
            bad.append(f"channel {channel} day: {diff}")
        ivs = _by_start(got.get("intervals") or [])
        for start, block in want["intervals"].items():
            if start.startswith(day) and (diff := _block_diff(ivs.get(start), block)):
                bad.append(f"channel {channel} {start}: {diff}")
    return bad


def expect_truth(stack: Stack, truth: dict[str, Any], timeout_s: float = 90) -> None:
    """Every interval of the truth equals the API's figures exactly (and nothing extra), FCR
    and CSAT per agent and team included."""
    day = truth["start"][:10]

    def mismatches() -> list[str]:
        bad = quality_mismatches(stack, truth, day) + people_mismatches(stack, truth, day)
        for queue, want in truth["intervals"].items():
            got = intervals(stack, queue, day)
            for start, stats in want.items():
                row = got.get(start)
                if row is None:
                    bad.append(f"{queue} {start}: missing")
                    continue
                diff = {k: (row.get(k), v) for k, v in stats.items() if row.get(k) != v}
                if diff:
                    bad.append(f"{queue} {start}: {diff}")
            extra = set(got) - set(want)
            if extra:
                bad.append(f"{queue}: unexpected intervals {sorted(extra)}")
        return bad

    last: list[str] = []

    def ok() -> bool:
        nonlocal last
        last = mismatches()
        return not last

    try:
        wait_until(ok, timeout_s, "API figures equal to the simulator's truth", interval_s=1)
    except TimeoutError:
        raise AssertionError("\n".join(last[:20])) from None


def expect_week_of_the_truth(stack: Stack, truth: dict[str, Any]) -> None:
    """``/queues/{q}/days?group=week`` over the ISO week of the run: the week's counters are the
    sums of the truth's interval counters, its STATS the truth's day (the week's only day with
    contacts), computed by the simulator from its own records."""
    day = date.fromisoformat(truth["start"][:10])
    monday = day - timedelta(days=day.weekday())
    span = {"from": monday.isoformat(), "to": (monday + timedelta(days=6)).isoformat()}
    year, week, _ = day.isocalendar()
    for queue, ivs in truth["intervals"].items():
        (row,) = stack.get(f"/api/v1/queues/{queue}/days", group="week", **span)
        assert (row["period"], row["from"], row["to"]) == (f"{year}-W{week:02d}", span["from"], span["to"])
        for key in ("offered", "answered", "answered_within_sl", "abandoned", "short_abandoned", "fcr_eligible"):
            assert row[key] == sum(s[key] for s in ivs.values()), (queue, key)
        want = truth["days"][queue][day.isoformat()]
        assert {k: row[k] for k in want} == want


def test_simulated_two_hours_match_truth_exactly(stack: Stack) -> None:
    settings = stack.settings()
    result = sim_events(settings, seed=11, agents=60, hours=2)
    ivs = [s for q in result.truth["intervals"].values() for s in q.values()]
    assert sum(s["offered"] for s in ivs) >= 300 and len(result.truth["intervals"]) == 3
    # the run exercises first contact resolution: repeats, and both outcomes
    assert sum(s["repeat_contacts"] for s in ivs) >= 5
    assert 0 < sum(s["fcr_resolved"] for s in ivs) < sum(s["fcr_eligible"] for s in ivs)
    stack.worker()
    stack.api()
    asyncio.run(produce(stack.bootstrap, result.events))
    expect_truth(stack, result.truth)
    expect_week_of_the_truth(stack, result.truth)


def test_sigkill_restart_duplicates_and_reordering_stay_exact(stack: Stack) -> None:
    settings = stack.settings()
    result = sim_events(settings, seed=12, agents=60, hours=2)
    events = list(result.events)
    rng = random.Random(5)
    half = len(events) // 2
    first, second = events[:half], events[half:]
    # duplicates of random events, and the second half shuffled within windows of 50
    second = second + rng.sample(events, len(events) // 10)
    for i in range(0, len(second), 50):
        window = second[i : i + 50]
        rng.shuffle(window)
        second[i : i + 50] = window
    worker = stack.worker()
    stack.api()
    asyncio.run(produce(stack.bootstrap, first))
    wait_until(lambda: "rebuilt aggregates" in worker.log(), 30, "worker up")
    asyncio.run(produce(stack.bootstrap, second[: len(second) // 2]))
    worker.kill(signal.SIGKILL)  # mid-stream, before its commit caught up
    asyncio.run(produce(stack.bootstrap, second[len(second) // 2 :]))
    stack.worker("worker-restarted")
    expect_truth(stack, result.truth, timeout_s=120)


def test_two_workers_share_partitions(stack: Stack) -> None:
    settings = stack.settings()
    result = sim_events(settings, seed=13, agents=60, hours=2)
    worker_a = stack.worker("worker-a")
    stack.api()
    events = result.events
    asyncio.run(produce(stack.bootstrap, events[: len(events) // 3]))
    worker_b = stack.worker("worker-b", wait=False)  # joins mid-stream: a rebalance, re-deliveries
    asyncio.run(produce(stack.bootstrap, events[len(events) // 3 : len(events) // 2]))
    worker_b.wait_log("rebuilt aggregates", 90)
    asyncio.run(produce(stack.bootstrap, events[len(events) // 2 :]))
    expect_truth(stack, result.truth, timeout_s=120)

    owned_b = re.findall(r"rebuilt aggregates of partitions \[([0-9, ]*)\]", worker_b.log())
    assert owned_b and 0 < len(owned_b[-1].split(",")) < 8, owned_b  # B really took a share
    # A gave partitions away: the keys it held of them leave its memory (not only at a restart)
    worker_a.wait_log("keys of partitions no longer owned", 30)
    dropped = re.findall(r"dropped (\d+) keys of partitions no longer owned", worker_a.log())
    assert sum(int(n) for n in dropped) > 0, dropped
    assert all(p.proc.poll() is None for p in stack.procs)


def test_readyz_and_healthz(stack: Stack) -> None:
    stack.worker()
    stack.api()
    assert httpx.get(f"{stack.api_url}/healthz", timeout=5).status_code == 200
    wait_until(lambda: httpx.get(f"{stack.api_url}/readyz", timeout=5).status_code == 200, 30, "readyz")
    assert (
        httpx.get(
            f"{stack.api_url}/api/v1/queues", timeout=5, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ).status_code
        == 200
    )
