"""Boards, filters, definitions and the alarm of the wallboard in Debian chromium (Playwright).

Page tests: the real page (api/static/, served with the API's CSP) against answers of the
documented shapes routed in the browser (REST through ``page.route``, the websocket through
``page.route_web_socket``, frames sent by the test). They check that ``?board=`` applies a board
(sections hidden and shown, the websocket filter, the queue tiles per row), that an unknown board
says so and shows the default board, that the header's selects rewrite the URL in place and
change the view and the socket's filter, that every figure shows its sentence of
``/api/v1/definitions`` (title, and a popover on keyboard focus or tap), and that the opt-in alarm
beeps and flashes once for a critical alert that is new, never for one present at load, and not
at all when it is off.

Stack test: broker + API only (no worker: configured queues have tiles without any event); a
board from the settings, applied by the real hub's filter, and the popover's text against the
real ``/api/v1/definitions``. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from floorwatch.definitions import as_json
from tests.integration.browser import ARTIFACTS, fulfill_static, require_browser
from tests.integration.harness import VIEWER_TOKEN, Stack

pytestmark = pytest.mark.integration

ORIGIN = "http://wallboard.test"

require_browser()


# -- answers of the documented shapes ---------------------------------------------------------

DEFINITIONS = as_json()  # what GET /api/v1/definitions answers (tests/unit/api/test_api_boards.py)

BOARDS: list[dict[str, Any]] = [
    {
        "id": "sales-floor",
        "name": "Sales floor",
        "queues": ["sales", "vip"],
        "teams": ["north"],
        "tiles": ["queues", "strip", "chart"],
        "columns": 2,
    },
    {"id": "everything", "name": "", "queues": [], "teams": [], "tiles": [], "columns": None},
]


def stats(service_level: float | None) -> dict[str, Any]:
    return {
        "offered": 10,
        "service_level": service_level,
        "abandon_rate": 0.1,
        "asa_s": 12.0,
        "aht_s": 240.0,
        "fcr": 0.75,
        "repeat_rate": 0.05,
        "csat_satisfied": 0.8,
    }


def queue_row(queue: str, name: str, sl: float | None) -> dict[str, Any]:
    return {
        "queue": queue,
        "name": name,
        "channel": "voice",
        "sl_target": 0.8,
        "waiting": 1,
        "longest_wait_s": 5.0,
        "oldest_waiting": None,
        "interval": {"start": "2026-12-04T10:00:00.000+08:00", "end": "2026-12-04T10:30:00.000+08:00", **stats(sl)},
        "today": stats(sl),
        "agents": {"staffed": 3, "available": 1, "on_contact": 1, "wrap_up": 0, "aux": 1},
        "required_agents": 2,
        "required_agents_over_cap": False,
    }


QUEUES = [queue_row("sales", "Sales", 0.9), queue_row("vip", "VIP", 0.7), queue_row("support", "Support", None)]


def agent(agent_id: str, team: str, queues: list[str]) -> dict[str, Any]:
    return {
        "agent_id": agent_id,
        "name": agent_id.upper(),
        "team": team,
        "queues": queues,
        "state": "available",
        "since": "2026-12-04T10:00:00+08:00",
        "in_adherence": True,
    }


AGENTS = [agent("n1", "north", ["sales"]), agent("s1", "south", ["support"]), agent("s2", "south", ["vip"])]


def alert(alert_id: str, severity: str) -> dict[str, Any]:
    return {
        "id": alert_id,
        "kind": "queue_waiting",
        "subject": "sales",
        "severity": severity,
        "state": "firing",
        "started_at": "2026-12-04T10:05:00.000+08:00",
        "acked_by": None,
        "details": {"value": 12},
    }


def block(**figures: Any) -> dict[str, Any]:
    return {"occupancy": None, "adherence": None, "aht_s": None, "absent": 0, "late_logins": 0, **figures}


TEAMS: dict[str, Any] = {
    "date": "2026-12-04",
    "floor": {"day": block(occupancy=0.5), "rolling_15m": {"occupancy": 0.5}},
    "teams": [
        {"id": "north", "name": "Team North", "agents": 1, "targets": {}, "day": block(), "rolling_15m": None},
        {"id": "south", "name": "Team South", "agents": 2, "targets": {}, "day": block(), "rolling_15m": None},
    ],
}


def frame(kind: str, **sections: Any) -> str:
    worker = {"age_ms": 300, "stale_after_ms": 5000, "dead_after_ms": 30000}
    return json.dumps({"type": kind, "server_ts": int(time.time() * 1000), "ready": True, "worker": worker, **sections})


class FakeServer:
    """The page's server, in the browser: static files, /api/v1/*, and the websocket."""

    def __init__(self, page: Any, alerts: list[dict[str, Any]] | None = None) -> None:
        self.requests: list[str] = []  # path?query of every API request
        self.sockets: list[Any] = []  # every websocket the page opened, in order
        self.socket_queries: list[dict[str, list[str]]] = []
        self.alerts = alerts or []
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
        body: Any = {
            "/api/v1/me": {"name": "viewer", "roles": ["viewer"]},
            "/api/v1/boards": BOARDS,
            "/api/v1/definitions": DEFINITIONS,
            "/api/v1/queues": QUEUES,
            "/api/v1/teams": TEAMS,
        }.get(path, [])
        route.fulfill(status=200, body=json.dumps(body), headers={"content-type": "application/json"})

    def ws(self, ws: Any) -> None:
        self.sockets.append(ws)
        self.socket_queries.append(parse_qs(urlsplit(ws.url).query))
        ws.send(frame("snapshot", queues=QUEUES, agents=AGENTS, alerts=self.alerts))


