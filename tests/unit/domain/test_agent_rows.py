"""QueueAggregator.agent_rows: per agent, one row per offered interval of [handled, talk_ms,
hold_ms, wrap_ms, transferred, surveys, score_sum, satisfied] (read per local date of the offer
with agent_day_rows), kept incrementally; hand-computed values, and a rebuild from the final
facts equals the incremental rows, which equal a plain recount."""

from __future__ import annotations

import random
from array import array
from typing import Any

from floorwatch.domain.aggregate import AGENT_ROW_FIELDS, QueueAggregator
from floorwatch.domain.contacts import contribution
from floorwatch.domain.intervals import local_date
from tests.unit.domain.test_aggregate import SHANGHAI, Floor, local_ms

D1 = "2024-05-01 "
I0900 = local_ms(D1 + "09:00:00")
I0930 = local_ms(D1 + "09:30:00")


def agent_days(agg: QueueAggregator) -> dict[tuple[str, str], dict[int, list[int]]]:
    """Every (agent, date) with rows, through ``agent_day_rows``, from the dates the agents' rows
    start on (read with local_date here)."""
    days = {
        (agent, local_date(rows[i], SHANGHAI).isoformat())
        for agent, rows in agg.agent_rows.items()
        for i in range(0, len(rows), 9)
    }
    return {(agent, day): agg.agent_day_rows(agent, day) for agent, day in sorted(days)}


def rows(f: Floor) -> dict[tuple[str, str], dict[int, list[int]]]:
    return agent_days(f.agg)


def test_row_fields_are_the_contract_order() -> None:
    assert AGENT_ROW_FIELDS == (
        "handled",
        "talk_ms",
        "hold_ms",
        "wrap_ms",
        "transferred",
        "surveys",
        "score_sum",
        "satisfied",
    )


def test_answered_contacts_end_by_transfer_or_not() -> None:
    f = Floor()
    # T1: offered 09:10:00, answered 09:10:20 by a1, hold 09:11:00-09:11:30, transferred 09:15:20,
    # wrap-up ended 09:16:00: talk 300 - 30 = 270 s, hold 30 s, wrap 40 s, transferred
    f.send("contact.offered", "T1", D1 + "09:10:00")
    f.send("contact.answered", "T1", D1 + "09:10:20", agent_id="a1")
    f.send("contact.hold_started", "T1", D1 + "09:11:00", agent_id="a1")
    f.send("contact.hold_ended", "T1", D1 + "09:11:30", agent_id="a1")
    f.send("contact.transferred", "T1", D1 + "09:15:20", agent_id="a1")
    f.send("contact.wrapup_ended", "T1", D1 + "09:16:00", agent_id="a1")
    # T2: offered 09:20:00, answered 09:20:10 by a1, ended 09:21:10: talk 60 s, no wrap-up
    f.send("contact.offered", "T2", D1 + "09:20:00")
    f.send("contact.answered", "T2", D1 + "09:20:10", agent_id="a1")
    f.send("contact.ended", "T2", D1 + "09:21:10", agent_id="a1")
    # T3: answered by a1 at 09:29:50, still talking: not handled, no row figures
    f.send("contact.offered", "T3", D1 + "09:29:00")
    f.send("contact.answered", "T3", D1 + "09:29:50", agent_id="a1")
    # T4: offered 09:40:00 (next interval), answered 09:40:05 by a2, ended 09:42:05, wrap 10 s
    f.send("contact.offered", "T4", D1 + "09:40:00")
    f.send("contact.answered", "T4", D1 + "09:40:05", agent_id="a2")
    f.send("contact.ended", "T4", D1 + "09:42:05", agent_id="a2")
    f.send("contact.wrapup_ended", "T4", D1 + "09:42:15", agent_id="a2")
    assert rows(f) == {
        ("a1", "2024-05-01"): {I0900: [2, 330_000, 30_000, 40_000, 1, 0, 0, 0]},
        ("a2", "2024-05-01"): {I0930: [1, 120_000, 0, 10_000, 0, 0, 0, 0]},
    }
    assert f.agg.take_dirty_agent_rows() == {("a1", "2024-05-01"), ("a2", "2024-05-01")}
    assert f.agg.take_dirty_agent_rows() == set()
    # the interval's counts agree: 2 handled in 09:00 (T3 is answered, not handled), one transferred
    c = f.bucket_counts(D1 + "09:00:00")
    assert (c.handled, c.transferred, c.talk_ms, c.hold_ms, c.wrap_ms) == (2, 1, 330_000, 30_000, 40_000)


