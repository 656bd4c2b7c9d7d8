"""A hand-built floor for the agent performance, teams and channels tests (Asia/Shanghai,
30-minute intervals, now = 2024-03-05 10:17:30 local; records in the shapes of
floorwatch.records / the fw.adherence ``agent_time`` keys).

Agents (fw.agent-status: a1 "Ann" and a2 "Bob" in team north, a3 "Cy" in team south; a9 has no
status and its record no team):

a1 timeline: 09:30 aux "meeting", 09:35 available, 09:40 on_contact, 09:55 wrap_up, 10:00
   on_contact, 10:05 available, 10:07 on_contact (still open; record until 10:07)
   09:30: aux 300 (meeting), available 300, on_contact 900, wrap_up 300   -> occupancy 1200/1500
   10:00: on_contact 300 + open 630 (10:07 -> 10:17:30) = 930, available 120 -> 930/1050
   day:   on_contact 1830, wrap_up 300, available 420, aux 300              -> 2130/2550
   rolling (10:02:30, 10:17:30]: on_contact 150 + 630 = 780, available 120  -> 780/900
   adherence per interval [sched, in, work sched, worked] s: 09:30 [1800, 1500, 1500, 1200],
   10:00 [1050, 1050, 1050, 1050]; day 2850, 2550, 2550, 2250; shrinkage 300 off-phone of 2850;
   shift from 09:30, first login 09:30 (on time)
   contacts (agent_handle) p0 09:30 [2, 400, 60, 100 s, 1 transferred, 1 survey, score 4, 1 sat]
                           p1 09:30 [1, 100, 0, 20 s, 0, 1, 2, 0]; 10:00 [1, 200, 0, 50 s, 0, 0, 0, 0]
   09:30: 3 handled, talk 500, hold 60, wrap 120 s, aht 680/3 s, 1 transfer, csat 6/2 = 3.0
   10:00: 1 handled, aht 250 s;  day: 4 handled, aht 930/4 = 232.5 s, 1 transfer
   quality: fcr 2 of 3, csat 2 surveys score 9 (4.5)
a2 timeline: 09:45 available, 10:10 on_contact (open; record until 10:10)
   09:30: available 900; 10:00: available 600, on_contact 450 (open); rolling: available 450,
   on_contact 450; adherence 09:30 [1800, 900, 1800, 900], 10:00 [1050]*4, day 2850, 1950, 2850,
   1950; shrinkage 0 of 2850; shift from 09:30, first login 09:45 (late)
a3 no state yet; scheduled from 09:00 (absent): adherence 09:00 [1800, 0, 1800, 0], 09:30
   [1800, 0, 1800, 0], 10:00 [1050, 0, 1050, 0]; day 4650, 0, 4650, 0; shrinkage 0 of 4650
a9 10:00 aux "lunch" (open; record until 10:00): 10:00 aux 1050; rolling aux 900; no schedule
a1 on 2024-03-04: 23:30 available 1200 s, 23:50 on_contact open (until the day's end: 600 s)
a7 only an FCR partial on 2024-03-05 (eligible 1, resolved 1)
a2 has an agent_handle row of zeros at 09:00 (no interval for it)
"""

from __future__ import annotations

from typing import Any

import orjson

from floorwatch import records, topics
from floorwatch.config import Settings
from floorwatch.domain.queue_metrics import Counts
from floorwatch.readmodel.view import View
from tests.unit.settings_factory import VIEWER_SECRET, floor_settings, token
from tests.unit.shanghai_day import HALF_HOUR, I_0930, I_1000, I_YESTERDAY, NOW, RULES, local_ms

D = "2024-03-05"
YESTERDAY = "2024-03-04"
I_0900 = local_ms("2024-03-05T09:00:00")
DAY_START = local_ms("2024-03-05T00:00:00")
MIN = 60_000


def t(hhmm: str) -> int:
    return local_ms(f"{D}T{hhmm}:00")


def make_settings() -> Settings:
    return floor_settings(
        queues=[
            {"id": "support", "name": "Support", "channel": "voice", "sl_threshold_s": 20, "sl_target": 0.8},
            {"id": "sales", "name": "Sales", "channel": "chat", "sl_formula": "answered_over_answered"},
        ],
        teams=[
            {"id": "north", "name": "North", "targets": {"occupancy": 0.85, "aht_s": 300}},
            {"id": "west"},
        ],
        tokens=[token("wb", VIEWER_SECRET, "viewer"), token("feed", "ingest-secret", "ingest")],
    )


