"""A contact's facts: order-independent, idempotent, and its contribution to its interval."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest

from floorwatch.domain.contacts import (
    apply_event,
    contribution,
    end_ms,
    event_hash,
    hash_customer,
    hold_ms,
    outcome,
    rules_of,
)
from floorwatch.domain.queue_metrics import (
    ABANDONED,
    ANSWERED,
    OVERFLOWED,
    WAITING,
    Contribution,
    QueueRules,
)
from floorwatch.events import parse_event, to_ms
from tests.unit.contact_fields import CONTACT_FIELDS

BASE_DT = datetime.fromisoformat("2024-05-01T09:00:00+08:00")
BASE = to_ms(BASE_DT)
RULES = QueueRules(sl_threshold_ms=20_000, short_abandon_ms=5_000, sl_target=0.8, sl_formula="answered_over_offered")

_FIELDS = CONTACT_FIELDS


def ev(kind: str, eid: str, at_ms: int, contact: str = "c1", **fields: Any) -> tuple[dict[str, Any], int]:
    """A validated event ``at_ms`` after 09:00:00 Shanghai, as (dict, ts_ms)."""
    ts = (BASE_DT + timedelta(milliseconds=at_ms)).isoformat()
    e = parse_event({"type": kind, "event_id": eid, "ts": ts, "contact_id": contact, **_FIELDS[kind], **fields})
    return e.model_dump(), e.ts_ms


CUSTOMER_KEY = b"unit-test-customer-key"


def rules(_queue: str) -> QueueRules:
    return RULES


def feed(events: list[tuple[dict[str, Any], int]], facts: dict | None = None, rules_for=rules) -> dict:
    for e, ts in events:
        new = apply_event(facts, e, ts, rules_for, customer_key=CUSTOMER_KEY)
        if new is not None:
            facts = new
    assert facts is not None
    return facts


def blake64(event_id: str) -> int:
    """The event hash by its definition: BLAKE2b with an 8-byte digest, big-endian."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big")


def sec(s: float) -> int:
    return round(s * 1000)


# --- thresholds ------------------------------------------------------------------------------


def test_abandoned_exactly_at_threshold_is_in_b_t_and_not_short() -> None:
    f = feed([ev("contact.offered", "o", 0), ev("contact.abandoned", "b", sec(20))])
    # wait = 20 s == T -> B_T; 20 s >= 5 s -> not short
    assert contribution(f) == Contribution(BASE, ABANDONED, 20_000, short_abandon=False, abandoned_within_sl=True)


def test_abandoned_one_ms_after_threshold_is_not_in_b_t() -> None:
    f = feed([ev("contact.offered", "o", 0), ev("contact.abandoned", "b", 20_001)])
    assert contribution(f) == Contribution(BASE, ABANDONED, 20_001, abandoned_within_sl=False)


def test_abandoned_exactly_at_short_abandon_is_not_short() -> None:
    # short means wait < short_abandon_s; wait == 5 s is a real abandon (and within T)
    f = feed([ev("contact.offered", "o", 0), ev("contact.abandoned", "b", sec(5))])
    c = contribution(f)
    assert c == Contribution(BASE, ABANDONED, 5_000, short_abandon=False, abandoned_within_sl=True)


def test_abandoned_one_ms_before_short_abandon_is_short() -> None:
    f = feed([ev("contact.offered", "o", 0), ev("contact.abandoned", "b", 4_999)])
    assert contribution(f) == Contribution(BASE, ABANDONED, 4_999, short_abandon=True, abandoned_within_sl=True)


def test_answered_exactly_at_threshold_is_within() -> None:
    f = feed([ev("contact.offered", "o", 0), ev("contact.answered", "a", sec(20))])
    assert contribution(f) == Contribution(BASE, ANSWERED, 20_000, within_sl=True)


def test_answered_one_ms_after_threshold_is_not_within() -> None:
    f = feed([ev("contact.offered", "o", 0), ev("contact.answered", "a", 20_001)])
    assert contribution(f) == Contribution(BASE, ANSWERED, 20_001, within_sl=False)


