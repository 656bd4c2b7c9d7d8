"""A contact's facts (floorwatch.domain.contacts) as one compact bytes value, and back.

The worker's ``contacts`` table holds a value per retained contact for the whole retention
(62 days by default): as a dict of lists one costs ~1,750 bytes of memory, as this value
50-125 bytes (95 for an answered contact with a customer) plus the bytes object's 33.
``unpack(pack(facts)) == facts`` for every facts dict ``apply_event`` produces, with the
worker's ``_p`` (source partition). ``unpack`` also reads
the legacy value, the facts dict as JSON (first byte ``{``), so a worker upgraded in place
recovers an old changelog; its event ids become event hashes as ``apply_event`` stores them.

Format version 1: a header, one block of fixed-size numbers (one ``struct`` call each way:
per-field varints cost 2-3 times the CPU in Python), then the strings. Big-endian.

===============  ===========================================================================
bytes            field
===============  ===========================================================================
1                version, 1
2                presence mask: bit ``i`` set when ``FIELDS[i]`` is in the facts
1                flags (``FLAG_*``): a value that does not fit the short form below
0 or 1+          ``h``: the count of holds (a varint, see ``_uint``), when there are holds
---------------  numbers block ---------------------------------------------------------------
8                base time, ms since the epoch, signed: the offer's time, else the earliest
                 time of the facts (when any time-bearing fact is present)
1 (4)            ``_p`` partition (4 bytes with ``FLAG_WIDE_P``)
8                ``o``: the offer's event hash (its time is the base)
12               ``cu``: the customer hash's 24 hex digits (a string with ``FLAG_CU_TEXT``)
1                ``ch``: index into ``CHANNELS``, 255: the string follows among the strings
4+4 (8+8)        ``r``: threshold ms, short-abandon ms (8 each with ``FLAG_WIDE_RULES``),
1 (8)            target: ``k`` with ``k / 100 == target`` exactly (a double with
                 ``FLAG_TARGET_DOUBLE``), 1: formula, index into ``FORMULAS`` or 255
4 (8) + 8        each of ``a b f e x w s`` present: time - base (8 bytes with
                 ``FLAG_WIDE_TIMES``), event hash; then ``f``: reason index into ``REASONS``
                 or 255 (1); ``w``: resolved 0 false, 1 true, 2 none (1); ``s``: score (1,
                 8 with ``FLAG_WIDE_SCORE``)
8 + 4 (8) + 1    each hold, in the facts' order: event hash, time - base, started 1 or 0
---------------  strings, each a varint ``n``: even, a new string of ``n // 2`` UTF-8 bytes
                 follows; odd, the same as the ``n // 2``-th string of this value (an agent
                 repeated in ``a e w s`` is stored once) -------------------------------------
                 ``q``, ``p``, escaped ``ch``, escaped formula, then per slot: ``a`` agent,
                 escaped ``f`` reason, ``e`` agent, ``x`` agent and to-queue, ``w`` agent,
                 ``s`` agent; ``cu`` last with ``FLAG_CU_TEXT``
===============  ===========================================================================
"""

from __future__ import annotations

import contextlib
import functools
import struct
from typing import Any

import orjson

from floorwatch.domain.contacts import event_hash, reference_ms

VERSION = 1
FIELDS = ("o", "q", "ch", "cu", "p", "r", "a", "b", "f", "e", "x", "w", "h", "s", "_p")
CHANNELS = ("voice", "chat", "email", "callback")
FORMULAS = (
    "answered_over_offered",
    "answered_over_answered_and_late_abandons",
    "answered_and_abandoned_within_over_offered",
    "answered_over_answered",
)
REASONS = ("timeout", "no_agents", "key", "other")
ESCAPE = 255  # a code byte: the value is among the strings

FLAG_CU_TEXT = 1  # cu is not 24 lowercase hex digits: a string
FLAG_WIDE_TIMES = 2  # a time is 2^31 ms or more from the base: every time offset on 8 bytes
FLAG_WIDE_RULES = 4  # a threshold outside int32: both on 8 bytes
FLAG_TARGET_DOUBLE = 8  # the target is not a whole percent: the double itself
FLAG_WIDE_P = 16  # partition 256 or more
FLAG_WIDE_SCORE = 32  # score outside -128..127

