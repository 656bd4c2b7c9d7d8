"""The wallboard's floor/team strip and agent drill-down in Debian chromium (Playwright).

Page tests: the real page (api/static/, served with the API's CSP) against answers of the
documented shapes, routed in the browser (REST through ``page.route``, the websocket through
``page.route_web_socket``); no processes besides the browser. They check what each figure shows
(raw value in ``data-value``, text, colour against the team's target), the ``?team=`` filter,
the 15 s poll and the strip's own staleness (on Playwright's fake clock), and that the
drill-down opens for a supervisor (click or keyboard; closes with its button or Escape) and not
for a viewer (no request, no affordance).

Stack test: broker + worker + API; hand-made agent states, contacts and schedules whose figures
stop moving once posted (every state that counts for occupancy is closed or aux), so the strip
shows the hand-computed occupancy, adherence, AHT, absent and late-login figures, and the
drill-down the agent's day and per-interval time. Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from floorwatch.api.security import content_security_policy

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "api" / "static"
ARTIFACTS = ROOT / "tests" / "artifacts"
ORIGIN = "http://wallboard.test"
SUPERVISOR_TOKEN = "it-supervisor-secret"

if not Path(CHROMIUM).exists():  # pragma: no cover - depends on the machine
    pytest.skip(
        f"{CHROMIUM} is absent (install the Debian 'chromium' package; .ci/system-deps.sh does)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="the 'playwright' Python package is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        try:
            yield b
        finally:
            b.close()


# -- answers of the documented shapes ---------------------------------------------------------


def block(**figures: Any) -> dict[str, Any]:
    """A BLOCK of /api/v1/agents/{id}/performance and /api/v1/teams, zero/None unless given."""
    out: dict[str, Any] = {
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
    }
    out.update(figures)
    return out


def team_day(**figures: Any) -> dict[str, Any]:
    return {"shrinkage": None, "absent": 0, "late_logins": 0, "scheduled_s": 0.0, **block(**figures)}


def rolling(occupancy: float | None) -> dict[str, Any]:
    return {"occupancy": occupancy, "state_s": {"available": 0.0, "on_contact": 0.0, "wrap_up": 0.0, "aux": 0.0}}


TEAMS: dict[str, Any] = {
    "date": "2026-12-04",
    "floor": {
        "day": team_day(occupancy=0.6, adherence=0.875, aht_s=301.5, absent=2, late_logins=1),
        "intervals": [],
        "rolling_15m": rolling(0.7),
    },
    "teams": [
        {
            "id": "north",
            "name": "Team North",
            "agents": 3,
            "targets": {"occupancy": 0.85, "adherence": 0.9, "aht_s": 300.0},
            "day": team_day(occupancy=0.8, adherence=0.92, aht_s=320.0, absent=0, late_logins=1),
            "intervals": [],
            "rolling_15m": rolling(0.97),
        },
        {
            "id": "south",
            "name": "Team South",
            "agents": 2,
            "targets": {"occupancy": None, "adherence": None, "aht_s": None},
            "day": team_day(absent=2, late_logins=0),
            "intervals": [],
            "rolling_15m": None,
        },
    ],
}

# shown text and colour class of each strip figure, worked out by hand from TEAMS:
# occupancy 0.97 > 0.85 + 0.05 -> red; 0.8 within [0.75, 0.9] -> green; adherence 0.92 >= 0.9
# -> green; AHT 320 s in (300, 330] -> amber; no target -> no colour
STRIP_SHOWN = {
    "floor": {
        "occupancy_15m": ("70.0%", ""),
        "adherence": ("87.5%", ""),
        "occupancy_today": ("60.0%", ""),
        "aht": ("5:01", ""),
        "absent": ("2", "warn"),
        "late_logins": ("1", "sl-amber"),
    },
    "north": {
        "occupancy_15m": ("97.0%", "sl-red"),
        "adherence": ("92.0%", "sl-green"),
        "occupancy_today": ("80.0%", "sl-green"),
        "aht": ("5:20", "sl-amber"),
        "absent": ("0", ""),
        "late_logins": ("1", "sl-amber"),
    },
    "south": {
        "occupancy_15m": ("–", ""),
        "adherence": ("–", ""),
        "occupancy_today": ("–", ""),
        "aht": ("–", ""),
        "absent": ("2", "warn"),
        "late_logins": ("0", ""),
    },
}
STRIP_VALUE = {  # data-field -> the figure in a TEAMS row
    "occupancy_15m": lambda t: (t["rolling_15m"] or {}).get("occupancy"),
    "adherence": lambda t: t["day"]["adherence"],
    "occupancy_today": lambda t: t["day"]["occupancy"],
    "aht": lambda t: t["day"]["aht_s"],
    "absent": lambda t: t["day"]["absent"],
    "late_logins": lambda t: t["day"]["late_logins"],
}

PERF: dict[str, Any] = {
    "agent_id": "a1",
    "name": "Ada",
    "team": "north",
    "date": "2026-12-04",
    "max_concurrent": {"chat": 3, "voice": 1},
    "day": block(
        handled=7,
        talk_s=1200.5,
        hold_s=60.0,
        wrap_s=240.0,
        aht_s=1500.5 / 7,
        transfers=1,
        occupancy=0.75,
        handle_s=1440.0,
        available_s=480.0,
        state_s={"available": 480.0, "on_contact": 1200.0, "wrap_up": 240.0, "aux": 900.0},
        aux_s={"break": 600.0, "unspecified": 300.0},
        adherence=0.9,
        conformance=1.0,
        fcr=0.8,
        csat_avg=4.25,
        surveys=4,
    ),
    "intervals": [
        {
            "start": "2026-12-04T10:00:00.000+08:00",
            "end": "2026-12-04T10:30:00.000+08:00",
            **block(
                handled=3,
                aht_s=200.0,
                occupancy=0.5,
                state_s={"available": 600.0, "on_contact": 480.0, "wrap_up": 120.0, "aux": 0.0},
                adherence=1.0,
                conformance=1.0,
            ),
        },
        {
            "start": "2026-12-04T10:30:00.000+08:00",
            "end": "2026-12-04T11:00:00.000+08:00",
            **block(
                handled=4,
                aht_s=225.125,
                transfers=1,
                occupancy=0.9,
                state_s={"available": 80.0, "on_contact": 720.0, "wrap_up": 120.0, "aux": 900.0},
                aux_s={"break": 600.0, "unspecified": 300.0},
                adherence=0.8,
                conformance=1.0,
                csat_avg=4.25,
                surveys=4,
            ),
        },
    ],
    "rolling_15m": rolling(0.6),
}
DAY_VALUE = {  # data-field in the panel's day figures -> the figure in PERF
    "handled": lambda p: p["day"]["handled"],
    "aht": lambda p: p["day"]["aht_s"],
    "talk": lambda p: p["day"]["talk_s"],
    "hold": lambda p: p["day"]["hold_s"],
    "wrap": lambda p: p["day"]["wrap_s"],
    "transfers": lambda p: p["day"]["transfers"],
    "occupancy": lambda p: p["day"]["occupancy"],
    "occupancy_15m": lambda p: p["rolling_15m"]["occupancy"],
    "handle": lambda p: p["day"]["handle_s"],
    "available": lambda p: p["day"]["available_s"],
    "adherence": lambda p: p["day"]["adherence"],
    "conformance": lambda p: p["day"]["conformance"],
    "fcr": lambda p: p["day"]["fcr"],
    "csat_avg": lambda p: p["day"]["csat_avg"],
    "surveys": lambda p: p["day"]["surveys"],
}
INTERVAL_VALUE = {
    "handled": lambda r: r["handled"],
    "aht": lambda r: r["aht_s"],
    "transfers": lambda r: r["transfers"],
    "occupancy": lambda r: r["occupancy"],
    "on_contact": lambda r: r["state_s"]["on_contact"],
    "wrap_up": lambda r: r["state_s"]["wrap_up"],
    "available": lambda r: r["state_s"]["available"],
    "aux": lambda r: r["state_s"]["aux"],
    "adherence": lambda r: r["adherence"],
    "conformance": lambda r: r["conformance"],
    "csat_avg": lambda r: r["csat_avg"],
}


def snapshot_frame() -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    agent = {"team": "north", "state": "available", "since": "2026-12-04T10:00:00+08:00", "in_adherence": True}
    return {
        "type": "snapshot",
        "server_ts": now_ms,
        "ready": True,
        "worker": {"age_ms": 300, "stale_after_ms": 5000, "dead_after_ms": 30000},
        "queues": [],
        "agents": [
            {"agent_id": "a1", "name": "Ada", **agent},
            {"agent_id": "a9", "name": "Zed", **agent},  # no performance: 404
        ],
        "alerts": [],
    }


class FakeServer:
    """The page's server, in the browser: static files, /api/v1/*, and the websocket."""

    def __init__(self, page: Any, roles: list[str], teams: dict[str, Any] | None = None) -> None:
        self.roles = roles
        self.teams: dict[str, Any] | None = teams or TEAMS
        self.requests: list[str] = []  # path?query of every API request
        self.tokens: set[str] = set()
        page.route(f"{ORIGIN}/**", self.http)
        page.route_web_socket(re.compile(r"^ws://wallboard\.test/ws"), self.ws)

    def http(self, route: Any) -> None:
        url = urlsplit(route.request.url)
        path = url.path
        if path == "/" or path.startswith("/static/"):
            name = "index.html" if path == "/" else path.removeprefix("/static/")
            kind = {"html": "text/html", "js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}
            route.fulfill(
                status=200,
                body=(STATIC / name).read_bytes(),
                headers={
                    "content-type": kind[name.rsplit(".", 1)[1]],
                    "content-security-policy": content_security_policy("wallboard.test"),
                },
            )
            return
        self.requests.append(f"{path}?{url.query}")
        self.tokens.add(route.request.headers.get("authorization", ""))
        status, body = self.answer(path, parse_qs(url.query))
        route.fulfill(status=status, body=json.dumps(body), headers={"content-type": "application/json"})

    def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if path == "/api/v1/me":
            return 200, {"name": self.roles[-1], "roles": self.roles}
        if path == "/api/v1/teams":
            return (200, self.teams) if self.teams is not None else (503, {"detail": "view not ready"})
        if path == "/api/v1/agents/a1/performance":
            return 200, PERF
        if path.startswith("/api/v1/agents/"):
            return 404, {"detail": "unknown agent"}
        if path == "/api/v1/adherence":
            return 200, []
        return 200, []

    def ws(self, ws: Any) -> None:
        ws.send(json.dumps(snapshot_frame()))


def open_page(browser: Any, roles: list[str], query: str = "", clock: bool = False) -> tuple[Any, FakeServer, list]:
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "404" not in m.text else None)
    if clock:
        page.clock.install()
    server = FakeServer(page, roles)
    page.goto(f"{ORIGIN}/?token=tv-secret{query}")
    return page, server, errors


