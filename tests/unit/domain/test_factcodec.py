"""Contact facts packed into one bytes value: lossless for whatever apply_event produces,
compact, and the legacy JSON value still readable."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pytest
from hypothesis import given, settings, strategies as st

from floorwatch.domain.contacts import apply_event, contribution, hash_customer, reference_ms
from floorwatch.domain.factcodec import (
    FLAG_CU_TEXT,
    FLAG_TARGET_DOUBLE,
    FLAG_WIDE_TIMES,
    FactsFormatError,
    pack,
    peek,
    unpack,
)
from floorwatch.domain.queue_metrics import QueueRules

KEY = b"factcodec-test-key"
DAY_MS = 86_400_000


def blake64(event_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big")


# --- the format, by hand -----------------------------------------------------------------------


def test_a_small_value_byte_by_byte() -> None:
    facts = {
        "o": [1_000, 5],
        "q": "sq",
        "ch": "chat",
        "r": [20_000, 5_000, 0.8, "answered_over_offered"],
        "a": [1_500, 7, "ag"],
        "e": [2_500, 9, "ag"],
        "x": [2_600, 10, "zz", "sq"],
        "w": [2_700, 11, "zz", None],
        "_p": 3,
    }
    # mask: o 1, q 2, ch 4, r 32, a 64, e 512, x 1024, w 2048, _p 16384 = 20071 = 0x4e67; flags 0
    expected = bytes.fromhex(
        "01 4e67 00"  # version, mask, flags
        "00000000000003e8"  # base: the offer's time, 1000
        "03"  # _p
        "0000000000000005"  # offer's event hash
        "01"  # channel: chat
        "00004e20 00001388 50 00"  # rules: 20000 ms, 5000 ms, target 80 %, formula 0
        "000001f4 0000000000000007"  # a: 1500 - 1000, hash 7
        "000005dc 0000000000000009"  # e: 2500 - 1000, hash 9
        "00000640 000000000000000a"  # x: 2600 - 1000, hash 10
        "000006a4 000000000000000b 02"  # w: 2700 - 1000, hash 11, resolved none
        "04 7371"  # q "sq" (2 bytes: 2 * 2 = 4), the 1st distinct string
        "04 6167"  # a's agent "ag", the 2nd
        "03"  # e's agent "ag" again: distinct string 1 (1 * 2 + 1)
        "04 7a7a"  # x's agent "zz", the 3rd
        "01"  # x's to-queue "sq": distinct string 0
        "05"  # w's agent "zz": distinct string 2
    )
    assert pack(facts) == expected
    assert len(expected) == 93
    assert unpack(expected) == facts


def _typical(customer: bool, answered: bool, hold: bool) -> dict[str, Any]:
    offered = 1_790_000_000_000
    facts: dict[str, Any] = {
        "o": [offered, blake64("e-1")],
        "q": "support",
        "ch": "voice",
        "r": [30_000, 5_000, 0.8, "answered_over_offered"],
        "_p": 5,
    }
    if customer:
        facts["cu"] = hash_customer("cust-1", KEY)
    if answered:
        facts["a"] = [offered + 12_000, blake64("e-2"), "a1234"]
        facts["e"] = [offered + 190_000, blake64("e-3"), "a1234"]
        facts["w"] = [offered + 220_000, blake64("e-4"), "a1234", True]
    else:
        facts["b"] = [offered + 40_000, blake64("e-2")]
    if hold:
        facts["h"] = sorted([[blake64("e-5"), 1, offered + 60_000], [blake64("e-6"), 0, offered + 90_000]])
    return facts


@pytest.mark.parametrize(
    ("customer", "answered", "hold", "length"),
    [
        # 4 header + 8 base + 1 _p + 8 offer + 12 customer + 1 channel + 10 rules
        # + 3 x (4 time + 8 hash) + 1 resolved + strings "support" 8, "a1234" 6, two back-references 2
        (True, True, False, 4 + 8 + 1 + 8 + 12 + 1 + 10 + 36 + 1 + 8 + 6 + 2),  # 97
        (False, True, False, 97 - 12),
        # abandoned: b's time and hash instead of a, e, w; the queue the only string
        (True, False, False, 4 + 8 + 1 + 8 + 12 + 1 + 10 + 12 + 8),  # 64
        # one hold: its count (1 byte) and two edges of 8 hash + 4 time + 1 started
        (True, True, True, 97 + 1 + 2 * 13),
    ],
)
def test_typical_contacts_pack_to_their_hand_counted_length(
    customer: bool, answered: bool, hold: bool, length: int
) -> None:
    facts = _typical(customer, answered, hold)
    raw = pack(facts)
    assert len(raw) == length
    assert unpack(raw) == facts


def test_values_outside_the_short_forms_take_their_wide_forms() -> None:
    facts = {
        "o": [0, 1],
        "a": [40 * DAY_MS, 2, "ag"],
        "cu": "not-a-hex-customer-hash",
        "r": [20_000, 5_000, 0.875, "a formula of tomorrow"],
        "ch": "video",
        "_p": 70_000,
        "f": [-3, 3, "a reason of tomorrow"],
        "s": [10, 4, 1_000, "ag"],
    }
    raw = pack(facts)
    assert raw[3] & FLAG_WIDE_TIMES and raw[3] & FLAG_CU_TEXT and raw[3] & FLAG_TARGET_DOUBLE
    assert unpack(raw) == facts


def test_facts_before_the_offer_are_relative_to_their_earliest_time() -> None:
    facts = {"a": [5_000, 2, "ag"], "e": [4_000, 3, "ag"], "h": [[9, 1, 3_000]], "_p": 0}
    raw = pack(facts)
    assert int.from_bytes(raw[5:13], "big") == 3_000  # after header (4) and hold count (1)
    assert unpack(raw) == facts


def test_empty_facts_and_partition_only() -> None:
    assert unpack(pack({})) == {}
    assert unpack(pack({"_p": 7})) == {"_p": 7}


# --- lossless over anything apply_event produces -------------------------------------------------

TEXT = st.text(min_size=1, max_size=12)
FORMULAS = [
    "answered_over_offered",
    "answered_over_answered_and_late_abandons",
    "answered_and_abandoned_within_over_offered",
    "answered_over_answered",
]


@st.composite
def contact_events(draw: st.DrawFn) -> tuple[list[tuple[dict[str, Any], int]], QueueRules, int]:
    """Events of one contact, each with its own id, some sent twice (duplicates); times from a
    few instants (rivals at the same millisecond), around the offer or weeks away; the
    contract's values and values beyond it."""
    ids = draw(st.lists(st.text(min_size=1, max_size=6), min_size=14, max_size=14, unique=True))
    base = draw(st.integers(0, 7_000_000_000_000))
    near = st.one_of(st.sampled_from([0, 1, 20_000]), st.integers(-600_000, 3_600_000))
    far = st.integers(-100 * DAY_MS, 100 * DAY_MS)
    agents = st.one_of(st.sampled_from(["a1", "a2"]), TEXT)
    kinds = [
        "contact.offered",
        "contact.answered",
        "contact.abandoned",
        "contact.overflowed",
        "contact.ended",
        "contact.transferred",
        "contact.wrapup_ended",
        "survey.completed",
        "contact.hold_started",
        "contact.hold_ended",
    ]
    events = []
    for n in range(draw(st.integers(1, 14))):
        if events and draw(st.integers(0, 4)) == 0:
            events.append(draw(st.sampled_from(events)))  # a duplicate
            continue
        kind = draw(st.sampled_from(kinds))
        ev: dict[str, Any] = {"type": kind, "event_id": ids[n], "contact_id": "c"}
        if kind == "contact.offered":
            ev["queue"] = draw(st.one_of(st.just("support"), TEXT))
            ev["channel"] = draw(st.sampled_from(["voice", "chat", "email", "callback", "video"]))
            ev["customer"] = draw(st.one_of(st.none(), TEXT))
            ev["parent_contact_id"] = draw(st.one_of(st.none(), TEXT))
        elif kind == "contact.overflowed":
            ev["reason"] = draw(st.sampled_from(["timeout", "no_agents", "key", "other", "later"]))
        elif kind == "contact.transferred":
            ev["agent_id"], ev["to_queue"] = draw(agents), draw(st.one_of(st.just("support"), TEXT))
        elif kind == "contact.wrapup_ended":
            ev["agent_id"], ev["resolved"] = draw(agents), draw(st.sampled_from([True, False, None]))
        elif kind == "survey.completed":
            ev["agent_id"], ev["score"] = draw(agents), draw(st.one_of(st.integers(1, 5), st.integers(-(10**6), 10**6)))
        elif kind != "contact.abandoned":
            ev["agent_id"] = draw(agents)
        events.append((ev, base + draw(st.one_of(near, near, far))))
    target = draw(
        st.one_of(st.sampled_from([0.0, 0.8, 0.85, 1.0]), st.floats(0, 1, allow_nan=False, allow_subnormal=True))
    )
    threshold_ms = draw(st.one_of(st.sampled_from([20_000, 30_000]), st.integers(0, 10**13)))
    rules = QueueRules(
        threshold_ms, draw(st.integers(0, 20_000)), target, draw(st.one_of(st.sampled_from(FORMULAS), TEXT))
    )
    return events, rules, draw(st.one_of(st.integers(0, 15), st.integers(0, 2**31)))


