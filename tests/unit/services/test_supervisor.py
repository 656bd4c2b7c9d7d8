"""`floorwatch run`'s restart bookkeeping without processes: the backoff schedule, the reset
after a healthy run, when a child is due, and the line the supervisor prints. The clock is a
plain number the tests move by hand."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from floorwatch.services.runner import ProcessIdentity, RestartPolicy, Supervision, describe_exit, restart_line


class FakeClock:
    def __init__(self, now_s: float = 1000.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def quick_exit(supervision: Supervision, clock: FakeClock, name: str, run_s: float) -> float:
    """Start ``name`` at the current time, let it run ``run_s``, return the backoff it gets."""
    supervision.started(name)
    clock.now_s += run_s
    return supervision.exited(name).delay_s


def test_backoff_doubles_from_one_second_and_stays_at_thirty() -> None:
    clock = FakeClock()
    supervision = Supervision(RestartPolicy(), clock)
    delays = [quick_exit(supervision, clock, "worker", run_s=2.0) for _ in range(8)]
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]  # never given up, never above the maximum
    assert supervision.restarts("worker") == 8


def test_a_run_of_sixty_seconds_resets_the_backoff_and_one_just_under_does_not() -> None:
    clock = FakeClock()
    supervision = Supervision(RestartPolicy(initial_delay_s=1, max_delay_s=30, healthy_run_s=60), clock)
    assert [quick_exit(supervision, clock, "api", 5.0) for _ in range(3)] == [1, 2, 4]
    assert quick_exit(supervision, clock, "api", 59.9) == 8  # not healthy: keeps doubling
    assert quick_exit(supervision, clock, "api", 60.0) == 1  # healthy: starts again from the first
    assert quick_exit(supervision, clock, "api", 0.5) == 2
    assert supervision.restarts("api") == 6  # the count of restarts is not reset


def test_children_are_counted_apart() -> None:
    clock = FakeClock()
    supervision = Supervision(RestartPolicy(), clock)
    assert [quick_exit(supervision, clock, "worker", 1.0) for _ in range(3)] == [1, 2, 4]
    assert quick_exit(supervision, clock, "simulator", 1.0) == 1
    assert (supervision.restarts("worker"), supervision.restarts("simulator")) == (3, 1)


def test_a_child_is_due_exactly_when_its_backoff_has_passed_and_not_while_it_runs() -> None:
    clock = FakeClock(500.0)
    supervision = Supervision(RestartPolicy(), clock)
    supervision.started("worker")
    supervision.started("api")
    assert supervision.due() == []
    clock.now_s = 512.3
    decision = supervision.exited("worker")
    assert (decision.run_s, decision.delay_s, decision.restart_number) == pytest.approx((12.3, 1.0, 1))
    clock.now_s = 513.29
    assert supervision.due() == []
    clock.now_s = 513.3
    assert supervision.due() == ["worker"]
    supervision.started("worker")
    assert supervision.due() == []
    with pytest.raises(ValueError):
        supervision.exited("simulator")  # never started
    supervision.exited("api")
    with pytest.raises(ValueError):
        supervision.exited("api")  # already down


def test_due_children_come_in_their_first_start_order() -> None:
    clock = FakeClock()
    supervision = Supervision(RestartPolicy(), clock)
    for name in ("worker", "api", "simulator"):
        supervision.started(name)
    clock.now_s += 100
    for name in ("simulator", "worker", "api"):
        supervision.exited(name)
    clock.now_s += 1
    assert supervision.due() == ["worker", "api", "simulator"]


def test_a_crash_loop_is_flagged_from_the_fifth_quick_exit_in_a_row() -> None:
    clock = FakeClock()
    supervision = Supervision(RestartPolicy(crash_loop_exits=5), clock)
    flags = []
    for _ in range(6):
        supervision.started("simulator")
        clock.now_s += 3
        flags.append(supervision.exited("simulator").crash_loop)
    assert flags == [False, False, False, False, True, True]
    supervision.started("simulator")
    clock.now_s += 60
    assert supervision.exited("simulator").crash_loop is False  # a healthy run ends the loop


def test_the_delay_never_overflows_and_the_policy_refuses_nonsense() -> None:
    policy = RestartPolicy(initial_delay_s=0.5, max_delay_s=30)
    assert [policy.delay_s(n) for n in (1, 2, 3, 7, 8, 10_000)] == [0.5, 1, 2, 30, 30, 30]
    with pytest.raises(ValueError):
        policy.delay_s(0)
    for bad in (
        {"initial_delay_s": 0},
        {"initial_delay_s": 40, "max_delay_s": 30},
        {"healthy_run_s": 0},
        {"crash_loop_exits": 0},
    ):
        with pytest.raises(ValueError):
            RestartPolicy(**bad)


def test_restart_line_names_the_child_its_exit_its_run_time_and_the_wait() -> None:
    clock = FakeClock(0.0)
    policy = RestartPolicy()
    supervision = Supervision(policy, clock)
    supervision.started("worker")
    clock.now_s = 12.34
    decision = supervision.exited("worker")
    assert (
        restart_line(decision, -9, policy)
        == "worker exited with code -9 (SIGKILL) after 12.3 s; restarting in 1 s (restart 1)"
    )
    for _ in range(4):
        supervision.started("worker")
        clock.now_s += 1
        decision = supervision.exited("worker")
    assert restart_line(decision, 1, policy) == (
        "worker exited with code 1 after 1.0 s; restarting in 16 s (restart 5); it keeps failing"
        " (5 exits in a row, each within 60 s of its start): retrying at most 30 s apart, the others keep running"
    )


def test_describe_exit_names_signals() -> None:
    assert describe_exit(0) == "code 0"
    assert describe_exit(3) == "code 3"
    assert describe_exit(-15) == "code -15 (SIGTERM)"
    assert describe_exit(-200) == "code -200"  # no such signal


def test_process_identity_tells_a_live_process_from_a_missing_pid() -> None:
    assert ProcessIdentity(os.getpid()).alive()
    pid_max = int(Path("/proc/sys/kernel/pid_max").read_text())
    assert not ProcessIdentity(pid_max + 1).alive()  # no process can have this pid
