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
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest

from tests.integration.browser import ARTIFACTS, fulfill_static, page_with_errors, require_browser
from tests.integration.harness import ADMIN_TOKEN, INGEST_TOKEN, VIEWER_TOKEN, Stack, midday_zone, sha, wait_until

pytestmark = pytest.mark.integration

ORIGIN = "http://wallboard.test"
SUPERVISOR_TOKEN = "it-supervisor-secret"

require_browser()


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
            fulfill_static(route, name, "wallboard.test")
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
    errors: list[str] = []
    page = page_with_errors(browser, errors)
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
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "wallboard-strip-page.png"))
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


# -- the real stack -----------------------------------------------------------------------------

S = 1000  # ms


def local_interval_start(ms: int, tz: ZoneInfo, minutes: int) -> int:
    local = datetime.fromtimestamp(ms / 1000, tz)
    start = local.replace(minute=local.minute - local.minute % minutes, second=0, microsecond=0)
    return int(start.timestamp() * 1000)


def split(segments: list[tuple[int, int]], tz: ZoneInfo, minutes: int) -> dict[int, int]:
    """ms of [start, end) segments per local interval start (midday: no DST change)."""
    out: dict[int, int] = {}
    for lo, hi in segments:
        while lo < hi:
            start = local_interval_start(lo, tz, minutes)
            end = min(hi, start + minutes * 60 * S)
            out[start] = out.get(start, 0) + end - lo
            lo = end
    return out


def floor_day(t: int, tz: ZoneInfo) -> list[dict[str, Any]]:
    """Three agents and two contacts in the 15 minutes before ``t`` (see the test for the sums)."""
    n = iter(range(1000))
    day = datetime.fromtimestamp(t / 1000, tz).date().isoformat()

    def at(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, tz).isoformat(timespec="milliseconds")

    def ev(dt_s: int, **fields: Any) -> dict[str, Any]:
        return {"event_id": f"strip-{next(n)}", "ts": at(t + dt_s * S), **fields}

    def profile(agent: str, name: str, team: str) -> dict[str, Any]:
        return ev(-950, type="agent.profile", agent_id=agent, name=name, team=team, queues=["sales"])

    def schedule(agent: str, lo_s: int, hi_s: int) -> dict[str, Any]:
        work = {"start": at(t + lo_s * S), "end": at(t + hi_s * S), "activity": "work"}
        return ev(-940, type="schedule.published", agent_id=agent, date=day, activities=[work])

    def state(agent: str, dt_s: int, value: str, reason: str | None = None) -> dict[str, Any]:
        return ev(dt_s, type="agent.state", agent_id=agent, state=value, **({"reason": reason} if reason else {}))

    def contact(cid: str, agent: str, offered: int, answered: int, ended: int, wrapped: int) -> list[dict[str, Any]]:
        return [
            ev(offered, type="contact.offered", contact_id=cid, queue="sales", channel="voice"),
            ev(answered, type="contact.answered", contact_id=cid, queue="sales", agent_id=agent),
            ev(ended, type="contact.ended", contact_id=cid, agent_id=agent),
            ev(wrapped, type="contact.wrapup_ended", contact_id=cid, agent_id=agent),
        ]

    return [
        profile("st-a1", "Ada", "north"),
        profile("st-a2", "Bob", "north"),
        profile("st-a3", "Cy", "south"),
        schedule("st-a2", -900, -300),
        schedule("st-a3", -90, -30),
        state("st-a1", -600, "available"),
        state("st-a1", -540, "on_contact"),
        state("st-a1", -300, "wrap_up"),
        state("st-a1", -240, "aux", "break"),  # still in aux: counts for neither side of occupancy
        state("st-a2", -600, "available"),
        state("st-a2", -420, "aux", "break"),
        state("st-a2", -360, "on_contact"),
        state("st-a2", -300, "logged_out"),
        state("st-a3", -500, "on_contact"),
        state("st-a3", -400, "available"),
        state("st-a3", -100, "logged_out"),
        *contact("st-c1", "st-a1", -545, -540, -300, -240),
        *contact("st-c2", "st-a2", -362, -360, -330, -300),
    ]


