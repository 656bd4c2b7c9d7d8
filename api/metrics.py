"""Prometheus exposition of the API's view (series listed in docs/metrics.md): a custom collector run at scrape time.

Nothing here is per-event bookkeeping: every gauge is derived from the ``View`` (the last value
of every output-topic record) when Prometheus scrapes ``GET /metrics``, with the same windows,
rules and sums as ``GET /api/v1/queues`` (``floorwatch.readmodel.queries``), so a scrape and a REST call at the
same instant give the same figures. Definitions of every family: ``docs/deploy.md`` ("Metrics
reference").

Labels are ``queue``, ``channel``, ``team``, ``state``, ``window``, ``outcome``, ``kind``,
``severity``, ``reason``, ``topic``, ``label`` and ``worker`` (a worker id, on the alert
notification families only); never an agent id or a customer/contact id.
Ratios are 0..1, times in seconds. A ratio or average that is 0/0 (no contacts) is omitted, not 0.

Label values are capped per family (``api.metrics_max_queues``, ``api.metrics_max_teams``): the
configured queues/teams are kept first (config order; for teams then ``none``, agents without a
team), then the others by name; the rest are left out of every family alike, and
``floorwatch_metrics_label_values_cut{label}`` says how many distinct values were left out at
this scrape. ``HubCollector`` exports the websocket hub's clients, filters and refusals.

``GroupOffsetsProbe`` reads the committed offsets of the workers' consumer group every few
seconds (the only honest "events processed" figure the API can see: workers have no HTTP
server); the collector reports its last reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import heapq
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from floorwatch import records, topics
from floorwatch.config import Settings
from floorwatch.domain.adherence import adherence_ratio, conformance_ratio
from floorwatch.domain.erlang import OverCap
from floorwatch.domain.forecast_accuracy import Accuracy
from floorwatch.domain.intervals import day_bounds_ms, interval_start_ms, local_date
from floorwatch.domain.occupancy import shrinkage_ratio
from floorwatch.domain.queue_metrics import Counts, stats
from floorwatch.readmodel.channels import day_channels, queue_interval
from floorwatch.readmodel.people import HandleMemo, live_occupancy, team_day_figures
from floorwatch.readmodel.queries import (
    AGENT_STATES,
    agent_counts,
    current_forecast,
    current_rules,
    day_quality,
    live_required_agents,
    longest_wait_s,
    rules_of,
)
from floorwatch.readmodel.staffing_history import day_accuracy
from floorwatch.readmodel.view import View

if TYPE_CHECKING:
    from floorwatch.api.live import Hub

log = logging.getLogger(__name__)

WINDOWS = ("interval", "today", "rolling_15m")
OUTCOMES = ("offered", "answered", "answered_within_sl", "abandoned", "short_abandoned", "overflowed", "handled")
# agent states of fw.agent-status; every team gets a sample for each (0 when nobody is in it)
AGENT_STATUS_STATES = (*AGENT_STATES, "logged_out")
QUEUE_AGENT_STATES = ("staffed", *AGENT_STATES)
ALERT_KINDS = (
    "queue_waiting",
    "queue_longest_wait",
    "queue_service_level",
    "queue_abandon_rate",
    "queue_staffing_gap",
    "adherence_break",
    "occupancy_high",
)
ALERT_SEVERITIES = ("warning", "critical")
# EventError reasons (floorwatch.events, streams.app); other reasons appear when seen
REJECT_REASONS = (
    "not_json",
    "not_object",
    "missing_field",
    "invalid_field",
    "unknown_type",
    "wrong_topic",
    "implausible_time",
    "too_large",
    "processing_error",
)
NO_TEAM = "none"  # label value for agents whose profile names no team

# STATS key -> (metric suffix, help) of the per-window gauges besides counts and service level
_WINDOW_GAUGES = (
    (
        "abandon_rate",
        "queue_abandon_rate_ratio",
        "Long abandons / contacts with an outcome, (B - S) / (A + B - S + F).",
    ),
    ("asa_s", "queue_asa_seconds", "Average speed of answer: total wait of answered contacts / answered."),
    ("aht_s", "queue_aht_seconds", "Average handle time: (talk + hold + wrap-up) / handled."),
    ("avg_abandon_s", "queue_average_abandon_seconds", "Average wait of long (not short) abandons."),
    (
        "fcr",
        "queue_first_contact_resolution_ratio",
        "Answered contacts offered in the window whose FCR window has closed: resolved at first contact "
        "/ all of them (interval and today; docs/metrics.md).",
    ),
    (
        "repeat_rate",
        "queue_repeat_contact_ratio",
        "Contacts offered in the window from a caller who had another contact in the previous FCR window "
        "/ contacts with a known caller offered in the window.",
    ),
    (
        "csat_satisfied",
        "queue_csat_satisfied_ratio",
        "Surveys scoring 4 or 5 / surveys, of contacts offered in the window.",
    ),
    ("csat_avg", "queue_csat_average_score", "Average survey score (1..5) of contacts offered in the window."),
    (
        "transfer_rate",
        "queue_transfer_ratio",
        "Handled contacts whose conversation ended by a transfer / handled contacts.",
    ),
)

fast_merge = Counts.total  # the name the collector and its tests use


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def kept_label_values(first: Iterable[str], seen: Iterable[str], limit: int) -> tuple[list[str], int]:
    """The label values a family may carry, at most ``limit``: ``first`` (the configured values,
    exported even without data, in their order), then the other values of ``seen`` by name; and
    how many distinct values of the two were left out. O(n log limit): ``seen`` is never sorted
    whole."""
    priority = list(dict.fromkeys(first))
    kept = priority[:limit]
    cut = len(priority) - len(kept)
    known = set(priority)
    others = {v for v in seen if v not in known}
    room = limit - len(kept)
    if len(others) > room:
        cut += len(others) - room
        kept += heapq.nsmallest(room, others)
    else:
        kept += sorted(others)
    return kept, cut


class GroupOffsetsProbe:
    """Committed offsets of the workers' consumer group on the input topics, polled.

    ``offsets`` maps topic -> sum over its partitions of the group's committed offset (records
    consumed and committed by the workers since the topic was created: at-least-once, dead
    letters included). ``None`` until the first successful reading.
    """

    def __init__(
        self,
        bootstrap: str,
        group: str = topics.WORKER_APP_ID,
        topics_: tuple[str, ...] = topics.INPUTS,
        partitions: int = 8,
        every_s: float = 5.0,
        timeout_s: float = 5.0,
    ) -> None:
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.group = group
        self.topics = topics_
        self.every_s = every_s
        self.timeout_s = timeout_s
        self.offsets: dict[str, int] | None = None
        self.read_at: float | None = None  # time.time() of the last successful reading
        self.errors = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start polling in the running loop (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="floorwatch-metrics-probe")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _run(self) -> None:
        from aiokafka import TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient

        # explicit partitions: OffsetFetch for "all partitions of the group" (v2+) is not
        # answered in a form aiokafka can decode by Tansu; every input topic has `partitions`
        wanted = [TopicPartition(t, p) for t in self.topics for p in range(self.partitions)]
        admin: Any = None
        try:
            while True:
                try:
                    if admin is None:
                        admin = AIOKafkaAdminClient(
                            bootstrap_servers=self.bootstrap, client_id="floorwatch-api-metrics"
                        )
                        async with asyncio.timeout(self.timeout_s):
                            await admin.start()
                    async with asyncio.timeout(self.timeout_s):
                        committed = await admin.list_consumer_group_offsets(self.group, partitions=wanted)
                    sums = {t: 0 for t in self.topics}
                    for tp, meta in committed.items():
                        if tp.topic in sums and meta is not None and meta.offset is not None and meta.offset >= 0:
                            sums[tp.topic] += meta.offset
                    self.offsets, self.read_at = sums, time.time()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the broker may be away: keep the last reading
                    self.errors += 1
                    log.debug("metrics probe: %s: %s", type(exc).__name__, exc)
                    if admin is not None:
                        with contextlib.suppress(Exception):
                            await admin.close()
                        admin = None
                await asyncio.sleep(self.every_s)
        finally:
            if admin is not None:
                with contextlib.suppress(Exception):
                    await admin.close()


class ViewCollector(Collector):
    """All ``floorwatch_*`` families derived from the view, computed at every ``collect()``."""

    def __init__(
        self,
        view: View,
        settings: Settings,
        clock: Callable[[], int],
        readiness: Callable[[], dict[str, Any]] | None = None,
        probe: GroupOffsetsProbe | None = None,
    ) -> None:
        self.view = view
        self.settings = settings
        self.clock = clock
        self.readiness = readiness
        self.probe = probe
        # memo of today's sum of the intervals before the current one, per queue: valid for one
        # (day, current interval) and dropped when an interval partial of that queue before the
        # current interval changes (a late event, a replay). Only a memo of view data: every
        # scrape still computes from the view; it saves re-adding 8 x ~40 closed partials.
        self._closed: dict[str, tuple[int, int, Counts]] = {}  # queue -> (day start, current start, sum)
        # memo of queue_interval (a (queue, interval)'s partials merged and its formula) for the
        # channel families, today's intervals only; an entry goes when a partial of it changes
        self._intervals: dict[tuple[str, int], tuple[Counts, str]] = {}
        self._intervals_day = 0  # start of the local day the memo holds
        # each of today's agent_handle records' column sums while the view holds the same record
        self._handle_sums: HandleMemo = {}
        # memo of today's forecast accuracy per queue (the WAPE parts of the ended intervals):
        # valid for one (day, current interval, forecast publication) and dropped like _closed
        self._accuracy: dict[str, tuple[tuple[int, int, int, str], Accuracy]] = {}
        # distinct label values left out of the last scrape, by label (api.metrics_max_*)
        self.cut: dict[str, int] = {"queue": 0, "team": 0}
        view.listeners.append(self._on_change)

    def _on_change(self, topic: str, key: str) -> None:
        if not self._closed and not self._intervals and not self._accuracy:
            return
        if topic == topics.QUALITY_STATS:
            prefix = f"{records.FCR_INTERVAL_KEY}|"
            if not key.startswith(prefix):
                return
            key = key[len(prefix) :]  # "fcr|{queue}|{start_ms}|{partition}": the same memo rule
            record = None
        elif topic == topics.INTERVAL_STATS:
            record = self.view.intervals.get(key)
        else:
            return
        rest = key.rsplit("|", 2)  # "{queue}|{start_ms}|{partition}"
        if len(rest) != 3:
            self._closed.clear()
            self._intervals.clear()
            self._accuracy.clear()
            return
        queue, start = rest[0], rest[1]
        if record is not None and (record.queue != queue or str(record.start_ms) != start):
            self._closed.clear()  # a key that does not match its record: trust nothing
            self._intervals.clear()
            self._accuracy.clear()
            return
        if self._intervals:
            try:
                self._intervals.pop((queue, int(start)), None)
            except ValueError:
                self._intervals.clear()
        memo = self._closed.get(queue)
        if memo is not None and (not start.lstrip("-").isdigit() or int(start) < memo[1]):
            del self._closed[queue]
        accuracy = self._accuracy.get(queue)
        if accuracy is not None and (not start.lstrip("-").isdigit() or int(start) < accuracy[0][1]):
            del self._accuracy[queue]

    def _today(self, queue: str, lo: int, start: int, hi: int) -> Counts:
        """Sum of the queue's interval partials in ``[lo, hi)`` (``lo`` = day start)."""
        view = self.view
        memo = self._closed.get(queue)
        if memo is None or memo[0] != lo or memo[1] != start:
            closed = fast_merge(
                c for s in view.interval_starts(queue, lo, start) for c in view.interval_counts(queue, s)
            )
            self._closed[queue] = (lo, start, closed)
        else:
            closed = memo[2]
        rest = fast_merge(c for s in view.interval_starts(queue, start, hi) for c in view.interval_counts(queue, s))
        return fast_merge([closed, rest])

    def describe(self) -> Iterable[Metric]:
        return []  # unchecked collector: the families depend on the view

    def collect(self) -> Iterator[Metric]:
        now_ms = int(self.clock())
        yield from self._queues(now_ms)
        yield from self._team_families(now_ms)
        yield from self._channels(now_ms)
        yield from self._alerts()
        yield from self._pipeline(now_ms)
        cut = GaugeMetricFamily(
            "floorwatch_metrics_label_values_cut",
            "Distinct queue / team label values left out of this scrape (beyond "
            "api.metrics_max_queues / api.metrics_max_teams; configured ones are kept "
            "first, then the others by name).",
            labels=["label"],
        )
        for label in ("queue", "team"):
            cut.add_metric([label], self.cut[label])
        yield cut

    # -- queues -------------------------------------------------------------------------

    def _queues(self, now_ms: int) -> Iterator[Metric]:
        view, settings = self.view, self.settings
        tz, minutes = settings.tz, settings.interval_minutes
        labels = ["queue", "channel"]
        waiting = GaugeMetricFamily(
            "floorwatch_queue_waiting_contacts", "Contacts waiting in the queue now.", labels=labels
        )
        longest = GaugeMetricFamily(
            "floorwatch_queue_longest_wait_seconds",
            "How long the oldest waiting contact has waited (0 when none waits).",
            labels=labels,
        )
        target = GaugeMetricFamily(
            "floorwatch_queue_service_level_target_ratio",
            "Service-level target of the queue's current rules.",
            labels=labels,
        )
        threshold = GaugeMetricFamily(
            "floorwatch_queue_service_level_threshold_seconds",
            "Service-level threshold T of the queue's current rules.",
            labels=labels,
        )
        agents = GaugeMetricFamily(
            "floorwatch_queue_agents",
            "Logged-in agents whose profile lists the queue (staffed), and by state.",
            labels=[*labels, "state"],
        )
        required = GaugeMetricFamily(
            "floorwatch_queue_required_agents",
            "Agents required for the target (only when staffing figures are known "
            "and within staffing.max_agents_per_queue).",
            labels=labels,
        )
        over_cap = GaugeMetricFamily(
            "floorwatch_queue_required_agents_over_cap",
            "1 when the target needs more than staffing.max_agents_per_queue agents "
            "(required agents and staffing gap are then omitted), else 0.",
            labels=labels,
        )
        gap = GaugeMetricFamily(
            "floorwatch_queue_staffing_gap_agents",
            "Required minus staffed agents (only when required agents are known).",
            labels=labels,
        )
        wlabels = [*labels, "window"]
        sl = GaugeMetricFamily(
            "floorwatch_queue_service_level_ratio",
            "Service level by the queue's formula over the window (omitted when 0/0).",
            labels=wlabels,
        )
        contacts = GaugeMetricFamily(
            "floorwatch_queue_contacts",
            "Contacts in the window by outcome (offered includes short abandons and contacts still waiting).",
            labels=[*wlabels, "outcome"],
        )
        window_gauges = [
            (key, GaugeMetricFamily(f"floorwatch_{name}", help_, labels=wlabels)) for key, name, help_ in _WINDOW_GAUGES
        ]
        forecast_offered = GaugeMetricFamily(
            "floorwatch_queue_forecast_offered_contacts",
            "Contacts the published forecast gives the current interval (omitted without one); "
            'compare with floorwatch_queue_contacts{window="interval", outcome="offered"} at the interval\'s end.',
            labels=["queue"],
        )
        wape = GaugeMetricFamily(
            "floorwatch_queue_forecast_wape_ratio",
            "Forecast accuracy today so far, over the intervals with a forecast that have ended: "
            "measure offered = sum |actual - forecast offered| / sum actual offered; measure aht = "
            "sum handled x |AHT - forecast AHT| / sum handle time (omitted when 0/0).",
            labels=["queue", "measure"],
        )

        start = interval_start_ms(now_ms, tz, minutes)
        lo, hi = day_bounds_ms(local_date(now_ms, tz), tz)
        per_queue_agents = self._queue_agent_counts()
        kept, self.cut["queue"] = kept_label_values(
            (q.id for q in settings.queues), view.queue_ids(), settings.api.metrics_max_queues
        )
        for queue in kept:
            config = settings.queue(queue)
            lv = [queue, config.channel]
            rules = current_rules(view, settings, queue)
            live = view.queue_partials(queue)
            current = view.interval_partials(queue, start)
            interval_rules = rules_of(current, rules)
            today = self._today(queue, lo, start, hi)
            windows = (
                ("interval", fast_merge(view.interval_counts(queue, start)), interval_rules),
                ("today", today, rules),
                ("rolling_15m", fast_merge(p.rolling_15m for p in live), rules),
            )
            waiting.add_metric(lv, sum(p.waiting for p in live))
            longest.add_metric(lv, longest_wait_s(live, now_ms) or 0.0)
            target.add_metric(lv, float(rules["sl_target"]))
            threshold.add_metric(lv, float(rules["sl_threshold_s"]))
            tile = per_queue_agents.get(queue) or dict.fromkeys(QUEUE_AGENT_STATES, 0)
            for state in QUEUE_AGENT_STATES:
                agents.add_metric([*lv, state], tile[state])
            planned = current_forecast(view, settings, queue, now_ms)
            if planned is not None:
                forecast_offered.add_metric([queue], planned[0])
            self._add_accuracy(wape, queue, lo, start, now_ms)
            req = live_required_agents(
                fast_merge(p.rolling_15m for p in live),
                fast_merge(p.rolling_60m for p in live),
                rules,
                planned,
                max_agents=settings.staffing.max_agents_per_queue,
            )
            over_cap.add_metric(lv, 1 if isinstance(req, OverCap) else 0)
            if isinstance(req, int):
                required.add_metric(lv, req)
                gap.add_metric(lv, req - tile["staffed"])
            for window, counts, wrules in windows:
                figures = stats(counts, wrules["sl_formula"])
                wl = [*lv, window]
                if figures["service_level"] is not None:
                    sl.add_metric(wl, figures["service_level"])
                for outcome in OUTCOMES:
                    contacts.add_metric([*wl, outcome], figures[outcome])
                for key, family in window_gauges:
                    value = figures[key]
                    if value is not None:
                        family.add_metric(wl, value)
        if len(self._closed) > len(kept) or len(self._accuracy) > len(kept):  # memos of queues no longer exported
            wanted = set(kept)
            for queue in [q for q in self._closed if q not in wanted]:
                del self._closed[queue]
            for queue in [q for q in self._accuracy if q not in wanted]:
                del self._accuracy[queue]
        yield from (waiting, longest, target, threshold, sl, contacts)
        yield from (family for _, family in window_gauges)
        yield from (agents, required, over_cap, gap, forecast_offered, wape)

    def _add_accuracy(self, family: GaugeMetricFamily, queue: str, lo: int, start: int, now_ms: int) -> None:
        """``floorwatch_queue_forecast_wape_ratio`` of ``queue``: today's WAPE parts of the
        intervals with a forecast ended before the current one (``start``), memoised until that
        interval, the publication or an earlier partial of the queue changes."""
        settings = self.settings
        day = local_date(now_ms, settings.tz)
        forecast = self.view.forecasts.get((queue, day.isoformat()))
        if forecast is None:
            self._accuracy.pop(queue, None)
            return
        key = (lo, start, forecast.ts_ms, forecast.event_id)
        memo = self._accuracy.get(queue)
        if memo is None or memo[0] != key:
            memo = (key, day_accuracy(self.view, settings, queue, day, start))
            self._accuracy[queue] = memo
        accuracy = memo[1]
        for measure, value in (("offered", accuracy.wape_offered), ("aht", accuracy.wape_aht)):
            if value is not None:
                family.add_metric([queue, measure], value)

    def _queue_agent_counts(self) -> dict[str, dict[str, int]]:
        return agent_counts(self.view)

    # -- agents and adherence -----------------------------------------------------------

    def _teams(self) -> list[str]:
        return [t.id for t in self.settings.teams]

    def _team_families(self, now_ms: int) -> Iterator[Metric]:
        """The families labelled by team, each holding the same kept teams: the configured
        ones, then ``none``, then the others by name, ``api.metrics_max_teams`` in all."""
        agents = list(self._agents(now_ms))
        quality = list(self._quality(now_ms))
        team_occupancy, floor_occupancy = self._occupancy(now_ms)
        team_day = list(self._team_day(now_ms))
        families = [*agents, *quality, team_occupancy, *team_day]
        seen = {s.labels["team"] for family in families for s in family.samples}
        first = [*self._teams(), NO_TEAM] if NO_TEAM in seen else self._teams()
        kept, self.cut["team"] = kept_label_values(first, seen, self.settings.api.metrics_max_teams)
        if self.cut["team"]:
            wanted = set(kept)
            for family in families:
                family.samples = [s for s in family.samples if s.labels["team"] in wanted]
        yield from families
        yield floor_occupancy

    # -- today's team figures of /api/v1/teams -----------------------------------------

    def _team_day(self, now_ms: int) -> Iterator[Metric]:
        """Today's shrinkage, absent agents, late logins and AHT per team: the day figures of
        ``GET /api/v1/teams`` (``floorwatch.readmodel.people.team_day_figures``, one pass over
        today's agents per scrape). Agents without a team are in no team here, as in the endpoint."""
        groups = team_day_figures(self.view, self.settings, now_ms, self._handle_sums)
        shrinkage = GaugeMetricFamily(
            "floorwatch_team_shrinkage_ratio",
            "Today's shrinkage so far: (scheduled time off the phones (breaks, lunch, meetings, training) "
            "+ aux time during scheduled work) / scheduled time of the team's agents (omitted while "
            "nothing is scheduled).",
            labels=["team"],
        )
        absent = GaugeMetricFamily(
            "floorwatch_team_absent_agents",
            "Agents of the team whose shift of today has started and who have not logged in yet.",
            labels=["team"],
        )
        late = GaugeMetricFamily(
            "floorwatch_team_late_logins",
            "Agents of the team whose first login of today's shift came after the shift's start.",
            labels=["team"],
        )
        aht = GaugeMetricFamily(
            "floorwatch_team_aht_seconds",
            "Today's average handle time of the contacts the team's agents answered: (talk + hold + "
            "wrap-up) / handled (omitted while none is handled).",
            labels=["team"],
        )
        for team, group in groups.items():
            if (ratio := shrinkage_ratio(group.shrinkage)) is not None:
                shrinkage.add_metric([team], ratio)
            absent.add_metric([team], group.absent)
            late.add_metric([team], group.late_logins)
            if (seconds := group.day.aht_s()) is not None:
                aht.add_metric([team], seconds)
        yield from (shrinkage, absent, late, aht)

    # -- channels -----------------------------------------------------------------------

    def _channels(self, now_ms: int) -> Iterator[Metric]:
        """Today's STATS per channel, the day block of ``GET /api/v1/channels`` (sums of the
        channel's queues' counters, then the ratios: a sum by channel of the per-queue ratios
        would not be one). At most four label values (the event channels)."""
        day = local_date(now_ms, self.settings.tz)
        lo, _ = day_bounds_ms(day, self.settings.tz)
        if lo != self._intervals_day:
            self._intervals.clear()
            self._intervals_day = lo
        memo = self._intervals

        def of_interval(view: View, settings: Settings, queue: str, start: int) -> tuple[Counts, str]:
            found = memo.get((queue, start))
            if found is None:
                found = memo[(queue, start)] = queue_interval(view, settings, queue, start)
            return found

        channels = day_channels(self.view, self.settings, day, intervals=False, of_interval=of_interval)["channels"]
        offered = GaugeMetricFamily(
            "floorwatch_channel_offered_contacts",
            "Contacts offered today to the channel's queues (short abandons and contacts waiting included).",
            labels=["channel"],
        )
        sl = GaugeMetricFamily(
            "floorwatch_channel_service_level_ratio",
            "Today's service level of the channel: its queues' counters summed, by the formula they "
            "share (else queue_defaults.sl_formula) (omitted when 0/0).",
            labels=["channel"],
        )
        transfer = GaugeMetricFamily(
            "floorwatch_channel_transfer_ratio",
            "Handled contacts offered today to the channel's queues whose conversation ended by a transfer "
            "/ handled contacts (omitted while none is handled).",
            labels=["channel"],
        )
        for row in channels:
            channel, figures = row["channel"], row["day"]
            offered.add_metric([channel], figures["offered"])
            if figures["service_level"] is not None:
                sl.add_metric([channel], figures["service_level"])
            if figures["transfer_rate"] is not None:
                transfer.add_metric([channel], figures["transfer_rate"])
        yield from (offered, sl, transfer)

    # -- occupancy ----------------------------------------------------------------------

    def _occupancy(self, now_ms: int) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        """Rolling 15 min occupancy per team and of the floor (the figures of ``/api/v1/teams``'
        ``rolling_15m``): Σ (on_contact + wrap_up) ms / Σ (on_contact + wrap_up + available) ms."""
        teams, floor = live_occupancy(self.view, self.settings, now_ms)
        team_family = GaugeMetricFamily(
            "floorwatch_team_occupancy_ratio",
            "Occupancy of the team's agents over the last 15 minutes: handle (on_contact + wrap_up) "
            "time / (handle + available) time, summed over the agents (omitted when 0/0).",
            labels=["team"],
        )
        for team in sorted(teams):
            occupancy = teams[team].time.occupancy()
            if occupancy is not None:
                team_family.add_metric([team], occupancy)
        floor_family = GaugeMetricFamily(
            "floorwatch_floor_occupancy_ratio",
            "Occupancy of every agent over the last 15 minutes (omitted when 0/0).",
        )
        if (occupancy := floor.time.occupancy()) is not None:
            floor_family.add_metric([], occupancy)
        return team_family, floor_family

    def _agents(self, now_ms: int) -> Iterator[Metric]:
        view = self.view
        teams = self._teams()
        by_state: dict[tuple[str, str], int] = {(t, s): 0 for t in teams for s in AGENT_STATUS_STATES}
        out_of: dict[str, int] = dict.fromkeys(teams, 0)
        scheduled_now: dict[str, int] = dict.fromkeys(teams, 0)
        for record in view.agents.values():
            team = _text(record.get("team")) or NO_TEAM
            state = _text(record.get("state")) or "unknown"
            by_state[(team, state)] = by_state.get((team, state), 0) + 1
            if team not in out_of:
                out_of[team] = 0
                scheduled_now[team] = 0
                for s in AGENT_STATUS_STATES:
                    by_state.setdefault((team, s), 0)
            if record.get("in_adherence") is False:
                out_of[team] += 1
            if _text(record.get("scheduled_activity")) is not None:
                scheduled_now[team] += 1

        family = GaugeMetricFamily(
            "floorwatch_agents", "Agents by team and current state (fw.agent-status).", labels=["team", "state"]
        )
        for (team, state), n in sorted(by_state.items()):
            family.add_metric([team, state], n)
        yield family
        ooa = GaugeMetricFamily(
            "floorwatch_agents_out_of_adherence",
            "Agents out of adherence now (state not allowed by the scheduled activity).",
            labels=["team"],
        )
        sched = GaugeMetricFamily(
            "floorwatch_agents_scheduled", "Agents with a scheduled activity now.", labels=["team"]
        )
        for team in sorted(out_of):
            ooa.add_metric([team], out_of[team])
            sched.add_metric([team], scheduled_now[team])
        yield ooa
        yield sched

        # today's fw.adherence records: Σ in_adherence_s / Σ scheduled_s per team
        day = local_date(now_ms, self.settings.tz).isoformat()
        sums: dict[str, list[float]] = {t: [0.0, 0.0, 0.0, 0.0] for t in teams}
        for record in view.adherence_days.get(day, {}).values():
            agent_id = record.get("agent_id")
            agent_team = _text(record.get("team"))
            if agent_team is None and isinstance(agent_id, str):
                agent_team = _text(view.agents.get(agent_id, {}).get("team"))
            row = sums.setdefault(agent_team or NO_TEAM, [0.0, 0.0, 0.0, 0.0])
            for i, name in enumerate(("scheduled_s", "in_adherence_s", "work_scheduled_s", "worked_s")):
                value = _number(record.get(name))
                if value is not None:
                    row[i] += value
        ratio = GaugeMetricFamily(
            "floorwatch_team_adherence_ratio",
            "Today's adherence: sum of in-adherence seconds / sum of scheduled seconds "
            "(omitted while nothing is scheduled).",
            labels=["team"],
        )
        conformance = GaugeMetricFamily(
            "floorwatch_team_conformance_ratio",
            "Today's conformance: sum of worked seconds / sum of work-scheduled seconds.",
            labels=["team"],
        )
        scheduled_s = GaugeMetricFamily(
            "floorwatch_team_scheduled_seconds", "Today's scheduled seconds so far (fw.adherence).", labels=["team"]
        )
        in_adh_s = GaugeMetricFamily(
            "floorwatch_team_in_adherence_seconds",
            "Today's in-adherence seconds so far (fw.adherence).",
            labels=["team"],
        )
        for team in sorted(sums):
            sched_s, in_s, work_s, worked = sums[team]
            scheduled_s.add_metric([team], sched_s)
            in_adh_s.add_metric([team], in_s)
            if (team_adherence := adherence_ratio(in_s, sched_s)) is not None:
                ratio.add_metric([team], team_adherence)
            if (team_conformance := conformance_ratio(worked, work_s)) is not None:
                conformance.add_metric([team], team_conformance)
        yield from (ratio, conformance, scheduled_s, in_adh_s)

    # -- first contact resolution and CSAT per team -------------------------------------

    def _quality(self, now_ms: int) -> Iterator[Metric]:
        """Today's FCR and CSAT per team: the same figures as ``/api/v1/quality``."""
        day = local_date(now_ms, self.settings.tz)
        teams = day_quality(self.view, self.settings, day)["teams"]
        fcr = GaugeMetricFamily(
            "floorwatch_team_first_contact_resolution_ratio",
            "Today's FCR of the team's agents (omitted while no window has closed).",
            labels=["team"],
        )
        satisfied = GaugeMetricFamily(
            "floorwatch_team_csat_satisfied_ratio",
            "Today's surveys scoring 4 or 5 / surveys of the team's agents.",
            labels=["team"],
        )
        eligible = GaugeMetricFamily(
            "floorwatch_team_fcr_contacts",
            "Today's FCR-eligible contacts of the team's agents, and how many were resolved at first contact.",
            labels=["team", "outcome"],
        )
        surveys = GaugeMetricFamily("floorwatch_team_surveys", "Today's surveys of the team's agents.", labels=["team"])
        for row in teams:
            team = row["team"] or NO_TEAM
            eligible.add_metric([team, "eligible"], row["fcr_eligible"])
            eligible.add_metric([team, "resolved"], row["fcr_resolved"])
            surveys.add_metric([team], row["surveys"])
            if row["fcr"] is not None:
                fcr.add_metric([team], row["fcr"])
            if row["csat_satisfied"] is not None:
                satisfied.add_metric([team], row["csat_satisfied"])
        yield from (fcr, satisfied, eligible, surveys)

    # -- alerts -------------------------------------------------------------------------

    def _alerts(self) -> Iterator[Metric]:
        firing: dict[tuple[str, str], int] = {(k, s): 0 for k in ALERT_KINDS for s in ALERT_SEVERITIES}
        unacked: dict[str, int] = dict.fromkeys(ALERT_KINDS, 0)
        for key, record in self.view.alerts.items():
            if record.get("state") == "resolved":  # any other state reads as firing (floorwatch.readmodel.queries)
                continue
            kind = _text(record.get("kind")) or "unknown"
            severity = _text(record.get("severity")) or "warning"
            firing[(kind, severity)] = firing.get((kind, severity), 0) + 1
            acked = _text(record.get("acked_by")) is not None or key in self.view.alert_acks
            if not acked:
                unacked[kind] = unacked.get(kind, 0) + 1
        family = GaugeMetricFamily(
            "floorwatch_alerts_firing", "Floorwatch alerts firing now (fw.alerts).", labels=["kind", "severity"]
        )
        for (kind, severity), n in sorted(firing.items()):
            family.add_metric([kind, severity], n)
        yield family
        family = GaugeMetricFamily(
            "floorwatch_alerts_unacknowledged", "Firing alerts nobody has acknowledged yet.", labels=["kind"]
        )
        for kind, n in sorted(unacked.items()):
            family.add_metric([kind], n)
        yield family

    # -- pipeline -----------------------------------------------------------------------

    def _pipeline(self, now_ms: int) -> Iterator[Metric]:
        view = self.view
        rejected = CounterMetricFamily(
            "floorwatch_events_rejected",
            "Input events the workers rejected, by reason (fw.dead-letters records "
            "the API has read; resets when the API restarts or retention drops "
            "old dead letters).",
            labels=["reason"],
        )
        counts = dict.fromkeys(REJECT_REASONS, 0)
        counts.update(view.dead_letters)
        for reason, n in sorted(counts.items()):
            rejected.add_metric([reason], n)
        yield rejected

        if self.probe is not None and self.probe.offsets is not None:
            processed = CounterMetricFamily(
                "floorwatch_events_processed",
                "Input records consumed and committed by the worker group (sum of committed offsets; "
                "at-least-once, dead letters included).",
                labels=["topic"],
            )
            for topic, n in sorted(self.probe.offsets.items()):
                processed.add_metric([topic], n)
            yield processed
            age = GaugeMetricFamily(
                "floorwatch_events_processed_age_seconds", "Seconds since the committed offsets were last read."
            )
            age.add_metric([], max(0.0, time.time() - (self.probe.read_at or 0)))
            yield age

        newest = max(view.updated_ms.values(), default=None)
        if newest is not None:
            lag = GaugeMetricFamily(
                "floorwatch_pipeline_lag_seconds",
                "Now minus the newest updated_ms/computed_ms of any queue partial in the "
                "view: how stale the figures are (workers republish every 5 s).",
            )
            lag.add_metric([], max(0, now_ms - newest) / 1000)
            yield lag
            last = GaugeMetricFamily(
                "floorwatch_pipeline_last_update_timestamp_seconds",
                "Epoch seconds of the newest queue partial in the view.",
            )
            last.add_metric([], newest / 1000)
            yield last

        yield from self._workers(now_ms)

        applied = CounterMetricFamily("floorwatch_view_records", "Output-topic records applied to the API's view.")
        applied.add_metric([], view.applied)
        yield applied
        bad = CounterMetricFamily("floorwatch_view_bad_records", "Output-topic records the view skipped as bad.")
        bad.add_metric([], view.bad_records)
        yield bad
        if self.readiness is not None:
            try:
                ready = bool(self.readiness().get("ready"))
            except Exception:  # noqa: BLE001 - readiness must never break a scrape
                ready = False
            family = GaugeMetricFamily("floorwatch_view_ready", "1 when the view has caught up (/readyz 200).")
            family.add_metric([], 1 if ready else 0)
            yield family

    def _workers(self, now_ms: int) -> Iterator[Metric]:
        """Worker heartbeats (fw.worker-status): the age of the newest, and how many are fresh."""
        view = self.view
        fresh = view.worker_freshness(now_ms, round(self.settings.api.worker_stale_after_s * 1000))
        if fresh.age_ms is not None:
            seen = GaugeMetricFamily(
                "floorwatch_worker_last_seen_seconds",
                "Now minus the newest worker heartbeat the API has read (workers write "
                "one at least every second while their event loop runs).",
            )
            seen.add_metric([], fresh.age_ms / 1000)
            yield seen
        reporting = GaugeMetricFamily(
            "floorwatch_workers_reporting", "Workers whose last heartbeat is at most api.worker_stale_after_s old."
        )
        reporting.add_metric([], fresh.reporting)
        yield reporting
        cut = CounterMetricFamily(
            "floorwatch_worker_heartbeats_cut",
            "Worker heartbeats the view dropped because it already held its limit of "
            "distinct workers (the oldest goes).",
        )
        cut.add_metric([], view.workers_cut)
        yield cut
        yield from self._alert_notifications()

    def _alert_notifications(self) -> Iterator[Metric]:
        """Each worker's alert channels and webhooks (its heartbeat's ``alert_channels``,
        validated by ``records.WorkerHeartbeat.parse``): counters since the worker started, and
        its queue now. A worker without channels has no series."""
        total = CounterMetricFamily(
            "floorwatch_alert_notifications",
            "Alert notifications per worker and channel (alerts.channels id, or an alerts.webhooks "
            "label) since the worker started, by outcome: delivered, failed (refused or every "
            "attempt failed), dropped (queue full, the oldest goes), quiet_hours (held back by a "
            "route's quiet hours).",
            labels=["worker", "channel", "outcome"],
        )
        depth = GaugeMetricFamily(
            "floorwatch_alert_notification_queue_depth",
            "Notifications waiting in a worker's queue of the channel (at most 1000; a full queue drops the oldest).",
            labels=["worker", "channel"],
        )
        for worker in sorted(self.view.workers):
            for channel, values in self.view.workers[worker].alert_channels.items():
                for outcome, n in zip(records.ALERT_CHANNEL_OUTCOMES, values, strict=False):
                    total.add_metric([worker, channel, outcome], n)
                depth.add_metric([worker, channel], values[len(records.ALERT_CHANNEL_OUTCOMES)])
        yield total
        yield depth


