"""Property-based tests (hypothesis) of the metric core.

1. Any order and any duplication of the events gives the same facts and the same Counts.
2. offered = answered + abandoned + overflowed + waiting in every bucket after every event.
3. Counts of a union = merge of the Counts of its parts.
Plus: the aggregates equal an independent recomputation from the generated lifecycles.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings, strategies as st

from floorwatch.domain.aggregate import QueueAggregator
from floorwatch.domain.contacts import apply_event, contribution
from floorwatch.domain.intervals import interval_start_ms
from floorwatch.domain.queue_metrics import (
    ABANDONED,
    ANSWERED,
    OVERFLOWED,
    WAITING,
    Contribution,
    Counts,
    QueueRules,
)
from floorwatch.events import from_ms, parse_event, to_ms

PROFILE = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

RULES = QueueRules(20_000, 5_000, 0.8, "answered_over_offered")
MIN = 60_000
# an ordinary day in Shanghai and the Berlin fall-back night (02:00-03:00 twice)
BASES = [
    (ZoneInfo("Asia/Shanghai"), to_ms(datetime.fromisoformat("2024-05-01T08:00:00+08:00"))),
    (ZoneInfo("Europe/Berlin"), to_ms(datetime.fromisoformat("2024-10-27T01:00:00+02:00"))),
    (ZoneInfo("Asia/Kathmandu"), to_ms(datetime.fromisoformat("2024-05-01T23:00:00+05:45"))),
]
EDGE_WAITS = [0, 1, 4_999, 5_000, 5_001, 19_999, 20_000, 20_001]
waits = st.one_of(st.sampled_from(EDGE_WAITS), st.integers(0, 300_000))


@dataclass
class Life:
    """One generated contact: its events and the hand-rules oracle inputs."""

    cid: str
    queue: str
    offers: list[int]
    answered: int | None = None
    abandoned: int | None = None
    overflowed: int | None = None
    holds: list[int] = field(default_factory=list)  # start, end, start, end, ... (maybe open)
    ended: int | None = None
    transferred: int | None = None
    wrapup: int | None = None
    events: list[tuple[dict[str, Any], int]] = field(default_factory=list)


def _event(kind: str, eid: str, ts_ms: int, cid: str, **fields: Any) -> tuple[dict[str, Any], int]:
    e = parse_event({"type": kind, "event_id": eid, "ts": from_ms(ts_ms).isoformat(), "contact_id": cid, **fields})
    assert e.ts_ms == ts_ms
    return e.model_dump(), e.ts_ms


@st.composite
def lives(draw: st.DrawFn, base: int) -> list[Life]:
    n = draw(st.integers(1, 6))
    result = []
    for i in range(n):
        cid = f"c{i}"
        queue = draw(st.sampled_from(["q1", "q2"]))
        off = base + draw(st.integers(0, 150 * MIN))
        offers = [off]
        if draw(st.integers(0, 4)) == 0:  # a second offer event for the same contact
            offers.append(off + draw(st.integers(-10 * MIN, 10 * MIN)))
        first = min(offers)
        life = Life(cid, queue, offers)
        if draw(st.booleans()):
            life.answered = first + draw(waits)
        if draw(st.integers(0, 2)) == 0:
            life.abandoned = first + draw(waits)
        if draw(st.integers(0, 3)) == 0:
            life.overflowed = first + draw(waits)
        if life.answered is not None:
            t = life.answered
            for _ in range(draw(st.integers(0, 4))):  # 0..4 edges: 2 = one hold, 3 = one + open
                t += draw(st.integers(1, 90_000))
                life.holds.append(t)
            if draw(st.integers(0, 3)) > 0:
                life.ended = life.answered + draw(st.integers(0, 600_000))
            if draw(st.integers(0, 4)) == 0:
                life.transferred = life.answered + draw(st.integers(0, 600_000))
            if draw(st.booleans()):
                life.wrapup = life.answered + draw(st.integers(0, 900_000))
        ev = life.events
        for k, ts in enumerate(offers):
            ev.append(_event("contact.offered", f"{cid}-o{k}", ts, cid, queue=queue, channel="voice"))
        if life.answered is not None:
            ev.append(_event("contact.answered", f"{cid}-a", life.answered, cid, queue=queue, agent_id="ag"))
        if life.abandoned is not None:
            ev.append(_event("contact.abandoned", f"{cid}-b", life.abandoned, cid, queue=queue))
        if life.overflowed is not None:
            ev.append(_event("contact.overflowed", f"{cid}-f", life.overflowed, cid, queue=queue, reason="no_agents"))
        for k, ts in enumerate(life.holds):
            kind = "contact.hold_started" if k % 2 == 0 else "contact.hold_ended"
            ev.append(_event(kind, f"{cid}-h{k}", ts, cid, agent_id="ag"))
        if life.ended is not None:
            ev.append(_event("contact.ended", f"{cid}-e", life.ended, cid, agent_id="ag"))
        if life.transferred is not None:
            ev.append(_event("contact.transferred", f"{cid}-x", life.transferred, cid, agent_id="ag", to_queue="q2"))
        if life.wrapup is not None:
            ev.append(_event("contact.wrapup_ended", f"{cid}-w", life.wrapup, cid, agent_id="ag"))
        result.append(life)
    return result


@st.composite
def scenario(draw: st.DrawFn) -> tuple[ZoneInfo, int, int, list[Life], list, list]:
    tz, base = draw(st.sampled_from(BASES))
    minutes = draw(st.sampled_from([15, 30, 60]))
    generated = draw(lives(base))
    in_order = [(life.cid, e) for life in generated for e in life.events]
    dups = draw(st.lists(st.sampled_from(in_order), max_size=len(in_order)))
    shuffled = draw(st.permutations(in_order + dups))
    return tz, minutes, base, generated, in_order, shuffled


class Replay:
    def __init__(self, tz: ZoneInfo, minutes: int) -> None:
        self.agg = QueueAggregator(tz, minutes)
        self.facts: dict[str, dict] = {}

    def feed(self, cid: str, event: tuple[dict[str, Any], int]) -> None:
        new = apply_event(
            self.facts.get(cid), event[0], event[1], lambda q: RULES, customer_key=b"unit-test-customer-key"
        )
        if new is not None:
            self.agg.update(cid, self.facts.get(cid), new)
            self.facts[cid] = new

    def counts(self) -> dict:
        return {k: b.counts.as_dict() for k, b in self.agg.buckets.items()}


def check_buckets(agg: QueueAggregator, facts: dict[str, dict]) -> None:
    """Counts are consistent; the buckets and each one's max wait are those of the facts."""
    waits_of: dict[tuple[str, int], list[int]] = {}
    for f in facts.values():
        c = contribution(f)
        if c is not None:
            start = interval_start_ms(c.offered_ms, agg.tz, agg.interval_of.interval_minutes)
            waits_of.setdefault((f["q"], start), []).extend([c.wait_ms] if c.outcome != WAITING else [])
    assert set(agg.buckets) == set(waits_of)
    for key, b in agg.buckets.items():
        c = b.counts
        assert c.offered == c.answered + c.abandoned + c.overflowed + c.waiting, key
        assert c.offered > 0
        assert 0 <= c.answered_within_sl <= c.answered
        assert 0 <= c.short_abandoned <= c.abandoned and 0 <= c.abandoned_within_sl <= c.abandoned
        assert 0 <= c.handled <= c.answered and c.waiting >= 0 and c.overflowed >= 0
        with_outcome = waits_of[key]
        assert c.max_wait_ms == (max(with_outcome) if with_outcome else None)
    for queue, waiting in agg.waiting.items():
        assert len(waiting) == sum(b.counts.waiting for (q, _), b in agg.buckets.items() if q == queue)


