"""FCR finality (floorwatch.domain.fcr): intervals folded into one final record per (local
date, partition) once their contributions cannot change (end + 2W) — the counts and the
agents' rows of a fold in one record, applied whole or not at all — projections kept as
context until offered + 3W, late projections refused, date records (and legacy records of one
interval) expired with retention — and the memory this bounds.

Time zone Asia/Shanghai (UTC+8, no DST), 30-minute intervals. Hand anchor (as in test_fcr.py):
2024-03-10 08:00 Shanghai = 2024-03-10T00:00Z = 1_710_028_800_000 ms.
"""

from __future__ import annotations

import gc
import random
import tracemalloc
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from floorwatch.domain.fcr import (
    DateFinal,
    FcrAggregator,
    apply_projection,
    date_final_key,
    date_record,
    final_key,
    final_key_partition,
    parse_date_record,
    parse_final_key,
    record_holds_interval,
    record_partition,
)
from floorwatch.domain.queue_metrics import Counts
from floorwatch.events import to_ms
from tests.unit.domain.test_fcr import reference  # the same independent count as the FCR unit tests

TZ = ZoneInfo("Asia/Shanghai")
MIN = 60_000
HOUR = 3_600_000
DAY = 24 * HOUR
W = 24 * HOUR
I_MS = 30 * MIN
UTC_2024_03_10 = 1_710_028_800_000


def local_ms(text: str) -> int:
    return to_ms(datetime.fromisoformat(text).replace(tzinfo=TZ))


def proj(o: int, *, q: str = "support", p: str | None = None, a: str | None = "a1", r: bool | None = None) -> dict:
    return {"o": o, "q": q, "p": p, "a": a, "r": r}


def counts(cc: int, rep: int, elig: int, res: int) -> Counts:
    return Counts(customer_contacts=cc, repeat_contacts=rep, fcr_eligible=elig, fcr_resolved=res)


@dataclass
class Tables:
    """The worker's ``fcr-final`` table: what Kafka acknowledged (key -> JSON bytes)."""

    final: dict[str, Any] = field(default_factory=dict)

    def rebuilt(self, window_ms: int = W) -> FcrAggregator:
        """An aggregator holding what a restarted worker loads (before the customers)."""
        agg = FcrAggregator(TZ, 30, window_ms)
        for key, value in self.final.items():
            agg.load(key, value)
        return agg


def fold_all(agg: FcrAggregator, now_ms: int, tables: Tables | None = None, partition: int = 0) -> list:
    """What the worker does: build the due folds' date records, persist them, apply."""
    keys = agg.due_folds(now_ms)
    fold = agg.fold(keys, partition)
    if tables is not None:
        for day, raw in fold.dates.items():
            tables.final[date_final_key(day, partition)] = raw
    agg.apply_fold(fold)
    return keys


C1 = local_ms("2024-03-10 09:47:13")
K1 = ("support", local_ms("2024-03-10 09:30:00"))
FOLD_AT_1 = local_ms("2024-03-12 10:00:00")  # K1's end (10:00) + 2W
DROP_AT_1 = local_ms("2024-03-13 10:00:00")  # end of the interval of C1 + W (2024-03-11 09:30) + 2W
DATE_1 = "2024-03-10"  # the local date of K1 (and K2 below)


def test_hand_anchors() -> None:
    assert local_ms("2024-03-10 08:00:00") == UTC_2024_03_10
    assert K1[1] == UTC_2024_03_10 + 90 * MIN == 1_710_034_200_000
    assert FOLD_AT_1 == K1[1] + 30 * MIN + 2 * W
    assert DROP_AT_1 == K1[1] + 30 * MIN + 3 * W


def test_final_keys_round_trip_and_keep_a_pipe_in_the_queue() -> None:
    assert date_final_key(DATE_1, 3) == "2024-03-10|3"
    assert parse_final_key("2024-03-10|3") == (DATE_1, 3)
    assert final_key("support", 1_710_034_200_000, 3) == "support|1710034200000|3"  # legacy
    assert parse_final_key("support|1710034200000|3") == (("support", 1_710_034_200_000), 3)
    assert parse_final_key(final_key("a|b", 5, 0)) == (("a|b", 5), 0)
    assert final_key_partition("2024-03-10|3") == 3 and final_key_partition("a|b|5|7") == 7


def test_an_interval_is_folded_only_after_its_end_plus_two_windows() -> None:
    agg = FcrAggregator(TZ, 30, W)
    agg.update("X", {"c1": proj(C1, a="a1")}, C1 + W)  # matured: eligible, resolved
    assert agg.due_folds(FOLD_AT_1) == []  # final once end + 2W < now: not at the instant itself
    assert agg.due_folds(FOLD_AT_1 + 1) == [K1]
    assert agg.due_folds(FOLD_AT_1 + 2) == []  # handed out once
    fold = agg.fold([K1], 5)
    raw = b'{"_p":5,"c":{"support|1710034200000":[1,0,1,1]},"a":{"a1":[1,1]}}'
    assert fold.dates == {DATE_1: raw}
    agg.take_dirty()
    agg.apply_fold(fold)
    # live counts moved into the date record: the published figures did not change
    assert (agg.intervals, agg.agent_days, agg.interval_agents) == ({}, {}, {})
    assert agg.date_records == {DATE_1: raw}
    assert agg.open_dates == {} and agg.live_per_date == {}  # the date is closed: bytes only
    assert agg.interval_figures(K1) == counts(1, 0, 1, 1)
    assert agg.agent_day_figures(("a1", DATE_1)) == [1, 1]
    assert agg.take_dirty() == ({K1}, {("a1", DATE_1)})


