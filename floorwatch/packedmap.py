"""A ``str -> bytes`` mapping that keeps most of its entries in large sorted runs.

The worker's ``contacts`` table holds one packed value (floorwatch.domain.factcodec) per
contact of the whole retention, millions of them. As a dict, every entry costs a key ``str``
object (~61 bytes), a ``bytes`` object (33 bytes plus the value, rounded up to 16) and a dict
slot (~33 bytes): ~220 bytes for ~95 bytes of data, and millions of small objects that the
allocator cannot give back once a recovery's temporaries are freed around them. Here a
contact that has not been written for a while costs its key and value bytes plus 13 bytes
of index, in a few large buffers.

Layout:

* ``hot`` and ``warm``: plain dicts, the entries written most recently (two generations).
  When ``hot`` reaches ``hot_limit`` keys, ``warm`` is *spilled* into a new run and ``hot``
  becomes ``warm``: an entry written within the last generation is never in a run, so the
  contacts being handled now stay in dicts.
* ``runs``, newest first: immutable sorted arrays. A run holds ``n`` entries sorted by
  ``hash(key)``: ``hashes`` (``array('q')``), ``offsets`` (``n + 1`` positions in ``blob``),
  ``dead`` (one flag byte per entry) and ``blob``, where entry ``i`` is a key-length header
  (2 bytes, or 2 + 4 for a key of 32,767 bytes or more; the top bit marks a tombstone), the
  key's UTF-8 bytes and the value's bytes. A lookup is a ``bisect`` per run (C, no objects
  but the probed integers).

Normal mode: a key is in at most one place (``hot``, ``warm`` or one run, not dead). Writing a
key that is in a run marks its run entry dead (the lookup that found it is remembered, so the
usual "get, then set" of one key costs one lookup); deleting one marks it dead. Dead entries
are dropped when their run is merged; a run whose dead entries exceed ``dead_ratio`` of it is
rewritten alone (retention deletes the oldest contacts, which sit in the oldest runs).

Load mode (``begin_load`` .. ``finish_load``, for a changelog recovery that writes millions
of records in offset order): the dicts become runs, then every write (``load_put``; ``None``
deletes) is appended to a *load log*, one flat buffer like a run's but in arrival order, with
no lookup and no Python object kept per record (so a recovery leaves no millions of freed
small objects behind it). A full log becomes a run holding the newest version of each of its
keys (tombstones included: older runs may hold the key); a lookup takes the newest version
(the log from its end, then runs newest first). ``finish_load`` merges all runs into one
(newest version wins, tombstones dropped), which restores the normal mode's invariant.

Hashes are Python's ``hash`` of the key's UTF-8 bytes: per process, as the map is.

Merges (``maintenance``, a generator doing at most ``MERGE_SLICE`` entries per step, for the
caller to give the event loop a turn in between): size-tiered, the newest runs while each next
older run is no larger than the sum so far, once there are ``fanout`` of them, so an entry is
copied about ``log_fanout(entries / hot_limit)`` times over its life; and the dead-ratio
rewrite above. Entries marked dead in a run while it is being merged are marked dead in the
merged run before it replaces them.

Iteration (``scan``) walks a snapshot: ``hot``'s and ``warm``'s keys listed, runs by
reference (runs never change but their dead flags). A caller that acts on a scanned key reads
it again (``get``): it may have been written or deleted since. Not allowed in load mode.
"""

from __future__ import annotations

import heapq
import struct
from array import array
from bisect import bisect_left
from collections.abc import Generator, Iterable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

TOMB_BIT = 0x8000
LONG_KEY = 0x7FFF  # key length header: 4 more bytes follow
_H = struct.Struct(">H")
_L = struct.Struct(">L")
MERGE_SLICE = 20_000  # merged entries per maintenance step
SCAN_SLICE = 5_000  # keys per scanned slice


class _Missing:
    __slots__ = ()


MISSING: Any = _Missing()


def _header(key_len: int, tomb: bool) -> bytes:
    flag = TOMB_BIT if tomb else 0
    if key_len < LONG_KEY:
        return _H.pack(key_len | flag)
    return _H.pack(LONG_KEY | flag) + _L.pack(key_len)


def _key_bounds(blob: bytes | bytearray, start: int) -> tuple[int, int, bool]:
    """``(key start, key end, tombstone)`` of the entry starting at ``start``."""
    head = (blob[start] << 8) | blob[start + 1]
    klen = head & LONG_KEY
    start += 2
    if klen == LONG_KEY:
        klen = _L.unpack_from(blob, start)[0]
        start += 4
    return start, start + klen, bool(head & TOMB_BIT)


