"""``floorwatch run``: broker, worker, API and simulator as child processes on one machine,
supervised.

Children run in their own sessions so a terminal Ctrl-C reaches only this supervisor, which
then stops them in reverse order (SIGTERM, then SIGKILL after a grace period): no orphans,
no stack traces.

Once everything is up (the wallboard link is printed), a worker, API or simulator that exits,
with any code or signal, is reported with its last log lines and started again with the same
arguments and environment (same session config, tokens, customer hash key and API port, so the
printed link stays valid), after an exponential backoff (``RestartPolicy``). The broker and the
other children keep running. Only the embedded broker's death is fatal: it keeps everything in
memory, so then the day's data is gone, and ``floorwatch run`` says so, stops everything and
exits 1. A child that cannot come up the first time (before the link is printed) is reported
at once and ends the run: that is a configuration problem, not a crash to wait out.

Each session makes two fresh tokens: a viewer token, which the printed wallboard link carries
(a link ends up in browser history, screenshots and chat: it can only watch), and an admin +
ingest token, written to ``admin-token`` (mode 0600) in the session's run directory (mode 0700),
whose path alone is printed. The worker gets a customer hash key: the configured
``privacy.customer_hash_key``, else a new random one per session. The session config holding
the token hashes and that key is mode 0600 too.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from floorwatch.config import Settings, config_path
from floorwatch.services.broker import free_port, port_is_free, wait_for_port

STOP_GRACE_S = 10
POLL_INTERVAL_S = 0.3  # how often the supervisor looks at its children
TAIL_LINES = 15  # of a dead child's log, printed with its restart line


@dataclass(frozen=True)
class RestartPolicy:
    """How long to wait before starting an exited child again.

    Exponential backoff over the child's quick exits in a row: ``initial_delay_s`` after the
    first, doubling up to ``max_delay_s``, where it stays for as long as the child keeps failing
    (it is never given up). A child that ran at least ``healthy_run_s`` before it exited starts
    the count again: its next restart waits ``initial_delay_s``.
    """

    initial_delay_s: float = 1.0
    max_delay_s: float = 30.0
    healthy_run_s: float = 60.0
    crash_loop_exits: int = 5  # quick exits in a row from which a child is reported as failing at start

    def __post_init__(self) -> None:
        if not 0 < self.initial_delay_s <= self.max_delay_s:
            raise ValueError("need 0 < initial_delay_s <= max_delay_s")
        if self.healthy_run_s <= 0 or self.crash_loop_exits < 1:
            raise ValueError("need healthy_run_s > 0 and crash_loop_exits >= 1")

    def delay_s(self, quick_exits_in_a_row: int) -> float:
        """The wait after the ``quick_exits_in_a_row``-th quick exit in a row (1 = the first)."""
        if quick_exits_in_a_row < 1:
            raise ValueError("quick_exits_in_a_row starts at 1")
        doublings = min(quick_exits_in_a_row - 1, 64)  # 2**64 s is beyond any max: no float overflow
        return min(self.max_delay_s, self.initial_delay_s * 2.0**doublings)


@dataclass(frozen=True)
class RestartDecision:
    name: str
    run_s: float  # how long the child ran before it exited
    delay_s: float  # wait before it starts again
    restart_number: int  # restarts of this child in this session, 1 = the first
    quick_exits_in_a_row: int  # exits after less than healthy_run_s, in a row, this one included
    crash_loop: bool  # quick_exits_in_a_row has reached the policy's crash_loop_exits


@dataclass
class _ChildTimes:
    started_at_s: float | None = None  # None while the child is down
    restart_due_at_s: float | None = None
    quick_exits_in_a_row: int = 0
    restarts: int = 0


class Supervision:
    """The restart bookkeeping of ``floorwatch run``, without processes: which child is due to
    start again when. Times come from the injected ``clock`` (seconds, monotonic). One entry per
    supervised child name: the run supervises a fixed, small set of them."""

    def __init__(self, policy: RestartPolicy | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy or RestartPolicy()
        self._clock = clock
        self._children: dict[str, _ChildTimes] = {}

    def started(self, name: str) -> None:
        times = self._children.setdefault(name, _ChildTimes())
        times.started_at_s = self._clock()
        times.restart_due_at_s = None

    def exited(self, name: str) -> RestartDecision:
        times = self._children.get(name)
        if times is None or times.started_at_s is None:
            raise ValueError(f"{name} is not running")
        now = self._clock()
        run_s = max(0.0, now - times.started_at_s)
        if run_s >= self.policy.healthy_run_s:
            times.quick_exits_in_a_row = 0
        times.quick_exits_in_a_row += 1
        times.restarts += 1
        delay_s = self.policy.delay_s(times.quick_exits_in_a_row)
        times.started_at_s = None
        times.restart_due_at_s = now + delay_s
        return RestartDecision(
            name,
            run_s,
            delay_s,
            times.restarts,
            times.quick_exits_in_a_row,
            times.quick_exits_in_a_row >= self.policy.crash_loop_exits,
        )

    def due(self) -> list[str]:
        """Children whose backoff has passed, in the order they were first started."""
        now = self._clock()
        return [
            name for name, t in self._children.items() if t.restart_due_at_s is not None and t.restart_due_at_s <= now
        ]

    def restarts(self, name: str) -> int:
        return self._children[name].restarts


def describe_exit(code: int) -> str:
    """``-9`` -> ``code -9 (SIGKILL)``; ``1`` -> ``code 1``."""
    if code < 0:
        try:
            return f"code {code} ({signal.Signals(-code).name})"
        except ValueError:
            pass
    return f"code {code}"


def restart_line(decision: RestartDecision, exit_code: int, policy: RestartPolicy) -> str:
    """The supervisor's one line about a child that exited and when it starts again."""
    line = (
        f"{decision.name} exited with {describe_exit(exit_code)} after {decision.run_s:.1f} s; "
        f"restarting in {decision.delay_s:g} s (restart {decision.restart_number})"
    )
    if decision.crash_loop:
        line += (
            f"; it keeps failing ({decision.quick_exits_in_a_row} exits in a row, each within"
            f" {policy.healthy_run_s:g} s of its start): retrying at most {policy.max_delay_s:g} s apart,"
            " the others keep running"
        )
    return line


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str]  # its own copy: a restart gets exactly what the first start got
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None  # None while down, waiting for its restart

    def running(self) -> subprocess.Popen[bytes]:
        """The process of a child that was started and not yet found dead."""
        assert self.proc is not None, f"{self.name} is not running"
        return self.proc

    def tail(self, lines: int = TAIL_LINES) -> str:
        try:
            with self.log_path.open("rb") as fh:
                return b"".join(collections.deque(fh, maxlen=lines)).decode("utf-8", "replace")
        except OSError:
            return ""


