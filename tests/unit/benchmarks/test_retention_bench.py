"""The pure parts of benchmarks/retention.py: generated facts, changelog records, arithmetic."""

from __future__ import annotations

import hashlib
import os
import random
import sys
import time

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner

from benchmarks.retention import (
    DAY_MS,
    HOUR_MS,
    FcrShape,
    bytes_per_contact,
    contact_partition,
    cpu_seconds,
    deep_size,
    facts_of,
    final_records,
    fits,
    fits_in_time,
    lifecycle,
    marginal_bytes_per_contact,
    merge_finals,
    per_million,
    retained_chunk,
    retained_contacts,
    steady_state_fcr,
)
from floorwatch.domain.contacts import hash_customer
from floorwatch.domain.factcodec import unpack
from floorwatch.domain.fcr import partition_for, projection
from floorwatch.domain.queue_metrics import QueueRules

KEY = b"test-customer-key"
RULES = {
    "sales": QueueRules(20_000, 5_000, 0.8, "answered_over_offered"),
    "support": QueueRules(30_000, 5_000, 0.8, "answered_over_offered"),
    "chat": QueueRules(60_000, 10_000, 0.9, "answered_over_answered_and_late_abandons"),
}


def rules_for(queue: str) -> QueueRules:
    return RULES[queue]


