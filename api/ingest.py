"""HTTP ingest: read a bounded body, split it into items, charge the token's rate, validate and
serialise every item, then produce the valid ones and wait for exactly their acknowledgements.

The body is a JSON array of events or NDJSON, told apart by content: a body whose first
non-blank character is ``[`` is an array; anything else is NDJSON (one JSON value per line,
blank lines ignored), and a single JSON object, even pretty-printed over several lines, is one
event. ``index`` in a rejection is the item's 0-based position (array element, or non-blank
line). A body in which nothing parses as JSON is a 400; items that fail are rejected one by
one and are not forwarded. Limits and their reasons: docs/limits.md, "HTTP ingest".
"""

from __future__ import annotations

import asyncio
import bisect
import math
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from prometheus_client import CollectorRegistry, Counter

from floorwatch.api.kafka import EventProducer, ProducerUnavailable, RecordTooLarge
from floorwatch.events import EventError, EventLimits, dumps, parse_event, route

if TYPE_CHECKING:
    from floorwatch.config import Settings

_BOM = b"\xef\xbb\xbf"
# an error message quotes input (an unknown type name, say): the answer keeps this much of it
MAX_ERROR_CHARS = 300
# items validated, or produced, between two yields to the event loop (~15 ms of validation for
# 500 agent.state events)
ITEMS_BETWEEN_YIELDS = 500
# why a whole request is refused: label values of floorwatch_api_requests_refused_total
REFUSAL_REASONS = ("bad_body", "body_too_large", "too_many_items", "over_burst", "rate_limited", "kafka_unavailable")


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body larger than {limit} bytes; split the batch")
        self.limit = limit


class BadBody(Exception):
    """The body is not JSON at all (or not readable)."""


class TooManyItems(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} events in one request (ingest.max_items); split the batch")
        self.limit = limit


class OverBurst(Exception):
    """A request larger than the token's whole bucket: it could never be let through."""

    def __init__(self, items: int, burst: int) -> None:
        super().__init__(
            f"{items} events in one request exceed this token's burst of {burst} events "
            "(ingest.rate_burst_events); split the batch"
        )


class RateLimited(Exception):
    def __init__(self, items: int, retry_after_s: int) -> None:
        super().__init__(f"ingest rate of this token exceeded; {items} events fit in {retry_after_s} s")
        self.retry_after_s = retry_after_s


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
        self.refused = Counter(
            "floorwatch_api_requests_refused_total",
            "Requests to POST /api/v1/events refused whole (400, 413, 429, 503), by reason.",
            ["reason"],
            registry=registry,
        )
        for reason in REFUSAL_REASONS:
            self.refused.labels(reason=reason)


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


def split_items(body: bytes, max_items: int | None = None) -> list[Any]:
    """JSON values of the body; an item that is not JSON is an ``EventError`` in its place.

    More than ``max_items`` items is ``TooManyItems``: NDJSON lines are counted before they are
    parsed; an array is parsed whole first (its size is bounded by the body limit)."""
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
        if max_items is not None and len(items) > max_items:
            raise TooManyItems(max_items)
        return items
    try:
        return [orjson.loads(text)]  # one JSON value, possibly spread over several lines
    except orjson.JSONDecodeError:
        pass
    items = []
    first_error: str | None = None
    parsed_any = False
    for number, line in enumerate(text.split(b"\n"), start=1):
        line = line.strip()
        if not line:
            continue
        if max_items is not None and len(items) >= max_items:
            raise TooManyItems(max_items)
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


