"""The input event contract: typed records, validation, plausibility limits, routing to topics.

Every event has ``event_id``, ``type`` and ``ts`` (an RFC 3339 string with an offset). Types
are strict: no number is read from a string or a boolean, no boolean from a string, no time
from a number. Unknown extra fields are kept and ignored, within a nesting depth and a size.
``parse_event`` turns raw bytes or a dict into a typed event or raises ``EventError`` with a
precise one-line message naming the field (and the limit, for a limit) and a short reason.

Plausibility (``EventLimits``, from the ``ingest`` settings): with ``now_ms``, the event time
lies in [now - retention_days, now + ingest.max_future_s]; times and dates of schedules and
forecasts (published ahead) in [now - retention_days, now + ingest.max_plan_ahead_days].
Without ``now_ms`` every time and date lies in the years 1971..2200, so no date arithmetic
downstream can overflow. docs/events.md and docs/limits.md list every limit and its reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from floorwatch import topics

if TYPE_CHECKING:
    from floorwatch.config import Settings

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Fixed bounds of every time and date, with or without a clock: far inside what datetime and
# date arithmetic (a day either side, time zone offsets) can represent.
MIN_YEAR = 1971
MAX_YEAR = 2200
_MIN_YEAR_TEXT, _MAX_YEAR_TEXT = f"{MIN_YEAR:04d}", f"{MAX_YEAR:04d}"  # 4 ASCII digits compare as numbers
_HARD_LO = datetime(MIN_YEAR, 1, 1, tzinfo=UTC)
_HARD_HI = datetime(MAX_YEAR + 1, 1, 1, tzinfo=UTC)  # exclusive

Channel = Literal["voice", "chat", "email", "callback"]
MAX_CONCURRENT_CONTACTS = 32  # agent.profile max_concurrent per channel: at most this many at once
AgentStateName = Literal["logged_out", "available", "on_contact", "wrap_up", "aux"]
Activity = Literal["work", "break", "lunch", "meeting", "training", "coaching", "off"]


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
    max_plan_ahead_days: int = 400
    max_agent_queues: int = 1_000

    @classmethod
    def from_settings(cls, settings: Settings) -> EventLimits:
        i = settings.ingest
        return cls(
            retention_days=settings.retention_days,
            max_future_s=i.max_future_s,
            max_text_chars=i.max_text_chars,
            max_extra_depth=i.max_extra_depth,
            max_extra_bytes=i.max_extra_bytes,
            max_activities=i.max_activities,
            max_forecast_intervals=i.max_forecast_intervals,
            max_forecast_offered=i.max_forecast_offered,
            max_forecast_aht_s=i.max_forecast_aht_s,
            max_plan_ahead_days=i.max_plan_ahead_days,
            max_agent_queues=i.max_agent_queues,
        )


DEFAULT_LIMITS = EventLimits()


def to_ms(ts: datetime) -> int:
    """Epoch milliseconds of an aware datetime, exactly (no float rounding): the floor of the
    microseconds, as ``(ts - epoch) // timedelta(milliseconds=1)`` but in integer fields."""
    d = ts - _EPOCH
    return d.days * 86_400_000 + d.seconds * 1000 + d.microseconds // 1000


