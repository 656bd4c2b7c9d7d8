"""HTTP ingest on the real stack: events of about 1 MB between two good ones in one request.

Each big event is refused for its size at a different stage: a long ``customer`` by the event
contract (``ingest.max_text_chars``), a 1.3 MB event by the API's record-size check
(``ingest.max_record_bytes``, raised here to 1.2 MB), and a 1.1 MB event that passes that check
by Kafka's client (aiokafka's 1 MiB request limit). All three are ``too_large`` rejections in
a 202; the two good events are stored, applied by the worker and served by the API.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from floorwatch import topics
from tests.integration.harness import INGEST_TOKEN, Stack, read_topic, wait_until

pytestmark = pytest.mark.integration


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def stack(tmp_path: Path):  # type: ignore[no-untyped-def]
    s = Stack(
        tmp_path,
        api={"host": "127.0.0.1", "port": 8000, "max_body_bytes": 4_000_000},
        ingest={"max_record_bytes": 1_200_000, "max_extra_bytes": 3_000_000},
    )
    try:
        yield s
    finally:
        s.close()


def test_big_events_are_too_large_rejections_and_their_neighbours_land(stack: Stack) -> None:
    stack.worker()
    stack.api()
    now_ms = int(time.time() * 1000)

    def state(n: int, **extra: Any) -> dict[str, Any]:
        return {
            "event_id": f"dirty-{n}",
            "type": "agent.state",
            "ts": iso(now_ms - 10_000 + n),
            "agent_id": f"dirty-a{n}",
            "state": "available",
            **extra,
        }

    long_customer = {
        "event_id": "dirty-1",
        "type": "contact.offered",
        "ts": iso(now_ms - 9_000),
        "contact_id": "dirty-c1",
        "queue": "sales",
        "channel": "voice",
        "customer": "c" * 1_000_000,
    }
    items = [state(0), long_customer, state(2, x_blob="b" * 1_100_000), state(3, x_blob="b" * 1_300_000), state(4)]
    body = orjson.dumps(items)
    assert 3_000_000 < len(body) < 4_000_000

    resp = httpx.post(
        f"{stack.api_url}/api/v1/events", content=body, timeout=30, headers={"Authorization": f"Bearer {INGEST_TOKEN}"}
    )
    assert resp.status_code == 202, resp.text[:500]
    answer = resp.json()
    assert answer["accepted"] == 2
    assert [(r["index"], r["reason"]) for r in answer["rejected"]] == [
        (1, "too_large"),
        (2, "too_large"),
        (3, "too_large"),
    ]
    assert "customer" in answer["rejected"][0]["error"]
    assert "MessageSizeTooLargeError" in answer["rejected"][1]["error"]
    assert answer["rejected"][2]["error"].startswith("serialised event is ")
    assert (answer["rejected_count"], answer["rejected_by_reason"]) == (3, {"too_large": 3})

    def landed() -> dict[str, str] | None:
        agents = {a["agent_id"]: a["state"] for a in stack.get("/api/v1/agents")}
        return agents if {"dirty-a0", "dirty-a4"} <= set(agents) else None

    agents = wait_until(landed, 60, "the two good events in /api/v1/agents")
    assert (agents["dirty-a0"], agents["dirty-a4"]) == ("available", "available")
    assert not {"dirty-a2", "dirty-a3"} & set(agents)

    # exactly the two good records reached Kafka; nothing of the big ones
    records = asyncio.run(read_topic(stack.bootstrap, topics.AGENT_EVENTS))
    assert sorted(orjson.loads(v)["event_id"] for _, v in records if v) == ["dirty-0", "dirty-4"]
    assert asyncio.run(read_topic(stack.bootstrap, topics.CONTACT_EVENTS, idle_s=0.5)) == []

    metrics = httpx.get(f"{stack.api_url}/metrics", timeout=10).text
    assert 'floorwatch_api_events_rejected_total{reason="too_large"} 3.0' in metrics
    assert "floorwatch_api_events_accepted_total 2.0" in metrics
    assert "Traceback" not in stack.procs[-1].log()
