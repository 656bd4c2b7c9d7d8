"""PackedMap against a plain dict: every operation, spills, merges, loads, collisions."""

from __future__ import annotations

import random

import pytest

from floorwatch import packedmap
from floorwatch.packedmap import PackedMap, Run, run_of


def drain(gen) -> object:
    try:
        while True:
            next(gen)
    except StopIteration as stop:
        return stop.value


def contents(m: PackedMap) -> dict[str, bytes]:
    return {k: m[k] for k in m}


def test_small_map_behaves_as_a_dict() -> None:
    m = PackedMap(hot_limit=2)
    m["a"] = b"1"
    m["b"] = b"2"  # hot full: hot -> warm
    m["c"] = b"3"
    m["d"] = b"4"  # warm {a, b} spilled into a run
    assert len(m.runs) == 1 and len(m.runs[0]) == 2
    assert m["a"] == b"1" and m.get("b") == b"2" and m.get("zz") is None and "c" in m and "zz" not in m
    m["a"] = b"11"  # out of the run (dead there), into hot
    assert m.runs[0].dead_count == 1 and m["a"] == b"11"
    del m["b"]
    assert m.runs[0].dead_count == 2 and "b" not in m
    assert m.pop("c") == b"3" and m.pop("c", None) is None
    with pytest.raises(KeyError):
        del m["b"]
    with pytest.raises(KeyError):
        m.pop("nope")
    assert len(m) == 2 and contents(m) == {"a": b"11", "d": b"4"}


def test_values_must_be_bytes_and_keys_str() -> None:
    m = PackedMap()
    with pytest.raises(TypeError):
        m["a"] = "text"  # type: ignore[assignment]
    with pytest.raises(TypeError):
        m[1] = b"x"  # type: ignore[index]


def test_run_layout_long_keys_empty_values_and_tombstones() -> None:
    long_key = "k" * 40_000  # longer than a 2-byte header holds
    run = run_of([(long_key, b"v"), ("e", b""), ("t", None), ("é", b"\x00\xff")])
    got = {run.entry(i)[0]: run.entry(i)[1] for i in range(len(run))}
    assert got == {long_key: b"v", "e": b"", "t": None, "é": b"\x00\xff"}
    assert list(run.hashes) == sorted(run.hashes)
    assert run.find("é".encode(), hash("é".encode())) >= 0 and run.find(b"x", hash(b"x")) == -1
    # bytes: hashes 8 + offsets 4 each (+1 offset), dead flag 1, headers 2 (+4 for the long key)
    assert run.nbytes == (40_000 + 1 + 1 + 1 + 2 + 2) + 4 * 2 + 4 + 4 + 8 * 4 + 4 * 5


def test_tiered_merges_keep_every_value_and_drop_dead_entries() -> None:
    m = PackedMap(hot_limit=10, fanout=4)
    truth: dict[str, bytes] = {}
    for i in range(200):
        m[f"k{i}"] = truth[f"k{i}"] = str(i).encode()
    before = len(m.runs)
    for i in range(0, 60, 2):  # kill some entries of the oldest runs
        del m[f"k{i}"]
        del truth[f"k{i}"]
    merges = drain(m.maintenance())
    assert merges >= 1 and len(m.runs) < before
    assert m.stats.entries_dropped >= 1
    assert contents(m) == truth and len(m) == len(truth)
    # after maintenance no group of `fanout` runs is due
    assert m._tiered_group() == [] and m._wasteful() == []