def from_ms(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


# ---- validation context: the limits and the time windows of one parse ----------------------


@dataclass(frozen=True, slots=True)
class _Window:
    lo: datetime  # inclusive
    hi: datetime  # inclusive
    lo_ms: int
    hi_ms: int
    lo_text: str  # the rule broken below ``lo``: "more than 62 days before now (retention_days)"
    hi_text: str
    # dates (YYYY-MM-DD) strictly between these hold only instants inside the window, whatever
    # their offset (offsets are under a day): the exact comparison is skipped for them
    inner_lo_day: str
    inner_hi_day: str


@dataclass(frozen=True, slots=True)
class _Context:
    limits: EventLimits
    event: _Window  # ``ts``
    plan: _Window  # schedule and forecast times
    plan_days: tuple[date, date]  # schedule and forecast dates (a day of slack for time zones)


_DAY_MS = 86_400_000
_HARD_LO_MS = to_ms(_HARD_LO)
_HARD_HI_MS = to_ms(_HARD_HI) - 1
_FIXED_LO_TEXT = f"before {MIN_YEAR}-01-01 (fixed bound of every event time)"
_FIXED_HI_TEXT = f"after {MAX_YEAR}-12-31 (fixed bound of every event time)"


def _num(x: float) -> str:
    return f"{x:g}" if isinstance(x, float) and not x.is_integer() else f"{int(x)}"


def _window(lo_ms: int, lo_text: str, hi_ms: int, hi_text: str) -> _Window:
    """The window, narrowed to the fixed bounds (whose text then names them)."""
    if lo_ms < _HARD_LO_MS:
        lo_ms, lo_text = _HARD_LO_MS, _FIXED_LO_TEXT
    if hi_ms > _HARD_HI_MS:
        hi_ms, hi_text = _HARD_HI_MS, _FIXED_HI_TEXT
    lo, hi = from_ms(lo_ms), from_ms(hi_ms)
    return _Window(
        lo,
        hi,
        lo_ms,
        hi_ms,
        lo_text,
        hi_text,
        (lo.date() + timedelta(days=1)).isoformat(),
        (hi.date() - timedelta(days=1)).isoformat(),
    )


_FIXED = _window(_HARD_LO_MS, _FIXED_LO_TEXT, _HARD_HI_MS, _FIXED_HI_TEXT)
_FIXED_DAYS = (_HARD_LO.date(), (_HARD_HI - timedelta(days=1)).date())


def _rules(limits: EventLimits) -> tuple[int, int, int, str, str, str]:
    """(retention, future, plan-ahead) in ms, capped so no sum overflows, and their texts."""
    return (
        min(limits.retention_days, 100_000) * _DAY_MS,
        int(min(limits.max_future_s, 1e10) * 1000),
        min(limits.max_plan_ahead_days, 100_000) * _DAY_MS,
        f"more than {limits.retention_days} days before now (retention_days)",
        f"more than {_num(limits.max_future_s)} s after now (ingest.max_future_s)",
        f"more than {limits.max_plan_ahead_days} days after now (ingest.max_plan_ahead_days)",
    )


_RULES: dict[EventLimits, tuple[int, int, int, str, str, str]] = {}
_LAST: list[Any] = [None, None, None]  # limits, now_ms, context of the last parse


def _context(limits: EventLimits, now_ms: int | None) -> _Context:
    if now_ms is None:
        return _Context(limits, _FIXED, _FIXED, _FIXED_DAYS)
    if _LAST[0] is limits and _LAST[1] == now_ms:
        return _LAST[2]
    rules = _RULES.get(limits)
    if rules is None:
        if len(_RULES) >= 16:  # limits come from settings: a handful at most
            _RULES.clear()
        rules = _RULES[limits] = _rules(limits)
    back_ms, future_ms, ahead_ms, back_text, future_text, ahead_text = rules
    now = min(max(int(now_ms), _HARD_LO_MS), _HARD_HI_MS)  # a broken clock must not overflow
    event = _window(now - back_ms, back_text, now + future_ms, future_text)
    plan = _window(now - back_ms, back_text, now + ahead_ms, ahead_text)
    days = (
        max(plan.lo.date() - timedelta(days=1), _FIXED_DAYS[0]),
        min(plan.hi.date() + timedelta(days=1), _FIXED_DAYS[1]),
    )
    context = _Context(limits, event, plan, days)
    _LAST[:] = [limits, now_ms, context]
    return context


_DEFAULT_CONTEXT = _context(DEFAULT_LIMITS, None)


def check_event_time(
    ts_ms: int, *, limits: EventLimits = DEFAULT_LIMITS, now_ms: int | None = None, field: str = "ts"
) -> None:
    """Raise ``EventError`` (reason ``implausible_time``) unless an event time given in epoch
    milliseconds lies in the window ``parse_event`` allows for ``ts`` with the same limits and
    now: for sources that hold a number before they build the event (the queue_log connector)."""
    w = _context(limits, now_ms).event
    if ts_ms < w.lo_ms or ts_ms > w.hi_ms:
        # within datetime's range (years 1..9999) the instant is shown as RFC 3339, else as a number
        text = (
            from_ms(ts_ms).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            if -62_135_596_800_000 < ts_ms < 253_402_214_400_000
            else f"{ts_ms} ms after 1970"
        )
        rule = w.lo_text if ts_ms < w.lo_ms else w.hi_text
        raise EventError(f"field {field!r}: {text} is {rule}", "implausible_time")


def _ctx(info: ValidationInfo) -> _Context:
    c = info.context
    return c if isinstance(c, _Context) else _DEFAULT_CONTEXT


# ---- strict field types ----------------------------------------------------------------------

# RFC 3339 date-time with an offset ('T', 't' or a space between date and time, as RFC 3339
# allows); at most nanoseconds (microseconds are kept).
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise PydanticCustomError(
            "time_type",
            "must be an RFC 3339 string with an offset (e.g. 2026-11-24T09:00:00+08:00), got {got}",
            {"got": _type_name(value)},
        )
    if len(value) > 40 or not _RFC3339.fullmatch(value):
        raise PydanticCustomError(
            "time_format",
            "must be an RFC 3339 date-time with seconds and an offset "
            "(e.g. 2026-11-24T09:00:00+08:00 or ...Z), got '{text}'",
            {"text": value[:40]},
        )
    if not _MIN_YEAR_TEXT <= value[:4] <= _MAX_YEAR_TEXT:  # before any arithmetic that could overflow
        raise PydanticCustomError(
            "implausible_time",
            "{text} is outside the years {lo}..{hi} (fixed bound of every event time)",
            {"text": value, "lo": MIN_YEAR, "hi": MAX_YEAR},
        )
    try:
        return datetime.fromisoformat(value.upper() if value[10] == "t" or value[-1] == "z" else value)
    except ValueError as exc:
        raise PydanticCustomError("time_format", "not a valid date-time: {err}", {"err": str(exc)}) from None


def _check_window(ts: datetime, text: str, w: _Window) -> None:
    day = text[:10]
    if w.inner_lo_day < day < w.inner_hi_day:
        return  # well inside: comparing aware datetimes of different offsets costs ~0.5 us each
    if ts < w.lo:
        raise PydanticCustomError("implausible_time", "{text} is {rule}", {"text": text, "rule": w.lo_text})
    if ts > w.hi:
        raise PydanticCustomError("implausible_time", "{text} is {rule}", {"text": text, "rule": w.hi_text})


def _event_time(value: Any, _handler: Any, info: ValidationInfo) -> datetime:
    ts = _parse_time(value)
    _check_window(ts, value, _ctx(info).event)
    return ts


def _plan_time(value: Any, _handler: Any, info: ValidationInfo) -> datetime:
    ts = _parse_time(value)
    _check_window(ts, value, _ctx(info).plan)
    return ts


def _plan_date(value: Any, _handler: Any, info: ValidationInfo) -> date:
    if not isinstance(value, str):
        raise PydanticCustomError(
            "date_type", "must be a date string YYYY-MM-DD, got {got}", {"got": _type_name(value)}
        )
    if not _DATE.fullmatch(value):
        raise PydanticCustomError("date_format", "must be a date YYYY-MM-DD, got '{text}'", {"text": value[:40]})
    if not _MIN_YEAR_TEXT <= value[:4] <= _MAX_YEAR_TEXT:
        raise PydanticCustomError(
            "implausible_time",
            "{text} is outside the years {lo}..{hi} (fixed bound of every event time)",
            {"text": value, "lo": MIN_YEAR, "hi": MAX_YEAR},
        )
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise PydanticCustomError("date_format", "not a valid date: {err}", {"err": str(exc)}) from None
    c = _ctx(info)
    lo, hi = c.plan_days
    if day < lo:
        raise PydanticCustomError("implausible_time", "{text} is {rule}", {"text": value, "rule": c.plan.lo_text})
    if day > hi:
        raise PydanticCustomError("implausible_time", "{text} is {rule}", {"text": value, "rule": c.plan.hi_text})
    return day


def _text(value: str, info: ValidationInfo) -> str:
    limit = _ctx(info).limits.max_text_chars
    if len(value) > limit:
        raise PydanticCustomError(
            "too_large", "{n} characters, more than {limit} (ingest.max_text_chars)", {"n": len(value), "limit": limit}
        )
    return value


def _capped(count_field: str, setting: str) -> Any:
    """A before-validator refusing a list longer than a limit before its items are validated."""

    def check(value: Any, info: ValidationInfo) -> Any:
        limit = getattr(_ctx(info).limits, count_field)
        if isinstance(value, list) and len(value) > limit:
            raise PydanticCustomError(
                "too_large",
                "{n} items, more than {limit} ({setting})",
                {"n": len(value), "limit": limit, "setting": setting},
            )
        return value

    return BeforeValidator(check)


def _at_most(limit_field: str, setting: str) -> Any:
    def check(value: float, info: ValidationInfo) -> float:
        limit = getattr(_ctx(info).limits, limit_field)
        if value > limit:
            raise PydanticCustomError(
                "value_too_large",
                "{value} is more than {limit} ({setting})",
                {"value": _num(value), "limit": _num(limit), "setting": setting},
            )
        return value

    return AfterValidator(check)


def _json_int(value: Any) -> Any:
    """A JSON integer only: not 30.0, "30" or true (a before-validator of integer literals)."""
    if type(value) is not int:
        raise PydanticCustomError("int_type", "must be an integer, got {got}", {"got": _type_name(value)})
    return value


# wrap-validators that parse the string themselves (the core parser is never called): the
# core schema stays datetime/date, so serialisation and the JSON schema are pydantic's own
EventTime = Annotated[datetime, WrapValidator(_event_time)]
PlanTime = Annotated[datetime, WrapValidator(_plan_time)]
PlanDate = Annotated[date, WrapValidator(_plan_date)]
# ids and names: strings only, at most ingest.max_text_chars characters
# (the JSON schema shows the default limit)
_TEXT_SCHEMA = {"maxLength": DEFAULT_LIMITS.max_text_chars}
Text = Annotated[str, Strict(), Field(json_schema_extra=_TEXT_SCHEMA), AfterValidator(_text)]
NonEmpty = Annotated[str, Strict(), Field(min_length=1, json_schema_extra=_TEXT_SCHEMA), AfterValidator(_text)]
Count = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]


