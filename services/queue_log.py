"""``floorwatch replay-queue-log FILE``: replay (or ``--follow``) an Asterisk ``queue_log``.

Lines are parsed and mapped by ``floorwatch.domain.queue_log``; events go to Kafka (topic and
key from ``route``, value ``dumps``) or, with ``--out``, to an NDJSON file. Unusable lines go
to ``fw.dead-letters`` (``--dead-letters FILE`` with ``--out``) with file and line number.

Every line is checked against the event contract with the ``ingest`` limits and the wall clock
(``floorwatch.events``): a line whose time is implausible (e.g. epoch 99999999999, the year
5138) is a dead letter (``implausible_time``) before it reaches the mapper, so it moves neither
the newest time seen (later real lines would be out of order) nor any state; every event of a
line is validated with ``parse_event`` before it is written or produced. No line stops the
connector: an exception while converting one is a dead letter (``processing_error``).

Position and exactly-once (docs/connectors.md): after every flushed batch the follower writes
its state file atomically (temp file, fsync, rename, fsync of the directory): device, inode,
byte offset and line number in the current file, sha1 and length of the last line read, the
mapper state (open calls, agents) and, with ``--out``, the size of the output file. On start
it checks the last line's hash at the stored offset, so a restart resumes exactly after the
last flushed line. With ``--out`` the output file is cut back to the stored size, so a kill
between writing and saving the state duplicates nothing; with Kafka the batch is re-sent with
the same event ids, which the worker ignores.

Rotation: a rename (``create`` in logrotate) is seen as a new inode at the path: the old file
is read to its end, then the new one from its start. A copy-truncate is seen as the file
shrinking (or the last line's hash no longer matching): the rest of the copy, found next to the
file by the hash of the last line read, is read first, then the truncated file from its start.
The same two checks run at start-up, so a rotation while the follower was down is handled too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson
import yaml

from floorwatch import topics
from floorwatch.cliargs import NON_NEGATIVE_INT, POSITIVE, run_until_signalled
from floorwatch.config import Settings
from floorwatch.domain.queue_log import (
    DEFAULT_TEAM,
    LineError,
    Mapper,
    check_line_time,
    line_digest,
    parse_line,
)
from floorwatch.events import BaseEvent, EventError, EventLimits, dumps, parse_event, route
from floorwatch.kafka import start_producer

__all__ = ["Follower", "add_arguments", "main", "run"]

log = logging.getLogger("floorwatch.queue_log")

STATE_VERSION = 1
READ_CHUNK = 1 << 20
MAX_BATCH_LINES = 5000
RAW_MAX = 4096
ERROR_MAX = 1000  # characters of an exception's text kept in a dead letter
KAFKA_CONNECT_TIMEOUT_S = 30.0
DEFAULT_STATE_DIR = Path("data") / "queue-log"
ROTATE_GRACE_S = 5.0
COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip")


# ---- options ------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``floorwatch replay-queue-log`` options."""
    add = parser.add_argument
    add("file", metavar="FILE", help="the queue_log file, e.g. /var/log/asterisk/queue_log")
    add("--follow", action="store_true", help="keep reading lines appended to FILE (survives log rotation)")
    add(
        "--speed",
        type=POSITIVE,
        default=None,
        help="pace by the line timestamps: 1 real time, 60 a minute per second (default: as fast as possible)",
    )
    add(
        "--state",
        default=None,
        metavar="FILE",
        help="position/state file (default with --follow: data/queue-log/<name>-<hash>.state.json; "
        "without --follow: none, the whole file is replayed)",
    )
    add("--out", default=None, metavar="FILE", help='NDJSON events to FILE ("-" = stdout) instead of Kafka')
    add(
        "--dead-letters",
        default=None,
        metavar="FILE",
        help="with --out: NDJSON dead letters to FILE (with Kafka they go to fw.dead-letters)",
    )
    add("--kafka", default=None, metavar="BOOTSTRAP", help="bootstrap servers (default: kafka.bootstrap)")
    add("--team", default=DEFAULT_TEAM, help=f"team of the agents in agent.profile (default: {DEFAULT_TEAM})")
    add(
        "--agent-map",
        default=None,
        metavar="FILE",
        help="YAML/JSON: agent column (interface or member name) -> agent_id or {agent_id, name, team}",
    )
    add(
        "--max-backwards",
        type=NON_NEGATIVE_INT,
        default=1,
        metavar="S",
        help="a line may be this many seconds older than the newest line so far (default 1); "
        "older lines are dead letters (out_of_order)",
    )
    add("--poll", type=POSITIVE, default=0.2, metavar="S", help="--follow: seconds between file checks")


