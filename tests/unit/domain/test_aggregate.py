"""QueueAggregator: interval partials, waiting contacts, rolling windows — and the worked
example of docs/metrics.md, computed end to end from events."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from floorwatch.domain.aggregate import INDEXED_MINUTES_PER_QUEUE, QueueAggregator
from floorwatch.domain.contacts import apply_event, contribution
from floorwatch.domain.intervals import day_interval_starts, local_date
from floorwatch.domain.queue_metrics import SL_FORMULAS, Counts, QueueRules, stats
from floorwatch.events import parse_event, to_ms
from tests.unit.contact_fields import CONTACT_FIELDS, NO_QUALITY_STATS

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")
RULES = QueueRules(20_000, 5_000, 0.8, "answered_over_offered")
MIN = 60_000

_FIELDS = CONTACT_FIELDS


def local_ms(text: str, tz: ZoneInfo = SHANGHAI) -> int:
    """'2024-05-01 09:02:20' local wall time -> epoch ms."""
    return to_ms(datetime.fromisoformat(text).replace(tzinfo=tz))


class Floor:
    """Feeds validated events through contact facts into one QueueAggregator."""

    def __init__(self, tz: ZoneInfo = SHANGHAI, minutes: int = 30, rules: QueueRules = RULES) -> None:
        self.tz = tz
        self.agg = QueueAggregator(tz, minutes)
        self.facts: dict[str, dict] = {}
        self.rules = rules
        self.n = 0

    def send(self, kind: str, contact: str, at: str, **fields: Any) -> None:
        """``at`` is local wall time 'YYYY-MM-DD HH:MM:SS[.fff]' in the floor's zone."""
        self.n += 1
        ts = datetime.fromisoformat(at).replace(tzinfo=self.tz).isoformat()
        e = parse_event(
            {
                "type": kind,
                "event_id": f"{contact}-{kind}-{self.n}",
                "ts": ts,
                "contact_id": contact,
                **_FIELDS[kind],
                **fields,
            }
        )
        new = apply_event(
            self.facts.get(contact),
            e.model_dump(),
            e.ts_ms,
            lambda q: self.rules,
            customer_key=b"unit-test-customer-key",
        )
        if new is not None:
            self.agg.update(contact, self.facts.get(contact), new)
            self.facts[contact] = new

    def forget(self, contact: str) -> None:
        """Retention: the contact leaves the table, the aggregator is given its last facts."""
        self.agg.forget(contact, self.facts.pop(contact, None))

    def bucket_counts(self, at: str, queue: str = "support") -> Counts:
        return self.agg.buckets[(queue, local_ms(at, self.tz))].counts


# --- the worked example of docs/metrics.md ---------------------------------------------------

DAY = "2024-05-01 "


def worked_example() -> Floor:
    """Queue support, T = 20 s, short abandon = 5 s, Asia/Shanghai, 30-minute intervals.

    All ten contacts are offered in the 09:00-09:30 interval.
    """
    f = Floor()
    d = DAY
    # C01: wait 5 s, talk 300 s, no hold, wrap 30 s
    f.send("contact.offered", "C01", d + "09:00:00")
    f.send("contact.answered", "C01", d + "09:00:05")
    f.send("contact.ended", "C01", d + "09:05:05")
    f.send("contact.wrapup_ended", "C01", d + "09:05:35")
    # C02: wait exactly 20 s (= T, within), hold 60 s, talk 240 - 60 = 180 s, wrap 60 s
    f.send("contact.offered", "C02", d + "09:02:00")
    f.send("contact.answered", "C02", d + "09:02:20")
    f.send("contact.hold_started", "C02", d + "09:03:20")
    f.send("contact.hold_ended", "C02", d + "09:04:20")
    f.send("contact.ended", "C02", d + "09:06:20")
    f.send("contact.wrapup_ended", "C02", d + "09:07:20")
    # C03: wait 35 s (late), holds 30 s + 20 s = 50 s, talk 400 - 50 = 350 s, no wrap-up -> 0
    f.send("contact.offered", "C03", d + "09:05:00")
    f.send("contact.answered", "C03", d + "09:05:35")
    f.send("contact.hold_started", "C03", d + "09:06:00")
    f.send("contact.hold_ended", "C03", d + "09:06:30")
    f.send("contact.hold_started", "C03", d + "09:08:00")
    f.send("contact.hold_ended", "C03", d + "09:08:20")
    f.send("contact.ended", "C03", d + "09:12:15")
    # C04: wait 12 s (within), still talking -> answered, not handled
    f.send("contact.offered", "C04", d + "09:08:00")
    f.send("contact.answered", "C04", d + "09:08:12")
    # C05: abandoned after 3 s -> short abandon
    f.send("contact.offered", "C05", d + "09:10:00")
    f.send("contact.abandoned", "C05", d + "09:10:03")
    # C06: abandoned after exactly 5 s -> NOT short (5 < 5 is false), within T
    f.send("contact.offered", "C06", d + "09:12:00")
    f.send("contact.abandoned", "C06", d + "09:12:05")
    # C07: abandoned after 50 s
    f.send("contact.offered", "C07", d + "09:15:00")
    f.send("contact.abandoned", "C07", d + "09:15:50")
    # C08: overflowed after 90 s
    f.send("contact.offered", "C08", d + "09:20:00")
    f.send("contact.overflowed", "C08", d + "09:21:30")
    # C09: still waiting
    f.send("contact.offered", "C09", d + "09:25:00")
    # C10: offered 09:29:50, answered 09:30:05 (next interval; wait 15 s, within),
    #      transferred 09:32:05 (talk 120 s), wrap-up ended 09:32:25 (wrap 20 s)
    f.send("contact.offered", "C10", d + "09:29:50")
    f.send("contact.answered", "C10", d + "09:30:05")
    f.send("contact.transferred", "C10", d + "09:32:05")
    f.send("contact.wrapup_ended", "C10", d + "09:32:25")
    # the transfer target: a new contact in queue billing, not part of support's figures
    f.send("contact.offered", "C11", d + "09:32:05", queue="billing", parent_contact_id="C10")
    f.send("contact.answered", "C11", d + "09:32:45", queue="billing", agent_id="a2")
    return f


