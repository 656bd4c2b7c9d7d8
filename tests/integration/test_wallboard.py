"""The wallboard in a real browser (Debian chromium via Playwright) against the real stack.

Broker + worker + API processes: events posted over HTTP show up on the queue tiles with the
same numbers as ``/api/v1/queues``; an alert appears and a supervisor acknowledges it; the API
process is restarted and the page reconnects by itself; a hung worker (SIGSTOP) turns the
freshness badge red, "worker not reporting", while frames keep arriving, and green again once it
runs (SIGCONT). Screenshots go to tests/artifacts/.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest

from floorwatch import topics
from tests.integration.browser import ARTIFACTS, launched, require_browser
from tests.integration.harness import (
    ADMIN_TOKEN,
    INGEST_TOKEN,
    VIEWER_TOKEN,
    Proc,
    Stack,
    read_topic,
    sha,
    wait_until,
)

pytestmark = pytest.mark.integration

SUPERVISOR_TOKEN = "it-supervisor-secret"
TZ = ZoneInfo("Asia/Shanghai")  # floorwatch.yaml's zone

require_browser()


@pytest.fixture
def stack(tmp_path: Path):  # type: ignore[no-untyped-def]
    tokens = [
        {"name": "admin", "sha256": sha(ADMIN_TOKEN), "roles": ["admin", "ingest"]},
        {"name": "viewer", "sha256": sha(VIEWER_TOKEN), "roles": ["viewer"]},
        {"name": "ingest", "sha256": sha(INGEST_TOKEN), "roles": ["ingest"]},
        {"name": "supervisor", "sha256": sha(SUPERVISOR_TOKEN), "roles": ["supervisor"]},
    ]
    s = Stack(tmp_path, auth={"tokens": tokens})
    try:
        yield s
    finally:
        s.close()


def start_api(stack: Stack, port: int) -> Proc:
    """The API on a fixed port (a restart must come back where the page is pointing)."""
    env = {**stack.env, "FLOORWATCH_API_PORT": str(port)}
    proc = Proc("api", ["api", "--loglevel", "warning"], env, stack.tmp / "api.log")
    stack.procs.append(proc)
    stack.api_url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{stack.api_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, 60, "API healthz", interval_s=0.2)
    return proc


def run_async(coro: Any) -> Any:
    """``asyncio.run`` in a thread: Playwright's sync API keeps a loop running in this one."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, TZ).isoformat(timespec="milliseconds")


def post(stack: Stack, events: list[dict[str, Any]]) -> None:
    r = httpx.post(
        f"{stack.api_url}/api/v1/events",
        content=orjson.dumps(events),
        timeout=10,
        headers={"Authorization": f"Bearer {INGEST_TOKEN}", "Content-Type": "application/json"},
    )
    assert r.status_code == 202 and r.json()["rejected"] == [], r.text


def floor_events(now_ms: int, tag: str) -> list[dict[str, Any]]:
    """Two agents and four sales contacts around ``now_ms`` (one still waiting, one short abandon)."""
    n = iter(range(1000))

    def ev(dt_s: float, **fields: Any) -> dict[str, Any]:
        return {"event_id": f"wb-{tag}-{next(n)}", "ts": iso(now_ms + int(dt_s * 1000)), **fields}

    return [
        ev(-300, type="agent.profile", agent_id="wb-a1", name="Ada", team="north", queues=["sales"]),
        ev(-300, type="agent.profile", agent_id="wb-a2", name="Bob", team="north", queues=["sales"]),
        ev(-290, type="agent.state", agent_id="wb-a1", state="available"),
        ev(-290, type="agent.state", agent_id="wb-a2", state="aux", reason="break"),
        ev(-120, type="contact.offered", contact_id=f"{tag}-c1", queue="sales", channel="voice"),
        ev(-110, type="contact.answered", contact_id=f"{tag}-c1", queue="sales", agent_id="wb-a1"),
        ev(-110, type="agent.state", agent_id="wb-a1", state="on_contact"),
        ev(-100, type="contact.offered", contact_id=f"{tag}-c2", queue="sales", channel="voice"),
        ev(-60, type="contact.answered", contact_id=f"{tag}-c2", queue="sales", agent_id="wb-a1"),
        ev(-50, type="contact.offered", contact_id=f"{tag}-c3", queue="sales", channel="voice"),
        ev(-48, type="contact.abandoned", contact_id=f"{tag}-c3", queue="sales"),
        ev(-20, type="contact.offered", contact_id=f"{tag}-c4", queue="sales", channel="voice"),
    ]


# -- the alert: one helper, so switching to a real adherence break is a one-function change --


