"""The reports page (``/reports``) in Debian chromium (Playwright).

Page tests: the real page (api/static/reports.*, served with the API's CSP) against hand-written
answers of the documented shapes, routed in the browser with ``page.route``; no processes
besides the browser. They check the figures each table shows (raw value in ``data-value``, the
text, the colour against the target), the total rows (the same endpoint asked with
``group=range``: the queue's, the forecast table's, the floor's and each team's, always there),
the heat map (a weak half hour's cell red, its value in the title and aria-label), the URL state
(``replaceState``, the token kept) and the CSV downloads (the same URL with ``format=csv`` and
the bearer header, saved under the server's file name).

Stack test: broker + worker + API; contacts and a forecast posted today and read back through
the page.
Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest

from floorwatch.domain.intervals import day_interval_starts
from tests.integration.browser import ARTIFACTS, fulfill_static, page_with_errors, require_browser
from tests.integration.harness import INGEST_TOKEN, VIEWER_TOKEN, Stack, midday_zone, produce, wait_until

pytestmark = pytest.mark.integration

ORIGIN = "http://reports.test"
TOKEN = "desk-secret"

require_browser()


# -- answers of the documented shapes ---------------------------------------------------------

RULES = {"sl_threshold_s": 20, "short_abandon_s": 5, "sl_target": 0.8, "sl_formula": "answered_within_over_offered"}


def local_bounds(first: str, last: str) -> dict[str, str]:
    """PERIOD ROW start/end: the local midnight starting ``first``, the one after ``last`` (UTC+8)."""
    after = (date.fromisoformat(last) + timedelta(days=1)).isoformat()
    return {"start": f"{first}T00:00:00.000+08:00", "end": f"{after}T00:00:00.000+08:00"}


def queue_row(period: str, first: str, last: str, mixed: bool = False, **figures: Any) -> dict[str, Any]:
    """A QUEUE PERIOD ROW: the period keys, every STATS key (zero/None unless given), the rules."""
    stats: dict[str, Any] = {
        "offered": 0,
        "answered": 0,
        "answered_within_sl": 0,
        "abandoned": 0,
        "short_abandoned": 0,
        "overflowed": 0,
        "service_level": None,
        "abandon_rate": None,
        "answer_rate": None,
        "asa_s": None,
        "aht_s": None,
        "avg_abandon_s": None,
        "max_wait_s": None,
        "handled": 0,
        "transferred": 0,
        "transfer_rate": None,
        "surveys": 0,
        "csat_avg": None,
        "csat_satisfied": None,
        "fcr_eligible": 0,
        "fcr_resolved": 0,
        "fcr": None,
        "customer_contacts": 0,
        "repeat_contacts": 0,
        "repeat_rate": None,
    }
    stats.update(figures)
    return {
        "period": period,
        "from": first,
        "to": last,
        **local_bounds(first, last),
        **stats,
        "rules": dict(RULES),
        "mixed_rules": mixed,
    }


FROM, TO = "2026-11-30", "2026-12-02"  # Monday to Wednesday of 2026-W49, across two months
DAYS = [
    queue_row(
        "2026-11-30",
        "2026-11-30",
        "2026-11-30",
        offered=100,
        answered=90,
        answered_within_sl=82,
        abandoned=10,
        short_abandoned=2,
        service_level=0.82,
        asa_s=18.4,
        aht_s=245.25,
        handled=90,
        transferred=4,
        abandon_rate=0.08,
        transfer_rate=0.05,
    ),
    queue_row(
        "2026-12-01",
        "2026-12-01",
        "2026-12-01",
        offered=120,
        answered=100,
        answered_within_sl=93,
        abandoned=20,
        short_abandoned=5,
        service_level=0.775,
        asa_s=31.6,
        aht_s=250.0,
        handled=100,
        transferred=10,
        abandon_rate=0.15,
        transfer_rate=0.1,
    ),
    queue_row("2026-12-02", "2026-12-02", "2026-12-02"),  # no contacts: zeros, ratios null
]
MONTHS = [  # the range across November and December: two rows, none of them the whole range
    queue_row("2026-11", "2026-11-30", "2026-11-30", **{k: DAYS[0][k] for k in ("offered", "service_level")}),
    queue_row("2026-12", "2026-12-01", "2026-12-02", **{k: DAYS[1][k] for k in ("offered", "service_level")}),
]
WEEK = queue_row(  # the server's sums of the three days: one ISO week, so the whole range
    "2026-W49",
    FROM,
    TO,
    mixed=True,
    offered=220,
    answered=190,
    answered_within_sl=175,
    abandoned=30,
    short_abandoned=7,
    service_level=175 / 220,
    asa_s=(18.4 * 90 + 31.6 * 100) / 190,
    aht_s=247.75,
    handled=190,
    transferred=14,
    abandon_rate=23 / 213,
    transfer_rate=14 / 190,
)
TOTAL = {**WEEK, "period": f"{FROM}/{TO}"}  # group=range: the same sums, labelled by the range
# text and colour of each figure, by hand (SL against the row's target 0.8: >= green,
# >= 0.75 amber, below red; times m:ss rounded to the second)
QUEUE_SHOWN = {
    "2026-11-30": {
        "offered": ("100", ""),
        "answered": ("90", ""),
        "abandoned": ("10", ""),
        "service_level": ("82.0%", "sl-green"),
        "asa": ("0:18", ""),
        "aht": ("4:05", ""),
        "abandon_rate": ("8.0%", ""),
        "transfer_rate": ("5.0%", ""),
    },
    "2026-12-01": {
        "offered": ("120", ""),
        "answered": ("100", ""),
        "abandoned": ("20", ""),
        "service_level": ("77.5%", "sl-amber"),
        "asa": ("0:32", ""),
        "aht": ("4:10", ""),
        "abandon_rate": ("15.0%", ""),
        "transfer_rate": ("10.0%", ""),
    },
    "2026-12-02": {
        "offered": ("0", ""),
        "answered": ("0", ""),
        "abandoned": ("0", ""),
        "service_level": ("–", "sl-none"),
        "asa": ("–", ""),
        "aht": ("–", ""),
        "abandon_rate": ("–", ""),
        "transfer_rate": ("–", ""),
    },
    "total": {  # 175/220 = 79.55 %; ASA 4816/190 = 25.35 s; 23/213 = 10.80 %; 14/190 = 7.37 %
        "offered": ("220", ""),
        "answered": ("190", ""),
        "abandoned": ("30", ""),
        "service_level": ("79.5%", "sl-amber"),
        "asa": ("0:25", ""),
        "aht": ("4:08", ""),
        "abandon_rate": ("10.8%", ""),
        "transfer_rate": ("7.4%", ""),
    },
}
QUEUE_VALUE = {
    "offered": "offered",
    "answered": "answered",
    "abandoned": "abandoned",
    "service_level": "service_level",
    "asa": "asa_s",
    "aht": "aht_s",
    "abandon_rate": "abandon_rate",
    "transfer_rate": "transfer_rate",
}


def team_row(period: str, first: str, last: str, **figures: Any) -> dict[str, Any]:
    """A TEAM PERIOD ROW: the period keys, agent-days, a day BLOCK and the team figures."""
    out: dict[str, Any] = {
        "period": period,
        "from": first,
        "to": last,
        **local_bounds(first, last),
        "agents": 0,
        "handled": 0,
        "talk_s": 0.0,
        "hold_s": 0.0,
        "wrap_s": 0.0,
        "aht_s": None,
        "transfers": 0,
        "occupancy": None,
        "handle_s": 0.0,
        "available_s": 0.0,
        "state_s": {"available": 0.0, "on_contact": 0.0, "wrap_up": 0.0, "aux": 0.0},
        "aux_s": {},
        "adherence": None,
        "conformance": None,
        "fcr": None,
        "csat_avg": None,
        "surveys": 0,
        "shrinkage": None,
        "absent": 0,
        "late_logins": 0,
        "scheduled_s": 0.0,
    }
    out.update(figures)
    return out


def three_days(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [team_row(d, d, d, **r) for d, r in zip(("2026-11-30", "2026-12-01", "2026-12-02"), rows, strict=True)]


TEAMS: dict[str, Any] = {
    "from": FROM,
    "to": TO,
    "group": "day",
    "floor": {
        "periods": three_days(
            [
                {"agents": 5, "occupancy": 0.8, "adherence": 0.9, "aht_s": 301.5, "shrinkage": 0.25},
                {"agents": 5, "occupancy": 0.7, "adherence": 0.85, "aht_s": 290.0, "shrinkage": 0.3, "absent": 1},
                {},
            ]
        )
    },
    "teams": [
        {
            "id": "north",
            "name": "Team North",
            "targets": {"occupancy": 0.85, "adherence": 0.9, "aht_s": 300.0},
            "periods": three_days(
                [
                    {"agents": 3, "occupancy": 0.95, "adherence": 0.92, "aht_s": 320.0, "shrinkage": 0.2},
                    {"agents": 3, "occupancy": 0.8, "adherence": 0.86, "aht_s": 340.0, "late_logins": 2},
                    {},
                ]
            ),
        },
        {
            "id": "south",
            "name": "Team South",
            "targets": {"occupancy": None, "adherence": None, "aht_s": None},
            "periods": three_days([{"agents": 2, "occupancy": 0.6, "absent": 1}, {"agents": 2}, {}]),
        },
    ],
}


def whole_range(row: dict[str, Any]) -> dict[str, Any]:
    return {"periods": [team_row(f"{FROM}/{TO}", FROM, TO, **row)]}


TEAMS_TOTAL: dict[str, Any] = {  # group=range: the server's sums of the three days (hand-written)
    "from": FROM,
    "to": TO,
    "group": "range",
    "floor": whole_range({"agents": 10, "occupancy": 0.75, "adherence": 0.875, "aht_s": 295.5, "absent": 1}),
    "teams": [
        {
            "id": "north",
            "name": "Team North",
            "targets": {"occupancy": 0.85, "adherence": 0.9, "aht_s": 300.0},
            **whole_range(
                {"agents": 6, "occupancy": 0.875, "adherence": 0.89, "aht_s": 330.0, "shrinkage": 0.1, "late_logins": 2}
            ),
        },
        {
            "id": "south",
            "name": "Team South",
            "targets": {"occupancy": None, "adherence": None, "aht_s": None},
            **whole_range({"agents": 4, "occupancy": 0.6, "absent": 1}),
        },
    ],
}
# north against its targets: occupancy 0.95 > 0.85 + 0.05 red, 0.8 in [0.75, 0.9] green;
# adherence 0.92 >= 0.9 green, 0.86 in [0.85, 0.9) amber; AHT 320 in (300, 330] amber, 340 red
NORTH_SHOWN = {
    "2026-11-30": {
        "agents": ("3", ""),
        "occupancy": ("95.0%", "sl-red"),
        "adherence": ("92.0%", "sl-green"),
        "aht": ("5:20", "sl-amber"),
        "shrinkage": ("20.0%", ""),
        "absent": ("0", ""),
        "late_logins": ("0", ""),
    },
    "2026-12-01": {
        "agents": ("3", ""),
        "occupancy": ("80.0%", "sl-green"),
        "adherence": ("86.0%", "sl-amber"),
        "aht": ("5:40", "sl-red"),
        "shrinkage": ("–", ""),
        "absent": ("0", ""),
        "late_logins": ("2", "sl-amber"),
    },
    "2026-12-02": {
        "agents": ("0", ""),
        "occupancy": ("–", "sl-none"),
        "adherence": ("–", "sl-none"),
        "aht": ("–", "sl-none"),
        "shrinkage": ("–", ""),
        "absent": ("0", ""),
        "late_logins": ("0", ""),
    },
    "total": {  # occupancy 0.875 in [0.75, 0.9] green; adherence 0.89 amber; AHT 330 = 300 + 10 % amber
        "agents": ("6", ""),
        "occupancy": ("87.5%", "sl-green"),
        "adherence": ("89.0%", "sl-amber"),
        "aht": ("5:30", "sl-amber"),
        "shrinkage": ("10.0%", ""),
        "absent": ("0", ""),
        "late_logins": ("2", "sl-amber"),
    },
}
TEAM_VALUE = {
    "agents": "agents",
    "occupancy": "occupancy",
    "adherence": "adherence",
    "aht": "aht_s",
    "shrinkage": "shrinkage",
    "absent": "absent",
    "late_logins": "late_logins",
}


def staffing_row(period: str, first: str, last: str, **figures: Any) -> dict[str, Any]:
    """A STAFFING PERIOD ROW: the period keys and the forecast vs actual figures (none unless given)."""
    out: dict[str, Any] = {
        "period": period,
        "from": first,
        "to": last,
        **local_bounds(first, last),
        "forecast_offered": None,
        "actual_offered": 0,
        "forecast_aht_s": None,
        "actual_aht_s": None,
        "offered_variance": None,
        "aht_variance_s": None,
        "wape_offered": None,
        "wape_aht": None,
        "forecast_intervals": 0,
        "required_agent_hours": 0.0,
        "staffed_agent_hours": 0.0,
    }
    out.update(figures)
    return out


STAFFING_DAYS = [
    staffing_row(
        "2026-11-30",
        "2026-11-30",
        "2026-11-30",
        forecast_offered=110.0,
        actual_offered=100,
        forecast_aht_s=240.0,
        actual_aht_s=245.25,
        offered_variance=-10.0,
        aht_variance_s=5.25,
        wape_offered=0.12,
        wape_aht=0.05,
        forecast_intervals=20,
        required_agent_hours=42.5,
        staffed_agent_hours=39.94,
    ),
    staffing_row(
        "2026-12-01",
        "2026-12-01",
        "2026-12-01",
        forecast_offered=120.0,
        actual_offered=120,
        forecast_aht_s=250.0,
        actual_aht_s=250.0,
        offered_variance=0.0,
        aht_variance_s=0.0,
        wape_offered=0.0,  # a perfect forecast: 0, not "–"
        wape_aht=0.1,
        forecast_intervals=20,
        required_agent_hours=48.0,
        staffed_agent_hours=45.5,
    ),
    staffing_row("2026-12-02", "2026-12-02", "2026-12-02"),  # no forecast, no contacts: nulls
]
STAFFING_TOTAL = staffing_row(  # group=range: the server's sums of the three days (hand-written)
    f"{FROM}/{TO}",
    FROM,
    TO,
    forecast_offered=230.0,
    actual_offered=220,
    forecast_aht_s=56400 / 230,  # (110 x 240 + 120 x 250) / 230 = 245.22 s
    actual_aht_s=247.75,
    offered_variance=-10.0,
    aht_variance_s=247.75 - 56400 / 230,
    wape_offered=0.06,
    wape_aht=0.08,
    forecast_intervals=40,
    required_agent_hours=90.5,
    staffed_agent_hours=85.44,
)
# text of each figure, by hand: volumes and agent-hours with one decimal, WAPE in percent with
# one decimal, AHT m:ss rounded to the second, null "–"; no colour
FORECAST_SHOWN = {
    "2026-11-30": {
        "forecast_offered": "110.0",
        "actual_offered": "100",
        "wape_offered": "12.0%",
        "forecast_aht": "4:00",
        "actual_aht": "4:05",
        "wape_aht": "5.0%",
        "required_agent_hours": "42.5",
        "staffed_agent_hours": "39.9",
    },
    "2026-12-01": {
        "forecast_offered": "120.0",
        "actual_offered": "120",
        "wape_offered": "0.0%",
        "forecast_aht": "4:10",
        "actual_aht": "4:10",
        "wape_aht": "10.0%",
        "required_agent_hours": "48.0",
        "staffed_agent_hours": "45.5",
    },
    "2026-12-02": {
        "forecast_offered": "–",
        "actual_offered": "0",
        "wape_offered": "–",
        "forecast_aht": "–",
        "actual_aht": "–",
        "wape_aht": "–",
        "required_agent_hours": "0.0",
        "staffed_agent_hours": "0.0",
    },
    "total": {
        "forecast_offered": "230.0",
        "actual_offered": "220",
        "wape_offered": "6.0%",
        "forecast_aht": "4:05",
        "actual_aht": "4:08",
        "wape_aht": "8.0%",
        "required_agent_hours": "90.5",
        "staffed_agent_hours": "85.4",
    },
}
FORECAST_VALUE = {
    "forecast_offered": "forecast_offered",
    "actual_offered": "actual_offered",
    "wape_offered": "wape_offered",
    "forecast_aht": "forecast_aht_s",
    "actual_aht": "actual_aht_s",
    "wape_aht": "wape_aht",
    "required_agent_hours": "required_agent_hours",
    "staffed_agent_hours": "staffed_agent_hours",
}

SLOTS = [f"{h:02d}:{m:02d}" for h in range(24) for m in (0, 30)]
HOT = {  # (date, slot) -> (offered, service level); every other cell: no contacts
    ("2026-11-30", "09:00"): (20, 0.85),
    ("2026-12-01", "03:00"): (1, None),  # contacts, no service level (a short abandon only)
    ("2026-12-01", "10:00"): (10, 0.9),
    ("2026-12-01", "10:30"): (12, 0.4),  # the weak half hour
    ("2026-12-01", "11:00"): (8, 0.775),
}
HEATMAP: dict[str, Any] = {
    "queue": "sales",
    "from": FROM,
    "to": TO,
    "slot_minutes": 30,
    "sl_target": 0.8,
    "slots": SLOTS,
    "days": [
        {
            "date": d,
            "cells": [
                {"slot": s, "offered": HOT.get((d, s), (0, None))[0], "service_level": HOT.get((d, s), (0, None))[1]}
                for s in SLOTS
            ],
        }
        for d in ("2026-11-30", "2026-12-01", "2026-12-02")
    ],
}

QUEUES = [
    {
        "queue": "sales",
        "name": "Sales",
        "sl_target": 0.8,
        "interval": {"start": "2026-12-04T10:00:00.000+08:00", "end": "2026-12-04T10:30:00.000+08:00"},
    },
    {"queue": "support", "name": "Support", "sl_target": 0.9, "interval": None},
]

TOO_EARLY = "2025-01-01"  # a range from then to TO is longer than the API allows: 422
CSV_BODY = "period,from,to,offered\r\n2026-11-30,2026-11-30,2026-11-30,100\r\n"


class FakeServer:
    """The page's server, in the browser: static files and /api/v1/* (hand-written answers)."""

    def __init__(self, page: Any) -> None:
        self.requests: list[str] = []  # path?query of every API request
        self.tokens: set[str] = set()
        page.route(f"{ORIGIN}/**", self.http)

    def http(self, route: Any) -> None:
        url = urlsplit(route.request.url)
        path = url.path
        if path == "/reports" or path.startswith("/static/"):
            name = "reports.html" if path == "/reports" else path.removeprefix("/static/")
            fulfill_static(route, name, "reports.test")
            return
        self.requests.append(f"{path}?{url.query}")
        self.tokens.add(route.request.headers.get("authorization", ""))
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if query.get("format") == "csv":
            name = f"floorwatch-{path.rsplit('/', 1)[1]}-{query['from']}_{query['to']}.csv"
            route.fulfill(
                status=200,
                body=CSV_BODY,
                headers={
                    "content-type": "text/csv; charset=utf-8",
                    "content-disposition": f'attachment; filename="{name}"',
                },
            )
            return
        status, body = self.answer(path, query)
        route.fulfill(status=status, body=json.dumps(body), headers={"content-type": "application/json"})

    def answer(self, path: str, q: dict[str, str]) -> tuple[int, Any]:
        if path == "/api/v1/queues":
            return 200, QUEUES
        if q.get("from") == TOO_EARLY:
            return 422, {"detail": "a range is at most 367 days"}
        whole = f"{q.get('from')}/{q.get('to')}"  # the label of the group=range period
        if path.endswith("/days") and (q.get("from"), q.get("to")) == (FROM, TO):
            return 200, {"day": DAYS, "month": MONTHS, "week": [WEEK], "range": [TOTAL]}[q["group"]]
        if path.endswith("/days") and q.get("group") == "range":  # any other range: its empty total
            return 200, [queue_row(whole, q["from"], q["to"])]
        if path.endswith("/days"):  # any other range: an empty first and last day
            return 200, [queue_row(q["from"], q["from"], q["from"]), queue_row(q["to"], q["to"], q["to"])]
        if path == "/api/v1/teams" and (q.get("from"), q.get("to")) == (FROM, TO):
            return 200, TEAMS_TOTAL if q.get("group") == "range" else TEAMS
        if path == "/api/v1/teams" and q.get("group") == "range":
            return 200, {"floor": {"periods": [team_row(whole, q["from"], q["to"])]}, "teams": []}
        if path == "/api/v1/teams":
            return 200, {**TEAMS, "teams": []}
        if path.endswith("/heatmap"):
            return 200, HEATMAP
        if path == "/api/v1/staffing" and (q.get("queue"), q.get("from"), q.get("to"), q.get("group")) == (
            "sales",
            FROM,
            TO,
            "day",
        ):
            return 200, STAFFING_DAYS
        if path == "/api/v1/staffing" and (q.get("queue"), q.get("from"), q.get("to"), q.get("group")) == (
            "sales",
            FROM,
            TO,
            "range",
        ):
            return 200, [STAFFING_TOTAL]
        if path == "/api/v1/staffing" and q.get("group") == "range":  # any other report: its empty total
            return 200, [staffing_row(whole, q["from"], q["to"])]
        if path == "/api/v1/staffing":  # any other: an empty first and last period
            return 200, [staffing_row(q["from"], q["from"], q["from"]), staffing_row(q["to"], q["to"], q["to"])]
        return 404, {"detail": "Not Found"}