WORKED_NOW = local_ms(DAY + "09:35:00")


def test_worked_example_interval_stats() -> None:
    f = worked_example()
    c = f.bucket_counts(DAY + "09:00:00")
    assert c == Counts(
        offered=10,
        waiting=1,
        answered=5,
        answered_within_sl=4,
        abandoned=3,
        short_abandoned=1,
        abandoned_within_sl=2,
        overflowed=1,
        handled=4,
        transferred=1,  # C10: its transfer ended the conversation
        wait_answered_ms=87_000,  # 5 + 20 + 35 + 12 + 15
        wait_abandoned_ms=55_000,  # 5 + 50 (the 3 s short abandon excluded)
        talk_ms=950_000,  # 300 + 180 + 350 + 120
        hold_ms=110_000,  # 0 + 60 + 50 + 0
        wrap_ms=110_000,  # 30 + 60 + 0 + 20
        max_wait_ms=90_000,  # C08's overflow
    )
    # N = A + (B - S) + F = 5 + (3 - 1) + 1 = 8
    assert stats(c, "answered_over_offered") == {
        "offered": 10,
        "answered": 5,
        "answered_within_sl": 4,
        "abandoned": 3,
        "short_abandoned": 1,
        "overflowed": 1,
        "service_level": 0.5,  # A_T / N = 4 / 8
        "abandon_rate": 0.25,  # (B - S) / N = 2 / 8
        "answer_rate": 0.625,  # A / N = 5 / 8
        "asa_s": 17.4,  # 87 / 5
        "aht_s": 292.5,  # (950 + 110 + 110) / 4 = 1170 / 4
        "avg_abandon_s": 27.5,  # 55 / 2
        "max_wait_s": 90.0,
        "handled": 4,
        "transferred": 1,
        "transfer_rate": 0.25,  # 1 / 4
        **NO_QUALITY_STATS,
    }


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("answered_over_offered", 4 / 8),
        ("answered_over_answered_and_late_abandons", 4 / 6),  # A + B - B_T = 5 + 3 - 2
        ("answered_and_abandoned_within_over_offered", 5 / 8),  # (4 + 2 - 1) / 8
        ("answered_over_answered", 4 / 5),
    ],
)
def test_worked_example_service_level_formulas(formula: str, expected: float) -> None:
    c = worked_example().bucket_counts(DAY + "09:00:00")
    assert stats(c, formula)["service_level"] == pytest.approx(expected)