class Run:
    """``n`` entries sorted by the hash of their key's UTF-8 bytes (module docstring)."""

    __slots__ = ("blob", "dead", "dead_count", "hashes", "offsets")

    def __init__(self, hashes: array[int], offsets: array[int], blob: bytes) -> None:
        self.hashes = hashes
        self.offsets = offsets
        self.blob = blob
        self.dead = bytearray(len(hashes))
        self.dead_count = 0

    def __len__(self) -> int:
        return len(self.hashes)

    @property
    def alive(self) -> int:
        return len(self.hashes) - self.dead_count

    @property
    def nbytes(self) -> int:
        """Memory of the run's buffers (not counting the objects' headers)."""
        return (
            len(self.blob)
            + len(self.dead)
            + self.hashes.itemsize * len(self.hashes)
            + self.offsets.itemsize * len(self.offsets)
        )

    def _key_at(self, i: int) -> tuple[int, int, bool]:
        """``(key start, key end, tombstone)`` of entry ``i`` in ``blob``."""
        return _key_bounds(self.blob, self.offsets[i])

    def entry(self, i: int) -> tuple[str, bytes | None]:
        """Key and value (``None``: a tombstone) of entry ``i``."""
        ks, ke, tomb = self._key_at(i)
        key = self.blob[ks:ke].decode()
        return key, None if tomb else self.blob[ke : self.offsets[i + 1]]

    def find(self, key_bytes: bytes, h: int) -> int:
        """Index of the live entry of this key, ``-1`` when there is none."""
        hashes = self.hashes
        i = bisect_left(hashes, h)
        n = len(hashes)
        while i < n and hashes[i] == h:
            if not self.dead[i]:
                ks, ke, _ = self._key_at(i)
                if ke - ks == len(key_bytes) and self.blob.startswith(key_bytes, ks):
                    return i
            i += 1
        return -1

    def value_at(self, i: int) -> bytes | None:
        ks, ke, tomb = self._key_at(i)
        return None if tomb else self.blob[ke : self.offsets[i + 1]]

    def kill(self, i: int) -> None:
        if not self.dead[i]:
            self.dead[i] = 1
            self.dead_count += 1


class _NewestFirst:
    """Entries seen in hash order, each key's newest version first: ``first`` says whether an
    entry is the first (newest) one of its key. Keys of one hash are few (a collision)."""

    __slots__ = ("hash", "keys")

    def __init__(self) -> None:
        self.hash: int | None = None
        self.keys: list[bytes] = []

    def first(self, h: int, kb: bytes) -> bool:
        if h != self.hash:
            self.hash = h
            self.keys = [kb]
            return True
        if kb in self.keys:
            return False
        self.keys.append(kb)
        return True


class RunBuilder:
    """Appends entries in hash order and makes a :class:`Run` of them."""

    def __init__(self, size_hint_bytes: int) -> None:
        self.hashes: array[int] = array("q")
        self.offsets: array[int] = array("I" if size_hint_bytes < (1 << 32) - 1 else "Q", [0])
        self.blob = bytearray()

    def add(self, h: int, key_bytes: bytes, value: bytes | None) -> None:
        blob = self.blob
        blob += _header(len(key_bytes), value is None)
        blob += key_bytes
        if value is not None:
            blob += value
        self.hashes.append(h)
        self.offsets.append(len(blob))

    def add_raw(self, h: int, run: Run, i: int) -> None:
        """Entry ``i`` of ``run`` as it is (header, key and value copied in one slice)."""
        self.blob += run.blob[run.offsets[i] : run.offsets[i + 1]]
        self.hashes.append(h)
        self.offsets.append(len(self.blob))

    def build(self) -> Run:
        return Run(self.hashes, self.offsets, bytes(self.blob))


def run_of(items: Iterable[tuple[str, bytes | None]]) -> Run:
    """A run of ``items`` (``None`` values are tombstones), keys unique."""
    keyed = sorted(((hash(kb), kb, v) for kb, v in ((k.encode(), v) for k, v in items)), key=lambda e: e[0])
    builder = RunBuilder(sum(len(kb) + len(v or b"") + 6 for _, kb, v in keyed))
    for h, kb, v in keyed:
        builder.add(h, kb, v)
    return builder.build()


