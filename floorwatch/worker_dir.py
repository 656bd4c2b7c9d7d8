"""The worker's data directory: created with its parents, held with an OS lock.

A worker holds ``<datadir>/worker.lock`` with ``fcntl.flock`` for its whole life and writes its
pid into it. The kernel drops the lock when the process ends in any way (SIGKILL included), so
a dead worker's directory is free again at once; a stale pid in the file means nothing, it is
read only to name the holder of a lock that is really held.

Without an explicit directory (``--data-dir`` or ``worker.datadir``) a worker takes the first
free of ``data/worker``, ``data/worker-2``, ``data/worker-3`` ... so several workers started from
one directory never share one. An explicit directory that another live worker holds is an error.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

LOCK_FILE = "worker.lock"
# default directories tried before giving up: more workers than this on one machine would own
# nothing anyway (at most one busy worker per partition, and a machine has a few cores)
MAX_DEFAULT_DATADIRS = 64
HOLDER_PID_MAX_BYTES = 32  # the lock file holds "<pid>\n"; never read more than this


class DataDirError(Exception):
    """The worker cannot have a data directory; the message is one line."""


class DataDirBusy(DataDirError):
    def __init__(self, path: Path, holder_pid: int | None) -> None:
        self.path = path
        self.holder_pid = holder_pid
        holder = f"pid {holder_pid}" if holder_pid is not None else "pid unknown"
        super().__init__(
            f"data directory {path} is in use by another worker ({holder}, lock "
            f"{path / LOCK_FILE}): give each worker its own --data-dir"
        )


@dataclass
class DataDirLock:
    """A held data directory; the lock lasts until ``release`` or the end of the process."""

    path: Path
    fd: int

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK_FILE

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the only descriptor of the open file drops the flock
            self.fd = -1


def default_candidates(base: str | os.PathLike[str], count: int = MAX_DEFAULT_DATADIRS) -> list[Path]:
    """``base``, ``base-2``, ``base-3`` ... ``count`` directories in the order a worker tries them."""
    first = Path(base)
    return [first, *(first.with_name(f"{first.name}-{n}") for n in range(2, count + 1))]


def parse_holder_pid(text: bytes) -> int | None:
    """The pid written in a lock file, or None when it holds none (being written, or garbage)."""
    try:
        pid = int(text[:HOLDER_PID_MAX_BYTES].decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return None
    return pid if pid > 0 else None


def read_holder_pid(path: Path) -> int | None:
    try:
        with (path / LOCK_FILE).open("rb") as f:
            return parse_holder_pid(f.read(HOLDER_PID_MAX_BYTES))
    except OSError:
        return None


def try_lock(path: str | os.PathLike[str]) -> DataDirLock | None:
    """Create ``path`` (parents included) and lock it for this process; None when another
    open lock file description (another worker) holds it. Raises DataDirError when the
    directory or its lock file cannot be created."""
    directory = Path(path).absolute()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise DataDirError(f"cannot create data directory {directory}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except OSError as exc:
        os.close(fd)
        raise DataDirError(f"cannot lock {directory / LOCK_FILE}: {exc.strerror or exc}") from None
    with contextlib.suppress(OSError):  # the pid only names the holder in a clash message
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return DataDirLock(directory, fd)


def lock_data_dir(path: str | os.PathLike[str], explicit: bool, max_default: int = MAX_DEFAULT_DATADIRS) -> DataDirLock:
    """The worker's locked data directory.

    ``explicit`` (``--data-dir`` or ``worker.datadir`` given): exactly ``path``, else DataDirBusy
    naming the holder's pid. Otherwise the first free of ``default_candidates(path, max_default)``.
    """
    if explicit:
        held = try_lock(path)
        if held is None:
            directory = Path(path).absolute()
            raise DataDirBusy(directory, read_holder_pid(directory))
        return held
    candidates = default_candidates(path, max_default)
    for candidate in candidates:
        held = try_lock(candidate)
        if held is not None:
            return held
    raise DataDirError(
        f"all {len(candidates)} default data directories ({candidates[0].absolute()}, "
        f"{candidates[0].name}-2 ...) are in use by other workers: give this one --data-dir"
    )