def strip_cards(page: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """{"floor"|team id: {data-field: {value, text, cls, target}}} as the page shows them."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('#strip article')].map((card) => [
              card.dataset.team ?? 'floor',
              Object.fromEntries([...card.querySelectorAll('.value[data-field]')].map((n) => [n.dataset.field, {
                  value: JSON.parse(n.dataset.value), text: n.textContent,
                  cls: [...n.classList].filter((c) => c !== 'value').join(' '),
                  target: n.dataset.target === undefined ? 'none' : JSON.parse(n.dataset.target)}]))]))"""
    )


def figures(page: Any, selector: str) -> dict[str, Any]:
    return page.evaluate(
        """(sel) => Object.fromEntries([...document.querySelectorAll(`${sel} [data-field]`)]
              .map((n) => [n.dataset.field, [JSON.parse(n.dataset.value), n.textContent]]))""",
        selector,
    )


# -- page tests ---------------------------------------------------------------------------


def test_strip_shows_each_team_against_its_targets(browser: Any) -> None:
    page, server, errors = open_page(browser, ["viewer"])
    try:
        page.wait_for_selector('#strip [data-team="south"]')
        shown = strip_cards(page)
        rows = {"floor": TEAMS["floor"], **{t["id"]: t for t in TEAMS["teams"]}}
        assert list(shown) == ["floor", "north", "south"]
        for card, want in STRIP_SHOWN.items():
            assert {f: (v["text"], v["cls"]) for f, v in shown[card].items()} == want, card
            assert {f: v["value"] for f, v in shown[card].items()} == {
                f: get(rows[card]) for f, get in STRIP_VALUE.items()
            }, card
        # targets next to the figures they belong to (the floor has none)
        north = shown["north"]
        assert (north["occupancy_15m"]["target"], north["adherence"]["target"], north["aht"]["target"]) == (
            0.85,
            0.9,
            300.0,
        )
        assert shown["floor"]["occupancy_15m"]["target"] is None
        assert "target 85.0%" in (page.text_content('[data-team="north"]') or "")
        assert "target 5:00" in (page.text_content('[data-team="north"]') or "")
        assert page.inner_text('[data-team="north"] [data-field="agents"]') == "3 agents"
        assert "2026-12-04 · updated" in page.inner_text("#strip-age")
        assert server.requests.count("/api/v1/teams?") == 1  # no date: the server's today
        assert server.tokens == {"Bearer tv-secret"}
        assert errors == []
    finally:
        page.close()


