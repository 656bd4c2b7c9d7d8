"""The wallboard's forecast vs actual panel (api/static/forecast.js) in Debian chromium (Playwright).

Page tests: the real page (api/static/, served with the API's CSP) against answers of the
documented shapes routed in the browser (REST through ``page.route``, the websocket through
``page.route_web_socket``). The staffing rows are the ones tests/unit/api/test_staffing_forecast.py
computes by hand from records (``EXPECTED``), moved to 2026-12-04; the server's clock (the answers'
``Date`` header) is 10:17:30 local (+08:00), so 10:00-10:30 is the current interval.

By hand, the current interval: forecast 20, actual so far 25 (more than forecast: red), required
4, staffed (900,000 + 1,050,000) ms / 1,050,000 ms elapsed = 1.857 -> "1.9" (under required:
red). Bars: offered scaled to the day's largest offered figure (25 -> 90 px, 20 -> 72 px), agents
to the largest agents figure (4 -> 90 px, 1.857 -> 41.79 px).

Stack test: broker + API (the API reads ``fw.forecasts`` itself); a forecast posted to the topic
shows in the panel of the real page as ``/api/v1/staffing`` answers it.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from floorwatch.domain.intervals import day_interval_starts
from tests.integration.browser import ARTIFACTS, fulfill_static, page_with_errors, require_browser
from tests.integration.harness import VIEWER_TOKEN, Stack, produce, wait_until
from tests.unit.api.test_staffing_forecast import EXPECTED

pytestmark = pytest.mark.integration

ORIGIN = "http://wallboard.test"

require_browser()

# 2026-12-04 10:17:30 +08:00 = 02:17:30 UTC
SERVER_NOW_S = 1_796_350_650
assert time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(SERVER_NOW_S)) == "2026-12-04T02:17:30"

SUPPORT = json.loads(json.dumps(EXPECTED).replace("2024-03-05", "2026-12-04"))
SALES = [
    {
        "start": "2026-12-04T10:00:00+08:00",
        "end": "2026-12-04T10:30:00+08:00",
        "forecast_offered": 7.5,
        "forecast_aht_s": 300.0,
        "actual_offered": 3,
        "actual_aht_s": None,
        "offered_variance": -4.5,
        "aht_variance_s": None,
        "required_agents": None,
        "required_agents_over_cap": True,
        "required_from": "forecast",
        "avg_staffed_agents": 2.0,
    }
]


def queue_row(queue: str, name: str) -> dict[str, Any]:
    figures = {"offered": 10, "service_level": 0.8, "abandon_rate": 0.1, "asa_s": 12.0, "aht_s": 240.0}
    return {
        "queue": queue,
        "name": name,
        "channel": "voice",
        "sl_target": 0.8,
        "sl_threshold_s": 20,
        "waiting": 0,
        "longest_wait_s": None,
        "oldest_waiting": None,
        "interval": {"start": "2026-12-04T10:00:00+08:00", "end": "2026-12-04T10:30:00+08:00", **figures},
        "today": figures,
        "rolling_15m": figures,
        "rolling_60m": figures,
        "agents": {"staffed": 2, "available": 1, "on_contact": 1, "wrap_up": 0, "aux": 0},
        "required_agents": 4,
        "required_agents_over_cap": False,
        "updated_at": None,
    }


QUEUES = [queue_row("support", "Support"), queue_row("sales", "Sales")]


class FakeServer:
    """The page's server, in the browser: static files, /api/v1/*, and the websocket."""

    def __init__(self, page: Any) -> None:
        self.requests: list[str] = []
        self.tokens: set[str] = set()
        self.staffing: dict[str, list[dict[str, Any]]] | None = {"support": SUPPORT, "sales": SALES}
        page.route(f"{ORIGIN}/**", self.http)
        page.route_web_socket(re.compile(r"^ws://wallboard\.test/ws"), self.ws)

    def http(self, route: Any) -> None:
        url = urlsplit(route.request.url)
        path = url.path
        if path == "/" or path.startswith("/static/"):
            name = "index.html" if path == "/" else path.removeprefix("/static/")
            fulfill_static(route, name, "wallboard.test", missing_404=True)
            return
        self.requests.append(f"{path}?{url.query}")
        if path == "/api/v1/staffing":
            self.tokens.add(route.request.headers.get("authorization", ""))
            if self.staffing is None:
                route.fulfill(status=503, body=json.dumps({"detail": "view not ready"}))
                return
            rows = self.staffing.get(parse_qs(url.query)["queue"][0], [])
            headers = {"content-type": "application/json", "date": formatdate(SERVER_NOW_S, usegmt=True)}
            route.fulfill(status=200, body=json.dumps(rows), headers=headers)
            return
        body: Any = {
            "/api/v1/me": {"name": "viewer", "roles": ["viewer"]},
            "/api/v1/definitions": {},
            "/api/v1/teams": {"date": "2026-12-04", "floor": None, "teams": []},
        }.get(path, [])
        route.fulfill(status=200, body=json.dumps(body), headers={"content-type": "application/json"})

    def ws(self, ws: Any) -> None:
        worker = {"age_ms": 300, "stale_after_ms": 5000, "dead_after_ms": 30000}
        frame = {"type": "snapshot", "server_ts": int(time.time() * 1000), "ready": True, "worker": worker}
        ws.send(json.dumps({**frame, "queues": QUEUES, "agents": [], "alerts": []}))

    def staffing_requests(self, queue: str) -> int:
        return self.requests.count(f"/api/v1/staffing?queue={queue}")