def test_worked_example_live_and_windows() -> None:
    f = worked_example()
    agg = f.agg
    # only C09 still waits; offered 09:25:00, now 09:35:00 -> longest wait 600 s
    assert set(agg.waiting["support"]) == {"C09"}
    assert agg.oldest_waiting_ms("support") == local_ms(DAY + "09:25:00")
    assert (WORKED_NOW - agg.oldest_waiting_ms("support")) / 1000 == 600.0
    # nothing of support lands in the 09:30 interval (C10 belongs to 09:00, where it was offered)
    assert ("support", local_ms(DAY + "09:30:00")) not in agg.buckets
    current = stats(Counts(), "answered_over_offered")  # the current interval 09:30-10:00 is empty
    assert current["offered"] == 0 and current["service_level"] is None and current["max_wait_s"] is None
    # the transfer target is billing's own contact, in billing's 09:30 interval
    billing = f.bucket_counts(DAY + "09:30:00", queue="billing")
    assert (billing.offered, billing.answered, billing.answered_within_sl) == (1, 1, 0)  # wait 40 s
    # rolling 15 min at 09:35:00 = offered in (09:20:00, 09:35:00]: C09, C10 (C08 at exactly
    # 09:20:00 is out). A = 1 (C10, within), waiting 1 -> N = 1, SL = 1 / 1
    r15 = stats(agg.rolling("support", WORKED_NOW, 15 * MIN), "answered_over_offered")
    assert (r15["offered"], r15["answered"], r15["overflowed"]) == (2, 1, 0)
    assert r15["service_level"] == 1.0
    assert r15["asa_s"] == 15.0
    assert r15["abandon_rate"] == 0.0
    # rolling 60 min = offered in (08:35, 09:35]: all ten
    assert agg.rolling("support", WORKED_NOW, 60 * MIN) == f.bucket_counts(DAY + "09:00:00")
    # today = sum of today's intervals of the queue = the one interval here
    today = Counts()
    for start in day_interval_starts(date(2024, 5, 1), SHANGHAI, 30):
        b = agg.buckets.get(("support", start))
        if b is not None:
            today.merge(b.counts)
    assert today == f.bucket_counts(DAY + "09:00:00")
    assert agg.queues() == {"support", "billing"}


# --- attribution ------------------------------------------------------------------------------


def test_answered_in_next_interval_stays_in_offered_interval() -> None:
    f = Floor()
    f.send("contact.offered", "c", DAY + "10:29:59")
    f.send("contact.answered", "c", DAY + "10:30:09")  # wait 10 s
    assert list(f.agg.buckets) == [("support", local_ms(DAY + "10:00:00"))]
    c = f.bucket_counts(DAY + "10:00:00")
    assert (c.offered, c.answered, c.answered_within_sl, c.wait_answered_ms) == (1, 1, 1, 10_000)


@pytest.mark.parametrize(("tz", "minutes"), [(SHANGHAI, 30), (NEW_YORK, 30), (SHANGHAI, 15), (NEW_YORK, 60)])
def test_offer_at_2359_local_is_in_last_interval_of_that_day(tz: ZoneInfo, minutes: int) -> None:
    f = Floor(tz, minutes)
    f.send("contact.offered", "c", "2024-05-01 23:59:00")
    f.send("contact.answered", "c", "2024-05-02 00:00:30")  # answered next local day, wait 90 s
    (key,) = f.agg.buckets
    starts = day_interval_starts(date(2024, 5, 1), tz, minutes)
    assert key == ("support", starts[-1])
    assert key[1] == local_ms("2024-05-02 00:00:00", tz) - minutes * MIN
    assert local_date(key[1], tz) == date(2024, 5, 1)
    assert f.agg.buckets[key].counts.answered == 1


# --- idempotence and moving outcomes ----------------------------------------------------------


def test_update_is_idempotent() -> None:
    f = Floor()
    f.send("contact.offered", "c", DAY + "09:00:00")
    f.send("contact.answered", "c", DAY + "09:00:07")
    before = f.bucket_counts(DAY + "09:00:00").as_dict()
    f.agg.take_dirty()
    for _ in range(3):
        f.agg.update("c", f.facts["c"], f.facts["c"])
    assert f.bucket_counts(DAY + "09:00:00").as_dict() == before
    assert before["offered"] == 1 and before["answered"] == 1
    assert f.agg.take_dirty() == (set(), set())  # nothing changed, nothing to publish


def test_facts_without_offer_are_not_counted_yet() -> None:
    f = Floor()
    f.send("contact.answered", "c", DAY + "09:00:07")
    f.send("contact.ended", "c", DAY + "09:03:07")
    assert f.agg.buckets == {} and f.agg.minutes == {} and f.agg.waiting == {}
    f.send("contact.offered", "c", DAY + "09:00:00")
    c = f.bucket_counts(DAY + "09:00:00")
    # counted once, as answered (wait 7 s) and handled (talk 180 s)
    assert (c.offered, c.answered, c.handled, c.talk_ms, c.waiting) == (1, 1, 1, 180_000, 0)


