"""HTTP ingest (SPEC §2): read a bounded body, split it into items, validate, produce.

The body is a JSON array of events or NDJSON, told apart by content: a body whose first
non-blank character is ``[`` is an array; anything else is NDJSON (one JSON value per line,
blank lines ignored), and a single JSON object, even pretty-printed over several lines, is one
event. ``index`` in a rejection is the item's 0-based position (array element, or non-blank
line). A body in which nothing parses as JSON is a 400; items that fail are rejected one by
one and are not forwarded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter

from api.kafka import EventProducer
from floorwatch.events import BaseEvent, EventError, dumps, parse_event, route

_BOM = b"\xef\xbb\xbf"


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes; split the batch")
        self.limit = limit


class BadBody(Exception):
    """The body is not JSON at all (or not readable)."""


class ApiMetrics:
    """Counters of the API process, in a registry owned by the app (``app.state.registry``)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.accepted = Counter(
            "floorwatch_api_events_accepted_total",
            "Events accepted by POST /api/v1/events and produced to Kafka.",
            registry=registry,
        )
        self.rejected = Counter(
            "floorwatch_api_events_rejected_total",
            "Events rejected by POST /api/v1/events, by reason.",
            ["reason"],
            registry=registry,
        )


async def read_limited(content_length: str | None, stream: AsyncIterator[bytes], limit: int) -> bytes:
    """The whole body, or ``BodyTooLarge`` as soon as it is known to exceed ``limit``."""
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise BadBody("invalid Content-Length header") from None
        if declared > limit:
            raise BodyTooLarge(limit)
    buf = bytearray()
    async for chunk in stream:
        buf += chunk
        if len(buf) > limit:
            raise BodyTooLarge(limit)
    return bytes(buf)


def split_items(body: bytes) -> list[Any]:
    """JSON values of the body; an item that is not JSON is an ``EventError`` in its place."""
    if body.startswith(_BOM):
        body = body[len(_BOM) :]
    text = body.strip()
    if not text:
        raise BadBody("empty body: expected a JSON array of events or NDJSON (one event per line)")
    if text[:1] == b"[":
        try:
            items = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise BadBody(
                f"body starts with '[' but is not a JSON array ({exc.msg}, line {exc.lineno} column {exc.colno})"
            ) from None
        return items
    try:
        return [orjson.loads(text)]  # one JSON value, possibly spread over several lines
    except orjson.JSONDecodeError:
        pass
    items: list[Any] = []
    first_error: str | None = None
    parsed_any = False
    for number, line in enumerate(text.split(b"\n"), start=1):
        line = line.strip()
        if not line:
            continue
        try:
            items.append(orjson.loads(line))
            parsed_any = True
        except orjson.JSONDecodeError as exc:
            message = f"line {number}: not JSON ({exc.msg}, column {exc.colno})"
            first_error = first_error or message
            items.append(EventError(message, "not_json"))
    if not parsed_any:
        raise BadBody(f"body is neither a JSON array nor NDJSON ({first_error})")
    return items


@dataclass(slots=True)
class Validated:
    events: list[BaseEvent]
    rejected: list[dict[str, Any]]


def validate(items: list[Any]) -> Validated:
    events: list[BaseEvent] = []
    rejected: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            if isinstance(item, EventError):
                raise item
            if not isinstance(item, dict):
                raise EventError(f"an event must be a JSON object, got {_json_type(item)}", "not_object")
            events.append(parse_event(item))
        except EventError as exc:
            rejected.append({"index": index, "error": str(exc), "reason": exc.reason})
    return Validated(events, rejected)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


async def ingest(body: bytes, producer: EventProducer, metrics: ApiMetrics | None = None) -> dict[str, Any]:
    """Validate the body's events, produce the valid ones, and return the 202 answer."""
    checked = validate(split_items(body))
    for event in checked.events:
        topic, key = route(event)
        await producer.send(topic, key.encode("utf-8"), dumps(event))
    if checked.events:
        await producer.flush()
    if metrics is not None:
        if checked.events:
            metrics.accepted.inc(len(checked.events))
        for rejection in checked.rejected:
            metrics.rejected.labels(reason=rejection["reason"]).inc()
    return {"accepted": len(checked.events), "rejected": checked.rejected}
