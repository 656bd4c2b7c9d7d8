"""In-memory queue aggregates derived from contact facts (one instance per source partition).

The aggregates are never persisted: after a restart or a rebalance they are rebuilt from the
contact facts, so they always equal a pure function of the facts.

They keep nothing per retained contact. The caller passes a contact's facts before and after
each change (``update(contact_id, old_facts, new_facts)``), and the aggregator subtracts the old
facts' contribution and adds the new one; what used to be looked up per contact (its bucket, its
contribution, its survey's agent-day) is derived from the old facts again. What stays:

- per interval bucket: summable counts and a sorted array of the waits of its contacts with an
  outcome (8 bytes a contact), so ``max_wait_ms`` stays exact when a late event shortens a wait
  or retention forgets the longest;
- per minute bucket, only for the minutes a rolling window can still reach (``prune_minutes``):
  the members, for the per-second index of a window's start edge;
- the contacts still waiting, per queue;
- per agent, one row of 8 integers per offered interval (``AGENT_ROW_FIELDS``): the handled
  contacts the agent answered and the surveys naming it, in the contacts' offered intervals
  (``agent_rows``: one ``array('q')`` per agent, rows of ``[start, 8 figures]`` sorted by start,
  72 bytes a row; a row with nothing left is deleted, and an agent with no row). Rows of local
  dates before yesterday whose agent-days are published (not dirty) are packed into one
  compressed bytes value per date (``pack_cold``); a change to such a date unpacks it first. A
  rebuild stages its row changes and builds the rows once (``stage_rows``, ``finish_rows_steps``),
  its cold dates straight into that packed form.
"""

from __future__ import annotations

import itertools
import sys
import zlib
from array import array
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from floorwatch.domain.contacts import Facts, contribution
from floorwatch.domain.intervals import IntervalStarts, day_bounds_ms, local_date
from floorwatch.domain.queue_metrics import SATISFIED_MIN_SCORE, WAITING, Contribution, Counts

BucketKey = tuple[str, int]  # (queue, interval or minute start ms)
MINUTE_MS = 60_000
SECOND_MS = 1_000
INDEXED_MINUTES_PER_QUEUE = 4  # per-second indexes kept: the start edges of two windows, twice over
ROLLING_15M_MS = 15 * MINUTE_MS  # the published rolling windows (queue partials' rolling_15m, rolling_60m)
ROLLING_60M_MS = 60 * MINUTE_MS
LONGEST_ROLLING_WINDOW_MS = max(ROLLING_15M_MS, ROLLING_60M_MS)
# the worker's clock may step back (NTP) between the prune and a later window; a minute of slack
CLOCK_SKEW_MARGIN_MS = 60_000
DEFAULT_MAX_FUTURE_MS = 300_000  # ingest.max_future_s's default


def kept_minutes_span_ms(max_future_ms: int = DEFAULT_MAX_FUTURE_MS) -> int:
    """How far before ``now`` minute buckets are kept: the longest rolling window, plus the time
    an event may lie after now (ingest.max_future_s) and the clock skew margin."""
    return LONGEST_ROLLING_WINDOW_MS + max_future_ms + CLOCK_SKEW_MARGIN_MS


SHARED_RULES_MAX = 1_024  # distinct rule sets kept for sharing (a few per queue and config change)
_shared_rules: dict[tuple[Any, ...], tuple[Any, ...]] = {}


def shared_rules(rules: Iterable[Any]) -> tuple[Any, ...]:
    """One tuple per distinct rule set for every bucket that has it (a bucket's own list of
    four numbers cost ~200 bytes: ~25 % of an interval bucket). Past ``SHARED_RULES_MAX``
    distinct sets, a new one is not shared."""
    key = tuple(rules)
    held = _shared_rules.get(key)
    if held is not None:
        return held
    if len(_shared_rules) < SHARED_RULES_MAX:
        _shared_rules[key] = key
    return key


def _minute(ts_ms: int) -> int:
    return ts_ms - ts_ms % MINUTE_MS