def test_threshold_comes_from_the_contacts_rules() -> None:
    # T = 10 s: an answer at 15 s is late, an abandon at 7 s is short under short = 8 s
    r = QueueRules(10_000, 8_000, 0.9, "answered_over_answered")
    f = feed([ev("contact.offered", "o", 0), ev("contact.answered", "a", sec(15))], rules_for=lambda q: r)
    assert contribution(f).within_sl is False
    g = feed([ev("contact.offered", "o", 0), ev("contact.abandoned", "b", sec(7))], rules_for=lambda q: r)
    assert contribution(g).short_abandon is True
    assert rules_of(g) == r


def test_overflow_contribution_has_its_wait() -> None:
    f = feed([ev("contact.offered", "o", 0), ev("contact.overflowed", "f", sec(95))])
    assert contribution(f) == Contribution(BASE, OVERFLOWED, 95_000)


def test_waiting_contact() -> None:
    f = feed([ev("contact.offered", "o", 0)])
    assert contribution(f) == Contribution(BASE, WAITING)
    assert outcome(f) == (WAITING, None)


# --- handle time ----------------------------------------------------------------------------


def test_aht_parts_talk_hold_wrap() -> None:
    # answered at 10 s, hold 70..100 s (30 s), ended at 310 s, wrap-up ended at 355 s
    # talk = 310 - 10 - 30 = 270 s; hold 30 s; wrap = 355 - 310 = 45 s
    f = feed(
        [
            ev("contact.offered", "o", 0),
            ev("contact.answered", "a", sec(10)),
            ev("contact.hold_started", "h1", sec(70)),
            ev("contact.hold_ended", "h2", sec(100)),
            ev("contact.ended", "e", sec(310)),
            ev("contact.wrapup_ended", "w", sec(355), resolved=True),
        ]
    )
    assert contribution(f) == Contribution(
        BASE, ANSWERED, 10_000, within_sl=True, handled=True, talk_ms=270_000, hold_ms=30_000, wrap_ms=45_000
    )


def test_no_wrapup_means_wrap_zero() -> None:
    # answered 5 s, ended 125 s -> talk 120 s, wrap 0
    f = feed([ev("contact.offered", "o", 0), ev("contact.answered", "a", sec(5)), ev("contact.ended", "e", sec(125))])
    assert contribution(f) == Contribution(
        BASE, ANSWERED, 5_000, within_sl=True, handled=True, talk_ms=120_000, hold_ms=0, wrap_ms=0
    )


def test_answered_but_not_ended_is_not_handled() -> None:
    f = feed(
        [ev("contact.offered", "o", 0), ev("contact.answered", "a", sec(5)), ev("contact.wrapup_ended", "w", sec(500))]
    )
    c = contribution(f)
    assert c.handled is False and c.talk_ms == c.hold_ms == c.wrap_ms == 0


def test_ended_before_answered_timestamp_is_not_handled() -> None:
    f = feed([ev("contact.offered", "o", 0), ev("contact.answered", "a", sec(50)), ev("contact.ended", "e", sec(40))])
    assert contribution(f).handled is False


def test_two_holds() -> None:
    # answered 0 s; holds 60..90 (30 s) and 200..260 (60 s) -> hold 90 s; ended 400 s
    # talk = 400 - 0 - 90 = 310 s
    f = feed(
        [
            ev("contact.offered", "o", 0),
            ev("contact.answered", "a", 0),
            ev("contact.hold_started", "h1", sec(60)),
            ev("contact.hold_ended", "h2", sec(90)),
            ev("contact.hold_started", "h3", sec(200)),
            ev("contact.hold_ended", "h4", sec(260)),
            ev("contact.ended", "e", sec(400)),
        ]
    )
    c = contribution(f)
    assert (c.talk_ms, c.hold_ms, c.wrap_ms) == (310_000, 90_000, 0)


def test_open_hold_at_end_lasts_until_end() -> None:
    # answered 2 s; hold 100..130 (30 s), then hold from 250 s never closed; ended 300 s
    # hold = 30 + (300 - 250) = 80 s; talk = 300 - 2 - 80 = 218 s
    f = feed(
        [
            ev("contact.offered", "o", 0),
            ev("contact.answered", "a", sec(2)),
            ev("contact.hold_started", "h1", sec(100)),
            ev("contact.hold_ended", "h2", sec(130)),
            ev("contact.hold_started", "h3", sec(250)),
            ev("contact.ended", "e", sec(300)),
        ]
    )
    c = contribution(f)
    assert (c.talk_ms, c.hold_ms) == (218_000, 80_000)


