"""One typed settings object, from a YAML file and ``FLOORWATCH_*`` environment variables.

Precedence (highest first): explicit arguments, environment, YAML file, defaults.
The YAML path is ``FLOORWATCH_CONFIG`` (default ``floorwatch.yaml``; a missing default file
means "all defaults"). Flat variables documented in docs/deploy.md (``FLOORWATCH_KAFKA``,
``FLOORWATCH_API_PORT``, ``FLOORWATCH_TIMEZONE`` ...) and nested ones with ``__``
(``FLOORWATCH_ADHERENCE__GRACE_S``) are both accepted.
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

SlFormula = Literal[
    "answered_over_offered",
    "answered_over_answered_and_late_abandons",
    "answered_and_abandoned_within_over_offered",
    "answered_over_answered",
]
Channel = Literal["voice", "chat", "email", "callback"]
Role = Literal["viewer", "supervisor", "admin", "ingest"]
# uvloop: libuv's event loop; Faust's per-message task and future churn costs ~15 % less CPU on it
EventLoop = Literal["uvloop", "asyncio"]


class ConfigError(Exception):
    """Invalid configuration; the message is one line naming the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QueueDefaults(_Strict):
    sl_threshold_s: float = Field(20, ge=0)
    sl_target: float = Field(0.8, ge=0, le=1)
    short_abandon_s: float = Field(5, ge=0)
    sl_formula: SlFormula = "answered_over_offered"

    @model_validator(mode="after")
    def _short_within_threshold(self) -> QueueDefaults:
        if self.short_abandon_s > self.sl_threshold_s:
            raise ValueError("short_abandon_s must not exceed sl_threshold_s (short abandons are within T)")
        return self


class QueueAlertOverrides(_Strict):
    """``queues[].alerts``: this queue's queue-alert thresholds; unset: the global ``alerts.*``."""

    waiting_max: int | None = Field(None, ge=0)
    longest_wait_max_s: float | None = Field(None, ge=0)
    min_contacts: int | None = Field(None, ge=0)
    abandon_rate_max: float | None = Field(None, ge=0, le=1)


class QueueConfig(QueueDefaults):
    id: str = Field(min_length=1)
    name: str = ""
    channel: Channel = "voice"
    alerts: QueueAlertOverrides = Field(default_factory=QueueAlertOverrides)

    @model_validator(mode="after")
    def _default_name(self) -> QueueConfig:
        if not self.name:
            object.__setattr__(self, "name", self.id)
        return self


class TeamTargets(_Strict):
    """What a team aims for, shown next to its figures (``GET /api/v1/teams``, the wallboard);
    unset: no target shown."""

    occupancy: float | None = Field(None, ge=0, le=1)
    adherence: float | None = Field(None, ge=0, le=1)
    aht_s: float | None = Field(None, gt=0)


class TeamConfig(_Strict):
    id: str = Field(min_length=1)
    name: str = ""
    targets: TeamTargets = Field(default_factory=TeamTargets)


# what a board may show: the wallboard's sections by their element id (docs/wallboard.md)
BoardTile = Literal["alerts", "strip", "queues", "chart", "forecast", "agents"]
MAX_BOARDS = 100


