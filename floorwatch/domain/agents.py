"""Agent profile and current state as facts: the latest ``(ts, event_id)`` wins, duplicates change nothing."""

from __future__ import annotations

from typing import Any

AgentRecord = dict[str, Any]
STATES = ("logged_out", "available", "on_contact", "wrap_up", "aux")


def _later(new: list[Any], old: list[Any] | None) -> bool:
    return old is None or (new[0], new[1]) > (old[0], old[1])


def apply_agent_event(record: AgentRecord | None, ev: dict[str, Any], ts_ms: int) -> AgentRecord | None:
    """Record after ``ev``; ``None`` when nothing changed.

    ``pr`` = profile ``[ts, eid, name, team, queues]`` plus ``max_concurrent`` (channel ->
    contacts at once) when the profile names any, ``st`` = state ``[ts, eid, state, reason]``.
    """
    cur = record or {}
    if ev["type"] == "agent.profile":
        entry = [ts_ms, ev["event_id"], ev["name"], ev["team"], list(ev["queues"])]
        if ev.get("max_concurrent"):
            entry.append(dict(sorted(ev["max_concurrent"].items())))
        slot = "pr"
    else:
        reason = ev.get("reason") if ev["state"] == "aux" else None
        entry = [ts_ms, ev["event_id"], ev["state"], reason]
        slot = "st"
    if not _later(entry, cur.get(slot)):
        return None
    new = dict(cur)
    new[slot] = entry
    return new


DEFAULT_MAX_CONCURRENT = 1  # contacts of one channel an agent holds at once unless its profile says more


def max_concurrent(record: AgentRecord | None) -> dict[str, int]:
    """The profile's contacts-at-once per channel (channels not named hold one)."""
    profile = (record or {}).get("pr")
    return dict(profile[5]) if profile and len(profile) > 5 else {}


def agent_status(agent_id: str, record: AgentRecord, now_ms: int) -> dict[str, Any]:
    """The ``fw.agent-status`` value (docs/api.md): profile plus current state and since."""
    profile = record.get("pr")
    state = record.get("st")
    return {
        "agent_id": agent_id,
        "name": profile[2] if profile else agent_id,
        "team": profile[3] if profile else None,
        "queues": profile[4] if profile else [],
        "max_concurrent": max_concurrent(record),
        "state": state[2] if state else "logged_out",
        "reason": state[3] if state else None,
        "since_ms": state[0] if state else None,
        "updated_ms": now_ms,
    }
