"""Real ``floorwatch worker`` processes: started from an empty directory without --data-dir they
take data/worker and data/worker-2 and share the partitions; a worker given the directory a
live one holds exits 2 with one line; a worker that may not create topics waits for them."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from floorwatch.services.broker import (
    create_topics,
    free_port,
    missing_topics,
    start_tansu,
    stop_process,
    worker_topics,
)
from tests.integration.harness import Proc, Stack, wait_until, write_config


class CwdProc(Proc):
    """``floorwatch worker`` run in ``cwd`` (harness.Proc runs in the repository root)."""

    def __init__(self, name: str, cwd: Path, env: dict[str, str], log_dir: Path, *extra: str) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "floorwatch.cli", "worker", "--loglevel", "info", *extra],
            env=env,
            cwd=cwd,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def owned(log: str) -> list[int]:
    """The partitions of fw.contact-events the worker built aggregates for, last time it did."""
    found = re.findall(r"rebuilt aggregates of partitions \[([0-9, ]*)\]", log)
    return [int(p) for p in found[-1].split(",")] if found and found[-1] else []


def test_two_workers_from_an_empty_directory_and_a_clash(stack: Stack) -> None:
    fresh = stack.tmp / "fresh"
    fresh.mkdir()
    a = CwdProc("worker-a", fresh, stack.env, stack.tmp)
    stack.procs.append(a)
    a.wait_log("rebuilt aggregates", 90)
    b = CwdProc("worker-b", fresh, stack.env, stack.tmp)
    stack.procs.append(b)
    b.wait_log("rebuilt aggregates", 90)

    # each restarted itself once onto the C allocator (worker.object_allocator), keeping its pid
    assert f"data directory {fresh / 'data' / 'worker'} (pid {a.proc.pid}, Python objects on malloc)" in a.log()
    assert f"data directory {fresh / 'data' / 'worker-2'} (pid {b.proc.pid}, Python objects on malloc)" in b.log()
    assert (fresh / "data" / "worker" / "worker.lock").read_text() == f"{a.proc.pid}\n"
    assert (fresh / "data" / "worker-2" / "worker.lock").read_text() == f"{b.proc.pid}\n"
    # after the rebalance each owns a share and together they own every partition once
    wait_until(
        lambda: owned(a.log()) and owned(b.log()) and sorted(owned(a.log()) + owned(b.log())) == list(range(8)),
        30,
        "A and B sharing the 8 partitions",
    )

    # a third worker given A's directory: one line naming it and A's pid, exit 2
    clash = subprocess.run(
        [sys.executable, "-m", "floorwatch.cli", "worker", "--data-dir", str(fresh / "data" / "worker")],
        env=stack.env,
        cwd=fresh,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert clash.returncode == 2, clash.stderr
    assert clash.stderr.count("\n") == 1, clash.stderr
    assert clash.stderr.startswith(
        f"floorwatch worker: data directory {fresh / 'data' / 'worker'} is in use by another worker (pid {a.proc.pid}"
    ), clash.stderr
    assert a.proc.poll() is None and b.proc.poll() is None

    # A is SIGKILLed: its directory is free at once, and a worker given it starts
    a.kill()
    c = CwdProc("worker-c", fresh, stack.env, stack.tmp, "--data-dir", str(fresh / "data" / "worker"))
    stack.procs.append(c)
    c.wait_log(f"data directory {fresh / 'data' / 'worker'} (pid {c.proc.pid}, ", 30)
    assert c.proc.poll() is None


def test_a_worker_that_may_not_create_topics_waits_for_them(tmp_path: Path) -> None:
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = start_tansu("127.0.0.1", port, tmp_path / "broker.log")
    worker: Proc | None = None
    try:
        config = write_config(tmp_path / "floorwatch.yaml")
        env = {
            **os.environ,
            "FLOORWATCH_CONFIG": str(config),
            "FLOORWATCH_KAFKA": bootstrap,
            "FLOORWATCH_KAFKA__CREATE_TOPICS": "false",
        }
        worker = CwdProc("worker", tmp_path, env, tmp_path)
        worker.wait_log("waiting for topics, creating none", 60)
        wanted = list(worker_topics(8))
        assert f"missing {len(wanted)} of {len(wanted)} topics: {', '.join(wanted)}" in worker.log()
        # five more seconds: still waiting, nothing created behind our back
        wait_until(lambda: worker.log().count("waiting for topics") >= 2, 15, "a second waiting line")
        assert asyncio.run(missing_topics(bootstrap, wanted)) == wanted
        assert "rebuilt aggregates" not in worker.log()

        asyncio.run(create_topics(bootstrap, 8))  # what the topics Job does on a cluster
        worker.wait_log("rebuilt aggregates of partitions [0, 1, 2, 3, 4, 5, 6, 7]", 90)
        assert worker.proc.poll() is None
    finally:
        if worker is not None:
            worker.kill()
        stop_process(broker)