def test_team_filter_limits_the_strip(browser: Any) -> None:
    page, _, errors = open_page(browser, ["viewer"], "&team=south")
    try:
        page.wait_for_selector('#strip [data-team="south"]')
        assert list(strip_cards(page)) == ["south"]  # no floor card, no other team
        assert errors == []
    finally:
        page.close()
    page, _, errors = open_page(browser, ["viewer"], "&team=east")
    try:
        page.wait_for_selector("#strip .empty")
        assert strip_cards(page) == {}
        assert page.inner_text("#strip .empty") == "No figures for team east today"
    finally:
        page.close()


def test_strip_polls_every_15_s_and_turns_stale_when_polls_fail(browser: Any) -> None:
    page, server, _ = open_page(browser, ["viewer"], clock=True)
    try:
        page.wait_for_selector('#strip [data-team="north"]')
        assert server.requests.count("/api/v1/teams?") == 1
        changed = json.loads(json.dumps(TEAMS))
        changed["teams"][0]["rolling_15m"]["occupancy"] = 0.5
        server.teams = changed
        page.clock.run_for(14_000)
        assert server.requests.count("/api/v1/teams?") == 1
        page.clock.run_for(1_500)
        north_occupancy = '[data-team="north"] [data-field="occupancy_15m"]'
        page.wait_for_function(f"() => document.querySelector('{north_occupancy}').textContent === '50.0%'")
        assert server.requests.count("/api/v1/teams?") == 2
        assert "sl-amber" in (page.get_attribute(north_occupancy, "class") or "")
        assert "stale" not in (page.get_attribute("#strip", "class") or "")
        # the endpoint fails from now on: the last figures stay, marked stale after 40 s
        server.teams = None
        page.clock.run_for(30_000)
        assert "stale" not in (page.get_attribute("#strip", "class") or "")
        page.clock.run_for(15_000)
        page.wait_for_function("() => document.querySelector('#strip').classList.contains('stale')")
        assert page.inner_text("#strip-age").startswith("· not updated for 4")
        assert "503 view not ready" in page.inner_text("#strip-age")
        assert page.inner_text('[data-team="north"] [data-field="occupancy_15m"]') == "50.0%"
    finally:
        page.close()