@settings(max_examples=400, deadline=None)
@given(contact_events())
def test_unpack_of_pack_is_the_facts_after_every_event(case: Any) -> None:
    events, rules, partition = case
    facts = None
    for ev, ts_ms in events:
        new = apply_event(facts, ev, ts_ms, lambda q: rules, customer_key=KEY)
        if new is None:
            continue
        new["_p"] = partition
        raw = pack(new)
        assert unpack(raw) == new
        assert pack(unpack(raw)) == raw
        # what the worker does per event: the next event applies to the unpacked facts
        facts = unpack(raw)
    if facts is not None:
        assert contribution(facts) == contribution(unpack(pack(facts)))


@settings(max_examples=200, deadline=None)
@given(contact_events(), st.randoms(use_true_random=False))
def test_the_same_events_in_any_order_pack_to_the_same_bytes(case: Any, rnd: Any) -> None:
    events, rules, partition = case

    def packed(order: list[tuple[dict[str, Any], int]]) -> bytes | None:
        facts = None
        for ev, ts_ms in order:
            facts = apply_event(facts, ev, ts_ms, lambda q: rules, customer_key=KEY) or facts
        return None if facts is None else pack({**facts, "_p": partition})

    shuffled = list(events)
    rnd.shuffle(shuffled)
    assert packed(events) == packed(shuffled)