def test_refolding_and_re_deriving_a_folded_interval_change_nothing() -> None:
    agg = FcrAggregator(TZ, 30, W)
    contacts = {"c1": proj(C1, a="a1"), "c2": proj(C1 + 2 * MIN, a="a2", r=False)}  # c2 repeats c1
    agg.update("X", contacts, C1 + W + 2 * MIN)
    assert agg.intervals == {K1: counts(2, 1, 2, 0)}  # c1 followed by c2; c2 says unresolved
    fold = agg.fold(agg.due_folds(FOLD_AT_1 + 1), 0)
    agg.apply_fold(fold)
    assert agg.interval_figures(K1) == counts(2, 1, 2, 0)
    held = dict(agg.date_records)
    agg.apply_fold(fold)  # the same fold again (a retried pass)
    assert agg.date_records == held
    agg.update("X", contacts, FOLD_AT_1 + 2)  # a re-derivation of the customer (context only)
    agg.advance(FOLD_AT_1 + 3, {"X": contacts}.get)
    assert agg.intervals == {}
    assert agg.by_contact == {}  # held contacts of folded intervals are let go
    assert agg.interval_figures(K1) == counts(2, 1, 2, 0)
    assert agg.agent_day_figures(("a1", DATE_1)) == [1, 0]
    assert agg.agent_day_figures(("a2", DATE_1)) == [1, 0]


def test_a_restart_between_the_final_record_and_the_drop_counts_nothing_twice() -> None:
    agg = FcrAggregator(TZ, 30, W)
    contacts = {"c1": proj(C1, a="a1"), "c3": proj(C1 + 30 * HOUR, a="a2")}  # c3: 30 h later, no repeat
    now = FOLD_AT_1 + 1
    agg.update("X", contacts, now)
    tables = Tables()
    assert fold_all(agg, now, tables) == [K1]
    # the worker dies now: the date record is persisted, both projections are still there
    rebuilt = tables.rebuilt()
    rebuilt.update("X", contacts, now)
    k3 = ("support", local_ms("2024-03-11 15:30:00"))
    for a in (agg, rebuilt):
        assert a.interval_figures(K1) == counts(1, 0, 1, 1)
        assert a.interval_figures(k3) == counts(1, 0, 0, 0)  # c3's window closes 2024-03-12 15:47
        assert a.agent_day_figures(("a1", DATE_1)) == [1, 1]
        assert a.agent_day_figures(("a2", "2024-03-11")) is None
    assert set(rebuilt.by_contact) == {"c3"}  # c1 is context only


def test_late_projections_are_refused_and_change_no_figure() -> None:
    agg = FcrAggregator(TZ, 30, W)
    contacts = {"c1": proj(C1, a="a1")}
    agg.update("X", contacts, C1 + W)
    fold_all(agg, FOLD_AT_1 + 1)
    now = FOLD_AT_1 + HOUR
    # an update of the folded contact (a late wrap-up), its removal, a leg of it, a new contact
    # in its interval: all refused (the date is closed: read from the record's bytes)
    assert agg.open_dates == {}
    assert not agg.accepts(contacts, "c1", proj(C1, a="a1", r=False), now)
    assert not agg.accepts(contacts, "c1", None, now)
    assert not agg.accepts(contacts, "leg", proj(C1 + 3 * HOUR, q="sales", p="c1", r=False), now)
    assert not agg.accepts(contacts, "c0", proj(C1 - 5 * MIN), now)
    # a contact of the same customer offered 1 h after c1 (its interval is folded by time, but
    # was never counted: not in the date record) is accepted and counted in its own interval
    c4 = C1 + HOUR
    assert agg.accepts(contacts, "c4", proj(c4, a="a3"), now)
    contacts = apply_projection(contacts, "c4", proj(c4, a="a3"))
    agg.update("X", contacts, now)
    assert agg.interval_figures(K1) == counts(1, 0, 1, 1)  # c1 stays resolved: final
    k4 = ("support", local_ms("2024-03-10 10:30:00"))
    assert agg.interval_figures(k4) == counts(1, 1, 1, 1)  # c4 repeats c1
    # the date has a live interval again: its record is held parsed, K1 still refused
    assert set(agg.open_dates) == {DATE_1}
    assert not agg.accepts(contacts, "c1", None, now)


def test_being_folded_refuses_records_until_the_fold_is_applied() -> None:
    agg = FcrAggregator(TZ, 30, W)
    contacts = {"c1": proj(C1, a="a1")}
    agg.update("X", contacts, C1 + W)
    assert agg.due_folds(FOLD_AT_1 + 1) == [K1]  # its date record is being written
    assert not agg.accepts(contacts, "c1", proj(C1, a="a1", r=False), FOLD_AT_1 + 2)
    assert agg.interval_figures(K1) == counts(1, 0, 1, 1)