def raise_alert(stack: Stack, now_ms: int) -> str:
    """Make a real adherence break fire and return its id.

    wb-a2 has been in aux/break since 290 s ago; publishing a schedule that has wb-a2 working
    now makes that unscheduled aux, past the 120 s grace: the worker raises ``adherence_break``.
    """
    day = datetime.fromtimestamp(now_ms / 1000, ZoneInfo(stack.settings().timezone)).date().isoformat()
    post(
        stack,
        [
            {
                "event_id": f"wb-sched-{now_ms}",
                "type": "schedule.published",
                "ts": iso(now_ms - 600_000),
                "agent_id": "wb-a2",
                "date": day,
                "activities": [{"start": iso(now_ms - 3_600_000), "end": iso(now_ms + 3_600_000), "activity": "work"}],
            }
        ],
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for alert in stack.get("/api/v1/alerts", state="firing"):
            if alert["kind"] == "adherence_break" and alert["subject"] == "wb-a2":
                return str(alert["id"])
        time.sleep(0.3)
    raise AssertionError("the worker raised no adherence_break for wb-a2")


# -- page helpers ---------------------------------------------------------------------------


TILE_FIELDS = {  # data-field on the tile -> how to read the same figure from /api/v1/queues
    "waiting": lambda q: q["waiting"],
    "sl_interval": lambda q: q["interval"]["service_level"],
    "sl_today": lambda q: q["today"]["service_level"],
    "abandon_rate": lambda q: q["today"]["abandon_rate"],
    "asa": lambda q: q["today"]["asa_s"],
    "aht": lambda q: q["today"]["aht_s"],
    "fcr": lambda q: q["today"]["fcr"],
    "repeat_rate": lambda q: q["today"]["repeat_rate"],
    "csat": lambda q: q["today"]["csat_satisfied"],
    "available": lambda q: q["agents"]["available"],
    "on_contact": lambda q: q["agents"]["on_contact"],
    "wrap_up": lambda q: q["agents"]["wrap_up"],
    "aux": lambda q: q["agents"]["aux"],
    "staffed": lambda q: q["agents"]["staffed"],
}


def tile_values(page: Any, queue: str) -> dict[str, Any]:
    raw = page.evaluate(
        """(queue) => Object.fromEntries([...document.querySelectorAll(`[data-queue="${queue}"] [data-field]`)]
                .map((n) => [n.dataset.field, n.dataset.value]))""",
        queue,
    )
    return {k: json.loads(v) for k, v in raw.items() if k in TILE_FIELDS and v is not None}


def rest_values(stack: Stack, queue: str) -> dict[str, Any] | None:
    row = next((q for q in stack.get("/api/v1/queues") if q["queue"] == queue), None)
    return None if row is None else {k: f(row) for k, f in TILE_FIELDS.items()}


def tiles_match_rest(stack: Stack, page: Any, queue: str, want: dict[str, Any]) -> dict[str, Any] | None:
    """The tile's figures equal /api/v1/queues and ``want`` (a subset), read back to back."""
    rest = rest_values(stack, queue)
    if rest is None or any(rest[k] != v for k, v in want.items()):
        return None
    shown = tile_values(page, queue)
    return rest if shown == rest else None


BADGE_STARTS = "(text) => document.querySelector('#fresh').textContent.startsWith(text)"


def test_wallboard_in_a_real_browser(stack: Stack) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    worker = stack.worker()
    from floorwatch.services.broker import free_port

    port = free_port()
    api = start_api(stack, port)
    now_ms = int(time.time() * 1000)
    post(stack, floor_events(now_ms, "one"))

    with launched() as browser:
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
        frames_at: list[float] = []  # monotonic arrival of every websocket frame
        page.on("websocket", lambda ws: ws.on("framereceived", lambda _: frames_at.append(time.monotonic())))
        page.goto(f"{stack.api_url}/?token={SUPERVISOR_TOKEN}")

        # 1. tiles show the same numbers as the REST API (c1, c2 answered, c3 short abandon, c4 waiting)
        want = {"waiting": 1, "available": 0, "on_contact": 1, "aux": 1, "staffed": 2}
        shown = wait_until(lambda: tiles_match_rest(stack, page, "sales", want), 60, "sales tile == REST")
        assert shown["sl_interval"] is not None or shown["sl_today"] is not None
        page.wait_for_selector('[data-agent="wb-a2"]')
        assert "aux" in page.inner_text('[data-agent="wb-a2"] [data-field="state"]')
        assert page.inner_text("#fresh").startswith("live")
        assert page.is_visible("#banner") is False
        page.screenshot(path=str(ARTIFACTS / "wallboard.png"), full_page=True)

        # 2. an alert appears; the supervisor acknowledges it
        alert_id = raise_alert(stack, now_ms)
        chip = f'[data-alert="{alert_id}"]'
        page.wait_for_selector(f"{chip} button.ack", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "wallboard-alert.png"), full_page=True)
        page.click(f"{chip} button.ack")
        page.wait_for_selector(f"{chip} .acked-by", timeout=10_000)
        assert page.inner_text(f"{chip} .acked-by") == "acked by supervisor"
        listed = stack.get("/api/v1/alerts", state="firing")
        assert next(a for a in listed if a["id"] == alert_id)["acked_by"] == "supervisor"
        acks = [
            orjson.loads(v)
            for k, v in run_async(read_topic(stack.bootstrap, topics.ALERT_ACKS))
            if k == alert_id.encode()
        ]
        assert [a["by"] for a in acks] == ["supervisor"]

        # 3. the supervisor console: click an agent -> today's adherence (none scheduled here)
        page.click('[data-agent="wb-a2"]')
        page.wait_for_selector("#detail:not([hidden]) h2")

        # 4. restart the API: banner while it is down, then the page reconnects by itself
        api.kill(signal.SIGTERM)
        page.wait_for_selector("#banner:not([hidden])", timeout=15_000)
        assert "reconnecting" in page.inner_text("#banner")
        page.screenshot(path=str(ARTIFACTS / "wallboard-reconnecting.png"), full_page=True)
        start_api(stack, port)
        page.wait_for_selector("#banner", state="hidden", timeout=30_000)
        # data flows again: a new waiting contact shows up on the tile
        later = int(time.time() * 1000)
        post(
            stack,
            [
                {
                    "event_id": "wb-after-restart",
                    "type": "contact.offered",
                    "ts": iso(later),
                    "contact_id": "after-restart",
                    "queue": "sales",
                    "channel": "voice",
                }
            ],
        )
        wait_until(lambda: tiles_match_rest(stack, page, "sales", {"waiting": 2}), 60, "tile after restart")
        page.wait_for_selector(f"{chip} .acked-by")  # the ack survived the restart (read back from Kafka)
        page.screenshot(path=str(ARTIFACTS / "wallboard-after-restart.png"), full_page=True)

        # 5. a hung worker: its event loop stops, so do its heartbeats; the socket stays up
        page.wait_for_function(BADGE_STARTS, arg="live", timeout=30_000)
        os.killpg(worker.proc.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            page.wait_for_function(BADGE_STARTS, arg="worker late", timeout=10_000)  # amber after 5 s
            assert "stale" in (page.get_attribute("#fresh", "class") or "")
            page.wait_for_function(BADGE_STARTS, arg="worker not reporting", timeout=30_000)
            red_after_s = time.monotonic() - stopped
            assert "dead" in (page.get_attribute("#fresh", "class") or "")
            assert int(page.get_attribute("#fresh", "data-age-ms") or 0) > 30_000
            assert page.is_visible("#banner") is False  # connected: it is the worker that is silent
            recent = [t for t in frames_at if t > time.monotonic() - 5]
            assert len(recent) >= 3, f"frames in the last 5 s while the worker is silent: {len(recent)}"
            ready = httpx.get(f"{stack.api_url}/readyz", timeout=5)
            assert ready.status_code == 503 and any("heartbeat" in r for r in ready.json()["reasons"]), ready.text
            page.screenshot(path=str(ARTIFACTS / "wallboard-worker-hung.png"), full_page=True)
        finally:
            os.killpg(worker.proc.pid, signal.SIGCONT)
        resumed = time.monotonic()
        page.wait_for_function(BADGE_STARTS, arg="live", timeout=20_000)
        print(f"badge red {red_after_s:.1f} s after SIGSTOP, green {time.monotonic() - resumed:.1f} s after SIGCONT")
        # and the worker works again: a new waiting contact reaches the tile
        post(
            stack,
            [
                {
                    "event_id": "wb-after-sigcont",
                    "type": "contact.offered",
                    "ts": iso(int(time.time() * 1000)),
                    "contact_id": "after-sigcont",
                    "queue": "sales",
                    "channel": "voice",
                }
            ],
        )
        wait_until(lambda: tiles_match_rest(stack, page, "sales", {"waiting": 3}), 60, "tile after SIGCONT")
        # websocket failures while the API was down are expected; nothing else may fail
        unexpected = [
            e
            for e in errors
            if "WebSocket" not in e
            and "ERR_CONNECTION_REFUSED" not in e
            and not e.startswith("Failed to load resource")
        ]  # listed with its URL below
        assert unexpected == [], unexpected


def test_page_without_token_and_headers(stack: Stack) -> None:
    """No browser needed: the page loads without a token; the API needs one."""
    from floorwatch.services.broker import free_port

    start_api(stack, free_port())
    r = httpx.get(f"{stack.api_url}/", timeout=5)
    assert r.status_code == 200 and r.headers["referrer-policy"] == "no-referrer"
    assert httpx.get(f"{stack.api_url}/api/v1/agents", timeout=5).status_code == 401
