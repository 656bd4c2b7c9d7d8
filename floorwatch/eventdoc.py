"""Render ``docs/events.md`` from the event models (``python -m floorwatch.eventdoc > docs/events.md``)."""

from __future__ import annotations

import json
from typing import Any

from floorwatch.events import EVENT_TYPES, route

HEADER = """# Input events

Generated from `floorwatch/events.py` by `python -m floorwatch.eventdoc > docs/events.md`;
a unit test fails when this file and the code disagree.

Every event is one JSON object (UTF-8) per Kafka message, or an item of a
`POST /api/v1/events` body. Common fields: `event_id` (unique; duplicates are ignored),
`type`, `ts` (RFC 3339 *with* an offset: event time, millisecond precision is kept).
Unknown extra fields are kept and ignored, within the limits below. An event that fails
validation goes to `fw.dead-letters` with the reason (`not_json`, `not_object`,
`unknown_type`, `missing_field`, `invalid_field`, `implausible_time`, `too_large`,
`wrong_topic`) and a one-line message naming the field (and the limit, for a limit), and
never stops a worker.

## Types are strict

* Times (`ts`, activities' `start`/`end`, forecast intervals' `start`) are RFC 3339 strings
  with seconds and an offset: `2026-11-24T09:00:00+08:00`, `2026-11-24T01:00:00.250Z`
  (`T`, `t` or a space between date and time; `Z` or `z`; at most 9 fractional digits, kept
  to the microsecond). A number (`0`, `1e11`), a string of digits, a time without seconds or
  without an offset, or `+0800` (no colon) is `invalid_field`.
* Dates (`date` of schedules and forecasts) are `YYYY-MM-DD` strings only.
* Numbers are JSON numbers: `"5"` is not 5 and `true` is not 1. Integer fields (`score`,
  `interval_minutes`) take JSON integers only (`5`, not `5.0`); `offered` and `aht_s` take
  integers or decimals, finite.
* Booleans (`resolved`) are `true`/`false`: not `"no"`, not `0`.
* Text fields (ids, names, `customer`, `team`, `reason`, queue names) are strings.

## Limits

Each is a setting (`floorwatch.yaml` or `FLOORWATCH_*`); the JSON schemas below show the
defaults. `now` is the clock of the process that validates (the API when it takes a POST,
the worker when it reads a topic, the queue_log connector for each line).

| limit | setting (default) | reason |
|---|---|---|
| `ts` no earlier than now - retention | `retention_days` (62) | older events would be pruned at once; replays of retained history stay allowed (`implausible_time`) |
| `ts` no later than now + this | `ingest.max_future_s` (300 s) | a future time would pin an agent's state or an interval for ever; 5 minutes absorbs clock skew (`implausible_time`) |
| times and dates of schedules and forecasts: from now - retention to now + this | `ingest.max_plan_ahead_days` (400 days) | plans are published ahead, a year and a bit at most; dates get a day of slack either side for time zones (`implausible_time`) |
| every time and date, with or without a clock | years 1971..2200 (fixed) | no date arithmetic downstream (a day either side, time zones) can overflow (`implausible_time`) |
| characters of an id, name, `customer`, `team`, `reason` | `ingest.max_text_chars` (256) | ids are keys of tables, labels and frames (`too_large`) |
| nesting depth of an unknown extra field | `ingest.max_extra_depth` (4) | extras are carried into records; JSON encoders refuse deep nesting (orjson: 255 levels) (`too_large`) |
| bytes of all unknown extra fields as JSON | `ingest.max_extra_bytes` (4,096) | extras are kept in every record of the event (`too_large`) |
| activities per schedule | `ingest.max_activities` (500) | one agent-day; normalising a schedule is O(n log n) but runs on the worker's loop (`too_large`) |
| intervals per forecast | `ingest.max_forecast_intervals` (96) | one day of 15-minute intervals (`too_large`) |
| `offered` per forecast interval | `ingest.max_forecast_offered` (100,000) | staffing maths grows with the load (`invalid_field`) |
| `aht_s` per forecast interval | `ingest.max_forecast_aht_s` (86,400) | a handle time over a day is a unit error (`invalid_field`) |
| queues per `agent.profile` | `ingest.max_agent_queues` (1,000) | the view loops over an agent's queues (`too_large`) |

Unknown extra fields beyond a limit are rejected with the event, not silently dropped:
a sender learns of it from the dead letter or the POST response.

## Types and topics

| type | topic | key |
|---|---|---|
"""  # noqa: E501 - the rows of a Markdown table (docs/events.md) are one line each


def render() -> str:
    rows = []
    for name in EVENT_TYPES:
        topic, key_field = _topic_of(name)
        rows.append(f"| `{name}` | `{topic}` | `{key_field}` |")
    parts = [HEADER + "\n".join(rows) + "\n"]
    for name, cls in EVENT_TYPES.items():
        schema = cls.model_json_schema()
        parts.append(f"\n## `{name}`\n\n```json\n{json.dumps(schema, indent=2, sort_keys=True)}\n```\n")
    return "".join(parts)


def _topic_of(name: str) -> tuple[str, str]:
    key_field = {
        "contact": "contact_id",
        "survey": "contact_id",
        "agent": "agent_id",
        "schedule": "agent_id",
        "forecast": "queue",
    }[name.split(".")[0]]
    fields: dict[str, Any] = {"type": name, key_field: "k"}
    probe = EVENT_TYPES[name].model_construct(**fields)
    return route(probe)[0], key_field


if __name__ == "__main__":
    print(render(), end="")