def blake64(event_id: str) -> int:
    """The event hash facts keep of an event id: BLAKE2b with an 8-byte digest, big-endian."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big")


def eids() -> object:
    counter = iter(range(1, 1000))
    return lambda: f"e{next(counter)}"


def test_facts_of_a_handwritten_lifecycle() -> None:
    events = [
        (
            1_000,
            {
                "contact_id": "c1",
                "type": "contact.offered",
                "queue": "support",
                "channel": "voice",
                "customer": "+4412345",
                "event_id": "e1",
            },
        ),
        (6_000, {"contact_id": "c1", "type": "contact.answered", "agent_id": "a7", "event_id": "e2"}),
        (9_000, {"contact_id": "c1", "type": "contact.hold_started", "agent_id": "a7", "event_id": "e3"}),
        (19_000, {"contact_id": "c1", "type": "contact.hold_ended", "agent_id": "a7", "event_id": "e4"}),
        (60_000, {"contact_id": "c1", "type": "contact.ended", "agent_id": "a7", "event_id": "e5"}),
        (
            90_000,
            {"contact_id": "c1", "type": "contact.wrapup_ended", "agent_id": "a7", "resolved": False, "event_id": "e6"},
        ),
    ]
    assert facts_of(events, rules_for, KEY) == {
        "o": [1_000, blake64("e1")],
        "q": "support",
        "ch": "voice",
        "cu": hash_customer("+4412345", KEY),
        "r": [30_000, 5_000, 0.8, "answered_over_offered"],
        "a": [6_000, blake64("e2"), "a7"],
        "h": sorted([[blake64("e3"), 1, 9_000], [blake64("e4"), 0, 19_000]]),
        "e": [60_000, blake64("e5"), "a7"],
        "w": [90_000, blake64("e6"), "a7", False],
    }


@pytest.mark.parametrize("seed", range(40))
def test_lifecycle_facts_do_not_depend_on_event_order(seed: int) -> None:
    events = lifecycle(random.Random(seed), f"c{seed}", 1_700_000_000_000, "cust-1" if seed % 3 else None, eids())
    shuffled = list(events)
    random.Random(seed + 100).shuffle(shuffled)
    facts = facts_of(events, rules_for, KEY)
    assert facts_of(shuffled, rules_for, KEY) == facts
    # every event left its fact: the offer, one outcome, the holds, end and wrap-up
    assert facts["o"] == [1_700_000_000_000, blake64(events[0][1]["event_id"])]
    kinds = [ev["type"] for _, ev in events]
    assert ("b" in facts) == ("contact.abandoned" in kinds)
    assert ("a" in facts) == ("e" in facts) == ("w" in facts) == ("contact.answered" in kinds)
    assert len(facts.get("h", {})) == kinds.count("contact.hold_started") + kinds.count("contact.hold_ended")
    assert ("cu" in facts) == (seed % 3 != 0)
    assert len({ev["event_id"] for _, ev in events}) == len(events)
    assert [ts for ts, _ in events] == sorted(ts for ts, _ in events)


def test_contact_partition_is_aiokafkas_default_partitioner() -> None:
    partitioner = DefaultPartitioner()
    for i in range(200):
        key = f"r-bench-{i}"
        assert contact_partition(key, 8) == partitioner(key.encode(), list(range(8)), list(range(8)))


HALF_HOUR_MS = 1_800_000
W_MS = 24 * HOUR_MS


def floor_half_hour(ts_ms: int) -> int:
    """Start of the UTC 30-minute interval holding ``ts_ms`` (FcrShape's default)."""
    return ts_ms - ts_ms % HALF_HOUR_MS


def test_retained_chunk_records_are_what_the_worker_writes() -> None:
    now_ms = 1_800_000_000_000
    chunk = retained_chunk(
        1_000, 300, seed=3, now_ms=now_ms, retention_days=62, partitions=8, rules_for=rules_for, customer_key=KEY
    )
    assert len(chunk.contacts) == 300
    ids = [orjson.loads(k) for _, k, _ in chunk.contacts]
    assert ids == [f"r-bench-{i}" for i in range(1_000, 1_300)]
    all_projections: dict[str, dict] = {}
    for (p, key, value), cid in zip(chunk.contacts, ids, strict=True):
        facts = unpack(value)
        assert value[0] == 1  # the packed format, version 1
        assert key == orjson.dumps(cid)
        assert facts["_p"] == p == contact_partition(cid, 8)
        assert now_ms - 61 * DAY_MS <= facts["o"][0] < now_ms - 2 * HOUR_MS
        rules = RULES[facts["q"]]
        assert facts["r"] == [rules.sl_threshold_ms, rules.short_abandon_ms, rules.sl_target, rules.sl_formula]
        proj = projection(facts)
        if proj is not None:
            all_projections.setdefault(proj[0], {})[cid] = proj[1]
    with_customer = sum(len(c) for c in all_projections.values())
    assert 0.75 * 300 < with_customer < 0.95 * 300  # 85 % of offers carry a customer
    assert chunk.projections == with_customer
    # a long-running worker keeps a projection (no transfers here: each is a root) until the
    # interval holding offered + W is folded, i.e. while that interval's end + 2W >= now
    expected_kept = {
        cu: kept
        for cu, c in all_projections.items()
        if (
            kept := {
                cid: v for cid, v in c.items() if floor_half_hour(v["o"] + W_MS) + HALF_HOUR_MS + 2 * W_MS >= now_ms
            }
        )
    }
    got = {orjson.loads(k): (p, orjson.loads(v)) for p, k, v in chunk.customers}
    assert got.keys() == expected_kept.keys()
    assert expected_kept  # offers span 61 days: a few fall within the last ~3 days
    for cu, (p, rec) in got.items():
        assert p == rec["_p"] == partition_for(cu, 8)
        assert rec["c"] == expected_kept[cu]
    assert chunk.finals and chunk.finals == independent_finals(all_projections, now_ms, 8)


def independent_finals(customers: dict[str, dict[str, dict]], now_ms: int, partitions: int) -> dict[str, dict]:
    """Date records by the FCR definitions, written out without floorwatch.domain.fcr (roots
    only, UTC 30-minute intervals, W = 24 h): an interval is final once its end + 2W < now; its
    counts and its agents' rows go to the record of its UTC date and partition."""
    out: dict[str, dict] = {}
    for cu, contacts in customers.items():
        p = partition_for(cu, partitions)
        roots = sorted((v["o"], cid) for cid, v in contacts.items())
        for i, (offered, cid) in enumerate(roots):
            start = floor_half_hour(offered)
            if not start + HALF_HOUR_MS + 2 * W_MS < now_ms:
                continue
            v = contacts[cid]
            repeat = i > 0 and roots[i - 1][0] >= offered - W_MS
            followed = i + 1 < len(roots) and roots[i + 1][0] <= offered + W_MS
            eligible = v["a"] is not None and now_ms >= offered + W_MS
            resolved = eligible and not followed and v["r"] is not False
            day = time.strftime("%Y-%m-%d", time.gmtime(start // 1000))
            rec = out.setdefault(f"{day}|{p}", {"_p": p, "c": {}, "a": {}})
            c = rec["c"].setdefault(f"{v['q']}|{start}", [0, 0, 0, 0])
            for j, flag in enumerate((True, repeat, eligible, resolved)):
                c[j] += flag
            if eligible:
                row = rec["a"].setdefault(v["a"], [0, 0])
                row[0] += 1
                row[1] += resolved
    return out


def test_steady_state_fcr_by_hand() -> None:
    now_ms = 1_800_000_000_000
    t0 = floor_half_hour(now_ms - 10 * DAY_MS)
    x, y = "aa000001", "bb000003"  # hashed customers: partition 1 and 3 of 8
    px, py = partition_for(x, 8), partition_for(y, 8)
    assert (px, py) == (1, 3)
    late = now_ms - 30 * HOUR_MS
    by_customer = {
        x: (
            px,
            {
                "c1": {"o": t0, "q": "sales", "p": None, "a": "a1", "r": None},
                "c2": {"o": t0 + 40 * 60_000, "q": "sales", "p": None, "a": "a2", "r": False},
                "c3": {"o": late, "q": "sales", "p": None, "a": "a1", "r": None},
            },
        ),
        y: (py, {"c4": {"o": t0 + 60_000, "q": "support", "p": None, "a": None, "r": None}}),
    }
    kept, finals = steady_state_fcr(by_customer, now_ms, FcrShape(), 8)
    # c1: followed by c2 within W, so eligible but not resolved; c2: a repeat, its wrap-up says
    # unresolved; c4: abandoned, a customer contact only; c3's interval ends 29.5 h or less
    # before now, less than 2W: not folded, and its projection is kept. Every interval is on
    # t0's UTC date (t0 is on a half hour before 23:00 UTC): one record per partition
    day = time.strftime("%Y-%m-%d", time.gmtime(t0 // 1000))
    assert t0 % DAY_MS <= DAY_MS - 2 * HALF_HOUR_MS
    assert finals == {
        f"{day}|1": {
            "_p": 1,
            "c": {f"sales|{t0}": [1, 0, 1, 0], f"sales|{t0 + HALF_HOUR_MS}": [1, 1, 1, 0]},
            "a": {"a1": [1, 0], "a2": [1, 0]},
        },
        f"{day}|3": {"_p": 3, "c": {f"support|{t0}": [1, 0, 0, 0]}, "a": {}},
    }
    assert kept == {x: (1, {"c3": by_customer[x][1]["c3"]})}
    rows = final_records(finals)
    assert (3, orjson.dumps(f"{day}|3"), b'{"_p":3,"c":{"support|%d":[1,0,0,0]},"a":{}}' % t0) in rows
    assert len(rows) == 2


def test_merge_finals_adds_counts_and_agent_rows() -> None:
    into: dict[str, dict] = {}
    merge_finals(into, {"2026-01-05|1": {"_p": 1, "c": {"q|0": [3, 1, 2, 1]}, "a": {"a1": [2, 1]}}})
    merge_finals(
        into,
        {
            "2026-01-05|1": {
                "_p": 1,
                "c": {"q|0": [2, 0, 1, 1], "q|9": [1, 0, 0, 0]},
                "a": {"a1": [1, 1], "a2": [1, 0]},
            },
            "2026-01-06|2": {"_p": 2, "c": {"r|5": [1, 0, 1, 1]}, "a": {"a3": [1, 1]}},
        },
    )
    assert into == {
        "2026-01-05|1": {"_p": 1, "c": {"q|0": [5, 1, 3, 2], "q|9": [1, 0, 0, 0]}, "a": {"a1": [3, 2], "a2": [1, 0]}},
        "2026-01-06|2": {"_p": 2, "c": {"r|5": [1, 0, 1, 1]}, "a": {"a3": [1, 1]}},
    }


def test_chunks_sum_to_the_finals_of_all_their_customers() -> None:
    now_ms = 1_800_000_000_000
    # 4 days of offers in one partition: intervals older than 2W hold customers of both chunks
    args = dict(seed=7, now_ms=now_ms, retention_days=4, partitions=1, rules_for=rules_for, customer_key=KEY)
    a, b = retained_chunk(0, 300, **args), retained_chunk(300, 300, **args)
    merged: dict[str, dict] = {}
    merge_finals(merged, a.finals)
    merge_finals(merged, b.finals)
    # the chunks' customer pools are disjoint, so the sums are those over all customers
    assert not {orjson.loads(k) for _, k, _ in a.customers} & {orjson.loads(k) for _, k, _ in b.customers}
    shared = {(d, i) for d in a.finals.keys() & b.finals.keys() for i in a.finals[d]["c"].keys() & b.finals[d]["c"]}
    assert shared  # some intervals hold customers of both chunks: their sums are tested
    customers: dict[str, dict[str, dict]] = {}
    for chunk in (a, b):
        for _, k, v in chunk.contacts:
            proj = projection(unpack(v))
            if proj is not None:
                customers.setdefault(proj[0], {})[orjson.loads(k)] = proj[1]
    assert merged == independent_finals(customers, now_ms, 1)
    # dates with agents' rows of both chunks: their merge is tested
    assert any(a.finals[d]["a"] and b.finals[d]["a"] for d in a.finals.keys() & b.finals.keys())


def test_retained_chunks_are_reproducible_and_disjoint() -> None:
    args = dict(
        seed=5, now_ms=1_800_000_000_000, retention_days=62, partitions=8, rules_for=rules_for, customer_key=KEY
    )
    a = retained_chunk(0, 50, **args)
    assert retained_chunk(0, 50, **args) == a
    b = retained_chunk(50, 50, **args)
    eids_a = {e for _, _, v in a.contacts for e in _eids(unpack(v))}
    eids_b = {e for _, _, v in b.contacts for e in _eids(unpack(v))}
    assert eids_a and eids_b and not eids_a & eids_b


def _eids(facts: dict) -> list[int]:
    """The event hashes the facts hold."""
    out = [facts[s][1] for s in ("o", "a", "b", "e", "w") if s in facts]
    return out + [hold[0] for hold in facts.get("h", [])]


def test_per_contact_arithmetic() -> None:
    assert bytes_per_contact(1_300_000_000, 300_000_000, 1_000_000) == 1_000.0
    assert per_million(42.0, 2_000_000) == 21.0
    assert per_million(3.0, 500_000) == 6.0
    # 1e6 -> 3e6 contacts grew RSS by 4,000,000,000 bytes: 2,000 bytes per extra contact
    assert marginal_bytes_per_contact(2_000_000_000, 1_000_000, 6_000_000_000, 3_000_000) == 2_000.0
    with pytest.raises(ValueError):
        bytes_per_contact(1, 0, 0)
    with pytest.raises(ValueError):
        marginal_bytes_per_contact(1, 5, 2, 5)


def test_sizing_arithmetic() -> None:
    assert retained_contacts(1_000, 20, 62) == 1_240_000
    assert retained_contacts(10_000, 20, 62) == 12_400_000
    gib = 2**30
    assert fits(1_000_000, 4_000, 8 * gib, 4 * gib)  # 3.7 GiB + 4 GiB <= 8 GiB
    assert not fits(2_000_000, 4_000, 8 * gib, 4 * gib)  # 7.5 GiB + 4 GiB > 8 GiB
    assert fits_in_time(5_000_000, 500, 45 * 60)  # 2,500 s <= 2,700 s
    assert not fits_in_time(20_000_000, 500, 45 * 60)  # 10,000 s > 2,700 s


def test_deep_size_counts_shared_objects_once() -> None:
    text = "x" * 40
    inner = [text, text]
    outer = {"k": inner}
    seen: set[int] = set()
    expected = sys.getsizeof(outer) + sys.getsizeof("k") + sys.getsizeof(inner) + sys.getsizeof(text)
    assert deep_size(outer, seen) == expected
    assert deep_size(inner, seen) == 0  # already counted


def test_cpu_seconds_of_this_process_matches_process_time() -> None:
    spent = cpu_seconds(os.getpid())
    assert abs(spent - time.process_time()) < 0.05