def open_page(browser: Any, clock: bool = False) -> tuple[Any, FakeServer, list[str]]:
    errors: list[str] = []
    page = page_with_errors(browser, errors, viewport={"width": 1600, "height": 1100})
    if clock:
        page.clock.install()
    server = FakeServer(page)
    page.goto(f"{ORIGIN}/?token=tv-secret")
    return page, server, errors


def panel(page: Any) -> dict[str, Any]:
    """What the panel shows: the current interval's figures, and per interval its bars."""
    return page.evaluate(
        """() => {
          const box = document.getElementById('forecast');
          const now = box.querySelector('.fc-now');
          return {
            queue: box.querySelector('#forecast-queue').textContent,
            current: now ? now.dataset.current : null,
            figures: Object.fromEntries([...box.querySelectorAll('.fc-now [data-field]')].map((n) => [
                n.dataset.field,
                [JSON.parse(n.dataset.value), n.textContent,
                 [...n.classList].filter((c) => c !== 'fc-value').join(' ')]])),
            slots: [...box.querySelectorAll('.fc-slot')].map((g) => ({
                start: g.dataset.start, current: g.dataset.current === 'true',
                bars: Object.fromEntries([...g.querySelectorAll('rect[data-field]')].map((r) => [r.dataset.field,
                    [JSON.parse(r.dataset.value), Number(r.getAttribute('height'))]]))})),
          };
        }"""
    )


def test_panel_shows_the_chart_queue_by_hand(browser: Any) -> None:
    page, server, errors = open_page(browser)
    try:
        page.wait_for_selector("#forecast .fc-slot")
        shown = panel(page)
        assert shown["queue"] == "Support"  # the first tile is the chart's queue
        assert shown["current"] == "2026-12-04T10:00:00+08:00"
        assert shown["figures"] == {
            "forecast_offered": [20.0, "20", ""],
            "actual_offered": [25, "25", "fc-over"],
            "required_agents": [4, "4", ""],
            "avg_staffed_agents": [1_950_000 / 1_050_000, "1.9", "fc-under"],
        }
        slots = shown["slots"]
        assert [s["start"][11:16] for s in slots] == ["09:30", "10:00", "10:30", "11:00"]
        assert [s["current"] for s in slots] == [False, True, False, False]
        bars = slots[1]["bars"]
        assert bars["forecast_offered"] == [20.0, pytest.approx(72.0)]
        assert bars["actual_offered"] == [25, pytest.approx(90.0)]
        assert bars["required_agents"] == [4, pytest.approx(90.0)]
        assert bars["avg_staffed_agents"][1] == pytest.approx(90 * (1_950_000 / 1_050_000) / 4)
        # 10:30: no forecast (no bar), not begun (no staffed); 09:30 forecast 10 of 25 -> 36 px
        assert slots[2]["bars"]["forecast_offered"] == [None, 0.0]
        assert slots[2]["bars"]["avg_staffed_agents"] == [None, 0.0]
        assert slots[0]["bars"]["forecast_offered"] == [10.0, pytest.approx(36.0)]
        assert re.fullmatch(r"updated \d+ s ago", page.inner_text("#forecast-age"))
        assert server.tokens == {"Bearer tv-secret"}
        assert errors == []
        ARTIFACTS.mkdir(exist_ok=True)
        page.locator("#forecast").screenshot(path=str(ARTIFACTS / "wallboard-forecast.png"))
    finally:
        page.close()