def test_hold_ending_after_end_is_cut_at_end_and_hold_after_end_is_ignored() -> None:
    # hold 280..330 with end at 300 -> 20 s; hold 400..420 after end -> 0
    f = feed(
        [
            ev("contact.offered", "o", 0),
            ev("contact.answered", "a", 0),
            ev("contact.hold_started", "h1", sec(280)),
            ev("contact.hold_ended", "h2", sec(330)),
            ev("contact.hold_started", "h3", sec(400)),
            ev("contact.hold_ended", "h4", sec(420)),
            ev("contact.ended", "e", sec(300)),
        ]
    )
    assert hold_ms(f, end_ms(f)) == 20_000
    assert contribution(f).talk_ms == 280_000  # 300 - 0 - 20


def test_hold_events_in_any_order_give_the_same_hold() -> None:
    events = [
        ev("contact.hold_started", "h1", sec(60)),
        ev("contact.hold_ended", "h2", sec(90)),
        ev("contact.hold_started", "h3", sec(200)),
        ev("contact.hold_ended", "h4", sec(260)),
    ]
    results = set()
    for perm in itertools.permutations(events):
        f = feed([ev("contact.offered", "o", 0), *perm])
        results.add(hold_ms(f, BASE + sec(1000)))
    assert results == {90_000}


def test_transfer_counts_as_handled_and_ends_the_conversation() -> None:
    # answered 8 s, transferred at 188 s, the (later) ended at 250 s is not the end,
    # wrap-up ended 218 s -> talk = 188 - 8 = 180 s, wrap = 218 - 188 = 30 s
    f = feed(
        [
            ev("contact.offered", "o", 0),
            ev("contact.answered", "a", sec(8)),
            ev("contact.transferred", "x", sec(188)),
            ev("contact.ended", "e", sec(250)),
            ev("contact.wrapup_ended", "w", sec(218)),
        ]
    )
    assert end_ms(f) == BASE + sec(188)
    assert contribution(f) == Contribution(
        BASE,
        ANSWERED,
        8_000,
        within_sl=True,
        handled=True,
        talk_ms=180_000,
        hold_ms=0,
        wrap_ms=30_000,
        transferred=True,
    )


def test_transfer_alone_is_handled() -> None:
    f = feed(
        [ev("contact.offered", "o", 0), ev("contact.answered", "a", sec(8)), ev("contact.transferred", "x", sec(68))]
    )
    c = contribution(f)
    assert c.handled and c.talk_ms == 60_000 and c.wrap_ms == 0 and c.transferred


def test_transfer_after_the_end_is_not_a_transferred_contact() -> None:
    # ended at 68 s, a transfer at 90 s: the end is contact.ended (talk 60 s), not the transfer
    f = feed(
        [
            ev("contact.offered", "o", 0),
            ev("contact.answered", "a", sec(8)),
            ev("contact.transferred", "x", sec(90)),
            ev("contact.ended", "e", sec(68)),
        ]
    )
    c = contribution(f)
    assert c.handled and c.talk_ms == 60_000 and not c.transferred


def test_transfer_at_the_end_instant_is_a_transferred_contact() -> None:
    # ended and transferred at the same 68 s: no ended *earlier* than the transfer
    f = feed(
        [
            ev("contact.offered", "o", 0),
            ev("contact.answered", "a", sec(8)),
            ev("contact.ended", "e", sec(68)),
            ev("contact.transferred", "x", sec(68)),
        ]
    )
    c = contribution(f)
    assert c.handled and c.talk_ms == 60_000 and c.transferred


def test_transfer_of_an_unanswered_contact_counts_nothing() -> None:
    f = feed([ev("contact.offered", "o", 0), ev("contact.transferred", "x", sec(30))])
    c = contribution(f)
    assert c.outcome == WAITING and not c.handled and not c.transferred


# --- arrival order, duplicates, conflicts ------------------------------------------------------


def test_events_before_offer_are_kept_and_counted_once_offer_arrives() -> None:
    # answered (12 s) and ended (112 s) arrive before the offer
    f = feed([ev("contact.answered", "a", sec(12)), ev("contact.ended", "e", sec(112))])
    assert contribution(f) is None
    assert "a" in f and "e" in f and "o" not in f
    f = feed([ev("contact.offered", "o", 0)], f)
    assert contribution(f) == Contribution(BASE, ANSWERED, 12_000, within_sl=True, handled=True, talk_ms=100_000)