class BoardConfig(_Strict):
    """A named wallboard layout, opened as ``/?board=<id>`` (docs/wallboard.md)."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = Field("", max_length=256)
    # the board's queues and teams (empty: all); at most what one websocket filter takes
    queues: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(default_factory=list, max_length=50)
    teams: list[Annotated[str, Field(min_length=1, max_length=256)]] = Field(default_factory=list, max_length=50)
    tiles: list[BoardTile] = Field(default_factory=list)  # empty: all
    columns: int | None = Field(None, ge=1, le=12)  # queue tiles per row; null: as many as fit

    @model_validator(mode="after")
    def _no_repeats(self) -> BoardConfig:
        for key in ("queues", "teams", "tiles"):
            values = getattr(self, key)
            if len(set(values)) != len(values):
                raise ValueError(f"board {self.id!r}: {key} lists a value twice")
        return self


class KafkaConfig(_Strict):
    bootstrap: str = "127.0.0.1:9092"
    partitions: int = Field(8, ge=1, le=256)
    # output topics (latest-state records, a few hundred a second at most) as
    # ``floorwatch broker`` and the worker create them: a publish tick then makes one record
    # batch per topic, not eight, and Tansu's fetches scan every batch of a partition
    # (docs/performance.md)
    output_partitions: int = Field(1, ge=1, le=256)
    # linger of the event producers (API ingest, simulator, queue_log connector): Tansu's fetch
    # cost grows with the record batches in a log, and 5 ms batches cost it 4x what 20 ms ones do
    # (docs/performance.md); Kafka is indifferent
    producer_linger_ms: int = Field(20, ge=0, le=1000)
    # whether the worker creates missing topics (else it waits until they exist); unset: only
    # when every bootstrap host is loopback, i.e. the embedded broker (docs/deploy.md "Topics")
    create_topics: bool | None = None
    # replication factor of every topic Floorwatch creates (broker, worker, Faust's changelogs)
    replication_factor: int = Field(1, ge=1, le=32)

    @property
    def creates_topics(self) -> bool:
        """``create_topics``, or when unset: true iff every bootstrap host is a loopback address."""
        if self.create_topics is not None:
            return self.create_topics
        hosts = [_bootstrap_host(entry) for entry in self.bootstrap.split(",") if entry.strip()]
        return bool(hosts) and all(_is_loopback(host) for host in hosts)


def _bootstrap_host(entry: str) -> str:
    """The host of ``host:port``, ``[v6]:port``, ``host`` or a bare IPv6 address."""
    entry = entry.strip()
    if entry.startswith("[") and "]" in entry:
        return entry[1 : entry.index("]")]
    return entry.rpartition(":")[0] if entry.count(":") == 1 else entry


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ApiConfig(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    # permessage-deflate costs a compression per client per frame; frames are small, floors are LANs
    ws_per_message_deflate: bool = False
    # websocket frames a second the hub queues over all clients: after a step that queued n
    # frames the next waits n / this (at least 25 ms), so 1,000 clients get <= 15 frames/s each
    # (~18 us of the API's CPU per frame per client: ~27 % of a core at the full budget)
    ws_frames_per_s: int = Field(15_000, ge=100)
    fetch_max_wait_ms: int = Field(50, ge=1, le=10_000)  # the view's consumer; see worker.fetch_max_wait_ms
    event_loop: EventLoop = "uvloop"
    # websocket clients: over all tokens, and per token (a full hub closes the new socket with 1013)
    ws_max_clients: int = Field(5_000, ge=1)
    ws_max_clients_per_token: int = Field(2_000, ge=1)
    # distinct (queue, team) filters the hub renders frames for; a new one beyond is refused
    ws_max_filters: int = Field(256, ge=1)
    # label values /metrics exports per family; the rest are cut and counted
    metrics_max_queues: int = Field(500, ge=1)
    metrics_max_teams: int = Field(200, ge=1)
    # Host header values served (empty: any); a request for another host gets 400
    allowed_hosts: list[str] = Field(default_factory=list)
    # FastAPI's interactive /docs and /redoc (self-hosted assets, no CDN); /openapi.json is always served
    docs_enabled: bool = False
    # /readyz needs a worker heartbeat (fw.worker-status) at most this old; the badge turns amber after it
    worker_stale_after_s: float = Field(5, gt=0)
    # the wallboard badge turns red ("worker not reporting") after this long without a heartbeat
    worker_dead_after_s: float = Field(30, gt=0)


class IngestConfig(_Strict):
    """Plausibility limits of the event contract (floorwatch/events.py) and of HTTP ingest.

    Each limit is documented with its reason in docs/limits.md."""

    # event time must lie in [now - retention_days, now + max_future_s]
    max_future_s: float = Field(300, ge=0)
    # ids, names, customer, team, reason
    max_text_chars: int = Field(256, ge=1, le=65_536)
    # unknown extra fields of an event: nesting depth and serialised size
    max_extra_depth: int = Field(4, ge=0, le=64)
    max_extra_bytes: int = Field(4_096, ge=0)
    max_activities: int = Field(500, ge=1)
    max_forecast_intervals: int = Field(96, ge=1)
    max_forecast_offered: float = Field(100_000, gt=0)  # contacts per forecast interval
    max_forecast_aht_s: float = Field(86_400, gt=0)
    # schedules and forecasts are published ahead: their times may lie up to this far after now
    max_plan_ahead_days: int = Field(400, ge=1, le=3650)
    max_agent_queues: int = Field(1_000, ge=1)  # queues one agent.profile lists
    # one serialised event; the broker refuses records over its message.max.bytes (1 MB default)
    max_record_bytes: int = Field(1_000_000, ge=1024)
    max_items: int = Field(5_000, ge=1)  # items per POST; 413 beyond
    max_rejections_listed: int = Field(100, ge=1)  # first N listed, the rest counted by reason
    # per token: a token bucket of events (429 with Retry-After when empty)
    rate_events_per_s: float = Field(5_000, gt=0)
    rate_burst_events: int = Field(50_000, ge=1)


class StaffingConfig(_Strict):
    """Erlang staffing on the API's and the leader worker's event loop (docs/staffing.md)."""

    # required agents above this are reported as "over cap", not as a number
    max_agents_per_queue: int = Field(10_000, ge=1, le=1_000_000)


class PrivacyConfig(_Strict):
    # HMAC-SHA-256 key for customer ids (first contact resolution links contacts by it); the
    # worker refuses to start without one; `floorwatch run` makes one per session
    customer_hash_key: str = ""


DEFAULT_ACTIVITY_STATES: dict[str, list[str]] = {
    "work": ["available", "on_contact", "wrap_up"],
    "break": ["aux/break"],
    "lunch": ["aux/lunch"],
    "meeting": ["aux/meeting"],
    "training": ["aux/training"],
    "coaching": ["aux/coaching"],
    "off": ["logged_out"],
}


class AdherenceConfig(_Strict):
    grace_s: float = Field(120, ge=0)
    critical_s: float = Field(600, ge=0)
    activity_states: dict[str, list[str]] = Field(default_factory=lambda: dict(DEFAULT_ACTIVITY_STATES))

    @field_validator("activity_states", mode="before")
    @classmethod
    def _yaml_off_is_false(cls, value: Any) -> Any:
        """YAML 1.1 reads a bare ``off:`` key as ``False``; take it as the activity ``off``."""
        if isinstance(value, dict):
            return {("off" if k is False else k): v for k, v in value.items()}
        return value


class WebhookConfig(_Strict):
    url: str = Field(min_length=1)
    secret: str = Field(min_length=1)  # an empty secret would sign nothing: refused at start-up
    name: str = Field("", max_length=64)  # logs name a webhook by this (else "#<index>"), never by its URL


class OccupancyAlertConfig(_Strict):
    """``occupancy_high``: a team's rolling 15-minute occupancy above ``threshold`` for
    ``duration_s`` (sustained occupancy above ~85-90 % burns agents out)."""

    enabled: bool = True
    threshold: float = Field(0.9, ge=0, le=1)
    duration_s: float = Field(900, ge=0)
    # a team with fewer logged-in agents than this raises nothing (one busy agent is no trend)
    min_agents: int = Field(3, ge=1)


# the alert kinds a route can name (floorwatch/domain/alerts.py raises them; a unit test compares)
AlertKind = Literal[
    "adherence_break",
    "queue_waiting",
    "queue_longest_wait",
    "queue_service_level",
    "queue_abandon_rate",
    "queue_staffing_gap",
    "occupancy_high",
]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# a channel's id names it in logs and routes: never its URL or a secret
ChannelId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
MAX_ALERT_CHANNELS = 100
MAX_ALERT_ROUTES = 200
MAX_MATCH_VALUES = 1_000  # values of one match list (queues, teams ...)


class WebhookChannelConfig(_Strict):
    """A signed webhook like ``alerts.webhooks``, but receiving only what routes send it."""

    id: ChannelId
    type: Literal["webhook"]
    url: str = Field(min_length=1)
    secret: str = Field(min_length=1, repr=False)


class EmailChannelConfig(_Strict):
    """Plain-text e-mail through an SMTP server (STARTTLS and login optional)."""

    id: ChannelId
    type: Literal["email"]
    smtp_host: str = Field(min_length=1)
    smtp_port: int = Field(25, ge=1, le=65535)
    starttls: bool = False
    username: str = ""
    password: str = Field("", repr=False)
    sender: str = Field(min_length=3, pattern=r"^[^@\s]+@[^@\s]+$")
    to: list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]] = Field(min_length=1, max_length=50)


class AlertmanagerChannelConfig(_Strict):
    """Prometheus Alertmanager: ``url`` is its base URL; alerts are POSTed to ``/api/v2/alerts``."""

    id: ChannelId
    type: Literal["alertmanager"]
    url: str = Field(min_length=1, pattern=r"^https?://")


AlertChannelConfig = Annotated[
    WebhookChannelConfig | EmailChannelConfig | AlertmanagerChannelConfig, Field(discriminator="type")
]


class RouteMatch(_Strict):
    """What a route takes; each list empty = any, else the alert's value must be in it (an alert
    without a queue or team matches no non-empty ``queues`` or ``teams``; docs/alerts.md)."""

    kinds: list[AlertKind] = Field(default_factory=list, max_length=MAX_MATCH_VALUES)
    queues: list[str] = Field(default_factory=list, max_length=MAX_MATCH_VALUES)
    teams: list[str] = Field(default_factory=list, max_length=MAX_MATCH_VALUES)
    severities: list[Literal["warning", "critical"]] = Field(default_factory=list, max_length=2)


class QuietHours(_Strict):
    """A route sends nothing from ``start`` to ``end`` (local ``HH:MM``; ``end`` before ``start``
    spans midnight) on ``days`` (the day the span starts; empty = every day)."""

    start: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    end: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    days: list[Weekday] = Field(default_factory=list, max_length=7)

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("quiet_hours start and end must differ")
        return self


class AlertRouteConfig(_Strict):
    """One routing rule: alerts it ``match``es go to its ``channels``; the first matching rule
    wins unless it says ``continue: true``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    match: RouteMatch = Field(default_factory=RouteMatch)
    channels: list[ChannelId] = Field(min_length=1, max_length=MAX_ALERT_CHANNELS)
    quiet_hours: QuietHours | None = None
    continue_: bool = Field(False, alias="continue")


