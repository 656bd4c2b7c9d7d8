"""``floorwatch worker`` starts anywhere and creates topics only where it should.

The data directory: created with its parents, held with a real ``fcntl.flock`` (two open file
descriptions of one lock file conflict even inside one process, so a second "worker" here is a
second ``try_lock``); the default one moves to ``-2``, ``-3`` ... while taken; an explicit one
that is taken is a one-line exit 2 naming the holder's pid. Topics: which hosts count as the
embedded broker, the list of topics a worker needs, and the wait when it may create none.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from floorwatch import cli, topics
from floorwatch.config import KafkaConfig
from floorwatch.services import broker
from floorwatch.worker_dir import (
    LOCK_FILE,
    DataDirBusy,
    DataDirError,
    default_candidates,
    lock_data_dir,
    parse_holder_pid,
    try_lock,
)

KEY = "k" * 32


# --- data directory ----------------------------------------------------------------------------


def test_default_candidates_number_from_two_after_the_base() -> None:
    assert default_candidates("data/worker", 3) == [Path("data/worker"), Path("data/worker-2"), Path("data/worker-3")]
    assert default_candidates("/srv/fw/w", 1) == [Path("/srv/fw/w")]


@pytest.mark.parametrize(
    ("text", "pid"),
    [
        (b"4242\n", 4242),
        (b"  17 ", 17),
        (b"", None),
        (b"x1", None),
        (b"0\n", None),
        (b"-3\n", None),
        (b"\xff\xfe", None),
    ],
)
def test_parse_holder_pid(text: bytes, pid: int | None) -> None:
    assert parse_holder_pid(text) == pid


def test_try_lock_creates_parents_and_writes_the_pid(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "worker"
    held = try_lock(target)
    assert held is not None
    try:
        assert target.is_dir() and held.path == target
        assert (target / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    finally:
        held.release()


def test_a_held_directory_is_refused_and_free_again_once_released(tmp_path: Path) -> None:
    first = try_lock(tmp_path / "w")
    assert first is not None
    assert try_lock(tmp_path / "w") is None  # a second open of the lock file: the flock conflicts
    first.release()  # what the kernel does for a SIGKILLed process: its descriptors close
    again = try_lock(tmp_path / "w")
    assert again is not None
    again.release()


def test_a_stale_pid_in_an_unlocked_file_does_not_block(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / LOCK_FILE).write_text("999999\n")  # left by a killed worker
    held = lock_data_dir(tmp_path / "w", explicit=True)
    assert (tmp_path / "w" / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    held.release()


def test_explicit_directory_taken_names_the_holder(tmp_path: Path) -> None:
    holder = try_lock(tmp_path / "w")
    assert holder is not None
    try:
        with pytest.raises(DataDirBusy) as caught:
            lock_data_dir(tmp_path / "w", explicit=True)
        assert caught.value.holder_pid == os.getpid() and caught.value.path == tmp_path / "w"
        message = str(caught.value)
        assert "\n" not in message and str(tmp_path / "w") in message and f"pid {os.getpid()}" in message
    finally:
        holder.release()


def test_default_directory_taken_moves_to_the_next_free_one(tmp_path: Path) -> None:
    base = tmp_path / "data" / "worker"
    held = [lock_data_dir(base, explicit=False, max_default=3) for _ in range(3)]
    try:
        assert [h.path for h in held] == [base, tmp_path / "data" / "worker-2", tmp_path / "data" / "worker-3"]
        with pytest.raises(DataDirError, match="all 3 default data directories"):
            lock_data_dir(base, explicit=False, max_default=3)
        held[1].release()  # the second worker ends: its directory is the first free one again
        again = lock_data_dir(base, explicit=False, max_default=3)
        assert again.path == tmp_path / "data" / "worker-2"
        again.release()
    finally:
        for h in held:
            h.release()


def test_a_file_where_the_directory_should_be_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "w").write_text("not a directory")
    with pytest.raises(DataDirError, match="cannot create data directory"):
        lock_data_dir(tmp_path / "w", explicit=True)


# --- the worker command ------------------------------------------------------------------------


def fake_worker(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run ``cli.main(["worker", ...])`` without Kafka or Faust; record what it did."""
    import floorwatch.streams.app as streams_app

    seen: dict[str, Any] = {"calls": []}

    class FakeFaustApp:
        def main(self) -> None:
            seen["calls"].append("main")

    async def fake_create(bootstrap: str, partitions: int, **kwargs: Any) -> None:
        seen["calls"].append(("create", kwargs["replication_factor"]))

    async def fake_wait(bootstrap: str, names: list[str], report: Any, **kwargs: Any) -> int:
        seen["calls"].append(("wait", len(names)))
        return 0

    def fake_create_app(settings: Any) -> FakeFaustApp:
        seen["datadir"] = settings.worker.datadir
        seen["lock_text"] = (Path(settings.worker.datadir) / LOCK_FILE).read_text()
        return FakeFaustApp()

    monkeypatch.setenv("FLOORWATCH_PRIVACY__CUSTOMER_HASH_KEY", KEY)
    monkeypatch.setattr(broker, "create_topics", fake_create)
    monkeypatch.setattr(broker, "wait_for_topics", fake_wait)
    monkeypatch.setattr(streams_app, "create_app", fake_create_app)
    monkeypatch.setattr(cli, "use_event_loop", lambda name: None)
    monkeypatch.setattr(cli, "start_gc_policy", lambda gc: None)
    monkeypatch.setattr("sys.argv", ["floorwatch"])
    return seen