class BaseEvent(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    event_id: NonEmpty
    type: str
    ts: EventTime

    @property
    def ts_ms(self) -> int:
        return to_ms(self.ts)


class ContactOffered(BaseEvent):
    type: Literal["contact.offered"]
    contact_id: NonEmpty
    queue: NonEmpty
    channel: Channel
    customer: Text | None = None
    parent_contact_id: Text | None = None


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
    resolved: Annotated[bool, Strict()] | None = None


class ContactTransferred(BaseEvent):
    type: Literal["contact.transferred"]
    contact_id: NonEmpty
    agent_id: NonEmpty
    to_queue: NonEmpty


class SurveyCompleted(BaseEvent):
    type: Literal["survey.completed"]
    contact_id: NonEmpty
    score: Annotated[int, Strict(), Field(ge=1, le=5)]
    agent_id: NonEmpty
    queue: NonEmpty


class AgentProfile(BaseEvent):
    type: Literal["agent.profile"]
    agent_id: NonEmpty
    name: Text
    team: Text
    queues: Annotated[list[NonEmpty], _capped("max_agent_queues", "ingest.max_agent_queues")]
    # contacts of one channel the agent may hold at once (chat); a channel not named: 1
    max_concurrent: dict[Channel, Annotated[int, Strict(), Field(ge=1, le=MAX_CONCURRENT_CONTACTS)]] | None = None


class AgentState(BaseEvent):
    type: Literal["agent.state"]
    agent_id: NonEmpty
    state: AgentStateName
    reason: Text | None = None


class ScheduledActivity(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    start: PlanTime
    end: PlanTime
    activity: Activity


class SchedulePublished(BaseEvent):
    type: Literal["schedule.published"]
    agent_id: NonEmpty
    date: PlanDate
    activities: Annotated[list[ScheduledActivity], _capped("max_activities", "ingest.max_activities")]


class ForecastInterval(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    start: PlanTime
    offered: Annotated[Count, _at_most("max_forecast_offered", "ingest.max_forecast_offered")]
    aht_s: Annotated[Count, _at_most("max_forecast_aht_s", "ingest.max_forecast_aht_s")]


class ForecastPublished(BaseEvent):
    type: Literal["forecast.published"]
    queue: NonEmpty
    date: PlanDate
    interval_minutes: Annotated[Literal[15, 30, 60], BeforeValidator(_json_int)]
    intervals: Annotated[list[ForecastInterval], _capped("max_forecast_intervals", "ingest.max_forecast_intervals")]


ContactEvent = (
    ContactOffered
    | ContactAnswered
    | ContactAbandoned
    | ContactOverflowed
    | ContactHoldStarted
    | ContactHoldEnded
    | ContactEnded
    | ContactWrapupEnded
    | ContactTransferred
    | SurveyCompleted
)
AgentEvent = AgentProfile | AgentState
Event = ContactEvent | AgentEvent | SchedulePublished | ForecastPublished

EVENT_TYPES: dict[str, type[BaseEvent]] = {
    cls.model_fields["type"].annotation.__args__[0]: cls  # type: ignore[union-attr]
    for cls in (
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
        AgentProfile,
        AgentState,
        SchedulePublished,
        ForecastPublished,
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

# pydantic error type -> EventError reason (anything else: invalid_field)
_REASONS = {"missing": "missing_field", "implausible_time": "implausible_time", "too_large": "too_large"}


def _describe(exc: ValidationError, type_name: str) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:3]:
        loc = ".".join(str(p) for p in err["loc"]) or "(event)"
        parts.append(f"field {loc!r}: {err['msg']}")
    more = f" (+{exc.error_count() - 3} more)" if exc.error_count() > 3 else ""
    return f"{type_name}: " + "; ".join(parts) + more


def _depth_over(value: Any, max_depth: int) -> bool:
    """Whether ``value`` nests containers more than ``max_depth`` levels deep (a scalar is 0,
    ``[1]`` and ``{"a": 1}`` are 1). Level by level; called on values already known to be small."""
    level = [value]
    depth = 0
    while True:
        children: list[Any] = []
        container = False
        for node in level:
            if isinstance(node, dict):
                children.extend(node.values())
                container = True
            elif isinstance(node, list):
                children.extend(node)
                container = True
        if not container:
            return False
        depth += 1
        if depth > max_depth:
            return True
        level = children


def _check_extra(extra: dict[str, Any] | None, prefix: str, limits: EventLimits, type_name: str) -> None:
    """Unknown fields: each nested at most ``max_extra_depth`` deep, all together at most
    ``max_extra_bytes`` as JSON. The loop ends at the field that crosses the size limit, so it
    runs at most ``max_extra_bytes / 6`` times (a field is at least ``"k":0,``)."""
    if not extra:
        return
    total = 0
    for key, value in extra.items():
        name = f"{prefix}{key}"
        try:
            size = len(orjson.dumps(value)) + len(orjson.dumps(key)) + 2
        except orjson.JSONEncodeError as exc:  # deeper than orjson's 255 levels, or not JSON at all
            deep = "recursion" in str(exc).lower()
            raise EventError(
                f"{type_name}: field {name!r}: "
                + (
                    f"unknown field nested more than {limits.max_extra_depth} levels deep (ingest.max_extra_depth)"
                    if deep
                    else f"unknown field is not JSON: {exc}"
                ),
                "too_large" if deep else "invalid_field",
            ) from None
        total += size
        if total > limits.max_extra_bytes:
            raise EventError(
                f"{type_name}: field {name!r}: unknown fields take more than {limits.max_extra_bytes} bytes "
                "as JSON (ingest.max_extra_bytes)",
                "too_large",
            )
        if _depth_over(value, limits.max_extra_depth):
            raise EventError(
                f"{type_name}: field {name!r}: unknown field nested more than {limits.max_extra_depth} "
                "levels deep (ingest.max_extra_depth)",
                "too_large",
            )


def parse_event(
    raw: bytes | str | dict[str, Any], *, limits: EventLimits = DEFAULT_LIMITS, now_ms: int | None = None
) -> BaseEvent:
    """Validate one event; raise ``EventError`` naming the first problems.

    With ``now_ms``, the event time must lie in [now - retention_days, now + max_future_s],
    the times and dates of schedules and forecasts in [now - retention_days, now +
    max_plan_ahead_days]; without it, every time and date in the years 1971..2200."""
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
        raise EventError(f"unknown event type {type_name[:64]!r}", "unknown_type")
    context = _DEFAULT_CONTEXT if now_ms is None and limits is DEFAULT_LIMITS else _context(limits, now_ms)
    try:
        event = adapter.validate_python(data, context=context)
    except ValidationError as exc:
        reasons = {_REASONS.get(e["type"], "invalid_field") for e in exc.errors(include_url=False)}
        reason = reasons.pop() if len(reasons) == 1 else "invalid_field"
        raise EventError(_describe(exc, type_name), reason) from None
    _check_extra(event.model_extra, "", limits, type_name)
    if isinstance(event, SchedulePublished):
        for k, act in enumerate(event.activities):  # at most max_activities
            _check_extra(act.model_extra, f"activities.{k}.", limits, type_name)
    elif isinstance(event, ForecastPublished):
        for k, interval in enumerate(event.intervals):  # at most max_forecast_intervals
            _check_extra(interval.model_extra, f"intervals.{k}.", limits, type_name)
    return event


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
