"""Occupancy on the real stack: the live gauges, the team endpoint and the ``occupancy_high``
alert, from agent states posted by hand."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
import pytest

from floorwatch import topics
from tests.integration.harness import Stack, produce, read_topic, wait_until

pytestmark = pytest.mark.integration


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def gauge(text: str, name: str, team: str | None = None) -> float | None:
    label = "" if team is None else rf'\{{team="{re.escape(team)}"\}}'
    found = re.search(rf"^{name}{label} (\S+)$", text, re.M)
    return None if found is None else float(found.group(1))


def test_a_team_on_contacts_for_15_minutes_raises_occupancy_high_and_logging_out_resolves_it(tmp_path) -> None:
    stack = Stack(tmp_path, alerts={"occupancy_high": {"threshold": 0.8, "duration_s": 2, "min_agents": 3}})
    try:
        stack.worker()
        stack.api()
        now_ms = int(time.time() * 1000)
        t0 = now_ms - 20 * 60_000  # every state began 20 minutes ago: the rolling 15 min hold one state each
        events: list[dict[str, Any]] = []
        n = 0

        def add(etype: str, ts: int, **fields: Any) -> None:
            nonlocal n
            n += 1
            events.append({"event_id": f"occ-{n}", "type": etype, "ts": iso(ts), **fields})

        # north: three agents on contacts (occupancy 1.0); south: three agents available (0.0)
        for team, state in (("north", "on_contact"), ("south", "available")):
            for i in range(3):
                agent = f"{team}-{i}"
                add("agent.profile", t0 - 60_000, agent_id=agent, name=agent, team=team, queues=["sales"])
                add("agent.state", t0, agent_id=agent, state=state)
        asyncio.run(produce(stack.bootstrap, events))

        def alerts() -> list[dict[str, Any]]:
            return [orjson.loads(v) for _, v in asyncio.run(read_topic(stack.bootstrap, topics.ALERTS, 0.4)) if v]

        fired = wait_until(lambda: [a for a in alerts() if a["kind"] == "occupancy_high"], 60, "occupancy_high")
        assert [a["subject"] for a in fired] == ["north"]  # south (0.0) raises nothing
        assert fired[0]["details"]["occupancy"] == 1.0 and fired[0]["details"]["agents"] == 3

        # the gauges: north 900 s on contacts of 900 s, south 0 of 900 s, floor 2,700 of 5,400 s
        metrics = httpx.get(f"{stack.api_url}/metrics", timeout=10).text
        assert gauge(metrics, "floorwatch_team_occupancy_ratio", "north") == 1.0
        assert gauge(metrics, "floorwatch_team_occupancy_ratio", "south") == 0.0
        assert gauge(metrics, "floorwatch_floor_occupancy_ratio") == 0.5
        teams = {row["id"]: row for row in stack.get("/api/v1/teams")["teams"]}
        assert teams["north"]["rolling_15m"]["occupancy"] == 1.0
        assert teams["south"]["rolling_15m"]["occupancy"] == 0.0
        # the ranged answer of today: one day row per team, the same agents as the one-date answer
        today = stack.get("/api/v1/teams")["date"]
        ranged = {row["id"]: row for row in stack.get("/api/v1/teams", **{"from": today, "to": today})["teams"]}
        assert [(p["period"], p["agents"]) for p in ranged["north"]["periods"]] == [(today, 3)]
        assert [(p["period"], p["agents"]) for p in ranged["south"]["periods"]] == [(today, 3)]
        week = stack.get("/api/v1/agents/north-0/performance", group="week")
        assert (week["group"], [p["to"] for p in week["periods"]], week["team"]) == ("week", [today], "north")

        # two of north's agents log out: fewer than min_agents logged in, the alert resolves
        n_before = n
        for i in range(2):
            add("agent.state", int(time.time() * 1000), agent_id=f"north-{i}", state="logged_out")
        asyncio.run(produce(stack.bootstrap, events[n_before:]))
        resolved = wait_until(
            lambda: [a for a in alerts() if a["kind"] == "occupancy_high" and a["state"] == "resolved"], 60, "resolved"
        )
        assert resolved[0]["id"] == fired[0]["id"]
    finally:
        stack.close()