def test_strip_and_drill_down_on_the_real_stack(tmp_path: Path, browser: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    zone = midday_zone(time.time())
    tz = ZoneInfo(zone)
    tokens = [
        {"name": "admin", "sha256": sha(ADMIN_TOKEN), "roles": ["admin", "ingest"]},
        {"name": "viewer", "sha256": sha(VIEWER_TOKEN), "roles": ["viewer"]},
        {"name": "ingest", "sha256": sha(INGEST_TOKEN), "roles": ["ingest"]},
        {"name": "supervisor", "sha256": sha(SUPERVISOR_TOKEN), "roles": ["supervisor"]},
    ]
    teams = [
        {"id": "north", "name": "Team North", "targets": {"occupancy": 0.85, "adherence": 0.9, "aht_s": 170}},
        {"id": "south", "name": "Team South"},
    ]
    # Stack() runs asyncio (topic creation): not in this thread, where Playwright's loop runs
    with ThreadPoolExecutor(1) as pool:
        stack = pool.submit(Stack, tmp_path, auth={"tokens": tokens}, timezone=zone, teams=teams).result()
    try:
        minutes = stack.settings().interval_minutes
        stack.worker()
        stack.api()
        t = int(time.time()) * S
        resp = httpx.post(
            f"{stack.api_url}/api/v1/events",
            content=orjson.dumps(floor_day(t, tz)),
            timeout=10,
            headers={"Authorization": f"Bearer {INGEST_TOKEN}", "Content-Type": "application/json"},
        )
        assert resp.status_code == 202 and resp.json()["rejected"] == [], resp.text

        # by hand, in ms (the figures stop moving once posted, until t + 300 s when the rolling
        # window starts to lose st-a1's and st-a2's first minutes):
        # st-a1 available 60 s, on contact 240, wrap-up 60 (then aux: neither side)
        # st-a2 available 180, on contact 60 (aux 60 between, logged out after)
        # st-a3 on contact 100, available 300, logged out
        # adherence: st-a2 works [t-900, t-300): in adherence while available or on contact, 240 of
        # 600 s, and logs in at t-600 (late); st-a3 works [t-90, t-30), logged out: 0 of 60 s (absent)
        # AHT: c1 talk 240 + wrap 60 (st-a1), c2 talk 30 + wrap 30 (st-a2)
        want = {
            "floor": {
                "occupancy_15m": 460_000 / 1_000_000,
                "occupancy_today": 460_000 / 1_000_000,
                "adherence": 240_000 / 660_000,
                "aht": 360 / 2,
                "absent": 1,
                "late_logins": 1,
            },
            "north": {
                "occupancy_15m": 360_000 / 600_000,
                "occupancy_today": 360_000 / 600_000,
                "adherence": 240_000 / 600_000,
                "aht": 360 / 2,
                "absent": 0,
                "late_logins": 1,
            },
            "south": {
                "occupancy_15m": 100_000 / 400_000,
                "occupancy_today": 100_000 / 400_000,
                "adherence": 0.0,
                "aht": None,
                "absent": 1,
                "late_logins": 0,
            },
        }
        colours = {  # north against its targets: 0.6 < 0.85 - 0.1; 0.4 < 0.9 - 0.05; 170 < 180 <= 187
            "occupancy_15m": "sl-amber",
            "adherence": "sl-red",
            "aht": "sl-amber",
        }

        def strip_values(page: Any) -> dict[str, dict[str, Any]]:
            return {card: {f: v["value"] for f, v in fields.items()} for card, fields in strip_cards(page).items()}

        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        try:
            page.goto(f"{stack.api_url}/?token={SUPERVISOR_TOKEN}")
            # the strip polls every 15 s; the worker publishes within seconds
            last: list[dict[str, Any]] = [{}]

            def strip_as_wanted() -> dict[str, Any] | None:
                last[0] = strip_values(page)
                return last[0] if last[0] == want else None

            try:
                shown = wait_until(strip_as_wanted, 90, "strip figures")
            except TimeoutError:
                raise AssertionError(f"strip {last[0]} != {want}") from None
            assert time.time() * S < t + 300 * S, "the figures were compared after they started to move"
            north = {f: v["cls"] for f, v in strip_cards(page)["north"].items() if f in colours}
            assert north == colours
            assert shown == want
            page.screenshot(path=str(ARTIFACTS / "wallboard-strip.png"), full_page=True)

            # the drill-down of st-a1 (in aux, so on the agent grid)
            page.wait_for_function("() => document.body.classList.contains('supervisor')")
            page.click('#agents [data-agent="st-a1"]')
            page.wait_for_selector('#detail:not([hidden]) [data-perf="day"]')
            day = {f: v for f, (v, _) in figures(page, '#detail [data-perf="day"]').items()}
            assert {k: day[k] for k in ("handled", "talk", "hold", "wrap", "aht", "transfers")} == {
                "handled": 1,
                "talk": 240.0,
                "hold": 0.0,
                "wrap": 60.0,
                "aht": 300.0,
                "transfers": 0,
            }
            assert {k: day[k] for k in ("occupancy", "occupancy_15m", "handle", "available", "adherence")} == {
                "occupancy": 300_000 / 360_000,
                "occupancy_15m": 300_000 / 360_000,
                "handle": 300.0,
                "available": 60.0,
                "adherence": None,  # no schedule
            }
            states = {f: v for f, (v, _) in figures(page, '#detail [data-perf="states"]').items()}
            assert (states["state_available"], states["state_on_contact"], states["state_wrap_up"]) == (
                60.0,
                240.0,
                60.0,
            )
            assert (
                states["aux_reason"] > 0 and page.get_attribute('[data-field="aux_reason"]', "data-reason") == "break"
            )
            # per interval: the same seconds split at the local interval starts
            want_rows = {
                "available": split([(t - 600 * S, t - 540 * S)], tz, minutes),
                "on_contact": split([(t - 540 * S, t - 300 * S)], tz, minutes),
                "wrap_up": split([(t - 300 * S, t - 240 * S)], tz, minutes),
                "handled": {local_interval_start(t - 545 * S, tz, minutes): 1},  # offered then
            }
            rows = page.evaluate(
                """() => [...document.querySelectorAll('#detail [data-perf="intervals"] tbody tr')].map((tr) => [
                      Date.parse(tr.dataset.start), Object.fromEntries([...tr.querySelectorAll('[data-field]')]
                          .map((n) => [n.dataset.field, JSON.parse(n.dataset.value)]))])"""
            )
            starts = [start for start, _ in rows]
            assert starts == sorted(starts) and set().union(*want_rows.values()) <= set(starts)
            for start, row in rows:
                for field, per_start in want_rows.items():
                    assert row[field] * (1 if field == "handled" else S) == per_start.get(start, 0), (start, field)
            page.screenshot(path=str(ARTIFACTS / "wallboard-drilldown-stack.png"), full_page=True)
            page.keyboard.press("Escape")
            assert page.is_hidden("#detail")
            assert errors == []
        finally:
            page.close()

        # a viewer: the same grid, no drill-down (and no request for one)
        page = browser.new_page(viewport={"width": 1600, "height": 1100})
        requests.clear()
        page.on("request", lambda r: requests.append(r.url))
        try:
            page.goto(f"{stack.api_url}/?token={VIEWER_TOKEN}")
            page.wait_for_selector('#agents [data-agent="st-a1"]')
            page.wait_for_function("() => document.querySelector('#who').textContent === 'viewer'")
            page.click('#agents [data-agent="st-a1"]')
            page.wait_for_timeout(500)
            assert page.is_hidden("#detail")
            assert any("/api/v1/teams" in u for u in requests)
            assert not any("/performance" in u for u in requests)
        finally:
            page.close()
    finally:
        stack.close()
