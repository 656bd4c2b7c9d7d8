"""TeamsCache: one computation per date for every reader, in slices, reused for a while."""

from __future__ import annotations

import asyncio
from datetime import date

import orjson

from floorwatch import topics
from floorwatch.config import Settings
from floorwatch.readmodel import people
from floorwatch.readmodel.people import AGENTS_PER_SLICE, TEAMS_MAX_DATES, TEAMS_MIN_AGE_S, TeamsCache
from floorwatch.readmodel.view import View

DAY = date(2024, 3, 5)
NOW_MS = 1_709_600_000_000  # 2024-03-05 09:53:20 in Shanghai


def floor(agents: int) -> tuple[View, Settings]:
    settings = Settings(timezone="Asia/Shanghai")
    view = View(tz=settings.tz)
    for i in range(agents):
        record = {"agent_id": f"a{i}", "team": "north" if i % 2 else "south", "date": DAY.isoformat()}
        view.apply(topics.ADHERENCE, f"a{i}|{DAY}".encode(), orjson.dumps(record))
    return view, settings


class Clock:
    def __init__(self) -> None:
        self.s = 100.0

    def __call__(self) -> float:
        return self.s


def test_readers_at_once_share_one_computation_done_in_slices() -> None:
    agents = 3 * AGENTS_PER_SLICE + 1
    view, settings = floor(agents)
    cache = TeamsCache(view, settings, lambda: NOW_MS, Clock())
    turns = 0

    async def other_task() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    async def main() -> list[dict]:
        ticker = asyncio.ensure_future(other_task())
        answers = await asyncio.gather(*(cache.get(DAY) for _ in range(5)))
        ticker.cancel()
        return list(answers)

    answers = asyncio.run(main())
    assert cache.computed == 1
    assert all(a is answers[0] for a in answers)
    assert answers[0] == people.teams_overview(view, settings, DAY, NOW_MS)
    assert sum(t["agents"] for t in answers[0]["teams"]) == agents
    # 76 agents: 3 slices while building the agents, 3 while grouping them; the other task ran between
    assert turns >= 6


def test_an_answer_is_reused_for_the_minimum_age_then_recomputed() -> None:
    view, settings = floor(4)
    clock = Clock()
    cache = TeamsCache(view, settings, lambda: NOW_MS, clock)
    first = asyncio.run(cache.get(DAY))
    view.apply(topics.ADHERENCE, f"a9|{DAY}".encode(), orjson.dumps({"agent_id": "a9", "team": "north"}))
    clock.s += TEAMS_MIN_AGE_S - 0.001
    assert asyncio.run(cache.get(DAY)) is first and cache.computed == 1
    clock.s += 0.001
    second = asyncio.run(cache.get(DAY))
    north = [[t["agents"] for t in answer["teams"] if t["id"] == "north"] for answer in (first, second)]
    assert cache.computed == 2 and north == [[2], [3]]
    assert cache.latest(DAY) is second and cache.latest(date(2024, 3, 4)) is None


def test_at_most_the_configured_number_of_dates_is_kept() -> None:
    view, settings = floor(1)
    cache = TeamsCache(view, settings, lambda: NOW_MS, Clock())
    days = [date(2024, 3, d) for d in range(1, TEAMS_MAX_DATES + 3)]
    for d in days:
        asyncio.run(cache.get(d))
    assert list(cache.entries) == days[-TEAMS_MAX_DATES:]