def test_a_record_within_a_window_of_an_interval_holds_its_fold_for_the_quiet_time() -> None:
    quiet = 5 * MIN
    agg = FcrAggregator(TZ, 30, W, fold_quiet_ms=quiet)
    now = FOLD_AT_1 + HOUR  # K1 is due by time
    contacts = {"c1": proj(C1, a="a1")}
    agg.update("X", contacts, now)
    # a replay: c5 offered at K1's end + W (the last instant whose contact can follow K1's) arrives
    c5 = K1[1] + I_MS + W
    assert agg.accepts(contacts, "c5", proj(c5, a="a2"), now)
    assert agg.due_folds(now + quiet - 1) == []
    assert agg.due_folds(now + quiet + agg._quiet_bucket_ms()) == [K1]
    # a record offered 1 ms after K1's end + W does not hold K1
    agg2 = FcrAggregator(TZ, 30, W, fold_quiet_ms=quiet)
    agg2.update("X", contacts, now)
    assert agg2.accepts(contacts, "c6", proj(c5 + 1, a="a2"), now)
    assert agg2.due_folds(now) == [K1]
    # a rebuilt aggregator folds nothing for the quiet time
    agg3 = FcrAggregator(TZ, 30, W, fold_quiet_ms=quiet)
    agg3.update("X", contacts, now)
    agg3.hold_folds(now)
    assert agg3.due_folds(now + quiet - 1) == []
    assert agg3.due_folds(now + quiet + agg3._quiet_bucket_ms()) == [K1]
    assert len(agg3.recent_offered) <= 17  # bounded: a fixed number of buckets


def test_droppable_after_the_last_interval_it_is_context_of_is_folded() -> None:
    agg = FcrAggregator(TZ, 30, W)
    leg = proj(C1 + 2 * MIN, q="sales", p="c1")
    contacts = {"c1": proj(C1, a="a1"), "leg": leg, "orphan": proj(C1, p="gone")}
    agg.update("X", contacts, C1 + W)
    assert agg.droppable(contacts, DROP_AT_1) == []
    # past the drop instant but K1 not folded: kept (its counts are still live)
    assert agg.droppable(contacts, DROP_AT_1 + 1) == ["orphan"]
    fold_all(agg, DROP_AT_1 + 1)
    assert sorted(agg.droppable(contacts, DROP_AT_1 + 1)) == ["c1", "leg", "orphan"]
    assert agg.droppable(contacts, DROP_AT_1) == []


def test_a_date_record_expires_once_the_date_is_before_the_cutoff() -> None:
    agg = FcrAggregator(TZ, 30, W)
    contacts = {"c1": proj(C1, a="a1")}
    agg.update("X", contacts, C1 + W)
    fold_all(agg, FOLD_AT_1 + 1)
    agg.take_dirty()
    # the record goes once every interval of its date starts before the cutoff (the cutoff is
    # a local midnight: the oldest kept day's)
    day_end = local_ms("2024-03-11 00:00:00")
    assert agg.expire_dates(day_end - 1, 10) == []
    assert agg.interval_figures(K1) == counts(1, 0, 1, 1)
    assert agg.agent_day_figures(("a1", DATE_1)) == [1, 1]
    assert agg.expire_dates(day_end, 10) == [DATE_1]
    assert agg.date_records == {} and agg.open_dates == {}
    # its intervals' and agents' figures are published as tombstones
    assert agg.interval_figures(K1) is None
    assert agg.agent_day_figures(("a1", DATE_1)) is None
    assert agg.take_dirty() == ({K1}, {("a1", DATE_1)})
    agg.update("X", contacts, FOLD_AT_1 + 2)  # an expired interval is not counted again
    assert agg.intervals == {}
    assert not agg.accepts(contacts, "c1", proj(C1, r=False), FOLD_AT_1 + 2)
    assert agg.expire_dates(day_end, 10) == []


# --- one record per (local date, partition): the counts and the agents' rows of a fold -------

K2 = ("support", local_ms("2024-03-10 10:00:00"))
FOLD_AT_2 = local_ms("2024-03-12 10:30:00")  # K2's end + 2W
K1_NAME = b'"support|1710034200000"'
K2_NAME = b'"support|1710036000000"'


def test_k2_anchor() -> None:
    assert K2[1] == 1_710_036_000_000 and K1_NAME == orjson.dumps(f"support|{K1[1]}")


def two_partitions() -> tuple[FcrAggregator, FcrAggregator]:
    """Partition 0: c1 (K1, a1, resolved), c2 (K2, a2, wrap-up unresolved), c3 (K2, a1,
    resolved); partition 1: c4 (K2, a1, resolved). Every customer has one contact."""
    agg0, agg1 = FcrAggregator(TZ, 30, W), FcrAggregator(TZ, 30, W)
    now = local_ms("2024-03-11 10:30:00")  # every window closed
    agg0.update("X", {"c1": proj(C1, a="a1")}, now)
    agg0.update("Z", {"c2": proj(local_ms("2024-03-10 10:05:00"), a="a2", r=False)}, now)
    agg0.update("X2", {"c3": proj(local_ms("2024-03-10 10:20:00"), a="a1")}, now)
    agg1.update("Y", {"c4": proj(local_ms("2024-03-10 10:10:00"), a="a1")}, now)
    return agg0, agg1