def test_a_late_earlier_end_makes_the_transfer_no_end() -> None:
    f = Floor()
    f.send("contact.offered", "L1", D1 + "09:10:00")
    f.send("contact.answered", "L1", D1 + "09:10:20", agent_id="a1")
    f.send("contact.transferred", "L1", D1 + "09:15:20", agent_id="a1")
    f.send("contact.wrapup_ended", "L1", D1 + "09:16:00", agent_id="a1")
    assert rows(f) == {("a1", "2024-05-01"): {I0900: [1, 300_000, 0, 40_000, 1, 0, 0, 0]}}
    f.agg.take_dirty_agent_rows()
    # contact.ended at 09:14:00 arrives late: it ends the conversation (talk 220 s, wrap 120 s)
    f.send("contact.ended", "L1", D1 + "09:14:00", agent_id="a1")
    assert rows(f) == {("a1", "2024-05-01"): {I0900: [1, 220_000, 0, 120_000, 0, 0, 0, 0]}}
    assert f.agg.take_dirty_agent_rows() == {("a1", "2024-05-01")}
    assert f.bucket_counts(D1 + "09:00:00").transferred == 0


def test_survey_naming_another_agent_goes_to_that_agents_row() -> None:
    f = Floor()
    # answered by a1 (talk 100 s), surveyed naming a2 with score 4 (satisfied)
    f.send("contact.offered", "S1", D1 + "09:05:00")
    f.send("contact.answered", "S1", D1 + "09:05:10", agent_id="a1")
    f.send("contact.ended", "S1", D1 + "09:06:50", agent_id="a1")
    f.send("survey.completed", "S1", D1 + "09:40:00", score=4, agent_id="a2")
    # a survey of a contact offered 23:50 on May 1st, sent after midnight, score 2: May 1st's 23:30
    f.send("contact.offered", "S2", D1 + "23:50:00")
    f.send("survey.completed", "S2", "2024-05-02 00:30:00", score=2, agent_id="a2")
    i2330 = local_ms(D1 + "23:30:00")
    assert rows(f) == {
        ("a1", "2024-05-01"): {I0900: [1, 100_000, 0, 0, 0, 0, 0, 0]},
        ("a2", "2024-05-01"): {I0900: [0, 0, 0, 0, 0, 1, 4, 1], i2330: [0, 0, 0, 0, 0, 1, 2, 0]},
    }
    # the survey rows sum to the agent-day CSAT counters
    assert f.agg.agent_surveys == {("a2", "2024-05-01"): [2, 6, 1]}
    f.agg.take_dirty_agent_rows()
    # an earlier survey (arriving late) names a1 with score 5: the survey moves to a1's row
    f.send("survey.completed", "S1", D1 + "09:30:00", score=5, agent_id="a1")
    assert rows(f) == {
        ("a1", "2024-05-01"): {I0900: [1, 100_000, 0, 0, 0, 1, 5, 1]},
        ("a2", "2024-05-01"): {i2330: [0, 0, 0, 0, 0, 1, 2, 0]},
    }
    assert f.agg.take_dirty_agent_rows() == {("a1", "2024-05-01"), ("a2", "2024-05-01")}