_BIT = {name: 1 << i for i, name in enumerate(FIELDS)}
_O, _Q, _CH, _CU, _P, _R, _H, _PART = (_BIT[k] for k in ("o", "q", "ch", "cu", "p", "r", "h", "_p"))
_SLOTS = ("a", "b", "f", "e", "x", "w", "s")  # time-bearing facts besides the offer, stored in this order
_SLOT_BITS = tuple((slot, _BIT[slot]) for slot in _SLOTS)
_SLOT_MASK = sum(bit for _, bit in _SLOT_BITS)
# the slots present, in stored order, for every combination of slot bits
_PRESENT: dict[int, tuple[str, ...]] = {}
for _m in range(1 << len(_SLOTS)):
    _bits = sum(bit for k, (_, bit) in enumerate(_SLOT_BITS) if _m >> k & 1)
    _PRESENT[_bits] = tuple(slot for slot, bit in _SLOT_BITS if _bits & bit)
del _m, _bits
_TIMED = _O | _H | sum(_BIT[slot] for slot in _SLOTS)
_CHANNEL_CODE = {name: i for i, name in enumerate(CHANNELS)}
_FORMULA_CODE = {name: i for i, name in enumerate(FORMULAS)}
_REASON_CODE = {name: i for i, name in enumerate(REASONS)}
_RESOLVED = (False, True, None)
_RESOLVED_CODE = {False: 0, True: 1, None: 2}
_PERCENT = {k / 100: k for k in range(101)}  # targets stored as a whole percent (exactly equal)
_INT32 = 1 << 31
_HEADER = struct.Struct(">BHB")
_BASE = struct.Struct(">q")
_WIDE_P = struct.Struct(">I")
_LAYOUT_CACHE = 4_096  # numbers-block layouts kept compiled (a few dozen occur in practice)


class FactsFormatError(ValueError):
    """A value that is not packed facts of a known version, or facts that cannot be packed."""


@functools.lru_cache(maxsize=_LAYOUT_CACHE)
def _layout(mask: int, flags: int, holds: int) -> struct.Struct:
    """The numbers block of facts with these fields, flags and count of holds."""
    time = "q" if flags & FLAG_WIDE_TIMES else "i"
    fmt = [">"]
    if mask & _TIMED:
        fmt.append("q")
    if mask & _PART:
        fmt.append("I" if flags & FLAG_WIDE_P else "B")
    if mask & _O:
        fmt.append("Q")
    if mask & _CU and not flags & FLAG_CU_TEXT:
        fmt.append("12s")
    if mask & _CH:
        fmt.append("B")
    if mask & _R:
        fmt.append("qq" if flags & FLAG_WIDE_RULES else "ii")
        fmt.append("dB" if flags & FLAG_TARGET_DOUBLE else "BB")
    for slot, bit in _SLOT_BITS:
        if mask & bit:
            fmt.append(time + "Q")
            if slot in ("f", "w"):
                fmt.append("B")
            elif slot == "s":
                fmt.append("q" if flags & FLAG_WIDE_SCORE else "b")
    fmt.append(("Q" + time + "B") * holds)
    return struct.Struct("".join(fmt))