@dataclass
class Options:
    file: Path
    follow: bool = False
    speed: float | None = None
    state: Path | None = None
    out: str | None = None
    dead_letters: str | None = None
    bootstrap: str = "127.0.0.1:9092"
    team: str = DEFAULT_TEAM
    agent_map: dict[str, dict[str, str]] = field(default_factory=dict)
    max_backwards: int = 1
    poll: float = 0.2


def default_state_path(file: Path) -> Path:
    digest = hashlib.sha1(str(file.resolve()).encode()).hexdigest()[:8]
    return DEFAULT_STATE_DIR / f"{file.name}-{digest}.state.json"


def load_agent_map(path: str) -> dict[str, dict[str, str]]:
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise ValueError(f"--agent-map {path}: a mapping of agent column -> agent id expected")
    out: dict[str, dict[str, str]] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out[str(key)] = {k: str(v) for k, v in value.items() if v is not None}
        else:
            out[str(key)] = {"agent_id": str(value)}
    return out


def resolve(settings: Settings, args: argparse.Namespace) -> Options:
    def arg(name: str, default: Any = None) -> Any:
        value = getattr(args, name, None)
        return default if value is None else value

    file = Path(args.file)
    follow = bool(arg("follow", False))
    state = arg("state")
    if state is None and follow:
        state_path: Path | None = default_state_path(file)
    else:
        state_path = None if state is None else Path(state)
    agent_map_path = arg("agent_map")
    return Options(
        file=file,
        follow=follow,
        speed=arg("speed"),
        state=state_path,
        out=arg("out"),
        dead_letters=arg("dead_letters"),
        bootstrap=arg("kafka", settings.kafka.bootstrap),
        team=arg("team", DEFAULT_TEAM),
        agent_map=load_agent_map(agent_map_path) if agent_map_path else {},
        max_backwards=int(arg("max_backwards", 1)),
        poll=float(arg("poll", 0.2)),
    )


# ---- reading: cursor, rotation ------------------------------------------------------------------


@dataclass
class Cursor:
    """Where the next unread line of the current file starts."""

    path: str = ""
    dev: int = 0
    ino: int = 0
    offset: int = 0
    line_no: int = 0
    last_hash: str = ""  # sha1 of the last line read (with its "\n")
    last_len: int = 0
    seq_epoch: int = -1  # numbering of the lines of one epoch second (event ids)
    seq_n: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def reset(self, path: str, st: os.stat_result) -> None:
        self.path, self.dev, self.ino = path, st.st_dev, st.st_ino
        self.offset = self.line_no = self.last_len = self.seq_n = 0
        self.last_hash = ""
        self.seq_epoch = -1


@dataclass
class RawLine:
    data: bytes  # without the "\n"
    file: str
    line_no: int
    complete: bool  # False: a partial last line of a file that will not grow
    seq: int = 0  # index among the consecutive lines of the same epoch second
    before: dict[str, Any] | None = None  # the cursor fields just before this line


def _hash_at(fh: IO[bytes], offset: int, length: int) -> str | None:
    if length <= 0 or offset < length:
        return None
    fh.seek(offset - length)
    chunk = fh.read(length)
    return hashlib.sha1(chunk).hexdigest() if len(chunk) == length else None