@pytest.mark.usefixtures("isolated_config")
def test_worker_in_an_empty_directory_creates_data_worker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen = fake_worker(monkeypatch)
    assert cli.main(["worker"]) == 0
    assert seen["datadir"] == str(tmp_path / "data" / "worker")
    assert seen["lock_text"] == f"{os.getpid()}\n"
    # default bootstrap 127.0.0.1:9092 is the embedded broker: topics created with 1 replica
    assert seen["calls"] == [("create", 1), "main"]
    assert try_lock(tmp_path / "data" / "worker") is not None  # released when the worker returned


@pytest.mark.usefixtures("isolated_config")
def test_second_default_worker_takes_worker_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen = fake_worker(monkeypatch)
    first = try_lock(tmp_path / "data" / "worker")  # a running worker holds the default
    assert first is not None
    try:
        assert cli.main(["worker"]) == 0
        assert seen["datadir"] == str(tmp_path / "data" / "worker-2")
    finally:
        first.release()


@pytest.mark.usefixtures("isolated_config")
@pytest.mark.parametrize("how", ["flag", "env"])
def test_explicit_directory_held_exits_2_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    seen = fake_worker(monkeypatch)
    target = tmp_path / "shared"
    holder = try_lock(target)
    assert holder is not None
    try:
        if how == "env":
            monkeypatch.setenv("FLOORWATCH_WORKER__DATADIR", str(target))
            argv = ["worker"]
        else:
            argv = ["worker", "--data-dir", str(target)]
        assert cli.main(argv) == 2
    finally:
        holder.release()
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"floorwatch worker: data directory {target} is in use by another worker (pid {os.getpid()}")
    assert seen["calls"] == []  # neither topics nor Faust