@settings(max_examples=200, deadline=None)
@given(contact_events())
def test_every_truncated_value_is_an_error_never_other_facts(case: Any) -> None:
    events, rules, partition = case
    facts = None
    for ev, ts_ms in events:
        facts = apply_event(facts, ev, ts_ms, lambda q: rules, customer_key=KEY) or facts
    assert facts is not None
    raw = pack({**facts, "_p": partition})
    for cut in range(1, len(raw)):
        with pytest.raises(FactsFormatError):
            unpack(raw[:cut])
    with pytest.raises(FactsFormatError):
        unpack(raw + b"\x00")


# --- legacy values and errors --------------------------------------------------------------------


def test_a_legacy_json_value_is_read_with_event_hashes() -> None:
    legacy = {
        "o": [1_000, "e1"],
        "q": "support",
        "ch": "voice",
        "r": [20_000, 5_000, 0.8, "answered_over_offered"],
        "a": [6_000, "e2", "a7"],
        "h": {"e3": [1, 9_000], "e4": [0, 19_000]},
        "_p": 2,
    }
    facts = unpack(orjson.dumps(legacy))
    assert facts == {
        "o": [1_000, blake64("e1")],
        "q": "support",
        "ch": "voice",
        "r": [20_000, 5_000, 0.8, "answered_over_offered"],
        "a": [6_000, blake64("e2"), "a7"],
        "h": sorted([[blake64("e3"), 1, 9_000], [blake64("e4"), 0, 19_000]]),
        "_p": 2,
    }
    # the events already applied stay duplicates after the upgrade
    rules = QueueRules(20_000, 5_000, 0.8, "answered_over_offered")
    answered = {"type": "contact.answered", "event_id": "e2", "contact_id": "c", "queue": "support", "agent_id": "a7"}
    hold = {"type": "contact.hold_ended", "event_id": "e4", "contact_id": "c", "agent_id": "a7"}
    assert apply_event(facts, answered, 6_000, lambda q: rules, customer_key=KEY) is None
    assert apply_event(facts, hold, 19_000, lambda q: rules, customer_key=KEY) is None
    assert unpack(pack(facts)) == facts


def test_facts_the_format_does_not_know_are_refused() -> None:
    with pytest.raises(FactsFormatError, match="zz"):
        pack({"o": [1, 2], "zz": 1})
    with pytest.raises(FactsFormatError):
        pack({"o": [1, "an event id, not its hash"]})
    with pytest.raises(FactsFormatError):
        pack({"a": [1.5, 2, "ag"]})
    with pytest.raises(FactsFormatError):
        pack({"q": 42})
    with pytest.raises(FactsFormatError):
        pack({"o": [1, 2**64]})


@pytest.mark.parametrize("raw", [b"", b"\x02\x00\x01\x00", b"[1]", b"\x01\x00"])
def test_values_of_no_known_format_are_refused(raw: bytes) -> None:
    with pytest.raises(FactsFormatError):
        unpack(raw)


@settings(max_examples=200, deadline=None)
@given(contact_events())
def test_peek_gives_the_partition_and_reference_time_of_the_facts(case: Any) -> None:
    events, rules, partition = case
    facts = None
    for ev, ts_ms in events:
        facts = apply_event(facts, ev, ts_ms, lambda q: rules, customer_key=KEY) or facts
    assert facts is not None
    assert peek(pack({**facts, "_p": partition})) == (partition, reference_ms(facts))
    assert peek(pack(facts)) == (None, reference_ms(facts))


def test_peek_by_hand() -> None:
    # offer at 1000 with a hold: the base follows the header and the hold count
    assert peek(pack({"o": [1_000, 1], "h": [[2, 1, 5_000]], "_p": 300})) == (300, 1_000)
    # no offer: the latest time of the facts
    assert peek(pack({"a": [7_000, 1, "ag"], "h": [[2, 1, 9_000]], "_p": 4})) == (4, 9_000)
    assert peek(orjson.dumps({"o": [1_500, "e1"], "_p": 6})) == (6, 1_500)
