"""Schedule adherence on the real stack: an agent who never comes back from break."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, time as dt_time, timedelta
from typing import Any

import orjson
import pytest

from floorwatch import topics
from floorwatch.domain.intervals import local_date
from tests.integration.harness import Stack, produce, read_topic, wait_until
from tests.integration.test_pipeline import people_mismatches

pytestmark = pytest.mark.integration

GRACE_S, CRITICAL_S = 3, 6


@pytest.fixture
def stack(tmp_path):
    s = Stack(tmp_path, adherence={"grace_s": GRACE_S, "critical_s": CRITICAL_S})
    try:
        yield s
    finally:
        s.close()


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def latest(bootstrap: str, topic: str) -> dict[str, Any]:
    """Last value per key of an output topic."""
    out: dict[str, Any] = {}
    for key, value in asyncio.run(read_topic(bootstrap, topic, idle_s=0.4)):
        out[key.decode()] = None if value is None else orjson.loads(value)
    return out


def test_break_overrun_alerts_at_grace_without_new_events_and_resolves(stack: Stack) -> None:
    settings = stack.settings()
    stack.worker()
    now_ms = (int(time.time()) + 1) * 1000
    break_end_ms = now_ms + 8_000  # the break ends 8 s from now; the agent stays on break
    day = local_date(now_ms, settings.tz).isoformat()
    events = [
        {
            "event_id": "p1",
            "type": "agent.profile",
            "ts": iso(now_ms - 7_200_000),
            "agent_id": "ann",
            "name": "Ann",
            "team": "north",
            "queues": ["sales"],
        },
        {
            "event_id": "s1",
            "type": "schedule.published",
            "ts": iso(now_ms - 7_200_000),
            "agent_id": "ann",
            "date": day,
            "activities": [
                {"start": iso(now_ms - 3_600_000), "end": iso(now_ms + 3_600_000), "activity": "work"},
                {"start": iso(now_ms - 600_000), "end": iso(break_end_ms), "activity": "break"},
            ],
        },
        {
            "event_id": "a1",
            "type": "agent.state",
            "ts": iso(now_ms - 3_600_000),
            "agent_id": "ann",
            "state": "available",
        },
        {
            "event_id": "a2",
            "type": "agent.state",
            "ts": iso(now_ms - 600_000),
            "agent_id": "ann",
            "state": "aux",
            "reason": "break",
        },
    ]
    asyncio.run(produce(stack.bootstrap, events))

    def status() -> dict[str, Any] | None:
        rec = latest(stack.bootstrap, topics.AGENT_STATUS).get("ann")
        return rec if rec and rec.get("scheduled_activity") == "break" else None

    stack.api()
    on_break = wait_until(status, 30, "ann's status on break")
    assert on_break["in_adherence"] is True and on_break["state"] == "aux"

    def alert(severity: str) -> dict[str, Any] | None:
        found = [
            a
            for a in latest(stack.bootstrap, topics.ALERTS).values()
            if a and a["kind"] == "adherence_break" and a["subject"] == "ann"
        ]
        return found[0] if found and found[0]["severity"] == severity else None

    fired = wait_until(lambda: alert("warning") or alert("critical"), 40, "the adherence-break alert")
    # no event after the break's end: the alert starts exactly grace_s after it
    assert fired["started_at_ms"] == break_end_ms + GRACE_S * 1000
    assert fired["state"] == "firing"
    assert fired["details"]["exception"] == "extended_break"
    critical = wait_until(lambda: alert("critical"), 30, "escalation to critical")
    assert critical["id"] == fired["id"] and critical["state"] == "firing"
    # over the API too, while no event is flowing
    firing = [a for a in stack.get("/api/v1/alerts", state="firing") if a["subject"] == "ann"]
    assert firing and firing[0]["kind"] == "adherence_break" and firing[0]["id"] == fired["id"]
    agent = next(a for a in stack.get("/api/v1/agents") if a["agent_id"] == "ann")
    assert agent["in_adherence"] is False and agent["scheduled_activity"] == "work"

    back_ms = break_end_ms + 10_000
    while time.time() * 1000 < back_ms:
        time.sleep(0.2)
    asyncio.run(
        produce(
            stack.bootstrap,
            [{"event_id": "a3", "type": "agent.state", "ts": iso(back_ms), "agent_id": "ann", "state": "available"}],
        )
    )

    def resolved() -> dict[str, Any] | None:
        rec = latest(stack.bootstrap, topics.ALERTS).get(fired["id"])
        return rec if rec and rec["state"] == "resolved" else None

    done = wait_until(resolved, 30, "resolution")
    assert done["resolved_at_ms"] == back_ms
    alerts = [a for a in latest(stack.bootstrap, topics.ALERTS).values() if a and a["subject"] == "ann"]
    assert len(alerts) == 1  # exactly one alert for the overrun
    over_api = [a for a in stack.get("/api/v1/alerts") if a["subject"] == "ann"]
    assert [(a["id"], a["state"], a["severity"]) for a in over_api] == [(fired["id"], "resolved", "critical")]

    def figures() -> dict[str, Any] | None:
        rec = latest(stack.bootstrap, topics.ADHERENCE).get(f"ann|{day}")
        return (
            rec
            if rec and any(x["kind"] == "extended_break" and x["end_ms"] == back_ms for x in rec["exceptions"])
            else None
        )

    rec = wait_until(figures, 90, "the day's adherence with the closed exception")
    overrun = next(x for x in rec["exceptions"] if x["kind"] == "extended_break")
    assert overrun["start_ms"] == break_end_ms and overrun["scheduled"] == "work"
    assert rec["team"] == "north"


def test_simulated_day_adherence_equals_truth_exactly(stack: Stack) -> None:
    """A seeded simulator day with late logins, overrun breaks, unscheduled aux, early logouts."""
    from floorwatch.services.simulator import simulate

    settings = stack.settings()
    # a whole past day, well inside retention whenever the suite runs
    start = datetime.combine(datetime.now(settings.tz).date() - timedelta(days=14), dt_time(0, 0), tzinfo=settings.tz)
    result = simulate(settings, seed=21, agents=24, start_ms=int(start.timestamp() * 1000), duration_ms=86_400_000)
    day = start.date().isoformat()
    truth = {aid: days[day] for aid, days in result.truth["agents"].items() if day in days}
    assert len(truth) >= 20
    stack.worker()
    stack.api()
    asyncio.run(produce(stack.bootstrap, result.events))
    fields = ("scheduled_s", "in_adherence_s", "adherence", "work_scheduled_s", "worked_s", "conformance")

    def rows() -> dict[str, dict[str, Any]] | None:
        got = {r["agent_id"]: r for r in stack.get("/api/v1/adherence", date=day)}
        ok = set(got) >= set(truth) and all(all(got[a][f] == truth[a][f] for f in fields) for a in truth)
        return got if ok else None

    try:
        got = wait_until(rows, 120, "adherence equal to the simulator's truth", interval_s=1)
    except TimeoutError:
        got = {r["agent_id"]: r for r in stack.get("/api/v1/adherence", date=day)}
        diffs = {
            a: {f: (got.get(a, {}).get(f), t[f]) for f in fields if got.get(a, {}).get(f) != t[f]}
            for a, t in truth.items()
        }
        raise AssertionError({a: d for a, d in diffs.items() if d}) from None
    # exceptions account for exactly the out-of-adherence scheduled time of every agent
    kinds: set[str] = set()
    for aid, row in got.items():
        if aid not in truth:
            continue
        out_s = 0.0
        for x in row["exceptions"]:
            kinds.add(x["kind"])
            assert x["end"] is not None  # the day is over: nothing ongoing
            if x["kind"] != "unscheduled_work":
                out_s += (datetime.fromisoformat(x["end"]) - datetime.fromisoformat(x["start"])).total_seconds()
        assert out_s == pytest.approx(row["scheduled_s"] - row["in_adherence_s"], abs=1e-6), aid
    assert {"late_login", "extended_break"} <= kinds  # human behaviour really happened

    # a whole day's agent performance, teams (shrinkage, late logins, absence) and channels
    perf = [days[day] for days in result.truth["performance"].values() if day in days]
    assert {p["shift_status"] for p in perf} >= {"late", "on_time"}
    assert any(p["max_concurrent"] for p in perf) and any(p["day"]["aux_s"] for p in perf)
    last: list[str] = []

    def people_ok() -> bool:
        nonlocal last
        last = people_mismatches(stack, result.truth, day)
        return not last

    try:
        wait_until(people_ok, 60, "people figures equal to the simulator's truth", interval_s=1)
    except TimeoutError:
        raise AssertionError("\n".join(last[:20])) from None

    # staffing history: average staffed agents per interval = logged-in seconds of the agents
    # whose profile lists the queue / interval seconds, recounted from the events
    profiles: dict[str, list[str]] = {}
    points: dict[str, list[tuple[int, str, str]]] = {}
    for e in result.events:
        ts = round(datetime.fromisoformat(e["ts"]).timestamp() * 1000)
        if e["type"] == "agent.profile":
            profiles[e["agent_id"]] = e["queues"]
        elif e["type"] == "agent.state":
            points.setdefault(e["agent_id"], []).append((ts, e["event_id"], e["state"]))
    day_end_ms = round(datetime.fromisoformat(result.truth["end"]).timestamp() * 1000)  # the run ends at midnight

    def expected_avg(queue: str, lo: int, hi: int) -> float:
        logged_in_ms = 0
        for aid, pts in points.items():
            if queue not in profiles.get(aid, []):
                continue
            pts = sorted(pts)
            ends = [p[0] for p in pts[1:]] + [day_end_ms]
            for (ts, _, state), end in zip(pts, ends, strict=True):
                if state != "logged_out":
                    logged_in_ms += max(0, min(end, hi) - max(ts, lo))
        return logged_in_ms / (hi - lo)

    checked = 0
    for queue in ("sales", "support"):
        for row in stack.get("/api/v1/staffing", queue=queue, date=day):
            lo = round(datetime.fromisoformat(row["start"]).timestamp() * 1000)
            hi = round(datetime.fromisoformat(row["end"]).timestamp() * 1000)
            assert row["avg_staffed_agents"] == pytest.approx(expected_avg(queue, lo, hi), rel=1e-12), (queue, row)
            checked += 1
    assert checked >= 30