def test_outcome_moves_update_counts() -> None:
    f = Floor()
    key_at = DAY + "09:00:00"
    f.send("contact.offered", "c", DAY + "09:00:00")
    c = f.bucket_counts(key_at)
    assert (c.offered, c.waiting, c.answered, c.abandoned) == (1, 1, 0, 0)
    assert f.agg.waiting["support"] == {"c": local_ms(key_at)}
    # answered at 30 s -> not within
    f.send("contact.answered", "c", DAY + "09:00:30")
    c = f.bucket_counts(key_at)
    assert (c.offered, c.waiting, c.answered, c.answered_within_sl, c.max_wait_ms) == (1, 0, 1, 0, 30_000)
    assert f.agg.waiting["support"] == {}
    # a late-arriving abandon stamped 09:00:04 is earlier: the contact is a short abandon now
    f.send("contact.abandoned", "c", DAY + "09:00:04")
    c = f.bucket_counts(key_at)
    assert c == Counts(offered=1, abandoned=1, short_abandoned=1, abandoned_within_sl=1, max_wait_ms=4_000)


def test_max_wait_recomputed_after_removal() -> None:
    f = Floor()
    f.send("contact.offered", "long", DAY + "09:00:00")
    f.send("contact.overflowed", "long", DAY + "09:01:30")  # 90 s
    f.send("contact.offered", "mid", DAY + "09:01:00")
    f.send("contact.answered", "mid", DAY + "09:01:30")  # 30 s
    f.send("contact.offered", "open", DAY + "09:02:00")  # waiting: never counts for max wait
    assert f.bucket_counts(DAY + "09:00:00").max_wait_ms == 90_000
    # an earlier answer of "long" (at 10 s) arrives: its wait drops to 10 s; max is now "mid" 30 s
    f.send("contact.answered", "long", DAY + "09:00:10")
    assert f.bucket_counts(DAY + "09:00:00").max_wait_ms == 30_000
    f.forget("mid")
    assert f.bucket_counts(DAY + "09:00:00").max_wait_ms == 10_000
    f.forget("long")
    # only the waiting one is left: no contact with an outcome -> None
    assert f.bucket_counts(DAY + "09:00:00").max_wait_ms is None
    assert f.bucket_counts(DAY + "09:00:00").offered == 1


def test_forget_removes_every_trace() -> None:
    f = Floor()
    f.send("contact.offered", "a", DAY + "09:00:00")
    f.send("contact.offered", "b", DAY + "09:40:00")
    f.agg.take_dirty()
    a_facts = f.facts["a"]
    f.forget("a")
    assert ("support", local_ms(DAY + "09:00:00")) not in f.agg.buckets
    assert ("support", local_ms(DAY + "09:00:00")) not in f.agg.minutes and "a" not in f.agg.waiting["support"]
    assert f.agg.take_dirty() == ({("support", local_ms(DAY + "09:00:00"))}, {"support"})
    f.forget("a")  # forgetting twice is harmless
    f.forget("never-seen")
    assert f.agg.take_dirty() == (set(), set())
    assert f.agg.oldest_waiting_ms("support") == local_ms(DAY + "09:40:00")
    # re-delivering the contact's facts counts it again, once
    f.agg.update("a", None, a_facts)
    assert f.bucket_counts(DAY + "09:00:00").offered == 1


def test_earlier_offer_in_another_interval_moves_the_contact_and_drops_the_empty_bucket() -> None:
    f = Floor()
    f.send("contact.offered", "c", DAY + "09:31:00")
    f.send("contact.answered", "c", DAY + "09:31:10")
    assert list(f.agg.buckets) == [("support", local_ms(DAY + "09:30:00"))]
    f.agg.take_dirty()
    # an earlier offer of the same contact (other event id) arrives late: 09:29:00
    f.send("contact.offered", "c", DAY + "09:29:00")
    assert list(f.agg.buckets) == [("support", local_ms(DAY + "09:00:00"))]
    c = f.bucket_counts(DAY + "09:00:00")
    assert (c.offered, c.answered, c.wait_answered_ms, c.answered_within_sl) == (1, 1, 130_000, 0)
    # both intervals must be republished (the 09:30 one as deleted)
    buckets, _ = f.agg.take_dirty()
    assert buckets == {("support", local_ms(DAY + "09:00:00")), ("support", local_ms(DAY + "09:30:00"))}