def test_answer_timestamp_before_offer_timestamp_has_zero_wait() -> None:
    # clock skew: answered stamped 1 s before the offer -> wait clamped to 0 (within T)
    f = feed([ev("contact.offered", "o", sec(10)), ev("contact.answered", "a", sec(9))])
    c = contribution(f)
    assert c.outcome == ANSWERED and c.wait_ms == 0 and c.within_sl


def test_duplicates_change_nothing() -> None:
    events = [
        ev("contact.offered", "o", 0),
        ev("contact.answered", "a", sec(5)),
        ev("contact.hold_started", "h1", sec(10)),
        ev("contact.hold_ended", "h2", sec(20)),
        ev("contact.ended", "e", sec(60)),
        ev("contact.wrapup_ended", "w", sec(70)),
        ev("survey.completed", "s", sec(80)),
    ]
    f = feed(events)
    snapshot = copy.deepcopy(f)
    for e, ts in events:
        assert apply_event(f, e, ts, rules, customer_key=CUSTOMER_KEY) is None
    assert f == snapshot
    assert contribution(f) == Contribution(
        BASE,
        ANSWERED,
        5_000,
        within_sl=True,
        handled=True,
        talk_ms=45_000,
        hold_ms=10_000,
        wrap_ms=10_000,
        survey_score=4,
    )


def test_apply_event_never_mutates_its_input() -> None:
    f = feed([ev("contact.offered", "o", 0), ev("contact.hold_started", "h1", sec(10))])
    before = copy.deepcopy(f)
    new = apply_event(f, *ev("contact.hold_ended", "h2", sec(20)), rules, customer_key=CUSTOMER_KEY)
    assert new is not None and f == before
    new2 = apply_event(f, *ev("contact.answered", "a", sec(3)), rules, customer_key=CUSTOMER_KEY)
    assert new2 is not None and f == before


def test_conflicting_outcomes_earliest_wins_in_any_order() -> None:
    # abandoned at 10 s, answered at 30 s, overflowed at 40 s -> abandoned (10 s, not short)
    events = [
        ev("contact.offered", "o", 0),
        ev("contact.answered", "a", sec(30)),
        ev("contact.abandoned", "b", sec(10)),
        ev("contact.overflowed", "f", sec(40)),
    ]
    f = feed(events)
    for perm in itertools.permutations(events):
        assert feed(list(perm)) == f
    assert outcome(f) == (ABANDONED, BASE + sec(10))
    assert contribution(f) == Contribution(BASE, ABANDONED, 10_000, abandoned_within_sl=True)


def test_two_answers_earliest_wins() -> None:
    late = ev("contact.answered", "a-late", sec(30), agent_id="late-agent")
    early = ev("contact.answered", "a-early", sec(15), agent_id="early-agent")
    off = ev("contact.offered", "o", 0)
    f1 = feed([off, late, early])
    f2 = feed([early, off, late])
    assert f1 == f2
    assert f1["a"] == [BASE + sec(15), blake64("a-early"), "early-agent"]
    assert contribution(f1).wait_ms == 15_000 and contribution(f1).within_sl


def test_same_timestamp_ties_broken_by_the_event_id_hash() -> None:
    # the fact keeps the answer whose event id has the smaller 64-bit hash, in either order
    x = ev("contact.answered", "a-x", sec(15), agent_id="x")
    y = ev("contact.answered", "a-y", sec(15), agent_id="y")
    winner = "x" if blake64("a-x") < blake64("a-y") else "y"
    assert feed([y, x])["a"][2] == winner
    assert feed([x, y])["a"][2] == winner
    # ids chosen so the hash order is the reverse of the ids' text order: the hash decides
    assert blake64("tie-1") > blake64("tie-3")
    one = ev("contact.answered", "tie-1", sec(15), agent_id="one")
    three = ev("contact.answered", "tie-3", sec(15), agent_id="three")
    assert feed([one, three])["a"] == feed([three, one])["a"] == [BASE + sec(15), blake64("tie-3"), "three"]


