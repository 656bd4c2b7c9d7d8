"""``replay-queue-log --follow``: bursts, partial lines, both kinds of rotation, SIGKILL and restart.

The follower is a real process (``python -m floorwatch.services.queue_log``) writing NDJSON; the test is
the log writer and logrotate. Every line must give its events exactly once: the multiset of
event ids in the output equals the ids of a straight replay of all lines, each once.

The test waits for the follower where a real deployment's timing would be on its side, so
that a loaded machine (a slow start, a lagging follower) does not make it fail:
- a follower started without a state file begins at the file the path names when it opens
  it, so it must have opened the log before the first rotation (under load its start-up
  took longer than the writes up to the first rename, and the renamed lines were never read);
- a live copy-truncate is only safe for a follower at the end of the file: one still behind
  when the file is cut and refilled past its position would read the new bytes from there.
  It waits for the follower to catch up before cutting, and for it to have found the copy
  before refilling;
- a follower down across two rotations (renamed, then copy-truncated) reads the rest of its
  own file and then the current one, not the generation in between; so before each planned
  kill it waits for the follower to have caught up (it slept 0.3 s, and under load a
  restarted follower had not read a line by then).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from floorwatch.domain.queue_log import Mapper, line_digest, parse_line

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CATCH_UP_S = 30.0  # a follower on a loaded machine: start-up and a backlog
# the follower checks line times against the wall clock (at most retention_days old), so the
# log starts an hour ago, on a whole minute
T0 = int(time.time()) // 60 * 60 - 3600


def workload(calls: int) -> list[bytes]:
    """A plausible log: agents join, calls enter/connect/complete or abandon; one line per second."""
    rng = random.Random(8)
    lines = []
    t = T0
    for a in range(1, 6):
        lines.append(f"{t}|MANAGER|sales|SIP/10{a:02d}|ADDMEMBER|")
        t += 1
    for c in range(calls):
        cid = f"{T0}.{c}"
        lines.append(f"{t}|{cid}|sales|NONE|ENTERQUEUE||1380000{c:04d}|1")
        t += 1
        if rng.random() < 0.2:
            lines.append(f"{t}|{cid}|sales|NONE|ABANDON|1|1|1")
            t += 1
            continue
        agent = f"SIP/10{rng.randint(1, 5):02d}"
        lines.append(f"{t}|{cid}|sales|{agent}|CONNECT|1|{cid}9|1")
        t += 1
        if rng.random() < 0.1:
            lines.append(f"{t}|NONE|sales|{agent}|PAUSE|Break")
            t += 1
        lines.append(f"{t}|{cid}|sales|{agent}|COMPLETECALLER|1|1|1")
        t += 1
        if rng.random() < 0.1:
            lines.append(f"{t}|NONE|sales|{agent}|UNPAUSE|")
            t += 1
    return [line.encode() + b"\n" for line in lines]


def expected_ids(lines: list[bytes]) -> list[str]:
    mapper = Mapper(ZoneInfo("Asia/Shanghai"))
    ids = []
    for raw in lines:  # every epoch is distinct: the per-second sequence is always 0
        ids += [e["event_id"] for e in mapper.feed(parse_line(raw.decode()), 0, line_digest(raw))]
    return ids


class Follower:
    def __init__(self, tmp: Path, log: Path) -> None:
        self.tmp = tmp
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        env = {**os.environ, "FLOORWATCH_CONFIG": str(ROOT / "floorwatch.yaml")}
        err = (self.tmp / f"follower-{self.starts}.err").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "floorwatch.services.queue_log",
                str(self.log),
                "--follow",
                "--poll",
                "0.05",
                "--state",
                str(self.tmp / "state.json"),
                "--out",
                str(self.tmp / "out.ndjson"),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stderr(self) -> str:
        return "\n".join((self.tmp / f"follower-{i}.err").read_text() for i in range(1, self.starts + 1))

    def copies_found(self) -> int:
        """How often the follower switched to a rotated copy to read the rest of its file."""
        return self.stderr().count("queue_log: reading the rest of ")


def wait_until(done: Callable[[], bool], what: str, follower: Follower) -> None:
    deadline = time.monotonic() + CATCH_UP_S
    while not done():
        if time.monotonic() > deadline:
            alive = follower.proc is not None and follower.proc.poll() is None
            raise AssertionError(
                f"no {what} after {CATCH_UP_S:.0f} s ({len(out_ids(follower.tmp))} events out, "
                f"follower {'running' if alive else 'dead'})\n{follower.stderr()[-3000:]}"
            )
        time.sleep(0.05)


def out_ids(tmp: Path) -> list[str]:
    path = tmp / "out.ndjson"
    if not path.exists():
        return []
    ids = []
    for line in path.read_bytes().splitlines():
        ids.append(orjson.loads(line)["event_id"])
    return ids


def test_follow_rotations_and_sigkill_process_every_line_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(3)
    lines = workload(140)
    want = expected_ids(lines)
    ids_through = [len(expected_ids(lines[:k])) for k in range(len(lines) + 1)]  # events of lines[:k]
    data = b"".join(lines)
    log = tmp_path / "queue_log"
    writer = log.open("ab")  # O_APPEND, like Asterisk's fopen(..., "a")
    pos = 0

    def burst(upto_line: int, pause: float = 0.02) -> None:
        """Write up to the end of line ``upto_line`` in random-sized bursts, cutting lines in two."""
        nonlocal pos
        end = sum(len(x) for x in lines[:upto_line])
        while pos < end:
            n = min(end - pos, rng.randint(1, 400))
            writer.write(data[pos : pos + n])
            writer.flush()
            pos += n
            time.sleep(rng.random() * pause)

    def rename_rotation(extra_old_lines: int) -> None:
        """logrotate 'create': rename, new file; the writer appends a little more to the old one first."""
        nonlocal writer
        if (tmp_path / "queue_log.1").exists():
            os.replace(tmp_path / "queue_log.1", tmp_path / "queue_log.2")
        os.rename(log, tmp_path / "queue_log.1")
        burst(line_index() + extra_old_lines)
        writer.close()
        writer = log.open("ab")  # Asterisk reopens on 'logger reload'

    def copytruncate_rotation() -> None:
        """logrotate 'copytruncate' (the writer keeps its O_APPEND descriptor)."""
        if (tmp_path / "queue_log.1").exists():
            os.replace(tmp_path / "queue_log.1", tmp_path / "queue_log.2")
        shutil.copyfile(log, tmp_path / "queue_log.1")
        os.truncate(log, 0)

    def line_index() -> int:
        return data[:pos].count(b"\n")

    def wait_caught_up(what: str) -> None:
        """Until the follower has given the events of every complete line written so far."""
        written = ids_through[line_index()]
        wait_until(lambda: len(out_ids(tmp_path)) >= written, what, follower)

    follower = Follower(tmp_path, log)
    follower.start()
    n = len(lines)
    try:
        burst(n // 10)
        writer.write(data[pos : pos + 17])  # a partial line: must wait, not be parsed
        writer.flush()
        pos += 17
        time.sleep(0.5)
        burst(2 * n // 10)
        wait_caught_up("first events before the first rotation")
        rename_rotation(extra_old_lines=5)  # live rename
        burst(3 * n // 10)
        follower.kill()  # SIGKILL mid-stream
        burst(35 * n // 100)
        follower.start()
        burst(45 * n // 100)
        wait_caught_up("catch-up before the copy-truncate")
        copies = follower.copies_found()
        copytruncate_rotation()  # live copy-truncate
        wait_until(lambda: follower.copies_found() > copies, "switch to the copy", follower)
        burst(55 * n // 100)
        wait_caught_up("catch-up before the kill at 55 %")
        follower.kill()
        burst(60 * n // 100)
        rename_rotation(extra_old_lines=3)  # renamed while the follower is down
        burst(65 * n // 100)
        follower.start()
        burst(75 * n // 100)
        wait_caught_up("catch-up before the kill at 75 %")
        follower.kill()
        burst(80 * n // 100)
        copytruncate_rotation()  # copy-truncated while down
        burst(85 * n // 100)
        follower.start()
        for _ in range(3):  # kills at random moments of a busy stream
            burst(line_index() + n // 30, pause=0.005)
            follower.kill()
            follower.start()
        burst(n)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(out_ids(tmp_path)) < len(want):
            time.sleep(0.1)
        time.sleep(0.5)  # anything extra would show up now
    finally:
        writer.close()
        if follower.proc is not None and follower.proc.poll() is None:
            follower.kill()
    got = out_ids(tmp_path)
    dupes = [i for i, c in Counter(got).items() if c > 1]
    assert not dupes, f"{len(dupes)} duplicated events, e.g. {dupes[:3]}\n{follower.stderr()[-3000:]}"
    missing = set(want) - set(got)
    assert not missing, f"{len(missing)} missing events, e.g. {sorted(missing)[:3]}\n{follower.stderr()[-3000:]}"
    assert Counter(got) == Counter(want)
    assert got == want  # and in the order of the lines
    err = follower.stderr()
    assert "dead letters" not in err or " 0 dead letters" in err  # no partial line was parsed as bad


def test_follow_waits_for_the_file_and_a_partial_line(tmp_path: Path) -> None:
    log = tmp_path / "queue_log"
    follower = Follower(tmp_path, log)
    follower.start()
    try:
        time.sleep(0.5)  # no file yet: waits
        with log.open("ab") as fh:
            fh.write(f"{T0}|c1|sales|NONE|ENTERQUEUE||1|1\n{T0 + 5}|c1|sales|NONE|ABAN".encode())
        deadline = time.monotonic() + CATCH_UP_S
        while time.monotonic() < deadline and len(out_ids(tmp_path)) < 1:
            time.sleep(0.05)
        time.sleep(0.5)
        assert len(out_ids(tmp_path)) == 1  # the partial ABANDON waits
        with log.open("ab") as fh:
            fh.write(b"DON|1|1|5\n")
        deadline = time.monotonic() + CATCH_UP_S
        while time.monotonic() < deadline and len(out_ids(tmp_path)) < 2:
            time.sleep(0.05)
        events = [orjson.loads(x) for x in (tmp_path / "out.ndjson").read_bytes().splitlines()]
        assert [e["type"] for e in events] == ["contact.offered", "contact.abandoned"]

        def saved_cursor() -> dict:  # the state is written after the events are out
            path = tmp_path / "state.json"
            return orjson.loads(path.read_bytes())["cursor"] if path.exists() else {}

        deadline = time.monotonic() + CATCH_UP_S
        while time.monotonic() < deadline and saved_cursor().get("line_no") != 2:
            time.sleep(0.05)
    finally:
        follower.kill()
    state = orjson.loads((tmp_path / "state.json").read_bytes())
    assert state["cursor"]["offset"] == log.stat().st_size and state["cursor"]["line_no"] == 2