def test_bucket_keeps_the_rules_it_was_computed_with() -> None:
    f = Floor(rules=QueueRules(20_000, 5_000, 0.8, "answered_over_offered"))
    f.send("contact.offered", "a", DAY + "09:00:00")
    b = f.agg.buckets[("support", local_ms(DAY + "09:00:00"))]
    assert b.rules == (20_000, 5_000, 0.8, "answered_over_offered") and not b.mixed_rules
    # every bucket of the same rules holds the same tuple
    f.send("contact.offered", "z", DAY + "10:00:00")
    assert f.agg.buckets[("support", local_ms(DAY + "10:00:00"))].rules is b.rules
    # config changes mid-interval: the next contact is measured with the new rules
    f.rules = QueueRules(10_000, 3_000, 0.9, "answered_over_answered")
    f.send("contact.offered", "b", DAY + "09:10:00")
    f.send("contact.answered", "b", DAY + "09:10:15")  # 15 s > new T = 10 s
    f.send("contact.answered", "a", DAY + "09:00:15")  # 15 s <= a's T = 20 s
    assert b.rules == (20_000, 5_000, 0.8, "answered_over_offered") and b.mixed_rules
    assert b.counts.answered == 2 and b.counts.answered_within_sl == 1


# --- live figures and rolling windows ----------------------------------------------------------


def test_oldest_waiting() -> None:
    f = Floor()
    assert f.agg.oldest_waiting_ms("support") is None
    f.send("contact.offered", "x", DAY + "09:10:00")
    f.send("contact.offered", "y", DAY + "09:05:00")
    f.send("contact.offered", "z", DAY + "08:55:00", queue="billing")
    assert f.agg.oldest_waiting_ms("support") == local_ms(DAY + "09:05:00")
    f.send("contact.answered", "y", DAY + "09:11:00")
    assert f.agg.oldest_waiting_ms("support") == local_ms(DAY + "09:10:00")
    f.send("contact.abandoned", "x", DAY + "09:12:00")
    assert f.agg.oldest_waiting_ms("support") is None
    assert f.agg.oldest_waiting_ms("billing") == local_ms(DAY + "08:55:00")


def rolling_floor() -> Floor:
    """Contacts offered at hand-placed times around now = 10:00:00.

    09:00:00 ans 5 s | 09:00:00.001 ans 25 s | 09:44:59.999 abandoned 10 s | 09:45:00 overflow 60 s
    09:45:00.001 ans 8 s | 09:59:59 waiting | 10:00:00 abandoned 2 s (short) | 10:00:00.001 waiting
    """
    f = Floor()
    f.send("contact.offered", "r1", DAY + "09:00:00")
    f.send("contact.answered", "r1", DAY + "09:00:05")
    f.send("contact.offered", "r2", DAY + "09:00:00.001")
    f.send("contact.answered", "r2", DAY + "09:00:25.001")
    f.send("contact.offered", "r3", DAY + "09:44:59.999")
    f.send("contact.abandoned", "r3", DAY + "09:45:09.999")
    f.send("contact.offered", "r4", DAY + "09:45:00")
    f.send("contact.overflowed", "r4", DAY + "09:46:00")
    f.send("contact.offered", "r5", DAY + "09:45:00.001")
    f.send("contact.answered", "r5", DAY + "09:45:08.001")
    f.send("contact.offered", "r6", DAY + "09:59:59")
    f.send("contact.offered", "r7", DAY + "10:00:00")
    f.send("contact.abandoned", "r7", DAY + "10:00:02")
    f.send("contact.offered", "r8", DAY + "10:00:00.001")
    return f


def test_rolling_15_minutes_boundaries() -> None:
    f = rolling_floor()
    now = local_ms(DAY + "10:00:00")
    # (09:45:00, 10:00:00]: r5, r6, r7. r4 at exactly 09:45:00 is out, r8 is in the future
    r = f.agg.rolling("support", now, 15 * MIN)
    assert r == Counts(
        offered=3,
        waiting=1,
        answered=1,
        answered_within_sl=1,
        abandoned=1,
        short_abandoned=1,
        abandoned_within_sl=1,
        wait_answered_ms=8_000,
        max_wait_ms=8_000,
    )
    s = stats(r, "answered_over_offered")
    # N = 1 + (1 - 1) + 0 = 1 -> SL 1/1, abandon rate 0/1
    assert (s["service_level"], s["abandon_rate"], s["avg_abandon_s"]) == (1.0, 0.0, None)


