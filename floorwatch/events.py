"""The input event contract of SPEC §2: typed records, validation, routing to topics.

Every event has ``event_id``, ``type`` and ``ts`` (RFC 3339 with an offset). Unknown extra
fields are kept and ignored. ``parse_event`` turns raw bytes or a dict into a typed event or
raises ``EventError`` with a precise one-line reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from floorwatch import topics

if TYPE_CHECKING:
    from floorwatch.config import Settings

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

Channel = Literal["voice", "chat", "email", "callback"]
AgentStateName = Literal["logged_out", "available", "on_contact", "wrap_up", "aux"]
Activity = Literal["work", "break", "lunch", "meeting", "training", "coaching", "off"]
NonEmpty = Annotated[str, Field(min_length=1, max_length=256)]


class EventError(ValueError):
    """An event that fails validation; ``reason`` is short and stable for metrics labels."""

    def __init__(self, message: str, reason: str = "invalid") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class EventLimits:
    """Plausibility limits of one event; defaults equal the ``ingest`` settings' defaults."""

    retention_days: int = 62
    max_future_s: float = 300
    max_text_chars: int = 256
    max_extra_depth: int = 4
    max_extra_bytes: int = 4_096
    max_activities: int = 500
    max_forecast_intervals: int = 96
    max_forecast_offered: float = 100_000
    max_forecast_aht_s: float = 86_400

    @classmethod
    def from_settings(cls, settings: Settings) -> EventLimits:
        i = settings.ingest
        return cls(retention_days=settings.retention_days, max_future_s=i.max_future_s,
                   max_text_chars=i.max_text_chars, max_extra_depth=i.max_extra_depth,
                   max_extra_bytes=i.max_extra_bytes, max_activities=i.max_activities,
                   max_forecast_intervals=i.max_forecast_intervals,
                   max_forecast_offered=i.max_forecast_offered, max_forecast_aht_s=i.max_forecast_aht_s)


DEFAULT_LIMITS = EventLimits()


def to_ms(ts: datetime) -> int:
    """Epoch milliseconds of an aware datetime, exactly (no float rounding): the floor of the
    microseconds, as ``(ts - epoch) // timedelta(milliseconds=1)`` but in integer fields."""
    d = ts - _EPOCH
    return d.days * 86_400_000 + d.seconds * 1000 + d.microseconds // 1000


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


