"""The pure parts of benchmarks/catchup.py: the event generator, the expected figures and the
sums read back from the REST rows."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from benchmarks.catchup import (
    Figures,
    add_figures,
    contact_lifecycles,
    expected_figures,
    iso_ms,
    local_dates,
    partition_keys,
    shown_figures,
)

T0 = 1_764_000_000_000  # 2025-11-24T16:00:00Z


def ev(kind: str, cid: str, at_ms: int, **extra: object) -> dict[str, object]:
    return {"type": kind, "contact_id": cid, "ts": iso_ms(at_ms), "event_id": f"{cid}-{kind}", **extra}


def test_expected_figures_by_hand() -> None:
    events = [
        ev("contact.offered", "x", T0, queue="sales", channel="voice"),
        ev("contact.answered", "x", T0 + 10_000, queue="sales", agent_id="a1"),
        ev("contact.ended", "x", T0 + 70_000, agent_id="a1"),  # talk 60 s
        ev("contact.wrapup_ended", "x", T0 + 75_000, agent_id="a1"),  # wrap 5 s
        ev("contact.offered", "y", T0 + 1_000, queue="sales", channel="voice"),
        ev("contact.abandoned", "y", T0 + 4_000, queue="sales"),
        ev("contact.offered", "z", T0 + 2_000, queue="chat", channel="chat"),
        ev("contact.answered", "z", T0 + 3_000, queue="chat", agent_id="a2"),  # not ended yet
    ]
    assert expected_figures(events) == {
        "sales": Figures(offered=2, answered=1, abandoned=1, handled=1, handle_ms=65_000),
        "chat": Figures(offered=1, answered=1, abandoned=0, handled=0, handle_ms=0),
    }


def test_shown_figures_sum_rows_and_handle_time_from_aht() -> None:
    rows = [
        {"offered": 3, "answered": 2, "abandoned": 1, "handled": 2, "aht_s": 32.5},  # 65 s
        {"offered": 1, "answered": 1, "abandoned": 0, "handled": 1, "aht_s": 0.001},  # 1 ms
        {"offered": 2, "answered": 0, "abandoned": 0, "handled": 0, "aht_s": None},
    ]
    assert shown_figures(rows) == Figures(6, 3, 1, 3, 65_001)
    assert shown_figures([]) == Figures()


def test_add_figures() -> None:
    a = {"sales": Figures(1, 1, 0, 1, 10)}
    b = {"sales": Figures(2, 0, 2, 0, 0), "chat": Figures(1, 0, 0, 0, 0)}
    assert add_figures(a, b) == {"sales": Figures(3, 1, 2, 1, 10), "chat": Figures(1, 0, 0, 0, 0)}


def test_generator_makes_whole_time_ordered_lifecycles() -> None:
    events = contact_lifecycles(2_000, T0, T0 + 3_600_000, prefix="t", seed=3)
    assert len(events) >= 2_000
    assert len({e["event_id"] for e in events}) == len(events)
    times = [e["ts"] for e in events]
    assert times == sorted(times)  # same offset everywhere, so text order is time order
    by_contact: dict[str, list[str]] = {}
    for e in events:
        by_contact.setdefault(e["contact_id"], []).append(e["type"])
    for kinds in by_contact.values():
        assert kinds in (
            ["contact.offered", "contact.abandoned"],
            ["contact.offered", "contact.answered", "contact.ended", "contact.wrapup_ended"],
        )
    # every offer inside the window, every event within 25 minutes of it
    offers = [e for e in events if e["type"] == "contact.offered"]
    assert offers[0]["ts"] == iso_ms(T0) and max(o["ts"] for o in offers) <= iso_ms(T0 + 3_600_000)
    assert events[-1]["ts"] <= iso_ms(T0 + 3_600_000 + 25 * 60_000)
    # every answered contact is handled with a wrap-up after its end, so every event moves a sum
    want = expected_figures(events)
    n = len(by_contact)
    assert sum(f.offered for f in want.values()) == n
    assert sum(f.answered + f.abandoned for f in want.values()) == n
    assert sum(f.handled for f in want.values()) == sum(f.answered for f in want.values())


def test_local_dates_of_offers() -> None:
    tz = ZoneInfo("Asia/Shanghai")  # UTC+8: 2025-11-24T16:00Z is 2025-11-25 00:00 local
    events = [
        ev("contact.offered", "x", T0 - 1, queue="q"),
        ev("contact.offered", "y", T0, queue="q"),
        ev("contact.ended", "y", T0 + 86_400_000),
    ]
    assert local_dates(events, tz) == ["2025-11-24", "2025-11-25"]


def test_partition_keys_one_per_partition() -> None:
    from aiokafka.partitioner import DefaultPartitioner, murmur2

    # Kafka's own test vectors of its murmur2 (as unsigned 32-bit values)
    assert murmur2(b"21") & 0xFFFFFFFF == -973932308 & 0xFFFFFFFF
    assert murmur2(b"foobar") & 0xFFFFFFFF == -790332482 & 0xFFFFFFFF
    keys = partition_keys(8, "probe-")
    assert len(set(keys)) == 8
    parts = list(range(8))
    # the partition the producer picks for each key is its index
    assert [DefaultPartitioner()(k.encode(), parts, parts) for k in keys] == parts
