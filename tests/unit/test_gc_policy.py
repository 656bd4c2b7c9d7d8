"""The garbage-collector policy: when it freezes, when it collects in full, and what that does."""

from __future__ import annotations

import gc
import threading
import weakref
from types import SimpleNamespace

import pytest

from floorwatch.config import GcConfig
from floorwatch.gc_policy import GcPolicy, start_gc_policy


class FakeCollector(SimpleNamespace):
    def __init__(self) -> None:
        super().__init__(calls=[])

    def freeze(self) -> None:
        self.calls.append("freeze")

    def unfreeze(self) -> None:
        self.calls.append("unfreeze")

    def collect(self) -> int:
        self.calls.append("collect")
        return 7


def test_freezes_every_period_and_collects_in_full_on_its_own_period() -> None:
    fake = FakeCollector()
    policy = GcPolicy(GcConfig(freeze_every_s=10, full_collect_every_s=35), now_s=100.0, collector=fake)
    ran = {t: policy.step(t) for t in (105.0, 110.0, 115.0, 120.0, 129.9, 130.0, 135.0, 140.0, 145.0)}
    assert ran == {
        105.0: None,
        110.0: "freeze",
        115.0: None,
        120.0: "freeze",
        129.9: None,
        130.0: "freeze",
        135.0: "full",
        140.0: None,
        145.0: "freeze",
    }
    assert fake.calls == ["freeze", "freeze", "freeze", "unfreeze", "collect", "freeze", "freeze"]
    assert policy.last_reclaimed == 7
    assert policy.due_s() == 155.0  # next freeze; the next full one is at 170


def test_zero_periods_mean_python_default_or_no_full_collection() -> None:
    fake = FakeCollector()
    off = GcPolicy(GcConfig(freeze_every_s=0), now_s=0.0, collector=fake)
    assert [off.step(t) for t in (0.0, 1e6)] == [None, None] and fake.calls == []
    never_full = GcPolicy(GcConfig(freeze_every_s=5, full_collect_every_s=0), now_s=0.0, collector=fake)
    assert [never_full.step(t) for t in (5.0, 10.0, 1e6)] == ["freeze", "freeze", "freeze"]
    assert "collect" not in fake.calls and never_full.due_s() == 1e6 + 5


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def test_frozen_cycles_wait_for_the_full_collection() -> None:
    """With the real collector: a cycle alive at a freeze survives ordinary collections once
    dropped, and the policy's full collection reclaims it."""
    gc.collect()
    gc.unfreeze()
    try:
        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        policy = GcPolicy(GcConfig(freeze_every_s=1, full_collect_every_s=3), now_s=0.0)
        assert policy.step(1.0) == "freeze" and gc.get_freeze_count() > 0
        del a, b
        gc.collect()
        assert gone() is not None  # frozen: the collector does not look at it
        assert policy.step(3.0) == "full"
        assert gone() is None and policy.last_reclaimed >= 2
    finally:
        gc.unfreeze()


def test_thread_runs_the_policy_until_stopped() -> None:
    gc.unfreeze()
    stop = threading.Event()
    try:
        thread = start_gc_policy(GcConfig(freeze_every_s=0.01, full_collect_every_s=0), stop=stop)
        assert thread is not None
        for _ in range(200):
            if gc.get_freeze_count() > 0:
                break
            stop.wait(0.01)
        assert gc.get_freeze_count() > 0
    finally:
        stop.set()
        thread.join(2)  # type: ignore[union-attr]
        gc.unfreeze()
    assert not thread.is_alive()  # type: ignore[union-attr]
    assert start_gc_policy(GcConfig(freeze_every_s=0, release_free_memory_every_s=0)) is None


@pytest.mark.parametrize(
    "bad", [{"freeze_every_s": -1}, {"full_collect_every_s": -0.5}, {"release_free_memory_every_s": -1}]
)
def test_negative_periods_are_refused(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        GcConfig(**bad)


def test_free_memory_goes_back_on_its_own_period_after_what_else_is_due() -> None:
    fake, released = FakeCollector(), []
    config = GcConfig(freeze_every_s=10, full_collect_every_s=0, release_free_memory_every_s=25)
    policy = GcPolicy(config, now_s=100.0, collector=fake, release=lambda: released.append(True))
    ran = [(t, policy.step(t)) for t in (110.0, 120.0, 124.9, 125.0, 130.0, 130.0, 150.0, 150.0, 150.0)]
    assert ran == [
        (110.0, "freeze"),
        (120.0, "freeze"),
        (124.9, None),
        (125.0, "release"),
        (130.0, "freeze"),
        (130.0, None),
        (150.0, "freeze"),  # a freeze (due 140) and a release (due 150) at once: the freeze first
        (150.0, "release"),
        (150.0, None),
    ]
    assert released == [True, True] and policy.due_s() == 160.0  # freeze at 160, release at 175


def test_release_without_freezing_and_zero_meaning_never() -> None:
    fake, released = FakeCollector(), []
    only_release = GcPolicy(
        GcConfig(freeze_every_s=0, release_free_memory_every_s=60),
        now_s=0.0,
        collector=fake,
        release=lambda: released.append(True),
    )
    assert only_release.enabled and only_release.due_s() == 60.0
    assert [only_release.step(t) for t in (59.0, 60.0, 61.0)] == [None, "release", None] and fake.calls == []
    never = GcPolicy(GcConfig(freeze_every_s=0, release_free_memory_every_s=0), now_s=0.0, release=lambda: 1 / 0)
    assert not never.enabled and never.step(1e9) is None and never.due_s() == float("inf")
    assert start_gc_policy(GcConfig(freeze_every_s=0, release_free_memory_every_s=0)) is None
