"""Logged-in time per interval from an agent's state points (the staffing history of
``GET /api/v1/staffing``'s ``avg_staffed_agents``), by hand."""

from floorwatch.domain.floor import logged_in_ms_by_interval

STARTS = [0, 1_800_000, 3_600_000]  # three 30-minute intervals; the day ends at 5,400,000
END = 5_400_000
TIMELINE = [
    [100_000, "e1", "available", None],
    [1_000_000, "e2", "aux", "break"],  # aux is logged in
    [2_000_000, "e3", "logged_out", None],
    [4_000_000, "e4", "on_contact", None],
]


def test_segments_split_at_interval_edges_and_stop_at_now() -> None:
    assert logged_in_ms_by_interval(TIMELINE, STARTS, END, now_ms=4_500_000) == {
        0: 1_700_000,  # 100,000 -> 1,800,000
        1_800_000: 200_000,  # 1,800,000 -> 2,000,000, then logged out
        3_600_000: 500_000,  # 4,000,000 -> now
    }


def test_state_in_force_before_the_day_counts_from_its_start() -> None:
    carried = [[-500_000, "e0", "available", None], *TIMELINE]
    got = logged_in_ms_by_interval(carried, STARTS, END, now_ms=10_000_000)
    assert got == {0: 1_800_000, 1_800_000: 200_000, 3_600_000: 1_400_000}  # until the day's end


def test_nothing_before_the_first_point_or_after_now() -> None:
    assert logged_in_ms_by_interval(TIMELINE, STARTS, END, now_ms=50_000) == {}
    assert logged_in_ms_by_interval([], STARTS, END, now_ms=END) == {}
    assert logged_in_ms_by_interval([[6_000_000, "x", "available", None]], STARTS, END, now_ms=7_000_000) == {}