def test_an_earlier_answer_by_another_agent_moves_the_handle_figures() -> None:
    f = Floor()
    f.send("contact.offered", "A1", D1 + "09:00:00")
    f.send("contact.answered", "A1", D1 + "09:00:30", agent_id="a1")
    f.send("contact.ended", "A1", D1 + "09:02:00", agent_id="a1")
    assert rows(f) == {("a1", "2024-05-01"): {I0900: [1, 90_000, 0, 0, 0, 0, 0, 0]}}
    f.agg.take_dirty_agent_rows()
    # the answer by a2 at 09:00:10 wins (earliest): talk 110 s, a1's row is gone
    f.send("contact.answered", "A1", D1 + "09:00:10", agent_id="a2")
    assert rows(f) == {("a2", "2024-05-01"): {I0900: [1, 110_000, 0, 0, 0, 0, 0, 0]}}
    assert f.agg.take_dirty_agent_rows() == {("a1", "2024-05-01"), ("a2", "2024-05-01")}
    # the same facts again change nothing and mark nothing
    f.agg.update("A1", f.facts["A1"], f.facts["A1"])
    assert f.agg.take_dirty_agent_rows() == set()


def test_forget_removes_rows_and_marks_the_agent_day() -> None:
    f = Floor()
    for cid, minute in (("F1", "10"), ("F2", "40")):
        f.send("contact.offered", cid, D1 + f"09:{minute}:00")
        f.send("contact.answered", cid, D1 + f"09:{minute}:05", agent_id="a1")
        f.send("contact.ended", cid, D1 + f"09:{minute}:35", agent_id="a1")
    f.send("survey.completed", "F1", D1 + "10:00:00", score=3, agent_id="a1")
    assert rows(f) == {
        ("a1", "2024-05-01"): {I0900: [1, 30_000, 0, 0, 0, 1, 3, 0], I0930: [1, 30_000, 0, 0, 0, 0, 0, 0]}
    }
    f.agg.take_dirty_agent_rows()
    f.forget("F1")
    assert rows(f) == {("a1", "2024-05-01"): {I0930: [1, 30_000, 0, 0, 0, 0, 0, 0]}}
    assert f.agg.take_dirty_agent_rows() == {("a1", "2024-05-01")}
    f.forget("F2")
    assert f.agg.agent_rows == {}
    assert f.agg.take_dirty_agent_rows() == {("a1", "2024-05-01")}  # published as a tombstone
    f.forget("F2")
    assert f.agg.take_dirty_agent_rows() == set()


def test_an_agents_rows_are_one_sorted_array_split_by_local_date() -> None:
    f = Floor()
    # a1 handles contacts offered 2024-05-02 00:10, 2024-05-01 23:40 and 2024-05-01 09:05 (in that
    # order of arrival), 30 s of talk each
    for cid, offered in (("D1", "2024-05-02 00:10:00"), ("D2", D1 + "23:40:00"), ("D3", D1 + "09:05:00")):
        day, clock = offered.split(" ")
        h, m, _ = clock.split(":")
        f.send("contact.offered", cid, offered)
        f.send("contact.answered", cid, f"{day} {h}:{m}:10", agent_id="a1")
        f.send("contact.ended", cid, f"{day} {h}:{m}:40", agent_id="a1")
    i2330, i0000 = local_ms(D1 + "23:30:00"), local_ms("2024-05-02 00:00:00")
    one = [1, 30_000, 0, 0, 0, 0, 0, 0]
    assert f.agg.agent_rows["a1"].tolist() == [I0900, *one, i2330, *one, i0000, *one]
    assert f.agg.agent_day_rows("a1", "2024-05-01") == {I0900: one, i2330: one}
    assert f.agg.agent_day_rows("a1", "2024-05-02") == {i0000: one}
    assert f.agg.agent_day_rows("a1", "2024-05-03") == {} and f.agg.agent_day_rows("a9", "2024-05-01") == {}
    assert f.agg.take_dirty_agent_rows() == {("a1", "2024-05-01"), ("a1", "2024-05-02")}
    f.forget("D2")
    assert f.agg.agent_rows["a1"].tolist() == [I0900, *one, i0000, *one]


