"""Alert delivery off the stream's hot path: signed webhooks with retries, and queue alerts.

* ``WebhookNotifier``: a bounded queue drained by its own task; each change is POSTed as JSON
  to every configured webhook, signed with HMAC-SHA256 of the body in
  ``X-Floorwatch-Signature: sha256=<hex>``, retried with exponential backoff. A full queue
  drops the oldest notification (counted): a dead receiver never slows processing. Redirects
  are not followed (a 3xx is a failure, not retried: the signed body must not be replayed to
  another address); logs name a webhook by its ``name`` or ``#index``, never by its URL, which
  often carries a secret of the receiver.
* Routed channels (``alerts.channels`` picked per alert by ``alerts.routes``,
  floorwatch/domain/alert_routing.py): webhook, e-mail and Alertmanager (streams/alert_channels.py),
  a bounded queue and task each like the webhooks, counted per channel in ``channel_stats``
  (quiet-hours suppressions too); the leader re-POSTs firing alerts to Alertmanager every
  ``ALERTMANAGER_REFRESH_S`` (docs/alerts.md).
* ``QueueAlerter``: on the leader worker only, reads the summed queue figures and the teams'
  rolling 15 min occupancy (the same view the API builds from the output topics) every second
  and runs the queue and ``occupancy_high`` alert book.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, TypeGuard

import aiohttp

from floorwatch import records, topics
from floorwatch.config import Settings, WebhookConfig
from floorwatch.domain.alert_routing import Route, route_alert
from floorwatch.domain.alerts import (
    OCCUPANCY_HIGH,
    AlertBook,
    Change,
    needs_notification,
    observe_queue,
    observe_team_occupancy,
    queue_conditions,
    queue_limits,
    queue_rules,
)
from floorwatch.domain.intervals import day_bounds_ms, local_date
from floorwatch.domain.queue_metrics import Counts, with_outcome
from floorwatch.domain.retention import SLICE_SIZE
from floorwatch.events import EventLimits
from floorwatch.readmodel.people import live_occupancy
from floorwatch.readmodel.queries import agent_counts, queue_order, queue_tile
from floorwatch.readmodel.view import KafkaViewLoader, View, expire_sliced
from floorwatch.records import Adherence
from floorwatch.streams.alert_channels import (
    ALERTMANAGER_REFRESH_S,
    AlertmanagerChannel,
    Channel,
    GiveUp,
    Retry,
    SmtpSend,
    aiohttp_post,
    alertmanager_alert,
    alertmanager_entries,
    make_channel,
    payload,
    sign,
    smtp_send,
)

log = logging.getLogger("floorwatch.alerts")

Post = Callable[[str, bytes, dict[str, str]], Awaitable[int]]
ALERTMANAGER_BATCH = 500  # alerts per POST of a refresh
# alerts a refresh handles between two turns of the event loop (measured: ~75-100 us an alert,
# mostly building its entry: 300 firing alerts ~15 ms, 5,000 ~0.4-0.5 s in all)
REFRESH_SLICE = 250
CHANNEL_STATS_LOG_S = 900.0  # the routed channels' counters are logged this often when they changed


def backoff_delays(attempts: int, base_s: float, max_s: float) -> Iterator[float]:
    """Delays before retries 2..attempts: base, 2·base, 4·base ... capped at ``max_s``."""
    for n in range(attempts - 1):
        yield min(max_s, base_s * 2**n)


def webhook_label(hook: WebhookConfig, index: int) -> str:
    """How logs name a webhook: its configured ``name``, else ``#<index>`` in the config list."""
    return repr(hook.name) if hook.name else f"#{index}"


def webhook_labels(hooks: list[WebhookConfig]) -> list[str]:
    """How the heartbeat and ``/metrics`` name each webhook: its ``webhook_label`` (what logs
    say), unless that is over 64 characters or names an earlier webhook too: then ``#<index>``.
    Never a channel id (those have no quote and no ``#``)."""
    out: list[str] = []
    for index, hook in enumerate(hooks):
        label = webhook_label(hook, index)
        out.append(label if len(label) <= records.MAX_ALERT_CHANNEL_LABEL and label not in out else f"#{index}")
    return out


