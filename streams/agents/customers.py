"""``fw.customer-contacts``: contact projections per customer -> FCR outcomes (floorwatch.domain.fcr)."""

from __future__ import annotations

import logging
from typing import Any

import faust
import orjson
from faust.types import EventT

from floorwatch import topics
from floorwatch.domain.fcr import apply_projection
from floorwatch.events import EventError
from floorwatch.streams.context import Worker
from floorwatch.streams.rebuild import FcrRebuild

log = logging.getLogger("floorwatch.worker")

NAME = "customer-contacts"


class CustomerContacts:
    def __init__(self, ctx: Worker, fcr_build: FcrRebuild) -> None:
        self.ctx = ctx
        self.fcr_build = fcr_build

    async def apply_batch(self, batch: list[EventT], pending: list[Any]) -> None:
        ctx, st = self.ctx, self.ctx.st
        await self.fcr_build.ensure_fcr_sliced(
            ctx.active(topics.CUSTOMER_CONTACTS) | {e.message.partition for e in batch}
        )
        changed: dict[str, int] = {}

        def apply_one(event: EventT) -> None:
            p = event.message.partition
            try:
                items = orjson.loads(event.value)["items"]
                for cu, cid, value in items:
                    if not (
                        isinstance(cu, str) and isinstance(cid, str) and (value is None or isinstance(value, dict))
                    ):
                        raise ValueError("expected [customer, contact, projection | null] items")
            except (ValueError, KeyError, TypeError) as exc:
                raise EventError(f"bad customer projections: {exc}", "bad_internal_record") from None
            staged: dict[str, dict[str, Any]] = {}  # customer -> contacts after this record
            if p not in st.fcr:
                self.fcr_build.ensure_fcr({p})
            agg, now_ms = st.fcr[p], int(st.clock() * 1000)
            for cu, cid, value in items:
                before = staged[cu] if cu in staged else ctx.customer_contacts(cu)
                new = apply_projection(before, cid, value)
                if new is None:
                    continue
                if not agg.accepts(before, cid, value, now_ms):  # its interval is folded: late
                    st.fcr_late_ignored += 1
                    log.debug("late FCR projection of contact %s ignored (its interval is folded)", cid)
                    continue
                staged[cu] = new
            for cu, new in staged.items():
                ctx.store_customer(cu, p, new)
                changed[cu] = p

        await ctx.each(batch, pending, apply_one)
        now_ms = int(st.clock() * 1000)
        for cu, p in changed.items():  # derived once per customer and batch
            try:
                st.fcr[p].update(cu, ctx.customer_contacts(cu), now_ms)
            except Exception as exc:  # noqa: BLE001 - the partition is rebuilt; the batch goes on
                log.error("FCR update of a customer failed (%r); partition %s rebuilt", exc, p)
                st.fcr.pop(p, None)  # rebuilt from the table before the next use
        pending += await ctx.write_changelog(ctx.tables.customers, changed)


def register(ctx: Worker, fcr_build: FcrRebuild) -> Any:
    handler = CustomerContacts(ctx, fcr_build)

    @ctx.app.agent(ctx.topics.customers, name=NAME)
    async def process_customers(stream: faust.StreamT) -> None:
        """Contact projections per customer -> FCR outcomes (floorwatch.domain.fcr)."""
        await ctx.run_batches(stream, NAME, handler.apply_batch)

    return process_customers
