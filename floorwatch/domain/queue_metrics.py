"""Queue metrics: one definition per figure (docs/metrics.md quotes them).

A contact is described by its *facts* (a plain dict, see ``floorwatch.domain.contacts``). Its
``Contribution`` is a pure function of those facts; ``Counts`` are sums of contributions and
can be added across partitions, intervals and workers; ``stats`` turns counts into the STATS
object of the REST API (docs/api.md). All times are integer milliseconds, so sums are exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

WAITING, ANSWERED, ABANDONED, OVERFLOWED = "waiting", "answered", "abandoned", "overflowed"

SL_FORMULAS = (
    "answered_over_offered",
    "answered_over_answered_and_late_abandons",
    "answered_and_abandoned_within_over_offered",
    "answered_over_answered",
)


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or ``None`` when the denominator is zero (never 0 or 1)."""
    if denominator == 0:
        return None
    return numerator / denominator


@dataclass(frozen=True, slots=True)
class QueueRules:
    """The per-queue settings a contact is measured with (captured when it is first seen)."""

    sl_threshold_ms: int = 20_000
    short_abandon_ms: int = 5_000
    sl_target: float = 0.8
    sl_formula: str = "answered_over_offered"

    def as_dict(self) -> dict[str, Any]:
        return {
            "sl_threshold_s": self.sl_threshold_ms / 1000,
            "short_abandon_s": self.short_abandon_ms / 1000,
            "sl_target": self.sl_target,
            "sl_formula": self.sl_formula,
        }

    @classmethod
    def from_seconds(
        cls, sl_threshold_s: float, short_abandon_s: float, sl_target: float, sl_formula: str
    ) -> QueueRules:
        return cls(round(sl_threshold_s * 1000), round(short_abandon_s * 1000), sl_target, sl_formula)


@dataclass(frozen=True, slots=True)
class Contribution:
    """What one offered contact adds to its interval's counts."""

    offered_ms: int
    outcome: str
    wait_ms: int = 0  # outcome time - offered time; 0 while waiting
    within_sl: bool = False  # answered, wait <= T
    short_abandon: bool = False  # abandoned, wait < short_abandon
    abandoned_within_sl: bool = False  # abandoned, wait <= T
    handled: bool = False  # answered and ended (or transferred)
    talk_ms: int = 0
    hold_ms: int = 0
    wrap_ms: int = 0
    transferred: bool = False  # handled, and the conversation ended by a transfer
    survey_score: int | None = None  # the contact's survey (CSAT), 1..5, whatever its outcome


SATISFIED_MIN_SCORE = 4  # CSAT: a score of 4 or 5 is "satisfied"


