"""The range dependency: from/to/date/group rules, tried through a one-route app."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from floorwatch.api.ranges import MAX_RANGE_DAYS, RangeDep
from tests.unit.api.asgi import asgi_client
from tests.unit.settings_factory import floor_settings

NOW_MS = int(datetime(2026, 12, 4, 10, 0, tzinfo=UTC).timestamp() * 1000)


def _app() -> FastAPI:
    app = FastAPI()
    app.state.settings = floor_settings()
    app.state.clock = lambda: NOW_MS

    @app.get("/r")
    async def r(rng: RangeDep) -> dict[str, Any]:
        return {
            "first": rng.first.isoformat(),
            "last": rng.last.isoformat(),
            "group": rng.grouping("day", ("day", "week", "month")),
            "ranged": rng.ranged,
            "periods": [p.label for p in rng.periods(rng.grouping("day", ("day", "week", "month")))],
        }

    return app


@pytest.fixture
async def client() -> Any:
    async with asgi_client(_app()) as c:
        yield c


async def test_no_range_is_today_ungrouped(client: httpx.AsyncClient) -> None:
    body = (await client.get("/r")).json()
    assert body == {
        "first": "2026-12-04",
        "last": "2026-12-04",
        "group": "day",
        "ranged": False,
        "periods": ["2026-12-04"],
    }


async def test_date_with_group_is_one_grouped_day(client: httpx.AsyncClient) -> None:
    body = (await client.get("/r", params={"date": "2026-11-30", "group": "week"})).json()
    assert body == {
        "first": "2026-11-30",
        "last": "2026-11-30",
        "group": "week",
        "ranged": True,
        "periods": ["2026-W49"],
    }


async def test_from_to_weeks(client: httpx.AsyncClient) -> None:
    body = (await client.get("/r", params={"from": "2026-11-29", "to": "2026-12-07", "group": "week"})).json()
    assert body["periods"] == ["2026-W48", "2026-W49", "2026-W50"]
    assert body["ranged"] is True


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-12-01"},
        {"to": "2026-12-01"},
        {"from": "2026-12-02", "to": "2026-12-01"},
        {"from": "2026-12-01", "to": "2026-12-02", "date": "2026-12-01"},
        {"group": "interval"},  # not offered by this route
        {"group": "year"},
    ],
)
async def test_refused(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    assert (await client.get("/r", params=params)).status_code == 422


async def test_longest_range(client: httpx.AsyncClient) -> None:
    ok = await client.get("/r", params={"from": "2026-01-01", "to": "2027-01-02", "group": "month"})
    assert (datetime(2027, 1, 2) - datetime(2026, 1, 1)).days + 1 == MAX_RANGE_DAYS
    assert ok.status_code == 200 and ok.json()["periods"][-1] == "2027-01"
    too_long = await client.get("/r", params={"from": "2026-01-01", "to": "2027-01-03"})
    assert too_long.status_code == 422