class IngestRateLimiter:
    """A token bucket of events per principal name: ``rate_events_per_s`` refill it up to
    ``burst_events``; a request takes as many tokens as it has items, or nothing when they do
    not fit. Buckets exist only for the configured token names (one shared bucket for any
    other name), so the map never grows beyond the configuration."""

    def __init__(self, rate_events_per_s: float, burst_events: int, names: Iterable[str]) -> None:
        self.rate_events_per_s = rate_events_per_s
        self.burst_events = burst_events
        self._names = frozenset(names)
        self._buckets: dict[str | None, tuple[float, int]] = {}  # key -> (tokens, at_ms)

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestRateLimiter:
        return cls(
            settings.ingest.rate_events_per_s, settings.ingest.rate_burst_events, (t.name for t in settings.auth.tokens)
        )

    def tokens(self, name: str, now_ms: int) -> float:
        """Events ``name`` may send at ``now_ms``."""
        key = name if name in self._names else None
        tokens, at_ms = self._buckets.get(key, (float(self.burst_events), now_ms))
        elapsed_s = max(0, now_ms - at_ms) / 1000  # a clock stepping back refills nothing
        return min(float(self.burst_events), tokens + elapsed_s * self.rate_events_per_s)

    def charge(self, name: str, items: int, now_ms: int) -> None:
        """Take ``items`` tokens, or raise ``OverBurst`` / ``RateLimited`` (nothing taken)."""
        if items > self.burst_events:
            raise OverBurst(items, self.burst_events)
        key = name if name in self._names else None
        available = self.tokens(name, now_ms)
        at_ms = max(now_ms, self._buckets.get(key, (0.0, now_ms))[1])
        if items > available:
            self._buckets[key] = (available, at_ms)
            wait_s = (items - available) / self.rate_events_per_s
            raise RateLimited(items, max(1, math.ceil(wait_s - 1e-9)))
        self._buckets[key] = (available - items, at_ms)


@dataclass(frozen=True, slots=True)
class IngestLimits:
    events: EventLimits = field(default_factory=EventLimits)
    max_record_bytes: int = 1_000_000
    max_rejections_listed: int = 100

    @classmethod
    def from_settings(cls, settings: Settings) -> IngestLimits:
        return cls(
            EventLimits.from_settings(settings), settings.ingest.max_record_bytes, settings.ingest.max_rejections_listed
        )


@dataclass(frozen=True, slots=True)
class Record:
    index: int
    topic: str
    key: bytes
    value: bytes


class Rejections:
    """Every rejection counted by reason; the ``max_listed`` of lowest index kept in full."""

    def __init__(self, max_listed: int) -> None:
        self.max_listed = max_listed
        self.listed: list[dict[str, Any]] = []
        self.count = 0
        self.by_reason: dict[str, int] = {}

    def add(self, index: int, error: str, reason: str) -> None:
        self.count += 1
        self.by_reason[reason] = self.by_reason.get(reason, 0) + 1
        if len(self.listed) >= self.max_listed and index >= self.listed[-1]["index"]:
            return
        if len(error) > MAX_ERROR_CHARS:
            error = error[: MAX_ERROR_CHARS - 1] + "…"
        bisect.insort(self.listed, {"index": index, "error": error, "reason": reason}, key=_index)
        del self.listed[self.max_listed :]


def _index(rejection: dict[str, Any]) -> int:
    return rejection["index"]


def prepare(items: list[Any], limits: IngestLimits, now_ms: int | None) -> tuple[list[Record], Rejections]:
    """Validate and serialise every item: the records to produce, and the rejections."""
    records: list[Record] = []
    rejections = Rejections(limits.max_rejections_listed)
    _prepare_into(items, 0, len(items), limits, now_ms, records, rejections)
    return records, rejections


async def prepare_yielding(
    items: list[Any], limits: IngestLimits, now_ms: int | None
) -> tuple[list[Record], Rejections]:
    """``prepare``, handing the event loop back every ``ITEMS_BETWEEN_YIELDS`` items."""
    records: list[Record] = []
    rejections = Rejections(limits.max_rejections_listed)
    for start in range(0, len(items), ITEMS_BETWEEN_YIELDS):
        if start:
            await asyncio.sleep(0)
        _prepare_into(items, start, min(len(items), start + ITEMS_BETWEEN_YIELDS), limits, now_ms, records, rejections)
    return records, rejections


