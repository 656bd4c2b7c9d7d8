"""Records on the output topics (worker -> API). Keys are UTF-8 strings, values JSON.

Workers never repartition contact events: each worker publishes *partials* for the source
partitions it owns, keyed with the partition number, and readers sum the partials of all
partitions. A partial is last-value-wins (compacted topics); a ``null`` value deletes it.

``fw.interval-stats``  key ``"{queue}|{start_ms}|{partition}"``::

    {"queue": str, "start_ms": int, "end_ms": int, "partition": int,
     "counts": Counts.as_dict(), "rules": {sl_threshold_s, short_abandon_s, sl_target,
     sl_formula}, "mixed_rules": bool, "updated_ms": int}

``fw.queue-stats``  key ``"{queue}|{partition}"``::

    {"queue": str, "partition": int, "waiting": int, "oldest_waiting_ms": int | None,
     "rolling_15m": Counts.as_dict(), "rolling_60m": Counts.as_dict(), "computed_ms": int}

``fw.agent-status``  key ``agent_id``::

    {"agent_id", "name", "team", "queues": [...], "state", "reason", "since_ms",
     "updated_ms"}

``fw.dead-letters``  key = source topic::

    {"reason": str, "error": str, "topic": str, "partition": int, "offset": int,
     "raw": str (first 4 KiB), "at_ms": int}
"""

from __future__ import annotations

from typing import Any

import orjson


def interval_key(queue: str, start_ms: int, partition: int) -> str:
    return f"{queue}|{start_ms}|{partition}"


def queue_key(queue: str, partition: int) -> str:
    return f"{queue}|{partition}"


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def loads(raw: bytes | None) -> Any:
    return None if raw is None else orjson.loads(raw)