def test_bucket_keeps_the_channel_of_its_first_contact() -> None:
    f = Floor()
    f.send("contact.offered", "C1", D1 + "09:01:00", channel="chat")
    f.send("contact.offered", "C2", D1 + "09:02:00", channel="voice")
    bucket = f.agg.buckets[("support", I0900)]
    assert bucket.channel == "chat"
    f.forget("C1")
    assert f.agg.buckets[("support", I0900)].channel == "chat"  # kept while the bucket lives


def recount(facts: dict[str, dict[str, Any]], agg: QueueAggregator) -> dict[Any, dict[int, list[int]]]:
    """The rows from each contact's contribution, summed plainly (no removals)."""
    out: dict[Any, dict[int, list[int]]] = {}
    for f in facts.values():
        c = contribution(f)
        if c is None:
            continue
        start = agg.interval_of(c.offered_ms)
        day = local_date(c.offered_ms, SHANGHAI).isoformat()
        if c.handled:
            row = out.setdefault((f["a"][2], day), {}).setdefault(start, [0] * 8)
            for i, v in enumerate((1, c.talk_ms, c.hold_ms, c.wrap_ms, int(c.transferred))):
                row[i] += v
        if c.survey_score is not None:
            row = out.setdefault((f["s"][3], day), {}).setdefault(start, [0] * 8)
            row[5] += 1
            row[6] += c.survey_score
            row[7] += c.survey_score >= 4
    return out


def test_rebuild_from_the_facts_equals_the_incremental_rows() -> None:
    rnd = random.Random(7)
    f = Floor()
    plan: list[tuple[str, str, str, dict[str, Any]]] = []
    for n in range(120):
        cid = f"R{n}"
        off = rnd.randrange(0, 4 * 3600)  # 08:00 .. 12:00
        agent = rnd.choice(["a1", "a2", "a3"])

        def at(s: int) -> str:
            h, rest = divmod(8 * 3600 + s, 3600)
            return D1 + f"{h:02d}:{rest // 60:02d}:{rest % 60:02d}"

        plan.append(("contact.offered", cid, at(off), {}))
        if rnd.random() < 0.8:
            ans = off + rnd.randrange(1, 60)
            plan.append(("contact.answered", cid, at(ans), {"agent_id": agent}))
            if rnd.random() < 0.5:  # a second, competing answer by another agent
                plan.append(("contact.answered", cid, at(ans + rnd.randrange(-5, 5)), {"agent_id": "a4"}))
            end = ans + rnd.randrange(10, 600)
            if rnd.random() < 0.4:
                plan.append(("contact.transferred", cid, at(end), {"agent_id": agent}))
            if rnd.random() < 0.7:
                plan.append(("contact.ended", cid, at(end + rnd.randrange(-30, 30)), {"agent_id": agent}))
            if rnd.random() < 0.6:
                plan.append(("contact.wrapup_ended", cid, at(end + rnd.randrange(30, 90)), {"agent_id": agent}))
        if rnd.random() < 0.3:
            who = rnd.choice(["a1", "a2", "a5"])
            plan.append(("survey.completed", cid, at(off + 900), {"agent_id": who, "score": rnd.randint(1, 5)}))
    rnd.shuffle(plan)
    for kind, cid, when, fields in plan:
        f.send(kind, cid, when, **fields)
    for cid in rnd.sample(sorted(f.facts), 20):  # retention forgets a few
        f.forget(cid)
    rebuilt = QueueAggregator(SHANGHAI, 30)
    for cid, facts in f.facts.items():
        rebuilt.update(cid, None, facts)
    incremental = rows(f)
    assert incremental == agent_days(rebuilt)
    assert f.agg.agent_rows == rebuilt.agent_rows
    assert incremental == recount(f.facts, f.agg)
    assert sum(r[0] for by in incremental.values() for r in by.values()) > 30  # the run did handle contacts
    assert sum(r[4] for by in incremental.values() for r in by.values()) > 5
    assert sum(r[5] for by in incremental.values() for r in by.values()) > 5


