"""``fw.agent-events`` -> the ``agents`` and ``agent-days`` tables (states, profiles, timelines)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import faust
from faust.types import EventT

from floorwatch.domain.agents import apply_agent_event
from floorwatch.domain.floor import apply_state_point, day_key
from floorwatch.domain.intervals import local_date
from floorwatch.streams.context import Worker

NAME = "agent-events"


class AgentEvents:
    def __init__(self, ctx: Worker) -> None:
        self.ctx = ctx

    async def apply_batch(self, batch: list[EventT], pending: list[Any]) -> None:
        ctx, st, settings = self.ctx, self.ctx.st, self.ctx.settings
        agents, agent_days = ctx.tables.agents, ctx.tables.agent_days
        changed: dict[str, int] = {}
        changed_days: dict[str, int] = {}
        today = local_date(int(st.clock() * 1000), settings.tz).isoformat()

        def apply_one(event: EventT) -> None:
            data, parsed = ctx.validated(event, ("agent.",))
            ts_ms = parsed.ts_ms
            aid = data["agent_id"]
            p = event.message.partition
            day_rec = key = day = None
            if data["type"] == "agent.state":
                day = local_date(ts_ms, settings.tz).isoformat()
                key = day_key(aid, day)
                day_rec = apply_state_point(
                    agent_days.data.get(key), ts_ms, data["event_id"], data["state"], data.get("reason")
                )
            new = apply_agent_event(agents.data.get(aid), data, ts_ms)
            # both records computed: now memory changes (plain assignments)
            if day_rec is not None:
                day_rec["_p"] = p
                agent_days.data[key] = day_rec
                changed_days[key] = p  # type: ignore[index]
                st.dirty_days.add((aid, day))  # type: ignore[arg-type]
                # the next date's agent time starts with this date's last state: a late point of
                # a past date also refreshes the next date's record (today's is refreshed anyway)
                nxt = (date.fromisoformat(day) + timedelta(days=1)).isoformat()  # type: ignore[arg-type]
                if nxt < today and agent_days.data.get(day_key(aid, nxt)) is not None:
                    st.dirty_days.add((aid, nxt))
            if new is not None:
                new["_p"] = p
                agents.data[aid] = new
                changed[aid] = p

        await ctx.each(batch, pending, apply_one)
        pending += await ctx.write_changelog(agent_days, changed_days)
        pending += await ctx.write_changelog(agents, changed)
        st.dirty_agents.update(changed)
        st.dirty_agents.update({key.rpartition("|")[0]: p for key, p in changed_days.items()})


def register(ctx: Worker) -> Any:
    handler = AgentEvents(ctx)

    @ctx.app.agent(ctx.topics.agents, name=NAME)
    async def process_agents(stream: faust.StreamT) -> None:
        await ctx.run_batches(stream, NAME, handler.apply_batch)

    return process_agents
