"""Render ``docs/events.md`` from the event models (``python -m floorwatch.eventdoc > docs/events.md``)."""

from __future__ import annotations

import json

from floorwatch.events import EVENT_TYPES, route

HEADER = """# Input events

Generated from `floorwatch/events.py` by `python -m floorwatch.eventdoc > docs/events.md`;
a unit test fails when this file and the code disagree. The contract is SPEC §2.

Every event is one JSON object (UTF-8) per Kafka message, or an item of a
`POST /api/v1/events` body. Common fields: `event_id` (unique; duplicates are ignored),
`type`, `ts` (RFC 3339 *with* an offset: event time, millisecond precision is kept).
Unknown extra fields are kept and ignored. An event that fails validation goes to
`fw.dead-letters` with the reason (`not_json`, `not_object`, `unknown_type`,
`missing_field`, `invalid_field`, `wrong_topic`) and never stops a worker.

| type | topic | key |
|---|---|---|
"""


def render() -> str:
    rows = []
    for name, cls in EVENT_TYPES.items():
        topic, key_field = _topic_of(name)
        rows.append(f"| `{name}` | `{topic}` | `{key_field}` |")
    parts = [HEADER + "\n".join(rows) + "\n"]
    for name, cls in EVENT_TYPES.items():
        schema = cls.model_json_schema()
        parts.append(f"\n## `{name}`\n\n```json\n{json.dumps(schema, indent=2, sort_keys=True)}\n```\n")
    return "".join(parts)


def _topic_of(name: str) -> tuple[str, str]:
    key_field = {"contact": "contact_id", "survey": "contact_id", "agent": "agent_id",
                 "schedule": "agent_id", "forecast": "queue"}[name.split(".")[0]]
    probe = EVENT_TYPES[name].model_construct(type=name, **{key_field: "k"})
    return route(probe)[0], key_field


if __name__ == "__main__":
    print(render(), end="")
