"""``fw.schedules`` -> the schedule of an agent's day in the ``agent-days`` table."""

from __future__ import annotations

from typing import Any

import faust
from faust.types import EventT

from floorwatch.domain.floor import apply_schedule, day_key
from floorwatch.events import to_ms
from floorwatch.streams.context import Worker

NAME = "schedules"


class Schedules:
    def __init__(self, ctx: Worker) -> None:
        self.ctx = ctx

    async def apply_batch(self, batch: list[EventT], pending: list[Any]) -> None:
        ctx, st = self.ctx, self.ctx.st
        agent_days = ctx.tables.agent_days
        changed_days: dict[str, int] = {}

        def apply_one(event: EventT) -> None:
            data, parsed = ctx.validated(event, ("schedule.",))
            aid, day = data["agent_id"], str(data["date"])
            acts = [(to_ms(a.start), to_ms(a.end), a.activity) for a in parsed.activities]  # type: ignore[attr-defined]
            key = day_key(aid, day)
            rec = apply_schedule(agent_days.data.get(key), day, acts, parsed.ts_ms, data["event_id"])
            if rec is None:
                return
            p = event.message.partition
            rec["_p"] = p
            agent_days.data[key] = rec
            changed_days[key] = p
            st.dirty_days.add((aid, day))
            st.dirty_agents[aid] = p

        await ctx.each(batch, pending, apply_one)
        pending += await ctx.write_changelog(agent_days, changed_days)


def register(ctx: Worker) -> Any:
    handler = Schedules(ctx)

    @ctx.app.agent(ctx.topics.schedules, name=NAME)
    async def process_schedules(stream: faust.StreamT) -> None:
        await ctx.run_batches(stream, NAME, handler.apply_batch)

    return process_schedules