def put_status(view: View, agent_id: str, name: str, team: str, state: str, **extra: Any) -> None:
    record = {
        "agent_id": agent_id,
        "name": name,
        "team": team,
        "queues": ["support"],
        "state": state,
        "reason": None,
        "since_ms": NOW - 60_000,
        "updated_ms": NOW - 60_000,
        **extra,
    }
    assert view.apply(topics.AGENT_STATUS, agent_id.encode(), orjson.dumps(record))


def put_adherence(view: View, agent_id: str, day: str, team: str | None, **fields: Any) -> None:
    record = {"agent_id": agent_id, "team": team, "date": day, "updated_ms": NOW - 5_000, **fields}
    assert view.apply(topics.ADHERENCE, f"{agent_id}|{day}".encode(), orjson.dumps(record))


def figures(scheduled_s: float, in_s: float, work_s: float, worked_s: float) -> dict[str, Any]:
    return {
        "scheduled_s": scheduled_s,
        "in_adherence_s": in_s,
        "adherence": in_s / scheduled_s if scheduled_s else None,
        "work_scheduled_s": work_s,
        "worked_s": worked_s,
        "conformance": worked_s / work_s if work_s else None,
        "exceptions": [],
    }


def put_handle(view: View, agent_id: str, day: str, partition: int, rows: dict[int, list[int]]) -> None:
    key = records.agent_day_key("ah", agent_id, day, partition)
    record = {
        "kind": "agent_handle",
        "agent_id": agent_id,
        "date": day,
        "partition": partition,
        "updated_ms": NOW - 1_000,
        "intervals": {str(k): v for k, v in rows.items()},
    }
    assert view.apply(topics.QUALITY_STATS, key.encode(), orjson.dumps(record))


def put_quality(view: View, agent_id: str, day: str, **counts: int) -> None:
    if "fcr_eligible" in counts:
        record = {"kind": "fcr_agent", "agent_id": agent_id, "date": day, "partition": 0, "updated_ms": NOW}
        record.update({k: counts[k] for k in ("fcr_eligible", "fcr_resolved")})
        key = records.agent_day_key(records.FCR_AGENT_KEY, agent_id, day, 0)
        assert view.apply(topics.QUALITY_STATS, key.encode(), orjson.dumps(record))
    if "surveys" in counts:
        record = {"kind": "csat_agent", "agent_id": agent_id, "date": day, "partition": 0, "updated_ms": NOW}
        record.update({k: counts[k] for k in ("surveys", "score_sum", "satisfied")})
        key = records.agent_day_key(records.CSAT_AGENT_KEY, agent_id, day, 0)
        assert view.apply(topics.QUALITY_STATS, key.encode(), orjson.dumps(record))


def put_interval(
    view: View, queue: str, start: int, partition: int, channel: str | None, formula: str, **counts: int
) -> None:
    record: dict[str, Any] = {
        "queue": queue,
        "start_ms": start,
        "end_ms": start + HALF_HOUR,
        "partition": partition,
        "counts": Counts(**counts).as_dict(),
        "rules": {**RULES, "sl_formula": formula},
        "mixed_rules": False,
        "updated_ms": start + 60_000,
    }
    if channel is not None:
        record["channel"] = channel
    assert view.apply(
        topics.INTERVAL_STATS, records.interval_key(queue, start, partition).encode(), orjson.dumps(record)
    )


