"""The real Prometheus (Debian package) scraping a real stack fed by the simulator.

* ``promtool check config`` / ``check rules`` / ``test rules`` on deploy/prometheus/ pass
  (and ``amtool check-config`` on the Alertmanager example when amtool is installed);
* Prometheus scrapes ``GET /metrics`` of the API every second, with the production alerting
  rules loaded; every PromQL expression of every panel of every dashboard in dashboards/json/
  returns at least one series (template variables ``$queue``/``$team`` as the "All" regex,
  ``$__rate_interval``/``$__interval`` as 1m), every template variable has values, and every
  rule evaluates without error;
* the worker is stopped (SIGSTOP): ``FloorwatchWorkerNotReporting`` fires once the newest worker
  heartbeat the API has read is more than 30 s old, and resolves when the worker runs (SIGCONT).

Every expression must return series, the staffing gap included (required agents are sized
live from the rolling arrival rate and AHT the simulator produces).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import httpx
import pytest
import yaml

from floorwatch import topics
from floorwatch.domain.intervals import interval_start_ms
from floorwatch.services.broker import free_port
from floorwatch.services.simulator import simulate
from tests.integration.harness import INGEST_TOKEN, ROOT, Stack, produce, wait_until

pytestmark = pytest.mark.integration

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
NEEDS_PROMETHEUS = pytest.mark.skipif(
    PROMETHEUS is None or PROMTOOL is None,
    reason="Debian package 'prometheus' not installed (make test installs it via .ci/system-deps.sh when root)",
)
DEPLOY = ROOT / "deploy"
DASHBOARDS = ROOT / "dashboards" / "json"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, cwd=ROOT)


@NEEDS_PROMETHEUS
def test_promtool_config_rules_and_rule_unit_tests() -> None:
    for args in (
        ("check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")),
        ("check", "rules", *map(str, sorted((DEPLOY / "prometheus" / "rules").glob("*.yml")))),
        ("test", "rules", *map(str, sorted((DEPLOY / "prometheus" / "tests").glob("*.yml")))),
    ):
        done = run(PROMTOOL, *args)  # type: ignore[arg-type]
        assert done.returncode == 0, f"promtool {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        assert "SUCCESS" in done.stdout + done.stderr
    # every alerting rule has a promtool unit test
    rules = {
        r["alert"]
        for path in (DEPLOY / "prometheus" / "rules").glob("*.yml")
        for g in yaml.safe_load(path.read_text())["groups"]
        for r in g["rules"]
        if "alert" in r
    }
    tested = {
        t["alertname"]
        for path in (DEPLOY / "prometheus" / "tests").glob("*.yml")
        for case in yaml.safe_load(path.read_text())["tests"]
        for t in case.get("alert_rule_test", [])
    }
    assert rules and rules <= tested, f"alerts without a promtool test: {sorted(rules - tested)}"


@pytest.mark.skipif(AMTOOL is None, reason="amtool (Debian package prometheus-alertmanager) not installed")
def test_alertmanager_example_is_valid_and_routes() -> None:
    config = str(DEPLOY / "alertmanager" / "alertmanager.yml")
    done = run(AMTOOL, "check-config", config)  # type: ignore[arg-type]
    assert done.returncode == 0, done.stdout + done.stderr
    for labels, receiver in (
        (["alertname=FloorwatchNoWorker", "severity=critical"], "oncall-pager"),
        (["alertname=FloorwatchServiceLevelBelowTarget", "severity=warning", "queue=sales"], "wfm-floor"),
        (["alertname=FloorwatchPipelineLagHigh", "severity=warning"], "platform"),
        (["alertname=FloorwatchEventsRejected", "severity=info"], "low-priority"),
    ):
        done = run(AMTOOL, "config", "routes", "test", f"--config.file={config}", *labels)  # type: ignore[arg-type]
        assert done.returncode == 0 and done.stdout.strip() == receiver, (labels, done.stdout, done.stderr)


# -- the live test ----------------------------------------------------------------------------


def midday_zone(now_s: float) -> tuple[str, float]:
    """An IANA zone where it is 10:00-17:00 now and at least 3 minutes into a 30-minute interval
    (so "today", the current interval and the rolling window all hold simulated contacts), and
    how long to wait when no zone gives that margin."""
    best: tuple[str, float] | None = None
    for name in sorted(available_timezones()):
        if not name.startswith(("Etc/", "Asia/", "Europe/", "America/", "Australia/", "Pacific/", "Africa/")):
            continue
        local = datetime.fromtimestamp(now_s, ZoneInfo(name))
        if not 10 <= local.hour < 17:
            continue
        into = (local.minute % 30) * 60 + local.second
        if 180 <= into <= 1500:
            return name, 0.0
        if best is None:
            best = (name, max(0.0, 180 - into) if into < 180 else 0.0)
    assert best is not None
    return best


def dashboard_expressions() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, expr) of every target of every panel (rows included)."""
    out = []
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        panels = list(board["panels"])
        while panels:
            p = panels.pop(0)
            panels.extend(p.get("panels", []))
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((path.name, p["title"], t["expr"]))
    return out