# partition 0's date record once K1 and K2 are folded: K1 [1 contact, 0 repeats, 1 eligible, 1
# resolved]; K2: c2 and c3, both eligible, c3 resolved; a1: c1 and c3 (both resolved), a2: c2
BOTH_0 = b'{"_p":0,"c":{' + K1_NAME + b":[1,0,1,1]," + K2_NAME + b':[2,0,2,1]},"a":{"a1":[2,2],"a2":[1,0]}}'


def test_two_intervals_of_one_date_by_two_agents_folded_in_one_pass_are_one_record() -> None:
    agg0, agg1 = two_partitions()
    t0, t1 = Tables(), Tables()
    assert fold_all(agg0, FOLD_AT_2 + 1, t0, partition=0) == [K1, K2]
    assert fold_all(agg1, FOLD_AT_2 + 1, t1, partition=1) == [K2]
    assert t0.final == {"2024-03-10|0": BOTH_0}
    assert t1.final == {"2024-03-10|1": b'{"_p":1,"c":{' + K2_NAME + b':[1,0,1,1]},"a":{"a1":[1,1]}}'}
    for agg in (agg0, agg1):  # closed: nothing parsed, nothing live
        assert (agg.open_dates, agg.live_per_date, agg.agent_days, agg.interval_agents) == ({}, {}, {}, {})
    # what the API sums over the partitions: K2 3 contacts, 3 eligible, 2 resolved; a1 3, 3; a2 1, 0
    assert agg0.interval_figures(K1) == counts(1, 0, 1, 1)
    assert agg0.interval_figures(K2) == counts(2, 0, 2, 1)
    assert agg1.interval_figures(K2) == counts(1, 0, 1, 1)
    assert agg1.interval_figures(K1) is None
    assert agg0.agent_day_figures(("a1", DATE_1)) == [2, 2]
    assert agg1.agent_day_figures(("a1", DATE_1)) == [1, 1]
    assert agg0.agent_day_figures(("a2", DATE_1)) == [1, 0]
    assert agg1.agent_day_figures(("a2", DATE_1)) is None
    assert sorted(agg0.agent_day_keys()) == [("a1", DATE_1), ("a2", DATE_1)]
    assert sorted(agg0.final_interval_keys()) == [K1, K2]


def test_a_second_pass_adds_to_the_date_record() -> None:
    agg0, _ = two_partitions()
    t0 = Tables()
    assert fold_all(agg0, FOLD_AT_1 + 1, t0) == [K1]  # K2 is not due yet
    assert t0.final == {"2024-03-10|0": b'{"_p":0,"c":{' + K1_NAME + b':[1,0,1,1]},"a":{"a1":[1,1]}}'}
    # K2 is live: the date can change, its record is held parsed; figures final + live
    assert agg0.open_dates == {DATE_1: DateFinal({K1: [1, 0, 1, 1]}, {"a1": [1, 1]})}
    assert agg0.live_per_date == {DATE_1: 1}
    assert agg0.agent_day_figures(("a1", DATE_1)) == [2, 2]  # c1 final, c3 live
    assert agg0.agent_day_figures(("a2", DATE_1)) == [1, 0]
    assert fold_all(agg0, FOLD_AT_2 + 1, t0) == [K2]
    assert t0.final == {"2024-03-10|0": BOTH_0}  # the same record as one pass of both
    assert agg0.open_dates == {} and agg0.agent_day_figures(("a1", DATE_1)) == [2, 2]


def test_a_closed_date_reopened_by_a_new_interval_is_parsed_and_folded_into_again() -> None:
    agg0, _ = two_partitions()
    fold_all(agg0, FOLD_AT_2 + 1)
    assert agg0.open_dates == {}
    # a new customer's contact in 15:00, an interval of that date never counted (accepted)
    c5 = local_ms("2024-03-10 15:10:00")
    k5 = ("support", local_ms("2024-03-10 15:00:00"))
    now = FOLD_AT_2 + HOUR
    assert agg0.accepts(None, "c5", proj(c5, a="a2"), now)
    agg0.update("V", {"c5": proj(c5, a="a2")}, now)
    assert agg0.open_dates == {DATE_1: DateFinal({K1: [1, 0, 1, 1], K2: [2, 0, 2, 1]}, {"a1": [2, 2], "a2": [1, 0]})}
    assert agg0.agent_day_figures(("a2", DATE_1)) == [2, 1]
    tables = Tables()
    assert fold_all(agg0, local_ms("2024-03-12 15:30:00") + 1, tables) == [k5]  # its end + 2W
    assert tables.final == {
        "2024-03-10|0": BOTH_0[: -len(b'},"a":{"a1":[2,2],"a2":[1,0]}}')]
        + b',"support|'
        + str(k5[1]).encode()
        + b'":[1,0,1,1]},"a":{"a1":[2,2],"a2":[2,1]}}'
    }
    assert agg0.open_dates == {} and agg0.agent_day_figures(("a2", DATE_1)) == [2, 1]
    assert agg0.interval_figures(k5) == counts(1, 0, 1, 1)