def _prepare_into(
    items: list[Any],
    start: int,
    stop: int,
    limits: IngestLimits,
    now_ms: int | None,
    records: list[Record],
    rejections: Rejections,
) -> None:
    for index in range(start, stop):
        item = items[index]
        try:
            if isinstance(item, EventError):
                raise item
            if not isinstance(item, dict):
                raise EventError(f"an event must be a JSON object, got {_json_type(item)}", "not_object")
            event = parse_event(item, limits=limits.events, now_ms=now_ms)
            topic, key = route(event)
            try:
                value = dumps(event)
            except (ValueError, TypeError, RecursionError) as exc:  # orjson's and pydantic's depth limits
                raise EventError(f"event cannot be serialised: {exc}", "invalid_field") from None
            record = Record(index, topic, key.encode("utf-8"), value)
            size_bytes = len(record.key) + len(record.value)
            if size_bytes > limits.max_record_bytes:
                raise EventError(
                    f"serialised event is {size_bytes} bytes, over the limit of {limits.max_record_bytes} bytes",
                    "too_large",
                )
            records.append(record)
        except EventError as exc:
            rejections.add(index, str(exc), exc.reason)


def _consume_outcome(future: asyncio.Future[Any]) -> None:
    """Mark a delivery's exception as seen (a request that stops waiting leaves no warning)."""
    if not future.cancelled():
        future.exception()


async def produce(records: list[Record], producer: EventProducer) -> list[tuple[Record, RecordTooLarge]]:
    """Produce ``records`` and wait for the acknowledgement of each: the records refused for their
    size, or ``ProducerUnavailable`` when any other was not stored."""
    deliveries: list[tuple[Record, asyncio.Future[Any]]] = []
    refused: list[tuple[Record, RecordTooLarge]] = []
    flush_needed = False
    try:
        for n, record in enumerate(records):
            if n and n % ITEMS_BETWEEN_YIELDS == 0:
                await asyncio.sleep(0)
            try:
                delivery = await producer.send(record.topic, record.key, record.value)
            except RecordTooLarge as exc:
                refused.append((record, exc))
                continue
            if delivery is None:
                flush_needed = True
                continue
            future = asyncio.ensure_future(delivery)
            future.add_done_callback(_consume_outcome)
            deliveries.append((record, future))
    except ProducerUnavailable:
        raise
    except Exception as exc:  # a producer that fails in its own way: the client may retry
        raise ProducerUnavailable(f"Kafka refused the record: {exc!r}") from exc
    if deliveries:
        await asyncio.wait([f for _, f in deliveries])
    if flush_needed:
        await producer.flush()
    unavailable: BaseException | None = None
    not_stored = 0
    for record, outcome in deliveries:
        error = ProducerUnavailable("record delivery cancelled") if outcome.cancelled() else outcome.exception()
        if error is None:
            continue
        if isinstance(error, RecordTooLarge):
            refused.append((record, error))
        else:
            not_stored += 1
            unavailable = unavailable or error
    if unavailable is not None:
        raise ProducerUnavailable(f"{not_stored} record(s) not acknowledged: {unavailable}")
    return refused


async def ingest_items(
    items: list[Any],
    producer: EventProducer,
    metrics: ApiMetrics | None = None,
    limits: IngestLimits | None = None,
    now_ms: int | None = None,
) -> dict[str, Any]:
    """Validate and serialise the items, produce the valid ones, and return the 202 answer."""
    limits = limits or IngestLimits()
    records, rejections = await prepare_yielding(items, limits, now_ms)
    refused = await produce(records, producer) if records else []
    for record, exc in refused:
        rejections.add(record.index, str(exc), "too_large")
    accepted = len(records) - len(refused)
    if metrics is not None:
        if accepted:
            metrics.accepted.inc(accepted)
        for reason, count in rejections.by_reason.items():
            metrics.rejected.labels(reason=reason).inc(count)
    return {
        "accepted": accepted,
        "rejected": rejections.listed,
        "rejected_count": rejections.count,
        "rejected_by_reason": rejections.by_reason,
    }


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