def substitute(expr: str) -> str:
    expr = re.sub(r"\$(__rate_interval|__interval|__range)\b", "1m", expr)
    return re.sub(r"\$\{?(queue|team)\}?", ".*", expr)


def day_forecast(settings: Any, queue: str, first_ms: int, now_ms: int) -> dict[str, Any]:
    """A ``forecast.published`` for today of ``queue``: 40 contacts @ 200 s in every interval from
    the one holding ``first_ms`` to the one after the current one (so the forecast families and
    the WAPEs, which count ended intervals only, have series)."""
    tz, minutes = settings.tz, settings.interval_minutes
    step = minutes * 60_000
    first = interval_start_ms(first_ms, tz, minutes)
    last = interval_start_ms(now_ms, tz, minutes) + step

    def iso_of(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, tz).isoformat()

    return {
        "event_id": f"it-forecast-{now_ms}",
        "type": "forecast.published",
        "ts": iso_of(now_ms),
        "queue": queue,
        "date": datetime.fromtimestamp(now_ms / 1000, tz).date().isoformat(),
        "interval_minutes": minutes,
        "intervals": [{"start": iso_of(ms), "offered": 40, "aht_s": 200} for ms in range(first, last + 1, step)],
    }


def write_prometheus_config(tmp: Path, api_url: str) -> Path:
    target = api_url.removeprefix("http://")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(p) for p in sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))],
        "scrape_configs": [
            {
                "job_name": "floorwatch-api",
                "metrics_path": "/metrics",
                "scrape_interval": "1s",
                "scrape_timeout": "1s",
                "static_configs": [{"targets": [target]}],
            }
        ],
    }
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