def test_rolling_60_minutes_boundaries() -> None:
    f = rolling_floor()
    now = local_ms(DAY + "10:00:00")
    # (09:00:00, 10:00:00]: r2..r7 (r1 at exactly 09:00:00 is out, r8 is after now)
    r = f.agg.rolling("support", now, 60 * MIN)
    assert (r.offered, r.answered, r.answered_within_sl, r.abandoned, r.short_abandoned, r.overflowed, r.waiting) == (
        6,
        2,
        1,
        2,
        1,
        1,
        1,
    )
    assert r.wait_answered_ms == 25_000 + 8_000
    assert r.wait_abandoned_ms == 10_000  # r3; r7 is short
    assert r.max_wait_ms == 60_000
    # one ms later r8 (10:00:00.001) enters and r2 (09:00:00.001) leaves
    r2 = f.agg.rolling("support", now + 1, 60 * MIN)
    assert (r2.offered, r2.answered, r2.waiting) == (6, 1, 2)


def test_rolling_spans_intervals_and_ignores_other_queues() -> None:
    f = rolling_floor()
    f.send("contact.offered", "other", DAY + "09:50:00", queue="billing")
    now = local_ms(DAY + "10:00:00")
    # 15 min window crosses the 09:30 and 10:00 intervals; billing never counts in support
    assert f.agg.rolling("support", now, 15 * MIN).offered == 3
    assert f.agg.rolling("billing", now, 15 * MIN).offered == 1
    assert f.agg.rolling("nobody", now, 15 * MIN) == Counts()


def brute_rolling(f: Floor, queue: str, now: int, window_ms: int) -> Counts:
    """The window recounted from every contact's facts, one by one."""
    total = Counts()
    for facts in f.facts.values():
        c = contribution(facts)
        if facts["q"] == queue and c is not None and now - window_ms < c.offered_ms <= now:
            total.add(c)
    return total


@pytest.mark.parametrize("seed", range(4))
def test_rolling_equals_a_recount_while_contacts_change(seed: int) -> None:
    """Windows whose edges cut minutes and seconds, asked between changes to the contacts
    they cut (the per-second index and the current minute's shortcut must follow)."""
    rng = random.Random(seed)
    f = Floor()
    base = datetime.fromisoformat(DAY + "09:58:00")

    def at(ms: int) -> str:
        return (base + timedelta(milliseconds=ms)).isoformat(sep=" ", timespec="milliseconds")

    offered: dict[str, int] = {}
    for step in range(400):
        cid = f"c{rng.randrange(120)}"
        if cid not in offered:
            offered[cid] = t = rng.choice([rng.randrange(180_000), rng.randrange(3) * 1000 + 60_000])
            f.send("contact.offered", cid, at(t), queue=rng.choice(["support", "support", "billing"]))
        elif rng.random() < 0.5:
            kind = rng.choice(["contact.answered", "contact.abandoned"])
            f.send(kind, cid, at(offered[cid] + rng.randrange(1, 40_000)))
        if step % 5 == 0:
            at_random = local_ms(at(rng.randrange(200_000)))
            on_an_offer = local_ms(at(rng.randrange(3) * 1000 + 60_000))  # whole seconds, shared
            for now, window_ms in (
                (at_random, rng.randrange(1, 150_000)),
                (at_random, 61_000),
                (at_random, 15 * MIN),
                (on_an_offer + 61_000, 61_000),
                (on_an_offer, 61_000),
            ):
                for queue in ("support", "billing"):
                    assert f.agg.rolling(queue, now, window_ms) == brute_rolling(f, queue, now, window_ms), (
                        step,
                        now,
                        window_ms,
                        queue,
                    )


def test_rolling_keeps_few_per_second_indexes_as_the_windows_slide() -> None:
    """Every minute is once a window's start edge; its per-second index must not outlive that."""
    f = Floor()
    base = datetime.fromisoformat(DAY + "08:00:00")
    for i in range(6 * 90):  # a contact every 10 s for 90 minutes, offered at :03.5 past
        f.send("contact.offered", f"s{i}", (base + timedelta(seconds=10 * i + 3.5)).isoformat(sep=" "))
    for step in range(0, 90 * 60, 25):
        now = local_ms((base + timedelta(seconds=step)).isoformat(sep=" "))
        for window_ms in (15 * MIN, 60 * MIN):
            assert f.agg.rolling("support", now, window_ms) == brute_rolling(f, "support", now, window_ms)
        indexed = [m for m in f.agg.minutes.values() if m.seconds is not None]
        assert len(indexed) <= INDEXED_MINUTES_PER_QUEUE, (step, len(indexed))