class Follower:
    """Reads complete lines of a file, following renames and copy-truncates."""

    def __init__(
        self,
        path: Path,
        cursor: Cursor,
        follow: bool,
        keep_partial: bool = False,
        rotate_grace_s: float = ROTATE_GRACE_S,
    ) -> None:
        self.path = path
        self.cursor = cursor
        self.follow = follow
        self.keep_partial = keep_partial  # replay with a state file: leave a partial last line
        self.rotate_grace_s = rotate_grace_s
        self.fh: IO[bytes] | None = None
        self.draining: str | None = None  # reading an old (rotated) file; then the path from 0
        self.finished = False
        self.last_growth = time.monotonic()
        self.notes: Counter[str] = Counter()

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None

    def _open_current(self) -> bool:
        self.close()
        try:
            fh = open(self.path, "rb")  # noqa: SIM115
        except FileNotFoundError:
            return False
        self.fh = fh
        self.draining = None
        self.cursor.reset(str(self.path), os.fstat(fh.fileno()))
        self.last_growth = time.monotonic()
        return True

    def _find_previous(self, exclude_ino: int | None) -> str | None:
        """The file holding our last line at our offset: the old inode, else a rotated copy."""
        c = self.cursor
        try:
            entries = [e for e in os.scandir(self.path.parent) if e.is_file()]
        except OSError:
            return None
        by_inode = [e for e in entries if e.inode() == c.ino and e.path != str(self.path)]
        siblings = sorted(
            (
                e
                for e in entries
                if e.name.startswith(self.path.name)
                and e.name != self.path.name
                and not e.name.endswith(COMPRESSED)
                and e.inode() not in (exclude_ino, c.ino)
            ),
            key=lambda e: e.stat().st_mtime,
            reverse=True,
        )
        for entry in by_inode:
            with contextlib.suppress(OSError), open(entry.path, "rb") as fh:
                if c.offset == 0 or _hash_at(fh, c.offset, c.last_len) == c.last_hash:
                    return entry.path
        if c.offset == 0:
            return None
        for entry in siblings:
            with contextlib.suppress(OSError), open(entry.path, "rb") as fh:
                if _hash_at(fh, c.offset, c.last_len) == c.last_hash:
                    return entry.path
        return None

    def _switch_to_previous(self, previous: str) -> None:
        self.close()
        fh = open(previous, "rb")  # noqa: SIM115
        st = os.fstat(fh.fileno())
        self.fh = fh
        self.draining = previous
        c = self.cursor
        c.path, c.dev, c.ino = previous, st.st_dev, st.st_ino
        log.info("queue_log: reading the rest of %s from byte %d", previous, c.offset)

    def start(self) -> None:
        """Open at the saved cursor, handling a rotation that happened while we were down."""
        c = self.cursor
        if not c.path:
            if not self._open_current() and not self.follow:
                raise FileNotFoundError(str(self.path))
            return
        try:
            st: os.stat_result | None = os.stat(self.path)
        except FileNotFoundError:
            st = None
        if st is not None and (st.st_dev, st.st_ino) == (c.dev, c.ino):
            fh = open(self.path, "rb")  # noqa: SIM115
            if os.fstat(fh.fileno()).st_size >= c.offset and (
                c.offset == 0 or _hash_at(fh, c.offset, c.last_len) == c.last_hash
            ):
                self.fh = fh
                c.path = str(self.path)
                return
            fh.close()
            self.notes["truncated_while_down"] += 1
            previous = self._find_previous(exclude_ino=c.ino)
        else:
            previous = self._find_previous(exclude_ino=None if st is None else st.st_ino)
            if previous is None or previous != c.path:
                self.notes["rotated_while_down"] += 1
        if previous is not None:
            self._switch_to_previous(previous)
            return
        if c.offset:
            self.notes["position_lost"] += 1
            log.warning(
                "queue_log: the file read before (inode %d, byte %d) is gone; lines after it "
                "may be lost; starting %s from its beginning",
                c.ino,
                c.offset,
                self.path,
            )
        if not self._open_current() and not self.follow:
            raise FileNotFoundError(str(self.path))

    def read(self, max_lines: int) -> list[RawLine]:
        """Up to ``max_lines`` lines (complete ones, or a final partial one); [] when nothing new."""
        if self.finished:
            return []
        if self.fh is None:
            if self.cursor.path:
                self._open_current()
            else:
                self.start()
            if self.fh is None:
                return []
        lines = self._read_lines(max_lines)
        if lines:
            self.last_growth = time.monotonic()
            return lines
        if self.draining is not None:
            # an old file that will not grow: its partial tail, then the current file from 0
            tail = self._tail()
            if tail:
                return tail
            self.notes["rotations_followed"] += 1
            self._open_current()
            return self._read_lines(max_lines) if self.fh is not None else []
        if not self.follow:
            self.finished = True
            if self.keep_partial:
                return []
            return self._tail()
        return self._check_rotation(max_lines)

    def _check_rotation(self, max_lines: int) -> list[RawLine]:
        """Following, at the end of the current file: renamed away, or truncated?"""
        assert self.fh is not None
        c = self.cursor
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return []  # renamed, the new file not created yet: the writer may still append here
        if (st.st_dev, st.st_ino) != (c.dev, c.ino):
            # Renamed. The writer appends to the old file until it reopens the path, so switch
            # only once the new file has data, or the old one stayed idle for the grace period.
            if st.st_size == 0 and time.monotonic() - self.last_growth < self.rotate_grace_s:
                return []
            tail = self._tail()
            if tail:
                return tail
            self.notes["rotations_followed"] += 1
            self._open_current()
            return self._read_lines(max_lines) if self.fh is not None else []
        size = os.fstat(self.fh.fileno()).st_size
        if size < c.offset or (c.offset and _hash_at(self.fh, c.offset, c.last_len) != c.last_hash):
            self.notes["copytruncates_followed"] += 1
            previous = self._find_previous(exclude_ino=c.ino)
            if previous is not None:
                self._switch_to_previous(previous)
            else:
                self.notes["position_lost"] += 1
                log.warning(
                    "queue_log: %s was truncated and no copy next to it holds our position; "
                    "reading it from the beginning",
                    self.path,
                )
                self._open_current()
            return self._read_lines(max_lines) if self.fh is not None else []
        return []

    def _read_lines(self, max_lines: int) -> list[RawLine]:
        assert self.fh is not None
        c = self.cursor
        out: list[RawLine] = []
        while len(out) < max_lines:
            self.fh.seek(c.offset)
            chunk = self.fh.read(READ_CHUNK)
            if not chunk:
                break
            end = chunk.rfind(b"\n")
            if end < 0:
                if len(chunk) < READ_CHUNK:
                    break  # a partial line: wait for the rest
                end = len(chunk) - 1  # an absurdly long line: cut it
            pos = 0
            while pos <= end and len(out) < max_lines:
                nl = chunk.find(b"\n", pos, end + 1)
                if nl < 0:
                    nl = end
                out.append(self._advance(chunk[pos : nl + 1], True))
                pos = nl + 1
        return out

    def _tail(self) -> list[RawLine]:
        """Whatever is left of a file that will not grow: complete lines, then a partial last one."""
        lines = self._read_lines(MAX_BATCH_LINES)
        if lines:
            return lines
        assert self.fh is not None
        c = self.cursor
        self.fh.seek(c.offset)
        rest = self.fh.read()
        if not rest:
            return []
        return [self._advance(rest, False)]

    def _advance(self, raw: bytes, complete: bool) -> RawLine:
        """Move the cursor over one line; the line remembers the cursor before it."""
        c = self.cursor
        before = {
            "offset": c.offset,
            "line_no": c.line_no,
            "last_hash": c.last_hash,
            "last_len": c.last_len,
            "seq_epoch": c.seq_epoch,
            "seq_n": c.seq_n,
        }
        c.line_no += 1
        c.offset += len(raw)
        c.last_hash = hashlib.sha1(raw).hexdigest()
        c.last_len = len(raw)
        head = raw.split(b"|", 1)[0].strip()
        epoch = int(head) if head.isdigit() else -1
        if epoch == c.seq_epoch:
            c.seq_n += 1
        else:
            c.seq_epoch, c.seq_n = epoch, 0
        return RawLine(raw.rstrip(b"\n"), c.path, c.line_no, complete, c.seq_n, before)


