"""``fw.contact-events`` -> the ``contacts`` table, the queue aggregators and FCR projections."""

from __future__ import annotations

from typing import Any

import faust
from faust.types import EventT

from floorwatch import topics
from floorwatch.domain.contacts import apply_event
from floorwatch.domain.factcodec import pack, unpack
from floorwatch.domain.fcr import projection
from floorwatch.streams.context import Worker
from floorwatch.streams.rebuild import AggregateRebuild

NAME = "contact-events"


class ContactEvents:
    def __init__(self, ctx: Worker, aggregates: AggregateRebuild) -> None:
        self.ctx = ctx
        self.aggregates = aggregates

    async def apply_batch(self, batch: list[EventT], pending: list[Any]) -> None:
        ctx, st = self.ctx, self.ctx.st
        contacts = ctx.tables.contacts
        await self.aggregates.aggregators_ready(
            ctx.active(topics.CONTACT_EVENTS) | {e.message.partition for e in batch}
        )
        changed: dict[str, int] = {}
        moved: dict[str, tuple[Any, Any]] = {}  # contact -> (projection before the batch, after)

        def apply_one(event: EventT) -> None:
            data, parsed = ctx.validated(event, ("contact.", "survey."))
            p = event.message.partition
            cid = data["contact_id"]
            old_raw = contacts.data.get(cid)
            old = None if old_raw is None else unpack(old_raw)
            new = apply_event(old, data, parsed.ts_ms, st.rules_for, customer_key=st.customer_key)
            if new is None:
                return
            new["_p"] = p
            has_customer = "cu" in new or (old is not None and "cu" in old)
            if has_customer:
                before = moved[cid][0] if cid in moved else projection(old)
                after = projection(new)
            new_raw = pack(new)
            # everything that can fail on bad input happened above; now memory changes,
            # and on an unexpected failure it is put back as it was
            contacts.data[cid] = new_raw
            agg = st.aggregators.get(p)
            # None: dropped by a failure earlier in this batch; the rebuild before its next use
            # counts this contact from the table, so the batch's other contacts are not lost
            if agg is not None:
                try:
                    agg.update(cid, old, new)
                except Exception:
                    if old_raw is None:
                        contacts.data.pop(cid, None)
                    else:
                        contacts.data[cid] = old_raw
                    st.aggregators.pop(p, None)  # rebuilt from the table before the next use
                    raise
            changed[cid] = p
            if has_customer:
                moved[cid] = (before, after)

        await ctx.each(batch, pending, apply_one)
        pending += await ctx.write_changelog(contacts, changed)
        pending += await ctx.send_projections(moved)


def register(ctx: Worker, aggregates: AggregateRebuild) -> Any:
    handler = ContactEvents(ctx, aggregates)

    @ctx.app.agent(ctx.topics.contacts, name=NAME)
    async def process_contacts(stream: faust.StreamT) -> None:
        await ctx.run_batches(stream, NAME, handler.apply_batch)

    return process_contacts