def open_page(browser: Any, query: str) -> tuple[Any, FakeServer, list[str]]:
    errors: list[str] = []
    page = page_with_errors(browser, errors, ignore_404=False, accept_downloads=True)
    server = FakeServer(page)
    page.goto(f"{ORIGIN}/reports?token={TOKEN}{query}")
    return page, server, errors


def loaded(page: Any, times: int = 1) -> None:
    page.wait_for_function(f"() => Number(document.body.dataset.loaded || 0) >= {times}")


def table_rows(page: Any, selector: str) -> dict[str, dict[str, tuple[Any, str, str]]]:
    """{data-period: {data-field: (value, text, colour class)}} of the rows under ``selector``."""
    rows = page.evaluate(
        """(sel) => [...document.querySelectorAll(sel)].map((tr) => [tr.dataset.period,
              Object.fromEntries([...tr.querySelectorAll('.value[data-field]')].map((n) => [n.dataset.field,
                  [JSON.parse(n.dataset.value), n.textContent,
                   [...n.classList].filter((c) => c !== 'value').join(' ')]]))])""",
        selector,
    )
    return {period: {f: tuple(v) for f, v in figs.items()} for period, figs in rows}


def search(page: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


# -- page tests ---------------------------------------------------------------------------


def test_queue_and_team_tables_show_the_server_figures(browser: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page, server, errors = open_page(browser, f"&queue=sales&from={FROM}&to={TO}&group=day")
    try:
        loaded(page)
        shown = table_rows(page, "#queue-table tr[data-period]")
        assert list(shown) == ["2026-11-30", "2026-12-01", "2026-12-02", "total"]
        for row in [*DAYS, TOTAL]:
            key = "total" if row is TOTAL else row["period"]
            assert {f: (v[1], v[2]) for f, v in shown[key].items()} == QUEUE_SHOWN[key], key
            assert {f: v[0] for f, v in shown[key].items()} == {f: row[k] for f, k in QUEUE_VALUE.items()}, key
        # the total: the one row of group=range (the range crosses a month end: no month is it)
        days = "/api/v1/queues/sales/days?"
        assert sorted(r for r in server.requests if r.startswith(days)) == [
            f"{days}from={FROM}&to={TO}&group=day",
            f"{days}from={FROM}&to={TO}&group=range",
        ]
        teams = "/api/v1/teams?"
        assert sorted(r for r in server.requests if r.startswith(teams)) == [
            f"{teams}from={FROM}&to={TO}&group=day",
            f"{teams}from={FROM}&to={TO}&group=range",
        ]
        assert page.inner_text('#queue-table tfoot th[scope="row"]') == f"Total\n{FROM} – {TO}"
        assert "rules changed" in page.inner_text("#queue-table tfoot")  # the week's mixed_rules
        assert page.get_attribute('tfoot [data-field="service_level"]', "data-target") == "0.8"
        assert "target 80.0%" in page.inner_text('#queue-table tr[data-period="2026-11-30"]')
        assert page.locator("#queue-note").count() == 0  # no "no total" note any more
        assert page.inner_text("#queue-title") == f"Queue Sales — {FROM} to {TO} by day"

        # teams: the floor first, then each team, one row per period, then its total row
        bodies = page.evaluate("() => [...document.querySelectorAll('#team-table tbody')].map((b) => b.dataset.team)")
        assert bodies == ["floor", "north", "south"]
        north = table_rows(page, '#team-table tbody[data-team="north"] tr')
        assert list(north) == ["2026-11-30", "2026-12-01", "2026-12-02", "total"]
        src = {p["period"]: p for p in TEAMS["teams"][0]["periods"]}
        src["total"] = TEAMS_TOTAL["teams"][0]["periods"][0]
        assert {p: {f: (v[1], v[2]) for f, v in figs.items()} for p, figs in north.items()} == NORTH_SHOWN
        for p, figs in north.items():
            assert {f: v[0] for f, v in figs.items()} == {f: src[p][k] for f, k in TEAM_VALUE.items()}
        floor = table_rows(page, '#team-table tbody[data-team="floor"] tr')
        assert floor["2026-11-30"]["aht"] == (301.5, "5:02", "")  # no targets for the floor: no colour
        assert floor["2026-12-01"]["absent"] == (1, "1", "warn")
        south = table_rows(page, '#team-table tbody[data-team="south"] tr')
        assert south["2026-11-30"]["occupancy"] == (0.6, "60.0%", "")
        assert (floor["total"]["agents"], floor["total"]["aht"]) == ((10, "10", ""), (295.5, "4:56", ""))
        assert (south["total"]["agents"], south["total"]["absent"]) == ((4, "4", ""), (1, "1", "warn"))
        total_th = '#team-table tbody[data-team="north"] tr.total th[scope="row"]'
        assert page.inner_text(total_th) == f"Total\n{FROM} – {TO}"
        assert page.get_attribute('#team-table tbody[data-team="north"] th.team', "rowspan") == "4"
        assert page.inner_text('#team-table tbody[data-team="north"] th.team') == "Team North"
        assert server.tokens == {f"Bearer {TOKEN}"}
        assert errors == []
        page.screenshot(path=str(ARTIFACTS / "reports-tables.png"), full_page=True)
    finally:
        page.close()


def test_forecast_table_shows_the_server_figures(browser: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page, server, errors = open_page(browser, f"&queue=sales&from={FROM}&to={TO}&group=day")
    try:
        loaded(page)
        shown = table_rows(page, "#forecast-table tr[data-period]")
        assert list(shown) == ["2026-11-30", "2026-12-01", "2026-12-02", "total"]
        for row in [*STAFFING_DAYS, STAFFING_TOTAL]:
            key = "total" if row is STAFFING_TOTAL else row["period"]
            assert {f: v[1] for f, v in shown[key].items()} == FORECAST_SHOWN[key], key
            assert {f: v[0] for f, v in shown[key].items()} == {f: row[k] for f, k in FORECAST_VALUE.items()}, key
            assert {v[2] for v in shown[key].values()} == {""}, key  # no colour
        # the rows and the total: the staffing endpoint by day and once with group=range
        staffing = "/api/v1/staffing?"
        assert sorted(r for r in server.requests if r.startswith(staffing)) == [
            f"{staffing}queue=sales&from={FROM}&to={TO}&group=day",
            f"{staffing}queue=sales&from={FROM}&to={TO}&group=range",
        ]
        assert page.inner_text('#forecast-table tfoot th[scope="row"]') == f"Total\n{FROM} – {TO}"
        assert page.inner_text("#forecast-title") == f"Forecast vs actual Sales — {FROM} to {TO} by day"
        heads = page.evaluate(
            "() => [...document.querySelectorAll('#forecast-table thead th')].map((th) => th.textContent)"
        )
        assert heads == [
            "Period",
            "Forecast offered",
            "Actual offered",
            "WAPE offered",
            "Forecast AHT",
            "Actual AHT",
            "WAPE AHT",
            "Required agent-hours",
            "Staffed agent-hours",
        ]
        assert page.is_hidden("#forecast-error")
        assert server.tokens == {f"Bearer {TOKEN}"}
        assert errors == []
        page.locator("#forecast-report").screenshot(path=str(ARTIFACTS / "reports-forecast.png"))
    finally:
        page.close()


def test_heat_map_marks_the_weak_half_hour(browser: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page, server, errors = open_page(browser, f"&queue=sales&from={FROM}&to={TO}")
    try:
        loaded(page)
        assert f"/api/v1/queues/sales/heatmap?from={FROM}&to={TO}" in server.requests  # no group: rows are days
        cells = page.evaluate(
            """() => [...document.querySelectorAll('#heatmap tbody tr')].map((tr) => [tr.dataset.date,
                  [...tr.querySelectorAll('td')].map((td) => [td.dataset.slot, Number(td.dataset.offered),
                      JSON.parse(td.dataset.value), td.className, td.title, td.getAttribute('aria-label'),
                      getComputedStyle(td).backgroundColor])])"""
        )
        assert [d for d, _ in cells] == ["2026-11-30", "2026-12-01", "2026-12-02"]
        assert all([c[0] for c in row] == SLOTS for _, row in cells)  # 48 half hours, aligned
        colours = {  # the CSS custom properties of reports.css
            "cell hm-green": "rgb(46, 160, 67)",
            "cell hm-amber": "rgb(210, 153, 34)",
            "cell hm-red": "rgb(248, 81, 73)",
            "cell hm-none": "rgb(110, 118, 129)",
            "cell hm-empty": "rgba(0, 0, 0, 0)",
        }
        want_class = {  # against the target 0.8: 0.85, 0.9 green; 0.775 amber; 0.4 red; null grey
            ("2026-11-30", "09:00"): "cell hm-green",
            ("2026-12-01", "03:00"): "cell hm-none",
            ("2026-12-01", "10:00"): "cell hm-green",
            ("2026-12-01", "10:30"): "cell hm-red",
            ("2026-12-01", "11:00"): "cell hm-amber",
        }
        for date, row in cells:
            for slot, offered, value, cls, title, label, bg in row:
                want_offered, want_value = HOT.get((date, slot), (0, None))
                assert (offered, value) == (want_offered, want_value), (date, slot)
                assert cls == want_class.get((date, slot), "cell hm-empty"), (date, slot)
                assert bg == colours[cls], (date, slot)
                assert title == label
        weak = page.locator('#heatmap tr[data-date="2026-12-01"] td[data-slot="10:30"]')
        assert weak.get_attribute("aria-label") == "2026-12-01 10:30: service level 40.0% of 12 offered (target 80.0%)"
        empty = page.locator('#heatmap tr[data-date="2026-12-02"] td[data-slot="10:30"]')
        assert empty.get_attribute("title") == "2026-12-02 10:30: no contacts"
        legend = page.evaluate(
            "() => [...document.querySelectorAll('#legend li')].map((li) => [li.firstChild.className, li.textContent])"
        )
        assert legend == [
            ["swatch hm-green", "at or above the target (≥ 80.0%)"],
            ["swatch hm-amber", "up to 5 points below (75.0% – 80.0%)"],
            ["swatch hm-red", "more than 5 points below (< 75.0%)"],
            ["swatch hm-none", "contacts, no service level"],
            ["swatch hm-empty", "no contacts"],
        ]
        heads = page.evaluate("() => [...document.querySelectorAll('#heatmap thead th')].map((th) => th.textContent)")
        assert heads[:4] == ["Date", "00", "", "01"] and len(heads) == 49
        assert page.inner_text('#heatmap tr[data-date="2026-12-01"] th') == "Tue 2026-12-01"
        assert page.inner_text("#heatmap-title") == "Service level per half hour — Sales, target 80.0%"
        assert errors == []
        page.locator("#heatmap-report").screenshot(path=str(ARTIFACTS / "reports-heatmap.png"))
    finally:
        page.close()


def test_the_url_keeps_the_report_and_the_defaults_are_the_last_7_days(browser: Any) -> None:
    page, server, errors = open_page(browser, "")
    try:
        loaded(page)
        # the server's today (2026-12-04, from the queue's current interval) and the six days before
        assert search(page) == {
            "token": TOKEN,
            "queue": "sales",
            "from": "2026-11-28",
            "to": "2026-12-04",
            "group": "day",
        }
        assert urlsplit(page.url).query.startswith(f"token={TOKEN}&")  # the token stays where it was
        # 2026-11-28 .. 2026-12-04 lies in two months and two ISO weeks: the total row is still
        # there, the server's group=range row; no month or week is asked for it
        foot = page.locator("#queue-table tfoot tr")
        assert foot.count() == 1
        assert (foot.get_attribute("data-from"), foot.get_attribute("data-to")) == ("2026-11-28", "2026-12-04")
        assert "/api/v1/queues/sales/days?from=2026-11-28&to=2026-12-04&group=range" in server.requests
        assert "/api/v1/teams?from=2026-11-28&to=2026-12-04&group=range" in server.requests
        assert not [r for r in server.requests if "group=month" in r or "group=week" in r]
        assert page.locator('#team-table tbody[data-team="floor"] tr.total').count() == 1
        assert page.eval_on_selector("#from", "n => n.value") == "2026-11-28"

        # the controls rewrite the URL (no reload) and load the new report
        server.requests.clear()
        page.select_option("#group", "week")
        loaded(page, 2)
        assert search(page)["group"] == "week"
        assert "/api/v1/queues/sales/days?from=2026-11-28&to=2026-12-04&group=week" in server.requests
        assert "/api/v1/teams?from=2026-11-28&to=2026-12-04&group=week" in server.requests
        assert "/api/v1/queues/sales/days?from=2026-11-28&to=2026-12-04&group=range" in server.requests
        page.select_option("#queue", "support")
        loaded(page, 3)
        page.fill("#from", FROM)
        loaded(page, 4)
        page.fill("#to", TO)
        loaded(page, 5)
        assert search(page) == {"token": TOKEN, "queue": "support", "from": FROM, "to": TO, "group": "week"}
        assert f"/api/v1/queues/support/heatmap?from={FROM}&to={TO}" in server.requests
        assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1
        # a first date after the last: a message, no request, the URL unchanged
        before = len(server.requests)
        page.fill("#from", "2026-12-03")
        page.wait_for_selector("#banner:not([hidden])")
        assert page.inner_text("#banner") == "The first date is after the last."
        assert len(server.requests) == before and search(page)["from"] == FROM

        # the shared URL opens the same report
        shared = page.url
        again = browser.new_page()
        try:
            FakeServer(again)
            again.goto(shared)
            loaded(again)
            assert again.eval_on_selector("#queue", "n => n.value") == "support"
            assert again.eval_on_selector("#group", "n => n.value") == "week"
            assert (again.eval_on_selector("#from", "n => n.value"), again.eval_on_selector("#to", "n => n.value")) == (
                FROM,
                TO,
            )
            assert again.get_attribute("#wallboard-link", "href") == f"/?token={TOKEN}"
        finally:
            again.close()
        assert errors == []
    finally:
        page.close()


def test_csv_buttons_save_the_servers_file(browser: Any, tmp_path: Path) -> None:
    page, server, errors = open_page(browser, f"&queue=sales&from={FROM}&to={TO}&group=month")
    try:
        loaded(page)
        want = {
            "queue": (f"/api/v1/queues/sales/days?from={FROM}&to={TO}&group=month&format=csv", "days"),
            "teams": (f"/api/v1/teams?from={FROM}&to={TO}&group=month&format=csv", "teams"),
            "forecast": (f"/api/v1/staffing?queue=sales&from={FROM}&to={TO}&group=month&format=csv", "staffing"),
            "heatmap": (f"/api/v1/queues/sales/heatmap?from={FROM}&to={TO}&format=csv", "heatmap"),
        }
        for which, (url, endpoint) in want.items():
            server.requests.clear()
            server.tokens.clear()
            with page.expect_download() as info:
                page.click(f'button[data-csv="{which}"]')
            download = info.value
            assert server.requests == [url]
            assert server.tokens == {f"Bearer {TOKEN}"}
            assert download.suggested_filename == f"floorwatch-{endpoint}-{FROM}_{TO}.csv"
            saved = tmp_path / download.suggested_filename
            download.save_as(saved)
            assert saved.read_bytes() == CSV_BODY.encode()  # byte for byte, CRLF kept
        assert errors == []
    finally:
        page.close()


def test_a_refused_range_says_why_in_each_part(browser: Any) -> None:
    page, _, errors = open_page(browser, f"&queue=sales&from={TOO_EARLY}&to={TO}")
    try:
        loaded(page)
        for part in ("queue", "forecast", "team", "heatmap"):
            assert page.inner_text(f"#{part}-error") == "Could not load the figures: 422 a range is at most 367 days"
        assert page.locator("#queue-table tr[data-period]").count() == 0
        assert page.locator("#forecast-table tr[data-period]").count() == 0
        assert page.inner_text("#status").startswith(f"{TOO_EARLY} – {TO} · 4 of 4 failed")
        assert [e for e in errors if "422" not in e] == []  # the browser logs the failed requests
    finally:
        page.close()


# -- the real stack -----------------------------------------------------------------------------

S = 1000  # ms


# (contact, agent, offered, answered, ended, wrapped) in seconds before t; None: abandoned then
CONTACTS: list[tuple[str, str | None, int, int | None, int, int | None]] = [
    ("rp-c1", "rp-a1", -545, -540, -300, -240),  # wait 5 s (within 20), talk 240, wrap 60
    ("rp-c2", "rp-a2", -362, -360, -330, -300),  # wait 2 s, talk 30, wrap 30
    ("rp-c3", "rp-a2", -500, -440, -400, -380),  # wait 60 s (late), talk 40, wrap 20
    ("rp-c4", None, -450, None, -380, None),  # abandoned after 70 s (not short: over 5 s)
]


def report_events(t: int, tz: ZoneInfo) -> list[dict[str, Any]]:
    n = iter(range(1000))

    def ev(dt_s: int, **fields: Any) -> dict[str, Any]:
        ts = datetime.fromtimestamp((t + dt_s * S) / 1000, tz).isoformat(timespec="milliseconds")
        return {"event_id": f"rp-{next(n)}", "ts": ts, **fields}

    out = [
        ev(-900, type="agent.profile", agent_id="rp-a1", name="Ada", team="north", queues=["sales"]),
        ev(-900, type="agent.profile", agent_id="rp-a2", name="Bob", team="south", queues=["sales"]),
    ]
    for cid, agent, offered, answered, ended, wrapped in CONTACTS:
        out.append(ev(offered, type="contact.offered", contact_id=cid, queue="sales", channel="voice"))
        if agent is None:
            out.append(ev(ended, type="contact.abandoned", contact_id=cid, queue="sales"))
            continue
        assert answered is not None and wrapped is not None
        out += [
            ev(answered, type="contact.answered", contact_id=cid, queue="sales", agent_id=agent),
            ev(ended, type="contact.ended", contact_id=cid, agent_id=agent),
            ev(wrapped, type="contact.wrapup_ended", contact_id=cid, agent_id=agent),
        ]
    return out


def test_reports_page_on_the_real_stack(tmp_path: Path, browser: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    zone = midday_zone(time.time())
    tz = ZoneInfo(zone)
    # Stack() runs asyncio (topic creation): not in this thread, where Playwright's loop runs
    with ThreadPoolExecutor(1) as pool:
        stack = pool.submit(Stack, tmp_path, timezone=zone).result()
    try:
        minutes = stack.settings().interval_minutes
        stack.worker()
        stack.api()
        t = int(time.time()) * S
        today = datetime.fromtimestamp(t / 1000, tz).date().isoformat()
        resp = httpx.post(
            f"{stack.api_url}/api/v1/events",
            content=orjson.dumps(report_events(t, tz)),
            timeout=10,
            headers={"Authorization": f"Bearer {INGEST_TOKEN}", "Content-Type": "application/json"},
        )
        assert resp.status_code == 202 and resp.json()["rejected"] == [], resp.text
        # a forecast of 2 contacts @ 150 s for every interval of today
        step = minutes * 60 * S
        starts = day_interval_starts(date.fromisoformat(today), tz, minutes)
        forecast = {
            "event_id": "rp-forecast",
            "type": "forecast.published",
            "ts": datetime.fromtimestamp(t / 1000, tz).isoformat(timespec="milliseconds"),
            "queue": "sales",
            "date": today,
            "interval_minutes": minutes,
            "intervals": [
                {"start": datetime.fromtimestamp(s / 1000, tz).isoformat(), "offered": 2, "aht_s": 150} for s in starts
            ],
        }
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, produce(stack.bootstrap, [forecast])).result()

        # by hand (sales: threshold 20 s, short abandon 5 s, A_T / (A + B - S)):
        # 4 offered, 3 answered (2 within 20 s), 1 long abandon; waits 5 + 2 + 60 s;
        # handle 300 + 60 + 60 s; rp-a1 (north) handled c1, rp-a2 (south) c2 and c3
        want_day = {
            "offered": 4,
            "answered": 3,
            "abandoned": 1,
            "service_level": 2 / 4,
            "asa": pytest.approx(67 / 3),
            "aht": 420 / 3,
            "abandon_rate": 1 / 4,
            "transfer_rate": 0.0,
        }

        def settled() -> bool:
            rows = stack.get("/api/v1/queues/sales/days", **{"from": today, "to": today})
            return len(rows) == 1 and (rows[0]["offered"], rows[0]["handled"]) == (4, 3)

        wait_until(settled, 60, "the day's contacts")

        def planned() -> bool:
            rows = stack.get("/api/v1/staffing", queue="sales", group="day", **{"from": today, "to": today})
            return len(rows) == 1 and rows[0]["forecast_intervals"] == len(starts)

        wait_until(planned, 60, "the forecast in the API")
        # forecast accuracy by hand: the intervals ended at read time, each |actual - 2|, over the
        # sum of their actual offered (0 before the contacts: the error of the empty hours counts)
        arrived: dict[int, int] = {}  # interval start -> contacts offered in it
        for _, _, offered, _, _, _ in CONTACTS:
            ts = t + offered * S
            start = max(s for s in starts if s <= ts)
            arrived[start] = arrived.get(start, 0) + 1

        def ended_by(now_ms: int) -> list[int]:
            return [s for s in starts if s + step <= now_ms]

        def wape_offered(now_ms: int) -> float | None:
            ended = ended_by(now_ms)
            actual = sum(arrived.get(s, 0) for s in ended)
            return sum(abs(arrived.get(s, 0) - 2) for s in ended) / actual if actual else None

        # per half hour: the slot of each contact's offer (local wall clock, 30-minute slots)
        slot_minutes = 30 if 30 % minutes == 0 else minutes
        per_slot: dict[str, list[int]] = {}  # slot -> [offered, answered within 20 s]
        for _, agent, offered, answered, _, _ in CONTACTS:
            local = datetime.fromtimestamp((t + offered * S) / 1000, tz)
            slot = f"{local.hour:02d}:{local.minute - local.minute % slot_minutes:02d}"
            cell = per_slot.setdefault(slot, [0, 0])
            cell[0] += 1
            cell[1] += int(agent is not None and answered is not None and answered - offered <= 20)

        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        try:
            while True:  # read again if an interval ended while the page was loading
                before = int(time.time() * 1000)
                page.goto(f"{stack.api_url}/reports?token={VIEWER_TOKEN}&queue=sales&from={today}&to={today}")
                loaded(page)
                if ended_by(before) == ended_by(int(time.time() * 1000)):
                    break
            want_wape = wape_offered(before)
            shown = table_rows(page, "#queue-table tr[data-period]")
            assert list(shown) == [today, "total"]  # the total: the server's group=range row
            for key in (today, "total"):
                assert {f: v[0] for f, v in shown[key].items()} == want_day, key
            assert shown[today]["service_level"][1:] == ("50.0%", "sl-red")
            # the heat map: the slots with contacts and nothing else
            cells = page.evaluate(
                """(d) => [...document.querySelectorAll(`#heatmap tr[data-date="${d}"] td`)].map((td) =>
                      [td.dataset.slot, Number(td.dataset.offered), JSON.parse(td.dataset.value), td.className])""",
                today,
            )
            assert len(cells) == 24 * 60 // slot_minutes
            for slot, offered, value, cls in cells:
                if slot not in per_slot:
                    assert (offered, value, cls) == (0, None, "cell hm-empty"), slot
                    continue
                n, within = per_slot[slot]
                sl = within / n
                assert (offered, value) == (n, sl), slot
                assert cls == f"cell {'hm-green' if sl >= 0.8 else 'hm-amber' if sl >= 0.75 else 'hm-red'}", slot
            # the teams: AHT per team and for the floor, from the same contacts
            teams = {
                team: table_rows(page, f'#team-table tbody[data-team="{team}"] tr')
                for team in ("floor", "north", "south")
            }
            assert {team: rows[today]["aht"][0] for team, rows in teams.items()} == {
                "floor": 420 / 3,
                "north": 300.0,
                "south": 120 / 2,
            }
            # each team's and the floor's total row (group=range of one day): the same figures
            for team, rows in teams.items():
                assert list(rows) == [today, "total"], team
                assert rows["total"] == rows[today], team
            # agent-days: each agent with contact rows today once, in its team
            assert {team: rows[today]["agents"][0] for team, rows in teams.items()} == {
                "floor": 2,
                "north": 1,
                "south": 1,
            }
            # forecast vs actual: the day's forecast and the WAPE of the intervals ended so far
            plan = table_rows(page, "#forecast-table tr[data-period]")
            assert list(plan) == [today, "total"]
            assert plan[today]["forecast_offered"][:2] == (2.0 * len(starts), f"{2 * len(starts):.1f}")
            assert plan[today]["actual_offered"][:2] == (4, "4")
            if want_wape is None:
                assert plan[today]["wape_offered"][:2] == (None, "–")
            else:
                assert plan[today]["wape_offered"][0] == pytest.approx(want_wape)
                assert plan[today]["wape_offered"][1] == f"{want_wape * 100:.1f}%"
            for field in ("forecast_offered", "actual_offered", "wape_offered"):  # group=range of one day
                assert plan["total"][field] == plan[today][field], field
            # CSV of the queue table: the server's file, the same day row
            with page.expect_download() as info:
                page.click('button[data-csv="queue"]')
            download = info.value
            assert download.suggested_filename == f"floorwatch-queue-days-sales-{today}.csv"
            saved = tmp_path / download.suggested_filename
            download.save_as(saved)
            header, row = saved.read_text().splitlines()[:2]
            record = dict(zip(header.split(","), row.split(","), strict=True))
            assert (record["period"], record["offered"], record["answered"]) == (today, "4", "3")
            assert errors == []
            page.screenshot(path=str(ARTIFACTS / "reports-stack.png"), full_page=True)
        finally:
            page.close()
    finally:
        stack.close()
