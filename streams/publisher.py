"""The worker's publisher: every tick, the partials of the partitions this worker owns go to the
output topics (interval and queue stats, quality, agent status, adherence, alerts), with its
heartbeat, retention, the contacts store's maintenance and the drop of revoked partitions' keys."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import date as date_cls
from typing import Any

from floorwatch import records, topics
from floorwatch.domain.adherence import evaluate_day, realtime_status
from floorwatch.domain.agents import agent_status
from floorwatch.domain.aggregate import ROLLING_15M_MS, ROLLING_60M_MS
from floorwatch.domain.alerts import ADHERENCE_BREAK, AlertBook, adherence_rule
from floorwatch.domain.factcodec import peek
from floorwatch.domain.fcr import FOLD_SLICE, FcrAggregator, Fold, date_final_key, record_partition
from floorwatch.domain.floor import agent_context, current_pair_since, day_key, logged_in_ms_by_interval
from floorwatch.domain.intervals import (
    day_bounds_ms,
    day_interval_starts,
    interval_end_ms,
    interval_start_ms,
    local_date,
)
from floorwatch.domain.occupancy import agent_time_record, shift_record
from floorwatch.domain.queue_metrics import QueueRules
from floorwatch.domain.retention import SLICE_SIZE
from floorwatch.memory import release_free_memory
from floorwatch.streams.alerting import WebhookNotifier
from floorwatch.streams.batches import settle
from floorwatch.streams.context import PUBLISH_TICK_S, Worker, quiet_client_logs, run_sliced
from floorwatch.streams.packed_store import key_slices, packed
from floorwatch.streams.pruning import prune
from floorwatch.streams.rebuild import AggregateRebuild, FcrRebuild
from floorwatch.streams.rocks_store import PartitionedRocksStore

log = logging.getLogger("floorwatch.worker")

ROLLING_REFRESH_S = 5.0
# fw.worker-status: the publisher writes this worker's heartbeat this often, so that with its
# tick the gap stays within a second (one record a second: Tansu keeps every record, no compaction)
HEARTBEAT_S = 1.0 - PUBLISH_TICK_S
PRUNE_EVERY_S = 3600.0
MAINTAIN_EVERY_S = 1.0  # how often the publisher looks for due merges of the contacts store
ADHERENCE_REFRESH_S = 60.0


def partition_of_record(value: Any) -> int | None:
    return value.get("_p") if isinstance(value, dict) else None


class Publisher:
    """What the ``publisher`` task does each tick, over the worker's state (``ctx.st``)."""

    def __init__(
        self,
        ctx: Worker,
        aggregates: AggregateRebuild,
        fcr_build: FcrRebuild,
        notifier: WebhookNotifier,
        me: str,
    ) -> None:
        self.ctx = ctx
        self.aggregates = aggregates
        self.fcr_build = fcr_build
        self.notifier = notifier
        self.me = me  # this worker's key on fw.worker-status
        self.started_ms = int(ctx.st.clock() * 1000)
        self.heartbeats_stopped = False  # set at shutdown, after which only the tombstone is written
        # the contacts store's maintenance task and when it was last started
        self.maintenance_task: asyncio.Future[None] | None = None
        self.maintenance_last_s = 0.0

    # --- the loop and the heartbeat -------------------------------------------------------------

    async def run(self) -> None:
        """The ``publisher`` task: a heartbeat a second and a publish pass a tick until the app stops."""
        app = self.ctx.app
        quiet_client_logs()
        period = PUBLISH_TICK_S
        last_heartbeat = -HEARTBEAT_S
        while not app.should_stop:
            started = time.monotonic()
            # the heartbeat goes out from this loop, rebalancing or not: it stops when the loop does
            if started - last_heartbeat >= HEARTBEAT_S and not self.heartbeats_stopped:
                last_heartbeat = started
                try:
                    await self.send_heartbeat()
                except Exception:
                    log.exception("heartbeat failed; retrying next tick")
            if not (app.rebalancing or app.in_recovery):
                try:
                    await self.publish_once()
                except Exception:  # a publish failure must not stop processing
                    log.exception("publish failed; retrying next tick")
            await app.sleep(max(0.0, period - (time.monotonic() - started)))

    async def send_heartbeat(self) -> None:
        """This worker's fw.worker-status record: alive now, what it owns, whether it settles,
        and its alert channels' counters."""
        app = self.ctx.app
        owned: dict[str, set[int]] = {t: set() for t in topics.CONSUMED}
        for tp in app.assignor.assigned_actives():
            if tp.topic in owned:
                owned[tp.topic].add(tp.partition)
        value = records.worker_heartbeat(
            self.me,
            int(self.ctx.st.clock() * 1000),
            self.started_ms,
            owned,  # type: ignore[arg-type]  # sets of partitions: the parameter's dict is invariant
            rebalancing=bool(app.rebalancing),
            recovering=bool(app.in_recovery),
            alert_channels=self.notifier.heartbeat_counters(),  # /metrics: floorwatch_alert_notifications
        )
        await self.ctx.topics.out[topics.WORKER_STATUS].send(key=self.me.encode(), value=records.dumps(value))

    async def forget_heartbeat(self) -> None:
        """A clean stop deletes this worker's heartbeat (the producer is flushed after this)."""
        self.heartbeats_stopped = True
        try:
            await self.ctx.topics.out[topics.WORKER_STATUS].send(key=self.me.encode(), value=None)
        except Exception:
            log.exception("could not write the heartbeat tombstone of %s", self.me)

    # --- a publish pass -----------------------------------------------------------------------

    async def publish_once(self) -> None:
        ctx, st, settings = self.ctx, self.ctx.st, self.ctx.settings
        emit = ctx.emit
        now_s = st.clock()
        now_ms = int(now_s * 1000)
        if st.drop_unowned_pending:
            started = time.monotonic()
            dropped = await self.drop_unowned()
            if dropped is not None:
                st.drop_unowned_pending = False
                st.retention_cut["unowned_partition_keys"] = st.retention_cut.get("unowned_partition_keys", 0) + dropped
                log.info("dropped %d keys of partitions no longer owned in %.2f s", dropped, time.monotonic() - started)
        owned = ctx.active(topics.CONTACT_EVENTS)
        for p in list(st.aggregators):
            if p not in owned:
                del st.aggregators[p]
        # started or joined, not awaited: the heartbeat and the partitions already built go on
        # meanwhile (the contacts agent awaits it before applying events)
        self.aggregates.ensure_aggregators(owned)
        if now_s - st.last_prune_s >= PRUNE_EVERY_S:
            st.last_prune_s = now_s
            await prune(ctx, now_ms, owned)
        task = self.maintenance_task
        if (task is None or task.done()) and now_s - self.maintenance_last_s >= MAINTAIN_EVERY_S:
            self.maintenance_last_s = now_s
            if task is not None and not task.cancelled() and task.exception() is not None:
                log.error("contacts store maintenance failed: %r", task.exception())
            self.maintenance_task = asyncio.ensure_future(self.maintain_contacts())
        interval_now = interval_start_ms(now_ms, settings.tz, settings.interval_minutes)
        refresh_all = now_s - st.last_rolling_s >= ROLLING_REFRESH_S or interval_now != st.last_interval_start
        if refresh_all:
            st.last_rolling_s = now_s
            st.last_interval_start = interval_now
        coalesce_s = settings.worker.publish_interval_s
        for p, agg in list(st.aggregators.items()):  # a rebuild may install partitions meanwhile
            agg.prune_minutes(now_ms)
            dirty_buckets, dirty_queues = agg.take_dirty()
            wanted = agg.queues() if refresh_all else dirty_queues
            due = {q for q in wanted if now_s - st.last_published.get((q, p), -1e18) >= coalesce_s}
            # a partial goes out at once when it has not for coalesce_s, else when that has passed
            agg.dirty_queues |= dirty_queues - due
            agg.dirty_buckets |= {b for b in dirty_buckets if b[0] not in due}
            for queue, start in dirty_buckets:
                if queue not in due:
                    continue
                bucket = agg.buckets.get((queue, start))
                key = records.interval_key(queue, start, p).encode()
                if bucket is None or bucket.contacts == 0:
                    await emit(topics.INTERVAL_STATS, key, None)
                    continue
                r = bucket.rules or [0, 0, 0.0, "answered_over_offered"]
                await emit(
                    topics.INTERVAL_STATS,
                    key,
                    records.dumps(
                        records.IntervalPartial(
                            queue,
                            start,
                            interval_end_ms(start, settings.tz, settings.interval_minutes),
                            p,
                            bucket.counts,
                            QueueRules(r[0], r[1], r[2], r[3]).as_dict(),  # type: ignore[arg-type]
                            bucket.mixed_rules,
                            now_ms,
                            bucket.channel,
                        ).to_record()
                    ),
                )
            for queue in due:
                st.last_published[(queue, p)] = now_s
                await emit(
                    topics.QUEUE_STATS,
                    records.queue_key(queue, p).encode(),
                    records.dumps(
                        records.QueuePartial(
                            queue,
                            p,
                            len(agg.waiting.get(queue, ())),
                            agg.oldest_waiting_ms(queue),
                            agg.rolling(queue, now_ms, ROLLING_15M_MS),
                            agg.rolling(queue, now_ms, ROLLING_60M_MS),
                            now_ms,
                        ).to_record()
                    ),
                )
        if now_s - st.last_floor_s >= coalesce_s:
            st.last_floor_s = now_s
            await self.publish_floor(now_s, now_ms)
        if now_s - st.last_quality_s >= coalesce_s:
            st.last_quality_s = now_s
            await self.publish_quality(now_ms)
        await ctx.flush_outbox()

    async def publish_quality(self, now_ms: int) -> None:
        """FCR partials (customer partitions); CSAT and handle rows per agent-day (contact
        partitions), then, at most once a minute per aggregator, its cold dates' rows packed."""
        ctx, st = self.ctx, self.ctx.st
        emit = ctx.emit
        mine = ctx.active(topics.CUSTOMER_CONTACTS)
        for p in list(st.fcr):
            if p not in mine:
                del st.fcr[p]
        await self.fcr_build.ensure_fcr_sliced(mine)
        for p, agg in list(st.fcr.items()):
            agg.advance(now_ms, ctx.customer_contacts)
            await self.fold_fcr(p, agg, now_ms)
            dirty_intervals, dirty_days = agg.take_dirty()
            for day, (ikeys, aids) in agg.by_date(dirty_intervals, dirty_days).items():  # a record parsed once
                for queue, start in ikeys:
                    counts = agg.interval_figures((queue, start))  # final + live
                    await emit(
                        topics.QUALITY_STATS,
                        records.fcr_interval_key(queue, start, p).encode(),
                        None
                        if counts is None
                        else records.dumps(records.FcrIntervalPartial(queue, start, p, now_ms, counts).to_record()),
                    )
                for aid in aids:
                    row = agg.agent_day_figures((aid, day))  # final + live
                    await emit(
                        topics.QUALITY_STATS,
                        records.agent_day_key(records.FCR_AGENT_KEY, aid, day, p).encode(),
                        None
                        if row is None
                        else records.dumps(records.FcrAgentPartial(aid, day, p, now_ms, row[0], row[1]).to_record()),
                    )
        for p, qagg in list(st.aggregators.items()):
            for aid, day in qagg.take_dirty_agent_days():
                csat = qagg.agent_surveys.get((aid, day))
                await emit(
                    topics.QUALITY_STATS,
                    records.agent_day_key(records.CSAT_AGENT_KEY, aid, day, p).encode(),
                    None
                    if csat is None
                    else records.dumps(
                        records.CsatAgentPartial(aid, day, p, now_ms, csat[0], csat[1], csat[2]).to_record()
                    ),
                )
            for n, (aid, day) in enumerate(qagg.take_dirty_agent_rows(), 1):
                if n % SLICE_SIZE == 0:  # all of them after a rebuild: a turn of the loop per slice
                    await asyncio.sleep(0)
                rows = qagg.agent_day_rows(aid, day)  # empty: no row left, the record goes
                await emit(
                    topics.QUALITY_STATS,
                    records.agent_day_key(records.AGENT_HANDLE_KEY, aid, day, p).encode(),
                    None
                    if not rows
                    else records.dumps(records.AgentHandlePartial(aid, day, p, now_ms, rows).to_record()),
                )
            if qagg.pack_due(now_ms):  # the rows of published dates before yesterday, packed
                packed_rows = await run_sliced(qagg.pack_cold_steps(now_ms))
                if packed_rows:
                    log.info("packed %d agent handle rows of partition %d's cold dates", packed_rows, p)

    async def fold_fcr(self, p: int, agg: FcrAggregator, now_ms: int) -> int:
        """Fold partition ``p``'s FCR intervals whose contributions are final: each local date
        they belong to gets its record in ``fcr-final`` rewritten once, with these intervals'
        counts and agents' rows added (FOLD_SLICE intervals, or one date's record, per turn of
        the event loop), and only once Kafka acknowledged the records do they replace the live
        counts (so the projections they cover may be dropped). A date's fold is one record:
        a worker killed before its acknowledgement recovers the old record and the
        projections, after it the new record. A failed write puts the table's old records back
        (nothing of the fold is applied). Returns how many intervals were folded."""
        ctx, st = self.ctx, self.ctx.st
        fcr_final = ctx.tables.fcr_final
        keys = agg.due_folds(now_ms)
        if not keys:
            return 0
        fold = Fold(p)
        written: dict[str, int] = {}
        held: dict[str, Any] = {}
        try:
            for i, key in enumerate(keys):
                agg.fold_interval(fold, key)
                if (i + 1) % FOLD_SLICE == 0:
                    await asyncio.sleep(0)
            for day in list(fold.added):
                await asyncio.sleep(0)
                agg.finish_fold(fold, (day,))
            for day, raw in fold.dates.items():
                name = date_final_key(day, p)
                held[name] = fcr_final.data.get(name)
                fcr_final.data[name] = raw
                written[name] = p
            await settle(await ctx.write_changelog(fcr_final, written), st.on_fatal)
        except Exception:
            for name, old in held.items():  # the table never runs ahead of the changelog
                if old is None:
                    fcr_final.data.pop(name, None)
                else:
                    fcr_final.data[name] = old
            st.fcr.pop(p, None)  # rebuilt from the tables before the next use: the intervals stay live
            raise
        if st.fcr.get(p) is not agg:  # revoked or rebuilt meanwhile: the tables hold the truth
            return 0
        agg.apply_fold(fold)
        return len(keys)

    # --- agents: status, real-time adherence, adherence-break alerts, daily adherence ------------

    def agent_partition(self, aid: str) -> int | None:
        """Source partition of an agent: from its record, else from any of its day records."""
        ctx = self.ctx
        rec = ctx.tables.agents.data.get(aid)
        if rec is not None and "_p" in rec:
            return rec["_p"]
        today = local_date(int(ctx.st.clock() * 1000), ctx.settings.tz)
        for offset in (0, -1, 1):
            day = ctx.tables.agent_days.data.get(day_key(aid, today.fromordinal(today.toordinal() + offset))) or {}
            if "_p" in day:
                return day["_p"]
        return None

    def evaluate_agent(self, aid: str, now_ms: int) -> tuple[dict[str, Any], list[Any]]:
        """Real-time adherence of one agent, and the alert changes it causes (book persisted)."""
        ctx, settings = self.ctx, self.ctx.settings
        agents, agent_days = ctx.tables.agents, ctx.tables.agent_days
        adh = settings.adherence
        schedule, timeline = agent_context(agent_days.data.get, aid, local_date(now_ms, settings.tz))
        status = realtime_status(
            schedule, timeline, now_ms, adh.activity_states, grace_s=adh.grace_s, critical_s=adh.critical_s
        )
        record = agents.data.get(aid) or {}
        book = AlertBook.from_dict(record.get("ab"))
        profile = record.get("pr")
        details = {
            "agent_id": aid,
            "name": profile[2] if profile else aid,
            "team": profile[3] if profile else None,
            "scheduled_activity": status.activity,
            "state": status.state,
            "reason": status.reason,
            "exception": status.exception,
            "out_of_adherence_since_ms": status.alert_since_ms,
        }
        out = status.alert_since_ms is not None
        since = status.alert_since_ms if out else current_pair_since(schedule, timeline, now_ms)
        changes = book.observe(
            ADHERENCE_BREAK, aid, out, now_ms, details, adherence_rule(adh.grace_s, adh.critical_s), since_ms=since
        )
        if changes:
            record = {**record, "ab": book.to_dict(), "_p": self.agent_partition(aid)}
            agents.data[aid] = record
        ctx.st.next_check[aid] = status.next_check_ms
        return status.as_dict(), changes

    async def publish_floor(self, now_s: float, now_ms: int) -> None:
        """Agent status with real-time adherence, adherence-break alerts, daily adherence."""
        ctx, st, settings = self.ctx, self.ctx.st, self.ctx.settings
        agents, agent_days = ctx.tables.agents, ctx.tables.agent_days
        emit = ctx.emit
        owned = ctx.active(topics.AGENT_EVENTS)
        gained = owned - st.agent_parts
        if owned != st.agent_parts:
            st.agent_parts = set(owned)
            st.next_check = {a: t for a, t in st.next_check.items() if (agents.data.get(a) or {}).get("_p") in owned}
        due: dict[str, int] = {a: p for a, p in st.dirty_agents.items() if p in owned}
        st.dirty_agents = {}
        if gained:
            for aid, rec in agents.data.items():
                if rec is not None and rec.get("_p") in gained:
                    due[aid] = rec["_p"]
            for key, rec in agent_days.data.items():
                if rec is not None and rec.get("_p") in gained:
                    aid, _, day = key.rpartition("|")
                    due[aid] = rec["_p"]
                    st.dirty_days.add((aid, day))
        for aid, when in st.next_check.items():
            if when is not None and when <= now_ms and aid not in due:
                due[aid] = -1
        today = local_date(now_ms, settings.tz).isoformat()
        for aid in due:
            status, changes = self.evaluate_agent(aid, now_ms)
            record = agents.data.get(aid) or {}
            part = record.get("_p")
            if changes and part in owned:
                await ctx.write_changelog(agents, {aid: part})
            for change in changes:
                alert = change.alert
                payload = records.dumps(records.alert_record(alert))
                await ctx.topics.out[topics.ALERTS].send(key=alert["id"].encode(), value=payload)
                self.notifier.notify(change)
            value = records.AgentStatus.of(agent_status(aid, record, now_ms), status).to_record()
            await emit(topics.AGENT_STATUS, aid.encode(), records.dumps(value))
            st.dirty_days.add((aid, today))
        if now_s - st.last_adherence_s >= ADHERENCE_REFRESH_S:
            st.last_adherence_s = now_s
            st.dirty_days |= {(a, today) for a in st.next_check}
        dirty_days, st.dirty_days = st.dirty_days, set()
        for aid, day in dirty_days:
            if self.agent_partition(aid) not in owned:
                continue
            await emit(
                topics.ADHERENCE, day_key(aid, day).encode(), records.dumps(self.day_adherence(aid, day, now_ms))
            )

    def day_adherence(self, aid: str, day: str, now_ms: int) -> dict[str, Any]:
        ctx, settings = self.ctx, self.ctx.settings
        d = date_cls.fromisoformat(day)
        schedule, timeline = agent_context(ctx.tables.agent_days.data.get, aid, d)
        lo, hi = day_bounds_ms(d, settings.tz)
        starts = day_interval_starts(d, settings.tz, settings.interval_minutes)
        figures = evaluate_day(
            schedule, day, timeline, lo, hi, now_ms, settings.adherence.activity_states, interval_starts=starts
        )
        profile = (ctx.tables.agents.data.get(aid) or {}).get("pr")
        logged_in = logged_in_ms_by_interval(timeline, starts, hi, now_ms)
        agent_time = agent_time_record(timeline, starts, lo, hi, now_ms)
        shift = shift_record((schedule.get(day) or {}).get("acts"), timeline, now_ms)
        team = profile[3] if profile else None
        return records.Adherence(aid, team, now_ms, figures, logged_in, agent_time, shift).to_record()

    # --- memory ---------------------------------------------------------------------------------

    async def drop_unowned(self) -> int | None:
        """Memory-store keys of partitions this worker no longer owns, dropped after a revocation
        (Faust's memory store forgets only what its own recovery loaded; retention leaves other
        owners' keys alone, so they would stay until a restart). A slice of keys per turn of the
        event loop; a rebalance or recovery starting meanwhile stops the pass (``None``: not
        finished), since a partition assigned again is being recovered into the same dicts."""
        ctx, app, t = self.ctx, self.ctx.app, self.ctx.tables
        plan: list[tuple[Any, str, Callable[[Any], int | None]]] = [
            (t.contacts, topics.CONTACT_EVENTS, lambda raw: peek(raw)[0]),
            (t.customers, topics.CUSTOMER_CONTACTS, record_partition),
            (t.fcr_final, topics.CUSTOMER_CONTACTS, record_partition),
            (t.agents, topics.AGENT_EVENTS, partition_of_record),
            (t.agent_days, topics.AGENT_EVENTS, partition_of_record),
        ]
        dropped = 0
        for table, topic_name, part_of in plan:
            data = table.data
            if isinstance(data, PartitionedRocksStore):  # closes a revoked partition's DB itself
                continue
            for keys in key_slices(table, SLICE_SIZE):
                if app.rebalancing or app.in_recovery:
                    return None
                owned_now = ctx.active(topic_name)
                for key in keys:
                    value = data.get(key)
                    if value is None:
                        continue
                    part = part_of(value)
                    if part is not None and part not in owned_now:
                        del data[key]
                        dropped += 1
                await asyncio.sleep(0)
        return dropped

    async def maintain_contacts(self) -> None:
        """The contacts map's due merges (floorwatch.packedmap), a slice per turn of the event
        loop, in a task of its own: merging millions of entries takes seconds, and the
        publisher goes on meanwhile. Freed buffers go back to the system afterwards."""
        app = self.ctx.app
        contacts_map = packed(self.ctx.tables.contacts)
        if contacts_map is None or contacts_map.loading or app.rebalancing or app.in_recovery:
            return
        started = time.monotonic()
        merged = await run_sliced(contacts_map.maintenance())
        if merged:
            release_free_memory()
            log.info(
                "contacts store: %d merges in %.2f s, %d runs, %.0f MiB packed",
                merged,
                time.monotonic() - started,
                len(contacts_map.runs),
                contacts_map.nbytes() / (1 << 20),
            )
