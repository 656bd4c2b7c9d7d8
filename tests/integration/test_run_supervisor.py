"""`floorwatch run` supervises its children: a killed worker or API is started again with the
same arguments and environment (same tokens, same port) while the broker keeps running and
keeps every event; only the embedded broker's death ends the run, saying the data is gone."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import orjson
import pytest

from tests.integration.test_run import descendants, start_run, wait_for_url

pytestmark = pytest.mark.integration


def wait_for_text(proc: subprocess.Popen, out: Path, pattern: str, timeout_s: float) -> re.Match[str]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        match = re.search(pattern, out.read_text(), re.M)
        if match:
            return match
        assert proc.poll() is None, out.read_text()
        time.sleep(0.2)
    raise AssertionError(f"no {pattern!r} within {timeout_s} s:\n{out.read_text()}")


def printed_pid(out: Path, component: str) -> int:
    return int(re.search(rf"^{component}\s.*\(pid (\d+)", out.read_text(), re.M).group(1))


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def post_states(base: str, admin_token: str, states: dict[str, str]) -> None:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    body = orjson.dumps(
        [
            {
                "event_id": f"sup-{agent}-{state}-{time.monotonic_ns()}",
                "type": "agent.state",
                "agent_id": agent,
                "state": state,
                "ts": now,
            }
            for agent, state in states.items()
        ]
    )
    resp = httpx.post(
        f"{base}/api/v1/events",
        content=body,
        timeout=10,
        headers={"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"},
    )
    assert resp.status_code == 202, resp.text
    assert resp.json()["accepted"] == len(states) and not resp.json()["rejected"], resp.text


def wait_for_agents(base: str, token: str, expected: dict[str, str], timeout_s: float) -> dict[str, str]:
    """Poll /api/v1/agents until every expected agent shows its expected state."""
    deadline = time.monotonic() + timeout_s
    shown: dict[str, str] = {}
    while time.monotonic() < deadline:
        try:
            resp = httpx.get(f"{base}/api/v1/agents", headers={"Authorization": f"Bearer {token}"}, timeout=5)
            if resp.status_code == 200:
                shown = {a["agent_id"]: a["state"] for a in resp.json() if a["agent_id"] in expected}
                if shown == expected:
                    return shown
        except httpx.HTTPError:
            pass  # the API is coming back
        time.sleep(0.5)
    raise AssertionError(f"after {timeout_s} s /api/v1/agents shows {shown}, expected {expected}")


def stop_and_check_no_orphans(proc: subprocess.Popen, out: Path) -> None:
    children = descendants(proc.pid)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0, out.read_text()
    assert "Traceback" not in out.read_text()
    time.sleep(0.5)
    assert not [pid for pid in children if alive(pid)], "orphan processes left"


def test_a_killed_worker_and_a_killed_api_come_back_and_nothing_is_lost(tmp_path: Path) -> None:
    proc, out = start_run(tmp_path, "--no-simulate")
    try:
        url = wait_for_url(proc, out)
        base, viewer_token = url.split("/?token=")
        admin_token_path = Path(re.search(r"^admin token: (\S+) \(0600\)$", out.read_text(), re.M).group(1))
        admin_token = admin_token_path.read_text().strip()
        broker_pid, worker_pid, api_pid = (printed_pid(out, c) for c in ("broker", "worker", "api"))

        before = {"sup-a1": "available", "sup-a2": "aux", "sup-a3": "wrap_up"}
        post_states(base, admin_token, before)
        wait_for_agents(base, viewer_token, before, 60)

        # the worker dies hard: it is started again; the broker and the API are left alone
        os.kill(worker_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        line = wait_for_text(
            proc,
            out,
            r"^worker exited with code -9 \(SIGKILL\) after (\d+\.\d) s; "
            r"restarting in 1 s \(restart 1\)",
            30,
        )
        assert float(line.group(1)) > 0
        new_worker_pid = int(wait_for_text(proc, out, r"^worker\s+restarted \(pid (\d+)\)", 30).group(1))
        assert new_worker_pid != worker_pid and alive(new_worker_pid)
        assert not alive(worker_pid)
        after = {**before, "sup-a4": "available", "sup-a2": "available"}
        post_states(base, admin_token, {"sup-a4": "available", "sup-a2": "available"})
        assert wait_for_agents(base, viewer_token, after, 90) == after  # new events flow, old ones kept
        print(f"worker SIGKILL -> a new event shown in /api/v1/agents: {time.monotonic() - killed_at:.1f} s")
        assert time.monotonic() - killed_at < 90
        assert alive(broker_pid) and printed_pid(out, "broker") == broker_pid
        assert alive(api_pid)

        # the API dies hard: it comes back on the same port; the printed link and tokens still work
        os.kill(api_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_for_text(
            proc,
            out,
            r"^api exited with code -9 \(SIGKILL\) after \d+\.\d s; "
            r"restarting in 1 s \(restart 1\)",
            30,
        )
        new_api_pid = int(wait_for_text(proc, out, r"^api\s+restarted \(pid (\d+)\)", 30).group(1))
        assert new_api_pid != api_pid
        assert wait_for_agents(base, viewer_token, after, 90) == after  # the view is rebuilt from the topics
        print(f"API SIGKILL -> /api/v1/agents answers in full again: {time.monotonic() - killed_at:.1f} s")
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower()
        post_states(base, admin_token, {"sup-a5": "on_contact"})  # the 0600 file's token still ingests
        wait_for_agents(base, viewer_token, {**after, "sup-a5": "on_contact"}, 60)
        assert alive(broker_pid) and alive(new_worker_pid)
        assert out.read_text().count("restarted (pid") == 2
    finally:
        if proc.poll() is None:
            stop_and_check_no_orphans(proc, out)
    assert "data is gone" not in out.read_text()


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def test_the_broker_wrapper_may_die_but_tansu_dying_ends_the_run_saying_the_data_is_gone(tmp_path: Path) -> None:
    proc, out = start_run(tmp_path, "--no-simulate")
    try:
        wait_for_url(proc, out)
        tansu_pid = printed_pid(out, "broker")
        assert "tansu" in " ".join(cmdline(tansu_pid)).lower()
        children = descendants(proc.pid)
        (wrapper_pid,) = (pid for pid in children if cmdline(pid)[1:4] == ["-m", "floorwatch.cli", "broker"])
        # the floorwatch broker wrapper holds no data: Tansu keeps serving and the run goes on
        os.kill(wrapper_pid, signal.SIGKILL)
        wait_for_text(
            proc,
            out,
            rf"^broker wrapper exited with code -9 \(SIGKILL\); Tansu \(pid {tansu_pid}\)"
            r" still holds the data",
            30,
        )
        time.sleep(2)
        assert proc.poll() is None and alive(tansu_pid)
        # Tansu holds everything in memory: its death is fatal
        os.kill(tansu_pid, signal.SIGKILL)
        code = proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.read_text()
    assert code == 1, text
    assert f"broker: Tansu (pid {tansu_pid}) is gone" in text
    assert "the embedded broker kept everything in memory, so the day's data is gone" in text
    run_dir = re.search(r"^logs\s+(\S+)$", text, re.M).group(1)
    assert f"The logs are in {run_dir}" in text
    assert "restarting in" not in text  # the others are stopped, not restarted
    assert "Traceback" not in text
    time.sleep(0.5)
    assert not [pid for pid in children if alive(pid)], "processes left running"