# --- (1) order and duplicates change nothing ---------------------------------------------------


@PROFILE
@given(scenario())
def test_any_order_and_duplicates_give_the_same_facts_and_counts(sc: Any) -> None:
    tz, minutes, base, _, in_order, shuffled = sc
    a, b = Replay(tz, minutes), Replay(tz, minutes)
    for cid, e in in_order:
        a.feed(cid, e)
    for cid, e in shuffled:
        b.feed(cid, e)
    assert a.facts == b.facts
    assert a.counts() == b.counts()
    assert {q: w for q, w in a.agg.waiting.items() if w} == {q: w for q, w in b.agg.waiting.items() if w}
    for now in (base + 30 * MIN, base + 75 * MIN + 1, base + 160 * MIN):
        for q in ("q1", "q2"):
            assert a.agg.rolling(q, now, 15 * MIN) == b.agg.rolling(q, now, 15 * MIN)
            assert a.agg.rolling(q, now, 60 * MIN) == b.agg.rolling(q, now, 60 * MIN)
            assert a.agg.oldest_waiting_ms(q) == b.agg.oldest_waiting_ms(q)
    # a restart rebuilds the aggregates from the facts alone: same numbers
    rebuilt = QueueAggregator(tz, minutes)
    for cid, facts in b.facts.items():
        rebuilt.update(cid, None, facts)
    assert {k: x.counts.as_dict() for k, x in rebuilt.buckets.items()} == b.counts()


# --- (2) conservation after every event -------------------------------------------------------


@PROFILE
@given(scenario())
def test_offered_is_answered_abandoned_overflowed_or_waiting_after_every_event(sc: Any) -> None:
    tz, minutes, _, _, _, shuffled = sc
    r = Replay(tz, minutes)
    for cid, e in shuffled:
        r.feed(cid, e)
        check_buckets(r.agg, r.facts)
    # and the aggregate is a pure function of the facts: per bucket, the sum of contributions
    expected: dict[tuple[str, int], Counts] = {}
    for facts in r.facts.values():
        c = contribution(facts)
        if c is not None:
            key = (facts["q"], interval_start_ms(c.offered_ms, tz, minutes))
            expected.setdefault(key, Counts()).add(c)
    assert {k: v.as_dict() for k, v in expected.items()} == r.counts()