@dataclass(slots=True)
class Bucket:
    """One (queue, interval): counts of its contacts and the sorted waits of those with an
    outcome. ``counts.offered`` is its number of contacts; an empty bucket is deleted."""

    counts: Counts = field(default_factory=Counts)
    # waits (ms) of the contacts with an outcome, ascending: the last is max_wait_ms. Inserting
    # or removing one moves the array's tail (a memmove of at most one interval's contacts of one
    # queue and partition, ~8 KB at 1,000 contacts: well under a microsecond), found in O(log n).
    waits: array[int] = field(default_factory=lambda: array("q"))
    rules: tuple[Any, ...] | None = None  # (T_ms, short_ms, target, formula) of the first contact, shared
    mixed_rules: bool = False
    channel: str | None = None  # the channel (facts "ch") of the first contact added, interned

    @property
    def contacts(self) -> int:
        return self.counts.offered  # every contact counts as offered

    def add(self, c: Contribution) -> None:
        self.counts.add(c)
        if c.outcome != WAITING:
            insort(self.waits, c.wait_ms)

    def remove(self, c: Contribution) -> None:
        waits = self.waits
        if c.outcome != WAITING:
            i = bisect_left(waits, c.wait_ms)
            if i == len(waits) or waits[i] != c.wait_ms:
                raise ValueError(
                    f"wait {c.wait_ms} ms is not in its interval: the old facts passed are not the ones counted"
                )
            del waits[i]
        self.counts.add(c, -1)
        self.counts.max_wait_ms = waits[-1] if waits else None


@dataclass(slots=True)
class MinuteBucket:
    """One (queue, minute) a rolling window can reach: its contacts' contributions."""

    start_ms: int
    counts: Counts = field(default_factory=Counts)
    members: dict[str, Contribution] = field(default_factory=dict)
    # an upper bound of the members' offer times, and an index of them per offered second
    # (built when a rolling window's edge cuts the minute; dropped on change)
    latest_offered_ms: int = 0
    seconds: dict[int, tuple[Counts, list[Contribution]]] | None = None

    def offered_between(self, total: Counts, lo_ms: int, hi_ms: int) -> bool:
        """Add the members offered in ``(lo_ms, hi_ms]`` to ``total``: whole seconds from the
        per-second index, members scanned only in the (at most two) seconds the bounds cut;
        returns whether the index had to be built."""
        seconds = self.seconds
        built = seconds is None
        if seconds is None:
            seconds = self.seconds = {}
            for c in self.members.values():
                second = seconds.get(start := c.offered_ms - c.offered_ms % SECOND_MS)
                if second is None:
                    second = seconds[start] = (Counts(), [])
                second[0].add(c)
                second[1].append(c)
        for start, (counts, members) in seconds.items():
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


SurveyEntry = tuple[str, str, int]  # (surveying agent, local date of the offer, score)

# an agent's row of one offered interval: the first five from the handled contacts it answered
# (facts "a"), the last three from the surveys naming it (facts "s")
AGENT_ROW_FIELDS = ("handled", "talk_ms", "hold_ms", "wrap_ms", "transferred", "surveys", "score_sum", "satisfied")
AgentRowEntry = tuple[str, int, tuple[int, ...]]  # (agent, offered interval start, the 8 figures it adds)
AgentDay = tuple[str, str]  # (agent, local date of the offer)
ROW_STRIDE = 1 + len(AGENT_ROW_FIELDS)  # an agent's array: [start, 8 figures] per row
PACK_EVERY_MS = 60_000  # cold dates are packed at most this often (``pack_due``)
PACK_SLICE_AGENTS = 1_000  # agents read between two turns of the event loop while packing
PACK_SLICE_ROWS = 20_000  # staged row changes summed between two turns (``finish_rows_steps``)
_DATES_KEPT = 4_096  # interval start -> local date strings remembered (a few retention periods' worth)