class AlertsConfig(_Strict):
    waiting_max: int = Field(10, ge=0)
    longest_wait_max_s: float = Field(120, ge=0)
    min_contacts: int = Field(10, ge=0)
    abandon_rate_max: float = Field(0.1, ge=0, le=1)
    webhooks: list[WebhookConfig] = Field(default_factory=list)
    # routed delivery (docs/alerts.md): channels by id, and the rules that pick them per alert
    channels: list[AlertChannelConfig] = Field(default_factory=list, max_length=MAX_ALERT_CHANNELS)
    routes: list[AlertRouteConfig] = Field(default_factory=list, max_length=MAX_ALERT_ROUTES)
    renotify_s: float = Field(900, ge=0)
    occupancy_high: OccupancyAlertConfig = Field(default_factory=OccupancyAlertConfig)
    # per queue alert kind: {min_duration_s, clear_duration_s, cooldown_s} overriding the defaults
    timing: dict[
        Literal[
            "queue_waiting", "queue_longest_wait", "queue_service_level", "queue_abandon_rate", "queue_staffing_gap"
        ],
        dict[Literal["min_duration_s", "clear_duration_s", "cooldown_s"], float],
    ] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _routes_name_channels(self) -> AlertsConfig:
        ids: set[str] = set()
        for channel in self.channels:
            if channel.id in ids:
                raise ValueError(f"duplicate alert channel id {channel.id!r}")
            ids.add(channel.id)
        for i, route in enumerate(self.routes):
            for name in route.channels:
                if name not in ids:
                    raise ValueError(f"routes[{i}] names unknown channel {name!r}")
        return self


