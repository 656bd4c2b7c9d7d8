"""Alert delivery off the stream's hot path: signed webhooks with retries, and queue alerts.

* ``WebhookNotifier``: a bounded queue drained by its own task; each change is POSTed as JSON
  to every configured webhook, signed with HMAC-SHA256 of the body in
  ``X-Floorwatch-Signature: sha256=<hex>``, retried with exponential backoff. A full queue
  drops the oldest notification (counted): a dead receiver never slows processing. Redirects
  are not followed (a 3xx is a failure, not retried: the signed body must not be replayed to
  another address); logs name a webhook by its ``name`` or ``#index``, never by its URL, which
  often carries a secret of the receiver.
* ``QueueAlerter``: on the leader worker only, reads the summed queue figures and the teams'
  rolling 15 min occupancy (the same view the API builds from the output topics) every second
  and runs the queue and ``occupancy_high`` alert book.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

import aiohttp
import orjson

from floorwatch import records, topics
from floorwatch.config import Settings, WebhookConfig
from floorwatch.domain.alerts import (
    OCCUPANCY_HIGH,
    AlertBook,
    Change,
    needs_notification,
    observe_queue,
    observe_team_occupancy,
    queue_conditions,
    queue_rules,
)
from floorwatch.domain.intervals import day_bounds_ms, iso, local_date
from floorwatch.domain.queue_metrics import Counts, with_outcome
from floorwatch.domain.retention import SLICE_SIZE
from floorwatch.events import EventLimits
from floorwatch.readmodel.people import live_occupancy
from floorwatch.readmodel.queries import agent_counts, queue_order, queue_tile
from floorwatch.readmodel.view import KafkaViewLoader, View, expire_sliced
from floorwatch.records import Adherence

log = logging.getLogger("floorwatch.alerts")

Post = Callable[[str, bytes, dict[str, str]], Awaitable[int]]


def sign(secret: str, body: bytes) -> str:
    """Value of ``X-Floorwatch-Signature`` for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff_delays(attempts: int, base_s: float, max_s: float) -> Iterator[float]:
    """Delays before retries 2..attempts: base, 2·base, 4·base ... capped at ``max_s``."""
    for n in range(attempts - 1):
        yield min(max_s, base_s * 2**n)


def payload(change: Change, settings: Settings) -> bytes:
    alert = change.alert
    body = {
        "type": change.type,
        "at": iso(change.at_ms, settings.tz),
        "alert": {
            **{k: v for k, v in alert.items() if not k.endswith("_at_ms")},
            "started_at": iso(alert["started_at_ms"], settings.tz),
            "resolved_at": iso(alert["resolved_at_ms"], settings.tz) if alert.get("resolved_at_ms") else None,
            "acked_at": iso(alert["acked_at_ms"], settings.tz) if alert.get("acked_at_ms") else None,
        },
    }
    return orjson.dumps(body)


async def aiohttp_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST once, following no redirect: a 3xx comes back as its status."""
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, data=body, headers=headers, allow_redirects=False) as resp,
    ):
        return resp.status


def webhook_label(hook: WebhookConfig, index: int) -> str:
    """How logs name a webhook: its configured ``name``, else ``#<index>`` in the config list."""
    return repr(hook.name) if hook.name else f"#{index}"