# --- the aggregates equal an independent computation from the lifecycles ---------------------


def oracle(lives_: list[Life], tz: ZoneInfo, minutes: int) -> dict[tuple[str, int], Counts]:
    """The queue metric definitions computed straight from the generated timestamps (T = 20 s, short = 5 s)."""
    out: dict[tuple[str, int], Counts] = {}
    for life in lives_:
        off = min(life.offers)
        c = out.setdefault((life.queue, interval_start_ms(off, tz, minutes)), Counts())
        c.offered += 1
        outcomes = [
            (t, rank, name)
            for rank, (t, name) in enumerate(
                [(life.answered, ANSWERED), (life.abandoned, ABANDONED), (life.overflowed, OVERFLOWED)]
            )
            if t is not None
        ]
        if not outcomes:
            c.waiting += 1
            continue
        at, _, name = min(outcomes)
        wait = max(0, at - off)
        c.max_wait_ms = wait if c.max_wait_ms is None else max(c.max_wait_ms, wait)
        if name == ANSWERED:
            c.answered += 1
            c.answered_within_sl += wait <= 20_000
            c.wait_answered_ms += wait
            ends = [t for t in (life.ended, life.transferred) if t is not None]
            if ends and min(ends) >= at:
                end = min(ends)
                hold = 0
                for k in range(0, len(life.holds), 2):
                    start = life.holds[k]
                    stop = life.holds[k + 1] if k + 1 < len(life.holds) else end
                    hold += max(0, min(stop, end) - start)
                c.handled += 1
                c.hold_ms += hold
                c.talk_ms += max(0, end - at - hold)
                c.wrap_ms += max(0, life.wrapup - end) if life.wrapup is not None else 0
                # the end is the transfer: no ended before it (a tie ends by the transfer too)
                c.transferred += life.transferred is not None and (life.ended is None or life.ended >= life.transferred)
        elif name == ABANDONED:
            c.abandoned += 1
            short = wait < 5_000
            c.short_abandoned += short
            c.abandoned_within_sl += wait <= 20_000
            if not short:
                c.wait_abandoned_ms += wait
        else:
            c.overflowed += 1
    return out


@PROFILE
@given(scenario())
def test_aggregates_equal_hand_rules_oracle(sc: Any) -> None:
    tz, minutes, _, generated, _, shuffled = sc
    r = Replay(tz, minutes)
    for cid, e in shuffled:
        r.feed(cid, e)
    assert r.counts() == {k: v.as_dict() for k, v in oracle(generated, tz, minutes).items()}


# --- (3) Counts of a union = merge of Counts of parts ------------------------------------------


@st.composite
def contributions(draw: st.DrawFn) -> Contribution:
    kind = draw(st.sampled_from([WAITING, ANSWERED, ABANDONED, OVERFLOWED]))
    off = draw(st.integers(0, 10**12))
    if kind == WAITING:
        return Contribution(off, WAITING)
    wait = draw(waits)
    if kind == ANSWERED:
        if draw(st.booleans()):
            return Contribution(
                off,
                ANSWERED,
                wait,
                within_sl=wait <= 20_000,
                handled=True,
                talk_ms=draw(st.integers(0, 10**6)),
                hold_ms=draw(st.integers(0, 10**5)),
                wrap_ms=draw(st.integers(0, 10**5)),
                transferred=draw(st.booleans()),
            )
        return Contribution(off, ANSWERED, wait, within_sl=wait <= 20_000)
    if kind == ABANDONED:
        return Contribution(off, ABANDONED, wait, short_abandon=wait < 5_000, abandoned_within_sl=wait <= 20_000)
    return Contribution(off, OVERFLOWED, wait)


@PROFILE
@given(st.lists(contributions(), max_size=40), st.lists(st.integers(0, 40), max_size=5))
def test_counts_of_union_is_merge_of_parts(items: list[Contribution], cuts: list[int]) -> None:
    bounds = sorted({0, len(items), *(min(c, len(items)) for c in cuts)})
    parts = [items[lo:hi] for lo, hi in itertools.pairwise(bounds)]
    merged = Counts()
    for part in parts:
        merged.merge(Counts.of(part))
    assert merged == Counts.of(items)
    # merging in the other order, and through the wire format, gives the same
    back = Counts()
    for part in reversed(parts):
        back.merge(Counts.from_dict(Counts.of(part).as_dict()))
    assert back == Counts.of(items)
    # removing a part again (sign -1) restores every counter of the rest
    if parts:
        rest = Counts.of([c for p in parts[1:] for c in p])
        total = Counts.of(items)
        for c in parts[0]:
            total.add(c, -1)
        total.max_wait_ms = rest.max_wait_ms  # max only grows; the aggregator recomputes it
        assert total == rest