class TokenConfig(_Strict):
    name: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    roles: list[Role]


class AuthConfig(_Strict):
    tokens: list[TokenConfig] = Field(default_factory=list)


class WorkerConfig(_Strict):
    """Faust settings: short timeouts suit the embedded broker; use Kafka-like values in deploy/."""

    # memory: tables on the heap, rebuilt from the changelog at every start; rocksdb: on disk per
    # partition under datadir, a restart reads only the changelog tail (docs/deploy.md "Table store")
    store: Literal["memory", "rocksdb"] = "memory"
    datadir: str = "data/worker"
    # rocksdb only: memtable size per DB (2 per table partition) and one block cache for the process
    rocksdb_write_buffer_bytes: int = Field(4 << 20, ge=64 << 10)
    rocksdb_block_cache_bytes: int = Field(64 << 20, ge=1 << 20)
    # memory only: the contacts table keeps the keys written in the last two generations of this
    # many keys in dicts, older ones packed in sorted runs (~125 bytes a contact; docs/deploy.md)
    contacts_hot_keys: int = Field(32_768, ge=100, le=10_000_000)
    session_timeout_s: float = Field(6, gt=0)
    heartbeat_interval_s: float = Field(0.5, gt=0)
    request_timeout_s: float = Field(20, gt=0)
    commit_interval_s: float = Field(0.5, gt=0)
    # Tansu holds every fetch for part of this wait even when data is there (Kafka returns at once):
    # Faust's fixed 1,500 ms made the worker apply events in 1.5 s bursts (docs/performance.md).
    fetch_max_wait_ms: int = Field(100, ge=1, le=10_000)
    # the publisher sends at most one record per queue partial per this period (target: event ->
    # wallboard p99 < 250 ms); earlier configs named it api.publish_interval_s, still read
    publish_interval_s: float = Field(0.1, gt=0)
    batch_size: int = Field(2000, ge=1)
    batch_within_s: float = Field(0.02, gt=0)
    event_loop: EventLoop = "uvloop"
    # Python objects on Python's allocator ("pymalloc") or the C heap ("malloc", CPython's
    # PYTHONMALLOC=malloc): Python's arenas stay resident once a restart's rebuild has left a few
    # objects in each; the C heap's free pages go back with the periodic trim (docs/deploy.md).
    # `floorwatch worker` restarts itself once with PYTHONMALLOC set; an explicit PYTHONMALLOC wins.
    object_allocator: Literal["pymalloc", "malloc"] = "malloc"
    # bytes the consumer fetches per partition at a time (Faust's consumer_max_fetch_size, 1 MiB by
    # default): the last fetch of each changelog partition stays buffered while the partition is
    # paused after recovery, 24 such buffers held ~27 MB at 1 M contacts (docs/performance.md)
    consumer_max_fetch_bytes: int = Field(262_144, ge=16_384, le=64 << 20)

    @field_validator("store", mode="before")
    @classmethod
    def _store_url_is_its_name(cls, value: Any) -> Any:
        """Earlier configs named the store by its Faust URL (``memory://``, ``rocksdb://``)."""
        return value.removesuffix("://") if isinstance(value, str) else value