# --- cold dates: rows of published dates before yesterday packed into one bytes value per date ---

AGENTS = ("a1", "a2", "a3", "a4", "a5")


def all_rows(agg: QueueAggregator) -> dict[tuple[str, str], dict[int, list[int]]]:
    """Every (agent, date) with rows, hot or packed, through ``agent_day_rows``."""
    out = agent_days(agg)
    for day in agg.cold_rows:
        assert not any(d == day for d in {k[1] for k in out}), "a date both hot and packed"
        for agent in AGENTS:
            if got := agg.agent_day_rows(agent, day):
                out[(agent, day)] = got
    return dict(sorted(out.items()))


def handled(f: Floor, cid: str, offered: str, agent: str, talk_s: int) -> None:
    day, clock = offered.split(" ")
    h, m, _ = clock.split(":")
    f.send("contact.offered", cid, offered)
    f.send("contact.answered", cid, f"{day} {h}:{m}:05", agent_id=agent)
    f.send("contact.ended", cid, f"{day} {h}:{m}:{5 + talk_s:02d}", agent_id=agent)


NOW_MAY_3 = local_ms("2024-05-03 08:00:00")  # yesterday = May 2nd: May 1st and before are cold


def test_published_dates_before_yesterday_are_packed_and_read_back() -> None:
    f = Floor()
    handled(f, "P1", D1 + "09:10:00", "a1", 30)
    handled(f, "P2", D1 + "09:40:00", "a1", 20)
    handled(f, "P3", D1 + "09:50:00", "a2", 10)
    handled(f, "P4", "2024-04-30 22:00:00", "a2", 40)
    handled(f, "P5", "2024-05-02 10:00:00", "a1", 50)  # yesterday: stays hot
    f.send("survey.completed", "P3", D1 + "10:00:00", score=5, agent_id="a1")
    before = all_rows(f.agg)
    i2200, i1000 = local_ms("2024-04-30 22:00:00"), local_ms("2024-05-02 10:00:00")
    assert before == {
        ("a1", "2024-05-01"): {I0900: [1, 30_000, 0, 0, 0, 0, 0, 0], I0930: [1, 20_000, 0, 0, 0, 1, 5, 1]},
        ("a1", "2024-05-02"): {i1000: [1, 50_000, 0, 0, 0, 0, 0, 0]},
        ("a2", "2024-04-30"): {i2200: [1, 40_000, 0, 0, 0, 0, 0, 0]},
        ("a2", "2024-05-01"): {I0930: [1, 10_000, 0, 0, 0, 0, 0, 0]},
    }
    # not published yet: every agent-day is dirty, nothing is packed
    assert f.agg.pack_cold(NOW_MAY_3) == 0 and f.agg.cold_rows == {}
    f.agg.take_dirty_agent_rows()
    # on May 2nd, May 1st is yesterday: only April 30th packs (a2's one row)
    assert f.agg.pack_cold(local_ms("2024-05-02 23:59:00")) == 1
    assert set(f.agg.cold_rows) == {"2024-04-30"}
    assert f.agg.pack_cold(NOW_MAY_3) == 3  # May 1st: a1's two rows and a2's one
    assert set(f.agg.cold_rows) == {"2024-04-30", "2024-05-01"}
    assert f.agg.agent_rows == {"a1": array("q", [i1000, 1, 50_000, 0, 0, 0, 0, 0, 0])}
    assert all_rows(f.agg) == before
    assert f.agg.agent_day_rows("a9", "2024-05-01") == {} and f.agg.agent_day_rows("a1", "2024-04-30") == {}
    assert f.agg.take_dirty_agent_rows() == set()  # packing changes no figure
    assert f.agg.pack_cold(NOW_MAY_3) == 0