def test_facts_hold_event_hashes_not_event_ids() -> None:
    f = feed(
        [
            ev("contact.offered", "o-1", 0),
            ev("contact.answered", "a-1", sec(5)),
            ev("contact.hold_started", "h-1", sec(10)),
            ev("contact.hold_ended", "h-2", sec(20)),
        ]
    )
    assert f["o"] == [BASE, blake64("o-1")]
    assert f["a"] == [BASE + sec(5), blake64("a-1"), "a1"]
    assert f["h"] == sorted([[blake64("h-1"), 1, BASE + sec(10)], [blake64("h-2"), 0, BASE + sec(20)]])
    assert event_hash("o-1") == blake64("o-1") and 0 <= event_hash("o-1") < 2**64
    # a redelivered hold (same id) changes nothing; another id at the same time is another hold
    assert apply_event(f, *ev("contact.hold_ended", "h-2", sec(20)), rules, customer_key=CUSTOMER_KEY) is None
    g = feed([ev("contact.hold_ended", "h-3", sec(20))], f)
    assert [h[0] for h in g["h"]] == sorted([blake64("h-1"), blake64("h-2"), blake64("h-3")])


def test_answer_and_abandon_at_same_ms_answer_wins() -> None:
    f = feed([ev("contact.offered", "o", 0), ev("contact.abandoned", "b", sec(9)), ev("contact.answered", "a", sec(9))])
    assert outcome(f) == (ANSWERED, BASE + sec(9))


def test_earlier_offer_wins_and_its_fields_only() -> None:
    late = ev("contact.offered", "o2", sec(5), customer="cust-9", parent_contact_id="p-1")
    early = ev("contact.offered", "o1", 0)
    f1 = feed([late, early])
    f2 = feed([early, late])
    assert f1 == f2
    assert f1["o"] == [BASE, blake64("o1")]
    assert "cu" not in f1 and "p" not in f1


def test_customer_is_stored_hashed() -> None:
    f = feed([ev("contact.offered", "o", 0, customer="+8613800000000", parent_contact_id="c0")])
    assert f["cu"] == hash_customer("+8613800000000", CUSTOMER_KEY)
    assert "+8613800000000" not in repr(f)
    assert len(f["cu"]) == 24
    assert f["p"] == "c0" and f["q"] == "support" and f["ch"] == "voice"


def test_customer_hash_is_hmac_sha256_with_the_key() -> None:
    # RFC 4231 test case 2: HMAC-SHA-256(key "Jefe", "what do ya want for nothing?")
    assert hash_customer("what do ya want for nothing?", b"Jefe") == "5bdcc146bf60754e6a042426"
    # not the unkeyed SHA-256 of the id, which anyone can recompute from a list of numbers
    unkeyed = hashlib.sha256(b"+8613800000000").hexdigest()[:24]
    assert hash_customer("+8613800000000", b"k1") not in (unkeyed, hash_customer("+8613800000000", b"k2"))


def test_another_key_gives_another_customer_hash_in_the_facts() -> None:
    offer = ev("contact.offered", "o", 0, customer="cust-7")
    with_one = apply_event(None, *offer, rules, customer_key=b"key-one")
    with_two = apply_event(None, *offer, rules, customer_key=b"key-two")
    assert with_one is not None and with_two is not None
    assert with_one["cu"] == hash_customer("cust-7", b"key-one") != with_two["cu"]


def test_customer_key_is_required_and_not_empty() -> None:
    offer = ev("contact.offered", "o", 0, customer="cust-7")
    with pytest.raises(TypeError, match="customer_key"):
        apply_event(None, *offer, rules)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="customer_key"):
        apply_event(None, *offer, rules, customer_key=b"")


def test_survey_changes_only_the_survey_score_of_the_contribution() -> None:
    f = feed([ev("contact.offered", "o", 0), ev("contact.answered", "a", sec(4))])
    g = feed([ev("survey.completed", "s", sec(400), score=2)], f)
    assert g["s"][2] == 2
    assert contribution(f).survey_score is None
    assert contribution(g) == dataclasses.replace(contribution(f), survey_score=2)