# ---- sinks --------------------------------------------------------------------------------------


class FileSink:
    def __init__(self, target: str, dead_target: str | None, out_size: int | None) -> None:
        self.own = target != "-"
        if self.own:
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(path, "ab")  # noqa: SIM115
            if out_size is not None and fh.tell() > out_size:
                fh.truncate(out_size)  # written after the last saved state: written again below
            fh.seek(0, os.SEEK_END)
            self.fh: IO[bytes] = fh
        else:
            self.fh = sys.stdout.buffer
        self.dead: IO[bytes] | None = open(dead_target, "ab") if dead_target else None  # noqa: SIM115

    async def send(self, event: dict[str, Any], parsed: BaseEvent) -> None:  # noqa: ARG002 - the sinks' signature
        self.fh.write(orjson.dumps(event) + b"\n")

    async def dead_letter(self, value: dict[str, Any]) -> None:
        if self.dead is not None:
            self.dead.write(orjson.dumps(value) + b"\n")

    async def flush(self) -> None:
        self.fh.flush()
        if self.own:
            os.fsync(self.fh.fileno())
        if self.dead is not None:
            self.dead.flush()

    def position(self) -> int | None:
        return self.fh.tell() if self.own else None

    async def close(self) -> None:
        with contextlib.suppress(BrokenPipeError):
            self.fh.flush()
        if self.own:
            self.fh.close()
        if self.dead is not None:
            self.dead.close()