def test_a_late_event_on_a_packed_date_unpacks_it_then_it_packs_again() -> None:
    f = Floor()
    handled(f, "L1", D1 + "09:10:00", "a1", 30)
    handled(f, "L2", D1 + "09:40:00", "a2", 20)
    f.agg.take_dirty_agent_rows()
    assert f.agg.pack_cold(NOW_MAY_3) == 2
    # a survey of L2 naming a1 (score 3) arrives late: May 1st is unpacked, a1's day is dirty
    f.send("survey.completed", "L2", D1 + "10:00:00", score=3, agent_id="a1")
    assert f.agg.cold_rows == {}
    assert all_rows(f.agg) == {
        ("a1", "2024-05-01"): {I0900: [1, 30_000, 0, 0, 0, 0, 0, 0], I0930: [0, 0, 0, 0, 0, 1, 3, 0]},
        ("a2", "2024-05-01"): {I0930: [1, 20_000, 0, 0, 0, 0, 0, 0]},
    }
    # L2's old and new entries both name a2's handle row (taken out and put back): marked too
    assert f.agg.take_dirty_agent_rows() == {("a1", "2024-05-01"), ("a2", "2024-05-01")}
    assert f.agg.pack_cold(NOW_MAY_3) == 3
    assert f.agg.agent_rows == {} and set(f.agg.cold_rows) == {"2024-05-01"}
    assert f.agg.agent_day_rows("a1", "2024-05-01") == {
        I0900: [1, 30_000, 0, 0, 0, 0, 0, 0],
        I0930: [0, 0, 0, 0, 0, 1, 3, 0],
    }


def test_retention_forgetting_a_packed_date_leaves_nothing_and_marks_its_agent_days() -> None:
    f = Floor()
    handled(f, "R1", D1 + "09:10:00", "a1", 30)
    handled(f, "R2", D1 + "09:40:00", "a2", 20)
    handled(f, "R3", "2024-05-02 09:10:00", "a1", 10)
    f.agg.take_dirty_agent_rows()
    assert f.agg.pack_cold(NOW_MAY_3) == 2
    f.forget("R1")
    assert f.agg.cold_rows == {}  # unpacked once, then the row removed as before
    f.forget("R2")
    assert f.agg.take_dirty_agent_rows() == {("a1", "2024-05-01"), ("a2", "2024-05-01")}  # tombstones
    assert all_rows(f.agg) == {("a1", "2024-05-02"): {local_ms("2024-05-02 09:00:00"): [1, 10_000, 0, 0, 0, 0, 0, 0]}}
    assert f.agg.pack_cold(NOW_MAY_3) == 0 and f.agg.cold_rows == {}


def test_pack_due_once_a_minute_and_first_on_a_new_aggregator() -> None:
    agg = QueueAggregator(SHANGHAI, 30)
    assert agg.pack_due(NOW_MAY_3)
    agg.pack_cold(NOW_MAY_3)
    assert not agg.pack_due(NOW_MAY_3 + 59_999)
    assert agg.pack_due(NOW_MAY_3 + 60_000)
    assert agg.pack_due(NOW_MAY_3 - 1)  # a clock stepped back does not stop packing


