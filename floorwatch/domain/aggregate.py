"""In-memory queue aggregates derived from contact facts (one instance per source partition).

The aggregates are never persisted: after a restart or a rebalance they are rebuilt from the
contact facts, so they always equal a pure function of the facts.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from floorwatch.domain.contacts import Facts, contribution
from floorwatch.domain.intervals import IntervalStarts, local_date
from floorwatch.domain.queue_metrics import SATISFIED_MIN_SCORE, WAITING, Contribution, Counts

BucketKey = tuple[str, int]  # (queue, interval or minute start ms)
MINUTE_MS = 60_000
SECOND_MS = 1_000
INDEXED_MINUTES_PER_QUEUE = 4  # per-second indexes kept: the start edges of two windows, twice over


def _minute(ts_ms: int) -> int:
    return ts_ms - ts_ms % MINUTE_MS


@dataclass(slots=True)
class Bucket:
    counts: Counts = field(default_factory=Counts)
    members: dict[str, Contribution] = field(default_factory=dict)
    rules: list | None = None  # [T_ms, short_ms, target, formula] of the first contact
    mixed_rules: bool = False
    # minute buckets only: an upper bound of the members' offer times, and an index of them
    # per offered second (built when a rolling window's edge cuts the minute; dropped on change)
    latest_offered_ms: int = 0
    seconds: dict[int, tuple[Counts, list[Contribution]]] | None = None

    def offered_between(self, total: Counts, lo_ms: int, hi_ms: int) -> bool:
        """Add the members offered in ``(lo_ms, hi_ms]`` to ``total``: whole seconds from the
        per-second index, members scanned only in the (at most two) seconds the bounds cut;
        returns whether the index had to be built."""
        built = self.seconds is None
        if built:
            self.seconds = {}
            for c in self.members.values():
                second = self.seconds.get(start := c.offered_ms - c.offered_ms % SECOND_MS)
                if second is None:
                    second = self.seconds[start] = (Counts(), [])
                second[0].add(c)
                second[1].append(c)
        for start, (counts, members) in self.seconds.items():
            if start > lo_ms and start + SECOND_MS - 1 <= hi_ms:
                total.merge(counts)
            elif start + SECOND_MS - 1 > lo_ms and start <= hi_ms:
                for c in members:
                    if lo_ms < c.offered_ms <= hi_ms:
                        total.add(c)
        return built

    def recompute_max(self) -> None:
        waits = [c.wait_ms for c in self.members.values() if c.outcome != WAITING]
        self.counts.max_wait_ms = max(waits) if waits else None


class QueueAggregator:
    """Interval partials, waiting contacts and rolling windows for one partition's contacts."""

    def __init__(self, tz: ZoneInfo, interval_minutes: int) -> None:
        self.tz = tz
        self.interval_of = IntervalStarts(tz, interval_minutes)
        self.buckets: dict[BucketKey, Bucket] = {}
        self.by_contact: dict[str, BucketKey] = {}
        self.waiting: dict[str, dict[str, int]] = {}  # queue -> contact -> offered ms
        self.minutes: dict[BucketKey, Bucket] = {}  # (queue, offered minute start) -> contacts
        self.dirty_buckets: set[BucketKey] = set()
        self.dirty_queues: set[str] = set()
        # CSAT per agent: (agent, local date of the offer) -> [surveys, score_sum, satisfied]
        self.agent_surveys: dict[tuple[str, str], list[int]] = {}
        self.survey_of: dict[str, tuple[str, str, int]] = {}  # contact -> (agent, date, score)
        self.dirty_agent_days: set[tuple[str, str]] = set()
        # per queue, minute buckets with a per-second index, oldest first (bounds their memory)
        self.indexed: dict[str, deque[Bucket]] = {}

    def update(self, contact_id: str, facts: Facts) -> None:
        """Re-derive the contact's contribution from its facts (idempotent)."""
        new = contribution(facts)
        if new is None:
            return
        survey = facts.get("s")
        if survey is not None or contact_id in self.survey_of:  # most contacts never have one
            self._set_survey(contact_id, None if survey is None else
                             (survey[3], local_date(new.offered_ms, self.tz).isoformat(), int(survey[2])))
        key: BucketKey = (facts["q"], self.interval_of(new.offered_ms))
        old_key = self.by_contact.get(contact_id)
        if old_key is not None:
            old_bucket = self.buckets[old_key]
            old = old_bucket.members.get(contact_id)
            if old == new and old_key == key:
                return
            self._remove(contact_id, old_key)
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket(rules=list(facts["r"]))
        elif bucket.rules != list(facts["r"]):
            bucket.mixed_rules = True
        bucket.members[contact_id] = new
        bucket.counts.add(new)
        minute = self.minutes.get((key[0], _minute(new.offered_ms)))
        if minute is None:
            minute = self.minutes[(key[0], _minute(new.offered_ms))] = Bucket()
        minute.members[contact_id] = new
        minute.counts.add(new)
        minute.seconds = None
        if new.offered_ms > minute.latest_offered_ms:
            minute.latest_offered_ms = new.offered_ms
        self.by_contact[contact_id] = key
        queue_waiting = self.waiting.setdefault(key[0], {})
        if new.outcome == WAITING:
            queue_waiting[contact_id] = new.offered_ms
        else:
            queue_waiting.pop(contact_id, None)
        self.dirty_buckets.add(key)
        self.dirty_queues.add(key[0])

    def _remove(self, contact_id: str, key: BucketKey) -> None:
        bucket = self.buckets[key]
        old = bucket.members.pop(contact_id)
        bucket.counts.add(old, -1)
        if old.outcome != WAITING and old.wait_ms == bucket.counts.max_wait_ms:
            bucket.recompute_max()
        self.waiting.get(key[0], {}).pop(contact_id, None)
        del self.by_contact[contact_id]
        if not bucket.members:  # an interval with no contacts is not kept (nor its rules)
            del self.buckets[key]
        minute_key = (key[0], _minute(old.offered_ms))
        minute = self.minutes[minute_key]
        del minute.members[contact_id]
        minute.counts.add(old, -1)
        minute.seconds = None
        if old.outcome != WAITING and old.wait_ms == minute.counts.max_wait_ms:
            minute.recompute_max()
        if not minute.members:
            del self.minutes[minute_key]
        self.dirty_buckets.add(key)
        self.dirty_queues.add(key[0])

    def forget(self, contact_id: str) -> None:
        """Drop a contact (retention); its interval keeps no trace of it."""
        key = self.by_contact.get(contact_id)
        if key is not None:
            self._remove(contact_id, key)
        if contact_id in self.survey_of:
            self._set_survey(contact_id, None)

    def _set_survey(self, contact_id: str, survey: tuple[str, str, int] | None) -> None:
        """The contact's survey as (surveying agent, offered date, score), counted per agent-day."""
        old = self.survey_of.get(contact_id)
        if old == survey:
            return
        for entry, sign in ((old, -1), (survey, 1)):
            if entry is None:
                continue
            agent, day, score = entry
            row = self.agent_surveys.setdefault((agent, day), [0, 0, 0])
            row[0] += sign
            row[1] += sign * score
            row[2] += sign * (score >= SATISFIED_MIN_SCORE)
            if row[0] == 0:
                del self.agent_surveys[(agent, day)]
            self.dirty_agent_days.add((agent, day))
        if survey is None:
            del self.survey_of[contact_id]
        else:
            self.survey_of[contact_id] = survey

    def take_dirty_agent_days(self) -> set[tuple[str, str]]:
        days, self.dirty_agent_days = self.dirty_agent_days, set()
        return days

    def queues(self) -> set[str]:
        return {q for q, _ in self.buckets} | set(self.waiting)

    def oldest_waiting_ms(self, queue: str) -> int | None:
        waiting = self.waiting.get(queue)
        return min(waiting.values()) if waiting else None

    def rolling(self, queue: str, now_ms: int, window_ms: int) -> Counts:
        """Counts of the queue's contacts offered in ``(now - window, now]``.

        Whole minutes inside the window add their kept counts, and so does the current minute
        when none of its contacts was offered after ``now``; a minute cut by the window's
        start adds its members per offered second (``Bucket.offered_between``), so the cost
        grows with neither traffic nor the window.
        """
        lo = now_ms - window_ms
        total = Counts()
        for start in range(_minute(lo), _minute(now_ms) + MINUTE_MS, MINUTE_MS):
            minute = self.minutes.get((queue, start))
            if minute is None:
                continue
            if start > lo and (start + MINUTE_MS - 1 <= now_ms or minute.latest_offered_ms <= now_ms):
                total.merge(minute.counts)
            elif minute.offered_between(total, lo, now_ms):
                indexed = self.indexed.setdefault(queue, deque())
                if not any(b is minute for b in indexed):  # a rebuilt index must not evict another
                    indexed.append(minute)
                    if len(indexed) > INDEXED_MINUTES_PER_QUEUE:
                        indexed.popleft().seconds = None
        return total

    def take_dirty(self) -> tuple[set[BucketKey], set[str]]:
        buckets, queues = self.dirty_buckets, self.dirty_queues
        self.dirty_buckets, self.dirty_queues = set(), set()
        return buckets, queues