def test_panel_follows_the_chart_queue(browser: Any) -> None:
    page, server, errors = open_page(browser)
    try:
        page.wait_for_selector("#forecast .fc-slot")
        # a click on the Sales tile makes it the chart's queue: app.js announces it, the panel follows
        page.click('#queues .tile[data-queue="sales"]')
        page.wait_for_function("() => document.getElementById('forecast-queue').textContent === 'Sales'")
        page.wait_for_function("() => document.querySelectorAll('#forecast .fc-slot').length === 1")
        shown = panel(page)
        assert shown["figures"]["forecast_offered"] == [7.5, "7.5", ""]
        assert shown["figures"]["required_agents"] == [None, "over cap", ""]
        assert shown["figures"]["avg_staffed_agents"] == [2.0, "2.0", "fc-under"]  # over the cap: short
        assert server.staffing_requests("sales") == 1
        # the page's own hook does the same
        page.evaluate("window.floorwatchForecast.setQueue('support')")
        page.wait_for_function("() => document.getElementById('forecast-queue').textContent === 'Support'")
        page.wait_for_function("() => document.querySelectorAll('#forecast .fc-slot').length === 4")
        # a queue without rows today says so
        page.evaluate("window.floorwatchForecast.setQueue('billing')")
        page.wait_for_selector("#forecast .fc-empty")
        assert page.inner_text("#forecast .fc-empty") == "No forecast or contacts today for billing."
        assert errors == []
    finally:
        page.close()


def test_panel_polls_every_30_s_and_turns_stale(browser: Any) -> None:
    page, server, _ = open_page(browser, clock=True)
    try:
        page.wait_for_selector("#forecast .fc-slot")
        assert server.staffing_requests("support") == 1
        page.clock.run_for(29_000)
        assert server.staffing_requests("support") == 1
        page.clock.run_for(1_500)
        page.wait_for_function("() => document.getElementById('forecast-age').classList.contains('ok')")
        assert server.staffing_requests("support") == 2
        # the server stops answering: the figures stay, the age grows and turns stale after 75 s
        server.staffing = None
        page.clock.run_for(60_000)
        page.wait_for_function("() => document.getElementById('forecast-age').textContent.includes('503')")
        age = page.inner_text("#forecast-age")
        assert re.fullmatch(r"updated (\d+ s|1 min) ago · 503 view not ready", age), age
        page.clock.run_for(30_000)
        page.wait_for_function("() => document.getElementById('forecast-age').classList.contains('stale')")
        assert page.inner_text("#forecast-age").startswith("stale · updated")
        assert len(panel(page)["slots"]) == 4  # the last figures are still shown
    finally:
        page.close()


# -- the real stack ---------------------------------------------------------------------------


def test_panel_on_the_real_stack(tmp_path: Path, browser: Any) -> None:
    """Broker + API (no worker: the API reads fw.forecasts itself): a forecast of 12 contacts @
    150 s for every interval of today, posted to the topic; the panel shows one slot per interval,
    and the current one's figures are the REST row of the same interval: forecast 12, actual 0,
    staffed 0.0 (nobody logged in), required as /api/v1/staffing sized it."""
    # Stack() and produce() run asyncio: not in this thread, where Playwright's loop runs
    with ThreadPoolExecutor(1) as pool:
        stack = pool.submit(Stack, tmp_path).result()
        try:
            stack.api()
            settings = stack.settings()
            tz, minutes = settings.tz, settings.interval_minutes
            today = datetime.now(tz).date()
            starts = day_interval_starts(today, tz, minutes)
            event = {
                "event_id": "it-forecast-panel",
                "type": "forecast.published",
                "ts": datetime.now(tz).isoformat(),
                "queue": "support",
                "date": today.isoformat(),
                "interval_minutes": minutes,
                "intervals": [
                    {"start": datetime.fromtimestamp(s / 1000, tz).isoformat(), "offered": 12, "aht_s": 150}
                    for s in starts
                ],
            }
            pool.submit(asyncio.run, produce(stack.bootstrap, [event])).result()
            wait_until(lambda: stack.get("/api/v1/staffing", queue="support"), 30, "the forecast in the API")
            page = browser.new_page(viewport={"width": 1600, "height": 1100})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            try:
                page.goto(f"{stack.api_url}/?token={VIEWER_TOKEN}&queue=support")
                page.wait_for_selector("#forecast .fc-now[data-current^='20']")
                shown = panel(page)
                rest = {r["start"]: r for r in stack.get("/api/v1/staffing", queue="support")}
                assert len(shown["slots"]) == len(starts) == len(rest)
                row = rest[shown["current"]]
                assert shown["figures"]["forecast_offered"][:2] == [12.0, "12"]
                assert shown["figures"]["actual_offered"][:2] == [0, "0"]
                assert shown["figures"]["avg_staffed_agents"][:2] == [0.0, "0.0"]
                assert isinstance(row["required_agents"], int)
                assert shown["figures"]["required_agents"][:2] == [row["required_agents"], str(row["required_agents"])]
                assert [s["current"] for s in shown["slots"]].count(True) == 1
                assert errors == []
            finally:
                page.close()
        finally:
            stack.close()
