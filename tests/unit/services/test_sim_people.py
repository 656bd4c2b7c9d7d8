"""The simulator's truth of agent time, performance, teams, floor and channels, on a scenario
small enough to work out by hand: a chat agent holding two chats at once, a transfer, an aux
with a reason (scheduled and unscheduled), a late login and an absent agent."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

import pytest

from floorwatch.domain.intervals import day_interval_starts, iso, local_date
from floorwatch.events import to_ms
from floorwatch.services.sim_model import AgentSpec, DayPlan, local_ms, simulate
from tests.unit.services.test_simulator import DAY, ScoredSampler, make_settings, plan

pytestmark = pytest.mark.usefixtures("isolated_config")

S = 1000
MIN = 60 * S
SETTINGS = make_settings(
    queues=[
        {"id": "v1", "channel": "voice"},
        {"id": "v2", "channel": "voice"},
        {"id": "ch", "channel": "chat", "sl_formula": "answered_over_answered"},
    ],
    teams=[],
)
T0 = local_ms(DAY, 10 * 60, SETTINGS)  # 10:00 local, the run's start; it lasts an hour
IV0, IV1 = "2025-03-04T10:00:00+08:00", "2025-03-04T10:30:00+08:00"


def t(minutes: float) -> int:
    """Epoch ms ``minutes`` after 10:00."""
    return T0 + round(minutes * MIN)


class PlannedSampler(ScoredSampler):
    """Scripted contacts and scores, and a day plan of its own for each agent."""

    def __init__(self, *args: Any, scores: list[int], plans: dict[str, DayPlan]) -> None:
        super().__init__(*args, scores=scores)
        self.plans = plans

    def day_plan(self, agent: AgentSpec, day: date) -> DayPlan:
        return self.plans[agent.agent_id]


def scenario():  # type: ignore[no-untyped-def]
    agents = [
        AgentSpec("c1", "Cat", "digital", ("ch",), max_concurrent={"chat": 2}),
        AgentSpec("vic", "Vic", "voice", ("v1", "v2")),
        AgentSpec("wes", "Wes", "voice", ("v2",)),
        AgentSpec("abe", "Abe", "voice", ("v1",)),
    ]
    plans = {
        # logged in before the run: available from its start; shift 10:00-10:30, out at 10:05
        "c1": DayPlan(((t(0), t(30), "work"),), ((t(-5), "login", None), (t(5), "logout", None))),
        # logs in 2 min late; takes 2 min of personal aux at 10:10 and the scheduled break
        "vic": DayPlan(
            ((t(0), t(20), "work"), (t(20), t(30), "break"), (t(30), t(60), "work")),
            (
                (t(2), "login", None),
                (t(10), "personal", 2 * MIN),
                (t(20), "aux", "break"),
                (t(30), "available", None),
                (t(40), "logout", None),
            ),
        ),
        "wes": DayPlan(((t(0), t(30), "work"),), ((t(-10), "login", None), (t(30), "logout", None))),
        "abe": DayPlan(((t(0), t(30), "work"),), ((t(30), "logout", None),)),  # never logs in
    }
    sampler = PlannedSampler(
        SETTINGS,
        agents,
        {"ch": [t(0), T0 + 10 * S], "v1": [t(3)]},
        [
            plan(customer="c-a", survey_delay_ms=30 * S),  # chat 1: c1 talks 10:00:02-10:01:02, wraps 10 s
            plan(customer="c-b", talk_ms=100 * S, wrap_ms=20 * S),  # chat 2: c1 10:00:12-10:01:52, wraps 20 s
            plan(customer="c-v", talk_ms=58 * S, transfer_to="v2", resolved=None),  # vic 10:03:02-10:04:00
            plan(survey_delay_ms=30 * S),  # the transfer leg in v2: wes 10:04:02-10:05:02, wraps 10 s
        ],
        scores=[5, 3],  # chat 1 (c1), the leg (wes)
        plans=plans,
    )
    return simulate(SETTINGS, 7, len(agents), T0, 60 * MIN, sampler=sampler)


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    return scenario()


def states(available: int, on_contact: int, wrap_up: int, aux: int) -> dict[str, int]:
    """Agent time in ms from seconds."""
    return {"available": available * S, "on_contact": on_contact * S, "wrap_up": wrap_up * S, "aux": aux * S}


def test_events_show_two_chats_at_once_and_the_transfer(result) -> None:  # type: ignore[no-untyped-def]
    def rel(e: dict[str, Any]) -> float:
        return (to_ms(datetime.fromisoformat(e["ts"])) - T0) / S

    c1 = [
        (rel(e), e["type"], e.get("state") or e["contact_id"].rsplit("-", 1)[1])
        for e in result.events
        if e.get("agent_id") == "c1" and e["type"] not in ("agent.profile", "schedule.published")
    ]
    assert c1 == [
        (0.0, "agent.state", "available"),
        (2.0, "contact.answered", "1"),
        (2.0, "agent.state", "on_contact"),
        (12.0, "contact.answered", "2"),  # the second chat while the first goes on: no new state
        (62.0, "contact.ended", "1"),
        (72.0, "contact.wrapup_ended", "1"),
        (92.0, "survey.completed", "1"),
        (112.0, "contact.ended", "2"),
        (112.0, "agent.state", "wrap_up"),  # no chat in conversation any more
        (132.0, "contact.wrapup_ended", "2"),
        (132.0, "agent.state", "available"),
        (300.0, "agent.state", "logged_out"),
    ]
    profiles = {e["agent_id"]: e for e in result.events if e["type"] == "agent.profile"}
    assert profiles["c1"]["max_concurrent"] == {"chat": 2}
    assert all("max_concurrent" not in profiles[a] for a in ("vic", "wes", "abe"))
    vic = [
        (rel(e), e["state"], e.get("reason"))
        for e in result.events
        if e["type"] == "agent.state" and e["agent_id"] == "vic"
    ]
    assert vic == [
        (0.0, "logged_out", None),  # every agent's state at the start of the run
        (120.0, "available", None),
        (182.0, "on_contact", None),
        (240.0, "wrap_up", None),
        (250.0, "available", None),
        (600.0, "aux", "personal"),
        (720.0, "available", None),
        (1200.0, "aux", "break"),
        (1800.0, "available", None),
        (2400.0, "logged_out", None),
    ]
    abe = [(rel(e), e["state"]) for e in result.events if e["type"] == "agent.state" and e["agent_id"] == "abe"]
    assert abe == [(0.0, "logged_out")]


def test_agent_time_counts_each_second_once(result) -> None:  # type: ignore[no-untyped-def]
    # c1: available 0-2 s and 132-300 s; on a chat 2-112 s (both chats 12-62 s count once); wrap 112-132 s
    # vic: available 120-182, 250-600, 720-1200 (the first interval) and 1800-2400 s (the second)
    # wes: available 0-242 s and 312-1800 s; the leg 242-302 s, wrap 302-312 s
    vic0 = {"state_ms": states(62 + 350 + 480, 58, 10, 120 + 600), "aux_ms": {"break": 600 * S, "personal": 120 * S}}
    vic1 = {"state_ms": states(600, 0, 0, 0), "aux_ms": {}}
    assert result.truth["agent_time"] == {
        "c1": {
            "intervals": {IV0: {"state_ms": states(170, 110, 20, 0), "aux_ms": {}}},
            "days": {"2025-03-04": {"state_ms": states(170, 110, 20, 0), "aux_ms": {}}},
        },
        "vic": {
            "intervals": {IV0: vic0, IV1: vic1},
            "days": {
                "2025-03-04": {"state_ms": states(1492, 58, 10, 720), "aux_ms": {"break": 600 * S, "personal": 120 * S}}
            },
        },
        "wes": {
            "intervals": {IV0: {"state_ms": states(1730, 60, 10, 0), "aux_ms": {}}},
            "days": {"2025-03-04": {"state_ms": states(1730, 60, 10, 0), "aux_ms": {}}},
        },
    }  # abe: never logged in, no agent time


def block(**kw: Any) -> dict[str, Any]:
    """A performance BLOCK: zeros and nulls unless given."""
    out: dict[str, Any] = {
        "handled": 0,
        "talk_s": 0.0,
        "hold_s": 0.0,
        "wrap_s": 0.0,
        "aht_s": None,
        "transfers": 0,
        "occupancy": None,
        "handle_s": 0.0,
        "available_s": 0.0,
        "state_s": {"available": 0.0, "on_contact": 0.0, "wrap_up": 0.0, "aux": 0.0},
        "aux_s": {},
        "adherence": None,
        "conformance": None,
        "fcr": None,
        "csat_avg": None,
        "surveys": 0,
    }
    out.update(kw)
    return out


def seconds(available: float, on_contact: float, wrap_up: float, aux: float) -> dict[str, float]:
    return {"available": available, "on_contact": on_contact, "wrap_up": wrap_up, "aux": aux}


# c1: the two chats' own times (talk 60 + 100 s, wrap 10 + 20 s) against 130 s of agent handle time
C1 = block(
    handled=2,
    talk_s=160.0,
    wrap_s=30.0,
    aht_s=95.0,
    occupancy=130 / 300,
    handle_s=130.0,
    available_s=170.0,
    state_s=seconds(170.0, 110.0, 20.0, 0.0),
    adherence=300 / 1800,  # working 10:00-10:05 of the 30 scheduled minutes
    conformance=300 / 1800,
    csat_avg=5.0,
    surveys=1,
)
C1_DAY = {**C1, "fcr": 1.0}  # both chats answered, resolved, no customer came back
VIC_CONTACT = {"handled": 1, "talk_s": 58.0, "wrap_s": 10.0, "aht_s": 68.0, "transfers": 1}
VIC0 = block(
    **VIC_CONTACT,
    occupancy=68 / (68 + 892),
    handle_s=68.0,
    available_s=892.0,
    state_s=seconds(892.0, 58.0, 10.0, 720.0),
    aux_s={"break": 600.0, "personal": 120.0},
    # work 10:00-10:20 (in adherence 10:02-10:10 and 10:12-10:20) and the break in aux/break
    adherence=(960 + 600) / 1800,
    conformance=960 / 1200,
)
VIC1 = block(
    occupancy=0.0,
    available_s=600.0,
    state_s=seconds(600.0, 0.0, 0.0, 0.0),
    adherence=600 / 1800,
    conformance=600 / 1800,
)
VIC_DAY = block(
    **VIC_CONTACT,
    occupancy=68 / 1560,
    handle_s=68.0,
    available_s=1492.0,
    state_s=seconds(1492.0, 58.0, 10.0, 720.0),
    aux_s={"break": 600.0, "personal": 120.0},
    adherence=2160 / 3600,
    conformance=1560 / 3000,
    fcr=1.0,  # the customer contact vic answered; the leg's wrap-up says resolved
)
WES = block(
    handled=1,
    talk_s=60.0,
    wrap_s=10.0,
    aht_s=70.0,
    occupancy=70 / 1800,
    handle_s=70.0,
    available_s=1730.0,
    state_s=seconds(1730.0, 60.0, 10.0, 0.0),
    adherence=1.0,
    conformance=1.0,
    csat_avg=3.0,
    surveys=1,
)
ABE = block(adherence=0.0, conformance=0.0)


def test_performance_per_agent_and_interval(result) -> None:  # type: ignore[no-untyped-def]
    perf = result.truth["performance"]
    assert set(perf) == {"c1", "vic", "wes", "abe"} and all(set(p) == {"2025-03-04"} for p in perf.values())
    c1, vic, wes, abe = (perf[a]["2025-03-04"] for a in ("c1", "vic", "wes", "abe"))
    assert (c1["name"], c1["team"], c1["max_concurrent"]) == ("Cat", "digital", {"chat": 2})
    assert (vic["team"], vic["max_concurrent"]) == ("voice", {})
    assert c1["day"] == C1_DAY and c1["intervals"] == {IV0: C1}
    assert vic["day"] == VIC_DAY and vic["intervals"] == {IV0: VIC0, IV1: VIC1}
    assert wes["day"] == WES and wes["intervals"] == {IV0: WES}
    assert abe["day"] == ABE and abe["intervals"] == {IV0: ABE}  # scheduled, out of adherence all along


def test_shrinkage_and_shifts(result) -> None:  # type: ignore[no-untyped-def]
    perf = result.truth["performance"]
    facts = {
        a: (p["2025-03-04"]["shrinkage"], p["2025-03-04"]["shift"], p["2025-03-04"]["shift_status"])
        for a, p in perf.items()
    }
    work30 = {"scheduled_ms": 1800 * S, "off_phone_scheduled_ms": 0, "unscheduled_aux_ms": 0}
    assert facts == {
        "c1": (work30, {"start_ms": t(0), "end_ms": t(30), "first_login_ms": t(0)}, "on_time"),
        "vic": (
            {"scheduled_ms": 3600 * S, "off_phone_scheduled_ms": 600 * S, "unscheduled_aux_ms": 120 * S},
            {"start_ms": t(0), "end_ms": t(60), "first_login_ms": t(2)},
            "late",
        ),
        "wes": (work30, {"start_ms": t(0), "end_ms": t(30), "first_login_ms": t(0)}, "on_time"),
        "abe": (work30, {"start_ms": t(0), "end_ms": t(30), "first_login_ms": None}, "absent"),
    }


def test_teams_and_floor_sum_ms_and_counts_then_divide(result) -> None:  # type: ignore[no-untyped-def]
    teams, floor = result.truth["teams"], result.truth["floor"]
    assert set(teams) == {"digital", "voice"} and set(floor) == {"2025-03-04"}
    digital = teams["digital"]["2025-03-04"]
    assert digital == {
        "agents": 1,
        "day": {**C1_DAY, "shrinkage": 0.0, "absent": 0, "late_logins": 0, "scheduled_s": 1800.0},
        "intervals": {IV0: C1},
    }
    voice = teams["voice"]["2025-03-04"]
    assert voice["agents"] == 3
    assert voice["day"] == block(
        handled=2,
        talk_s=118.0,
        wrap_s=20.0,
        aht_s=69.0,
        transfers=1,
        occupancy=(68 + 70) / (68 + 70 + 1492 + 1730),
        handle_s=138.0,
        available_s=3222.0,
        state_s=seconds(3222.0, 118.0, 20.0, 720.0),
        aux_s={"break": 600.0, "personal": 120.0},
        adherence=(2160 + 1800) / (3600 + 1800 + 1800),
        conformance=(1560 + 1800) / (3000 + 1800 + 1800),
        fcr=1.0,
        csat_avg=3.0,
        surveys=1,
    ) | {"shrinkage": (600 + 120) / 7200, "absent": 1, "late_logins": 1, "scheduled_s": 7200.0}
    assert voice["intervals"][IV1] == VIC1
    assert voice["intervals"][IV0]["occupancy"] == (68 + 70) / (68 + 70 + 892 + 1730)
    assert voice["intervals"][IV0]["adherence"] == (1560 + 1800 + 0) / (1800 * 3)
    day = floor["2025-03-04"]
    assert (day["agents"], day["day"]["absent"], day["day"]["late_logins"]) == (4, 1, 1)
    assert day["day"]["occupancy"] == (130 + 138) / (130 + 138 + 170 + 3222)
    assert day["day"]["shrinkage"] == 720 / 9000 and day["day"]["scheduled_s"] == 9000.0
    assert (day["day"]["handled"], day["day"]["aht_s"], day["day"]["fcr"]) == (4, (190 + 138) / 4, 1.0)
    assert day["intervals"][IV1] == VIC1


def test_channels_and_transfers(result) -> None:  # type: ignore[no-untyped-def]
    channels = result.truth["channels"]
    assert {c: row["queues"] for c, row in channels.items()} == {"voice": ["v1", "v2"], "chat": ["ch"]}
    voice, chat = channels["voice"]["days"]["2025-03-04"], channels["chat"]["days"]["2025-03-04"]
    assert (voice["offered"], voice["handled"], voice["transferred"], voice["transfer_rate"]) == (2, 2, 1, 0.5)
    assert (voice["sl_formula"], voice["mixed_rules"]) == ("answered_over_offered", False)
    assert (chat["offered"], chat["handled"], chat["transferred"], chat["transfer_rate"]) == (2, 2, 0, 0.0)
    assert (chat["sl_formula"], chat["aht_s"]) == ("answered_over_answered", 95.0)
    assert channels["voice"]["intervals"] == {IV0: voice}
    queues = result.truth["intervals"]
    assert (queues["v1"][IV0]["transferred"], queues["v2"][IV0]["transferred"]) == (1, 0)


def test_mixed_formulas_fall_back_to_the_defaults() -> None:
    settings = make_settings(
        queues=[
            {"id": "a", "channel": "voice", "sl_formula": "answered_over_answered"},
            {"id": "b", "channel": "voice"},
        ],
        teams=[],
    )
    t0 = local_ms(DAY, 10 * 60, settings)
    sampler = PlannedSampler(
        settings,
        [AgentSpec("x", "X", "t", ("a", "b"))],
        {"a": [t0], "b": [t0 + 5 * MIN]},
        [plan(customer="p"), plan(customer="q")],
        scores=[],
        plans={"x": DayPlan(((t0, t0 + 60 * MIN, "work"),), ((t0 - MIN, "login", None),))},
    )
    truth = simulate(settings, 7, 1, t0, 30 * MIN, sampler=sampler).truth
    day = truth["channels"]["voice"]["days"]["2025-03-04"]
    assert (day["sl_formula"], day["mixed_rules"], day["offered"]) == (
        settings.queue_defaults.sl_formula,
        True,
        2,
    )
    # the agent never logs out: its last state lasts until the end of the local day of the run's end
    per_day = truth["agent_time"]["x"]["days"]["2025-03-04"]["state_ms"]
    assert sum(per_day.values()) == local_ms(date(2025, 3, 5), 0, settings) - t0


# -- a recount from the events alone ------------------------------------------------------------


def recount_people(events: list[dict[str, Any]], settings: Any, until_ms: int) -> dict[str, Any]:
    """Agent time per agent and interval, contact rows per agent and date, and shift facts, by
    brute force over the event list (intervals from ``day_interval_starts``)."""
    tz, minutes = settings.tz, settings.interval_minutes

    def ms(text: str) -> int:
        return to_ms(datetime.fromisoformat(text))

    points: dict[str, list[tuple[int, str, str | None]]] = defaultdict(list)
    for e in events:
        if e["type"] == "agent.state":
            points[e["agent_id"]].append((ms(e["ts"]), e["state"], e.get("reason")))
    starts = sorted({s for d in {DAY, date(2025, 3, 5)} for s in day_interval_starts(d, tz, minutes)})
    agent_time: dict[str, dict[str, Any]] = {}
    for agent, pts in points.items():
        ivs: dict[str, Any] = {}
        for i, (t0, state, reason) in enumerate(pts):
            t1 = pts[i + 1][0] if i + 1 < len(pts) else until_ms
            if state == "logged_out":
                continue
            for k, s in enumerate(starts):
                e = starts[k + 1] if k + 1 < len(starts) else s + minutes * MIN
                x = min(t1, e) - max(t0, s)
                if x > 0:
                    row = ivs.setdefault(iso(s, tz), {"state_ms": dict.fromkeys(AGENTS_STATES, 0), "aux_ms": {}})
                    row["state_ms"][state] += x
                    if state == "aux":
                        row["aux_ms"][reason or "unspecified"] = row["aux_ms"].get(reason or "unspecified", 0) + x
        if ivs:
            agent_time[agent] = ivs
    by_contact: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    holds: dict[str, list[int]] = defaultdict(list)
    for e in events:
        if "contact_id" in e:
            by_contact[e["contact_id"]].setdefault(e["type"], e)
            if e["type"].startswith("contact.hold"):
                holds[e["contact_id"]].append(ms(e["ts"]))
    handle: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for cid, kinds in by_contact.items():
        answered = kinds.get("contact.answered")
        end = kinds.get("contact.ended") or kinds.get("contact.transferred")
        if answered is None or end is None:
            continue
        day = local_date(ms(kinds["contact.offered"]["ts"]), tz).isoformat()
        h = holds[cid]
        hold = sum(b - a for a, b in zip(h[::2], h[1::2], strict=False))
        row = handle[(answered["agent_id"], day)]
        row[0] += 1
        row[1] += ms(end["ts"]) - ms(answered["ts"]) - hold
        row[2] += hold
        if "contact.wrapup_ended" in kinds:
            row[3] += ms(kinds["contact.wrapup_ended"]["ts"]) - ms(end["ts"])
        row[4] += end["type"] == "contact.transferred"
    shifts: dict[tuple[str, str], Any] = {}
    for e in events:
        if e["type"] == "schedule.published" and e["date"] <= local_date(until_ms - 1, tz).isoformat():
            start, end_ = ms(e["activities"][0]["start"]), ms(e["activities"][-1]["end"])
            pts = points[e["agent_id"]]
            first = None
            for i, (t0, state, _) in enumerate(pts):
                t1 = pts[i + 1][0] if i + 1 < len(pts) else until_ms
                if state != "logged_out" and t1 > start and t0 < end_ and t1 > t0:
                    first = max(t0, start)
                    break
            shifts[(e["agent_id"], e["date"])] = {"start_ms": start, "end_ms": end_, "first_login_ms": first}
    return {"agent_time": agent_time, "handle": dict(handle), "shifts": shifts}


AGENTS_STATES = ("available", "on_contact", "wrap_up", "aux")


def test_a_peak_run_equals_a_recount_from_the_events() -> None:
    settings = make_settings()
    start = local_ms(DAY, 10 * 60, settings)
    result = simulate(settings, 1, 40, start, 2 * 60 * MIN)
    until = local_ms(date(2025, 3, 5), 0, settings)
    got = recount_people(result.events, settings, until)
    truth = result.truth
    assert {a: v["intervals"] for a, v in truth["agent_time"].items()} == got["agent_time"]
    perf = truth["performance"]
    rows = {
        (a, d): [p["day"]["handled"], round(p["day"]["talk_s"] * S), round(p["day"]["hold_s"] * S)]
        + [round(p["day"]["wrap_s"] * S), p["day"]["transfers"]]
        for a, days in perf.items()
        for d, p in days.items()
        if p["day"]["handled"]
    }
    assert rows == got["handle"] and len(rows) >= 20
    shifts = {(a, d): p["shift"] for a, days in perf.items() for d, p in days.items() if p["shift"] is not None}
    assert shifts == got["shifts"] and len(shifts) == 40
    statuses = [p["shift_status"] for days in perf.values() for p in days.values() if p["shift_status"]]
    assert {"late", "on_time"} <= set(statuses)