class Prometheus:
    def __init__(self, tmp: Path, config: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "prometheus.log"
        self.proc = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp / 'tsdb'}",  # type: ignore[list-item]
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def query(self, expr: str) -> list[dict[str, Any]]:
        resp = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = resp.json()
        assert resp.status_code == 200 and body["status"] == "success", f"{expr}: {resp.status_code} {body}"
        return body["data"]["result"]  # type: ignore[no-any-return]

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@NEEDS_PROMETHEUS
def test_every_dashboard_expression_returns_series(tmp_path: Path) -> None:
    zone, wait_s = midday_zone(time.time())
    time.sleep(wait_s)
    # one routed alert channel (no route names it: nothing is sent), so the alert notification
    # families have series (a worker without channels exports none)
    channel = {"id": "it-hook", "type": "webhook", "url": "http://127.0.0.1:9/", "secret": "s"}
    stack = Stack(tmp_path, timezone=zone, alerts={"channels": [channel]})
    prometheus: Prometheus | None = None
    try:
        settings = stack.settings()
        worker = stack.worker()
        stack.api()
        now_ms = int(time.time() * 1000)
        start_ms = now_ms - 2 * 3_600_000
        result = simulate(settings, seed=21, agents=60, start_ms=start_ms, duration_ms=now_ms - start_ms)
        garbage = [(topics.CONTACT_EVENTS, b"\xff not json"), (topics.AGENT_EVENTS, b'{"type": "agent.state"}')]
        queue = settings.queues[0].id
        plan = day_forecast(settings, queue, start_ms, now_ms)
        asyncio.run(produce(stack.bootstrap, [*result.events, plan], raw=garbage))
        # one good and one bad event through HTTP ingest, so both ingest counters have series
        resp = httpx.post(
            f"{stack.api_url}/api/v1/events",
            timeout=10,
            headers={"Authorization": f"Bearer {INGEST_TOKEN}"},
            content=json.dumps(
                [{"event_id": "bad", "type": "contact.vanished", "ts": "2026-01-01T00:00:00Z"}]
            ).encode(),
        )
        assert resp.status_code == 202

        def figures() -> dict[str, Any] | None:
            queues = stack.get("/api/v1/queues")
            ready = [
                q
                for q in queues
                if q["today"]["offered"] and q["interval"]["service_level"] is not None and q["rolling_15m"]["offered"]
            ]
            day = datetime.fromtimestamp(time.time(), settings.tz).date().isoformat()
            adherence = stack.get("/api/v1/adherence", date=day)
            # the forecast is read: an ended interval with a forecast and handled contacts (WAPE of both)
            ended = [
                r
                for r in stack.get("/api/v1/staffing", queue=queue)
                if r["forecast_offered"] is not None
                and r["actual_aht_s"] is not None
                and datetime.fromisoformat(r["end"]).timestamp() <= time.time()
            ]
            return {"queues": ready, "adherence": adherence} if ready and adherence and ended else None

        wait_until(
            figures, 120, "today's figures, the current interval, adherence and the forecast in the API", interval_s=1
        )

        prometheus = Prometheus(tmp_path, write_prometheus_config(tmp_path, stack.api_url))  # type: ignore[arg-type]
        wait_until(prometheus.ready, 60, "Prometheus ready")

        def scraped() -> bool:
            up = prometheus.query('count_over_time(up{job="floorwatch-api"}[1m])')  # type: ignore[union-attr]
            processed = prometheus.query("floorwatch_events_processed_total")  # type: ignore[union-attr]
            return bool(up) and float(up[0]["value"][1]) >= 5 and bool(processed)

        wait_until(scraped, 60, "five scrapes and a committed-offsets reading", interval_s=1)
        assert float(prometheus.query('up{job="floorwatch-api"}')[0]["value"][1]) == 1

        empty, checked = [], 0
        for board, title, expr in dashboard_expressions():
            series = prometheus.query(substitute(expr))
            checked += 1
            if not series:
                empty.append((board, title, expr))
        assert checked >= 25
        assert not empty, f"dashboard expressions without any series: {empty}"

        # template variables: label_values(metric, label) has values
        for path in sorted(DASHBOARDS.glob("*.json")):
            for var in json.loads(path.read_text())["templating"]["list"]:
                m = re.fullmatch(r"label_values\((\w+), (\w+)\)", var["definition"])
                assert m, var["definition"]
                resp = httpx.get(
                    f"{prometheus.url}/api/v1/label/{m[2]}/values", params={"match[]": m[1]}, timeout=10
                ).json()
                assert resp["status"] == "success" and resp["data"], (path.name, var["name"], resp)

        # figures agree with the REST API for a queue (same view, same instant up to a scrape)
        sl = prometheus.query('floorwatch_queue_contacts{window="today", outcome="offered"}')
        assert sum(float(s["value"][1]) for s in sl) > 0
        # the production rules load and evaluate without error against the live figures
        groups = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=10).json()["data"]["groups"]
        rules = [r for g in groups for r in g["rules"]]
        assert len(rules) >= 9 and all(r["health"] == "ok" for r in rules), rules
        # the worker heartbeat families: one fresh worker, its newest heartbeat under a few seconds old
        assert float(prometheus.query("floorwatch_workers_reporting")[0]["value"][1]) == 1
        assert float(prometheus.query("floorwatch_worker_last_seen_seconds")[0]["value"][1]) < 5
        firing = 'ALERTS{alertname="FloorwatchWorkerNotReporting", alertstate="firing"}'
        assert prometheus.query(firing) == []
        # a hung worker: no heartbeat, the rule fires once the newest is over 30 s old
        os.killpg(worker.proc.pid, signal.SIGSTOP)
        stopped = time.monotonic()
        try:
            wait_until(
                lambda: prometheus.query(firing),
                60,
                "FloorwatchWorkerNotReporting firing",  # type: ignore[union-attr]
                interval_s=1,
            )
            fired_after_s = time.monotonic() - stopped
            assert 30 <= fired_after_s <= 45, fired_after_s
            age = float(prometheus.query("max(floorwatch_worker_last_seen_seconds)")[0]["value"][1])
            assert age > 30, age
            print(f"FloorwatchWorkerNotReporting firing {fired_after_s:.1f} s after SIGSTOP (age {age:.1f} s)")
        finally:
            os.killpg(worker.proc.pid, signal.SIGCONT)
        wait_until(
            lambda: not prometheus.query(firing),
            30,
            "FloorwatchWorkerNotReporting resolved",  # type: ignore[union-attr]
            interval_s=1,
        )
        # no agent id is a label value anywhere in Prometheus
        agent_ids = {e["agent_id"] for e in result.events if e.get("agent_id")}
        for label in ("queue", "team", "state", "channel", "kind", "reason", "topic", "window", "outcome"):
            values = httpx.get(f"{prometheus.url}/api/v1/label/{label}/values", timeout=10).json()["data"]
            assert not agent_ids.intersection(values), label
    finally:
        if prometheus is not None:
            prometheus.close()
        stack.close()