def published(agg: FcrAggregator) -> tuple[dict, dict]:
    keys = set(agg.intervals) | set(agg.final_interval_keys())
    days = set(agg.agent_day_keys())
    return (
        {k: agg.interval_figures(k) for k in keys if agg.interval_figures(k) is not None},
        {k: agg.agent_day_figures(k) for k in days if agg.agent_day_figures(k) is not None},
    )


def state(agg: FcrAggregator) -> tuple:
    return (
        dict(agg.intervals),
        {k: list(v) for k, v in agg.agent_days.items()},
        {k: dict(v) for k, v in agg.interval_agents.items()},
        dict(agg.date_records),
        dict(agg.open_dates),
        dict(agg.live_per_date),
    )


def test_a_fold_not_acknowledged_applies_nothing_an_acknowledged_one_moves_counts_and_rows_at_once() -> None:
    agg0, _ = two_partitions()
    customers = {
        "X": {"c1": proj(C1, a="a1")},
        "Z": {"c2": proj(local_ms("2024-03-10 10:05:00"), a="a2", r=False)},
        "X2": {"c3": proj(local_ms("2024-03-10 10:20:00"), a="a1")},
    }
    t0 = Tables()
    fold_all(agg0, FOLD_AT_1 + 1, t0)  # K1 folded: the date has a record, K2 is live
    old_record = dict(t0.final)
    figures, held = published(agg0), state(agg0)
    assert figures == (
        {K1: counts(1, 0, 1, 1), K2: counts(2, 0, 2, 1)},
        {("a1", DATE_1): [2, 2], ("a2", DATE_1): [1, 0]},
    )
    now = FOLD_AT_2 + 1
    agg0.take_dirty()

    # a fold of K2 written but not acknowledged (the write failed): nothing of it is applied
    fold = agg0.fold(agg0.due_folds(now), 0)
    assert fold.dates == {DATE_1: BOTH_0}
    assert state(agg0) == held and published(agg0) == figures
    agg0.release_fold(fold)
    assert state(agg0) == held and published(agg0) == figures
    assert agg0.take_dirty() == (set(), set())
    # K2 is still live: a record of it is accepted, and it is due again
    c3 = customers["X2"]["c3"]
    assert agg0.accepts(customers["X2"], "c3", {**c3, "r": False}, now)
    assert agg0.due_folds(now) == [K2]

    # acknowledged: one record moves K2's counts and a1's and a2's rows at once
    fold = agg0.fold([K2], 0)
    assert fold.dates == {DATE_1: BOTH_0}
    agg0.apply_fold(fold)
    assert (agg0.intervals, agg0.agent_days, agg0.interval_agents) == ({}, {}, {})
    assert agg0.date_records == {DATE_1: BOTH_0}
    assert published(agg0) == figures
    assert agg0.take_dirty() == ({K2}, {("a1", DATE_1), ("a2", DATE_1)})

    # a crash at any instant: a restart reads the old record (not acknowledged) or the new one
    # (acknowledged), with the projections still there (they are dropped after the apply):
    # the figures are exact either way
    for record in (old_record, {"2024-03-10|0": BOTH_0}):
        rebuilt = Tables(dict(record)).rebuilt()
        for cu, contacts in customers.items():
            rebuilt.update(cu, contacts, now)
        assert published(rebuilt) == figures


def test_a_closed_date_is_read_back_from_its_bytes() -> None:
    raw = b'{"_p":3,"c":{' + K1_NAME + b":[1,0,1,1]," + K2_NAME + b':[2,0,2,1]},"a":{"a1":[2,2],"a2":[1,0]}}'
    agg = FcrAggregator(TZ, 30, W)
    agg.load("2024-03-10|3", raw)
    assert agg.date_records[DATE_1] is raw and agg.open_dates == {}  # the table's bytes, held once
    # republished after a rebuild
    assert agg.take_dirty() == ({K1, K2}, {("a1", DATE_1), ("a2", DATE_1)})
    assert agg.interval_figures(K1) == counts(1, 0, 1, 1)
    assert agg.interval_figures(K2) == counts(2, 0, 2, 1)
    assert agg.interval_figures(("sales", K1[1])) is None
    assert agg.agent_day_figures(("a1", DATE_1)) == [2, 2]
    assert agg.agent_day_figures(("a2", DATE_1)) == [1, 0]
    assert agg.agent_day_figures(("a3", DATE_1)) is None
    assert agg.agent_day_figures(("a1", "2024-03-11")) is None
    assert agg._parsed is not None and agg._parsed[1] is raw  # one date kept parsed until the pass ends
    agg.take_dirty()
    assert agg._parsed is None
    kq = ("q", local_ms("2024-03-11 00:00:00"))  # local midnight: the next date
    assert agg.by_date([K1, kq, K2], [("a1", DATE_1), ("a2", "2024-03-12")]) == {
        DATE_1: ([K1, K2], ["a1"]),
        "2024-03-11": ([kq], []),
        "2024-03-12": ([], ["a2"]),
    }
    # folded intervals are read from the bytes without parsing them
    assert record_holds_interval(raw, K1) and record_holds_interval(raw, K2)
    assert not record_holds_interval(raw, ("support", K1[1] + 1)) and not record_holds_interval(raw, ("sales", K1[1]))
    # a store that decoded the JSON (RocksDB) hands a dict: the same bytes are held
    agg2 = FcrAggregator(TZ, 30, W)
    agg2.load("2024-03-10|3", orjson.loads(raw))
    assert agg2.date_records == {DATE_1: raw}
    assert record_partition(raw) == 3 and record_partition(orjson.loads(raw)) == 3
    assert record_partition(b'{"a":{},"_p":5}') == 5  # another key order: parsed
    assert parse_date_record(raw) == DateFinal({K1: [1, 0, 1, 1], K2: [2, 0, 2, 1]}, {"a1": [2, 2], "a2": [1, 0]})
    assert date_record(3, parse_date_record(raw)) == raw