def test_interleaved_updates_packing_late_events_and_forgetting_equal_a_recount() -> None:
    rnd = random.Random(11)
    f = Floor()
    days = ["2024-04-28", "2024-04-29", "2024-04-30", D1.strip(), "2024-05-02"]
    events: list[tuple[str, str, str, dict[str, Any]]] = []
    for n in range(300):
        cid = f"X{n}"
        day = rnd.choice(days)

        def at(s: int, day: str = day) -> str:
            h, rest = divmod(min(s, 86_399), 3600)
            return f"{day} {h:02d}:{rest // 60:02d}:{rest % 60:02d}"

        off = rnd.randrange(0, 86_000)
        agent = rnd.choice(AGENTS[:4])
        events.append(("contact.offered", cid, at(off), {}))
        if rnd.random() < 0.85:
            ans = off + rnd.randrange(1, 30)
            events.append(("contact.answered", cid, at(ans), {"agent_id": agent}))
            end = ans + rnd.randrange(5, 300)
            if rnd.random() < 0.3:
                events.append(("contact.transferred", cid, at(end), {"agent_id": agent}))
            if rnd.random() < 0.8:
                events.append(("contact.ended", cid, at(end + rnd.randrange(-20, 20)), {"agent_id": agent}))
            if rnd.random() < 0.5:
                events.append(("contact.wrapup_ended", cid, at(end + rnd.randrange(20, 60)), {"agent_id": agent}))
        if rnd.random() < 0.3:
            who = rnd.choice(AGENTS)
            events.append(("survey.completed", cid, at(off + 400), {"agent_id": who, "score": rnd.randint(1, 5)}))
    rnd.shuffle(events)
    packed_total = 0
    for i, (kind, cid, when, fields) in enumerate(events):
        f.send(kind, cid, when, **fields)
        if i % 97 == 0 and f.facts:
            f.forget(rnd.choice(sorted(f.facts)))
        if i % 50 == 0:
            f.agg.take_dirty_agent_rows()  # published
            if rnd.random() < 0.5:
                packed_total += f.agg.pack_cold(NOW_MAY_3)
            else:  # sliced, with updates between the slices (the dates they touch stay hot)
                steps = f.agg.pack_cold_steps(NOW_MAY_3, slice_agents=1)
                while True:
                    try:
                        next(steps)
                    except StopIteration as stop:
                        packed_total += stop.value
                        break
                    if rnd.random() < 0.3 and f.facts:
                        if rnd.random() < 0.5:
                            f.forget(rnd.choice(sorted(f.facts)))
                        else:
                            late = rnd.choice(sorted(f.facts))
                            f.send("survey.completed", late, "2024-05-02 23:00:00", agent_id="a5", score=4)
        assert all_rows(f.agg) == recount(f.facts, f.agg)
    f.agg.take_dirty_agent_rows()
    packed_total += f.agg.pack_cold(NOW_MAY_3)
    assert set(f.agg.cold_rows) == set(days[:4])  # every date before yesterday ends up packed
    assert packed_total > 100
    assert all_rows(f.agg) == recount(f.facts, f.agg)
    # a rebuild from the remaining facts, packed after its first publish, holds the same bytes
    rebuilt = QueueAggregator(SHANGHAI, 30)
    for cid, facts in f.facts.items():
        rebuilt.update(cid, None, facts)
    rebuilt.take_dirty_agent_rows()
    rebuilt.pack_cold(NOW_MAY_3)
    assert rebuilt.cold_rows == f.agg.cold_rows and rebuilt.agent_rows == f.agg.agent_rows


def test_a_rebuild_marks_no_agent_day_while_loading_then_every_agent_day_once() -> None:
    f = Floor()
    handled(f, "B1", D1 + "09:10:00", "a1", 30)
    handled(f, "B2", "2024-05-02 10:00:00", "a1", 50)
    handled(f, "B3", D1 + "23:50:00", "a2", 10)
    f.send("survey.completed", "B3", D1 + "23:59:00", score=4, agent_id="a3")
    rebuilt = QueueAggregator(SHANGHAI, 30)
    rebuilt.track_row_changes = False  # as streams/rebuild.py loads a partition
    for cid, facts in f.facts.items():
        rebuilt.update(cid, None, facts)
    assert rebuilt.dirty_agent_rows == set()
    rebuilt.track_row_changes, rebuilt.rows_dirty_all = True, True
    assert rebuilt.pack_cold(NOW_MAY_3 + 10 * 86_400_000) == 0  # nothing packed before it is published
    handled_late = f.facts["B1"]
    rebuilt.update("B9", None, {**handled_late, "a": [handled_late["a"][0], 1, "a4"]})  # changed meanwhile
    days = list(rebuilt.take_dirty_agent_rows())
    assert sorted(days) == [
        ("a1", "2024-05-01"),
        ("a1", "2024-05-02"),
        ("a2", "2024-05-01"),
        ("a3", "2024-05-01"),
        ("a4", "2024-05-01"),
        ("a4", "2024-05-01"),  # built rows, then the change since: published twice, harmless
    ]
    assert list(rebuilt.take_dirty_agent_rows()) == []  # once


