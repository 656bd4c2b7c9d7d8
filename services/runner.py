"""``floorwatch run``: broker, worker, API and simulator as child processes on one machine.

Children run in their own sessions so a terminal Ctrl-C reaches only this supervisor, which
then stops them in reverse order (SIGTERM, then SIGKILL after a grace period): no orphans,
no stack traces. A child that dies is reported with its last log lines.

Each session makes two fresh tokens: a viewer token, which the printed wallboard link carries
(a link ends up in browser history, screenshots and chat: it can only watch), and an admin +
ingest token, written to ``admin-token`` (mode 0600) in the session's run directory (mode 0700),
whose path alone is printed. The worker gets a customer hash key: the configured
``privacy.customer_hash_key``, else a new random one per session. The session config holding
the token hashes and that key is mode 0600 too.
"""

from __future__ import annotations

import collections
import hashlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import yaml

from floorwatch.config import Settings, config_path
from services.broker import free_port, port_is_free, wait_for_port

STOP_GRACE_S = 10


@dataclass
class Child:
    name: str
    proc: subprocess.Popen
    log_path: Path

    def tail(self, lines: int = 15) -> str:
        try:
            with self.log_path.open("rb") as fh:
                return b"".join(collections.deque(fh, maxlen=lines)).decode("utf-8", "replace")
        except OSError:
            return ""


SECRET_FILE_MODE = 0o600
RUN_DIR_MODE = 0o700
ADMIN_TOKEN_FILE = "admin-token"
TOKEN_BYTES = 32  # of randomness per session token and per generated customer hash key


@dataclass(frozen=True)
class SessionSecrets:
    viewer_token: str      # in the printed wallboard link: viewer role only
    admin_token: str       # admin + ingest: only in the 0600 file
    customer_hash_key: str

    @classmethod
    def new(cls, configured_customer_hash_key: str = "") -> SessionSecrets:
        return cls(secrets.token_urlsafe(TOKEN_BYTES), secrets.token_urlsafe(TOKEN_BYTES),
                   configured_customer_hash_key or secrets.token_urlsafe(TOKEN_BYTES))


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


def _wait_http(url: str, timeout_s: float, child: Child) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited with code {child.proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 (loopback)
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")


def _wait_log(child: Child, needle: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if needle in child.tail(50):
            return
        if child.proc.poll() is not None:
            raise RuntimeError(f"{child.name} exited with code {child.proc.returncode}")
        time.sleep(0.1)
    raise TimeoutError(f"{child.name}: not ready after {timeout_s:.0f} s")


def run(settings: Settings, simulate: bool = True) -> int:
    run_dir = make_run_dir()
    session = SessionSecrets.new(settings.privacy.customer_hash_key)
    admin_token_path = run_dir / ADMIN_TOKEN_FILE
    write_secret_file(admin_token_path, session.admin_token + "\n")
    env = dict(os.environ)
    env["FLOORWATCH_CONFIG"] = str(_session_config(session, run_dir))
    exe = [sys.executable, "-m", "floorwatch.cli"]
    children: list[Child] = []
    interrupted = {"flag": False}

    def on_signal(signum: int, frame: object) -> None:
        interrupted["flag"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    def start(name: str, args: list[str]) -> Child:
        log_path = run_dir / f"{name}.log"
        proc = subprocess.Popen(
            exe + args, env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        child = Child(name, proc, log_path)
        children.append(child)
        return child

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
            _wait_log(broker, "broker ready", 30)  # topics exist before any client starts
            print(f"broker     Tansu on {bootstrap} (pid {broker.proc.pid}, memory only)", flush=True)
        env["FLOORWATCH_KAFKA"] = bootstrap

        api_port = settings.api.port
        if not port_is_free(settings.api.host, api_port):
            api_port = free_port(settings.api.host)
        env["FLOORWATCH_API_PORT"] = str(api_port)

        worker = start("worker", ["worker", "--data-dir", str(run_dir / "worker")])
        print(f"worker     Faust worker (pid {worker.proc.pid})", flush=True)
        api = start("api", ["api"])
        base = f"http://{settings.api.host}:{api_port}"
        _wait_http(f"{base}/healthz", 60, api)
        print(f"api        {base} (pid {api.proc.pid})", flush=True)
        if simulate:
            sim = start("simulator", ["simulate"])
            print(f"simulator  producing events (pid {sim.proc.pid})", flush=True)
        print(f"logs       {run_dir}", flush=True)
        print(f"admin token: {admin_token_path} (0600)", flush=True)
        print(f"\nWallboard: {base}/?token={session.viewer_token}\n(Ctrl-C stops everything)", flush=True)

        while not interrupted["flag"]:
            for child in children:
                code = child.proc.poll()
                if code is not None:
                    print(f"\n{child.name} exited with code {code}; last log lines:\n{child.tail()}",
                          file=sys.stderr, flush=True)
                    return 1
            time.sleep(0.3)
        print("\nstopping ...", flush=True)
        return 0
    except (RuntimeError, TimeoutError) as exc:
        print(f"floorwatch run: {exc}", file=sys.stderr)
        for child in children:
            if child.proc.poll() is not None:
                print(f"--- {child.name} (exit {child.proc.returncode}) ---\n{child.tail()}", file=sys.stderr)
        return 1
    finally:
        _stop_all(children)


def _stop_all(children: list[Child]) -> None:
    """Stop children newest first, so the broker outlives its clients."""
    for child in reversed(children):
        if child.proc.poll() is not None:
            continue
        try:
            os.killpg(child.proc.pid, signal.SIGTERM)
            child.proc.wait(STOP_GRACE_S)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            try:
                os.killpg(child.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            child.proc.wait()
