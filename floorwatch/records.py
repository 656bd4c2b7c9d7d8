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

``fw.agent-status`` values also carry the real-time adherence view::

    {..., "scheduled_activity": str | None, "in_adherence": bool | None,
     "out_of_adherence_since_ms": int | None, "exception": str | None}

``fw.adherence``  key ``"{agent_id}|{date}"``: ``DayAdherence.as_dict()`` plus::

    {"agent_id", "team", "date", "updated_ms", "scheduled_s", "in_adherence_s", "adherence",
     "work_scheduled_s", "worked_s", "conformance",
     "exceptions": [{"kind", "start_ms", "end_ms" | None, "scheduled", "actual"}],
     "logged_in_ms": {"<interval start ms>": ms logged in during that interval, up to now}}

``fw.alerts``  key alert id (``"{kind}:{subject}:{started_at_ms}"``): the alert record of
``floorwatch.domain.alerts`` (times in ms)::

    {"id", "kind", "subject", "severity": "warning"|"critical", "state": "firing"|"resolved",
     "started_at_ms", "resolved_at_ms", "acked_by", "acked_at_ms", "details": {...}}

``fw.alert-acks``  key alert id: ``{"id", "by", "at_ms"}`` — written by the API on
``POST /api/v1/alerts/{id}/ack``; alert engines and readers merge it into the alert (the
first ack wins; an ack never resolves).

``fw.quality-stats``  first contact resolution and CSAT partials (``kind`` says which)::

    key "fcr|{queue}|{start_ms}|{partition}" (partition of fw.customer-contacts):
    {"kind": "fcr_interval", "queue", "start_ms", "partition", "updated_ms",
     "counts": {"customer_contacts", "repeat_contacts", "fcr_eligible", "fcr_resolved"}}
    key "fcr-agent|{agent_id}|{date}|{partition}" (offered date, answering agent):
    {"kind": "fcr_agent", "agent_id", "date", "partition", "updated_ms",
     "fcr_eligible", "fcr_resolved"}
    key "csat-agent|{agent_id}|{date}|{partition}" (partition of fw.contact-events):
    {"kind": "csat_agent", "agent_id", "date", "partition", "updated_ms",
     "surveys", "score_sum", "satisfied"}

``fw.customer-contacts`` (internal, not compacted)  one record per contact batch and customer
partition (``floorwatch.domain.fcr.partition_for``), key = that partition number::

    {"items": [[hashed customer, contact_id, {"o", "q", "p", "a", "r"} | None], ...]}
    (floorwatch.domain.fcr.projection; None: the contact left this customer)

``fw.worker-status``  key = worker id (``"{hostname}:{pid}"``); one record at least every
second from each running worker, a ``null`` value (tombstone) when it stops cleanly::

    {"worker_id": str, "at_ms": int (the worker's clock when it wrote the record),
     "started_ms": int, "partitions": {input topic: [owned partition, ...]},
     "rebalancing": bool, "recovering": bool}

``fw.dead-letters``  key = source topic::

    {"reason": str, "error": str, "topic": str, "partition": int, "offset": int,
     "raw": str (first 4 KiB), "at_ms": int}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson


def interval_key(queue: str, start_ms: int, partition: int) -> str:
    return f"{queue}|{start_ms}|{partition}"


def queue_key(queue: str, partition: int) -> str:
    return f"{queue}|{partition}"


def fcr_interval_key(queue: str, start_ms: int, partition: int) -> str:
    return f"fcr|{queue}|{start_ms}|{partition}"


def agent_day_key(kind: str, agent_id: str, day: str, partition: int) -> str:
    """``kind`` is ``fcr-agent`` or ``csat-agent``."""
    return f"{kind}|{agent_id}|{day}|{partition}"


def worker_heartbeat(
    worker_id: str,
    at_ms: int,
    started_ms: int,
    partitions: dict[str, Iterable[int]],
    *,
    rebalancing: bool,
    recovering: bool,
) -> dict[str, Any]:
    """The ``fw.worker-status`` value of one heartbeat (owned partitions sorted)."""
    return {
        "worker_id": worker_id,
        "at_ms": at_ms,
        "started_ms": started_ms,
        "partitions": {t: sorted(ps) for t, ps in sorted(partitions.items())},
        "rebalancing": rebalancing,
        "recovering": recovering,
    }


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def loads(raw: bytes | None) -> Any:
    return None if raw is None else orjson.loads(raw)
