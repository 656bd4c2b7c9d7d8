"""``fw.forecasts``: forecasts are read by the API from the topic; the worker dead-letters bad ones."""

from __future__ import annotations

from typing import Any

import faust
from faust.types import EventT

from floorwatch.streams.context import Worker

NAME = "forecasts"


class Forecasts:
    def __init__(self, ctx: Worker) -> None:
        self.ctx = ctx

    async def apply_batch(self, batch: list[EventT], pending: list[Any]) -> None:
        ctx = self.ctx

        def check(event: EventT) -> None:
            ctx.validated(event, ("forecast.",))

        await ctx.each(batch, pending, check)


def register(ctx: Worker) -> Any:
    handler = Forecasts(ctx)

    @ctx.app.agent(ctx.topics.forecasts, name=NAME)
    async def process_forecasts(stream: faust.StreamT) -> None:
        """Forecasts are read by the API from the topic; the worker dead-letters bad ones."""
        await ctx.run_batches(stream, NAME, handler.apply_batch)

    return process_forecasts