def _pack_date(runs: list[tuple[str, array[int]]]) -> bytes:
    """One local date's rows, ``runs`` = (agent, its rows of the date) sorted by agent: zlib of
    int64 [agents, rows], the rows per agent, the UTF-8 lengths of the agent ids, then the 9
    columns (starts, then each figure) and the ids' bytes. Any int64 is kept exactly."""
    flat = array("q")
    for _, chunk in runs:
        flat.extend(chunk)
    return _pack_columns([agent for agent, _ in runs], [len(chunk) // ROW_STRIDE for _, chunk in runs], flat)


def _pack_columns(agents: list[str], counts: list[int], flat: array[int]) -> bytes:
    """``_pack_date`` of the agents (sorted), their row counts and their rows one after the other."""
    names = [agent.encode() for agent in agents]
    head = array("q", (len(agents), len(flat) // ROW_STRIDE))
    head.extend(counts)
    head.extend(len(name) for name in names)
    for column in range(ROW_STRIDE):
        head.extend(flat[column::ROW_STRIDE])
    return zlib.compress(head.tobytes() + b"".join(names))


def _unpack_date(blob: bytes) -> list[tuple[str, array[int]]]:
    """The inverse of ``_pack_date``."""
    raw = zlib.decompress(blob)
    agents, n = array("q", raw[:16])
    numbers = array("q")
    count = 2 + 2 * agents + ROW_STRIDE * n
    numbers.frombytes(raw[: 8 * count])
    counts = numbers[2 : 2 + agents]
    lengths = numbers[2 + agents : 2 + 2 * agents]
    flat = array("q", bytes(8 * ROW_STRIDE * n))
    base = 2 + 2 * agents
    for column in range(ROW_STRIDE):
        flat[column::ROW_STRIDE] = numbers[base + column * n : base + (column + 1) * n]
    names = raw[8 * count :]
    out: list[tuple[str, array[int]]] = []
    at = row = 0
    for rows_of, length in zip(counts, lengths, strict=True):
        name = sys.intern(names[at : at + length].decode())
        out.append((name, flat[row * ROW_STRIDE : (row + rows_of) * ROW_STRIDE]))
        at += length
        row += rows_of
    return out


def _row_index(rows: array[int], start_ms: int) -> int:
    """The index (in rows) of the first row starting at or after ``start_ms``."""
    lo, hi = 0, len(rows) // ROW_STRIDE
    while lo < hi:
        mid = (lo + hi) // 2
        if rows[mid * ROW_STRIDE] < start_ms:
            lo = mid + 1
        else:
            hi = mid
    return lo


class QueueAggregator:
    """Interval partials, waiting contacts and rolling windows for one partition's contacts."""

    def __init__(self, tz: ZoneInfo, interval_minutes: int, minute_span_ms: int = kept_minutes_span_ms()) -> None:
        self.tz = tz
        self.interval_of = IntervalStarts(tz, interval_minutes)
        self.buckets: dict[BucketKey, Bucket] = {}
        self.waiting: dict[str, dict[str, int]] = {}  # queue -> contact -> offered ms
        # (queue, offered minute start) -> contacts, for minutes at or after oldest_minute_ms only
        self.minutes: dict[BucketKey, MinuteBucket] = {}
        self.minute_span_ms = minute_span_ms
        self.oldest_minute_ms: int | None = None  # None: no prune yet, every minute is kept
        self.rolling_cut_windows = 0  # windows asked that reach before the oldest kept minute
        self.dirty_buckets: set[BucketKey] = set()
        self.dirty_queues: set[str] = set()
        # CSAT per agent: (agent, local date of the offer) -> [surveys, score_sum, satisfied]
        self.agent_surveys: dict[tuple[str, str], list[int]] = {}
        self.dirty_agent_days: set[tuple[str, str]] = set()
        # per agent: [offered interval start, the 8 AGENT_ROW_FIELDS] per row, sorted by start (a
        # dict per agent-date and an array per row cost ~600 bytes a row; this, 72 and the array)
        self.agent_rows: dict[str, array[int]] = {}
        self.dirty_agent_rows: set[AgentDay] = set()
        # a rebuild loads every contact with this off and then sets rows_dirty_all: a set of
        # every agent-day built meanwhile cost ~130 bytes a retained contact, and its freed
        # entries stayed resident between the rows allocated with them
        self.track_row_changes = True
        self.rows_dirty_all = False
        # local date -> its packed rows (``_pack_date``): dates before yesterday, published; a
        # date's rows are either here or in agent_rows, never in both
        self.cold_rows: dict[str, bytes] = {}
        self.last_pack_ms: int | None = None  # when pack_cold last ran (None: never)
        # a rebuild stages its row changes here (``stage_rows``) and builds the rows once at the
        # end (``finish_rows_steps``): [agent number, start, 8 signed figures] per change in one
        # large array, so no per-agent array of a cold date is ever built and freed
        self.staged_rows: array[int] | None = None
        self.staged_agents: dict[str, int] = {}
        # the unpacked date take_dirty_agent_rows is walking after a rebuild: (its bytes, agent
        # -> rows), so agent_day_rows reads a packed date's agents without unpacking it again
        self.cold_view: tuple[bytes, dict[str, array[int]]] | None = None
        self.date_of_start: dict[int, str] = {}  # interval start -> its local date (one string each)
        # per queue, minute buckets with a per-second index, oldest first (bounds their memory)
        self.indexed: dict[str, deque[MinuteBucket]] = {}

    def update(self, contact_id: str, old_facts: Facts | None, new_facts: Facts | None) -> None:
        """Move the contact from what ``old_facts`` contributed to what ``new_facts`` contributes.

        ``old_facts`` must be the facts last passed as ``new_facts`` for this contact (``None``
        for a contact never passed); ``new_facts`` ``None`` forgets the contact. Passing the
        same facts twice changes nothing and marks nothing dirty.
        """
        old = None if old_facts is None else contribution(old_facts)
        new = None if new_facts is None else contribution(new_facts)
        old_survey = self._survey_entry(old_facts, old)
        new_survey = self._survey_entry(new_facts, new)
        if old_survey != new_survey:
            self._move_survey(old_survey, new_survey)
        old_rows = self._agent_entries(old_facts, old)
        new_rows = self._agent_entries(new_facts, new)
        if old_rows != new_rows:
            self._move_agent_rows(old_rows, new_rows)
        old_key = None if old is None else (old_facts["q"], self.interval_of(old.offered_ms))  # type: ignore[index]
        new_key = None if new is None else (new_facts["q"], self.interval_of(new.offered_ms))  # type: ignore[index]
        if old == new and old_key == new_key:
            return
        if old is not None:
            self._remove(contact_id, old_key, old)  # type: ignore[arg-type]
        if new is not None:
            self._add(contact_id, new_key, new, new_facts["r"], new_facts.get("ch"))  # type: ignore[arg-type, index, union-attr]

    def forget(self, contact_id: str, facts: Facts | None) -> None:
        """Drop a contact (retention) given its last facts; its interval keeps no trace of it."""
        self.update(contact_id, facts, None)

    def _add(
        self, contact_id: str, key: BucketKey, new: Contribution, rules: list[Any], channel: str | None = None
    ) -> None:
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket(
                rules=shared_rules(rules), channel=sys.intern(channel) if isinstance(channel, str) else None
            )
        elif bucket.rules != tuple(rules):
            bucket.mixed_rules = True
        bucket.add(new)
        start = _minute(new.offered_ms)
        if self.oldest_minute_ms is None or start >= self.oldest_minute_ms:
            minute = self.minutes.get((key[0], start))
            if minute is None:
                minute = self.minutes[(key[0], start)] = MinuteBucket(start)
            minute.members[contact_id] = new
            minute.counts.add(new)
            minute.seconds = None
            if new.offered_ms > minute.latest_offered_ms:
                minute.latest_offered_ms = new.offered_ms
        queue_waiting = self.waiting.setdefault(key[0], {})
        if new.outcome == WAITING:
            queue_waiting[contact_id] = new.offered_ms
        self.dirty_buckets.add(key)
        self.dirty_queues.add(key[0])

    def _remove(self, contact_id: str, key: BucketKey, old: Contribution) -> None:
        bucket = self.buckets.get(key)
        if bucket is None:
            raise ValueError(
                f"contact {contact_id!r}: its interval {key} holds no contact: the old "
                "facts passed are not the ones counted"
            )
        bucket.remove(old)
        if bucket.contacts == 0:  # an interval with no contacts is not kept (nor its rules)
            del self.buckets[key]
        if old.outcome == WAITING:
            self.waiting.get(key[0], {}).pop(contact_id, None)
        minute_key = (key[0], _minute(old.offered_ms))
        minute = self.minutes.get(minute_key)
        if minute is not None and minute.members.pop(contact_id, None) is not None:
            minute.counts.add(old, -1)
            minute.seconds = None
            if old.outcome != WAITING and old.wait_ms == minute.counts.max_wait_ms:
                minute.recompute_max()
            if not minute.members:
                del self.minutes[minute_key]
        self.dirty_buckets.add(key)
        self.dirty_queues.add(key[0])

    def prune_minutes(self, now_ms: int) -> int:
        """Drop the minute buckets no rolling window asked at ``now_ms`` or later can reach:
        those before ``now_ms - minute_span_ms``; contacts offered before that minute are no
        longer put into minute buckets. The oldest kept minute never moves back (a clock that
        steps back would otherwise see minutes that lost their contacts). Returns the number
        of minute buckets dropped; the work is done once a minute."""
        oldest = _minute(now_ms - self.minute_span_ms)
        if self.oldest_minute_ms is not None and oldest <= self.oldest_minute_ms:
            return 0
        self.oldest_minute_ms = oldest
        gone = [key for key in self.minutes if key[1] < oldest]
        for key in gone:
            del self.minutes[key]
        if gone:
            for queue, indexed in self.indexed.items():
                self.indexed[queue] = deque(b for b in indexed if b.start_ms >= oldest)
        return len(gone)

    def _survey_entry(self, facts: Facts | None, c: Contribution | None) -> SurveyEntry | None:
        """The contact's survey as counted per agent-day (a survey counts once its offer is known)."""
        if c is None or c.survey_score is None:
            return None
        survey = facts["s"]  # type: ignore[index]
        return survey[3], local_date(c.offered_ms, self.tz).isoformat(), int(survey[2])

    def _move_survey(self, old: SurveyEntry | None, new: SurveyEntry | None) -> None:
        for entry, sign in ((old, -1), (new, 1)):
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

    def take_dirty_agent_days(self) -> set[tuple[str, str]]:
        days, self.dirty_agent_days = self.dirty_agent_days, set()
        return days

    def _day_of(self, start_ms: int) -> str:
        day = self.date_of_start.get(start_ms)
        if day is None:
            if len(self.date_of_start) >= _DATES_KEPT:
                self.date_of_start.clear()
            day = self.date_of_start[start_ms] = local_date(start_ms, self.tz).isoformat()
        return day

    def _agent_entries(self, facts: Facts | None, c: Contribution | None) -> tuple[AgentRowEntry, ...]:
        """What the contact adds to agent rows: its handle figures to the answering agent's row
        (handled contacts only), its survey to the surveyed agent's row (a survey counts once
        its offer is known), both in the offered interval."""
        if c is None or (not c.handled and c.survey_score is None):
            return ()
        start = self.interval_of(c.offered_ms)
        out: tuple[AgentRowEntry, ...] = ()
        if c.handled:
            out = ((facts["a"][2], start, (1, c.talk_ms, c.hold_ms, c.wrap_ms, int(c.transferred), 0, 0, 0)),)  # type: ignore[index]
        score = c.survey_score
        if score is not None:
            out += ((facts["s"][3], start, (0, 0, 0, 0, 0, 1, score, int(score >= SATISFIED_MIN_SCORE))),)  # type: ignore[index]
        return out

    def _move_agent_rows(self, old: tuple[AgentRowEntry, ...], new: tuple[AgentRowEntry, ...]) -> None:
        staged = self.staged_rows
        if staged is not None:
            for entries, sign in ((old, -1), (new, 1)):
                for agent, start, figures in entries:
                    number = self.staged_agents.setdefault(sys.intern(agent), len(self.staged_agents))
                    staged.append(number)
                    staged.append(start)
                    staged.extend([sign * value for value in figures])
            return
        for entries, sign in ((old, -1), (new, 1)):
            for agent, start, figures in entries:
                agent = sys.intern(agent)  # one string per agent in every partition's keys
                day = self._day_of(start)
                if day in self.cold_rows:
                    self._unpack(day)
                rows = self.agent_rows.get(agent)
                if rows is None:
                    rows = self.agent_rows[agent] = array("q")
                at = _row_index(rows, start) * ROW_STRIDE
                if at == len(rows) or rows[at] != start:
                    rows[at:at] = array("q", (start, 0, 0, 0, 0, 0, 0, 0, 0))
                for i, value in enumerate(figures, at + 1):
                    if value:
                        rows[i] += sign * value
                if not any(rows[at + 1 : at + ROW_STRIDE]):
                    del rows[at : at + ROW_STRIDE]
                    if not rows:
                        del self.agent_rows[agent]
                if self.track_row_changes:
                    self.dirty_agent_rows.add((agent, day))

    def _unpack(self, day: str) -> None:
        """Move a packed date's rows back into the agents' arrays (no hot row of it exists)."""
        lo, _ = day_bounds_ms(date.fromisoformat(day), self.tz)
        for agent, chunk in _unpack_date(self.cold_rows.pop(day)):
            rows = self.agent_rows.get(agent)
            if rows is None:
                rows = self.agent_rows[agent] = array("q")
            at = _row_index(rows, lo) * ROW_STRIDE
            rows[at:at] = chunk

    def stage_rows(self) -> None:
        """From now on (a new aggregator, as a rebuild loads a partition) row changes are only
        staged, marking nothing dirty, until ``finish_rows_steps`` builds the rows."""
        if self.agent_rows or self.cold_rows:
            raise ValueError("stage_rows is for an aggregator without rows")
        self.staged_rows, self.staged_agents = array("q"), {}

    def finish_rows_steps(self, now_ms: int) -> Generator[None, None, int]:
        """Build the staged rows (``stage_rows``): each (agent, interval) row is the sum of its
        staged changes, dropped when nothing is left (as the incremental rows); the rows of local
        dates before yesterday (of ``now_ms``, as ``pack_cold_steps``) go straight into
        ``cold_rows``, the others into ``agent_rows``. Sliced: yields after each date. Returns
        the rows packed. The caller still sets ``rows_dirty_all`` (every agent-day, packed ones
        included, is published once)."""
        staged, names = self.staged_rows, list(self.staged_agents)
        self.staged_rows, self.staged_agents = None, {}
        if staged is None:
            return 0
        width = 1 + ROW_STRIDE  # the agent's number, then a row
        count = len(staged) // width
        by_rank = sorted(range(len(names)), key=names.__getitem__)
        rank = array("q", bytes(8 * len(names)))
        for r, number in enumerate(by_rank):
            rank[number] = r
        agent_bits, index_bits = max(len(names), 1).bit_length(), max(count, 1).bit_length()
        index_mask = (1 << index_bits) - 1
        # sorted by (start, agent's rank by name), one int a change
        keys = sorted(
            (staged[k * width + 1] << agent_bits | rank[staged[k * width]]) << index_bits | k for k in range(count)
        )
        yield
        merged = array("q")  # [rank, start, 8 figures] per row, sorted by (start, rank)
        last = None
        for n, key in enumerate(keys, 1):
            if n % PACK_SLICE_ROWS == 0:
                yield
            at = (key & index_mask) * width
            group = key >> index_bits
            if group != last:
                if last is not None and not any(merged[-ROW_STRIDE + 1 :]):
                    del merged[-width:]
                last = group
                merged.append(rank[staged[at]])
                merged.extend(staged[at + 1 : at + width])
            else:
                for i in range(1, ROW_STRIDE):
                    merged[i - ROW_STRIDE] += staged[at + 1 + i]
        if last is not None and not any(merged[-ROW_STRIDE + 1 :]):
            del merged[-width:]
        del keys, staged
        yield

        def by_agent(order: list[int]) -> tuple[list[str], list[int], array[int]]:
            """The rows ``order`` (merged row numbers, sorted by agent then start): the agents,
            their row counts, their rows one after the other."""
            agents: list[str] = []
            counts: list[int] = []
            flat = array("q")
            last_rank = -1
            for m in order:
                if merged[m * width] != last_rank:
                    last_rank = merged[m * width]
                    agents.append(names[by_rank[last_rank]])
                    counts.append(0)
                counts[-1] += 1
                flat.extend(merged[m * width + 1 : (m + 1) * width])
            return agents, counts, flat

        def rank_of(m: int) -> int:
            return merged[m * width]

        cutoff, _ = day_bounds_ms(local_date(now_ms, self.tz) - timedelta(days=1), self.tz)
        total, i, packed = len(merged) // width, 0, 0
        hot: list[int] = []
        while i < total:
            day = self._day_of(merged[i * width + 1])
            _, hi = day_bounds_ms(date.fromisoformat(day), self.tz)
            j = i
            while j < total and merged[j * width + 1] < hi:
                j += 1
            if hi <= cutoff:  # sorted by agent (a stable sort keeps each agent's rows by start)
                self.cold_rows[day] = _pack_columns(*by_agent(sorted(range(i, j), key=rank_of)))
                packed += j - i
            else:
                hot.extend(range(i, j))
            i = j
            yield
        agents, counts, flat = by_agent(sorted(hot, key=rank_of))
        at = 0
        for agent, rows_of in zip(agents, counts, strict=True):  # one exact array per agent
            self.agent_rows[agent] = flat[at : at + rows_of * ROW_STRIDE]
            at += rows_of * ROW_STRIDE
        return packed

    def pack_due(self, now_ms: int) -> bool:
        """Whether ``pack_cold`` should run now: never ran on this aggregator (a rebuilt one
        packs after its first publish), or not for ``PACK_EVERY_MS``."""
        return self.last_pack_ms is None or not 0 <= now_ms - self.last_pack_ms < PACK_EVERY_MS

    def pack_cold(self, now_ms: int) -> int:
        """``pack_cold_steps`` at once; returns the rows packed."""
        steps = self.pack_cold_steps(now_ms)
        while True:
            try:
                next(steps)
            except StopIteration as stop:
                return int(stop.value)

    def pack_cold_steps(self, now_ms: int, slice_agents: int = PACK_SLICE_AGENTS) -> Generator[None, None, int]:
        """Pack the rows of local dates before yesterday (of ``now_ms`` in the aggregator's
        zone) into ``cold_rows``, one bytes value per date; a date with a dirty agent-day (not
        published yet, or changed while this runs) stays in the arrays. Sliced: yields after
        every ``slice_agents`` agents read and after each date packed; updates may run between
        slices (a date they touch is dirty, so left as it is). Returns the rows packed; nothing
        while every agent-day is still to be published (``rows_dirty_all``)."""
        if self.rows_dirty_all:
            return 0
        self.last_pack_ms = now_ms
        cutoff, _ = day_bounds_ms(local_date(now_ms, self.tz) - timedelta(days=1), self.tz)
        bounds: dict[str, int] = {}  # day -> its end (ms)
        staged: dict[str, list[tuple[str, array[int]]]] = {}
        for n, (agent, rows) in enumerate(list(self.agent_rows.items()), 1):
            end = _row_index(rows, cutoff) * ROW_STRIDE
            i = 0
            while i < end:
                day = self._day_of(rows[i])
                hi = bounds.get(day)
                if hi is None:
                    hi = bounds[day] = day_bounds_ms(date.fromisoformat(day), self.tz)[1]
                j = min(end, _row_index(rows, hi) * ROW_STRIDE)
                staged.setdefault(day, []).append((agent, rows[i:j]))
                i = j
            if n % slice_agents == 0:
                yield
        packed = 0
        for day in sorted(staged):
            if day in self.cold_rows or any(d == day for _, d in self.dirty_agent_rows):
                continue
            runs = sorted(staged[day])
            lo, _ = day_bounds_ms(date.fromisoformat(day), self.tz)
            spans: list[tuple[str, array[int], int, int]] = []
            for agent, chunk in runs:  # still the agents' rows of the date (else: left hot)
                hot = self.agent_rows.get(agent)
                at = -1 if hot is None else _row_index(hot, lo) * ROW_STRIDE
                if (
                    hot is None
                    or hot[at : at + len(chunk)] != chunk
                    or _row_index(hot, bounds[day]) * ROW_STRIDE != at + len(chunk)
                ):
                    break
                spans.append((agent, hot, at, len(chunk)))
            else:
                self.cold_rows[day] = _pack_date(runs)
                for agent, hot, at, size in spans:
                    del hot[at : at + size]
                    if not hot:
                        del self.agent_rows[agent]
                    packed += size // ROW_STRIDE
            yield
        return packed

    def agent_day_rows(self, agent: str, day: str) -> dict[int, list[int]]:
        """The agent's rows of a local date (``YYYY-MM-DD``): offered interval start -> the 8
        figures; empty when it has none. A packed date is read from its bytes."""
        cold = self.cold_rows.get(day)
        if cold is not None:
            view = self.cold_view
            if view is not None and view[0] is cold:
                found = view[1].get(agent)
                pairs = [] if found is None else [(agent, found)]
            else:
                pairs = _unpack_date(cold)
            for name, chunk in pairs:
                if name == agent:
                    return {chunk[i]: chunk[i + 1 : i + ROW_STRIDE].tolist() for i in range(0, len(chunk), ROW_STRIDE)}
            return {}
        rows = self.agent_rows.get(agent)
        if rows is None:
            return {}
        lo, hi = day_bounds_ms(date.fromisoformat(day), self.tz)
        first, end = _row_index(rows, lo), _row_index(rows, hi)
        return {
            rows[i * ROW_STRIDE]: rows[i * ROW_STRIDE + 1 : (i + 1) * ROW_STRIDE].tolist() for i in range(first, end)
        }

    def take_dirty_agent_rows(self) -> Iterable[AgentDay]:
        """(agent, local date) pairs whose rows changed since the last call (``agent_day_rows``
        is empty for a pair left without rows); after ``rows_dirty_all`` (a rebuild) every
        agent-day with rows, found lazily from the rows (a snapshot of the agents), then the
        pairs changed since."""
        days, self.dirty_agent_rows = self.dirty_agent_rows, set()
        if not self.rows_dirty_all:
            return days
        self.rows_dirty_all = False
        return itertools.chain(
            self._every_agent_day(list(self.agent_rows)), self._every_cold_agent_day(sorted(self.cold_rows)), days
        )

    def _every_cold_agent_day(self, days: list[str]) -> Iterator[AgentDay]:
        """The agents of each packed date (packed by a rebuild's ``finish_rows_steps``), one
        date unpacked at a time (``cold_view``); a date unpacked meanwhile is read hot."""
        for day in days:
            blob = self.cold_rows.get(day)
            if blob is None:
                continue
            view = dict(_unpack_date(blob))
            self.cold_view = (blob, view)
            for agent in view:
                yield agent, day
        self.cold_view = None

    def _every_agent_day(self, agents: list[str]) -> Iterator[AgentDay]:
        for agent in agents:
            rows = self.agent_rows.get(agent)
            if rows is None:
                continue
            last = None
            for day in [self._day_of(rows[i]) for i in range(0, len(rows), ROW_STRIDE)]:
                if day != last:
                    last = day
                    yield agent, day

    def queues(self) -> set[str]:
        return {q for q, _ in self.buckets} | set(self.waiting)

    def oldest_waiting_ms(self, queue: str) -> int | None:
        waiting = self.waiting.get(queue)
        return min(waiting.values()) if waiting else None

    def rolling(self, queue: str, now_ms: int, window_ms: int) -> Counts:
        """Counts of the queue's contacts offered in ``(now - window, now]``.

        Whole minutes inside the window add their kept counts, and so does the current minute
        when none of its contacts was offered after ``now``; a minute cut by the window's
        start adds its members per offered second (``MinuteBucket.offered_between``), so the
        cost grows with neither traffic nor the window. Exact whenever ``now - window`` is at or
        after the oldest kept minute (every ``now`` at or after the last ``prune_minutes`` call
        with a window up to ``minute_span_ms``); a window reaching further back misses the
        dropped minutes and is counted in ``rolling_cut_windows``.
        """
        lo = now_ms - window_ms
        if self.oldest_minute_ms is not None and lo < self.oldest_minute_ms:
            self.rolling_cut_windows += 1
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