def test_every_formula_is_defined_for_the_rolling_window() -> None:
    f = rolling_floor()
    r = f.agg.rolling("support", local_ms(DAY + "10:00:00"), 60 * MIN)
    # A=2 A_T=1 B=2 S=1 B_T=2 (r3 10 s, r7 2 s) F=1; N = 2 + 1 + 1 = 4
    expected = {
        "answered_over_offered": 1 / 4,
        "answered_over_answered_and_late_abandons": 1 / 2,  # 1 / (2 + 2 - 2)
        "answered_and_abandoned_within_over_offered": 2 / 4,  # (1 + 2 - 1) / 4
        "answered_over_answered": 1 / 2,
    }
    for formula in SL_FORMULAS:
        assert stats(r, formula)["service_level"] == pytest.approx(expected[formula])


def test_take_dirty_reports_and_resets() -> None:
    f = Floor()
    f.send("contact.offered", "c", DAY + "09:00:00")
    f.send("contact.offered", "d", DAY + "09:31:00", queue="billing")
    assert f.agg.take_dirty() == (
        {("support", local_ms(DAY + "09:00:00")), ("billing", local_ms(DAY + "09:30:00"))},
        {"support", "billing"},
    )
    assert f.agg.take_dirty() == (set(), set())


def test_local_ms_helper_is_wall_time_in_the_zone() -> None:
    # 09:00 Shanghai = 01:00 UTC; 23:59 New York (EDT) = 03:59 UTC next day
    assert local_ms(DAY + "09:00:00") == to_ms(datetime(2024, 5, 2, 1, 0, tzinfo=ZoneInfo("UTC")) - timedelta(days=1))
    assert local_ms("2024-05-01 23:59:00", NEW_YORK) == to_ms(datetime(2024, 5, 2, 3, 59, tzinfo=ZoneInfo("UTC")))


# --- CSAT: a survey updates the offered interval of its contact --------------------------------


def test_survey_lands_in_the_offered_interval_in_any_order() -> None:
    f = Floor()
    d = DAY
    f.send("contact.offered", "S1", d + "09:29:50")  # offered in 09:00, answered and surveyed later
    f.send("contact.answered", "S1", d + "09:30:05")
    f.send("contact.ended", "S1", d + "09:35:00")
    f.send("contact.offered", "S2", d + "09:31:00")
    f.send("contact.abandoned", "S2", d + "09:31:40")
    # S3: the survey arrives before its offer (reordered), score 2
    f.send("survey.completed", "S3", d + "10:10:00", score=2)
    f.send("survey.completed", "S1", d + "09:40:00", score=5)
    f.send("survey.completed", "S2", d + "09:45:00", score=4)
    first = f.bucket_counts(d + "09:00:00")
    assert (first.surveys, first.score_sum, first.satisfied) == (1, 5, 1)
    second = f.bucket_counts(d + "09:30:00")
    assert (second.surveys, second.score_sum, second.satisfied) == (1, 4, 1)
    f.send("contact.offered", "S3", d + "09:50:00")
    f.send("contact.answered", "S3", d + "09:50:10")
    second = f.bucket_counts(d + "09:30:00")
    assert (second.surveys, second.score_sum, second.satisfied) == (2, 6, 1)
    st = stats(second, "answered_over_offered")
    assert st["csat_avg"] == 3.0 and st["csat_satisfied"] == 0.5
    # re-deriving from the same facts (a re-delivery) changes nothing
    before = Counts.from_dict(second.as_dict())
    f.agg.update("S3", f.facts["S3"], f.facts["S3"])
    assert f.bucket_counts(d + "09:30:00") == before


# --- CSAT per agent-day: the surveyed agent, the local date of the contact's offer -------------


