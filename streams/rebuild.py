"""Rebuilding in-memory state from the tables: queue aggregators (from the contact facts) and
FCR aggregators (from the final records and the customers' projections), after recovery or a
rebalance, a slice at a time."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Generator
from typing import Any

from floorwatch.domain.factcodec import unpack
from floorwatch.domain.fcr import FcrAggregator, final_key_partition, parse_final_key
from floorwatch.domain.retention import SLICE_SIZE
from floorwatch.memory import release_free_memory
from floorwatch.streams.context import PUBLISH_TICK_S, Worker, run_sliced
from floorwatch.streams.packed_store import item_slices

log = logging.getLogger("floorwatch.worker")


class AggregateRebuild:
    """The one rebuild of queue aggregators in flight (``task``); ``epoch`` moves at every
    revocation, and a rebuild that saw it move installs nothing (the table may have been
    recovered meanwhile)."""

    def __init__(self, ctx: Worker) -> None:
        self.ctx = ctx
        self.task: asyncio.Future[None] | None = None
        self.epoch = 0

    async def rebuild_aggregators(self, parts: frozenset[int]) -> None:
        """Build the aggregators of ``parts`` from the contact facts (after recovery or a
        rebalance): SLICE_SIZE keys of a snapshot of the table's keys at a time, a turn of the
        event loop in between. They are installed into st.aggregators only when complete, so
        meanwhile no event of those partitions is applied (the contacts agent awaits this) and
        no prune touches them (prune_contacts skips a partition without an aggregator)."""
        app, st = self.ctx.app, self.ctx.st
        while (app.rebalancing or app.in_recovery) and not app.should_stop:
            await asyncio.sleep(PUBLISH_TICK_S)
        epoch = self.epoch
        started = time.monotonic()
        now_ms = int(st.clock() * 1000)
        built = {p: st.new_aggregator() for p in parts}
        for agg in built.values():
            agg.prune_minutes(now_ms)  # minutes no rolling window reaches are not built at all
            agg.track_row_changes = False  # every agent-day is published once built (rows_dirty_all)
            agg.stage_rows()  # rows built once at the end, cold dates straight into their packed form
        n = 0
        for pairs in item_slices(
            self.ctx.tables.contacts, SLICE_SIZE
        ):  # no event of these partitions is applied meanwhile
            for cid, raw in pairs:
                facts = unpack(raw)
                if facts.get("_p") in built:
                    built[facts["_p"]].update(cid, None, facts)
                    n += 1
            await asyncio.sleep(0)
            if self.epoch != epoch:
                log.info("rebuild of partitions %s dropped: partitions were revoked meanwhile", sorted(parts))
                return
        now_ms = int(st.clock() * 1000)
        packed = 0
        for agg in built.values():
            packed += await run_sliced(agg.finish_rows_steps(now_ms))
            if self.epoch != epoch:
                log.info("rebuild of partitions %s dropped: partitions were revoked meanwhile", sorted(parts))
                return
            agg.track_row_changes, agg.rows_dirty_all = True, True
        st.aggregators.update(built)
        release_free_memory()  # the recovery's and the rebuild's temporaries
        log.info(
            "rebuilt aggregates of partitions %s from %d contacts in %.2f s (%d cold agent rows packed)",
            sorted(parts),
            n,
            time.monotonic() - started,
            packed,
        )

    def ensure_aggregators(self, wanted: set[int]) -> asyncio.Future[None] | None:
        """The rebuild of the partitions of ``wanted`` that have no aggregator, started or
        joined; ``None`` when every one has one. One rebuild runs at a time: one of other
        partitions in flight is returned first (``aggregators_ready`` loops)."""
        missing = wanted - self.ctx.st.aggregators.keys()
        if not missing:
            return None
        task = self.task
        if task is not None and task.done() and not task.cancelled() and task.exception() is not None:
            log.error("rebuild of queue aggregators failed: %r", task.exception())
        if task is None or task.done():
            task = self.task = asyncio.ensure_future(self.rebuild_aggregators(frozenset(missing)))
        return task

    async def aggregators_ready(self, wanted: set[int]) -> None:
        """Wait until every partition of ``wanted`` has its aggregator (the shared rebuild goes
        on if this waiter is cancelled)."""
        while (task := self.ensure_aggregators(wanted)) is not None:
            await asyncio.shield(task)


class FcrRebuild:
    """The FCR aggregators' build: one at a time (``lock``); ``epoch`` moves at every
    revocation, and a build that saw it move installs nothing."""

    def __init__(self, ctx: Worker) -> None:
        self.ctx = ctx
        self.epoch = 0
        self.lock = asyncio.Lock()

    def build_fcr(self, missing: set[int], now_ms: int) -> Generator[None, None, dict[int, FcrAggregator]]:
        """FCR aggregators of ``missing`` from the tables (final records first: their contacts
        are context), yielding after every date record (each is parsed once) or ``SLICE_SIZE``
        other keys; returns them, not installed."""
        ctx = self.ctx
        fcr_final = ctx.tables.fcr_final
        built = {p: ctx.st.new_fcr() for p in missing}
        n = 0
        for key in list(fcr_final.data):
            part = final_key_partition(key)
            value = fcr_final.data.get(key) if part in built else None
            n += 1
            if value is not None:
                built[part].load(key, value)
                if isinstance(parse_final_key(key)[0], str):
                    n = SLICE_SIZE  # a date record: a turn of the loop after it
            if n >= SLICE_SIZE:
                n = 0
                yield
        yield
        keys = list(ctx.tables.customers.data)
        for start in range(0, len(keys), SLICE_SIZE):
            for cu in keys[start : start + SLICE_SIZE]:
                rec = ctx.customer_record(cu)
                if rec is not None and rec.get("_p") in built:
                    built[rec["_p"]].update(cu, rec["c"], now_ms)
            yield
        for agg in built.values():
            agg.hold_folds(now_ms)  # what is still to be consumed may be a replay of past days
        return built

    def ensure_fcr(self, wanted: set[int]) -> None:
        """``build_fcr`` at once (the rare path: an aggregator dropped mid-batch)."""
        st = self.ctx.st
        missing = wanted - st.fcr.keys()
        if missing:
            steps = self.build_fcr(missing, int(st.clock() * 1000))
            while True:
                try:
                    next(steps)
                except StopIteration as done:
                    st.fcr.update(done.value)
                    return

    async def ensure_fcr_sliced(self, wanted: set[int]) -> None:
        """``build_fcr`` a slice per turn of the event loop (after a restart the final records
        and projections of a large center took seconds in one loop); one build at a time, the
        customers agent and the publisher both wait for it; a revocation meanwhile discards it
        (the next call builds again)."""
        st = self.ctx.st
        if not wanted - st.fcr.keys():
            return
        async with self.lock:
            missing = wanted - st.fcr.keys()
            if not missing:
                return
            epoch, started = self.epoch, time.monotonic()
            built: Any = await run_sliced(self.build_fcr(missing, int(st.clock() * 1000)))
            if self.epoch != epoch:
                return
            st.fcr.update(built)
            release_free_memory()  # the date records' and projections' parsing temporaries
            log.info("rebuilt FCR state of partitions %s in %.2f s", sorted(missing), time.monotonic() - started)