class KafkaSink:
    def __init__(self, producer: Any) -> None:
        self.producer = producer
        self.pending: list[asyncio.Future[Any]] = []

    @classmethod
    async def connect(cls, bootstrap: str, linger_ms: int) -> KafkaSink:
        producer = await start_producer(
            bootstrap,
            timeout_s=KAFKA_CONNECT_TIMEOUT_S,
            client_id="floorwatch-queue-log",
            linger_ms=linger_ms,
            acks="all",
        )
        return cls(producer)

    async def send(self, event: dict[str, Any], parsed: BaseEvent) -> None:  # noqa: ARG002 - the sinks' signature
        topic, key = route(parsed)
        self.pending.append(await self.producer.send(topic, dumps(parsed), key=key.encode()))

    async def dead_letter(self, value: dict[str, Any]) -> None:
        self.pending.append(await self.producer.send(topics.DEAD_LETTERS, orjson.dumps(value), key=b"queue_log"))

    async def flush(self) -> None:
        """Every message of the batch acknowledged, or raise (the state is then not advanced)."""
        pending, self.pending = self.pending, []
        if pending:
            await asyncio.gather(*pending)

    def position(self) -> int | None:
        return None

    async def close(self) -> None:
        await self.producer.stop()


# ---- state --------------------------------------------------------------------------------------


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def load_state(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.exists():
        return None
    data = orjson.loads(path.read_bytes())
    if data.get("version") != STATE_VERSION:
        raise ValueError(f"state file {path}: unknown version {data.get('version')!r}")
    return data


# ---- the run ------------------------------------------------------------------------------------


@dataclass
class Totals:
    lines: int = 0
    events: int = 0
    dead: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "events": self.events, "dead_letters": dict(self.dead)}


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class Replayer:
    def __init__(
        self,
        settings: Settings,
        options: Options,
        sink: Any,
        state: dict[str, Any] | None,
        clock_ms: Callable[[], int] = wall_clock_ms,
    ) -> None:
        self.options = options
        self.sink = sink
        self.limits = EventLimits.from_settings(settings)
        self.clock_ms = clock_ms
        self.mapper = Mapper(
            settings.tz, team=options.team, agent_map=options.agent_map, max_backwards_s=options.max_backwards
        )
        cursor = Cursor()
        self.totals = Totals()
        if state is not None:
            cursor = Cursor(**state["cursor"])
            self.mapper.load_json(state.get("mapper", {}))
            t = state.get("totals", {})
            self.totals = Totals(t.get("lines", 0), t.get("events", 0), Counter(t.get("dead_letters", {})))
        self.follower = Follower(
            options.file, cursor, options.follow, keep_partial=not options.follow and options.state is not None
        )
        self.pace0: tuple[float, int] | None = None

    def state(self, before: dict[str, Any] | None = None) -> dict[str, Any]:
        cursor = {**self.follower.cursor.as_dict(), **(before or {})}
        return {
            "version": STATE_VERSION,
            "file": str(self.options.file),
            "cursor": cursor,
            "out_size": self.sink.position(),
            "mapper": self.mapper.to_json(),
            "totals": self.totals.as_dict(),
            "saved_at_ms": int(time.time() * 1000),
        }

    async def save(self, before: dict[str, Any] | None = None) -> None:
        """Flush the sink, then record the position (``before``: mid-batch, just before that line)."""
        await self.sink.flush()
        if self.options.state is not None:
            write_atomic(self.options.state, orjson.dumps(self.state(before)))

    async def dead(self, raw: bytes, file: str, line_no: int, reason: str, error: str) -> None:
        self.totals.dead[reason] += 1
        if self.totals.dead.total() <= 20:
            log.warning("queue_log %s:%d: %s (%s)", file, line_no, error, reason)
        await self.sink.dead_letter(
            {
                "reason": reason,
                "error": error,
                "topic": "queue_log",
                "file": file,
                "line": line_no,
                "raw": raw[:RAW_MAX].decode("utf-8", "replace"),
                "at_ms": int(time.time() * 1000),
            }
        )

    async def _pace(self, epoch: int, line: RawLine, stop: asyncio.Event) -> bool:
        """Wait until the line is due; False when stopped meanwhile (the line is not sent)."""
        speed = self.options.speed
        if not speed or epoch <= 0:
            return True
        loop = asyncio.get_running_loop()
        if self.pace0 is None:
            self.pace0 = (loop.time(), epoch)
            return True
        delay = self.pace0[0] + (epoch - self.pace0[1]) / speed - loop.time()
        if delay > 0.001:
            await self.save(line.before)  # everything before this line is out: a restart resumes here
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
        return not stop.is_set()

    async def handle(self, line: RawLine, stop: asyncio.Event) -> bool:
        """Process one line; False when stopped before it (it stays unread)."""
        try:
            text = line.data.decode("utf-8")
        except UnicodeDecodeError:
            text = line.data.decode("latin-1")  # caller-id names in a legacy charset: keep the line
        if not line.complete:
            self.totals.lines += 1
            await self.dead(
                line.data,
                line.file,
                line.line_no,
                "truncated",
                "partial last line (no newline) of a file that will not grow",
            )
            return True
        now_ms = self.clock_ms()
        try:
            parsed = parse_line(text)
            # before pacing and mapping: an implausible time neither waits nor moves any state
            check_line_time(parsed, limits=self.limits, now_ms=now_ms)
        except LineError as exc:
            self.totals.lines += 1
            await self.dead(line.data, line.file, line.line_no, exc.reason, str(exc))
            return True
        except Exception as exc:  # noqa: BLE001 - no input line may stop the connector
            self.totals.lines += 1
            await self.dead(line.data, line.file, line.line_no, "processing_error", _error_text(exc))
            return True
        if not await self._pace(parsed.epoch, line, stop):
            return False
        self.totals.lines += 1
        checked: list[tuple[dict[str, Any], BaseEvent]] = []
        refused: list[tuple[str, str]] = []  # (reason, message) of the line or of its events
        try:
            for event in self.mapper.feed(parsed, line.seq, line_digest(line.data)):
                try:
                    checked.append((event, parse_event(event, limits=self.limits, now_ms=now_ms)))
                except EventError as exc:  # a mapping bug or an odd field must not stop the follower
                    refused.append((exc.reason, str(exc)))
        except LineError as exc:
            checked, refused = [], [(exc.reason, str(exc))]
        except Exception as exc:  # noqa: BLE001 - no input line may stop the connector
            checked, refused = [], [("processing_error", _error_text(exc))]
        for reason, message in refused:
            await self.dead(line.data, line.file, line.line_no, reason, message)
        for event, parsed_event in checked:
            await self.sink.send(event, parsed_event)
            self.totals.events += 1
        return True

    async def run(self, stop: asyncio.Event) -> None:
        self.follower.start()
        try:
            while not stop.is_set():
                batch = self.follower.read(MAX_BATCH_LINES)
                if batch:
                    for line in batch:
                        if stop.is_set() or not await self.handle(line, stop):
                            await self.save(line.before)  # stopped: resume at this line
                            return
                    await self.save()
                    await asyncio.sleep(0)
                    continue
                if self.follower.finished:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.options.poll)
            await self.save()
        finally:
            self.follower.close()


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_MAX]


