"""The bulk changelog apply of streams/recovery.py: offset order, tombstones, the last offset."""

from collections import namedtuple

import orjson

from streams.recovery import _decoder, apply_changelog_records

Rec = namedtuple("Rec", "offset key value")


def rec(offset: int, key: str, value: object | None) -> Rec:
    return Rec(offset, orjson.dumps(key), None if value is None else orjson.dumps(value))


def test_set_delete_set_in_one_fetch_ends_set() -> None:
    # Faust's memory store applies a buffer as "update all, then delete the deleted": a key set,
    # deleted and set again within one buffer would end deleted. Offset order must win.
    data: dict = {}
    n = apply_changelog_records(data, [rec(0, "a", {"v": 1}), rec(1, "a", None), rec(2, "a", {"v": 3})],
                                2, orjson.loads, orjson.loads)
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