class BaseEvent(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    event_id: NonEmpty
    type: str
    ts: AwareDatetime

    @property
    def ts_ms(self) -> int:
        return to_ms(self.ts)


class ContactOffered(BaseEvent):
    type: Literal["contact.offered"]
    contact_id: NonEmpty
    queue: NonEmpty
    channel: Channel
    customer: str | None = None
    parent_contact_id: str | None = None


class ContactAnswered(BaseEvent):
    type: Literal["contact.answered"]
    contact_id: NonEmpty
    queue: NonEmpty
    agent_id: NonEmpty


class ContactAbandoned(BaseEvent):
    type: Literal["contact.abandoned"]
    contact_id: NonEmpty
    queue: NonEmpty


class ContactOverflowed(BaseEvent):
    type: Literal["contact.overflowed"]
    contact_id: NonEmpty
    queue: NonEmpty
    reason: Literal["timeout", "no_agents", "key", "other"]


class ContactHoldStarted(BaseEvent):
    type: Literal["contact.hold_started"]
    contact_id: NonEmpty
    agent_id: NonEmpty


class ContactHoldEnded(BaseEvent):
    type: Literal["contact.hold_ended"]
    contact_id: NonEmpty
    agent_id: NonEmpty


class ContactEnded(BaseEvent):
    type: Literal["contact.ended"]
    contact_id: NonEmpty
    agent_id: NonEmpty


class ContactWrapupEnded(BaseEvent):
    type: Literal["contact.wrapup_ended"]
    contact_id: NonEmpty
    agent_id: NonEmpty
    resolved: bool | None = None


class ContactTransferred(BaseEvent):
    type: Literal["contact.transferred"]
    contact_id: NonEmpty
    agent_id: NonEmpty
    to_queue: NonEmpty


class SurveyCompleted(BaseEvent):
    type: Literal["survey.completed"]
    contact_id: NonEmpty
    score: int = Field(ge=1, le=5)
    agent_id: NonEmpty
    queue: NonEmpty


class AgentProfile(BaseEvent):
    type: Literal["agent.profile"]
    agent_id: NonEmpty
    name: str
    team: str
    queues: list[NonEmpty]


class AgentState(BaseEvent):
    type: Literal["agent.state"]
    agent_id: NonEmpty
    state: AgentStateName
    reason: str | None = None


class ScheduledActivity(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    start: AwareDatetime
    end: AwareDatetime
    activity: Activity


class SchedulePublished(BaseEvent):
    type: Literal["schedule.published"]
    agent_id: NonEmpty
    date: date
    activities: list[ScheduledActivity]


class ForecastInterval(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    start: AwareDatetime
    offered: float = Field(ge=0)
    aht_s: float = Field(ge=0)


class ForecastPublished(BaseEvent):
    type: Literal["forecast.published"]
    queue: NonEmpty
    date: date
    interval_minutes: Literal[15, 30, 60]
    intervals: list[ForecastInterval]


ContactEvent = Union[
    ContactOffered,
    ContactAnswered,
    ContactAbandoned,
    ContactOverflowed,
    ContactHoldStarted,
    ContactHoldEnded,
    ContactEnded,
    ContactWrapupEnded,
    ContactTransferred,
    SurveyCompleted,
]
AgentEvent = Union[AgentProfile, AgentState]
Event = Union[ContactEvent, AgentEvent, SchedulePublished, ForecastPublished]

EVENT_TYPES: dict[str, type[BaseEvent]] = {
    cls.model_fields["type"].annotation.__args__[0]: cls  # type: ignore[union-attr]
    for cls in (
        ContactOffered, ContactAnswered, ContactAbandoned, ContactOverflowed, ContactHoldStarted,
        ContactHoldEnded, ContactEnded, ContactWrapupEnded, ContactTransferred, SurveyCompleted,
        AgentProfile, AgentState, SchedulePublished, ForecastPublished,
    )
}

_TOPIC_BY_PREFIX = {
    "contact.": (topics.CONTACT_EVENTS, "contact_id"),
    "survey.": (topics.CONTACT_EVENTS, "contact_id"),
    "agent.": (topics.AGENT_EVENTS, "agent_id"),
    "schedule.": (topics.SCHEDULES, "agent_id"),
    "forecast.": (topics.FORECASTS, "queue"),
}

_ADAPTERS: dict[str, TypeAdapter[Any]] = {name: TypeAdapter(cls) for name, cls in EVENT_TYPES.items()}


def _describe(exc: ValidationError, type_name: str) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "(event)"
        parts.append(f"field {loc!r}: {err['msg']}")
    more = f" (+{exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return f"{type_name}: " + "; ".join(parts) + more


def parse_event(raw: bytes | str | dict[str, Any], *, limits: EventLimits = DEFAULT_LIMITS,
                now_ms: int | None = None) -> BaseEvent:
    """Validate one event; raise ``EventError`` naming the first problems.

    With ``now_ms``, the event time must also lie in [now - retention, now + max future]."""
    if isinstance(raw, (bytes, str)):
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise EventError(f"not JSON: {exc}", "not_json") from None
    else:
        data = raw
    if not isinstance(data, dict):
        raise EventError(f"an event must be a JSON object, got {type(data).__name__}", "not_object")
    type_name = data.get("type")
    if not isinstance(type_name, str):
        raise EventError("field 'type': missing or not a string", "missing_field")
    adapter = _ADAPTERS.get(type_name)
    if adapter is None:
        raise EventError(f"unknown event type {type_name!r}", "unknown_type")
    try:
        return adapter.validate_python(data)
    except ValidationError as exc:
        kinds = {e["type"] for e in exc.errors()}
        reason = "missing_field" if kinds == {"missing"} else "invalid_field"
        raise EventError(_describe(exc, type_name), reason) from None


def route(event: BaseEvent) -> tuple[str, str]:
    """(topic, key) an event is produced to."""
    for prefix, (topic, key_field) in _TOPIC_BY_PREFIX.items():
        if event.type.startswith(prefix):
            return topic, str(getattr(event, key_field))
    raise EventError(f"no topic for type {event.type!r}", "unknown_type")  # pragma: no cover


def dumps(event: BaseEvent) -> bytes:
    """Serialise an event to the wire format (extra fields preserved)."""
    return orjson.dumps(event.model_dump(mode="json", exclude_none=True))


def json_schemas() -> dict[str, Any]:
    """JSON Schema of every event type, generated from the models."""
    return {name: cls.model_json_schema() for name, cls in EVENT_TYPES.items()}