class ProcessIdentity:
    """A process that is not our child (Tansu, started by the broker wrapper), told apart from a
    later process that reuses its pid by its start time in /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._start = self._start_ticks()

    def _start_ticks(self) -> str | None:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return None if fields[0] in ("Z", "X") else fields[19]  # state, starttime

    def alive(self) -> bool:
        return self._start is not None and self._start_ticks() == self._start

    def stop(self, grace_s: float) -> None:
        if not self.alive():
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.1)
            if self.alive():
                os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


SECRET_FILE_MODE = 0o600
RUN_DIR_MODE = 0o700
ADMIN_TOKEN_FILE = "admin-token"
TOKEN_BYTES = 32  # of randomness per session token and per generated customer hash key


@dataclass(frozen=True)
class SessionSecrets:
    viewer_token: str  # in the printed wallboard link: viewer role only
    admin_token: str  # admin + ingest: only in the 0600 file
    customer_hash_key: str

    @classmethod
    def new(cls, configured_customer_hash_key: str = "") -> SessionSecrets:
        return cls(
            secrets.token_urlsafe(TOKEN_BYTES),
            secrets.token_urlsafe(TOKEN_BYTES),
            configured_customer_hash_key or secrets.token_urlsafe(TOKEN_BYTES),
        )


def write_secret_file(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 from the start (never readable by others, not even briefly)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, SECRET_FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _session_config(session: SessionSecrets, run_dir: Path) -> Path:
    """The user's YAML plus this session's two tokens (as hashes) and its customer hash key."""
    path = config_path()
    data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    data = data or {}
    auth = data.setdefault("auth", {}) or {}
    data["auth"] = auth
    auth["tokens"] = list(auth.get("tokens") or []) + [
        {"name": "local-wallboard", "sha256": _sha256(session.viewer_token), "roles": ["viewer"]},
        {"name": "local-admin", "sha256": _sha256(session.admin_token), "roles": ["admin", "ingest"]},
    ]
    privacy = data.setdefault("privacy", {}) or {}
    data["privacy"] = privacy
    privacy["customer_hash_key"] = session.customer_hash_key
    out = run_dir / "floorwatch.session.yaml"
    write_secret_file(out, yaml.safe_dump(data, sort_keys=False))
    return out


def make_run_dir() -> Path:
    run_dir = Path(tempfile.mkdtemp(prefix="floorwatch-run-"))  # mkdtemp creates it 0700
    os.chmod(run_dir, RUN_DIR_MODE)
    return run_dir


class _Interrupted(Exception):
    """Ctrl-C or SIGTERM while the children were still coming up."""


def _wait_http(url: str, timeout_s: float, child: Child, stop: Callable[[], bool]) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if stop():
            raise _Interrupted
        if child.running().poll() is not None:
            raise RuntimeError(f"{child.name} exited with {describe_exit(child.running().returncode)}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 (loopback)
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")


def _wait_log(child: Child, needle: str, timeout_s: float, stop: Callable[[], bool]) -> str:
    """Wait for ``needle`` in the child's log; return the log's tail that holds it."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if stop():
            raise _Interrupted
        tail = child.tail(50)
        if needle in tail:
            return tail
        if child.running().poll() is not None:
            raise RuntimeError(f"{child.name} exited with {describe_exit(child.running().returncode)}")
        time.sleep(0.1)
    raise TimeoutError(f"{child.name}: not ready after {timeout_s:.0f} s")


