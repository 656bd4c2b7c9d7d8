"""Real processes for integration tests: Tansu broker, Faust workers, the API."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

import httpx
import orjson
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from floorwatch.events import parse_event, route
from floorwatch.services.broker import create_topics, free_port, start_tansu, stop_process

ROOT = Path(__file__).resolve().parents[2]
ADMIN_TOKEN = "it-admin-secret"
VIEWER_TOKEN = "it-viewer-secret"
INGEST_TOKEN = "it-ingest-secret"
CUSTOMER_HASH_KEY = "it-customer-hash-key"  # the worker refuses to start without one


def sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def write_config(path: Path, **overrides: Any) -> Path:
    """The example config with test tokens, a customer hash key and any overrides."""
    data = yaml.safe_load((ROOT / "floorwatch.yaml").read_text())
    data["privacy"] = {"customer_hash_key": CUSTOMER_HASH_KEY}
    # small dict generations: the tests' few hundred contacts go through the contacts store's
    # packed runs, spills, merges and loads as a long-running worker's millions do
    data.setdefault("worker", {})["contacts_hot_keys"] = 100
    data["auth"] = {
        "tokens": [
            {"name": "admin", "sha256": sha(ADMIN_TOKEN), "roles": ["admin", "ingest"]},
            {"name": "viewer", "sha256": sha(VIEWER_TOKEN), "roles": ["viewer"]},
            {"name": "ingest", "sha256": sha(INGEST_TOKEN), "roles": ["ingest"]},
        ]
    }
    data.update(overrides)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class Proc:
    def __init__(self, name: str, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.log_path = log_path
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "floorwatch.cli", *args],
            env=env,
            cwd=ROOT,
            stdout=log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_log(self, needle: str, timeout_s: float, after: int = 0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if needle in self.log()[after:]:
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.log()[-3000:]}")
            time.sleep(0.1)
        raise TimeoutError(f"{self.name}: no {needle!r} after {timeout_s} s:\n{self.log()[-3000:]}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class Stack:
    """One broker plus the processes a test starts against it."""

    def __init__(self, tmp: Path, **config: Any) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.broker = start_tansu("127.0.0.1", self.port, tmp / "broker.log")
        asyncio.run(create_topics(self.bootstrap, 8))
        self.config = write_config(tmp / "floorwatch.yaml", **config)
        self.env = {**os.environ, "FLOORWATCH_CONFIG": str(self.config), "FLOORWATCH_KAFKA": self.bootstrap}
        self.procs: list[Proc] = []
        self.api_url: str | None = None

    def settings(self) -> Any:
        """The settings the processes of this stack run with."""
        from floorwatch.config import load_settings

        os.environ["FLOORWATCH_CONFIG"] = str(self.config)
        return load_settings()

    def worker(self, name: str = "worker", wait: bool = True) -> Proc:
        proc = Proc(
            name,
            ["worker", "--data-dir", str(self.tmp / name), "--loglevel", "info"],
            self.env,
            self.tmp / f"{name}.log",
        )
        self.procs.append(proc)
        if wait:
            proc.wait_log("rebuilt aggregates", 90)
        return proc

    def api(self) -> Proc:
        port = free_port()
        env = {**self.env, "FLOORWATCH_API_PORT": str(port)}
        proc = Proc("api", ["api", "--loglevel", "warning"], env, self.tmp / "api.log")
        self.procs.append(proc)
        self.api_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.api_url}/healthz", timeout=1).status_code == 200:
                    return proc
            except httpx.HTTPError:
                time.sleep(0.2)
        raise TimeoutError(f"API did not start:\n{proc.log()[-3000:]}")

    def get(self, path: str, token: str = VIEWER_TOKEN, **params: Any) -> Any:
        resp = httpx.get(
            f"{self.api_url}{path}", params=params, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        resp.raise_for_status()
        return resp.json()

    def close(self) -> None:
        for proc in reversed(self.procs):
            proc.kill(signal.SIGTERM if proc.name == "api" else signal.SIGKILL)
        stop_process(self.broker)


async def produce(bootstrap: str, events: Iterable[dict[str, Any]], raw: Iterable[tuple[str, bytes]] = ()) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    n = 0
    try:
        for event in events:
            topic, key = route(parse_event(event))
            await producer.send(topic, orjson.dumps(event), key=key.encode())
            n += 1
        for topic, value in raw:
            await producer.send(topic, value, key=b"raw")
        await producer.flush()
    finally:
        await producer.stop()
    return n


async def read_topic(bootstrap: str, topic: str, idle_s: float = 1.0) -> list[tuple[bytes | None, bytes | None]]:
    """Every record of a topic from the beginning (stops after ``idle_s`` without data)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    out: list[tuple[bytes | None, bytes | None]] = []
    try:
        last = time.monotonic()
        while time.monotonic() - last < idle_s:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for r in records:
                    out.append((r.key, r.value))
                    last = time.monotonic()
    finally:
        await consumer.stop()
    return out


def wait_until(check: Any, timeout_s: float, what: str, interval_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval_s)
    raise TimeoutError(f"timed out waiting for {what}; last: {last!r}")


def midday_zone(now_s: float) -> str:
    """A zone where it is 10:00-16:00 now: a test's last minutes lie in one local day."""
    for name in sorted(available_timezones()):
        regions = ("Asia/", "Europe/", "America/", "Africa/", "Australia/", "Pacific/")
        if name.startswith(regions) and 10 <= datetime.fromtimestamp(now_s, ZoneInfo(name)).hour < 16:
            return name
    raise AssertionError("no zone at midday")  # pragma: no cover - 24 h of zones exist
