"""The hand-built floor of ``people_day`` (2024-03-04 and 2024-03-05, now = 2024-03-05 10:17:30
Asia/Shanghai) with more dates, for the range tests. The range 2024-02-28 (Wednesday) ..
2024-03-05 (Tuesday) crosses a month end (February 2024 has 29 days) and an ISO week end
(Sunday 2024-03-03): weeks 2024-W09 = 02-28..03-03 (clipped), 2024-W10 = 03-04..03-05;
months 2024-02 = 02-28..02-29, 2024-03 = 03-01..03-05. 02-28, 03-02 and 03-03 have nothing.

Added (seconds; adherence as [scheduled, in, work scheduled, worked]):

a1 (north) 2024-02-29: 10:00 available 600, on_contact 1200; adherence [1800, 1500, 1800, 1200];
   shrinkage 300 off-phone of 1800; shift from 10:00, logged in 10:00 (on time);
   contacts 10:00 [2 handled, talk 300, hold 0, wrap 60, 0 transferred, 1 survey, score 5, 1 sat];
   quality fcr 2 of 2, 1 survey score 5 satisfied; exceptions: one valid, one without a kind
a1 (north) 2024-03-01: 09:00 available 900, on_contact 900; adherence [3600, 3000, 3600, 2400];
   shrinkage 0 of 3600; no shift; contacts 09:00 [1, 100, 20, 30, 1, 0, 0, 0]; fcr 0 of 1
a2 (north) 2024-03-01: 09:00 available 1800; adherence [3600, 1800, 3600, 1800]; shrinkage
   600 unscheduled aux of 3600; shift from 09:00, logged in 09:10 (late)
a2 2024-03-04: quality only: 1 survey score 3, not satisfied
a3 (south) 2024-02-29: adherence [1800, 0, 1800, 0]; shrinkage 0 of 1800; shift 09:00-17:00,
   never logged in (absent)

From people_day: a1 2024-03-04 available 1200, on_contact 600 (open to the day end), adherence
all 0; a1 2024-03-05: 4 handled (talk 700, hold 60, wrap 170, 1 transfer), available 420,
on_contact 1830, wrap_up 300, aux 300 (meeting), adherence [2850, 2550, 2550, 2250], fcr 2 of 3,
2 surveys score 9. The agents of 2024-03-05: a1, a2, a3, a7 (quality only), a9 (no team).

a1 by week:
  W09: handled 3, talk 400, hold 20, wrap 90 -> aht 510/3 = 170; 1 transfer; available 1500,
       on_contact 2100 -> occupancy 2100/3600; adherence 4500/5400, conformance 3600/5400;
       fcr 2/3; 1 survey, csat 5.0
  W10: handled 4, aht 232.5, 1 transfer; available 1620, on_contact 2430, wrap_up 300, aux 300
       -> occupancy 2730/4350; adherence 2550/2850, conformance 2250/2550; fcr 2/3; csat 4.5
  total: handled 7, aht 1440/7, 2 transfers; occupancy 4830/7950; adherence 7050/8250,
       conformance 5850/7950; fcr 4/6; 3 surveys, score 14 -> csat 14/3
"""

from __future__ import annotations

from datetime import date

from floorwatch.domain.periods import Period
from floorwatch.readmodel.view import View
from tests.unit.readmodel.people_day import build_view, figures, put_adherence, put_handle, put_quality
from tests.unit.shanghai_day import local_ms

FIRST = date(2024, 2, 28)
LAST = date(2024, 3, 5)
FEB29 = "2024-02-29"
MAR01 = "2024-03-01"
MAR04 = "2024-03-04"
W09 = Period("2024-W09", FIRST, date(2024, 3, 3))
W10 = Period("2024-W10", date(2024, 3, 4), LAST)


def at(day: str, hhmm: str) -> int:
    return local_ms(f"{day}T{hhmm}:00")