def test_reading_a_record_without_parsing_it_is_exact_for_any_names() -> None:
    """Queue and agent names holding quotes, commas, braces and pipes: only an interval of
    ``"c"`` is found, by its exact name."""
    q = 'x","support|1":[0],"y'
    start = K1[1]
    agent = f'z"support|{start}'  # an agent whose escaped id ends like K1's name
    raw = date_record(
        0,
        DateFinal({(q, start): [1, 0, 0, 0], ('a},"a":{', start): [1, 0, 0, 0]}, {agent: [1, 1], "support|1": [1, 0]}),
    )
    assert record_holds_interval(raw, (q, start))
    assert record_holds_interval(raw, ('a},"a":{', start))
    assert not record_holds_interval(raw, ("support", 1))  # inside q's name only
    assert not record_holds_interval(raw, ("support", start))  # the tail of an agent's id only
    assert not record_holds_interval(raw, ("x", start))
    assert not record_holds_interval(b'{"_p":0,"c":{},"a":{}}', K1)


def test_legacy_records_of_one_interval_count_and_expire_with_it() -> None:
    """A worker upgraded in place recovers final records of one interval each, with or
    without the agents' rows, next to date records written since."""
    k3 = ("sales", local_ms("2024-03-10 11:00:00"))
    tables = Tables(
        {
            final_key(*K1, 0): b'{"_p":0,"c":[2,0,2,1],"a":{"a1":[2,1]}}',
            final_key(*k3, 0): {"_p": 0, "c": [1, 1, 0, 0]},  # as a store that decoded it hands it
            "2024-03-10|0": b'{"_p":0,"c":{' + K2_NAME + b':[2,0,2,1]},"a":{"a1":[1,0],"a2":[1,1]}}',
        }
    )
    agg = tables.rebuilt()
    assert agg.interval_figures(K1) == counts(2, 0, 2, 1)
    assert agg.interval_figures(k3) == counts(1, 1, 0, 0)
    assert agg.interval_figures(K2) == counts(2, 0, 2, 1)
    assert agg.agent_day_figures(("a1", DATE_1)) == [3, 1]  # legacy 2, 1 + date record 1, 0
    assert agg.agent_day_figures(("a2", DATE_1)) == [1, 1]
    assert agg.take_dirty() == ({K1, K2, k3}, {("a1", DATE_1), ("a2", DATE_1)})
    # legacy intervals are folded: a record of them is refused
    assert not agg.accepts(None, "c9", proj(K1[1] + MIN), FOLD_AT_2)
    assert not agg.accepts(None, "c9", proj(k3[1] + MIN, q="sales"), FOLD_AT_2)
    # a live contact of the date: legacy + date record + live
    agg.update("X", {"c2": proj(local_ms("2024-03-10 12:05:00"), a="a1")}, local_ms("2024-03-11 12:10:00"))
    assert agg.agent_day_figures(("a1", DATE_1)) == [4, 2]
    agg.update("X", None, local_ms("2024-03-11 12:10:00"))
    agg.take_dirty()
    # each expires with its interval; its rows go with it
    assert agg.expire_legacy(K1[1], 10) == []  # an interval starting at the cutoff is kept
    assert agg.expire_legacy(K1[1] + 1, 10) == [K1]
    assert agg.legacy_days == {}
    assert agg.interval_figures(K1) is None
    assert agg.agent_day_figures(("a1", DATE_1)) == [1, 0]
    assert agg.take_dirty() == ({K1}, {("a1", DATE_1)})
    assert agg.expire_legacy(k3[1] + 1, 10) == [k3]
    assert agg.legacy_final == {} and agg.interval_figures(k3) is None
    assert agg.date_records  # the date record goes with its date


# --- a stream of days: final + live equals derive over every contact -------------------------


