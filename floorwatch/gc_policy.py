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
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from types import ModuleType

from floorwatch.config import GcConfig

log = logging.getLogger(__name__)


class GcPolicy:
    """Decides, from explicit monotonic times, when to freeze and when to collect in full."""

    def __init__(self, config: GcConfig, now_s: float, collector: ModuleType = gc) -> None:
        self.config = config
        self.gc = collector
        self.next_freeze_s = now_s + config.freeze_every_s
        self.next_full_s = now_s + config.full_collect_every_s
        self.last_reclaimed = 0  # unreachable objects the last full collection found

    @property
    def enabled(self) -> bool:
        return self.config.freeze_every_s > 0

    def due_s(self) -> float:
        """When ``step`` next has something to do."""
        if self.config.full_collect_every_s > 0:
            return min(self.next_freeze_s, self.next_full_s)
        return self.next_freeze_s

    def step(self, now_s: float) -> str | None:
        """Freeze or collect in full if due at ``now_s``; returns which one ran."""
        if not self.enabled:
            return None
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
        return None


def start_gc_policy(
    config: GcConfig, clock: Callable[[], float] = time.monotonic, stop: threading.Event | None = None
) -> threading.Thread | None:
    """Run the policy on a daemon thread (independent of the process's event loop); ``None``
    when ``freeze_every_s`` is 0 (Python's default behaviour)."""
    policy = GcPolicy(config, clock())
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