def _indented(text: str) -> str:
    return "".join(f"  | {line}\n" for line in text.splitlines()) or "  | (empty log)\n"


def run(settings: Settings, simulate: bool = True, policy: RestartPolicy | None = None) -> int:
    run_dir = make_run_dir()
    session = SessionSecrets.new(settings.privacy.customer_hash_key)
    admin_token_path = run_dir / ADMIN_TOKEN_FILE
    write_secret_file(admin_token_path, session.admin_token + "\n")
    env = dict(os.environ)
    env["FLOORWATCH_CONFIG"] = str(_session_config(session, run_dir))
    # unbuffered output: the log of a child killed by a signal still ends with its last lines
    env["PYTHONUNBUFFERED"] = "1"
    exe = [sys.executable, "-m", "floorwatch.cli"]
    children: list[Child] = []  # in start order; stopped in reverse
    supervision = Supervision(policy)
    interrupted = {"flag": False}

    def on_signal(_signum: int, _frame: object) -> None:
        interrupted["flag"] = True

    def stop_requested() -> bool:
        return interrupted["flag"]

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    def spawn(child: Child) -> None:
        with child.log_path.open("wb") as log:  # the child holds its own copy of the descriptor
            child.proc = subprocess.Popen(
                exe + child.args, env=child.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        supervision.started(child.name)

    def start(name: str, args: list[str]) -> Child:
        child = Child(name, list(args), dict(env), run_dir / f"{name}.log")
        children.append(child)
        spawn(child)
        return child

    broker: Child | None = None
    tansu: ProcessIdentity | None = None
    try:
        if os.environ.get("FLOORWATCH_KAFKA"):
            bootstrap = settings.kafka.bootstrap
            print(f"broker     external Kafka at {bootstrap}", flush=True)
        else:
            host, _, port_s = settings.kafka.bootstrap.rpartition(":")
            host = host or "127.0.0.1"
            port = int(port_s or 9092)
            if not port_is_free(host, port):
                port = free_port(host)
            bootstrap = f"{host}:{port}"
            broker = start("broker", ["broker", "--host", host, "--port", str(port), "--exact-port"])
            wait_for_port(host, port, 30, broker.proc)
            ready = _wait_log(broker, "broker ready", 30, stop_requested)  # topics exist before any client starts
            found = re.search(r"Tansu pid (\d+)", ready)
            tansu = ProcessIdentity(int(found.group(1))) if found else None
            print(
                f"broker     Tansu on {bootstrap} (pid {tansu.pid if tansu else broker.running().pid}, memory only)",
                flush=True,
            )
        env["FLOORWATCH_KAFKA"] = bootstrap

        api_port = settings.api.port
        if not port_is_free(settings.api.host, api_port):
            api_port = free_port(settings.api.host)
        env["FLOORWATCH_API_PORT"] = str(api_port)

        worker = start("worker", ["worker", "--data-dir", str(run_dir / "worker")])
        print(f"worker     Faust worker (pid {worker.running().pid})", flush=True)
        api = start("api", ["api"])
        base = f"http://{settings.api.host}:{api_port}"
        _wait_http(f"{base}/healthz", 60, api, stop_requested)
        print(f"api        {base} (pid {api.running().pid})", flush=True)
        if simulate:
            sim = start("simulator", ["simulate"])
            print(f"simulator  producing events (pid {sim.running().pid})", flush=True)
        print(f"logs       {run_dir}", flush=True)
        print(f"admin token: {admin_token_path} (0600)", flush=True)
        print(f"\nWallboard: {base}/?token={session.viewer_token}\n(Ctrl-C stops everything)", flush=True)

        supervised = [c for c in children if c is not broker]
        while not interrupted["flag"]:
            if broker is not None:
                if broker.proc is not None and broker.proc.poll() is not None and tansu is not None and tansu.alive():
                    print(
                        f"\nbroker wrapper exited with {describe_exit(broker.proc.returncode)}; Tansu"
                        f" (pid {tansu.pid}) still holds the data and keeps serving",
                        flush=True,
                    )
                    broker.proc = None
                if not (tansu.alive() if tansu is not None else broker.running().poll() is None):
                    print(_broker_gone(broker, tansu, run_dir), file=sys.stderr, flush=True)
                    return 1
            for child in supervised:
                if child.proc is not None and child.proc.poll() is not None:
                    code = child.proc.returncode
                    _kill_leftovers(child.proc.pid)
                    child.proc = None
                    decision = supervision.exited(child.name)
                    print(
                        f"\n{restart_line(decision, code, supervision.policy)}; its last log lines:\n"
                        f"{_indented(child.tail())}",
                        end="",
                        flush=True,
                    )
            for name in supervision.due():
                child = next(c for c in supervised if c.name == name)
                _rotate_log(child.log_path)
                try:
                    spawn(child)
                except OSError as exc:  # e.g. out of descriptors: try again after the next backoff
                    supervision.started(child.name)
                    decision = supervision.exited(child.name)
                    print(f"{name} could not be started ({exc}); trying again in {decision.delay_s:g} s", flush=True)
                    continue
                print(f"{name:<10} restarted (pid {child.running().pid})", flush=True)
            time.sleep(POLL_INTERVAL_S)
        print("\nstopping ...", flush=True)
        return 0
    except _Interrupted:
        print("\nstopping ...", flush=True)
        return 0
    except (RuntimeError, TimeoutError) as exc:
        print(f"floorwatch run: {exc}", file=sys.stderr)
        for child in children:
            if child.proc is not None and child.proc.poll() is not None:
                print(f"--- {child.name} (exit {child.proc.returncode}) ---\n{child.tail()}", file=sys.stderr)
        return 1
    finally:
        _stop_all(children)
        if tansu is not None:
            tansu.stop(STOP_GRACE_S)  # when its wrapper is gone, Tansu is ours to stop


def _broker_gone(broker: Child, tansu: ProcessIdentity | None, run_dir: Path) -> str:
    """The fatal message once the embedded broker is gone.

    The broker is Tansu, started by the ``floorwatch broker`` wrapper: Tansu holds the data. If
    only the wrapper dies, Tansu keeps serving and the run goes on (this supervisor stops Tansu
    at the end); when Tansu dies, its wrapper exits too and everything Tansu held is gone.
    """
    wrapper_code = None
    if broker.proc is not None:
        # Tansu is gone: its wrapper notices within a fraction of a second and exits
        with contextlib.suppress(subprocess.TimeoutExpired):
            wrapper_code = broker.proc.wait(2)
    how = f"broker: Tansu (pid {tansu.pid}) is gone" if tansu is not None else "broker exited"
    if wrapper_code is not None:
        how += f"; floorwatch broker exited with {describe_exit(wrapper_code)}"
    return (
        f"\n{how}; the broker's last log lines:\n{_indented(broker.tail())}"
        "floorwatch run: the embedded broker kept everything in memory, so the day's data is gone"
        " (events, figures, alerts). Stopping everything."
        f"\nThe logs are in {run_dir}. For long runs use a real Kafka (FLOORWATCH_KAFKA=host:9092)."
    )


def _kill_leftovers(pgid: int) -> None:
    """A dead child's process group may still hold processes it started: end them before its
    restart. The group id stays reserved while any member lives, so this cannot hit a stranger."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _rotate_log(log_path: Path) -> None:
    """Keep the dead run's log as ``<name>.log.1`` (one generation) and start a fresh one."""
    with contextlib.suppress(OSError):
        log_path.replace(log_path.with_name(log_path.name + ".1"))


def _stop_all(children: list[Child]) -> None:
    """Stop children newest first, so the broker outlives its clients."""
    for child in reversed(children):
        if child.proc is None or child.proc.poll() is not None:
            continue
        try:
            os.killpg(child.proc.pid, signal.SIGTERM)
            child.proc.wait(STOP_GRACE_S)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGKILL)
            child.proc.wait()