def test_drill_down_for_a_supervisor(browser: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page, server, errors = open_page(browser, ["viewer", "supervisor"])
    try:
        card = '#agents [data-agent="a1"]'
        page.wait_for_selector(card)
        page.wait_for_function("() => document.body.classList.contains('supervisor')")
        assert page.get_attribute(card, "role") == "button" and page.get_attribute(card, "tabindex") == "0"
        assert page.evaluate(f"() => getComputedStyle(document.querySelector('{card}')).cursor") == "pointer"
        page.click(card)
        page.wait_for_selector('#detail:not([hidden]) [data-perf="day"]')
        assert "/api/v1/agents/a1/performance?" in server.requests
        assert page.inner_text("#detail h2") == "Ada (north) — 2026-12-04"
        assert "concurrent contacts: chat ×3" in page.inner_text("#detail")  # voice 1 is the default
        day = figures(page, '#detail [data-perf="day"]')
        assert {f: v for f, (v, _) in day.items()} == {f: get(PERF) for f, get in DAY_VALUE.items()}
        assert {f: t for f, (_, t) in day.items()} == {
            "handled": "7",
            "aht": "3:34",  # 1500.5 s / 7 = 214.36 s
            "talk": "20:00",
            "hold": "1:00",
            "wrap": "4:00",
            "transfers": "1",
            "occupancy": "75.0%",
            "occupancy_15m": "60.0%",
            "handle": "24:00",
            "available": "8:00",
            "adherence": "90.0%",
            "conformance": "100.0%",
            "fcr": "80.0%",
            "csat_avg": "4.25",
            "surveys": "4",
        }
        states = page.evaluate(
            """() => [...document.querySelectorAll('#detail [data-perf="states"] [data-field]')].map((n) =>
                  [n.dataset.field, n.dataset.reason ?? null, JSON.parse(n.dataset.value), n.textContent])"""
        )
        assert states == [
            ["state_available", None, 480.0, "8:00"],
            ["state_on_contact", None, 1200.0, "20:00"],
            ["state_wrap_up", None, 240.0, "4:00"],
            ["state_aux", None, 900.0, "15:00"],
            ["aux_reason", "break", 600.0, "10:00"],
            ["aux_reason", "unspecified", 300.0, "5:00"],
        ]
        rows = page.evaluate(
            """() => [...document.querySelectorAll('#detail [data-perf="intervals"] tbody tr')].map((tr) => [
                  tr.dataset.start, tr.cells[0].textContent,
                  Object.fromEntries([...tr.querySelectorAll('[data-field]')]
                      .map((n) => [n.dataset.field, JSON.parse(n.dataset.value)]))])"""
        )
        assert rows == [
            [r["start"], label, {f: get(r) for f, get in INTERVAL_VALUE.items()}]
            for r, label in zip(PERF["intervals"], ["10:00–10:30", "10:30–11:00"], strict=True)
        ]
        assert page.inner_text("#detail").count("No schedule today.") == 1  # adherence: none for this date
        page.screenshot(path=str(ARTIFACTS / "wallboard-drilldown.png"), full_page=True)
        # the close button
        page.click("#detail button.close")
        assert page.is_hidden("#detail")
        # the keyboard: Enter on the focused card opens it, Escape closes it
        page.focus(card)
        page.keyboard.press("Enter")
        page.wait_for_selector('#detail:not([hidden]) [data-perf="day"]')
        page.keyboard.press("Escape")
        assert page.is_hidden("#detail")
        # an agent the API has never seen: the panel says so
        page.click('#agents [data-agent="a9"]')
        page.wait_for_selector("#detail:not([hidden]) .error")
        assert page.inner_text("#detail .error").startswith("Could not load the figures: 404 unknown agent")
        page.keyboard.press("Escape")
        assert errors == []
    finally:
        page.close()


def test_no_drill_down_for_a_viewer(browser: Any) -> None:
    page, server, errors = open_page(browser, ["viewer"])
    try:
        card = '#agents [data-agent="a1"]'
        page.wait_for_selector(card)
        page.wait_for_function("() => document.querySelector('#who').textContent === 'viewer'")
        assert page.get_attribute(card, "role") is None and page.get_attribute(card, "tabindex") is None
        assert page.evaluate(f"() => getComputedStyle(document.querySelector('{card}')).cursor") != "pointer"
        page.click(card)
        page.keyboard.press("Enter")
        page.wait_for_timeout(500)
        assert page.is_hidden("#detail")
        assert not any("/performance" in r or "/adherence" in r for r in server.requests)
        assert errors == []
    finally:
        page.close()