def stream(seed: int, days: int, per_day: int, window_ms: int, queues: tuple[str, ...] = ("support", "sales")):
    """Projection records of a steady stream: per contact an offer, the answer 2 min later and,
    for some, an unresolved wrap-up 10 min later; some contacts are transfer legs of the
    customer's latest root. Arrival = the record's time: no record is late."""
    rng = random.Random(seed)
    start = local_ms("2024-03-10 00:00:00")
    customers: list[str] = []  # in order of first contact; 60 % of contacts come from a new one
    records: list[tuple[int, str, str, dict | None]] = []
    latest_root: dict[str, tuple[str, int, str]] = {}
    n = days * per_day
    for i in range(n):
        o = start + rng.randrange(days * DAY)
        records.append((o, "", f"k{i}", None))
    records.sort()
    out: list[tuple[int, str, str, dict]] = []
    for o, _, cid, _ in records:
        if not customers or rng.random() < 0.6:
            customers.append(f"cu{len(customers)}")
            cu = customers[-1]
        else:
            cu = rng.choice(customers[-10:])  # one of the latest: a call back within hours
        q = rng.choice(queues)
        parent = None
        root = latest_root.get(cu)
        if root is not None and rng.random() < 0.1 and o - root[1] < 20 * MIN:
            parent = root[0]
        if parent is None:
            latest_root[cu] = (cid, o, q)
        agent = rng.choice(("a1", "a2", "a3", "a4")) if rng.random() < 0.8 else None
        base = {"o": o, "q": q, "p": parent, "a": None, "r": None}
        out.append((o, cu, cid, base))
        if agent is not None:
            out.append((o + 2 * MIN, cu, cid, {**base, "a": agent}))
            if rng.random() < 0.2:
                out.append((o + 10 * MIN, cu, cid, {**base, "a": agent, "r": False}))
    out.sort(key=lambda r: r[0])
    return out


def run(
    records,
    window_ms: int,
    quiet_ms: int = 0,
    tick_ms: int = 5 * MIN,
    drop_every_ms: int = HOUR,
    end_ms: int | None = None,
    keep_all: bool = True,
):
    """The worker's FCR path over ``records``: accept/apply/update per record, a publisher tick
    (advance + fold) every ``tick_ms`` of arrival time, a drop pass every ``drop_every_ms``."""
    agg = FcrAggregator(TZ, 30, window_ms, fold_quiet_ms=quiet_ms)
    table: dict[str, dict] = {}
    final_table = Tables()
    everything: dict[str, dict] = {}  # every contact ever, never dropped (the reference's input)
    refused = 0
    state = {"tick": None, "drop": None}
    most_contacts = 0

    def tick(now: int) -> None:
        nonlocal most_contacts
        if state["tick"] is None:
            state["tick"], state["drop"] = now, now
        while state["tick"] + tick_ms <= now:
            state["tick"] += tick_ms
            agg.advance(state["tick"], table.get)
            fold_all(agg, state["tick"], final_table)
            if state["drop"] + drop_every_ms <= state["tick"]:
                state["drop"] = state["tick"]
                for cu in list(table):
                    gone = agg.droppable(table[cu], state["tick"])
                    if gone:
                        left = {k: v for k, v in table[cu].items() if k not in gone}
                        if left:
                            table[cu] = left
                        else:
                            del table[cu]
                        agg.update(cu, left, state["tick"])
                most_contacts = max(most_contacts, sum(len(c) for c in table.values()))

    for at, cu, cid, value in records:
        tick(at)
        if keep_all:
            everything.setdefault(cu, {})[cid] = value
        before = table.get(cu)
        new = apply_projection(before, cid, value)
        if new is None:
            continue
        if not agg.accepts(before, cid, value, at):
            refused += 1
            continue
        table[cu] = new
        agg.update(cu, new, at)
    end = end_ms if end_ms is not None else records[-1][0] + 7 * window_ms
    tick(end)
    agg.advance(end, table.get)  # the figures as of ``end`` itself
    return agg, table, final_table, everything, refused, end, most_contacts