def build_view(v: View | None = None, *, contacts: bool = True) -> View:
    """The floor above (``contacts=False``: without the agent_handle rows)."""
    v = View() if v is None else v
    put_status(v, "a1", "Ann", "north", "on_contact", max_concurrent={"chat": 2})
    put_status(v, "a2", "Bob", "north", "on_contact")
    put_status(v, "a3", "Cy", "south", "logged_out")
    put_adherence(
        v,
        "a1",
        D,
        "north",
        **figures(2850.0, 2550.0, 2550.0, 2250.0),
        agent_time={
            "intervals": {
                str(I_0930): {
                    "available": 300_000,
                    "on_contact": 900_000,
                    "wrap_up": 300_000,
                    "aux": 300_000,
                    "aux_reasons": {"meeting": 300_000},
                },
                str(I_1000): {"available": 120_000, "on_contact": 300_000},
            },
            "until_ms": t("10:07"),
            "open": [t("10:07"), "on_contact", None],
            "recent": [
                [t("09:40"), "on_contact", None],
                [t("09:55"), "wrap_up", None],
                [t("10:00"), "on_contact", None],
                [t("10:05"), "available", None],
                [t("10:07"), "on_contact", None],
            ],
        },
        adherence_intervals={
            str(I_0930): [1_800_000, 1_500_000, 1_500_000, 1_200_000],
            str(I_1000): [1_050_000, 1_050_000, 1_050_000, 1_050_000],
        },
        shrinkage={"scheduled_ms": 2_850_000, "off_phone_scheduled_ms": 300_000, "unscheduled_aux_ms": 0},
        shift={"start_ms": I_0930, "end_ms": t("18:00"), "first_login_ms": I_0930},
    )
    put_adherence(
        v,
        "a2",
        D,
        "north",
        **figures(2850.0, 1950.0, 2850.0, 1950.0),
        agent_time={
            "intervals": {str(I_0930): {"available": 900_000}, str(I_1000): {"available": 600_000}},
            "until_ms": t("10:10"),
            "open": [t("10:10"), "on_contact", None],
            "recent": [[t("09:45"), "available", None], [t("10:10"), "on_contact", None]],
        },
        adherence_intervals={
            str(I_0930): [1_800_000, 900_000, 1_800_000, 900_000],
            str(I_1000): [1_050_000, 1_050_000, 1_050_000, 1_050_000],
        },
        shrinkage={"scheduled_ms": 2_850_000, "off_phone_scheduled_ms": 0, "unscheduled_aux_ms": 0},
        shift={"start_ms": I_0930, "end_ms": t("18:00"), "first_login_ms": t("09:45")},
    )
    put_adherence(
        v,
        "a3",
        D,
        "south",
        **figures(4650.0, 0.0, 4650.0, 0.0),
        agent_time={"intervals": {}, "until_ms": DAY_START, "open": None, "recent": []},
        adherence_intervals={
            str(I_0900): [1_800_000, 0, 1_800_000, 0],
            str(I_0930): [1_800_000, 0, 1_800_000, 0],
            str(I_1000): [1_050_000, 0, 1_050_000, 0],
        },
        shrinkage={"scheduled_ms": 4_650_000, "off_phone_scheduled_ms": 0, "unscheduled_aux_ms": 0},
        shift={"start_ms": I_0900, "end_ms": t("17:00"), "first_login_ms": None},
    )
    put_adherence(
        v,
        "a9",
        D,
        None,
        **figures(0.0, 0.0, 0.0, 0.0),
        agent_time={
            "intervals": {},
            "until_ms": I_1000,
            "open": [I_1000, "aux", "lunch"],
            "recent": [[I_1000, "aux", "lunch"]],
        },
        shift=None,
    )
    put_adherence(
        v,
        "a1",
        YESTERDAY,
        "north",
        **figures(0.0, 0.0, 0.0, 0.0),
        agent_time={
            "intervals": {str(I_YESTERDAY): {"available": 1_200_000}},
            "until_ms": I_YESTERDAY + 20 * MIN,
            "open": [I_YESTERDAY + 20 * MIN, "on_contact", None],
            "recent": [[I_YESTERDAY, "available", None], [I_YESTERDAY + 20 * MIN, "on_contact", None]],
        },
        shift=None,
    )
    if contacts:
        put_handles(v)
    put_quality(v, "a1", D, fcr_eligible=3, fcr_resolved=2, surveys=2, score_sum=9, satisfied=2)
    put_quality(v, "a7", D, fcr_eligible=1, fcr_resolved=1)
    assert v.bad_records == 0
    return v


def put_handles(v: View) -> None:
    put_handle(v, "a2", D, 0, {I_0900: [0] * 8})  # an empty row makes no interval
    put_handle(v, "a1", D, 0, {I_0930: [2, 400_000, 60_000, 100_000, 1, 1, 4, 1]})
    put_handle(
        v, "a1", D, 1, {I_0930: [1, 100_000, 0, 20_000, 0, 1, 2, 0], I_1000: [1, 200_000, 0, 50_000, 0, 0, 0, 0]}
    )