class WebhookNotifier:
    """Deliver alert changes to webhooks, never blocking the caller.

    Each webhook has its own bounded queue and delivery task, in order, with retries: a
    receiver that never answers delays only its own queue; when a queue is full the oldest
    notification is dropped (counted).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        post: Post = aiohttp_post,
        max_pending: int = 1000,
        attempts: int = 6,
        base_delay_s: float = 1.0,
        max_delay_s: float = 60.0,
    ) -> None:
        self.settings = settings
        self.hooks: list[WebhookConfig] = list(settings.alerts.webhooks)
        self.post = post
        self.queues: list[asyncio.Queue[bytes]] = [asyncio.Queue(max_pending) for _ in self.hooks]
        self.attempts, self.base_delay_s, self.max_delay_s = attempts, base_delay_s, max_delay_s
        self.delivered = 0
        self.failed = 0
        self.dropped = 0

    def notify(self, change: Change, *, force: bool = False) -> None:
        """Queue a change for every webhook (``force``: a reminder, whatever its type)."""
        if not self.hooks or not (force or needs_notification(change)):
            return
        body = payload(change, self.settings)
        for queue in self.queues:
            while True:
                try:
                    queue.put_nowait(body)
                    break
                except asyncio.QueueFull:
                    queue.get_nowait()
                    self.dropped += 1

    async def run(self) -> None:
        await asyncio.gather(
            *(self._drain(i, hook, queue) for i, (hook, queue) in enumerate(zip(self.hooks, self.queues, strict=True)))
        )

    async def _drain(self, index: int, hook: WebhookConfig, queue: asyncio.Queue[bytes]) -> None:
        while True:
            await self._deliver(index, hook, await queue.get())

    async def _deliver(self, index: int, hook: WebhookConfig, body: bytes) -> None:
        headers = {"Content-Type": "application/json", "X-Floorwatch-Signature": sign(hook.secret, body)}
        delays = backoff_delays(self.attempts, self.base_delay_s, self.max_delay_s)
        label = webhook_label(hook, index)
        while True:
            try:
                status = await self.post(hook.url, body, headers)
                if 200 <= status < 300:
                    self.delivered += 1
                    return
                if 300 <= status < 400:
                    log.warning("webhook %s answered %s: redirects are not followed; not delivered", label, status)
                    self.failed += 1
                    return
                log.warning("webhook %s answered %s", label, status)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                # the exception's text may quote the URL: log its type only
                log.warning("webhook %s failed: %s", label, type(exc).__name__)
            delay = next(delays, None)
            if delay is None:
                log.warning("webhook %s: gave up after %d attempts", label, self.attempts)
                self.failed += 1
                return
            await asyncio.sleep(delay)


class QueueAlerter:
    """Queue alerts from the summed figures and ``occupancy_high`` per team from the agents'
    rolling 15 min agent time; run its ``step`` on the leader only."""

    def __init__(self, settings: Settings, view: Any) -> None:
        self.settings = settings
        self.view = view
        self.book: AlertBook | None = None

    def adopt_open_alerts(self) -> AlertBook:
        """A new leader continues the alerts the previous one left firing."""
        book = AlertBook()
        for alert in self.view.alerts.values():
            if (
                isinstance(alert, dict)
                and (str(alert.get("kind", "")).startswith("queue_") or alert.get("kind") == OCCUPANCY_HIGH)
                and alert.get("state") == "firing"
            ):
                book.adopt(alert)
        return book

    def step(self, now_ms: int) -> list[Change]:
        if self.book is None:
            self.book = self.adopt_open_alerts()
        changes: list[Change] = []
        agents = agent_counts(self.view)  # staffed: logged-in agents whose profile lists the queue
        for queue in queue_order(self.view, self.settings):
            tile = queue_tile(self.view, self.settings, queue, now_ms, agents.get(queue))
            interval, rolling = tile["interval"], tile["rolling_15m"]
            values = queue_conditions(
                self.settings.alerts,
                waiting=tile["waiting"],
                longest_wait_s=tile["longest_wait_s"],
                interval_service_level=interval["service_level"],
                interval_contacts=_n(interval),
                rolling_15m_abandon_rate=rolling["abandon_rate"],
                rolling_15m_contacts=_n(rolling),
                required_agents=_required_for_gap(tile, self.settings.staffing.max_agents_per_queue),
                staffed=tile["agents"]["staffed"],
            )
            rules = queue_rules(self.settings.alerts, tile.get("sl_target") or self.settings.queue(queue).sl_target)
            changes += observe_queue(self.book, queue, values, rules, now_ms)
        changes += self.occupancy_step(self.book, now_ms)
        return changes

    def occupancy_step(self, book: AlertBook, now_ms: int) -> list[Change]:
        """``occupancy_high`` of every team with agents today, and of every team the book
        tracks (a team whose agents are gone has no occupancy: its alert resolves)."""
        config = self.settings.alerts.occupancy_high
        if not config.enabled:
            return []
        teams, _ = live_occupancy(self.view, self.settings, now_ms)
        tracked = book.trackers.get(OCCUPANCY_HIGH, {})
        changes: list[Change] = []
        for team in sorted(set(teams) | set(tracked)):
            live = teams.get(team)
            occupancy = live.time.occupancy() if live is not None else None
            logged_in = live.logged_in if live is not None else 0
            changes += observe_team_occupancy(book, team, occupancy, logged_in, config, now_ms)
        return changes


def remind(view: Any, reminded: dict[str, int], now_ms: int, every_s: float, notifier: WebhookNotifier) -> None:
    """Re-notify firing alerts nobody acknowledged, every ``every_s`` (0: never)."""
    if every_s <= 0:
        return
    every_ms = int(every_s * 1000)
    firing = {k: a for k, a in view.alerts.items() if isinstance(a, dict) and a.get("state") == "firing"}
    for key in list(reminded):
        if key not in firing:
            del reminded[key]
    for key, alert in firing.items():
        if key in view.alert_acks or alert.get("acked_by"):
            continue
        last = reminded.get(key, int(alert.get("started_at_ms") or now_ms))
        if now_ms - last >= every_ms:
            reminded[key] = now_ms
            notifier.notify(Change("reminder", now_ms, dict(alert)), force=True)


def _required_for_gap(tile: dict[str, Any], max_agents: int) -> int | None:
    """Required agents for the staffing-gap alert. Over the cap the requirement is known only to
    exceed ``max_agents``: that is a gap, so the alert gets its lower bound ``max_agents + 1``
    (at least ``staffed + 1``, so the gap is positive however many are staffed)."""
    if tile.get("required_agents_over_cap"):
        return max(max_agents, tile["agents"]["staffed"]) + 1
    return tile.get("required_agents")


def _n(stats: dict[str, Any]) -> int:
    """Contacts with an outcome of a STATS block (``queue_metrics.with_outcome``)."""
    return with_outcome(
        Counts(
            answered=stats["answered"],
            abandoned=stats["abandoned"],
            short_abandoned=stats["short_abandoned"],
            overflowed=stats["overflowed"],
        )
    )


# What the queue alerts read: queue tiles (interval and live queue partials, forecasts, agents'
# status for the staffed count) and the open alerts and their acks. Not the quality, dead-letter
# or worker-status records the API shows: at a months-long floor's size those are most of a view
# (measured at 1 M retained contacts: ~770,000 quality partials, ~400 bytes per contact).
ALERT_VIEW_REQUIRED = (topics.INTERVAL_STATS, topics.QUEUE_STATS, topics.AGENT_STATUS)
ALERT_VIEW_OPTIONAL = (topics.ALERTS, topics.ALERT_ACKS, topics.FORECASTS)
# ... and what occupancy_high reads besides the agents' status: the fw.adherence records (their
# agent_time.recent) of the last ALERT_INTERVAL_DAYS local dates only (AlertView drops the rest)
OCCUPANCY_VIEW_OPTIONAL = (topics.ADHERENCE,)
ALERT_INTERVAL_DAYS = 2  # local days of interval partials the alert view keeps: today's tiles, yesterday's at midnight


class AlertView(View):
    """The alert loop's view: like ``View``, but ``fw.adherence`` records of a local date before
    ``adherence_from()`` ("YYYY-MM-DD") are applied as their tombstone (occupancy_high reads
    today's only), and ``drop_old_adherence`` forgets those that fall behind it."""

    def __init__(self, *args: Any, adherence_from: Callable[[], str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.adherence_from = adherence_from

    def _apply_adherence(self, key: str | None, data: dict[str, Any] | None) -> str:
        if data is not None:
            day = self._adherence_date(key or "", Adherence.parse(data))
            if day < self.adherence_from():
                key = key if key is not None else f"{data['agent_id']}|{day}"
                data = None
        return super()._apply_adherence(key, data)

    def drop_old_adherence(self) -> int:
        """Forget the fw.adherence records of dates before ``adherence_from()``; how many."""
        cutoff = self.adherence_from()
        dropped = 0
        for day in [d for d in self.adherence_days if d < cutoff]:
            for key in list(self.adherence_days.get(day, {})):
                self._drop(topics.ADHERENCE, key)
                dropped += 1
        return dropped


EXPIRE_EVERY_S = 3600.0  # how often a worker's view of the output topics drops what retention no longer keeps


async def expire_alerts(
    view: View, now_ms: int, send_tombstone: Callable[[str, str], Awaitable[Any]]
) -> dict[str, int]:
    """Drop from ``view`` what ``retention_days`` no longer keeps (``View.expire``) and write a
    tombstone (``send_tombstone(topic, key)``) for each alert and ack it dropped: resolved
    alerts of every kind resolved before the cutoff, each with its ack, and acks of no alert
    made before the cutoff. Returns the records dropped by topic."""
    gone: list[tuple[str, str]] = []

    def note(topic: str, key: str) -> None:
        if topic in (topics.ALERTS, topics.ALERT_ACKS):
            gone.append((topic, key))

    dropped = await expire_sliced(view, now_ms, note)
    for i, (topic, key) in enumerate(gone, 1):
        await send_tombstone(topic, key)
        if i % SLICE_SIZE == 0:
            await asyncio.sleep(0)
    return dropped


async def run_queue_alerts(
    app: Any,
    settings: Settings,
    notifier: WebhookNotifier,
    clock: Callable[[], float] = time.time,
    period_s: float = 1.0,
) -> None:
    """Leader-only loop: view of the output topics -> queue alert book -> ``fw.alerts``.

    Every worker runs it and keeps the view; every ``EXPIRE_EVERY_S``, once the view has caught
    up, each drops what retention no longer keeps and tombstones the alerts and acks among it
    (``expire_alerts``): every worker's view applies the same rule, so a leader change leaves no
    expired alert behind, at the price of one duplicate tombstone per worker (compacted away)."""

    def intervals_from_ms() -> int:
        today = local_date(int(clock() * 1000), settings.tz)
        return day_bounds_ms(today - timedelta(days=ALERT_INTERVAL_DAYS - 1), settings.tz)[0]

    def adherence_from() -> str:
        return local_date(intervals_from_ms(), settings.tz).isoformat()

    view = AlertView(
        EventLimits.from_settings(settings),
        tz=settings.tz,
        retention_days=settings.retention_days,
        intervals_from_ms=intervals_from_ms,
        adherence_from=adherence_from,
    )
    # alerts are evaluated once a period: a fetch held for half of it is fresh enough, and every
    # fetch costs Tansu a scan of the output logs (docs/performance.md)
    loader = KafkaViewLoader(
        settings.kafka.bootstrap,
        view,
        required=ALERT_VIEW_REQUIRED,
        optional=(*ALERT_VIEW_OPTIONAL, *OCCUPANCY_VIEW_OPTIONAL),
        fetch_max_wait_ms=max(settings.api.fetch_max_wait_ms, round(period_s * 500)),
    )
    loading = asyncio.create_task(loader.run())
    alerter = QueueAlerter(settings, view)
    reminded: dict[str, int] = {}
    alerts_topic = app.topic(
        topics.ALERTS, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    acks_topic = app.topic(
        topics.ALERT_ACKS, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    tombstone_topics = {topics.ALERTS: alerts_topic, topics.ALERT_ACKS: acks_topic}

    async def send_tombstone(topic: str, key: str) -> Any:
        return await tombstone_topics[topic].send(key=key.encode(), value=None)

    last_expiry_s = float("-inf")
    try:
        while not app.should_stop:
            await asyncio.sleep(period_s)
            if loader.ready and not (app.rebalancing or app.in_recovery) and clock() - last_expiry_s >= EXPIRE_EVERY_S:
                last_expiry_s = clock()
                try:
                    dropped = await expire_alerts(view, int(last_expiry_s * 1000), send_tombstone)
                    dropped["old adherence records"] = view.drop_old_adherence()
                    if alerter.book is not None:
                        dropped["queue alert trackers"] = alerter.book.prune(int(last_expiry_s * 1000))
                    if any(dropped.values()):
                        log.info("retention: the alert view dropped %s", dropped)
                except Exception:  # a retention bug must not stop the alerts
                    log.exception("alert view expiry failed")
            leader = app.is_leader() and not (app.rebalancing or app.in_recovery)
            if not leader or not loader.ready:
                alerter.book = None  # re-adopt from the topic when leadership comes back
                continue
            try:
                for change in alerter.step(int(clock() * 1000)):
                    ack = view.alert_acks.get(change.alert["id"])
                    if ack and not change.alert.get("acked_by"):
                        change.alert.update(acked_by=ack.get("by"), acked_at_ms=ack.get("at_ms"))
                    await alerts_topic.send(
                        key=change.alert["id"].encode(), value=records.dumps(records.alert_record(change.alert))
                    )
                    notifier.notify(change)
                remind(view, reminded, int(clock() * 1000), settings.alerts.renotify_s, notifier)
            except Exception:  # an alert evaluation bug must not stop the worker
                log.exception("queue alert step failed")
    finally:
        loading.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await loading
        await loader.stop()
