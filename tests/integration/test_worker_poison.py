"""One bad event among good ones: the good ones all land, also after a SIGKILL of the worker.

A poison event in the middle of 200 good ``agent.state`` events, once through HTTP ingest
(refused at the contract) and once produced straight to Kafka (dead-lettered by the worker):
every good event is applied, the poison is in ``fw.dead-letters``, no agent of the worker
crashed or restarted, and a SIGKILL right after the burst loses nothing (the worker
acknowledges a batch only after its changelog records are written).
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer

from floorwatch import topics
from tests.integration.harness import INGEST_TOKEN, Stack, read_topic, wait_until

POISON_TS = "9999-12-31T20:00:00Z"
CRASH_SIGNS = ("crashed", "Traceback", "Restarting")
# Loaded by the worker's interpreter at start-up (sitecustomize): applying the state of agent
# "boom" raises, as a defect in the domain code would. Nothing in Floorwatch knows about it.
FAULT_HOOK = """
import floorwatch.domain.agents as agents
_apply = agents.apply_agent_event
def apply_agent_event(record, ev, ts_ms):
    if ev.get("agent_id") == "boom":
        raise OverflowError("date value out of range")
    return _apply(record, ev, ts_ms)
agents.apply_agent_event = apply_agent_event
"""


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def states(prefix: str, base_ms: int, n: int = 200) -> list[dict[str, Any]]:
    """``n`` agents each reporting a state; the state says which agent it is (odd: aux)."""
    return [
        {
            "event_id": f"{prefix}-{i}",
            "type": "agent.state",
            "ts": iso(base_ms + i),
            "agent_id": f"{prefix}{i}",
            "state": "aux" if i % 2 else "available",
            **({"reason": "break"} if i % 2 else {}),
        }
        for i in range(n)
    ]


def poison(prefix: str) -> dict[str, Any]:
    return {
        "event_id": f"{prefix}-poison",
        "type": "agent.state",
        "ts": POISON_TS,
        "agent_id": f"{prefix}100",
        "state": "logged_out",
    }


async def produce_in_order(bootstrap: str, events: list[dict[str, Any]]) -> None:
    """Straight to the topic, keyed by agent (so the poison shares a partition and a batch with
    good events of its agent's partition), without the contract check of the API."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await producer.start()
    try:
        for event in events:
            await producer.send(topics.AGENT_EVENTS, orjson.dumps(event), key=event["agent_id"].encode())
        await producer.flush()
    finally:
        await producer.stop()


def agent_states(stack: Stack) -> dict[str, str]:
    return {a["agent_id"]: a["state"] for a in stack.get("/api/v1/agents")}


def expected(events: list[dict[str, Any]]) -> dict[str, str]:
    return {e["agent_id"]: e["state"] for e in events}


def dead_letters(stack: Stack) -> list[dict[str, Any]]:
    return [orjson.loads(v) for _k, v in asyncio.run(read_topic(stack.bootstrap, topics.DEAD_LETTERS, idle_s=0.5))]


def test_poison_in_the_middle_then_sigkill_loses_no_good_event(stack: Stack) -> None:
    worker = stack.worker()
    stack.api()
    base_ms = int(time.time() * 1000) - 60_000

    # 1. through the API: the poison is refused at the contract, its 200 neighbours accepted
    via_http = states("h", base_ms)
    body = orjson.dumps(via_http[:100] + [poison("h")] + via_http[100:])
    resp = httpx.post(
        f"{stack.api_url}/api/v1/events",
        content=body,
        timeout=30,
        headers={"Authorization": f"Bearer {INGEST_TOKEN}", "Content-Type": "application/json"},
    )
    assert resp.status_code == 202, resp.text
    answer = resp.json()
    assert answer["accepted"] == 200
    assert [(r["index"], r["reason"]) for r in answer["rejected"]] == [(100, "implausible_time")]
    assert "ts" in answer["rejected"][0]["error"]

    # 2. straight to Kafka: the worker dead-letters the poison and applies the rest of its batch
    direct = states("k", base_ms + 1_000)
    asyncio.run(produce_in_order(stack.bootstrap, direct[:100] + [poison("k")] + direct[100:]))
    want = expected(via_http) | expected(direct)

    def all_present() -> bool:
        got = agent_states(stack)
        return all(got.get(aid) == state for aid, state in want.items())

    wait_until(all_present, 60, "all 400 good agent states in /api/v1/agents", interval_s=1)

    # 3. SIGKILL right after another burst with a poison in it; a new worker recovers all of it
    again = states("s", base_ms + 2_000)
    asyncio.run(produce_in_order(stack.bootstrap, again[:100] + [poison("s")] + again[100:]))
    worker.kill(signal.SIGKILL)
    restarted = stack.worker("worker-restarted")
    want |= expected(again)
    wait_until(all_present, 90, "all 600 good agent states after the restart", interval_s=1)

    letters = [d for d in dead_letters(stack) if d["topic"] == topics.AGENT_EVENTS]
    poisoned = {orjson.loads(d["raw"])["event_id"] for d in letters}
    assert {"k-poison", "s-poison"} <= poisoned  # (the SIGKILL may have it dead-lettered twice)
    assert poisoned <= {"k-poison", "s-poison"}  # and no good event among them
    assert {d["reason"] for d in letters} == {"implausible_time"}
    assert all("ts" in d["error"] for d in letters)
    for proc in (worker, restarted):
        log = proc.log()
        assert not [sign for sign in CRASH_SIGNS if sign in log], log[-3000:]
    assert restarted.proc.poll() is None


def test_an_event_that_fails_to_apply_is_dead_lettered_alone(stack: Stack, tmp_path: Path) -> None:
    """A valid event whose apply raises: dead-lettered with ``processing_error`` and the
    exception text; the other 200 events of its batch land, also across a SIGKILL."""
    hook = tmp_path / "fault"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(FAULT_HOOK)
    stack.env = {**stack.env, "PYTHONPATH": str(hook)}
    worker = stack.worker()
    stack.api()
    base_ms = int(time.time() * 1000) - 60_000
    good = states("p", base_ms)
    boom = {
        "event_id": "boom-1",
        "type": "agent.state",
        "ts": iso(base_ms + 500),
        "agent_id": "boom",
        "state": "available",
    }
    asyncio.run(produce_in_order(stack.bootstrap, good[:100] + [boom] + good[100:]))
    want = expected(good)

    def all_present() -> bool:
        got = agent_states(stack)
        return all(got.get(aid) == state for aid, state in want.items())

    wait_until(all_present, 60, "the 200 good agent states", interval_s=1)
    more = states("r", base_ms + 1_000)
    asyncio.run(produce_in_order(stack.bootstrap, more[:50] + [{**boom, "event_id": "boom-2"}] + more[50:]))
    worker.kill(signal.SIGKILL)
    restarted = stack.worker("worker-restarted")
    want |= expected(more)
    wait_until(all_present, 90, "all 400 good agent states after the restart", interval_s=1)
    assert "boom" not in agent_states(stack)

    letters = [d for d in dead_letters(stack) if d["topic"] == topics.AGENT_EVENTS]
    assert {orjson.loads(d["raw"])["event_id"] for d in letters} == {"boom-1", "boom-2"}
    assert {d["reason"] for d in letters} == {"processing_error"}
    assert all(d["error"] == "OverflowError: date value out of range" for d in letters)
    for proc in (worker, restarted):
        log = proc.log()
        assert not [sign for sign in CRASH_SIGNS if sign in log], log[-3000:]
    assert "processing error on fw.agent-events" in worker.log() + restarted.log()
    assert restarted.proc.poll() is None
