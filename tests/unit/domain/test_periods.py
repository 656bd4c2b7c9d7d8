"""Periods of a local date range: days, ISO weeks, calendar months, clipped to the range."""

from __future__ import annotations

from datetime import date

import pytest

from floorwatch.domain.periods import DATE_GROUPS, GROUPS, Period, period_label, periods, range_days, range_label


def test_range_days_inclusive_and_empty_when_reversed() -> None:
    assert range_days(date(2026, 2, 27), date(2026, 3, 2)) == [
        date(2026, 2, 27),
        date(2026, 2, 28),
        date(2026, 3, 1),
        date(2026, 3, 2),
    ]
    assert range_days(date(2026, 3, 2), date(2026, 3, 1)) == []


def test_labels() -> None:
    assert period_label(date(2026, 12, 4), "day") == "2026-12-04"
    assert period_label(date(2026, 12, 4), "week") == "2026-W49"  # Friday of ISO week 49
    assert period_label(date(2026, 12, 4), "month") == "2026-12"
    # ISO week-numbering year: 2027-01-01 (Friday) belongs to 2026's week 53; 2025-12-29 to 2026-W01
    assert period_label(date(2027, 1, 1), "week") == "2026-W53"
    assert period_label(date(2025, 12, 29), "week") == "2026-W01"


def test_weeks_clipped_to_the_range() -> None:
    # Wed 2026-12-02 .. Tue 2026-12-15: Wed-Sun of W49, all of W50, Mon-Tue of W51
    got = periods(date(2026, 12, 2), date(2026, 12, 15), "week")
    assert got == [
        Period("2026-W49", date(2026, 12, 2), date(2026, 12, 6)),
        Period("2026-W50", date(2026, 12, 7), date(2026, 12, 13)),
        Period("2026-W51", date(2026, 12, 14), date(2026, 12, 15)),
    ]
    assert sum(len(list(p.days())) for p in got) == 14


def test_months_across_a_leap_february_and_a_year_end() -> None:
    got = periods(date(2027, 12, 20), date(2028, 3, 1), "month")
    assert [(p.label, p.first, p.last) for p in got] == [
        ("2027-12", date(2027, 12, 20), date(2027, 12, 31)),
        ("2028-01", date(2028, 1, 1), date(2028, 1, 31)),
        ("2028-02", date(2028, 2, 1), date(2028, 2, 29)),
        ("2028-03", date(2028, 3, 1), date(2028, 3, 1)),
    ]


def test_days_and_interval_group_give_one_period_per_date() -> None:
    want = [Period(d.isoformat(), d, d) for d in range_days(date(2026, 3, 28), date(2026, 3, 30))]
    assert periods(date(2026, 3, 28), date(2026, 3, 30), "day") == want
    assert periods(date(2026, 3, 28), date(2026, 3, 30), "interval") == want


def test_last_date_of_the_calendar_does_not_overflow() -> None:
    assert periods(date(9999, 12, 30), date(9999, 12, 31), "month") == [
        Period("9999-12", date(9999, 12, 30), date(9999, 12, 31))
    ]
    assert [p.label for p in periods(date(9999, 12, 30), date(9999, 12, 31), "day")] == ["9999-12-30", "9999-12-31"]
    assert periods(date(9999, 12, 30), date(9999, 12, 31), "week") == [
        Period("9999-W52", date(9999, 12, 30), date(9999, 12, 31))
    ]
    assert periods(date(1, 1, 1), date(1, 1, 2), "week") == [Period("0001-W01", date(1, 1, 1), date(1, 1, 2))]


def test_range_group_is_the_whole_range_as_one_period() -> None:
    assert "range" in GROUPS and "range" in DATE_GROUPS
    # the default 7 days of the reports page: two months and two ISO weeks, one range period
    got = periods(date(2026, 11, 28), date(2026, 12, 4), "range")
    assert got == [Period("2026-11-28/2026-12-04", date(2026, 11, 28), date(2026, 12, 4))]
    assert sum(len(list(p.days())) for p in got) == 7
    assert range_label(date(2026, 12, 4), date(2026, 12, 4)) == "2026-12-04/2026-12-04"
    # a year and a day across a leap February: still one period of 367 days
    (year,) = periods(date(2027, 3, 1), date(2028, 3, 1), "range")
    assert (year.label, len(list(year.days()))) == ("2027-03-01/2028-03-01", 367)
    assert periods(date(2026, 12, 5), date(2026, 12, 4), "range") == []
    assert periods(date(9999, 12, 30), date(9999, 12, 31), "range") == [
        Period("9999-12-30/9999-12-31", date(9999, 12, 30), date(9999, 12, 31))
    ]
    with pytest.raises(ValueError):
        period_label(date(2026, 12, 4), "range")  # its label needs both ends