def test_csat_agent_day_is_the_offered_local_date() -> None:
    f = Floor()
    # offered 23:50 local on May 1st (15:50Z), surveyed after midnight: counts on May 1st
    f.send("contact.offered", "N1", "2024-05-01 23:50:00")
    f.send("contact.answered", "N1", "2024-05-01 23:50:10")
    f.send("contact.ended", "N1", "2024-05-01 23:58:00")
    f.send("survey.completed", "N1", "2024-05-02 00:05:00", score=5, agent_id="a1")
    # offered 00:10 local on May 2nd (16:10Z on May 1st in UTC): counts on May 2nd
    f.send("contact.offered", "N2", "2024-05-02 00:10:00")
    f.send("survey.completed", "N2", "2024-05-02 00:30:00", score=3, agent_id="a1")
    assert f.agg.agent_surveys == {("a1", "2024-05-01"): [1, 5, 1], ("a1", "2024-05-02"): [1, 3, 0]}
    assert f.agg.take_dirty_agent_days() == {("a1", "2024-05-01"), ("a1", "2024-05-02")}
    assert f.agg.take_dirty_agent_days() == set()
    # a third survey of a1 on May 1st: score 4 is satisfied
    f.send("contact.offered", "N3", "2024-05-01 08:00:00")
    f.send("survey.completed", "N3", "2024-05-01 08:20:00", score=4, agent_id="a1")
    assert f.agg.agent_surveys[("a1", "2024-05-01")] == [2, 9, 2]
    assert f.agg.take_dirty_agent_days() == {("a1", "2024-05-01")}


def test_csat_agent_day_earliest_survey_wins_and_moves_the_count() -> None:
    f = Floor()
    f.send("contact.offered", "M1", "2024-05-01 23:50:00")
    f.send("contact.answered", "M1", "2024-05-01 23:50:05", agent_id="a1")
    f.send("survey.completed", "M1", "2024-05-02 00:10:00", score=5, agent_id="a1")
    assert f.agg.agent_surveys == {("a1", "2024-05-01"): [1, 5, 1]}
    f.agg.take_dirty_agent_days()
    # a later survey event of the same contact changes nothing (earliest wins)
    f.send("survey.completed", "M1", "2024-05-02 00:20:00", score=1, agent_id="a3")
    assert f.agg.agent_surveys == {("a1", "2024-05-01"): [1, 5, 1]}
    assert f.agg.take_dirty_agent_days() == set()
    # an earlier one (arriving late) wins: the count moves to a2, with its score
    f.send("survey.completed", "M1", "2024-05-02 00:05:00", score=2, agent_id="a2")
    assert f.facts["M1"]["s"][2:] == [2, "a2"]
    assert f.agg.agent_surveys == {("a2", "2024-05-01"): [1, 2, 0]}
    assert f.agg.take_dirty_agent_days() == {("a1", "2024-05-01"), ("a2", "2024-05-01")}
    # re-deriving the same facts (a re-delivery) marks nothing dirty
    f.agg.update("M1", f.facts["M1"], f.facts["M1"])
    assert f.agg.take_dirty_agent_days() == set()


def test_csat_agent_day_waits_for_the_offer_and_follows_an_earlier_offer() -> None:
    f = Floor()
    f.send("survey.completed", "L1", "2024-05-02 01:00:00", score=4, agent_id="a1")  # before its offer
    assert f.agg.agent_surveys == {} and f.agg.take_dirty_agent_days() == set()
    f.send("contact.offered", "L1", "2024-05-02 00:10:00")
    assert f.agg.agent_surveys == {("a1", "2024-05-02"): [1, 4, 1]}
    f.agg.take_dirty_agent_days()
    # an earlier offer of the same contact (previous local day) wins: the survey moves day
    f.send("contact.offered", "L1", "2024-05-01 23:55:00")
    assert f.agg.agent_surveys == {("a1", "2024-05-01"): [1, 4, 1]}
    assert f.agg.take_dirty_agent_days() == {("a1", "2024-05-01"), ("a1", "2024-05-02")}


def test_forget_removes_the_survey_from_its_agent_day() -> None:
    f = Floor()
    f.send("contact.offered", "F1", "2024-05-01 10:00:00")
    f.send("survey.completed", "F1", "2024-05-01 10:20:00", score=5, agent_id="a1")
    f.send("contact.offered", "F2", "2024-05-01 11:00:00")
    f.send("survey.completed", "F2", "2024-05-01 11:20:00", score=2, agent_id="a1")
    assert f.agg.agent_surveys == {("a1", "2024-05-01"): [2, 7, 1]}
    f.agg.take_dirty_agent_days()
    f.forget("F1")
    assert f.agg.agent_surveys == {("a1", "2024-05-01"): [1, 2, 0]}
    assert f.agg.take_dirty_agent_days() == {("a1", "2024-05-01")}
    f.forget("F2")
    assert f.agg.agent_surveys == {}
    assert f.agg.take_dirty_agent_days() == {("a1", "2024-05-01")}
    f.forget("F2")  # twice, or a contact never seen: nothing
    f.forget("nobody")
    assert f.agg.take_dirty_agent_days() == set()