class HubCollector(Collector):
    """The websocket hub's clients, distinct filters and refused sockets (``api.live.Hub``)."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        hub = self.hub
        clients = GaugeMetricFamily(
            "floorwatch_ws_clients", "Websocket clients connected now (at most api.ws_max_clients)."
        )
        clients.add_metric([], hub.clients)
        filters = GaugeMetricFamily(
            "floorwatch_ws_filters", "Distinct websocket filters in use now (at most api.ws_max_filters)."
        )
        filters.add_metric([], len(hub.subscribers))
        refused = CounterMetricFamily(
            "floorwatch_ws_refused",
            "Websockets closed with 1013 at connect because the hub was full, by "
            "the limit reached (max_clients, max_clients_per_token, max_filters).",
            labels=["reason"],
        )
        for reason, n in hub.refused.items():
            refused.add_metric([reason], n)
        yield from (clients, filters, refused)


# -- exposition -----------------------------------------------------------------------------

_ESCAPED: dict[str, str] = {}


def _escape(value: str) -> str:
    found = _ESCAPED.get(value)
    if found is None:
        found = value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        if len(_ESCAPED) < 100_000:
            _ESCAPED[value] = found
    return found


def _value(v: float) -> str:
    if type(v) is int:
        return str(v)
    f = float(v)
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    return repr(f)


def render(registry: Any) -> bytes:
    """Prometheus text format 0.0.4 of ``registry.collect()``: what ``generate_latest`` writes
    (same families, samples and values; labels in the order given, not sorted), about twice as
    fast. Unit-tested against ``generate_latest``.

    The cyclic garbage collector is paused while rendering: a render allocates ~24,000
    short-lived samples, and collections triggered in the middle of it (over a view of 10,000
    agents) doubled the slowest renders. Nothing cyclic is created here; the collector runs
    again right after.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _render(registry)
    finally:
        if enabled:
            gc.enable()


