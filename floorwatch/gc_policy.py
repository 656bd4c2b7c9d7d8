"""Short garbage-collector pauses for processes that hold a large, growing state.

CPython's full (generation 2) collection walks every object the collector tracks. The worker
keeps every contact of the retention window in memory, so on a fresh worker at 2,000
events/s a full collection came about every 10 s and stalled the event loop for 46 ms after
half a minute and 272 ms after two (docs/performance.md); with a day of contacts it would
be seconds.

Policy: every ``freeze_every_s`` the objects alive at that moment move to the permanent
generation (``gc.freeze()``, which only splices lists), so later collections walk only what
is newer. Reference counting still frees frozen objects; only *cyclic* garbage among them
waits, until every ``full_collect_every_s`` one full collection over everything runs (one
pause, logged with what it reclaimed) and freezes again.

Every ``release_free_memory_every_s`` the C allocator gives its free pages back to the system
(``malloc_trim``). Objects freed after a rebuild, and buffers of a burst of output records,
otherwise stay resident: in a worker holding 1 million contacts, 85 MiB of 535 were free heap
pages (docs/performance.md). The trim took ~11 ms on a 160 MiB heap, on this thread.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from types import ModuleType

from floorwatch.config import GcConfig
from floorwatch.memory import release_free_memory

log = logging.getLogger(__name__)


class GcPolicy:
    """Decides, from explicit monotonic times, when to freeze, when to collect in full and when
    to give the C allocator's free pages back to the system (``release``, if given)."""

    def __init__(
        self,
        config: GcConfig,
        now_s: float,
        collector: ModuleType = gc,
        release: Callable[[], object] | None = None,
    ) -> None:
        self.config = config
        self.gc = collector
        self.release = release if config.release_free_memory_every_s > 0 else None
        self.next_freeze_s = now_s + config.freeze_every_s
        self.next_full_s = now_s + config.full_collect_every_s
        self.next_release_s = now_s + config.release_free_memory_every_s
        self.last_reclaimed = 0  # unreachable objects the last full collection found

    @property
    def freezing(self) -> bool:
        return self.config.freeze_every_s > 0

    @property
    def enabled(self) -> bool:
        return self.freezing or self.release is not None

    def due_s(self) -> float:
        """When ``step`` next has something to do."""
        times = []
        if self.freezing:
            times.append(self.next_freeze_s)
            if self.config.full_collect_every_s > 0:
                times.append(self.next_full_s)
        if self.release is not None:
            times.append(self.next_release_s)
        return min(times, default=float("inf"))

    def step(self, now_s: float) -> str | None:
        """Freeze, collect in full or release free memory if due at ``now_s`` (one of them per
        call, in that order); returns which one ran."""
        if self.freezing:
            if self.config.full_collect_every_s > 0 and now_s >= self.next_full_s:
                self.gc.unfreeze()
                self.last_reclaimed = self.gc.collect()
                self.gc.freeze()
                self.next_full_s = now_s + self.config.full_collect_every_s
                self.next_freeze_s = now_s + self.config.freeze_every_s
                return "full"
            if now_s >= self.next_freeze_s:
                self.gc.freeze()
                self.next_freeze_s = now_s + self.config.freeze_every_s
                return "freeze"
        if self.release is not None and now_s >= self.next_release_s:
            self.release()
            self.next_release_s = now_s + self.config.release_free_memory_every_s
            return "release"
        return None


def start_gc_policy(
    config: GcConfig, clock: Callable[[], float] = time.monotonic, stop: threading.Event | None = None
) -> threading.Thread | None:
    """Run the policy on a daemon thread (independent of the process's event loop; the C
    allocator's trim runs there too, without the interpreter lock); ``None`` when both
    ``freeze_every_s`` and ``release_free_memory_every_s`` are 0 (Python's default behaviour)."""
    policy = GcPolicy(config, clock(), release=release_free_memory)
    if not policy.enabled:
        return None
    stopped = stop or threading.Event()

    def run() -> None:
        while not stopped.wait(max(0.0, policy.due_s() - clock())):
            started = time.perf_counter()
            if policy.step(clock()) == "full":
                log.info(
                    "full garbage collection: %.0f ms, %d unreachable objects reclaimed",
                    (time.perf_counter() - started) * 1000,
                    policy.last_reclaimed,
                )

    thread = threading.Thread(target=run, name="floorwatch-gc-policy", daemon=True)
    thread.start()
    return thread