@dataclass(slots=True)
class Counts:
    """Summable counters of an interval (or of any set of contacts)."""

    offered: int = 0
    waiting: int = 0
    answered: int = 0
    answered_within_sl: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    abandoned_within_sl: int = 0
    overflowed: int = 0
    handled: int = 0
    transferred: int = 0  # handled contacts whose conversation ended by a transfer
    wait_answered_ms: int = 0
    wait_abandoned_ms: int = 0  # long (not short) abandons only
    talk_ms: int = 0
    hold_ms: int = 0
    wrap_ms: int = 0
    max_wait_ms: int | None = None  # among contacts with an outcome
    surveys: int = 0  # contacts with a survey (CSAT)
    score_sum: int = 0  # sum of their scores
    satisfied: int = 0  # surveys scoring 4 or 5
    # first contact resolution (floorwatch.domain.fcr), attributed to the offered interval
    customer_contacts: int = 0  # contacts with a customer that are not transfer legs
    repeat_contacts: int = 0  # of those, the ones whose customer had one in the previous window
    fcr_eligible: int = 0  # answered, window closed
    fcr_resolved: int = 0  # of those, resolved at first contact

    def add(self, c: Contribution, sign: int = 1) -> None:
        """Add (``sign=1``) or remove (``sign=-1``) one contribution; ``max_wait_ms`` only grows."""
        self.offered += sign
        if c.survey_score is not None:
            self.surveys += sign
            self.score_sum += sign * c.survey_score
            self.satisfied += sign * (c.survey_score >= SATISFIED_MIN_SCORE)
        if c.outcome == WAITING:
            self.waiting += sign
            return
        if sign > 0 and (self.max_wait_ms is None or c.wait_ms > self.max_wait_ms):
            self.max_wait_ms = c.wait_ms
        if c.outcome == ANSWERED:
            self.answered += sign
            self.answered_within_sl += sign * c.within_sl
            self.wait_answered_ms += sign * c.wait_ms
            if c.handled:
                self.handled += sign
                self.talk_ms += sign * c.talk_ms
                self.hold_ms += sign * c.hold_ms
                self.wrap_ms += sign * c.wrap_ms
                self.transferred += sign * c.transferred
        elif c.outcome == ABANDONED:
            self.abandoned += sign
            self.short_abandoned += sign * c.short_abandon
            self.abandoned_within_sl += sign * c.abandoned_within_sl
            if not c.short_abandon:
                self.wait_abandoned_ms += sign * c.wait_ms
        else:
            self.overflowed += sign

    def merge(self, other: Counts) -> None:
        """Add another set of counts (e.g. another partition's partial)."""
        for f in fields(self):
            if f.name == "max_wait_ms":
                continue
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        if other.max_wait_ms is not None and (self.max_wait_ms is None or other.max_wait_ms > self.max_wait_ms):
            self.max_wait_ms = other.max_wait_ms

    def as_dict(self) -> dict[str, Any]:
        # every field is an int or None: no deep copy is needed (asdict took 18.5 us, this 1.3 us)
        return {name: getattr(self, name) for name in _COUNTS_FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Counts:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def total(cls, parts: Iterable[Counts]) -> Counts:
        """``merge`` of many counts at once: one ``sum`` per field, nothing allocated per part
        (summing 128,000 interval partials per scrape stays cheap and GC-quiet)."""
        items = parts if isinstance(parts, list) else list(parts)
        total = cls(**{name: sum(map(get, items)) for name, get in _SUM_GETTERS})
        waits = [w for w in map(_MAX_WAIT, items) if w is not None]
        total.max_wait_ms = max(waits) if waits else None
        return total

    @classmethod
    def of(cls, contributions: Any) -> Counts:
        total = cls()
        for c in contributions:
            total.add(c)
        return total


_COUNTS_FIELDS = tuple(f.name for f in fields(Counts))


_SUM_GETTERS = tuple((f.name, attrgetter(f.name)) for f in fields(Counts) if f.name != "max_wait_ms")
_MAX_WAIT = attrgetter("max_wait_ms")


def service_level(counts: Counts, formula: str) -> float | None:
    """Service level by one of the four formulas of docs/metrics.md."""
    a, a_t = counts.answered, counts.answered_within_sl
    b, s, b_t, f = counts.abandoned, counts.short_abandoned, counts.abandoned_within_sl, counts.overflowed
    n = a + (b - s) + f
    if formula == "answered_over_offered":
        return ratio(a_t, n)
    if formula == "answered_over_answered_and_late_abandons":
        return ratio(a_t, a + b - b_t)
    if formula == "answered_and_abandoned_within_over_offered":
        return ratio(a_t + b_t - s, n)
    if formula == "answered_over_answered":
        return ratio(a_t, a)
    raise ValueError(f"unknown service level formula {formula!r}")


def with_outcome(counts: Counts) -> int:
    """N = A + (B - S) + F: contacts with an outcome, short abandons removed."""
    return counts.answered + (counts.abandoned - counts.short_abandoned) + counts.overflowed


def _seconds(ms: float | None) -> float | None:
    return None if ms is None else ms / 1000


def aht_s(counts: Counts) -> float | None:
    """Average handle time: (talk + hold + wrap) / handled, seconds; ``None`` when none handled."""
    return _seconds(ratio(counts.talk_ms + counts.hold_ms + counts.wrap_ms, counts.handled))


def stats(counts: Counts, formula: str) -> dict[str, Any]:
    """The STATS object of the REST API plus CSAT and FCR (ratios 0..1, times in seconds, ``None`` for 0/0)."""
    n = with_outcome(counts)
    long_abandons = counts.abandoned - counts.short_abandoned
    return {
        "offered": counts.offered,
        "answered": counts.answered,
        "answered_within_sl": counts.answered_within_sl,
        "abandoned": counts.abandoned,
        "short_abandoned": counts.short_abandoned,
        "overflowed": counts.overflowed,
        "service_level": service_level(counts, formula),
        "abandon_rate": ratio(long_abandons, n),
        "answer_rate": ratio(counts.answered, n),
        "asa_s": _seconds(ratio(counts.wait_answered_ms, counts.answered)),
        "aht_s": aht_s(counts),
        "avg_abandon_s": _seconds(ratio(counts.wait_abandoned_ms, long_abandons)),
        "max_wait_s": _seconds(counts.max_wait_ms),
        "handled": counts.handled,
        "transferred": counts.transferred,
        "transfer_rate": ratio(counts.transferred, counts.handled),
        "surveys": counts.surveys,
        "csat_avg": ratio(counts.score_sum, counts.surveys),
        "csat_satisfied": ratio(counts.satisfied, counts.surveys),
        "fcr_eligible": counts.fcr_eligible,
        "fcr_resolved": counts.fcr_resolved,
        "fcr": ratio(counts.fcr_resolved, counts.fcr_eligible),
        "customer_contacts": counts.customer_contacts,
        "repeat_contacts": counts.repeat_contacts,
        "repeat_rate": ratio(counts.repeat_contacts, counts.customer_contacts),
    }


def occupancy(handle: float, available: float) -> float | None:
    """Occupancy: handle / (handle + available), where handle = time in ``on_contact`` and
    ``wrap_up`` and available = time in ``available`` (any one unit; docs/metrics.md section 10);
    ``None`` when both are 0."""
    return ratio(handle, handle + available)
