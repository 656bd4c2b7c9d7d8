"""First contact resolution and CSAT on the real stack: windows close without new events, and
the figures survive a SIGKILL of the worker (rebuilt from the customers table's changelog)."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import datetime
from typing import Any

import orjson
import pytest

from floorwatch import topics
from floorwatch.events import from_ms
from tests.integration.harness import Stack, produce, read_topic, wait_until

pytestmark = pytest.mark.integration

WINDOW_S = 20.0


@pytest.fixture
def short_window_stack(tmp_path):
    s = Stack(
        tmp_path,
        fcr={"window_hours": WINDOW_S / 3600},
        teams=[{"id": "red", "name": "Red"}, {"id": "blue", "name": "Blue"}],
    )
    try:
        yield s
    finally:
        s.close()


def scenario(t0_ms: int) -> list[dict[str, Any]]:
    """A (c1) is followed by B (c1) 3 s later; C (c2) is wrapped up unresolved; D (c3) is
    transferred and its leg E is resolved; F has no customer. a1 answers A, C, D; a2 B and E."""
    n = 0

    def ev(dt_s: float, etype: str, **fields: Any) -> dict[str, Any]:
        nonlocal n
        n += 1
        return {"event_id": f"q-{n}", "type": etype, "ts": from_ms(t0_ms + round(dt_s * 1000)).isoformat(), **fields}

    def handled(cid: str, dt: float, agent: str, queue: str = "sales", **offer: Any) -> list[dict[str, Any]]:
        return [
            ev(dt, "contact.offered", contact_id=cid, queue=queue, channel="voice", **offer),
            ev(dt + 0.5, "contact.answered", contact_id=cid, queue=queue, agent_id=agent),
        ]

    return [
        ev(-5, "agent.profile", agent_id="a1", name="Ann", team="red", queues=["sales", "support"]),
        ev(-5, "agent.profile", agent_id="a2", name="Bob", team="blue", queues=["sales", "support"]),
        *handled("A", 0, "a1", customer="c1"),
        ev(1.5, "contact.ended", contact_id="A", agent_id="a1"),
        ev(2, "contact.wrapup_ended", contact_id="A", agent_id="a1", resolved=True),
        *handled("B", 3, "a2", customer="c1"),
        ev(4, "contact.ended", contact_id="B", agent_id="a2"),
        ev(4.5, "contact.wrapup_ended", contact_id="B", agent_id="a2", resolved=True),
        ev(5, "survey.completed", contact_id="B", score=5, agent_id="a2", queue="sales"),
        *handled("C", 0.2, "a1", customer="c2"),
        ev(1, "contact.ended", contact_id="C", agent_id="a1"),
        ev(1.2, "contact.wrapup_ended", contact_id="C", agent_id="a1", resolved=False),
        ev(2, "survey.completed", contact_id="C", score=2, agent_id="a1", queue="sales"),
        *handled("D", 0.4, "a1", customer="c3"),
        ev(1, "contact.transferred", contact_id="D", agent_id="a1", to_queue="support"),
        *handled("E", 1, "a2", queue="support", customer="c3", parent_contact_id="D"),
        ev(2, "contact.ended", contact_id="E", agent_id="a2"),
        ev(2.5, "contact.wrapup_ended", contact_id="E", agent_id="a2", resolved=True),
        *handled("F", 0.6, "a1"),
    ]


def day_sums(stack: Stack, day: str) -> dict[str, int]:
    total = dict.fromkeys(("customer_contacts", "repeat_contacts", "fcr_eligible", "fcr_resolved"), 0)
    for queue in ("sales", "support"):
        for row in stack.get("/api/v1/intervals", queue=queue, date=day):
            for k in total:
                total[k] += row[k]
    return total


def test_fcr_matures_without_events_and_survives_sigkill(short_window_stack: Stack) -> None:
    stack = short_window_stack
    settings = stack.settings()
    worker = stack.worker()
    stack.api()
    t0_ms = int(time.time() * 1000)
    day = datetime.fromtimestamp(t0_ms / 1000, settings.tz).date().isoformat()
    asyncio.run(produce(stack.bootstrap, scenario(t0_ms)))

    # before the windows close: four customer contacts (A, B, C, D; E is a leg), B repeats A
    before = wait_until(
        lambda: (s := day_sums(stack, day))["customer_contacts"] == 4 and s, 15, "customer contacts counted"
    )
    assert before == {"customer_contacts": 4, "repeat_contacts": 1, "fcr_eligible": 0, "fcr_resolved": 0}
    assert time.time() * 1000 < t0_ms + WINDOW_S * 1000  # really measured before any window closed

    # after B's window (t0 + 3 s + W) closes, with no new event: A (followed by B) and C
    # (resolved: false) are not resolved; B and D (its leg E resolved) are
    closed = {"customer_contacts": 4, "repeat_contacts": 1, "fcr_eligible": 4, "fcr_resolved": 2}
    wait_until(lambda: day_sums(stack, day) == closed, WINDOW_S + 30, "FCR after the windows closed")

    def quality() -> dict[str, Any]:
        return stack.get("/api/v1/quality", date=day)

    want_agents = [
        {
            "agent_id": "a1",
            "name": "Ann",
            "team": "red",
            "fcr_eligible": 3,
            "fcr_resolved": 1,
            "fcr": 1 / 3,
            "surveys": 1,
            "csat_avg": 2.0,
            "csat_satisfied": 0.0,
        },
        {
            "agent_id": "a2",
            "name": "Bob",
            "team": "blue",
            "fcr_eligible": 1,
            "fcr_resolved": 1,
            "fcr": 1.0,
            "surveys": 1,
            "csat_avg": 5.0,
            "csat_satisfied": 1.0,
        },
    ]
    got = wait_until(lambda: (q := quality())["agents"] == want_agents and q, 15, "quality per agent")
    assert got["teams"] == [
        {
            "team": "blue",
            "agents": 1,
            "fcr_eligible": 1,
            "fcr_resolved": 1,
            "fcr": 1.0,
            "surveys": 1,
            "csat_avg": 5.0,
            "csat_satisfied": 1.0,
        },
        {
            "team": "red",
            "agents": 1,
            "fcr_eligible": 3,
            "fcr_resolved": 1,
            "fcr": 1 / 3,
            "surveys": 1,
            "csat_avg": 2.0,
            "csat_satisfied": 0.0,
        },
    ]
    sales = next(q for q in stack.get("/api/v1/queues") if q["queue"] == "sales")
    assert (sales["today"]["fcr_eligible"], sales["today"]["fcr_resolved"]) == (4, 2)  # E is a leg
    assert sales["today"]["repeat_rate"] == 1 / 4

    # SIGKILL, restart: the new worker rebuilds from the changelogs and republishes every
    # partial; those republished records alone give the same figures
    worker.kill(signal.SIGKILL)
    restarted_ms = int(time.time() * 1000)
    stack.worker("worker-restarted")

    def republished() -> dict[str, int] | None:
        latest = {
            k: orjson.loads(v)
            for k, v in asyncio.run(read_topic(stack.bootstrap, topics.QUALITY_STATS))
            if v is not None
        }
        fresh = [r for r in latest.values() if r["updated_ms"] >= restarted_ms]
        if len(fresh) < len(latest):
            return None
        sums = dict.fromkeys(closed, 0)
        for r in fresh:
            if r["kind"] == "fcr_interval":
                for k in sums:
                    sums[k] += r["counts"][k]
        return sums

    assert wait_until(republished, 30, "partials republished after the restart") == closed
    assert day_sums(stack, day) == closed
    assert quality()["agents"] == want_agents