@pytest.mark.usefixtures("isolated_config")
def test_worker_on_a_cluster_waits_for_topics_instead_of_creating(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = fake_worker(monkeypatch)
    monkeypatch.setenv("FLOORWATCH_KAFKA", "kafka-0.kafka.svc:9092,kafka-1.kafka.svc:9092")
    assert cli.main(["worker"]) == 0
    # inputs, internal and output topics, 5 table changelogs and the leader topic
    n = len(topics.INPUTS) + len(topics.INTERNAL) + len(topics.OUTPUTS) + 5 + 1
    assert seen["calls"] == [("wait", n), "main"]


@pytest.mark.usefixtures("isolated_config")
def test_create_topics_true_creates_with_the_replication_factor(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = fake_worker(monkeypatch)
    monkeypatch.setenv("FLOORWATCH_KAFKA", "kafka:9092")
    monkeypatch.setenv("FLOORWATCH_KAFKA__CREATE_TOPICS", "true")
    monkeypatch.setenv("FLOORWATCH_KAFKA__REPLICATION_FACTOR", "3")
    assert cli.main(["worker"]) == 0
    assert seen["calls"] == [("create", 3), "main"]


# --- which broker is "the embedded one" ----------------------------------------------------------


@pytest.mark.parametrize(
    ("bootstrap", "creates"),
    [
        ("127.0.0.1:9092", True),
        ("localhost:9092", True),
        ("127.0.0.2:19092", True),
        ("[::1]:9092", True),
        ("::1", True),
        ("127.0.0.1:9092, localhost:9093", True),
        ("127.0.0.1:9092,kafka:9092", False),  # one remote broker: a cluster
        ("kafka-bootstrap.kafka.svc:9092", False),
        ("10.0.0.5:9092", False),
        ("kafka", False),
        ("[2001:db8::1]:9092", False),
        ("", False),
    ],
)
def test_create_topics_default_is_true_only_for_loopback(bootstrap: str, creates: bool) -> None:
    assert KafkaConfig(bootstrap=bootstrap).creates_topics is creates


def test_explicit_create_topics_wins_over_the_address() -> None:
    assert KafkaConfig(bootstrap="127.0.0.1:9092", create_topics=False).creates_topics is False
    assert KafkaConfig(bootstrap="kafka:9092", create_topics=True).creates_topics is True


# --- the topics a worker needs ---------------------------------------------------------------------


def test_worker_topics_partitions_and_cleanup() -> None:
    wanted = broker.worker_topics(partitions=8, output_partitions=2)
    assert len(wanted) == len(topics.INPUTS) + len(topics.INTERNAL) + len(topics.OUTPUTS) + 5 + 1
    assert wanted[topics.CONTACT_EVENTS] == (8, {})
    assert wanted[topics.CUSTOMER_CONTACTS] == (8, {})
    assert wanted[topics.QUEUE_STATS] == (2, {"cleanup.policy": "compact"})
    assert wanted[topics.DEAD_LETTERS] == (2, {})
    assert wanted["floorwatch-agent-days-changelog"] == (8, {"cleanup.policy": "compact"})
    assert wanted["floorwatch-__assignor-__leader"] == (1, {})


def test_worker_topics_name_the_faust_apps_own_topics(monkeypatch: pytest.MonkeyPatch) -> None:
    """The changelog and leader names equal those the real Faust app declares (built, not started)."""
    from floorwatch.config import Settings
    from floorwatch.streams.app import create_app

    settings = Settings(privacy={"customer_hash_key": KEY}, kafka={"bootstrap": "kafka:9092", "replication_factor": 3})
    app = create_app(settings)
    changelogs = {
        t.changelog_topic.get_topic_name(): (t.changelog_topic.partitions, t.changelog_topic.compacting)
        for t in app.tables.values()
    }
    assert changelogs == {name: (8, True) for name in broker.CHANGELOGS}
    leader = app._leader_assignor._leader_topic
    assert (leader.get_topic_name(), leader.partitions) == (broker.LEADER_TOPIC, 1)
    # on a cluster Faust declares nothing, and would declare with the configured replicas
    assert app.conf.topic_allow_declare is False and app.conf.topic_replication_factor == 3


# --- waiting for topics ----------------------------------------------------------------------------


def test_wait_for_topics_reports_the_missing_ones_every_5_s() -> None:
    answers = [["fw.a", "fw.b"], ["fw.b"], ["fw.b"], ["fw.b"], ["fw.b"], ["fw.b"], ["fw.b"], []]
    now = {"s": 0.0}
    lines: list[str] = []
    asked: list[float] = []

    async def missing(bootstrap: str, names: Any) -> list[str]:
        asked.append(now["s"])
        return answers[len(asked) - 1]

    async def sleep(s: float) -> None:
        now["s"] += s

    reported = asyncio.run(
        broker.wait_for_topics(
            "kafka:9092",
            ["fw.a", "fw.b", "fw.c"],
            lines.append,
            poll_s=1.0,
            report_every_s=5.0,
            missing=missing,
            clock=lambda: now["s"],
            sleep=sleep,
        )
    )
    assert asked == [0, 1, 2, 3, 4, 5, 6, 7]
    # lines at t=0 and t=5; at t=7 nothing is missing
    assert reported == 2 and len(lines) == 2
    assert lines[0].endswith("missing 2 of 3 topics: fw.a, fw.b")
    assert lines[1].endswith("missing 1 of 3 topics: fw.b")
    assert all("\n" not in line and "kafka.create_topics" in line for line in lines)


def test_wait_for_topics_reports_an_unreachable_broker_and_keeps_waiting() -> None:
    answers: list[Any] = [KafkaConnectionError(), []]
    lines: list[str] = []

    async def missing(bootstrap: str, names: Any) -> list[str]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def sleep(s: float) -> None:
        return None

    assert (
        asyncio.run(
            broker.wait_for_topics(
                "kafka:9092", ["fw.a"], lines.append, missing=missing, clock=lambda: 0.0, sleep=sleep
            )
        )
        == 1
    )
    assert lines[0].endswith("Kafka at kafka:9092 not reachable (KafkaConnectionError)")
