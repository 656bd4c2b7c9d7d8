"""A period row longer than a month (a ``group=range`` row of up to a year) is read a week at a
time: the event loop gets a turn between its weeks, and the row has the same figures (the day
rows' counters summed, the hand figures of the floors of test_queue_history and
test_api_staffing_ranges). Days, weeks and months are read in one piece, as before."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

import pytest

from floorwatch.domain.periods import Period, periods
from floorwatch.readmodel import queries, queue_history, staffing_history
from floorwatch.readmodel.queue_history import chunks, sliced
from floorwatch.readmodel.view import View
from tests.unit.api.test_api_queue_ranges import make_settings as berlin_settings
from tests.unit.api.test_api_range_group import QUEUE_COUNTERS, berlin_view
from tests.unit.api.test_api_staffing_ranges import WEEK, close, ranged_view
from tests.unit.api.test_staffing_forecast import make_settings as staffing_settings
from tests.unit.readmodel.test_queue_history import OTHER_RULES, RULES, local_ms, put
from tests.unit.shanghai_day import NOW as SHANGHAI_NOW

T = TypeVar("T")

pytestmark = pytest.mark.usefixtures("isolated_config")


def test_chunks_are_weeks_of_the_period_in_order() -> None:
    got = list(chunks(Period("x", date(2026, 3, 5), date(2026, 4, 3)), 7))  # 30 days
    assert got == [
        (date(2026, 3, 5), date(2026, 3, 11)),
        (date(2026, 3, 12), date(2026, 3, 18)),
        (date(2026, 3, 19), date(2026, 3, 25)),
        (date(2026, 3, 26), date(2026, 4, 1)),
        (date(2026, 4, 2), date(2026, 4, 3)),
    ]
    assert list(chunks(Period("x", date(2026, 3, 5), date(2026, 3, 11)), 7)) == [(date(2026, 3, 5), date(2026, 3, 11))]
    # the end of the calendar: no date after 9999-12-31 is ever made
    assert list(chunks(Period("x", date(9999, 12, 24), date.max), 7)) == [
        (date(9999, 12, 24), date(9999, 12, 30)),
        (date.max, date.max),
    ]
    assert list(chunks(Period("x", date(9999, 12, 25), date.max), 7)) == [(date(9999, 12, 25), date.max)]


async def turns_while(run: Callable[[], Awaitable[T]]) -> tuple[T, int]:
    """``run()``'s result and the turns another task got meanwhile."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    try:
        out = await run()
    finally:
        task.cancel()
    return out, ticks - before


async def test_a_39_day_queue_range_row_gives_the_loop_a_turn_every_week() -> None:
    view, settings = berlin_view(), berlin_settings()
    first, last = date(2026, 2, 24), date(2026, 4, 3)  # 39 days
    whole = periods(first, last, "range")

    async def run() -> list[dict[str, Any]]:
        return await sliced(queue_history.iter_period_rows(view, settings, "support", whole))

    rows, turns = await turns_while(run)
    assert turns == 5  # after days 7, 14, 21, 28 and 35; the last 4 days end the row
    (row,) = rows
    days = queue_history.period_rows(view, settings, "support", periods(first, last, "day"))
    for key in QUEUE_COUNTERS:
        assert row[key] == sum(d[key] for d in days), key
    # by hand (test_queue_history): W13 38 + W14 31, and the 03-24 interval's 5
    assert (row["period"], row["offered"]) == ("2026-02-24/2026-04-03", 74)
    assert row["mixed_rules"] is True
    assert queue_history.period_rows(view, settings, "support", whole) == rows
    # a month (31 days) is one read, as before: one turn, after the row
    month = periods(date(2026, 3, 1), date(2026, 3, 31), "range")
    (one,), turns = await turns_while(lambda: sliced(queue_history.iter_period_rows(view, settings, "support", month)))
    assert turns == 1 and one["offered"] == 5 + 55  # 03-24, and March 25-31 by hand


async def test_a_39_day_staffing_range_row_gives_the_loop_a_turn_every_week() -> None:
    view, settings = ranged_view(), staffing_settings()
    whole = periods(date(2024, 1, 27), date(2024, 3, 5), "range")  # 39 days; data on 03-04 and 03-05

    async def run() -> list[dict[str, Any]]:
        return await sliced(staffing_history.iter_period_rows(view, settings, "support", whole, SHANGHAI_NOW))

    rows, turns = await turns_while(run)
    assert turns == 5
    (row,) = rows
    head = {"period": "2024-01-27/2024-03-05", "from": "2024-01-27", "to": "2024-03-05"}
    head |= {"start": "2024-01-27T00:00:00+08:00", "end": "2024-03-06T00:00:00+08:00"}
    close(row, {**head, **WEEK})  # the week's sums by hand: nothing else in the 39 days
    assert staffing_history.period_rows(view, settings, "support", whole, SHANGHAI_NOW) == rows


def test_a_long_range_row_keeps_the_rules_of_all_its_partials() -> None:
    """The rules are the lowest partition's earliest valid ones even when that partition first
    records them weeks after another partition did; invalid rules are passed over. By hand:
    partition 0's 04-20 rules (RULES) win over partition 1's 03-02 ones (and partition 0's
    invalid 03-10 ones); the 05-01 partial of partition 0 has others, so mixed."""
    view, settings = View(), berlin_settings()
    one = {"offered": 1, "answered": 1, "answered_within_sl": 1}
    put(view, local_ms("2026-03-02", "09:00"), 1, one, OTHER_RULES)
    put(view, local_ms("2026-03-10", "09:00"), 0, one, {"sl_formula": "no such formula"})  # not valid
    put(view, local_ms("2026-04-20", "09:00"), 0, one, RULES)
    put(view, local_ms("2026-05-01", "09:00"), 0, one, {**RULES, "sl_target": 0.9})
    whole = Period("2026-03-01/2026-05-31", date(2026, 3, 1), date(2026, 5, 31))  # 92 days: 14 weeks
    (row,) = queue_history.period_rows(view, settings, "support", [whole])
    assert row["rules"] == RULES
    assert row["mixed_rules"] is True
    assert (row["offered"], row["answered_within_sl"]) == (4, 4)
    # the same as the rules of every partial at once (one read of the whole span)
    lo, hi = queue_history.day_span_ms(whole.first, whole.last, settings.tz)
    partials = [
        p for start in view.interval_starts("support", lo, hi) for p in view.interval_partials("support", start)
    ]
    assert len(partials) == 4
    assert row["rules"] == queries.rules_of(partials, queries.config_rules(settings.queue("support")))
    # without the 05-01 partial: only one set of valid rules, not mixed
    view2 = View()
    put(view2, local_ms("2026-03-02", "09:00"), 1, one, RULES)
    put(view2, local_ms("2026-04-20", "09:00"), 0, one, RULES)
    (row2,) = queue_history.period_rows(view2, settings, "support", [whole])
    assert (row2["rules"], row2["mixed_rules"]) == (RULES, False)