def _live_entries(run: Run, rank: int) -> Iterator[tuple[int, int, int]]:
    """``(hash, rank, index)`` of the live entries of a run, in its (hash) order."""
    hashes, dead = run.hashes, run.dead
    for i in range(len(hashes)):
        if not dead[i]:
            yield hashes[i], rank, i


@dataclass
class _Merge:
    """A merge in progress: its source runs (newest first) and the kills they received."""

    sources: list[Run]
    drop_tombs: bool
    killed: list[str] = field(default_factory=list)


@dataclass
class PackedStats:
    spills: int = 0
    merges: int = 0
    entries_merged: int = 0
    entries_dropped: int = 0


class PackedMap(MutableMapping[str, bytes]):
    """``str -> bytes`` in two dict generations and sorted runs (module docstring)."""

    def __init__(self, hot_limit: int = 32_768, fanout: int = 4, dead_ratio: float = 0.3) -> None:
        if hot_limit < 1 or fanout < 2 or not 0 < dead_ratio < 1:
            raise ValueError("hot_limit >= 1, fanout >= 2, 0 < dead_ratio < 1")
        self.hot_limit = hot_limit
        self.fanout = fanout
        self.dead_ratio = dead_ratio
        self.hot: dict[str, bytes | None] = {}
        self.warm: dict[str, bytes | None] = {}
        self.runs: list[Run] = []  # newest first
        self.loading = False
        self.stats = PackedStats()
        self._merge: _Merge | None = None
        self._found: tuple[str, Run, int] | None = None  # the last lookup that found a key in a run
        self._run_alive = 0  # live entries in runs (normal mode)
        self._epoch = 0  # moves at begin_load and clear: a merge in flight is abandoned
        self._log = RunBuilder(0)  # load mode: entries in arrival order, no per-entry object

    # --- lookups ------------------------------------------------------------------------------

    def _find(self, key: str) -> Any:
        """The newest value of ``key``: bytes, ``None`` (a tombstone: load mode) or MISSING."""
        value = self.hot.get(key, MISSING)
        if value is MISSING:
            value = self.warm.get(key, MISSING)
        if value is not MISSING or not self.runs:
            return value
        kb = key.encode()
        h = hash(kb)
        if self.loading:
            value = self._log_find(kb, h)
            if value is not MISSING:
                return value
        for run in self.runs:
            i = run.find(kb, h)
            if i >= 0:
                self._found = (key, run, i)
                return run.value_at(i)
        return MISSING

    def _log_find(self, kb: bytes, h: int) -> Any:
        """Load mode: the newest version of a key in the load log (a linear search from the
        end: reads are rare while loading, the log holds at most ``hot_limit`` entries)."""
        log = self._log
        hashes = log.hashes
        for i in range(len(hashes) - 1, -1, -1):
            if hashes[i] == h:
                ks, ke, tomb = _key_bounds(log.blob, log.offsets[i])
                if log.blob[ks:ke] == kb:
                    return None if tomb else bytes(log.blob[ke : log.offsets[i + 1]])
        return MISSING

    def get(self, key: str, default: Any = None) -> Any:
        value = self._find(key)
        return default if value is MISSING or value is None else value

    def __getitem__(self, key: str) -> bytes:
        value = self._find(key)
        if value is MISSING or value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    # --- writes -------------------------------------------------------------------------------

    def _unlocate(self, key: str) -> bool:
        """Normal mode: take ``key`` out of the runs (mark its entry dead); whether it was there."""
        found = self._found
        if found is not None and found[0] == key and found[1] in self.runs and not found[1].dead[found[2]]:
            run, i = found[1], found[2]
        else:
            kb = key.encode()
            h = hash(kb)
            for run in self.runs:
                i = run.find(kb, h)
                if i >= 0:
                    break
            else:
                return False
        self._found = None
        run.kill(i)
        self._run_alive -= 1
        merge = self._merge
        if merge is not None and any(run is src for src in merge.sources):
            merge.killed.append(key)
        return True

    def __setitem__(self, key: str, value: bytes) -> None:
        if not isinstance(key, str) or not isinstance(value, (bytes, bytearray)):
            raise TypeError(f"keys are str and values bytes, not {type(key).__name__}, {type(value).__name__}")
        if self.loading:
            self.load_put(key, bytes(value))
            return
        if key in self.hot:
            self.hot[key] = bytes(value)
            return
        else:
            if self.warm.pop(key, MISSING) is MISSING and self.runs:
                self._unlocate(key)
            self.hot[key] = bytes(value)
        if len(self.hot) >= self.hot_limit:
            self._rotate()

    def __delitem__(self, key: str) -> None:
        if self.loading:
            if self._find(key) in (MISSING, None):
                raise KeyError(key)
            self.load_put(key, None)
            return
        if self.hot.pop(key, MISSING) is not MISSING or self.warm.pop(key, MISSING) is not MISSING:
            return
        if not self.runs or not self._unlocate(key):
            raise KeyError(key)

    def pop(self, key: str, default: Any = MISSING) -> Any:
        value = self.get(key)
        if value is None:
            if default is MISSING:
                raise KeyError(key)
            return default
        del self[key]
        return value

    def clear(self) -> None:
        self.hot.clear()
        self.warm.clear()
        self.runs.clear()
        self._log = RunBuilder(0)
        self._found = None
        self._merge = None
        self._run_alive = 0
        self._epoch += 1

    def _rotate(self) -> None:
        """``warm`` into a new run (when not empty), ``hot`` becomes ``warm``."""
        if self.warm:
            run = run_of(self.warm.items())
            self.runs.insert(0, run)
            self._run_alive += len(run)
            self.stats.spills += 1
        self.warm = self.hot
        self.hot = {}

    # --- size and iteration -----------------------------------------------------------------

    def __len__(self) -> int:
        if self.loading:
            raise RuntimeError("the size of a PackedMap is not known while it loads")
        return len(self.hot) + len(self.warm) + self._run_alive

    def scan(self, slice_size: int = SCAN_SLICE) -> Iterator[list[str]]:
        """The keys, ``slice_size`` at a time, from a snapshot (module docstring)."""
        if self.loading:
            raise RuntimeError("a PackedMap cannot be scanned while it loads")
        dicts = [list(self.hot), [k for k in self.warm if k not in self.hot]]
        runs = list(self.runs)
        for keys in dicts:
            for start in range(0, len(keys), slice_size):
                yield keys[start : start + slice_size]
        for run in runs:
            out: list[str] = []
            for i in range(len(run)):
                if not run.dead[i]:
                    out.append(run.entry(i)[0])
                    if len(out) >= slice_size:
                        yield out
                        out = []
            if out:
                yield out

    def scan_items(self, slice_size: int = SCAN_SLICE) -> Iterator[list[tuple[str, bytes]]]:
        """``(key, value)`` pairs, ``slice_size`` at a time, from a snapshot of the runs (a
        run entry is read when its slice is made: one dead by then is left out). For a caller
        that needs every entry once without a lookup per key."""
        if self.loading:
            raise RuntimeError("a PackedMap cannot be scanned while it loads")
        pairs = [(k, v) for k, v in self.hot.items() if v is not None]
        pairs += [(k, v) for k, v in self.warm.items() if v is not None and k not in self.hot]
        runs = list(self.runs)  # now, with the dicts: a spill meanwhile must not show an entry twice
        for start in range(0, len(pairs), slice_size):
            yield pairs[start : start + slice_size]
        for run in runs:
            out: list[tuple[str, bytes]] = []
            for i in range(len(run)):
                if not run.dead[i]:
                    key, value = run.entry(i)
                    if value is not None:
                        out.append((key, value))
                        if len(out) >= slice_size:
                            yield out
                            out = []
            if out:
                yield out

    def __iter__(self) -> Iterator[str]:
        for keys in self.scan():
            yield from keys

    # --- recovery -----------------------------------------------------------------------------

    def begin_load(self) -> None:
        """Writes from now on shadow older versions without lookups (module docstring); the
        dicts go to runs first, so that every newer version is in the log or a newer run."""
        if self.loading:
            return
        self._merge = None
        self._epoch += 1
        self._rotate()
        self._rotate()
        self.loading = True
        self._found = None

    def load_put(self, key: str, value: bytes | None) -> None:
        """Load mode: the newest version of ``key`` (``None``: deleted), without a lookup,
        appended to the load log; a full log becomes a run."""
        if not self.loading:
            raise RuntimeError("load_put outside a load")
        kb = key.encode()
        self._log.add(hash(kb), kb, value)
        if len(self._log.hashes) >= self.hot_limit:
            self._spill_log()

    def _spill_log(self) -> None:
        """The load log as a run: sorted by hash, the newest version of each key only
        (tombstones kept: older runs may hold the key)."""
        log = self._log
        hashes, offsets, blob = log.hashes, log.offsets, log.blob
        if not hashes:
            return
        builder = RunBuilder(len(blob))
        newest = _NewestFirst()
        for i in sorted(range(len(hashes)), key=lambda i: (hashes[i], -i)):  # newest first per hash
            h = hashes[i]
            ks, ke, _ = _key_bounds(blob, offsets[i])
            if not newest.first(h, bytes(blob[ks:ke])):
                continue
            builder.blob += blob[offsets[i] : offsets[i + 1]]
            builder.hashes.append(h)
            builder.offsets.append(len(builder.blob))
        self.runs.insert(0, builder.build())
        self.stats.spills += 1
        self._log = RunBuilder(0)

    def finish_load(self) -> Generator[None, None, None]:
        """Everything into one run, newest versions only (sliced: a step per ``MERGE_SLICE``)."""
        if not self.loading:
            return
        epoch = self._epoch
        self._spill_log()
        if self.runs:
            yield from self._merge_runs(list(self.runs), drop_tombs=True)
        if self._epoch != epoch:
            return  # another load started meanwhile: it finishes
        self._run_alive = sum(run.alive for run in self.runs)
        self.loading = False

    # --- merges -------------------------------------------------------------------------------

    def _tiered_group(self) -> list[Run]:
        """The newest runs while each next one is no larger than the sum so far, when at
        least ``fanout`` of them; else empty."""
        group: list[Run] = []
        total = 0
        for run in self.runs:
            if group and run.alive > total:
                break
            group.append(run)
            total += run.alive
        return group if len(group) >= self.fanout else []

    def maintenance(self) -> Generator[None, None, int]:
        """Merges that are due (tiered, then dead-ratio rewrites); returns how many."""
        if self.loading or self._merge is not None:
            return 0
        done = 0
        epoch = self._epoch
        while (group := self._tiered_group()) or (group := self._wasteful()):
            yield from self._merge_runs(group, drop_tombs=False)
            if self._epoch != epoch:
                break  # a load or clear started: the merge was abandoned
            done += 1
        return done

    def _wasteful(self) -> list[Run]:
        for run in self.runs:
            if run.dead_count and run.dead_count >= self.dead_ratio * len(run):
                return [run]
        return []

    def _merge_runs(self, group: list[Run], drop_tombs: bool) -> Generator[None, None, None]:
        """``group`` (consecutive runs, newest first) replaced by one run of their newest
        versions; tombstones dropped with ``drop_tombs`` (the group holds the oldest run).
        Abandoned, changing nothing, when a load or ``clear`` starts meanwhile."""
        merge = self._merge = _Merge(group, drop_tombs)
        epoch = self._epoch
        try:
            builder = RunBuilder(sum(len(r.blob) for r in group))
            streams = [_live_entries(run, rank) for rank, run in enumerate(group)]
            newest = _NewestFirst()
            step = 0
            for h, rank, i in heapq.merge(*streams):
                run = group[rank]
                if run.dead[i]:  # marked dead since the merge started
                    continue
                ks, ke, tomb = run._key_at(i)  # noqa: SLF001 - same module
                if not newest.first(h, run.blob[ks:ke]):
                    continue  # an older version of a key already decided
                if not (tomb and drop_tombs):
                    builder.add_raw(h, run, i)
                step += 1
                if step % MERGE_SLICE == 0:
                    yield
                    if self._epoch != epoch:
                        return
            merged = builder.build()
            for key in merge.killed:  # killed in a source meanwhile: written again or deleted
                kb = key.encode()
                i = merged.find(kb, hash(kb))
                if i >= 0:
                    merged.kill(i)
            first = next((n for n, run in enumerate(self.runs) if run is group[0]), None)
            if first is None or any(
                a is not b for a, b in zip(self.runs[first : first + len(group)], group, strict=False)
            ):
                raise RuntimeError("runs changed under a merge")
            dropped = sum(len(r) for r in group) - len(merged)
            self.runs[first : first + len(group)] = [merged]
            self._found = None
            self.stats.merges += 1
            self.stats.entries_merged += len(merged)
            self.stats.entries_dropped += dropped
        finally:
            if self._merge is merge:
                self._merge = None

    # --- accounting ---------------------------------------------------------------------------

    def nbytes(self) -> int:
        """Bytes held in runs' buffers (the dicts are not counted)."""
        return sum(run.nbytes for run in self.runs)
