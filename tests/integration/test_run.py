"""`floorwatch run`: one command brings the system up, prints a viewer-only wallboard URL and the
path of the 0600 admin token file, restarts a component that dies, and Ctrl-C stops it all."""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from floorwatch.services.broker import free_port
from tests.integration.harness import ROOT, write_config

pytestmark = pytest.mark.integration


def descendants(pid: int) -> set[int]:
    """Every live process whose ancestry includes ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def start_run(tmp_path: Path, *args: str, env_extra: dict[str, str] | None = None) -> tuple[subprocess.Popen, Path]:
    # no customer hash key configured: `floorwatch run` makes one for its session
    config = write_config(
        tmp_path / "floorwatch.yaml",
        kafka={"bootstrap": f"127.0.0.1:{free_port()}", "partitions": 8},
        api={"host": "127.0.0.1", "port": free_port()},
        privacy={},
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOORWATCH_")}
    env.update({"FLOORWATCH_CONFIG": str(config), **(env_extra or {})})
    out = tmp_path / "run.out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "floorwatch.cli", "run", *args],
        env=env,
        cwd=ROOT,
        stdout=out.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return proc, out


def wait_for_url(proc: subprocess.Popen, out: Path, timeout_s: float = 90) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        match = re.search(r"Wallboard: (http://\S+)", out.read_text())
        if match:
            return match.group(1)
        assert proc.poll() is None, out.read_text()
        time.sleep(0.2)
    raise AssertionError(f"no URL within {timeout_s} s:\n{out.read_text()}")


def test_run_prints_url_serves_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    started = time.monotonic()
    proc, out = start_run(tmp_path)
    try:
        url = wait_for_url(proc, out)
        assert time.monotonic() - started < 90
        base, viewer_token = url.split("/?token=")
        assert httpx.get(f"{base}/healthz", timeout=5).json() == {"ok": True}
        admin_token_path = Path(re.search(r"^admin token: (\S+) \(0600\)$", out.read_text(), re.M).group(1))
        assert admin_token_path.name == "admin-token"
        assert stat.S_IMODE(admin_token_path.stat().st_mode) == 0o600
        assert stat.S_IMODE(admin_token_path.parent.stat().st_mode) == 0o700
        session_config = admin_token_path.parent / "floorwatch.session.yaml"
        assert stat.S_IMODE(session_config.stat().st_mode) == 0o600
        assert "customer_hash_key" in session_config.read_text()  # made for the session
        admin_token = admin_token_path.read_text().strip()
        assert admin_token and admin_token != viewer_token and admin_token not in out.read_text()
        viewer, admin = ({"Authorization": f"Bearer {t}"} for t in (viewer_token, admin_token))
        # the link's token views; the simulator's events reach the API
        deadline = time.monotonic() + 60
        staffed = 0
        while time.monotonic() < deadline and not staffed:
            queues = httpx.get(f"{base}/api/v1/queues", headers=viewer, timeout=5)
            assert queues.status_code == 200
            staffed = sum(q["agents"]["staffed"] for q in queues.json())
            time.sleep(0.5)
        assert staffed > 0
        # ... but cannot ingest; the file's token can
        event = orjson.dumps(
            {
                "event_id": "run-it-1",
                "type": "agent.state",
                "agent_id": "run-it-agent",
                "state": "available",
                "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
        )
        ingest = {"Content-Type": "application/json"}
        refused = httpx.post(f"{base}/api/v1/events", content=event, headers={**viewer, **ingest}, timeout=5)
        assert refused.status_code == 403, refused.text
        accepted = httpx.post(f"{base}/api/v1/events", content=event, headers={**admin, **ingest}, timeout=5)
        assert accepted.status_code == 202, accepted.text
        # REST takes the header only: the link's ?token= form is refused
        assert httpx.get(f"{base}/api/v1/queues?token={viewer_token}", timeout=5).status_code == 401
        text = out.read_text()
        for component in ("broker ", "worker ", "api ", "simulator "):
            assert re.search(rf"^{component}", text, re.M), text
        children = descendants(proc.pid)
        assert len(children) >= 4
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    assert code == 0
    assert "Traceback" not in out.read_text()
    time.sleep(0.5)
    assert not [
        pid
        for pid in children
        if Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()
    ], "orphan processes left"


def test_a_dying_component_is_reported_with_its_log_and_restarted_while_the_rest_runs(tmp_path: Path) -> None:
    # an external Kafka that does not exist: no embedded broker; the simulator cannot connect and
    # dies; `floorwatch run` reports it with its last log lines and starts it again, the API stays
    proc, out = start_run(tmp_path, env_extra={"FLOORWATCH_KAFKA": f"127.0.0.1:{free_port()}"})
    try:
        deadline = time.monotonic() + 150
        restart = None
        while time.monotonic() < deadline and not restart:
            restart = re.search(
                r"^(\w+) exited with code (-?\d+).* after \d+\.\d s; restarting in 1 s "
                r"\(restart 1\); its last log lines:\n  \| ",
                out.read_text(),
                re.M,
            )
            assert proc.poll() is None, out.read_text()
            time.sleep(0.5)
        assert restart, out.read_text()
        dead_log = re.findall(r"^  \| (.*)$", out.read_text()[restart.end() - 4 :], re.M)
        assert any("Kafka" in line for line in dead_log), dead_log  # why it died, from its own log
        url = wait_for_url(proc, out)
        assert httpx.get(f"{url.split('/?token=')[0]}/healthz", timeout=5).status_code == 200
        children = descendants(proc.pid)
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    text = out.read_text()
    assert code == 0, text
    assert "external Kafka" in text
    assert not [line for line in text.splitlines() if "Traceback" in line and not line.startswith("  | ")]
    time.sleep(0.5)
    assert not [
        pid
        for pid in children
        if Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()
    ], "orphan processes left"