class GcConfig(_Strict):
    """Garbage collection in the worker and the API (floorwatch/gc_policy.py)."""

    freeze_every_s: float = Field(10, ge=0)  # 0: Python's default collector, no freezing
    full_collect_every_s: float = Field(86_400, ge=0)  # 0: never (frozen cyclic garbage stays)
    # the C allocator's free pages go back to the system this often (glibc's malloc_trim); 0: never
    release_free_memory_every_s: float = Field(60, ge=0)


class FcrConfig(_Strict):
    window_hours: float = Field(24, gt=0, le=24 * 31)
    # an interval past its end + 2 windows is folded only once no record within a window of it was
    # accepted for this long
    fold_quiet_s: float = Field(300, ge=0)


class SimulatorConfig(_Strict):
    agents: int = Field(40, ge=1)
    speed: float = Field(1, ge=0)  # 1 = real time, 0 = as fast as possible
    seed: int = 1


class Settings(BaseSettings):
    """Everything Floorwatch reads from configuration."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    timezone: str = "UTC"
    interval_minutes: int = 30
    retention_days: int = Field(62, ge=1)
    kafka: KafkaConfig = Field(default_factory=KafkaConfig)
    api: ApiConfig = Field(default_factory=ApiConfig)
    queue_defaults: QueueDefaults = Field(default_factory=QueueDefaults)
    queues: list[QueueConfig] = Field(default_factory=list)
    teams: list[TeamConfig] = Field(default_factory=list)
    adherence: AdherenceConfig = Field(default_factory=AdherenceConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    auth: AuthConfig = Field(default_factory=AuthConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    simulator: SimulatorConfig = Field(default_factory=SimulatorConfig)
    fcr: FcrConfig = Field(default_factory=FcrConfig)
    gc: GcConfig = Field(default_factory=GcConfig)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    staffing: StaffingConfig = Field(default_factory=StaffingConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    boards: list[BoardConfig] = Field(default_factory=list, max_length=MAX_BOARDS)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("interval_minutes")
    @classmethod
    def _divides_day(cls, value: int) -> int:
        if value not in (15, 30, 60):
            raise ValueError("must be 15, 30 or 60")
        return value

    @model_validator(mode="before")
    @classmethod
    def _publish_interval_is_the_workers(cls, data: Any) -> Any:
        """``api.publish_interval_s`` of earlier configs is ``worker.publish_interval_s`` (the
        worker's publisher reads it); an explicit worker value wins."""
        if isinstance(data, dict) and isinstance(api := data.get("api"), dict) and "publish_interval_s" in api:
            api = dict(api)
            value = api.pop("publish_interval_s")
            worker = dict(data.get("worker") or {})
            worker.setdefault("publish_interval_s", value)
            data = {**data, "api": api, "worker": worker}
        return data

    @model_validator(mode="after")
    def _unique_queue_ids(self) -> Settings:
        seen: set[str] = set()
        for q in self.queues:
            if q.id in seen:
                raise ValueError(f"duplicate queue id {q.id!r}")
            seen.add(q.id)
        return self

    @model_validator(mode="after")
    def _unique_board_ids(self) -> Settings:
        seen: set[str] = set()
        for b in self.boards:
            if b.id in seen:
                raise ValueError(f"duplicate board id {b.id!r}")
            seen.add(b.id)
        return self

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def queues_by_id(self) -> dict[str, QueueConfig]:
        return {q.id: q for q in self.queues}

    def queue(self, queue_id: str) -> QueueConfig:
        """The queue's config, or ``queue_defaults`` for a queue seen only in events."""
        found = self.queues_by_id.get(queue_id)
        if found is not None:
            return found
        return QueueConfig(id=queue_id, **self.queue_defaults.model_dump())

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - pydantic passes the sources by these names
        dotenv_settings: PydanticBaseSettingsSource,  # noqa: ARG003 - (ours replace the env, dotenv and secrets ones)
        file_secret_settings: PydanticBaseSettingsSource,  # noqa: ARG003
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _EnvSource(settings_cls), _YamlSource(settings_cls))