def test_a_staged_rebuild_builds_the_same_rows_packs_cold_dates_at_once_and_publishes_each_agent_day() -> None:
    rnd = random.Random(5)
    f = Floor()
    days = ["2024-04-28", "2024-04-29", "2024-04-30", D1.strip(), "2024-05-02", "2024-05-03"]
    for n in range(400):
        day = rnd.choice(days)
        off = rnd.randrange(0, 80_000)
        h, rest = divmod(off, 3600)
        offered = f"{day} {h:02d}:{rest // 60:02d}:{rest % 60:02d}"
        if rnd.random() < 0.85:
            handled(f, f"S{n}", offered, rnd.choice(AGENTS[:4]), rnd.randrange(1, 50))
        else:
            f.send("contact.offered", f"S{n}", offered)
        if rnd.random() < 0.3:
            f.send("survey.completed", f"S{n}", f"{day} 23:00:00", agent_id=rnd.choice(AGENTS), score=rnd.randint(1, 5))
    # the incremental rows, published once, then packed
    plain = QueueAggregator(SHANGHAI, 30)
    for cid, facts in f.facts.items():
        plain.update(cid, None, facts)
    published = {pair: plain.agent_day_rows(*pair) for pair in plain.take_dirty_agent_rows()}
    plain_packed = plain.pack_cold(NOW_MAY_3)
    assert set(plain.cold_rows) == set(days[:4]) and plain_packed > 100
    # staged: every contact once, plus contacts added and taken back (rows that end at zero)
    staged = QueueAggregator(SHANGHAI, 30)
    staged.stage_rows()
    extra = {"E1": f.facts["S0"], "E2": f.facts["S1"]}
    staged.update("E1", None, extra["E1"])
    for cid, facts in f.facts.items():
        staged.update(cid, None, facts)
    staged.update("E2", None, extra["E2"])
    staged.update("E1", extra["E1"], None)
    staged.update("E2", extra["E2"], None)
    staged.update("E9", None, {**f.facts["S2"], "a": [f.facts["S2"]["a"][0], 1, "a9"]})  # agent a9's only row
    staged.update("E9", {**f.facts["S2"], "a": [f.facts["S2"]["a"][0], 1, "a9"]}, None)
    assert staged.agent_rows == {} and staged.dirty_agent_rows == set()  # nothing built while staged
    steps = staged.finish_rows_steps(NOW_MAY_3)
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            staged_packed = stop.value
            break
    assert staged.staged_rows is None
    assert staged_packed == plain_packed
    assert staged.cold_rows == plain.cold_rows and staged.agent_rows == plain.agent_rows
    assert all(agent != "a9" for agent in staged.agent_rows)
    assert all_rows(staged) == recount(f.facts, staged)
    staged.track_row_changes, staged.rows_dirty_all = True, True
    pairs = list(staged.take_dirty_agent_rows())
    assert len(pairs) == len(set(pairs))  # each agent-day once, packed dates included
    assert {pair: staged.agent_day_rows(*pair) for pair in pairs} == published
    assert staged.cold_view is None  # the walk over the packed dates is done
    assert list(staged.take_dirty_agent_rows()) == []
    assert staged.pack_cold(NOW_MAY_3) == 0  # nothing left to pack


def test_stage_rows_refuses_an_aggregator_with_rows() -> None:
    f = Floor()
    handled(f, "R1", D1 + "09:10:00", "a1", 30)
    try:
        f.agg.stage_rows()
    except ValueError:
        pass
    else:
        raise AssertionError("stage_rows accepted an aggregator with rows")