def _put_uint(out: bytearray, n: int) -> None:
    """A prefix varint: the count of leading 1 bits of the first byte is the count of bytes
    that follow (0xxxxxxx: 7 bits; 10xxxxxx + 1 byte: 14 bits; ... 11111110 + 7 bytes: 56
    bits); 0xFF, a length byte and that many bytes: any larger value."""
    if n < 0x80:
        out.append(n)
    elif n < 0x4000:
        out += (n | 0x8000).to_bytes(2, "big")
    elif n < 0x200000:
        out += (n | 0xC00000).to_bytes(3, "big")
    elif n < 1 << 56:
        size = 4
        while n >= 1 << (7 * size):
            size += 1
        out += (n | ((0xFF00 >> size) & 0xFF) << (8 * (size - 1))).to_bytes(size, "big")
    else:
        body = n.to_bytes((n.bit_length() + 7) // 8, "big")
        if len(body) > 255:
            raise FactsFormatError("integer too large to pack")
        out.append(0xFF)
        out.append(len(body))
        out += body


# decoding: bytes a varint takes by its first byte (0: 0xFF, a length byte follows), value masks
_VARINT_LEN = bytes(next(n for n in range(1, 9) if not (b << (n - 1)) & 0x80) if b != 0xFF else 0 for b in range(256))
_VARINT_MASK = tuple((1 << (7 * n)) - 1 for n in range(9))


def _uint(raw: bytes, i: int) -> tuple[int, int]:
    b = raw[i]
    if b < 0x80:
        return b, i + 1
    n = _VARINT_LEN[b]
    if n:
        if i + n > len(raw):
            raise FactsFormatError("truncated varint")
        return int.from_bytes(raw[i : i + n], "big") & _VARINT_MASK[n], i + n
    size = raw[i + 1]
    if i + 2 + size > len(raw):
        raise FactsFormatError("truncated varint")
    return int.from_bytes(raw[i + 2 : i + 2 + size], "big"), i + 2 + size


def pack(facts: dict[str, Any]) -> bytes:
    """The facts (with ``_p``) as one version-1 value; ``FactsFormatError`` for a key the
    format does not know or a value of another type than ``apply_event`` stores."""
    try:
        return _pack(facts)
    except FactsFormatError:
        raise
    except (AttributeError, TypeError, ValueError, OverflowError, IndexError, KeyError, struct.error) as exc:
        raise FactsFormatError(f"facts not packable: {exc!r}") from exc


def _pack(facts: dict[str, Any]) -> bytes:
    try:
        mask = sum(map(_BIT.__getitem__, facts))
    except KeyError:
        unknown = sorted(str(k) for k in facts if k not in _BIT)
        raise FactsFormatError(f"facts {unknown} are not in the packed format") from None
    nums, texts, flags = _numbers(facts, mask)
    holds = len(facts["h"]) if mask & _H else 0
    try:
        block = _layout(mask, flags, holds).pack(*nums)
    except struct.error:
        # a time offset, threshold, partition or score out of its short range (rare): every
        # one of them in its wide form
        flags |= FLAG_WIDE_TIMES | FLAG_WIDE_RULES | FLAG_WIDE_P | FLAG_WIDE_SCORE
        block = _layout(mask, flags, holds).pack(*nums)
    out = bytearray(_HEADER.pack(VERSION, mask, flags))
    if mask & _H:
        _put_uint(out, holds)
    out += block
    seen: dict[str, int] = {}
    for text in texts:
        index = seen.get(text)
        if index is not None:
            n = (index << 1) | 1
        else:
            seen[text] = len(seen)
            body = text.encode("utf-8")  # AttributeError for a non-string: FactsFormatError
            n = len(body) << 1
        if n < 0x80:
            out.append(n)
        else:
            _put_uint(out, n)
        if index is None:
            out += body
    return bytes(out)


def _numbers(facts: dict[str, Any], mask: int) -> tuple[list[Any], list[str], int]:
    """The numbers block's values, the strings in order, and the flags but the wide ones."""
    flags = 0
    nums: list[Any] = []
    texts: list[str] = []
    base = 0
    if mask & _TIMED:
        offer = facts.get("o")
        if offer is not None:
            base = offer[0]
        else:
            times = [facts[s][0] for s in _SLOTS if s in facts] + [hold[2] for hold in facts.get("h", ())]
            base = min(times) if times else 0
        nums.append(base)
    if mask & _PART:
        nums.append(facts["_p"])
    if mask & _O:
        nums.append(facts["o"][1])
    cu_text = None
    if mask & _CU:
        cu = facts["cu"]
        raw = b""
        if type(cu) is str and len(cu) == 24:
            with contextlib.suppress(ValueError):
                raw = bytes.fromhex(cu)
        if len(raw) == 12 and raw.hex() == cu:
            nums.append(raw)
        else:
            flags |= FLAG_CU_TEXT
            cu_text = cu
    if mask & _Q:
        texts.append(facts["q"])
    if mask & _P:
        texts.append(facts["p"])
    if mask & _CH:
        ch = facts["ch"]
        code = _CHANNEL_CODE.get(ch, ESCAPE) if type(ch) is str else ESCAPE
        nums.append(code)
        if code == ESCAPE:
            texts.append(ch)
    if mask & _R:
        threshold_ms, short_ms, target, formula = facts["r"]
        percent = _PERCENT.get(target) if type(target) is float else None
        if percent is None:
            flags |= FLAG_TARGET_DOUBLE
            nums += (threshold_ms, short_ms, float(target))
        else:
            nums += (threshold_ms, short_ms, percent)
        code = _FORMULA_CODE.get(formula, ESCAPE) if type(formula) is str else ESCAPE
        nums.append(code)
        if code == ESCAPE:
            texts.append(formula)
    for slot in _PRESENT[mask & _SLOT_MASK]:
        entry = facts[slot]
        nums += (entry[0] - base, entry[1])
        if slot == "b":
            continue
        if slot == "f":
            reason = entry[2]
            code = _REASON_CODE.get(reason, ESCAPE) if type(reason) is str else ESCAPE
            nums.append(code)
            if code == ESCAPE:
                texts.append(reason)
        elif slot == "s":
            nums.append(entry[2])
            texts.append(entry[3])
        else:
            texts.append(entry[2])
            if slot == "w":
                nums.append(_RESOLVED_CODE[entry[3]])
            elif slot == "x":
                texts.append(entry[3])
    if mask & _H:
        for eh, started, ts in facts["h"]:
            nums += (eh, ts - base, started)
    if cu_text is not None:
        texts.append(cu_text)
    return nums, texts, flags


def unpack(raw: bytes) -> dict[str, Any]:
    """The facts packed in ``raw``: a version-1 value, or a legacy JSON dict (its event ids
    replaced by their hashes, as ``apply_event`` now stores them)."""
    if not raw:
        raise FactsFormatError("empty value")
    version = raw[0]
    if version == VERSION:
        try:
            return _unpack(raw)
        except FactsFormatError:
            raise
        except (IndexError, ValueError, struct.error) as exc:
            raise FactsFormatError(f"truncated or corrupt facts value: {exc!r}") from exc
    if version == 0x7B:  # "{"
        return upgrade_legacy(orjson.loads(raw))
    raise FactsFormatError(f"unknown facts format version {version}")


def _unpack(raw: bytes) -> dict[str, Any]:
    _, mask, flags = _HEADER.unpack_from(raw)
    i = 4
    nholds = 0
    if mask & _H:
        nholds, i = _uint(raw, i)
        if nholds > len(raw):  # every hold takes 13 bytes or more
            raise FactsFormatError("truncated holds")
    layout = _layout(mask, flags, nholds)
    nums = layout.unpack_from(raw, i)
    i += layout.size
    # the strings, in the order pack wrote them
    texts: list[str] = []
    distinct: list[str] = []  # what a back-reference counts in
    end = len(raw)
    while i < end:
        n = raw[i]
        if n < 0x80:
            i += 1
        else:
            n, i = _uint(raw, i)
        if n & 1:
            texts.append(distinct[n >> 1])
        else:
            stop = i + (n >> 1)
            if stop > end:
                raise FactsFormatError("truncated string")
            text = raw[i:stop].decode("utf-8")
            texts.append(text)
            distinct.append(text)
            i = stop
    j = 0  # next number
    t = 0  # next string
    facts: dict[str, Any] = {}
    base = 0
    if mask & _TIMED:
        base = nums[0]
        j = 1
    if mask & _PART:
        facts["_p"] = nums[j]
        j += 1
    if mask & _O:
        facts["o"] = [base, nums[j]]
        j += 1
    if mask & _CU and not flags & FLAG_CU_TEXT:
        facts["cu"] = nums[j].hex()
        j += 1
    if mask & _Q:
        facts["q"] = texts[t]
        t += 1
    if mask & _P:
        facts["p"] = texts[t]
        t += 1
    if mask & _CH:
        code = nums[j]
        j += 1
        if code == ESCAPE:
            facts["ch"] = texts[t]
            t += 1
        else:
            facts["ch"] = CHANNELS[code]
    if mask & _R:
        threshold_ms, short_ms, target, code = nums[j : j + 4]
        j += 4
        if not flags & FLAG_TARGET_DOUBLE:
            if target > 100:
                raise FactsFormatError(f"target code {target}")
            target = target / 100
        if code == ESCAPE:
            formula = texts[t]
            t += 1
        else:
            formula = FORMULAS[code]
        facts["r"] = [threshold_ms, short_ms, target, formula]
    for slot in _PRESENT[mask & _SLOT_MASK]:
        ts = base + nums[j]
        eh = nums[j + 1]
        j += 2
        if slot == "b":
            facts["b"] = [ts, eh]
        elif slot == "f":
            code = nums[j]
            j += 1
            if code == ESCAPE:
                facts["f"] = [ts, eh, texts[t]]
                t += 1
            else:
                facts["f"] = [ts, eh, REASONS[code]]
        elif slot == "s":
            facts["s"] = [ts, eh, nums[j], texts[t]]
            j += 1
            t += 1
        elif slot == "x":
            facts["x"] = [ts, eh, texts[t], texts[t + 1]]
            t += 2
        elif slot == "w":
            facts["w"] = [ts, eh, texts[t], _RESOLVED[nums[j]]]
            j += 1
            t += 1
        else:
            facts[slot] = [ts, eh, texts[t]]
            t += 1
    if mask & _H:
        facts["h"] = [[nums[k], nums[k + 2], base + nums[k + 1]] for k in range(j, j + 3 * nholds, 3)]
        j += 3 * nholds
    if flags & FLAG_CU_TEXT:
        facts["cu"] = texts[t]
        t += 1
    if t != len(texts):
        raise FactsFormatError(f"{len(texts) - t} strings after the facts")
    return facts


def upgrade_legacy(facts: dict[str, Any]) -> dict[str, Any]:
    """Facts as stored before event hashes (event id strings; holds ``{event_id: [started,
    ts]}``) in today's form: event hashes, holds ``[[hash, started, ts], ...]`` by hash."""
    out = dict(facts)
    for slot in ("o", *_SLOTS):
        entry = out.get(slot)
        if entry is not None and isinstance(entry[1], str):
            out[slot] = [entry[0], event_hash(entry[1]), *entry[2:]]
    holds = out.get("h")
    if isinstance(holds, dict):
        out["h"] = sorted([event_hash(eid) if isinstance(eid, str) else eid, v[0], v[1]] for eid, v in holds.items())
    return out


def peek(raw: bytes) -> tuple[int | None, int]:
    """``(_p, contacts.reference_ms(facts))`` of a packed value without unpacking it when the
    offer is known (a prune pass reads these two of every retained contact: ~0.35 µs against
    ~3 µs for ``unpack``); ``_p`` is ``None`` when absent. Reads only the header and those
    two fields: the rest of the value is not checked."""
    if raw[:1] == b"\x01":
        try:
            _, mask, flags = _HEADER.unpack_from(raw)
            if mask & _O:
                i = _uint(raw, 4)[1] if mask & _H else 4
                (base,) = _BASE.unpack_from(raw, i)
                if not mask & _PART:
                    return None, base
                if flags & FLAG_WIDE_P:
                    return _WIDE_P.unpack_from(raw, i + 8)[0], base
                return raw[i + 8], base
        except (IndexError, struct.error) as exc:
            raise FactsFormatError(f"truncated or corrupt facts value: {exc!r}") from exc
    facts = unpack(raw)
    return facts.get("_p"), reference_ms(facts)
