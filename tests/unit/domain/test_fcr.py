"""First contact resolution (floorwatch.domain.fcr): projection, derive, apply_projection and
the per-partition FcrAggregator — every expected figure computed by hand.

Time zone Asia/Shanghai (UTC+8, no DST), 30-minute intervals, window W = 24 h unless a test
says otherwise. Hand anchors: 2024-03-10T00:00:00Z = 1_710_028_800_000 ms
(2024-01-01T00:00Z = 1_704_067_200 s, + (31 + 29 + 9) days * 86_400 s).
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from floorwatch.domain.contacts import apply_event, hash_customer
from floorwatch.domain.fcr import (
    ContactFcr,
    FcrAggregator,
    apply_projection,
    derive,
    projection,
)
from floorwatch.domain.intervals import interval_start_ms, local_date
from floorwatch.domain.queue_metrics import Counts, QueueRules
from floorwatch.events import parse_event, to_ms
from tests.unit.contact_fields import CONTACT_FIELDS

TZ = ZoneInfo("Asia/Shanghai")
MIN = 60_000
HOUR = 3_600_000
W = 24 * HOUR
RULES = QueueRules(20_000, 5_000, 0.8, "answered_over_offered")

UTC_2024_03_10 = 1_710_028_800_000  # 2024-03-10T00:00:00Z == 2024-03-10 08:00 Shanghai


def local_ms(text: str) -> int:
    """'2024-03-10 09:47:13' Shanghai wall time -> epoch ms."""
    return to_ms(datetime.fromisoformat(text).replace(tzinfo=TZ))


def test_hand_anchor() -> None:
    assert local_ms("2024-03-10 08:00:00") == UTC_2024_03_10


# --- building facts from events ----------------------------------------------------------------

_n = itertools.count()

CUSTOMER_KEY = b"unit-test-customer-key"


def ev(kind: str, contact: str, at: str, **fields: Any) -> tuple[dict[str, Any], int]:
    """A validated event at local wall time ``at`` as (dict, ts_ms)."""
    e = parse_event(
        {
            "type": kind,
            "event_id": f"{contact}-{kind}-{next(_n)}",
            "ts": datetime.fromisoformat(at).replace(tzinfo=TZ).isoformat(),
            "contact_id": contact,
            **CONTACT_FIELDS[kind],
            **fields,
        }
    )
    return e.model_dump(), e.ts_ms


def feed(events: list[tuple[dict[str, Any], int]]) -> dict[str, Any]:
    facts: dict[str, Any] | None = None
    for e, ts in events:
        new = apply_event(facts, e, ts, lambda q: RULES, customer_key=CUSTOMER_KEY)
        if new is not None:
            facts = new
    assert facts is not None
    return facts


def proj(o: int, *, q: str = "support", p: str | None = None, a: str | None = "a1", r: bool | None = None) -> dict:
    return {"o": o, "q": q, "p": p, "a": a, "r": r}


# --- projection ----------------------------------------------------------------------------------


def test_projection_without_customer_or_offer_is_none() -> None:
    no_customer = feed(
        [ev("contact.offered", "c1", "2024-03-10 09:00:00"), ev("contact.answered", "c1", "2024-03-10 09:00:10")]
    )
    assert projection(no_customer) is None
    # a customer is only known from the offer: facts without an offer have none
    only_answer = feed([ev("contact.answered", "c1", "2024-03-10 09:00:10")])
    assert projection(only_answer) is None
    assert projection(None) is None
    assert projection({}) is None


def test_projection_of_an_answered_contact() -> None:
    facts = feed(
        [
            ev("contact.offered", "c1", "2024-03-10 09:00:00", customer="cust-42", queue="sales"),
            ev("contact.answered", "c1", "2024-03-10 09:00:10", agent_id="a7", queue="sales"),
        ]
    )
    cu = hash_customer("cust-42", CUSTOMER_KEY)
    assert len(cu) == 24 and cu != "cust-42"
    assert projection(facts) == (
        cu,
        {"o": local_ms("2024-03-10 09:00:00"), "q": "sales", "p": None, "a": "a7", "r": None},
    )


def test_projection_of_an_abandoned_contact_has_no_agent() -> None:
    # abandoned at 09:00:30, a (late, bogus) answer at 09:00:40: the earliest outcome wins
    facts = feed(
        [
            ev("contact.offered", "c1", "2024-03-10 09:00:00", customer="cust-42"),
            ev("contact.answered", "c1", "2024-03-10 09:00:40", agent_id="a7"),
            ev("contact.abandoned", "c1", "2024-03-10 09:00:30"),
        ]
    )
    assert projection(facts)[1]["a"] is None  # type: ignore[index]
    # overflowed first: not answered either
    facts = feed(
        [
            ev("contact.offered", "c2", "2024-03-10 09:00:00", customer="cust-42"),
            ev("contact.overflowed", "c2", "2024-03-10 09:00:20"),
            ev("contact.answered", "c2", "2024-03-10 09:00:40", agent_id="a7"),
        ]
    )
    assert projection(facts)[1]["a"] is None  # type: ignore[index]
    # still waiting
    waiting = feed([ev("contact.offered", "c3", "2024-03-10 09:00:00", customer="cust-42")])
    assert projection(waiting) == (
        hash_customer("cust-42", CUSTOMER_KEY),
        {"o": local_ms("2024-03-10 09:00:00"), "q": "support", "p": None, "a": None, "r": None},
    )


@pytest.mark.parametrize("resolved", [True, False, None])
def test_projection_carries_the_wrapup_resolved_flag(resolved: bool | None) -> None:
    fields = {} if resolved is None else {"resolved": resolved}
    facts = feed(
        [
            ev("contact.offered", "c1", "2024-03-10 09:00:00", customer="cust-1"),
            ev("contact.answered", "c1", "2024-03-10 09:00:05"),
            ev("contact.ended", "c1", "2024-03-10 09:05:00"),
            ev("contact.wrapup_ended", "c1", "2024-03-10 09:06:00", **fields),
        ]
    )
    # only "unresolved" matters to FCR: true and absent both project to None
    assert projection(facts)[1]["r"] is (False if resolved is False else None)  # type: ignore[index]


def test_projection_earliest_wrapup_wins_in_any_order() -> None:
    offer = ev("contact.offered", "c1", "2024-03-10 09:00:00", customer="cust-1")
    answer = ev("contact.answered", "c1", "2024-03-10 09:00:05")
    early_false = ev("contact.wrapup_ended", "c1", "2024-03-10 09:06:00", resolved=False)
    late_true = ev("contact.wrapup_ended", "c1", "2024-03-10 09:07:00", resolved=True)
    for order in itertools.permutations([offer, answer, early_false, late_true]):
        assert projection(feed(list(order)))[1]["r"] is False  # type: ignore[index]
    early_true = ev("contact.wrapup_ended", "c1", "2024-03-10 09:05:30", resolved=True)
    for order in itertools.permutations([offer, answer, early_false, early_true]):
        assert projection(feed(list(order)))[1]["r"] is None  # type: ignore[index]


def test_projection_of_a_transfer_leg_carries_its_parent() -> None:
    facts = feed(
        [
            ev(
                "contact.offered",
                "leg",
                "2024-03-10 09:10:00",
                customer="cust-1",
                parent_contact_id="root",
                queue="billing",
            ),
            ev("contact.answered", "leg", "2024-03-10 09:10:20", agent_id="a3", queue="billing"),
        ]
    )
    assert projection(facts) == (
        hash_customer("cust-1", CUSTOMER_KEY),
        {"o": local_ms("2024-03-10 09:10:00"), "q": "billing", "p": "root", "a": "a3", "r": None},
    )


def test_projection_follows_the_earliest_offer_customer() -> None:
    late = ev("contact.offered", "c1", "2024-03-10 09:00:05", customer="cust-B")
    early = ev("contact.offered", "c1", "2024-03-10 09:00:00", customer="cust-A")
    for order in ([late, early], [early, late]):
        cu, p = projection(feed(order))  # type: ignore[misc]
        assert cu == hash_customer("cust-A", CUSTOMER_KEY) and p["o"] == local_ms("2024-03-10 09:00:00")


# --- derive --------------------------------------------------------------------------------------

T0 = local_ms("2024-03-10 09:00:00")
LATE = T0 + 10 * W  # every window closed


def test_single_answered_contact_matures_when_its_window_closes() -> None:
    contacts = {"c1": proj(T0, a="a1")}
    before = derive(contacts, T0 + W - 1, W)
    assert before == {
        "c1": ContactFcr("support", T0, "a1", repeat=False, eligible=False, resolved=False, closes_ms=T0 + W)
    }
    at = derive(contacts, T0 + W, W)  # now == offered + W: closed
    assert at == {"c1": ContactFcr("support", T0, "a1", repeat=False, eligible=True, resolved=True, closes_ms=T0 + W)}


def test_repeat_inside_the_window() -> None:
    out = derive({"c1": proj(T0, a="a1"), "c2": proj(T0 + 5 * HOUR, a="a2", q="sales")}, LATE, W)
    assert out["c1"] == ContactFcr("support", T0, "a1", False, True, False, T0 + W)
    assert out["c2"] == ContactFcr("sales", T0 + 5 * HOUR, "a2", True, True, True, T0 + 5 * HOUR + W)


def test_window_edges_are_inclusive() -> None:
    # c2 offered exactly at c1 + W: inside (offered, offered + W] of c1 and [c2 - W, c2) of c2
    out = derive({"c1": proj(T0), "c2": proj(T0 + W)}, LATE, W)
    assert (out["c1"].repeat, out["c1"].eligible, out["c1"].resolved) == (False, True, False)
    assert (out["c2"].repeat, out["c2"].eligible, out["c2"].resolved) == (True, True, True)


def test_one_ms_outside_the_window_is_neither_repeat_nor_unresolving() -> None:
    out = derive({"c1": proj(T0), "c2": proj(T0 + W + 1)}, LATE, W)
    assert (out["c1"].repeat, out["c1"].resolved) == (False, True)
    assert (out["c2"].repeat, out["c2"].resolved) == (False, True)


def test_tie_in_offered_time_is_ordered_by_contact_id() -> None:
    out = derive({"c-b": proj(T0, a="a2"), "c-a": proj(T0, a="a1")}, LATE, W)
    assert (out["c-a"].repeat, out["c-a"].resolved) == (False, False)  # first: followed by c-b
    assert (out["c-b"].repeat, out["c-b"].resolved) == (True, True)  # second: a repeat of c-a


def test_a_chain_of_repeats() -> None:
    # 0 h, 20 h, 40 h: each within W of the previous one
    out = derive({"c1": proj(T0), "c2": proj(T0 + 20 * HOUR), "c3": proj(T0 + 40 * HOUR)}, LATE, W)
    assert [(out[c].repeat, out[c].resolved) for c in ("c1", "c2", "c3")] == [
        (False, False),
        (True, False),
        (True, True),
    ]


def test_not_answered_is_not_eligible_but_is_a_customer_contact() -> None:
    out = derive({"c1": proj(T0, a=None)}, LATE, W)
    assert out == {"c1": ContactFcr("support", T0, None, False, False, False, T0 + W)}


def test_window_not_yet_closed_is_not_eligible() -> None:
    out = derive({"c1": proj(T0), "c2": proj(T0 + 30 * HOUR)}, T0 + 30 * HOUR, W)
    assert (out["c1"].eligible, out["c1"].resolved) == (True, True)
    assert (out["c2"].eligible, out["c2"].resolved) == (False, False)  # closes at T0 + 54 h


def test_resolved_false_on_the_root() -> None:
    out = derive({"c1": proj(T0, r=False)}, LATE, W)
    assert (out["c1"].eligible, out["c1"].resolved) == (True, False)
    assert derive({"c1": proj(T0, r=True)}, LATE, W)["c1"].resolved is True


@pytest.mark.parametrize("deep_flag, expected", [(False, False), (True, True), (None, True)])
def test_resolved_false_on_a_leg_two_levels_deep(deep_flag: bool | None, expected: bool) -> None:
    contacts = {
        "root": proj(T0, a="a1", r=None),  # transferring agent's wrap-up carries no flag
        "leg1": proj(T0 + 5 * MIN, p="root", q="billing", a="a2", r=None),
        "leg2": proj(T0 + 9 * MIN, p="leg1", q="tech", a="a3", r=deep_flag),
    }
    out = derive(contacts, LATE, W)
    assert set(out) == {"root"}
    assert out["root"] == ContactFcr("support", T0, "a1", False, True, expected, T0 + W)


def test_leg_is_not_a_customer_contact_nor_a_repeat() -> None:
    contacts = {"root": proj(T0, a="a1"), "leg": proj(T0 + 2 * MIN, p="root", a="a2")}
    out = derive(contacts, LATE, W)
    assert out == {"root": ContactFcr("support", T0, "a1", False, True, True, T0 + W)}


def test_leg_of_another_root_does_not_unresolve_a_sibling_chain() -> None:
    contacts = {
        "c1": proj(T0, a="a1"),
        "c2": proj(T0 + 25 * HOUR, a="a2"),
        "leg2": proj(T0 + 25 * HOUR + MIN, p="c2", a="a3", r=False),
    }
    out = derive(contacts, LATE, W)
    assert (out["c1"].resolved, out["c2"].resolved) == (True, False)


def test_abandoned_later_contact_still_unresolves_the_earlier_one() -> None:
    out = derive({"c1": proj(T0, a="a1"), "c2": proj(T0 + HOUR, a=None)}, LATE, W)
    assert (out["c1"].eligible, out["c1"].resolved) == (True, False)
    assert (out["c2"].repeat, out["c2"].eligible, out["c2"].resolved) == (True, False, False)


def test_derive_of_no_contacts() -> None:
    assert derive({}, LATE, W) == {}


# --- apply_projection ---------------------------------------------------------------------------


def test_apply_projection_adds_replaces_and_ignores_duplicates() -> None:
    p1 = proj(T0)
    first = apply_projection(None, "c1", p1)
    assert first == {"c1": p1}
    assert apply_projection(first, "c1", dict(p1)) is None  # an equal value is a duplicate
    p1b = proj(T0, r=False)
    second = apply_projection(first, "c1", p1b)
    assert second == {"c1": p1b}
    assert first == {"c1": p1}  # the input is never mutated
    third = apply_projection(second, "c2", proj(T0 + HOUR))
    assert third == {"c1": p1b, "c2": proj(T0 + HOUR)}


def test_apply_projection_removal() -> None:
    cur = {"c1": proj(T0), "c2": proj(T0 + HOUR)}
    assert apply_projection(cur, "c1", None) == {"c2": proj(T0 + HOUR)}
    assert set(cur) == {"c1", "c2"}
    assert apply_projection(cur, "c9", None) is None  # removing an unknown contact: duplicate
    assert apply_projection(None, "c9", None) is None
    assert apply_projection({"c1": proj(T0)}, "c1", None) == {}  # the last one: empty, not None


# --- FcrAggregator ------------------------------------------------------------------------------

# 2024-03-10 09:47:13 Shanghai = 01:47:13Z -> interval 09:30 local = 01:30Z
I_0930 = UTC_2024_03_10 + 90 * MIN
assert I_0930 == 1_710_034_200_000
I_1130 = UTC_2024_03_10 + 3 * HOUR + 30 * MIN  # 11:30 local = 03:30Z
I_1230 = UTC_2024_03_10 + 4 * HOUR + 30 * MIN  # 12:30 local = 04:30Z
I_2330 = UTC_2024_03_10 + 15 * HOUR + 30 * MIN  # 2024-03-10 23:30 local = 15:30Z
I_0000_NEXT = UTC_2024_03_10 + 16 * HOUR  # 2024-03-11 00:00 local = 2024-03-10 16:00Z


def fcr_counts(cc: int, rep: int, elig: int, res: int) -> Counts:
    return Counts(customer_contacts=cc, repeat_contacts=rep, fcr_eligible=elig, fcr_resolved=res)


def new_agg(window_ms: int = W) -> FcrAggregator:
    return FcrAggregator(TZ, 30, window_ms)


def test_interval_attribution_in_local_time() -> None:
    agg = new_agg()
    c1 = local_ms("2024-03-10 09:47:13")
    assert c1 == UTC_2024_03_10 + HOUR + 47 * MIN + 13_000
    agg.update("X", {"c1": proj(c1, a="a1")}, c1 + W)
    assert agg.intervals == {("support", 1_710_034_200_000): fcr_counts(1, 0, 1, 1)}
    assert agg.agent_days == {("a1", "2024-03-10"): [1, 1]}
    assert agg.take_dirty() == ({("support", 1_710_034_200_000)}, {("a1", "2024-03-10")})
    assert agg.take_dirty() == (set(), set())


def test_agent_day_is_the_local_date_near_midnight() -> None:
    agg = new_agg()
    before = local_ms("2024-03-10 23:50:00")  # 15:50Z on the 10th
    after = local_ms("2024-03-11 00:10:00")  # 16:10Z, still the 10th in UTC
    assert (before, after) == (UTC_2024_03_10 + 15 * HOUR + 50 * MIN, UTC_2024_03_10 + 16 * HOUR + 10 * MIN)
    # two customers, so neither is a repeat of the other
    agg.update("X", {"c1": proj(before, a="a1")}, LATE)
    agg.update("Y", {"c2": proj(after, a="a1", r=False)}, LATE)
    assert agg.intervals == {
        ("support", I_2330): fcr_counts(1, 0, 1, 1),
        ("support", I_0000_NEXT): fcr_counts(1, 0, 1, 0),
    }
    assert agg.agent_days == {("a1", "2024-03-10"): [1, 1], ("a1", "2024-03-11"): [1, 0]}


def test_advance_matures_contacts_when_their_window_closes() -> None:
    agg = new_agg()
    c1 = local_ms("2024-03-10 09:47:13")
    c2 = c1 + 2 * HOUR  # 11:47:13 -> interval 11:30, a repeat of c1
    c3 = c1 + 3 * HOUR  # 12:47:13 -> interval 12:30, another customer
    store = {
        "X": {"c1": proj(c1, a="a1"), "c2": proj(c2, a="a2")},
        "Y": {"c3": proj(c3, a="a3", q="sales")},
    }
    now = c3 + MIN
    agg.update("X", store["X"], now)
    agg.update("Y", store["Y"], now)
    assert agg.intervals == {
        ("support", I_0930): fcr_counts(1, 0, 0, 0),
        ("support", I_1130): fcr_counts(1, 1, 0, 0),
        ("sales", I_1230): fcr_counts(1, 0, 0, 0),
    }
    assert agg.agent_days == {}
    agg.take_dirty()

    assert agg.advance(c1 + W - 1, store.get) == 0
    assert agg.take_dirty() == (set(), set())

    assert agg.advance(c1 + W, store.get) == 1  # X re-derived: c1 closed (unresolved: c2 followed)
    assert agg.intervals[("support", I_0930)] == fcr_counts(1, 0, 1, 0)
    assert agg.intervals[("support", I_1130)] == fcr_counts(1, 1, 0, 0)
    assert agg.agent_days == {("a1", "2024-03-10"): [1, 0]}
    assert agg.take_dirty() == ({("support", I_0930)}, {("a1", "2024-03-10")})

    # one advance past both remaining windows: X (c2) and Y (c3)
    assert agg.advance(c3 + W + 5 * MIN, store.get) == 2
    assert agg.intervals == {
        ("support", I_0930): fcr_counts(1, 0, 1, 0),
        ("support", I_1130): fcr_counts(1, 1, 1, 1),
        ("sales", I_1230): fcr_counts(1, 0, 1, 1),
    }
    assert agg.agent_days == {("a1", "2024-03-10"): [1, 0], ("a2", "2024-03-10"): [1, 1], ("a3", "2024-03-10"): [1, 1]}
    assert agg.take_dirty() == ({("support", I_1130), ("sales", I_1230)}, {("a2", "2024-03-10"), ("a3", "2024-03-10")})
    assert agg.advance(c3 + 10 * W, store.get) == 0  # nothing left to close


def test_unanswered_contact_never_schedules_a_closing() -> None:
    agg = new_agg()
    agg.update("X", {"c1": proj(T0, a=None)}, T0 + MIN)
    assert agg.closing == []
    agg.take_dirty()
    assert agg.advance(LATE, {"X": {"c1": proj(T0, a=None)}}.get) == 0
    assert agg.intervals == {("support", UTC_2024_03_10 + HOUR): fcr_counts(1, 0, 0, 0)}  # 09:00 local


def test_late_repeat_flips_an_earlier_resolved_contact() -> None:
    agg = new_agg()
    c1 = local_ms("2024-03-10 09:47:13")
    now = c1 + W + HOUR  # c1's window closed, c2's (c1 + 2 h + W) not yet
    contacts = apply_projection(None, "c1", proj(c1, a="a1"))
    agg.update("X", contacts, now)
    assert agg.intervals == {("support", I_0930): fcr_counts(1, 0, 1, 1)}
    assert agg.agent_days == {("a1", "2024-03-10"): [1, 1]}
    agg.take_dirty()

    # a contact offered 2 h after c1 arrives late (answered by a2; its own window still open)
    c2 = c1 + 2 * HOUR
    contacts = apply_projection(contacts, "c2", proj(c2, a="a2"))
    agg.update("X", contacts, now)
    assert agg.intervals == {
        ("support", I_0930): fcr_counts(1, 0, 1, 0),
        ("support", I_1130): fcr_counts(1, 1, 0, 0),
    }
    assert agg.agent_days == {("a1", "2024-03-10"): [1, 0]}
    # a2's day is untouched: c2 is not eligible yet
    assert agg.take_dirty() == ({("support", I_0930), ("support", I_1130)}, {("a1", "2024-03-10")})

    # re-applying the same contacts is a no-op
    agg.update("X", contacts, now)
    assert agg.take_dirty() == (set(), set())

    # c2's window closes: it is a resolved repeat, credited to a2
    assert agg.advance(c2 + W, {"X": contacts}.get) == 1
    assert agg.intervals == {
        ("support", I_0930): fcr_counts(1, 0, 1, 0),
        ("support", I_1130): fcr_counts(1, 1, 1, 1),
    }
    assert agg.agent_days == {("a1", "2024-03-10"): [1, 0], ("a2", "2024-03-10"): [1, 1]}
    assert agg.take_dirty() == ({("support", I_1130)}, {("a2", "2024-03-10")})


def test_removing_a_contact_from_a_customer() -> None:
    agg = new_agg()
    c1 = local_ms("2024-03-10 09:47:13")
    c2 = c1 + 2 * HOUR
    now = c2 + W
    contacts = {"c1": proj(c1, a="a1"), "c2": proj(c2, a="a2")}
    agg.update("X", contacts, now)
    assert agg.agent_days == {("a1", "2024-03-10"): [1, 0], ("a2", "2024-03-10"): [1, 1]}
    agg.take_dirty()

    contacts = apply_projection(contacts, "c2", None)  # c2 left this customer
    agg.update("X", contacts, now)
    assert agg.intervals == {("support", I_0930): fcr_counts(1, 0, 1, 1)}  # c1 resolved again
    assert agg.agent_days == {("a1", "2024-03-10"): [1, 1]}
    assert agg.take_dirty() == (
        {("support", I_0930), ("support", I_1130)},
        {("a1", "2024-03-10"), ("a2", "2024-03-10")},
    )
    assert set(agg.by_contact) == {"c1"}

    contacts = apply_projection(contacts, "c1", None)
    assert contacts == {}
    agg.update("X", contacts, now)
    assert (agg.intervals, agg.agent_days, agg.by_contact, agg.by_customer) == ({}, {}, {}, {})
    assert agg.take_dirty() == ({("support", I_0930)}, {("a1", "2024-03-10")})
    agg.update("X", None, now)  # a customer without contacts: nothing to do
    assert agg.take_dirty() == (set(), set())


def test_contact_moving_to_another_customer_in_send_order() -> None:
    # the contact worker sends the tombstone to the old customer before the new projection
    agg = new_agg()
    p = proj(T0, a="a1")
    a = apply_projection(None, "c1", p)
    agg.update("A", a, LATE)
    agg.update("A", apply_projection(a, "c1", None), LATE)
    agg.update("B", apply_projection(None, "c1", p), LATE)
    assert agg.intervals == {("support", UTC_2024_03_10 + HOUR): fcr_counts(1, 0, 1, 1)}
    assert agg.by_customer == {"B": {"c1"}}


def test_contact_moving_to_another_customer_in_reverse_order() -> None:
    agg = new_agg()
    p = proj(T0, a="a1")
    a = apply_projection(None, "c1", p)
    agg.update("A", a, LATE)
    agg.update("B", apply_projection(None, "c1", p), LATE)  # the new customer first
    agg.update("A", apply_projection(a, "c1", None), LATE)  # then the old one's tombstone
    # final table: B = {c1}, A = {} -> one customer contact, as derive(B) says
    assert agg.intervals == {("support", UTC_2024_03_10 + HOUR): fcr_counts(1, 0, 1, 1)}
    assert agg.agent_days == {("a1", "2024-03-10"): [1, 1]}


def test_expired_lists_contacts_offered_before_the_cutoff() -> None:
    agg = new_agg()
    customers = [
        ("X", {"c1": proj(T0), "c2": proj(T0 + 10 * HOUR), "leg": proj(T0 + MIN, p="c1")}),
        ("Y", {"c3": proj(T0 + 3 * HOUR)}),
        ("Z", None),
        ("V", {}),
    ]
    assert agg.expired(customers, T0) == {}  # offered == cutoff is kept
    assert agg.expired(customers, T0 + 3 * HOUR) == {"X": ["c1", "leg"]}
    assert agg.expired(customers, T0 + 3 * HOUR + 1) == {"X": ["c1", "leg"], "Y": ["c3"]}
    assert agg.expired(customers, LATE) == {"X": ["c1", "c2", "leg"], "Y": ["c3"]}


# --- property: any order, any duplicates -> the same partials as derive on the final contacts --

CUSTOMERS = ("X", "Y", "Z")
OFFSETS = [
    0,
    1,
    30 * MIN,
    2 * HOUR,
    10 * HOUR,
    15 * HOUR + 13 * MIN,
    20 * HOUR,
    2 * HOUR + 1,
    -1,
    4 * HOUR + 59 * MIN + 59_999,
]
PW = 5 * HOUR  # a small window so edges and closings happen inside the generated spans
BASE = local_ms("2024-03-10 21:00:00")  # spans the local midnight


@st.composite
def projection_record(draw: st.DrawFn) -> tuple[str, str, dict | None]:
    cu = draw(st.sampled_from(CUSTOMERS))
    idx = draw(st.integers(0, 4))
    cid = f"{cu}-{idx}"  # a contact belongs to one customer only
    if draw(st.integers(0, 5)) == 0:
        return cu, cid, None
    parent = draw(st.one_of(st.none(), st.integers(0, 4).filter(lambda j: j != idx)))
    offered = BASE + draw(st.one_of(st.sampled_from(OFFSETS), st.integers(0, 30 * HOUR)))
    return (
        cu,
        cid,
        {
            "o": offered,
            "q": draw(st.sampled_from(["support", "sales"])),
            "p": None if parent is None else f"{cu}-{parent}",
            "a": draw(st.sampled_from([None, "a1", "a2"])),
            "r": draw(st.sampled_from([None, True, False])),
        },
    )


def reference(final: dict[str, dict[str, dict]], now_ms: int, window_ms: int = PW) -> tuple[dict, dict]:
    """FCR figures per interval and agent-day straight from ``derive`` over every customer."""
    intervals: dict[tuple[str, int], Counts] = {}
    agent_days: dict[tuple[str, str], list[int]] = {}
    for contacts in final.values():
        for fcr in derive(contacts, now_ms, window_ms).values():
            key = (fcr.queue, interval_start_ms(fcr.offered_ms, TZ, 30))
            c = intervals.setdefault(key, Counts())
            c.customer_contacts += 1
            c.repeat_contacts += fcr.repeat
            c.fcr_eligible += fcr.eligible
            c.fcr_resolved += fcr.resolved
            if fcr.eligible:
                row = agent_days.setdefault((fcr.agent, local_date(fcr.offered_ms, TZ).isoformat()), [0, 0])
                row[0] += 1
                row[1] += fcr.resolved
    return intervals, agent_days


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_order_and_duplicates_give_the_partials_of_the_final_contacts(data: st.DataObject) -> None:
    records = data.draw(st.lists(projection_record(), min_size=1, max_size=20))
    dups = data.draw(st.lists(st.sampled_from(records), max_size=10))
    sequence = data.draw(st.permutations(records + dups))
    steps = data.draw(st.lists(st.integers(0, 3 * HOUR), min_size=len(sequence), max_size=len(sequence)))
    advances = data.draw(st.lists(st.booleans(), min_size=len(sequence), max_size=len(sequence)))

    agg = FcrAggregator(TZ, 30, PW)
    table: dict[str, dict[str, dict]] = {}
    now = BASE
    for (cu, cid, value), step, adv in zip(sequence, steps, advances, strict=True):
        now += step
        new = apply_projection(table.get(cu), cid, value)
        if new is not None:
            if new:
                table[cu] = new
            else:
                table.pop(cu)
            agg.update(cu, new, now)
        if adv:
            agg.advance(now, table.get)
    final_now = now + data.draw(st.integers(0, 2 * PW))
    agg.advance(final_now, table.get)

    intervals, agent_days = reference(table, final_now)
    assert agg.intervals == intervals
    assert agg.agent_days == agent_days
    # and the same as an aggregator rebuilt from the final table (a restart)
    rebuilt = FcrAggregator(TZ, 30, PW)
    for cu, contacts in table.items():
        rebuilt.update(cu, contacts, final_now)
    assert (rebuilt.intervals, rebuilt.agent_days) == (agg.intervals, agg.agent_days)