def test_dead_ratio_rewrites_a_run_alone() -> None:
    m = PackedMap(hot_limit=100, fanout=4, dead_ratio=0.3)
    for i in range(300):
        m[f"k{i}"] = b"x" * 10
    oldest = m.runs[-1]
    n = len(oldest)
    victims = [oldest.entry(i)[0] for i in range(n)][: n // 2]
    for k in victims:
        del m[k]
    assert m._wasteful() == [oldest]
    drain(m.maintenance())
    assert all(run is not oldest for run in m.runs)
    assert all(k not in m for k in victims) and len(m) == 300 - len(victims)


def test_kills_during_a_merge_are_replayed_on_the_merged_run() -> None:
    m = PackedMap(hot_limit=50, fanout=2)
    for i in range(200):
        m[f"k{i}"] = b"old"
    group = list(m.runs)
    steps = m._merge_runs(group, drop_tombs=False)
    old = packedmap.MERGE_SLICE
    packedmap.MERGE_SLICE = 7
    try:
        next(steps)  # part of the merge done
        in_runs = [k for run in group for k in (run.entry(i)[0] for i in range(len(run)))]
        m[in_runs[0]] = b"new"  # a copied entry written again
        del m[in_runs[-1]]  # an entry perhaps not copied yet, deleted
        drain(steps)
    finally:
        packedmap.MERGE_SLICE = old
    assert len(m.runs) == 1
    assert m[in_runs[0]] == b"new" and in_runs[-1] not in m
    assert len(m) == 199 and len([k for k in m]) == 199


def test_load_mode_shadows_and_finish_keeps_the_newest_versions() -> None:
    m = PackedMap(hot_limit=8)
    for i in range(30):
        m[f"k{i}"] = b"before"
    m.begin_load()
    for i in range(0, 30, 3):
        m[f"k{i}"] = b"v1"
    for i in range(40):
        m[f"n{i}"] = b"n1"
    for i in range(0, 30, 5):
        m.pop(f"k{i}", None)  # tombstones, some over "v1" versions
    for i in range(0, 40, 4):
        m[f"n{i}"] = b"n2"
    assert m["k3"] == b"v1" and "k5" not in m and m["n4"] == b"n2" and m["k1"] == b"before"
    with pytest.raises(RuntimeError):
        len(m)
    drain(m.finish_load())
    truth = {f"k{i}": (b"v1" if i % 3 == 0 else b"before") for i in range(30) if i % 5}
    truth.update({f"n{i}": (b"n2" if i % 4 == 0 else b"n1") for i in range(40)})
    assert len(m.runs) == 1 and m.runs[0].dead_count == 0
    assert len(m.runs[0]) == len(truth)  # no tombstone, no shadowed version left
    assert contents(m) == truth and len(m) == len(truth)


def test_a_new_load_abandons_a_merge_in_flight() -> None:
    m = PackedMap(hot_limit=20, fanout=2)
    for i in range(100):
        m[f"k{i}"] = b"x"
    old = packedmap.MERGE_SLICE
    packedmap.MERGE_SLICE = 3
    try:
        steps = m.maintenance()
        next(steps)
        m.begin_load()  # the dicts become runs first
        runs_before = list(m.runs)
        m["k1"] = b"y"
        drain(steps)  # abandoned: installs nothing
        assert all(a is b for a, b in zip(m.runs, runs_before, strict=True))
        drain(m.finish_load())
    finally:
        packedmap.MERGE_SLICE = old
    assert m["k1"] == b"y" and len(m) == 100


def test_hash_collisions_keep_keys_apart_through_merges_and_tombstones(monkeypatch) -> None:
    keys = [f"c{i}" for i in range(12)]
    monkeypatch.setattr(packedmap, "hash", lambda kb: 42 if kb.startswith(b"c") else hash(kb), raising=False)
    m = PackedMap(hot_limit=3, fanout=2)
    m.begin_load()
    for k in keys:
        m[k] = b"1"
    for k in keys[::2]:
        m.pop(k, None)  # tombstones newer than the versions they hide, same hash as everything
    for k in keys[::4]:
        m[k] = b"2"
    drain(m.finish_load())
    truth = {k: b"2" for k in keys[::4]} | {k: b"1" for k in keys[1::2]}
    assert contents(m) == truth
    m[keys[1]] = b"3"
    del m[keys[3]]
    truth[keys[1]] = b"3"
    del truth[keys[3]]
    drain(m.maintenance())
    assert contents(m) == truth and len(m) == len(truth)


@pytest.mark.parametrize("seed", range(6))
def test_random_operations_match_a_dict(seed: int) -> None:
    rng = random.Random(seed)
    m = PackedMap(hot_limit=rng.choice([4, 16, 64]), fanout=rng.choice([2, 3, 4]), dead_ratio=0.25)
    truth: dict[str, bytes] = {}
    keys = [f"key-{i}" for i in range(400)]
    maint = None
    for step in range(6_000):
        op = rng.random()
        k = rng.choice(keys)
        if op < 0.02 and not m.loading:
            m.begin_load()
        elif op < 0.04 and m.loading:
            drain(m.finish_load())
        elif op < 0.55:
            v = rng.randbytes(rng.randrange(0, 40))
            m[k] = truth[k] = v
        elif op < 0.75:
            assert m.pop(k, None) == truth.pop(k, None)
        elif op < 0.9:
            assert m.get(k) == truth.get(k)
            assert (k in m) == (k in truth)
        elif not m.loading:
            if maint is None:
                maint = m.maintenance()
            try:
                next(maint)
            except StopIteration:
                maint = None
        if step % 500 == 0 and not m.loading:
            assert len(m) == len(truth)
    if m.loading:
        drain(m.finish_load())
    if maint is not None:
        drain(maint)
    drain(m.maintenance())
    assert contents(m) == truth and len(m) == len(truth)
    assert sorted(m) == sorted(truth)


def test_scan_is_a_snapshot_in_slices() -> None:
    m = PackedMap(hot_limit=5)
    for i in range(23):
        m[f"k{i}"] = b"v"
    slices = list(m.scan(slice_size=4))
    assert all(len(s) <= 4 for s in slices)
    assert sorted(k for s in slices for k in s) == sorted(f"k{i}" for i in range(23))
    scan = m.scan(slice_size=4)
    first = next(scan)
    m["new"] = b"v"  # written after the snapshot: not listed
    rest = [k for s in scan for k in s]
    assert "new" not in first + rest and len(first + rest) == 23


def test_memory_per_entry_in_runs() -> None:
    m = PackedMap(hot_limit=1_000)
    for i in range(10_000):
        m[f"r-bench-{i:07d}"] = bytes(95)
    drain(m.maintenance())
    run_entries = sum(len(r) for r in m.runs)
    # 15-byte key + 95-byte value + 2-byte header + 8 hash + 4 offset + 1 dead flag
    assert m.nbytes() == run_entries * (15 + 95 + 2 + 8 + 4 + 1) + 4 * len(m.runs)
    assert isinstance(m.runs[0], Run)


def test_scan_items_lists_each_entry_once_even_across_a_spill() -> None:
    m = PackedMap(hot_limit=4)
    for i in range(10):
        m[f"k{i}"] = str(i).encode()
    scan = m.scan_items(slice_size=2)
    seen = list(next(scan))
    for i in range(10, 14):  # spills the warm dict meanwhile
        m[f"k{i}"] = b"late"
    seen += [pair for part in scan for pair in part]
    assert sorted(seen) == sorted((f"k{i}", str(i).encode()) for i in range(10))