def test_survey_earliest_wins_in_any_order_and_counts_whatever_the_outcome() -> None:
    # two surveys for one contact: the earliest (ts, event_id) is the contact's survey
    events = [
        ev("contact.offered", "o", 0),
        ev("contact.abandoned", "b", sec(30)),
        ev("survey.completed", "s2", sec(500), score=5),
        ev("survey.completed", "s1", sec(400), score=1),
    ]
    f = feed(events)
    for perm in itertools.permutations(events):
        assert feed(list(perm)) == f
    c = contribution(f)
    assert c is not None and c.outcome == ABANDONED and c.survey_score == 1
    # a survey before its offer is kept, and counts once the offer arrives
    early = feed([ev("survey.completed", "s", sec(400), score=3)])
    assert contribution(early) is None
    assert contribution(feed([ev("contact.offered", "o", 0)], early)).survey_score == 3  # type: ignore[union-attr]


def test_not_a_contact_event_is_an_error() -> None:
    with pytest.raises(ValueError, match="not a contact event"):
        apply_event(None, {"type": "agent.state", "event_id": "x"}, 0, rules, customer_key=CUSTOMER_KEY)


# --- settings are not retroactive ------------------------------------------------------------


def test_rules_captured_at_first_offer_are_kept_when_config_changes() -> None:
    old = QueueRules(20_000, 5_000, 0.8, "answered_over_offered")
    new = QueueRules(10_000, 2_000, 0.9, "answered_over_answered")
    f = feed([ev("contact.offered", "o", 0)], rules_for=lambda q: old)
    assert f["r"] == [20_000, 5_000, 0.8, "answered_over_offered"]
    # config changes, then the answer (15 s) arrives: still within the *old* T = 20 s
    f = feed([ev("contact.answered", "a", sec(15))], f, rules_for=lambda q: new)
    assert rules_of(f) == old
    assert contribution(f).within_sl is True
    # a redelivered offer, or an earlier offer event arriving late, keeps the captured rules
    assert apply_event(f, *ev("contact.offered", "o", 0), lambda q: new, customer_key=CUSTOMER_KEY) is None
    g = feed([ev("contact.offered", "o0", -1)], f, rules_for=lambda q: new)
    assert g["o"][0] == BASE - 1 and rules_of(g) == old


def test_rules_are_captured_when_the_offer_is_first_processed_not_before() -> None:
    old = QueueRules(20_000, 5_000, 0.8, "answered_over_offered")
    new = QueueRules(10_000, 2_000, 0.9, "answered_over_answered")
    f = feed([ev("contact.answered", "a", sec(15))], rules_for=lambda q: old)
    assert "r" not in f
    f = feed([ev("contact.offered", "o", 0)], f, rules_for=lambda q: new)
    assert rules_of(f) == new
    assert contribution(f).within_sl is False  # 15 s > new T = 10 s


def test_hold_events_per_contact_are_capped() -> None:
    from floorwatch.domain.contacts import MAX_HOLD_EVENTS_PER_CONTACT, FactLimitError, apply_event

    def rules_for(queue: str):  # type: ignore[no-untyped-def]
        from floorwatch.domain.queue_metrics import QueueRules

        return QueueRules.from_seconds(20, 5, 0.8, "answered_over_offered")

    key = b"k"
    facts = apply_event(
        None,
        {"type": "contact.offered", "event_id": "o", "contact_id": "c", "queue": "q", "channel": "voice"},
        1_000,
        rules_for,
        customer_key=key,
    )
    for i in range(MAX_HOLD_EVENTS_PER_CONTACT):
        etype = "contact.hold_started" if i % 2 == 0 else "contact.hold_ended"
        facts = apply_event(
            facts, {"type": etype, "event_id": f"h{i}", "contact_id": "c"}, 2_000 + i, rules_for, customer_key=key
        )
    assert facts is not None and len(facts["h"]) == 200
    try:
        apply_event(
            facts,
            {"type": "contact.hold_started", "event_id": "one-more", "contact_id": "c"},
            9_000,
            rules_for,
            customer_key=key,
        )
    except FactLimitError as exc:
        assert exc.reason == "too_many_holds"
    else:
        raise AssertionError("the 201st hold event was accepted")
    # a duplicate of a kept hold is still "no change", not a refusal
    assert (
        apply_event(
            facts,
            {"type": "contact.hold_ended", "event_id": "h1", "contact_id": "c"},
            2_001,
            rules_for,
            customer_key=key,
        )
        is None
    )