# Flat environment names (docs/deploy.md) -> path inside the settings tree.
FLAT_ENV: dict[str, tuple[str, ...]] = {
    "FLOORWATCH_KAFKA": ("kafka", "bootstrap"),
    "FLOORWATCH_API_PORT": ("api", "port"),
    "FLOORWATCH_API_HOST": ("api", "host"),
    "FLOORWATCH_TIMEZONE": ("timezone",),
    "FLOORWATCH_INTERVAL_MINUTES": ("interval_minutes",),
    "FLOORWATCH_RETENTION_DAYS": ("retention_days",),
}


class _EnvSource(PydanticBaseSettingsSource):
    """``FLOORWATCH_*`` variables: the flat names above, and nested ones with ``__``.

    Values are read as YAML scalars/flow collections, so ``[a, b]`` and ``{x: 1}`` work.
    """

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover  # noqa: ARG002 - the base class's signature
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for var, value in os.environ.items():
            if not var.startswith("FLOORWATCH_") or value == "" or var == "FLOORWATCH_CONFIG":
                continue
            path = FLAT_ENV.get(var)
            if path is None:
                if "__" not in var:
                    continue
                path = tuple(var[len("FLOORWATCH_") :].lower().split("__"))
            try:
                parsed = yaml.safe_load(value)
            except yaml.YAMLError:
                parsed = value
            node = out
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value if path == ("kafka", "bootstrap") else parsed
        return out


def config_path() -> Path:
    return Path(os.environ.get("FLOORWATCH_CONFIG", "floorwatch.yaml"))


class _YamlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover  # noqa: ARG002 - the base class's signature
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = config_path()
        explicit = "FLOORWATCH_CONFIG" in os.environ
        if not path.exists():
            if explicit:
                raise ConfigError(f"config file {str(path)!r} (FLOORWATCH_CONFIG) does not exist")
            return {}
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path}{where}: not valid YAML") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
        return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_settings(**overrides: Any) -> Settings:
    """Build the settings; raise ``ConfigError`` with a one-line message naming the bad key."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"invalid config key {key!r}: {err['msg']}{extra}") from None