def _counters(stats: ChannelStats, queued: int) -> dict[str, int]:
    return {
        "delivered": stats.delivered,
        "failed": stats.failed,
        "dropped": stats.dropped,
        "quiet_hours": stats.quiet,
        "queued": queued,
    }


@dataclass(slots=True)
class ChannelStats:
    """Counters of one routed channel (``WebhookNotifier.channel_stats``)."""

    delivered: int = 0  # items the receiver accepted
    failed: int = 0  # items given up (a refusal, or every attempt failed)
    dropped: int = 0  # items dropped from a full queue (the oldest goes)
    quiet: int = 0  # notifications a matching route held back in its quiet hours


class WebhookNotifier:
    """Deliver alert changes to webhooks and routed channels, never blocking the caller.

    Each webhook (``alerts.webhooks``: every notified change) and each routed channel
    (``alerts.channels``: what ``alerts.routes`` send it) has its own bounded queue and
    delivery task, in order, with retries: a receiver that never answers delays only its own
    queue; when a queue is full the oldest notification is dropped (counted).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        post: Post = aiohttp_post,
        smtp: SmtpSend = smtp_send,
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
        self.hook_stats: list[ChannelStats] = [ChannelStats() for _ in self.hooks]  # per webhook (sum: above)
        self.channels: dict[str, Channel] = {
            c.id: make_channel(c, settings, post, smtp) for c in settings.alerts.channels
        }
        self.channel_queues: dict[str, asyncio.Queue[Any]] = {cid: asyncio.Queue(max_pending) for cid in self.channels}
        self.channel_stats: dict[str, ChannelStats] = {cid: ChannelStats() for cid in self.channels}
        self.routes: list[Route] = [Route.of(r) for r in settings.alerts.routes]
        # Alertmanager channel id -> alert id -> (severity, alert) of the last refresh's POST
        self.am_posted: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {}

    def notify(self, change: Change, *, force: bool = False) -> None:
        """Queue a change for every webhook and the channels its routes name (``force``: a
        reminder, whatever its type)."""
        if not (force or needs_notification(change)):
            return
        if self.hooks:
            body = payload(change, self.settings)
            for index, queue in enumerate(self.queues):
                while True:
                    try:
                        queue.put_nowait(body)
                        break
                    except asyncio.QueueFull:
                        queue.get_nowait()
                        self.dropped += 1
                        self.hook_stats[index].dropped += 1
        if self.routes:
            self.route(change)

    def route(self, change: Change) -> None:
        """Queue a change for the channels the routes pick at the change's local time."""
        local = datetime.fromtimestamp(change.at_ms / 1000, self.settings.tz)
        routing = route_alert(change.alert, self.routes, local)
        for cid in routing.quiet:
            self.channel_stats[cid].quiet += 1
        for cid in routing.send:
            try:
                item = self.channels[cid].build(change)
            except Exception as exc:  # noqa: BLE001 - a malformed record must not stop the caller's loop
                log.warning("alert channel %r: cannot build the notification: %s", cid, type(exc).__name__)
                self.channel_stats[cid].failed += 1
                continue
            self._put(cid, item)

    def _put(self, cid: str, item: Any) -> None:
        queue = self.channel_queues[cid]
        while True:
            try:
                queue.put_nowait(item)
                return
            except asyncio.QueueFull:
                queue.get_nowait()
                self.channel_stats[cid].dropped += 1

    async def refresh_alertmanager(self, alerts: Mapping[str, Any], now_ms: int) -> int:
        """Re-POST the firing alerts of ``alerts`` (the view's ``fw.alerts`` records) to the
        Alertmanager channels their routes pick at ``now_ms``, and POST the resolution of those
        the previous refresh posted that have resolved since (again: the raising worker posted
        it already, this covers a lost POST and a refresh that raced it). Run on the leader
        every ``ALERTMANAGER_REFRESH_S``; gives the event loop a turn every ``REFRESH_SLICE``
        alerts. Returns the alerts queued."""
        am = [cid for cid, channel in self.channels.items() if isinstance(channel, AlertmanagerChannel)]
        if not am or not self.routes:
            return 0
        local = datetime.fromtimestamp(now_ms / 1000, self.settings.tz)
        batches: dict[str, list[dict[str, Any]]] = {cid: [] for cid in am}
        posted: dict[str, dict[str, tuple[str, dict[str, Any]]]] = {cid: {} for cid in am}
        for i, key in enumerate(sorted(alerts), 1):
            if i % REFRESH_SLICE == 0:
                await asyncio.sleep(0)
            alert = alerts.get(key)
            if not _postable(alert) or alert.get("state") != "firing":
                continue
            for cid in route_alert(alert, self.routes, local).send:
                if cid not in batches:
                    continue
                before = self.am_posted.get(cid, {}).get(alert["id"])
                batches[cid] += alertmanager_entries(
                    alert, self.settings, now_ms, previous_severity=before[0] if before else None
                )
                posted[cid][alert["id"]] = (str(alert.get("severity")), alert)
        for cid in am:
            for aid, (severity, old) in self.am_posted.get(cid, {}).items():
                if aid in posted[cid]:
                    continue
                current = alerts.get(aid)
                if _postable(current) and current.get("state") == "resolved":
                    batches[cid] += alertmanager_entries(current, self.settings, now_ms, previous_severity=severity)
                elif current is None:  # gone from the view (expired): over
                    batches[cid].append(alertmanager_alert(old, self.settings, ends_at_ms=now_ms))
                # still firing but not routed now (quiet hours): not posted, lapses in Alertmanager
        self.am_posted = posted
        queued = 0
        for cid, entries in batches.items():
            channel = self.channels[cid]
            assert isinstance(channel, AlertmanagerChannel)
            for i in range(0, len(entries), ALERTMANAGER_BATCH):
                self._put(cid, channel.build_entries(entries[i : i + ALERTMANAGER_BATCH]))
            queued += len(entries)
        return queued

    async def run(self) -> None:
        await asyncio.gather(
            *(self._drain(i, hook, queue) for i, (hook, queue) in enumerate(zip(self.hooks, self.queues, strict=True))),
            *(self._drain_channel(cid) for cid in self.channels),
            *([self._report_stats()] if self.channels else []),
        )

    def heartbeat_counters(self) -> dict[str, dict[str, int]]:
        """What the worker's heartbeat carries (``records.worker_heartbeat``'s ``alert_channels``):
        per routed channel id, then per webhook by ``webhook_labels``, the counters since start
        and the items queued now."""
        out: dict[str, dict[str, int]] = {}
        for cid, stats in self.channel_stats.items():
            out[cid] = _counters(stats, self.channel_queues[cid].qsize())
        for label, stats, queue in zip(webhook_labels(self.hooks), self.hook_stats, self.queues, strict=True):
            out[label] = _counters(stats, queue.qsize())
        return out

    def stats_summary(self) -> dict[str, dict[str, int]]:
        """The routed channels' counters by channel id (what ``_report_stats`` logs)."""
        return {cid: asdict(stats) for cid, stats in self.channel_stats.items()}

    async def _report_stats(self, every_s: float = CHANNEL_STATS_LOG_S) -> None:
        """Log the channels' counters every ``every_s`` when they changed (workers have no
        ``/metrics``: this line is where quiet-hours suppressions and drops show)."""
        last: dict[str, dict[str, int]] = self.stats_summary()
        while True:
            await asyncio.sleep(every_s)
            now = self.stats_summary()
            if now != last:
                log.info("alert channels since start: %s", now)
                last = now

    async def _drain(self, index: int, hook: WebhookConfig, queue: asyncio.Queue[bytes]) -> None:
        while True:
            await self._deliver(index, hook, await queue.get())

    async def _deliver(self, index: int, hook: WebhookConfig, body: bytes) -> None:
        headers = {"Content-Type": "application/json", "X-Floorwatch-Signature": sign(hook.secret, body)}
        delays = backoff_delays(self.attempts, self.base_delay_s, self.max_delay_s)
        label = webhook_label(hook, index)
        # this webhook's counters (an index outside the list: counted in the totals only)
        stats = self.hook_stats[index] if 0 <= index < len(self.hook_stats) else ChannelStats()
        while True:
            try:
                status = await self.post(hook.url, body, headers)
                if 200 <= status < 300:
                    self.delivered += 1
                    stats.delivered += 1
                    return
                if 300 <= status < 400:
                    log.warning("webhook %s answered %s: redirects are not followed; not delivered", label, status)
                    self.failed += 1
                    stats.failed += 1
                    return
                log.warning("webhook %s answered %s", label, status)
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                # the exception's text may quote the URL: log its type only
                log.warning("webhook %s failed: %s", label, type(exc).__name__)
            delay = next(delays, None)
            if delay is None:
                log.warning("webhook %s: gave up after %d attempts", label, self.attempts)
                self.failed += 1
                stats.failed += 1
                return
            await asyncio.sleep(delay)

    async def _drain_channel(self, cid: str) -> None:
        queue = self.channel_queues[cid]
        while True:
            await self.deliver_channel(cid, await queue.get())

    async def deliver_channel(self, cid: str, item: Any) -> bool:
        """Deliver one item to channel ``cid`` with retries; whether it was accepted. Logs name
        the channel by its id only (the messages of ``Retry``/``GiveUp`` carry no URL)."""
        channel, stats = self.channels[cid], self.channel_stats[cid]
        delays = backoff_delays(self.attempts, self.base_delay_s, self.max_delay_s)
        while True:
            try:
                await channel.send(item)
                stats.delivered += 1
                return True
            except GiveUp as exc:
                log.warning("alert channel %r: %s; not delivered", cid, exc)
                stats.failed += 1
                return False
            except Retry as exc:
                log.warning("alert channel %r failed: %s", cid, exc)
            except Exception as exc:  # noqa: BLE001 - a bug must not stop the channel; its text may quote a URL
                log.warning("alert channel %r failed: %s", cid, type(exc).__name__)
            delay = next(delays, None)
            if delay is None:
                log.warning("alert channel %r: gave up after %d attempts", cid, self.attempts)
                stats.failed += 1
                return False
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
            own = self.settings.queues_by_id.get(queue)  # a queue seen only in events has no overrides
            limits = queue_limits(self.settings.alerts, own.alerts if own is not None else None)
            values = queue_conditions(
                limits,
                waiting=tile["waiting"],
                longest_wait_s=tile["longest_wait_s"],
                interval_service_level=interval["service_level"],
                interval_contacts=_n(interval),
                rolling_15m_abandon_rate=rolling["abandon_rate"],
                rolling_15m_contacts=_n(rolling),
                required_agents=_required_for_gap(tile, self.settings.staffing.max_agents_per_queue),
                staffed=tile["agents"]["staffed"],
            )
            rules = queue_rules(limits, tile.get("sl_target") or self.settings.queue(queue).sl_target)
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


def _postable(alert: Any) -> TypeGuard[dict[str, Any]]:
    """An alert record with what an Alertmanager entry needs (its id and start)."""
    return (
        isinstance(alert, dict)
        and isinstance(alert.get("id"), str)
        and isinstance(alert.get("started_at_ms"), int)
        and not isinstance(alert.get("started_at_ms"), bool)
    )


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
    last_refresh_s = float("-inf")
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
                notifier.am_posted = {}  # and post every firing alert to Alertmanager again
                last_refresh_s = float("-inf")
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
                if clock() - last_refresh_s >= ALERTMANAGER_REFRESH_S:
                    last_refresh_s = clock()
                    await notifier.refresh_alertmanager(view.alerts, int(last_refresh_s * 1000))
            except Exception:  # an alert evaluation bug must not stop the worker
                log.exception("queue alert step failed")
    finally:
        loading.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await loading
        await loader.stop()