def summary(rep: Replayer) -> str:
    t = rep.totals
    parts = [f"{t.lines} lines", f"{t.events} events", f"{t.dead.total()} dead letters"]
    if t.dead:
        parts.append("(" + ", ".join(f"{k} {v}" for k, v in sorted(t.dead.items())) + ")")
    notes = {**rep.mapper.counts, **rep.follower.notes}
    if notes:
        parts.append("; " + ", ".join(f"{k} {v}" for k, v in sorted(notes.items())))
    return "floorwatch replay-queue-log: " + " ".join(parts)


async def run(
    settings: Settings, options: Options, stop: asyncio.Event | None = None, clock_ms: Callable[[], int] = wall_clock_ms
) -> int:
    stop = stop or asyncio.Event()
    try:
        state = load_state(options.state)
    except (ValueError, orjson.JSONDecodeError) as exc:
        print(f"floorwatch replay-queue-log: {exc}", file=sys.stderr)
        return 2
    if not options.follow and not options.file.exists():
        print(f"floorwatch replay-queue-log: no such file: {options.file}", file=sys.stderr)
        return 2
    if options.out is not None:
        sink: Any = FileSink(options.out, options.dead_letters, None if state is None else state.get("out_size"))
    else:
        try:
            sink = await KafkaSink.connect(options.bootstrap, settings.kafka.producer_linger_ms)
        except Exception as exc:  # noqa: BLE001 - reported, not raised
            print(f"floorwatch replay-queue-log: cannot reach Kafka at {options.bootstrap}: {exc}", file=sys.stderr)
            return 1
    rep = Replayer(settings, options, sink, state, clock_ms)
    code = 0
    try:
        await rep.run(stop)
    except Exception as exc:  # e.g. Kafka down: the state was not advanced
        log.exception("replay-queue-log failed")
        print(f"floorwatch replay-queue-log: stopped: {exc}", file=sys.stderr)
        code = 1
    finally:
        with contextlib.suppress(Exception):
            await sink.close()
    print(summary(rep), file=sys.stderr)
    return code


def main(settings: Settings, args: argparse.Namespace, clock_ms: Callable[[], int] = wall_clock_ms) -> int:
    """Entry point of ``floorwatch replay-queue-log``; Ctrl-C or SIGTERM saves the state and stops."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        options = resolve(settings, args)
    except (ValueError, OSError, yaml.YAMLError) as exc:
        print(f"floorwatch replay-queue-log: {exc}", file=sys.stderr)
        return 2

    return run_until_signalled(lambda stop: run(settings, options, stop, clock_ms))


if __name__ == "__main__":  # pragma: no cover - for tests and ops before cli.py registers it
    from floorwatch.config import load_settings

    _parser = argparse.ArgumentParser(prog="floorwatch replay-queue-log")
    add_arguments(_parser)
    sys.exit(main(load_settings(), _parser.parse_args()))