def build_range_view() -> View:
    v = build_view()
    put_adherence(
        v,
        "a1",
        FEB29,
        "north",
        **{
            **figures(1800.0, 1500.0, 1800.0, 1200.0),
            "exceptions": [
                {
                    "kind": "unscheduled_aux",
                    "start_ms": at(FEB29, "10:10"),
                    "end_ms": at(FEB29, "10:15"),
                    "scheduled": "work",
                    "actual": "aux/break",
                },
                {"start_ms": at(FEB29, "10:20")},  # no kind: not an exception
            ],
        },
        agent_time={
            "intervals": {str(at(FEB29, "10:00")): {"available": 600_000, "on_contact": 1_200_000}},
            "until_ms": at(FEB29, "10:30"),
            "open": None,
            "recent": [],
        },
        adherence_intervals={str(at(FEB29, "10:00")): [1_800_000, 1_500_000, 1_800_000, 1_200_000]},
        shrinkage={"scheduled_ms": 1_800_000, "off_phone_scheduled_ms": 300_000, "unscheduled_aux_ms": 0},
        shift={"start_ms": at(FEB29, "10:00"), "end_ms": at(FEB29, "18:00"), "first_login_ms": at(FEB29, "10:00")},
    )
    put_handle(v, "a1", FEB29, 0, {at(FEB29, "10:00"): [2, 300_000, 0, 60_000, 0, 1, 5, 1]})
    put_quality(v, "a1", FEB29, fcr_eligible=2, fcr_resolved=2, surveys=1, score_sum=5, satisfied=1)
    put_adherence(
        v,
        "a1",
        MAR01,
        "north",
        **figures(3600.0, 3000.0, 3600.0, 2400.0),
        agent_time={
            "intervals": {
                str(at(MAR01, "09:00")): {"available": 900_000, "on_contact": 900_000},
            },
            "until_ms": at(MAR01, "09:30"),
            "open": None,
            "recent": [],
        },
        adherence_intervals={
            str(at(MAR01, "09:00")): [1_800_000, 1_500_000, 1_800_000, 1_200_000],
            str(at(MAR01, "09:30")): [1_800_000, 1_500_000, 1_800_000, 1_200_000],
        },
        shrinkage={"scheduled_ms": 3_600_000, "off_phone_scheduled_ms": 0, "unscheduled_aux_ms": 0},
        shift=None,
    )
    put_handle(v, "a1", MAR01, 1, {at(MAR01, "09:00"): [1, 100_000, 20_000, 30_000, 1, 0, 0, 0]})
    put_quality(v, "a1", MAR01, fcr_eligible=1, fcr_resolved=0)
    put_adherence(
        v,
        "a2",
        MAR01,
        "north",
        **figures(3600.0, 1800.0, 3600.0, 1800.0),
        agent_time={
            "intervals": {str(at(MAR01, "09:00")): {"available": 1_800_000}},
            "until_ms": at(MAR01, "09:30"),
            "open": None,
            "recent": [],
        },
        shrinkage={"scheduled_ms": 3_600_000, "off_phone_scheduled_ms": 0, "unscheduled_aux_ms": 600_000},
        shift={"start_ms": at(MAR01, "09:00"), "end_ms": at(MAR01, "17:00"), "first_login_ms": at(MAR01, "09:10")},
    )
    put_quality(v, "a2", MAR04, surveys=1, score_sum=3, satisfied=0)
    put_adherence(
        v,
        "a3",
        FEB29,
        "south",
        **figures(1800.0, 0.0, 1800.0, 0.0),
        agent_time={"intervals": {}, "until_ms": at(FEB29, "00:00"), "open": None, "recent": []},
        shrinkage={"scheduled_ms": 1_800_000, "off_phone_scheduled_ms": 0, "unscheduled_aux_ms": 0},
        shift={"start_ms": at(FEB29, "09:00"), "end_ms": at(FEB29, "17:00"), "first_login_ms": None},
    )
    assert v.bad_records == 0
    return v
