"""The API view's index of agent_handle partials (view.agent_handle[date][agent][key] = rows),
their tombstones and expiry, and the channel it keeps of each interval partial."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from floorwatch import records, topics
from floorwatch.domain.retention import drain
from floorwatch.events import to_ms
from floorwatch.readmodel.view import View

SHANGHAI = ZoneInfo("Asia/Shanghai")
I0900 = to_ms(datetime(2024, 3, 13, 9, 0, tzinfo=SHANGHAI))
I0930 = I0900 + 1_800_000


def handle(agent: str, day: str, partition: int, rows: dict[int, list[int]]) -> tuple[str, dict[str, Any]]:
    key = records.agent_day_key(records.AGENT_HANDLE_KEY, agent, day, partition)
    value = {
        "kind": "agent_handle",
        "agent_id": agent,
        "date": day,
        "partition": partition,
        "updated_ms": I0900,
        "intervals": {str(k): v for k, v in rows.items()},
    }
    return key, value


def put(view: View, key: str, value: dict[str, Any] | None) -> bool:
    return view.apply(topics.QUALITY_STATS, key.encode(), None if value is None else orjson.dumps(value))


def test_index_per_date_agent_and_partition_key() -> None:
    v = View(tz=SHANGHAI)
    k0, r0 = handle("a1", "2024-03-13", 0, {I0900: [2, 330_000, 30_000, 40_000, 1, 0, 0, 0]})
    k1, r1 = handle("a1", "2024-03-13", 1, {I0900: [0, 0, 0, 0, 0, 1, 5, 1], I0930: [1, 60_000, 0, 0, 0, 0, 0, 0]})
    k2, r2 = handle("a2", "2024-03-14", 0, {I0930 + 86_400_000: [1, 10_000, 0, 5_000, 0, 0, 0, 0]})
    assert put(v, k0, r0) and put(v, k1, r1) and put(v, k2, r2)
    assert k0 == "ah|a1|2024-03-13|0"
    assert v.agent_handle == {
        "2024-03-13": {
            "a1": {
                k0: {I0900: [2, 330_000, 30_000, 40_000, 1, 0, 0, 0]},
                k1: {I0900: [0, 0, 0, 0, 0, 1, 5, 1], I0930: [1, 60_000, 0, 0, 0, 0, 0, 0]},
            }
        },
        "2024-03-14": {"a2": {k2: {I0930 + 86_400_000: [1, 10_000, 0, 5_000, 0, 0, 0, 0]}}},
    }
    # not FCR/CSAT figures: the other quality indexes hold nothing of them
    assert (v.quality, v.agent_quality, v.fcr_parts) == ({}, {}, {})
    # a new value of a key replaces its rows
    k0b, r0b = handle("a1", "2024-03-13", 0, {I0930: [1, 1_000, 0, 0, 0, 0, 0, 0]})
    assert k0b == k0 and put(v, k0, r0b)
    assert v.agent_handle["2024-03-13"]["a1"][k0] == {I0930: [1, 1_000, 0, 0, 0, 0, 0, 0]}
    # a bad value of a key is skipped and the old rows stay
    assert not put(v, k0, {**r0b, "intervals": {str(I0900): [1, 2]}})
    assert v.bad_records == 1
    assert v.agent_handle["2024-03-13"]["a1"][k0] == {I0930: [1, 1_000, 0, 0, 0, 0, 0, 0]}
    # tombstones: the key, then the agent and the date with nothing left, go
    assert put(v, k0, None)
    assert set(v.agent_handle["2024-03-13"]["a1"]) == {k1}
    assert put(v, k1, None)
    assert v.agent_handle == {"2024-03-14": {"a2": {k2: {I0930 + 86_400_000: [1, 10_000, 0, 5_000, 0, 0, 0, 0]}}}}
    assert put(v, k2, None) and put(v, k2, None)  # twice: nothing to delete the second time
    assert (v.agent_handle, v.agent_handle_keys) == ({}, {})


def test_csat_and_handle_partials_of_one_agent_date_are_kept_apart() -> None:
    v = View(tz=SHANGHAI)
    key, value = handle("a1", "2024-03-13", 0, {I0900: [1, 60_000, 0, 0, 0, 1, 4, 1]})
    csat_key = records.agent_day_key(records.CSAT_AGENT_KEY, "a1", "2024-03-13", 0)
    csat = {"kind": "csat_agent", "agent_id": "a1", "date": "2024-03-13", "surveys": 1, "score_sum": 4, "satisfied": 1}
    assert put(v, key, value) and put(v, csat_key, csat)
    assert set(v.agent_quality["2024-03-13"]["a1"]) == {csat_key}
    assert set(v.agent_handle["2024-03-13"]["a1"]) == {key}
    assert put(v, csat_key, None)
    assert v.agent_quality == {} and set(v.agent_handle["2024-03-13"]["a1"]) == {key}


def test_expire_drops_handle_partials_of_dates_before_the_oldest_kept_day() -> None:
    v = View(tz=SHANGHAI, retention_days=7)
    now = to_ms(datetime(2024, 3, 20, 0, 30, tzinfo=SHANGHAI))  # oldest kept day: 2024-03-13
    old_key, old = handle("a1", "2024-03-12", 0, {I0900 - 86_400_000: [1, 1, 0, 0, 0, 0, 0, 0]})
    kept_key, kept = handle("a1", "2024-03-13", 0, {I0900: [1, 1, 0, 0, 0, 0, 0, 0]})
    assert put(v, old_key, old) and put(v, kept_key, kept)
    seen: list[tuple[str, str]] = []
    v.listeners.append(lambda topic, key: seen.append((topic, key)))
    dropped: list[tuple[str, str]] = []
    drain(v.expire(now, dropped=lambda topic, key: dropped.append((topic, key))))
    assert set(v.agent_handle) == {"2024-03-13"} and set(v.agent_handle_keys) == {kept_key}
    assert dropped == seen == [(topics.QUALITY_STATS, old_key)]
    assert v.expired == {topics.QUALITY_STATS: 1}
    drain(v.expire(now))  # nothing more
    assert v.expired == {topics.QUALITY_STATS: 1}


def test_the_view_keeps_the_channel_of_each_interval_partial() -> None:
    v = View(tz=SHANGHAI)
    for partition, channel in ((0, "chat"), (1, None)):
        value = {"queue": "web", "start_ms": I0900, "partition": partition, "counts": {"offered": 1}}
        if channel is not None:
            value["channel"] = channel
        key = records.interval_key("web", I0900, partition)
        assert v.apply(topics.INTERVAL_STATS, key.encode(), orjson.dumps(value))
    assert [p.channel for p in v.interval_partials("web", I0900)] == ["chat", None]
