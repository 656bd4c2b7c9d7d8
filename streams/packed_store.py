"""The ``contacts`` table's memory store: Faust's memory store over a
:class:`floorwatch.packedmap.PackedMap` instead of a dict (``worker.store: memory``).

Everything else is Faust's memory store: reads and writes by key, ``apply_changelog_batch``
(through the map's ``MutableMapping`` methods), recovery's bookkeeping. Bulk changelog
recovery (streams/recovery.py) loads it in the map's load mode and finishes the load, sliced,
before the table is used. The worker's publisher gives the map's merges a slice per turn of
the event loop (``maintenance``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from faust.stores import STORES
from faust.stores.memory import Store as MemoryStore
from yarl import URL

from floorwatch.packedmap import PackedMap

SCHEME = "floorwatch-packed"


def packed_store_url(hot_keys: int) -> str:
    """The Faust store URL of a packed memory store whose dicts hold ``hot_keys`` keys each."""
    return f"{SCHEME}://?hot_keys={hot_keys}"


class PackedMemoryStore(MemoryStore):
    """Faust's memory store keeping its keys and values in a :class:`PackedMap`."""

    def __init__(self, url: str | URL, app: Any, table: Any, **kwargs: Any) -> None:
        self._hot_keys = int(URL(url).query.get("hot_keys", 32_768))
        super().__init__(url, app, table, **kwargs)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.data = PackedMap(hot_limit=self._hot_keys)

    def apply_changelog_batch(
        self, batch: Iterable[Any], to_key: Callable[[Any], Any], to_value: Callable[[Any], Any]
    ) -> None:
        """Faust's per-event recovery path (standbys, tables not loaded in bulk): records in
        offset order, a tombstone deletes (the map holds bytes only, never ``None``)."""
        data = self.data
        for event in batch:
            key = to_key(event.key)
            if event.message.value is None:
                data.pop(key, None)
            else:
                data[key] = to_value(event.value)


def packed(table: Any) -> PackedMap | None:
    """The table's PackedMap, ``None`` when its store is another one."""
    data = getattr(table.data, "data", None)
    return data if isinstance(data, PackedMap) else None


STORES.aliases[SCHEME] = f"{__name__}:PackedMemoryStore"


def key_slices(table: Any, size: int) -> Iterator[list[Any]]:
    """A table's keys, ``size`` at a time, from a snapshot taken now (a PackedMap scans its runs
    instead of listing millions of keys at once). A caller reads each key again before acting."""
    packed_map = packed(table)
    if packed_map is not None:
        yield from packed_map.scan(size)
        return
    keys = list(table.data)
    for start in range(0, len(keys), size):
        yield keys[start : start + size]


def item_slices(table: Any, size: int) -> Iterator[list[tuple[Any, Any]]]:
    """A table's ``(key, value)`` pairs, ``size`` at a time, for a caller that reads every
    entry once while no other writer touches the keys it cares about (a rebuild)."""
    packed_map = packed(table)
    if packed_map is not None:
        yield from packed_map.scan_items(size)
        return
    for keys in key_slices(table, size):
        yield [(key, value) for key in keys if (value := table.data.get(key)) is not None]