def _render(registry: Any) -> bytes:
    out: list[str] = []
    append = out.append
    for metric in registry.collect():
        name, mtype = metric.name, metric.type
        if mtype == "counter":
            name += "_total"
        elif mtype == "unknown":
            mtype = "untyped"
        elif mtype not in ("gauge", "histogram", "summary"):  # info, stateset ...: the reference writer
            from prometheus_client.exposition import generate_latest

            class _One:
                def collect(self, m: Metric = metric) -> list[Metric]:
                    return [m]

            append(generate_latest(_One()).decode())
            continue
        doc = metric.documentation.replace("\\", "\\\\").replace("\n", "\\n")
        append(f"# HELP {name} {doc}\n# TYPE {name} {mtype}\n")
        created: list[str] = []
        created_name = metric.name + "_created"
        for sample in metric.samples:
            if sample.labels:
                labels = ",".join([f'{k}="{_escape(v)}"' for k, v in sample.labels.items()])
                line = f"{sample.name}{{{labels}}} {_value(sample.value)}\n"
            else:
                line = f"{sample.name} {_value(sample.value)}\n"
            if sample.name == created_name:
                created.append(line)
            else:
                append(line)
        if created:
            append(f"# HELP {created_name} {doc}\n# TYPE {created_name} gauge\n")
            out.extend(created)
    return "".join(out).encode("utf-8")
