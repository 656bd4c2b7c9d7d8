"""Agent time, occupancy, rolling windows, shift and shrinkage facts, hand-computed.

Local Asia/Shanghai (UTC+8, no DST) 30-minute intervals on 2025-03-04 unless said otherwise;
Europe/Berlin for the DST days. Every expected number is worked out in the comments.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from floorwatch.domain.intervals import day_bounds_ms, day_interval_starts
from floorwatch.domain.occupancy import (
    ROLLING_15M_MS,
    STATES,
    AgentTime,
    adherence_by_interval,
    agent_time_record,
    day_time,
    first_login_ms,
    interval_times,
    logged_in_at,
    rolling_time,
    shift_record,
    shift_status,
    shrinkage_ratio,
    split_at,
)

TZ = ZoneInfo("Asia/Shanghai")
D = date(2025, 3, 4)
D0, D1 = day_bounds_ms(D, TZ)
STARTS = day_interval_starts(D, TZ, 30)
S = 1000
MIN = 60 * S


def T(hhmm: str, day: int = 0) -> int:  # noqa: N802 - reads as a time
    h, m = (int(x) for x in hhmm.split(":"))
    return day_bounds_ms(D + timedelta(days=day), TZ)[0] + (h * 60 + m) * MIN


def tl(*points: tuple[int, str, str | None]) -> list[list[Any]]:
    """A timeline with event ids e000, e001, ... in the order given (already sorted)."""
    return [[ts, f"e{i:03d}", state, reason] for i, (ts, state, reason) in enumerate(points)]


def states(t: AgentTime) -> dict[str, int]:
    return dict(t.state_ms)


# --- the worked example ----------------------------------------------------------------------

# 23:50 (day before) available; 00:10 on_contact; 00:40 wrap_up; 00:45 aux (no reason);
# 01:20 aux/lunch (last point). Published at 01:25.
EXAMPLE = tl(
    (T("23:50", -1), "available", None),
    (T("00:10"), "on_contact", None),
    (T("00:40"), "wrap_up", None),
    (T("00:45"), "aux", None),
    (T("01:20"), "aux", "lunch"),
)


def test_record_counts_closed_time_per_interval_from_the_day_start() -> None:
    rec = agent_time_record(EXAMPLE, STARTS, D0, D1, T("01:25"))
    # the carry point's state counts from 00:00 only; 00:00-00:30: available 10 min, on_contact 20;
    # 00:30-01:00: on_contact 10, wrap_up 5, aux 15 (no reason); 01:00-01:20: aux 20 (no reason)
    assert rec["intervals"] == {
        str(T("00:00")): {"available": 600_000, "on_contact": 1_200_000},
        str(T("00:30")): {
            "on_contact": 600_000,
            "wrap_up": 300_000,
            "aux": 900_000,
            "aux_reasons": {"unspecified": 900_000},
        },
        str(T("01:00")): {"aux": 1_200_000, "aux_reasons": {"unspecified": 1_200_000}},
    }
    assert rec["until_ms"] == T("01:20")
    assert rec["open"] == [T("01:20"), "aux", "lunch"]
    # window start 01:10: the point in force then is 00:45's, then 01:20's
    assert rec["recent"] == [[T("00:45"), "aux", None], [T("01:20"), "aux", "lunch"]]


def test_open_state_is_added_up_to_now_split_across_intervals() -> None:
    rec = agent_time_record(EXAMPLE, STARTS, D0, D1, T("01:25"))
    per = interval_times(rec, STARTS, D1, T("02:10"))
    # aux/lunch 01:20-02:10 = 10 min in 01:00, 30 in 01:30, 10 in 02:00
    assert sorted(per) == [T("00:00"), T("00:30"), T("01:00"), T("01:30"), T("02:00")]
    assert states(per[T("01:00")]) == {"aux": 1_800_000}
    assert per[T("01:00")].aux_ms == {"unspecified": 1_200_000, "lunch": 600_000}
    assert states(per[T("01:30")]) == {"aux": 1_800_000}
    assert states(per[T("02:00")]) == {"aux": 600_000}
    day = day_time(per)
    # available 10 min; on_contact 30; wrap_up 5; aux 15 + 20 + 50 = 85 min
    assert states(day) == {"available": 600_000, "on_contact": 1_800_000, "wrap_up": 300_000, "aux": 5_100_000}
    assert day.aux_ms == {"unspecified": 2_100_000, "lunch": 3_000_000}
    assert day.handle_ms == 2_100_000
    assert day.available_ms == 600_000
    assert day.occupancy() == 2_100_000 / 2_700_000  # 7/9
    assert day.state_s() == {"available": 600.0, "on_contact": 1800.0, "wrap_up": 300.0, "aux": 5100.0}
    assert day.aux_s() == {"lunch": 3000.0, "unspecified": 2100.0}
    # a reader whose now is before until_ms adds nothing
    assert (
        sum(day_time(interval_times(rec, STARTS, D1, T("01:00"))).state_ms.values())
        == 1_800_000 + 1_800_000 + 1_200_000
    )


def test_rolling_window_from_recent() -> None:
    rec = agent_time_record(EXAMPLE, STARTS, D0, D1, T("01:25"))
    # (01:10, 01:25]: aux without reason 01:10-01:20, lunch 01:20-01:25
    r = rolling_time(rec["recent"], T("01:25"))
    assert states(r) == {"aux": 900_000}
    assert r.aux_ms == {"unspecified": 600_000, "lunch": 300_000}
    assert r.occupancy() is None
    assert logged_in_at(rec["recent"], T("01:25"))


def test_rolling_window_edges() -> None:
    now = T("10:00")
    recent = [
        [now - 20 * MIN, "available", None],
        [now - ROLLING_15M_MS, "on_contact", None],  # exactly at the window start: in force from it
        [now - 5 * MIN, "wrap_up", None],
        [now, "aux", "break"],  # exactly at now: in force, but no time yet
        [now + MIN, "available", None],  # after now: ignored
    ]
    r = rolling_time(recent, now)
    assert states(r) == {"on_contact": 600_000, "wrap_up": 300_000}
    assert r.aux_ms == {}
    assert r.occupancy() == 1.0
    # one ms later the window starts 1 ms into on_contact and aux has run for 1 ms
    r2 = rolling_time(recent[:4], now + 1)
    assert states(r2) == {"on_contact": 599_999, "wrap_up": 300_000, "aux": 1}
    # only points after the window start: the time before the first counts as logged out
    r3 = rolling_time([[now - 3 * MIN, "available", None]], now)
    assert states(r3) == {"available": 180_000}
    assert r3.occupancy() == 0.0
    assert rolling_time(None, now).occupancy() is None
    assert not logged_in_at(None, now)
    assert not logged_in_at([[now + 1, "available", None]], now)
    assert logged_in_at(recent, now)  # aux at now
    assert not logged_in_at([[now - MIN, "available", None], [now, "logged_out", None]], now)


def test_logged_out_is_not_counted() -> None:
    points = tl(
        (T("09:00"), "available", None),
        (T("09:10"), "logged_out", None),
        (T("09:40"), "available", None),
        (T("09:50"), "logged_out", None),
    )
    rec = agent_time_record(points, STARTS, D0, D1, T("12:00"))
    # available 09:00-09:10 (09:00 interval), 09:40-09:50 (09:30 interval); logged_out nowhere
    assert rec["intervals"] == {str(T("09:00")): {"available": 600_000}, str(T("09:30")): {"available": 600_000}}
    assert rec["open"] is None  # logged out at until_ms
    assert rec["until_ms"] == T("09:50")
    per = interval_times(rec, STARTS, D1, T("23:00"))
    assert states(day_time(per)) == {"available": 1_200_000}
    assert day_time(per).occupancy() == 0.0


def test_ties_at_the_same_ms_apply_in_event_id_order() -> None:
    t = T("09:00")
    points = tl((t, "available", None), (t, "on_contact", None), (t + MIN, "logged_out", None))
    rec = agent_time_record(points, STARTS, D0, D1, T("12:00"))
    # the available point lasts 0 ms: on_contact 09:00-09:01 only
    assert rec["intervals"] == {str(T("09:00")): {"on_contact": 60_000}}
    # two points at the last ms: the open state is the later one's (aux/break, not available)
    points2 = tl((t, "available", None), (t, "aux", "break"))
    rec2 = agent_time_record(points2, STARTS, D0, D1, T("12:00"))
    assert rec2["intervals"] == {}
    assert rec2["open"] == [t, "aux", "break"]
    assert day_time(interval_times(rec2, STARTS, D1, t + 5 * MIN)).aux_ms == {"break": 300_000}


def test_across_midnight_each_date_counts_its_own_local_day() -> None:
    points = tl((T("23:50"), "on_contact", None), (T("00:20", 1), "available", None))
    rec_d = agent_time_record(points, STARTS, D0, D1, T("00:30", 1))
    # the last point is after the day: until_ms = the day's end, nothing open
    assert rec_d["intervals"] == {str(T("23:30")): {"on_contact": 600_000}}
    assert rec_d["until_ms"] == D1
    assert rec_d["open"] is None
    assert states(day_time(interval_times(rec_d, STARTS, D1, T("12:00", 1)))) == {"on_contact": 600_000}
    starts1 = day_interval_starts(D + timedelta(days=1), TZ, 30)
    lo1, hi1 = day_bounds_ms(D + timedelta(days=1), TZ)
    rec_d1 = agent_time_record(points, starts1, lo1, hi1, T("00:30", 1))
    # on_contact 00:00-00:20 of D+1; available open from 00:20
    assert rec_d1["intervals"] == {str(T("00:00", 1)): {"on_contact": 1_200_000}}
    assert rec_d1["open"] == [T("00:20", 1), "available", None]
    per = interval_times(rec_d1, starts1, hi1, T("00:50", 1))
    assert states(per[T("00:00", 1)]) == {"on_contact": 1_200_000, "available": 600_000}
    assert states(per[T("00:30", 1)]) == {"available": 1_200_000}
    # a date after the last point: nothing closed, the open state runs through the whole day
    lo2, hi2 = day_bounds_ms(D + timedelta(days=2), TZ)
    starts2 = day_interval_starts(D + timedelta(days=2), TZ, 30)
    rec_d2 = agent_time_record(points, starts2, lo2, hi2, T("00:30", 1))
    assert rec_d2["intervals"] == {}
    assert rec_d2["until_ms"] == lo2
    assert rec_d2["open"] == [T("00:20", 1), "available", None]
    per2 = interval_times(rec_d2, starts2, hi2, T("12:00", 5))  # read long after: to the day's end
    assert len(per2) == 48
    assert states(day_time(per2)) == {"available": 86_400_000}


@pytest.mark.parametrize(("day", "n", "hours"), [(date(2024, 3, 31), 46, 23), (date(2024, 10, 27), 50, 25)])
def test_dst_day(day: date, n: int, hours: int) -> None:
    berlin = ZoneInfo("Europe/Berlin")
    lo, hi = day_bounds_ms(day, berlin)
    starts = day_interval_starts(day, berlin, 30)
    assert len(starts) == n
    # available since the evening before, aux/training from 12:00 to 13:00 local; local noon is
    # 11 h after midnight on the short day (an hour skipped at 02:00), 13 h on the long one
    noon = lo + (12 - (1 if n == 46 else -1)) * 3_600_000  # 11 or 13 elapsed hours to local noon
    points = tl(
        (lo - 2 * 3_600_000, "available", None), (noon, "aux", "training"), (noon + 3_600_000, "available", None)
    )
    rec = agent_time_record(points, starts, lo, hi, noon + 3_600_000)
    per = interval_times(rec, starts, hi, hi + 1)
    assert sorted(per) == starts  # every half hour of the day has time
    assert all(sum(t.state_ms.values()) == 1_800_000 for t in per.values())
    day_t = day_time(per)
    assert states(day_t) == {"available": (hours - 1) * 3_600_000, "aux": 3_600_000}
    assert day_t.aux_ms == {"training": 3_600_000}


def test_split_at() -> None:
    starts = [0, 10, 20, 30]
    assert list(split_at(-5, 25, starts, 40)) == [(0, 10), (10, 10), (20, 5)]
    assert list(split_at(35, 100, starts, 40)) == [(30, 5)]
    assert list(split_at(10, 10, starts, 40)) == []
    assert list(split_at(40, 50, starts, 40)) == []
    assert list(split_at(0, 5, [], 40)) == []


def test_recent_keeps_the_newest_1000_points() -> None:
    base = T("10:00")
    points = tl(*[(base + i * 100, "on_contact" if i % 2 else "available", None) for i in range(1500)])
    rec = agent_time_record(points, STARTS, D0, D1, base + 150_000)
    assert len(rec["recent"]) == 1000
    assert rec["recent"][0] == [base + 500 * 100, "available", None]
    assert rec["recent"][-1] == [base + 1499 * 100, "on_contact", None]


def test_no_points_at_all() -> None:
    rec = agent_time_record([], STARTS, D0, D1, T("10:00"))
    assert rec == {"intervals": {}, "until_ms": D0, "open": None, "recent": []}
    assert interval_times(rec, STARTS, D1, T("10:00")) == {}
    assert interval_times(None, STARTS, D1, T("10:00")) == {}


# --- shift ----------------------------------------------------------------------------------

ACTS = [[T("09:00"), T("12:00"), "work"], [T("12:00"), T("12:30"), "lunch"], [T("12:30"), T("17:00"), "work"]]


@pytest.mark.parametrize(
    ("points", "now", "first", "status"),
    [
        # logged in before the start: first login = the start, on time
        ([("08:55", "available")], "10:00", "09:00", "on_time"),
        # logged in exactly at the start: not late
        ([("09:00", "available")], "10:00", "09:00", "on_time"),
        # logged in at 09:07: late
        ([("09:07", "aux")], "10:00", "09:07", "late"),
        # logged in and out before the start, in again at 09:02: late
        ([("08:00", "available"), ("08:30", "logged_out"), ("09:02", "available")], "10:00", "09:02", "late"),
        # not logged in yet: absent once the shift has started
        ([], "09:00", None, "absent"),
        ([("08:00", "available"), ("08:30", "logged_out")], "10:00", None, "absent"),
        # a login after now does not count yet
        ([("09:07", "available")], "09:05", None, "absent"),
        # a login at or after the shift's end is not a login to it
        ([("17:00", "available")], "18:00", None, "absent"),
    ],
)
def test_shift(points: list[tuple[str, str]], now: str, first: str | None, status: str) -> None:
    timeline = tl(*[(T(h), s, None) for h, s in points])
    shift = shift_record(ACTS, timeline, T(now))
    assert shift == {
        "start_ms": T("09:00"),
        "end_ms": T("17:00"),
        "first_login_ms": None if first is None else T(first),
    }
    assert shift_status(shift, T(now)) == status


def test_shift_before_start_and_without_schedule() -> None:
    shift = shift_record(ACTS, [], T("08:00"))
    assert shift is not None and shift["first_login_ms"] is None
    assert shift_status(shift, T("08:59")) is None  # not started yet
    assert shift_status(shift, T("09:00")) == "absent"
    assert shift_record([], [], T("08:00")) is None
    assert shift_record(None, [], T("08:00")) is None
    assert shift_status(None, T("10:00")) is None


def test_first_login_ties() -> None:
    t = T("09:00")
    # at 09:00 available then logged_out (event id order): logged out at 09:00; in at 09:05
    points = tl((t, "available", None), (t, "logged_out", None), (t + 5 * MIN, "available", None))
    assert first_login_ms(points, t, T("17:00")) == t + 5 * MIN
    points2 = tl((t + MIN, "logged_out", None), (t + MIN, "wrap_up", None))
    assert first_login_ms(points2, t, T("17:00")) == t + MIN


# --- shrinkage and readers ----------------------------------------------------------------


def test_shrinkage_ratio() -> None:
    # 8 h scheduled, 1 h off phone (break, lunch, ...), 15 min aux during work: 4.5 M / 28.8 M
    assert (
        shrinkage_ratio(
            {"scheduled_ms": 28_800_000, "off_phone_scheduled_ms": 3_600_000, "unscheduled_aux_ms": 900_000}
        )
        == 0.15625
    )
    assert shrinkage_ratio({"scheduled_ms": 0, "off_phone_scheduled_ms": 0, "unscheduled_aux_ms": 0}) is None
    assert shrinkage_ratio(None) is None


def test_agent_time_sums_and_ratios() -> None:
    a = AgentTime({"on_contact": 300, "available": 100}, {})
    b = AgentTime({"wrap_up": 100, "available": 500, "aux": 50}, {"unspecified": 50})
    a.add(b)
    # team occupancy from summed ms: (300 + 100) / (300 + 100 + 600), not the mean of 0.75 and 1/6
    assert a.occupancy() == 0.4
    assert a.state_s() == {"available": 0.6, "on_contact": 0.3, "wrap_up": 0.1, "aux": 0.05}
    assert a.aux_s() == {"unspecified": 0.05}
    assert set(AgentTime().state_s()) == set(STATES)
    assert AgentTime().occupancy() is None


def test_readers_ignore_malformed_parts() -> None:
    rec = {
        "intervals": {"x": {"available": 5}, "10": "nope", "20": {"available": 7, "bogus": 3}},
        "until_ms": "?",
        "open": [1, "available"],
    }
    assert {k: states(v) for k, v in interval_times(rec, [0, 10, 20], 30, 100).items()} == {20: {"available": 7}}
    assert adherence_by_interval({"10": [4, 3, 2, 1], "x": [1, 1, 1, 1], "20": [1, 2]}) == {10: [4, 3, 2, 1]}