def open_page(
    browser: Any, query: str = "", alerts: list[dict[str, Any]] | None = None, context: Any = None
) -> tuple[Any, FakeServer, list[str]]:
    page = context.new_page() if context is not None else browser.new_page(viewport={"width": 1600, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "404" not in m.text else None)
    server = FakeServer(page, alerts)
    page.goto(f"{ORIGIN}/?token=tv-secret{query}")
    return page, server, errors


def tiles(page: Any) -> list[str]:
    return page.evaluate("() => [...document.querySelectorAll('#queues .tile')].map((t) => t.dataset.queue)")


def agents(page: Any) -> list[str]:
    return page.evaluate("() => [...document.querySelectorAll('#agents .agent')].map((a) => a.dataset.agent)")


def strip_cards(page: Any) -> list[str]:
    return page.evaluate("() => [...document.querySelectorAll('#strip article')].map((c) => c.dataset.team ?? 'floor')")


def options(page: Any, select: str) -> list[list[str]]:
    return page.evaluate(f"() => [...document.querySelectorAll('{select} option')].map((o) => [o.value, o.text])")


def hidden(page: Any) -> dict[str, bool]:
    return page.evaluate(
        """() => Object.fromEntries(['alerts', 'strip', 'queues', 'chartbox', 'agents'].map((id) => {
              const n = document.getElementById(id);
              return [id, n.hidden || getComputedStyle(n).display === 'none'];
            }))"""
    )


# -- page tests ---------------------------------------------------------------------------


def test_board_applied(browser: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page, server, errors = open_page(browser, "&board=sales-floor")
    try:
        page.wait_for_selector('#queues .tile[data-queue="vip"]')
        page.wait_for_selector('#strip [data-team="north"]')
        # the board's tiles: alerts and agents hidden, the others shown
        assert hidden(page) == {"alerts": True, "strip": False, "queues": False, "chartbox": False, "agents": True}
        if page.query_selector("#forecast") is not None:  # the forecast panel: not in this board's tiles
            assert page.evaluate("() => document.getElementById('forecast').hidden")
        # the board's queues and team: the socket asks for them, the page shows only them
        assert server.socket_queries[0]["queue"] == ["sales,vip"]
        assert server.socket_queries[0]["team"] == ["north"]
        assert tiles(page) == ["sales", "vip"]
        assert agents(page) == ["n1"]
        assert strip_cards(page) == ["north"]  # no floor card: the board names its teams
        # two queue tiles per row: two columns of equal width
        columns = page.evaluate("() => getComputedStyle(document.getElementById('queues')).gridTemplateColumns")
        widths = [float(w.removesuffix("px")) for w in columns.split()]
        assert len(widths) == 2 and abs(widths[0] - widths[1]) < 1
        boxes = page.evaluate(
            "() => [...document.querySelectorAll('#queues .tile')].map((t) => t.getBoundingClientRect().top)"
        )
        assert boxes[0] == boxes[1]  # side by side
        assert page.inner_text("#scope") == "Sales floor"
        assert page.title() == "Floorwatch — Sales floor"
        assert page.is_hidden("#notice")
        # the selects list the board's queues and teams only
        assert options(page, "#filter-queue") == [["", "All board queues"], ["sales", "Sales"], ["vip", "VIP"]]
        assert options(page, "#filter-team") == [["", "All board teams"], ["north", "Team North"]]
        # the chart shows the board's first queue
        page.wait_for_function("() => document.getElementById('chart-queue').textContent === 'Sales'")
        assert any(r.startswith("/api/v1/intervals?queue=sales&") for r in server.requests)
        assert errors == []
        page.screenshot(path=str(ARTIFACTS / "wallboard-board.png"), full_page=True)
    finally:
        page.close()


def test_unknown_board_says_so_and_shows_the_default_board(browser: Any) -> None:
    page, server, errors = open_page(browser, "&board=nope")
    try:
        page.wait_for_selector('#queues .tile[data-queue="support"]')
        assert page.is_visible("#notice")
        assert page.inner_text("#notice") == "Unknown board “nope”: showing the default board"
        assert not any(hidden(page).values())
        assert tiles(page) == ["sales", "vip", "support"]
        assert "queue" not in server.socket_queries[0] and "team" not in server.socket_queries[0]
        assert page.inner_text("#scope") == ""
        assert errors == []
    finally:
        page.close()


def test_filters_change_the_url_the_view_and_the_socket(browser: Any) -> None:
    page, server, errors = open_page(browser)
    try:
        page.wait_for_selector('#strip [data-team="south"]')
        page.wait_for_selector('#queues .tile[data-queue="support"]')
        assert options(page, "#filter-queue") == [
            ["", "All queues"],
            ["sales", "Sales"],
            ["vip", "VIP"],
            ["support", "Support"],
        ]
        assert options(page, "#filter-team") == [["", "All teams"], ["north", "Team North"], ["south", "Team South"]]
        # a marker that a reload would lose, and a listener of the chart's queue
        page.evaluate(
            """() => { window.__kept = history.length; window.__queues = [];
                       document.addEventListener('floorwatch:queue', (e) => window.__queues.push(e.detail.queue)); }"""
        )
        page.select_option("#filter-queue", "vip")
        page.wait_for_function("() => location.search.includes('queue=vip')")
        assert parse_qs(urlsplit(page.url).query) == {"token": ["tv-secret"], "queue": ["vip"]}
        assert tiles(page) == ["vip"]
        assert agents(page) == ["s2"]  # the agents serving vip
        assert page.evaluate("() => window.__queues") == ["vip"]
        page.wait_for_function("() => document.getElementById('chart-queue').textContent === 'VIP'")
        # the socket follows the filter: a second one, with the queue
        deadline = time.monotonic() + 5
        while len(server.socket_queries) < 2 and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        assert server.socket_queries[1].get("queue") == ["vip"]
        assert "team" not in server.socket_queries[1]

        page.select_option("#filter-team", "south")
        page.wait_for_function("() => location.search.includes('team=south')")
        assert parse_qs(urlsplit(page.url).query) == {"token": ["tv-secret"], "queue": ["vip"], "team": ["south"]}
        assert strip_cards(page) == ["south"]
        while len(server.socket_queries) < 3 and time.monotonic() < deadline + 5:
            page.wait_for_timeout(50)
        assert (server.socket_queries[2].get("queue"), server.socket_queries[2].get("team")) == (["vip"], ["south"])

        page.select_option("#filter-queue", "")
        page.wait_for_function("() => !location.search.includes('queue=')")
        assert parse_qs(urlsplit(page.url).query) == {"token": ["tv-secret"], "team": ["south"]}
        page.wait_for_function("() => document.querySelectorAll('#queues .tile').length === 3")
        assert tiles(page) == ["sales", "vip", "support"]
        assert agents(page) == ["s1", "s2"]
        # no reload (the marker is still there), no history entry (replaced, not pushed)
        assert page.evaluate("() => window.__kept === history.length")
        assert errors == []
    finally:
        page.close()


def test_every_figure_shows_its_definition(browser: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page, _, errors = open_page(browser)
    try:
        page.wait_for_selector('#strip [data-team="south"]')
        page.wait_for_function("() => document.querySelector('#queues .metric[title]') !== null")
        # hover: every figure of the tiles and the strip has a title, its definition's text
        shown = page.evaluate(
            """() => [...document.querySelectorAll('.metric')].map((m) =>
                  [m.querySelector('[data-def]').dataset.def, m.title, m.querySelector('.value').dataset.field])"""
        )
        assert len(shown) == 3 * 15 + 3 * 6  # three queue tiles, the floor and two team cards
        texts = {key: d["text"] for key, d in DEFINITIONS.items()}
        for key, title, field in shown:
            want = (
                "\n".join(f"{DEFINITIONS[k]['label']}: {texts[k]}" for k in key.split()) if " " in key else texts[key]
            )
            assert title == want, field
        sales = page.evaluate(
            """() => Object.fromEntries([...document.querySelectorAll('#queues [data-queue="sales"] .metric')]
                  .map((m) => [m.querySelector('.value').dataset.field, m.querySelector('[data-def]').dataset.def]))"""
        )
        assert sales["sl_today"] == "service_level" and sales["csat"] == "csat_satisfied"
        assert sales["available"] == "agents_available" and sales["staffed"] == "staffed required_agents"

        # keyboard: Tab to the first figure's label, its popover; Escape closes it
        label = '#queues [data-queue="sales"] .metric .label[data-def="aht"]'
        page.focus('#queues [data-queue="sales"] .metric .label[data-def="asa"]')
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.dataset.def") == "aht"
        page.wait_for_selector("#definition:not([hidden])")
        assert page.inner_text("#definition .def-text") == DEFINITIONS["aht"]["text"]
        assert page.inner_text("#definition .def-label") == DEFINITIONS["aht"]["label"]
        assert page.get_attribute(label, "aria-describedby") == "definition"
        assert page.get_attribute("#definition", "role") == "tooltip"
        page.screenshot(path=str(ARTIFACTS / "wallboard-definition.png"))
        page.keyboard.press("Escape")
        assert page.is_hidden("#definition")

        # tap: a label of another tile shows its definition and does not select that tile
        page.click('#queues [data-queue="vip"] .label[data-def="abandon_rate"]')
        page.wait_for_selector("#definition:not([hidden])")
        assert page.inner_text("#definition .def-text") == DEFINITIONS["abandon_rate"]["text"]
        assert "selected" not in (page.get_attribute('#queues [data-queue="vip"]', "class") or "")
        # both definitions of "staffed / req"
        page.click('#queues [data-queue="sales"] .label[data-def="staffed required_agents"]')
        assert page.evaluate(
            "() => [...document.querySelectorAll('#definition .def-text')].map((n) => n.textContent)"
        ) == [DEFINITIONS["staffed"]["text"], DEFINITIONS["required_agents"]["text"]]
        # a tap elsewhere closes it; the chart's heading has one too
        page.click("h1")
        assert page.is_hidden("#definition")
        page.click('#chartbox [data-def="service_level"]')
        assert page.inner_text("#definition .def-text") == DEFINITIONS["service_level"]["text"]
        assert errors == []
    finally:
        page.close()


def test_alarm_fires_once_for_a_new_critical_alert_when_on(browser: Any) -> None:
    present = alert("queue_waiting:sales:1", "critical")
    context = browser.new_context(viewport={"width": 1600, "height": 1000})
    page, server, errors = open_page(browser, alerts=[present], context=context)
    try:
        page.wait_for_selector('[data-alert="queue_waiting:sales:1"]')
        assert page.get_attribute("#alarm", "aria-pressed") == "false"  # off by default
        assert page.evaluate("() => localStorage.getItem('floorwatch.alarm')") is None
        page.click("#alarm")
        assert page.get_attribute("#alarm", "aria-pressed") == "true"
        assert page.evaluate("() => localStorage.getItem('floorwatch.alarm')") == "on"
        assert page.evaluate("() => document.body.dataset.beeps") == "1"  # the toggle's own beep
        assert page.evaluate("() => document.body.dataset.alerted") == "0"  # present at load: no alarm

        new = alert("queue_waiting:sales:2", "critical")
        server.sockets[0].send(frame("delta", alerts={"upsert": [new], "remove": []}))
        page.wait_for_function("() => document.body.dataset.alerted === '1'")
        assert page.evaluate("() => document.body.classList.contains('flash')")
        assert page.evaluate("() => document.body.dataset.beeps") == "4"  # three more
        # the same alert again (an update), a warning, the one present at load: nothing more
        server.sockets[0].send(frame("delta", alerts={"upsert": [{**new, "details": {"value": 13}}], "remove": []}))
        server.sockets[0].send(frame("delta", alerts={"upsert": [alert("queue_waiting:vip:3", "warning")]}))
        server.sockets[0].send(frame("delta", alerts={"upsert": [present]}))
        page.wait_for_selector('[data-alert="queue_waiting:vip:3"]')
        assert page.evaluate("() => document.body.dataset.alerted") == "1"
        # the flash stops after a few seconds
        page.wait_for_function("() => !document.body.classList.contains('flash')", timeout=8000)
        # a warning that turns critical is new as a critical alert
        server.sockets[0].send(frame("delta", alerts={"upsert": [alert("queue_waiting:vip:3", "critical")]}))
        page.wait_for_function("() => document.body.dataset.alerted === '2'")
        assert errors == []
    finally:
        page.close()
    # the setting is remembered; the alerts the reloaded page finds are not new
    page, server, errors = open_page(
        browser, alerts=[present, alert("queue_waiting:sales:2", "critical")], context=context
    )
    try:
        page.wait_for_selector('[data-alert="queue_waiting:sales:2"]')
        assert page.get_attribute("#alarm", "aria-pressed") == "true"
        assert page.inner_text("#alarm") == "Alarm on"
        page.wait_for_timeout(300)
        assert page.evaluate("() => document.body.dataset.alerted") == "0"
        assert not page.evaluate("() => document.body.classList.contains('flash')")
        assert errors == []
    finally:
        page.close()
        context.close()


def test_no_alarm_when_off(browser: Any) -> None:
    page, server, errors = open_page(browser)
    try:
        page.wait_for_selector('#queues .tile[data-queue="sales"]')
        server.sockets[0].send(frame("delta", alerts={"upsert": [alert("queue_waiting:sales:9", "critical")]}))
        page.wait_for_selector('[data-alert="queue_waiting:sales:9"]')
        page.wait_for_timeout(300)
        assert page.evaluate("() => document.body.dataset.alerted") == "0"
        assert page.evaluate("() => document.body.dataset.beeps") is None
        assert not page.evaluate("() => document.body.classList.contains('flash')")
        assert errors == []
    finally:
        page.close()


# -- the real stack -----------------------------------------------------------------------------


def test_board_and_definitions_on_the_real_stack(tmp_path: Path, browser: Any) -> None:
    boards = [{"id": "voice", "name": "Voice", "queues": ["support"], "tiles": ["queues", "chart"], "columns": 1}]
    # Stack() runs asyncio (topic creation): not in this thread, where Playwright's loop runs
    with ThreadPoolExecutor(1) as pool:
        stack = pool.submit(Stack, tmp_path, boards=boards).result()
    try:
        stack.api()
        assert stack.get("/api/v1/boards") == [{**boards[0], "teams": []}]
        definitions = stack.get("/api/v1/definitions")
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        snapshots: list[list[str]] = []  # the queues of each snapshot the server sent

        def on_frame(payload: str | bytes) -> None:
            body = json.loads(payload)
            if body.get("type") == "snapshot":
                snapshots.append([q["queue"] for q in body["queues"]])

        page.on("websocket", lambda ws: ws.on("framereceived", on_frame))
        try:
            page.goto(f"{stack.api_url}/?token={VIEWER_TOKEN}&board=voice")
            page.wait_for_selector('#queues .tile[data-queue="support"]')
            page.wait_for_function("() => document.querySelector('#queues .metric[title]') !== null")
            # the hub's filter: only the board's queue came over the socket (the yaml has three)
            assert snapshots == [["support"]]
            assert page.evaluate("() => [...document.querySelectorAll('#queues .tile')].length") == 1
            assert hidden(page) == {"alerts": True, "strip": True, "queues": False, "chartbox": False, "agents": True}
            page.focus('#queues .label[data-def="service_level"]')
            page.wait_for_selector("#definition:not([hidden])")
            assert page.inner_text("#definition .def-text") == definitions["service_level"]["text"]
            r = httpx.get(f"{stack.api_url}/api/v1/boards", timeout=5)
            assert r.status_code == 401  # the page's calls carry the token; a bare call does not
            assert errors == []
        finally:
            page.close()
    finally:
        stack.close()