def test_final_plus_live_equals_derive_over_every_contact() -> None:
    window = 3 * HOUR
    for seed in (1, 2, 3):
        records = stream(seed, days=3, per_day=150, window_ms=window)
        # end at the last record + 2 h: some intervals folded, the last ones still live
        agg, table, final_table, everything, refused, end, most = run(
            records, window, quiet_ms=10 * MIN, end_ms=records[-1][0] + 2 * HOUR
        )
        assert refused == 0  # no record is late
        assert agg.date_records and agg.intervals  # both parts are exercised
        want_intervals, want_days = reference(everything, end, window)
        assert sum(c.repeat_contacts for c in want_intervals.values()) > 10
        assert (
            0
            < sum(c.fcr_resolved for c in want_intervals.values())
            < sum(c.fcr_eligible for c in want_intervals.values())
        )
        got_intervals, got_days = published(agg)
        assert got_intervals == want_intervals
        assert got_days == want_days
        # memory follows the last few windows: every projection held was offered within
        # 3W + an interval + the drop period before the last drop pass
        oldest = min(p["o"] for c in table.values() for p in c.values())
        assert oldest >= end - (3 * window + I_MS + HOUR + 5 * MIN)
        assert most < len(records) / 3
        # records parsed only for dates with a live interval; the others are bytes
        assert set(agg.open_dates) == set(agg.date_records) & set(agg.live_per_date)
        assert set(agg.date_records) - set(agg.open_dates)  # some dates closed
        # one record per local date (of partition 0), the aggregator's bytes are the table's
        assert {parse_final_key(k) for k in final_table.final} == {(d, 0) for d in agg.date_records}
        assert all(record_partition(raw) == 0 for raw in final_table.final.values())
        assert all(agg.date_records[parse_final_key(k)[0]] is raw for k, raw in final_table.final.items())
        # a restart from the date records and the customers table gives the same figures, and
        # holds the same state as the live aggregator
        rebuilt = final_table.rebuilt(window)
        for cu, contacts in table.items():
            rebuilt.update(cu, contacts, end)
        assert published(rebuilt) == (want_intervals, want_days)
        assert rebuilt.date_records == agg.date_records
        assert rebuilt.open_dates == agg.open_dates
        assert rebuilt.live_per_date == agg.live_per_date
        assert rebuilt.intervals == agg.intervals and rebuilt.agent_days == agg.agent_days
        # the records hold the counts and the agents' rows of every folded interval, by local
        # date: with the live ones, the reference's figures
        folded_counts: dict[tuple[str, int], list[int]] = {}
        folded_rows: dict[tuple[str, str], list[int]] = {}
        for raw_key, raw in final_table.final.items():
            day = parse_final_key(raw_key)[0]
            rec = orjson.loads(raw)
            for name, c in rec["c"].items():
                queue, start = name.rsplit("|", 1)
                assert datetime.fromtimestamp(int(start) / 1000, TZ).date().isoformat() == day
                folded_counts[(queue, int(start))] = c
            for aid, row in rec["a"].items():
                folded_rows[(aid, day)] = row
        assert folded_counts.keys().isdisjoint(agg.intervals)
        for key, want_counts in want_intervals.items():
            live = agg.intervals.get(key) or counts(0, 0, 0, 0)
            fin = folded_counts.get(key, [0, 0, 0, 0])
            assert (
                counts(
                    fin[0] + live.customer_contacts,
                    fin[1] + live.repeat_contacts,
                    fin[2] + live.fcr_eligible,
                    fin[3] + live.fcr_resolved,
                )
                == want_counts
            )
        live_rows = agg.agent_days
        for akey, want in want_days.items():
            got = [a + b for a, b in zip(folded_rows.get(akey, [0, 0]), live_rows.get(akey, [0, 0]), strict=True)]
            assert got == want


def test_a_replay_of_past_days_is_folded_once_it_has_moved_on() -> None:
    window = 3 * HOUR
    records = stream(7, days=2, per_day=150, window_ms=window)
    replay_at = records[-1][0] + 30 * DAY  # every interval is long past its end + 2W
    replay = [(replay_at + 10 * i, cu, cid, v) for i, (_, cu, cid, v) in enumerate(records)]
    end = replay[-1][0] + HOUR
    # ticks every 1 s of the replay: with the quiet time nothing is folded while a record
    # within a window of it may still come, and the figures are those of every contact
    agg, _, _, everything, refused, _, _ = run(replay, window, quiet_ms=5 * MIN, tick_ms=1000, end_ms=end)
    assert refused == 0
    assert published(agg) == reference(everything, end, window)
    assert agg.intervals == {}  # all folded in the end
    # without it, intervals are folded while the replay still streams: records are refused
    agg0, _, _, _, refused0, _, _ = run(replay, window, quiet_ms=0, tick_ms=1000, end_ms=end)
    assert refused0 > 0
    assert published(agg0) != reference(everything, end, window)


# --- memory: 62 days of a steady stream --------------------------------------------------------


def traced_run(records, window_ms: int, fold: bool) -> tuple[int, int]:
    """Traced bytes held at the end by the aggregator + the tables (as dicts), and contacts."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        if fold:
            agg, table, final_table, *_ = run(
                records, window_ms, tick_ms=30 * MIN, drop_every_ms=2 * HOUR, end_ms=records[-1][0] + 1, keep_all=False
            )
        else:  # what the worker did before: every contact's projection and outcome kept
            agg = FcrAggregator(TZ, 30, window_ms)
            table, final_table = {}, {}
            for at, cu, cid, value in records:
                new = apply_projection(table.get(cu), cid, value)
                if new is not None:
                    table[cu] = new
                    agg.update(cu, new, at)
                    agg.advance(at, table.get)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
        assert agg is not None and table is not None and final_table is not None
    finally:
        tracemalloc.stop()
    return held, len({cid for _, _, cid, _ in records})


PER_DAY = 240


def test_62_days_of_contacts_hold_fcr_state_of_the_last_windows_only() -> None:
    """62 days x 240 contacts a day on one queue, W = 24 h: ~5 contacts per final record (a
    sparse floor, where the per-interval record weighs most). Bound: 300 bytes per retained
    contact = the projections and outcomes of the last 3W + the drop period (3.1 of 62 days,
    5 %) at the ~1.1 KB each the old state costs (~55 B a retained contact) + one final record
    per queue and interval (~880 B with its key and index entry, /5.2 contacts: ~170 B) + room
    for dict growth. The old state keeps every contact's projection and outcome: over 600 B
    each (~830 B measured here, 1,076 B in docs/performance.md's profile)."""
    records = stream(11, days=62, per_day=PER_DAY, window_ms=W, queues=("support",))
    new_bytes, n = traced_run(records, W, fold=True)
    old_bytes, _ = traced_run(records, W, fold=False)
    per_new, per_old = new_bytes / n, old_bytes / n
    print(f"FCR state per retained contact: {per_new:.0f} B with finality, {per_old:.0f} B without")
    assert per_new < 300 < 600 < per_old
