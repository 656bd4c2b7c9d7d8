"""The bulk changelog apply of streams/recovery.py: offset order, tombstones, the last offset."""

from collections import namedtuple

import orjson

from floorwatch.packedmap import PackedMap
from floorwatch.streams.packed_store import PackedMemoryStore
from floorwatch.streams.recovery import _decoder, apply_changelog_records

Rec = namedtuple("Rec", "offset key value")


def rec(offset: int, key: str, value: object | None) -> Rec:
    return Rec(offset, orjson.dumps(key), None if value is None else orjson.dumps(value))


def test_set_delete_set_in_one_fetch_ends_set() -> None:
    # Faust's memory store applies a buffer as "update all, then delete the deleted": a key set,
    # deleted and set again within one buffer would end deleted. Offset order must win.
    data: dict = {}
    n = apply_changelog_records(
        data, [rec(0, "a", {"v": 1}), rec(1, "a", None), rec(2, "a", {"v": 3})], 2, orjson.loads, orjson.loads
    )
    assert n == 3
    assert data == {"a": {"v": 3}}


def test_tombstone_of_an_unknown_key_and_the_last_offset() -> None:
    data = {"old": 1}
    records = [rec(5, "gone", None), rec(6, "old", None), rec(7, "b", 2), rec(8, "c", 3)]
    assert apply_changelog_records(data, records, 7, orjson.loads, orjson.loads) == 3
    assert data == {"b": 2}  # offset 8 is past the end that was asked for


def test_decoders() -> None:
    raw = b'{"x":[1,2]}'
    assert _decoder("json")(raw) == {"x": [1, 2]}
    assert _decoder("raw")(raw) is raw
    assert _decoder(None)(raw) is raw


def raw_rec(offset: int, key: str, value: bytes | None) -> Rec:
    return Rec(offset, orjson.dumps(key), value)


def test_a_packed_map_loads_in_offset_order_across_spills() -> None:
    # the contacts table's map in load mode: versions in several spilled runs, tombstones,
    # a key deleted and set again; finish_load keeps exactly the last version of each key
    data = PackedMap(hot_limit=3)
    data["before"] = b"0"
    data["gone-later"] = b"0"
    data.begin_load()
    records = [raw_rec(0, f"k{i % 5}", str(i).encode()) for i in range(20)]
    records += [
        raw_rec(20, "k1", None),
        raw_rec(21, "gone-later", None),
        raw_rec(22, "k2", None),
        raw_rec(23, "k2", b"back"),
    ]
    records = [r._replace(offset=n) for n, r in enumerate(records)]
    assert apply_changelog_records(data, records, len(records) - 1, orjson.loads, _decoder("raw")) == 24
    for _ in data.finish_load():
        pass
    assert {k: data[k] for k in data} == {"before": b"0", "k0": b"15", "k2": b"back", "k3": b"18", "k4": b"19"}
    assert len(data) == 5 and len(data.runs) == 1


def test_the_packed_store_applies_faust_changelog_events_in_order() -> None:
    Message = namedtuple("Message", "value")
    Event = namedtuple("Event", "key value message")

    def ev(key: str, value: bytes | None) -> Event:
        return Event(key, value, Message(value))

    store = PackedMemoryStore.__new__(PackedMemoryStore)  # the map alone: no app needed
    store.data = PackedMap(hot_limit=2)
    store.apply_changelog_batch(
        [ev("a", b"1"), ev("b", b"2"), ev("a", None), ev("c", b"3"), ev("a", b"4"), ev("zz", None)],
        to_key=lambda k: k,
        to_value=lambda v: v,
    )
    assert dict(store.data.items()) == {"a": b"4", "b": b"2", "c": b"3"}
