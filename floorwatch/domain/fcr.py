"""First contact resolution (FCR) and repeat contacts, derived per customer (docs/metrics.md,
"First contact resolution and repeat contacts").

A contact's facts live with its ``contact_id``; FCR needs all contacts of one customer. The
contact worker therefore sends a small *projection* of each contact that has a (hashed)
customer to a topic keyed by that customer; the customer worker keeps ``{contact_id:
projection}`` per customer and derives every contact's FCR outcome from it with ``derive`` —
a pure function of the customer's contacts, the window and ``now`` — so duplicates,
reordering and restarts change nothing.

Definitions (window W = ``fcr.window_hours``):

* a *customer contact* has a customer and is not a transfer leg (no ``parent_contact_id``);
  legs belong to the chain of their root (parent links, followed transitively);
* it is a *repeat contact* when the same customer had another customer contact offered in
  ``[offered - W, offered)`` (ties in offered time ordered by contact id);
* it is *FCR eligible* when it was answered and its window has closed (``now >= offered + W``);
* it is *resolved at first contact* when eligible, no wrap-up of it or of its transfer legs
  says ``resolved: false``, and the customer has no other customer contact offered in
  ``(offered, offered + W]``.

FCR is attributed to the root's queue and offered interval and to the agent who answered it;
a repeat contact to its own queue and offered interval.

Finality (bounded memory for a floor that runs for months): an interval ``(queue, start)`` of
one partition is *folded* once ``end + 2W < now`` — every contact offered in it has had its
window closed for W, so only a contact arriving more than 2W after its offer could still change
it. The final figures are kept in **one record per (local date, partition)** (table
``fcr-final``, key ``"{date}|{partition}"``): ``{"_p", "c": {"queue|start_ms": [customer
contacts, repeats, eligible, resolved]}, "a": {agent: [eligible, resolved]}}``, the counts of
every folded interval of the date and the agents' rows summed over them. A fold pass rewrites
each date it touches once (``Fold``: the date's record with this pass's intervals added), so a
fold of a date is one record: acknowledged, it is applied (``apply_fold``: the intervals' live
counts and agents' rows leave together); not acknowledged, nothing of it is, and a restart
reads either the old record or the new one — never counts without their agents' rows. Per
date rather than per interval because an agent answers in many intervals of a day (per
interval the rows cost ~290 bytes a retained contact) and one record's key and object cost
more than its JSON. The aggregator holds a date's record as its JSON bytes (``date_records``)
and keeps it parsed only while the date can still change (a live interval of it,
``open_dates``); a closed date's bytes are parsed when a figure of it is asked for, and
whether they hold an interval is read without parsing (``record_holds_interval``). A legacy
record of one interval (key ``"queue|start|partition"``, ``{"_p", "c": [4 counts]}``, perhaps
with ``"a"``; written by earlier versions) is accepted on load: its counts count for its
interval, its rows for its date; it expires with its interval.

A contact of a folded interval is never counted live again, and a projection that would change
one (a late record) is refused by ``accepts``. Projections stay in the customers table
uncounted, as context of newer contacts, until ``droppable`` says the last interval they can
affect is folded too (``offered + 3W``, rounded up to an interval end). While a projection
whose offer lies within W of an interval was accepted in the last ``fold_quiet_ms`` (a replay
of past days still streaming in), that interval is not folded yet. Date records and legacy
records expire with retention (``expire_dates``, ``expire_legacy``).
Published figures are final + live (``interval_figures``, ``agent_day_figures``).
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date as date_cls
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from floorwatch.domain.contacts import Facts, outcome
from floorwatch.domain.intervals import day_bounds_ms, interval_end_ms, interval_start_ms, local_date
from floorwatch.domain.queue_metrics import ANSWERED, Counts

Projection = dict[str, Any]  # {"o": offered_ms, "q": queue, "p": parent | None, "a": agent | None, "r": False | None}
# a legacy record of one interval: {"_p": partition, "c": [customer, repeat, eligible,
# resolved]}, perhaps with "a": {agent: [eligible, resolved]}
FinalRecord = dict[str, Any]
AgentRows = dict[str, list[int]]  # agent -> [eligible, resolved]
HOUR_MS = 3_600_000
FOLD_PER_PASS = 2_000  # intervals one publisher pass folds at most (the rest: the next pass)
FOLD_SLICE = 200  # intervals folded (or dates' records built) between two turns of the event loop
QUIET_BUCKETS = 16  # resolution of the fold_quiet_ms memory (a fixed number of buckets)


def projection(facts: Facts | None) -> tuple[str, Projection] | None:
    """``(hashed customer, projection)`` of a contact's facts; ``None`` without customer or offer.

    Only what FCR reads: ``r`` is ``False`` when the wrap-up says unresolved, else ``None`` (a
    "resolved: true" changes no outcome, so it sends nothing)."""
    if not facts or "cu" not in facts or "o" not in facts:
        return None
    result, _ = outcome(facts)
    wrap = facts.get("w")
    return facts["cu"], {
        "o": facts["o"][0],
        "q": facts["q"],
        "p": facts.get("p"),
        "a": facts["a"][2] if result == ANSWERED else None,
        "r": False if wrap is not None and wrap[3] is False else None,
    }


def partition_for(customer: str, partitions: int) -> int:
    """The ``fw.customer-contacts`` partition of a hashed customer (hex digits: uniform)."""
    return int(customer[:8], 16) % partitions


@dataclass(frozen=True, slots=True)
class ContactFcr:
    """What one customer contact (a root, not a leg) adds to the FCR figures."""

    queue: str
    offered_ms: int
    agent: str | None  # who answered it (None: not answered)
    repeat: bool
    eligible: bool
    resolved: bool
    closes_ms: int  # offered + W: when the contact's window closes


def derive(contacts: dict[str, Projection], now_ms: int, window_ms: int) -> dict[str, ContactFcr]:
    """FCR outcome of every customer contact of one customer (transfer legs are not keyed)."""
    roots = sorted((p["o"], cid) for cid, p in contacts.items() if not p.get("p"))
    children: dict[str, list[str]] = {}
    for cid, p in contacts.items():
        if p.get("p"):
            children.setdefault(p["p"], []).append(cid)
    out: dict[str, ContactFcr] = {}
    for i, (offered, cid) in enumerate(roots):
        proj = contacts[cid]
        repeat = i > 0 and roots[i - 1][0] >= offered - window_ms
        followed = i + 1 < len(roots) and roots[i + 1][0] <= offered + window_ms
        closes = offered + window_ms
        eligible = proj.get("a") is not None and now_ms >= closes
        resolved = eligible and not followed and not _chain_says_unresolved(cid, contacts, children)
        out[cid] = ContactFcr(proj["q"], offered, proj.get("a"), repeat, eligible, resolved, closes)
    return out


def _chain_says_unresolved(root: str, contacts: dict[str, Projection], children: dict[str, list[str]]) -> bool:
    seen = {root}
    todo = [root]
    while todo:
        cid = todo.pop()
        if contacts[cid].get("r") is False:
            return True
        for child in children.get(cid, ()):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return False


def apply_projection(
    contacts: dict[str, Projection] | None, contact_id: str, value: Projection | None
) -> dict[str, Projection] | None:
    """A customer's contacts after one record (``None`` value: the contact left this customer).

    Returns ``None`` when nothing changed (a duplicate)."""
    cur = contacts or {}
    if value is None:
        if contact_id not in cur:
            return None
        new = dict(cur)
        del new[contact_id]
        return new
    if cur.get(contact_id) == value:
        return None
    return {**cur, contact_id: value}


AgentDay = tuple[str, str]  # (agent_id, local date)
IntervalKey = tuple[str, int]  # (queue, start_ms)


def date_final_key(day: str, partition: int) -> str:
    """Key of a date's final record (every folded interval of a local date) in ``fcr-final``."""
    return f"{day}|{partition}"


def final_key(queue: str, start_ms: int, partition: int) -> str:
    """Key of a legacy final record (one folded interval, written before date records) in
    ``fcr-final``."""
    return f"{queue}|{start_ms}|{partition}"


def final_key_partition(key: str) -> int:
    """The partition of an ``fcr-final`` key (a date record's or a legacy one's: both end in it)."""
    return int(key.rsplit("|", 1)[1])


def parse_final_key(key: str) -> tuple[str | IntervalKey, int]:
    """``(date, partition)`` of a date record's key, ``((queue, start_ms), partition)`` of a
    legacy record's (a queue may contain ``|``; a date never does)."""
    head, part = key.rsplit("|", 1)
    if "|" not in head:
        return head, int(part)
    queue, start = head.rsplit("|", 1)
    return (queue, int(start)), int(part)


def interval_name(key: IntervalKey) -> str:
    """An interval's key inside a date record's ``"c"``: ``"queue|start_ms"``."""
    return f"{key[0]}|{key[1]}"


@dataclass(slots=True)
class DateFinal:
    """A date record parsed: the final counts ``[customer contacts, repeats, eligible,
    resolved]`` of each folded interval of the date, and the agents' ``[eligible, resolved]``
    summed over them. Values are shared between versions: never changed in place."""

    counts: dict[IntervalKey, list[int]] = field(default_factory=dict)
    agents: AgentRows = field(default_factory=dict)


def date_record(partition: int, final: DateFinal) -> bytes:
    """A date record's value as the table holds it: JSON bytes, ``_p`` first, then ``"c"``,
    then ``"a"`` (the layout ``record_holds_interval`` reads)."""
    return orjson.dumps(
        {"_p": partition, "c": {interval_name(k): c for k, c in final.counts.items()}, "a": final.agents}
    )


def parse_date_record(value: bytes | dict[str, Any]) -> DateFinal:
    """A date record's bytes (or a dict where a store decoded the JSON) parsed."""
    rec = value if isinstance(value, dict) else orjson.loads(value)
    counts: dict[IntervalKey, list[int]] = {}
    for name, c in rec.get("c", {}).items():
        queue, start = name.rsplit("|", 1)
        counts[(queue, int(start))] = c
    return DateFinal(counts, rec.get("a", {}))


def record_holds_interval(raw: bytes, key: IntervalKey) -> bool:
    """Whether a date record (bytes as ``date_record`` writes them) holds the interval, without
    parsing it: its JSON key preceded by ``{`` or ``,`` inside ``"c"``. Exact: inside a JSON
    string every ``"`` is escaped, so ``,"`` / ``{"`` and ``"a":{`` after ``}`` only occur
    between members."""
    lo = raw.find(b'"c":{')
    if lo < 0:
        return False
    hi = raw.find(b'},"a":{', lo)
    if hi < 0:
        hi = len(raw)
    name = orjson.dumps(interval_name(key)) + b":"
    return raw.find(b"{" + name, lo, hi) >= 0 or raw.find(b"," + name, lo, hi) >= 0


_PARTITION_PREFIX = re.compile(rb'\{"_p":(\d+)[,}]')


def record_partition(value: bytes | dict[str, Any]) -> int | None:
    """The partition of an ``fcr-final`` or ``customers`` record (JSON bytes whose ``_p`` comes
    first, as the worker writes them) without parsing it; a dict value as it is."""
    if isinstance(value, dict):
        return value.get("_p")
    m = _PARTITION_PREFIX.match(value)
    if m is not None:
        return int(m.group(1))
    part = orjson.loads(value).get("_p")
    return part if isinstance(part, int) else None


@dataclass(slots=True)
class Fold:
    """What folding some intervals of one partition writes. ``added[date]``: the folded
    intervals' counts and agents' rows, by local date; once ``FcrAggregator.finish_fold`` ran,
    ``dates[date]`` holds the complete new final record of that date (its earlier folds plus
    ``added[date]``), one record per date: applied whole once acknowledged, or not at all."""

    partition: int
    added: dict[str, DateFinal] = field(default_factory=dict)
    dates: dict[str, bytes] = field(default_factory=dict)  # date -> its new record (JSON bytes)
    parsed: dict[str, DateFinal] = field(default_factory=dict)  # date -> the same, parsed

    def interval_keys(self) -> list[IntervalKey]:
        return [key for final in self.added.values() for key in final.counts]


_NO_FINAL = DateFinal()  # what a date without a record holds (never changed)


def _root_of(contacts: dict[str, Projection], proj: Projection) -> Projection:
    """The root of a projection's transfer chain among ``contacts`` (itself without a parent;
    the last one found when a parent is missing or the links loop)."""
    node = proj
    seen: set[str] = set()
    while (parent := node.get("p")) and parent in contacts and parent not in seen:
        seen.add(parent)
        node = contacts[parent]
    return node


@dataclass(slots=True)
class FcrAggregator:
    """FCR partials of one partition of the customer topic, rebuilt from the customers table
    and the partition's final records.

    Live: ``intervals[(queue, start_ms)]`` holds ``Counts`` with only the FCR fields set,
    ``agent_days[(agent, date)]`` holds ``[eligible, resolved]``, both over the contacts of
    intervals not folded yet. ``advance(now)`` re-derives customers whose contacts' windows
    closed, so FCR matures without new events. Final: ``date_records[date]`` holds the bytes of
    the date's final record (the final counts of its folded intervals and its agents' final
    rows), parsed in ``open_dates`` only while the date has live intervals (it can still
    change) and read on demand otherwise; ``legacy_final`` the final records of one interval
    each written before date records (their rows, if any, summed in ``legacy_days``).
    """

    tz: ZoneInfo
    interval_minutes: int
    window_ms: int
    fold_quiet_ms: int = 0
    intervals: dict[IntervalKey, Counts] = field(default_factory=dict)
    agent_days: dict[AgentDay, list[int]] = field(default_factory=dict)
    by_contact: dict[str, tuple[ContactFcr, int, str, str]] = field(default_factory=dict)  # + start, date, customer
    by_customer: dict[str, set[str]] = field(default_factory=dict)
    closing: list[tuple[int, str]] = field(default_factory=list)  # heap of (closes_ms, customer)
    dirty_intervals: set[IntervalKey] = field(default_factory=set)
    dirty_agent_days: set[AgentDay] = field(default_factory=set)
    interval_agents: dict[IntervalKey, dict[str, list[int]]] = field(default_factory=dict)  # live, per interval
    date_records: dict[str, bytes] = field(default_factory=dict)  # date -> its final record (JSON bytes)
    open_dates: dict[str, DateFinal] = field(default_factory=dict)  # parsed records of dates with live intervals
    live_per_date: dict[str, int] = field(default_factory=dict)  # date -> live intervals of it
    legacy_final: dict[IntervalKey, FinalRecord] = field(default_factory=dict)  # one interval each
    legacy_days: dict[str, AgentRows] = field(default_factory=dict)  # rows of legacy records with "a"
    _parsed: tuple[str, bytes, DateFinal] | None = None  # the last closed date record read
    folding: set[IntervalKey] = field(default_factory=set)  # in a fold written, not yet acknowledged
    expired_before_ms: int | None = None  # intervals starting earlier are gone (retention_days)
    fold_heap: list[tuple[int, str, int]] = field(default_factory=list)  # (fold at, queue, start)
    fold_scheduled: set[IntervalKey] = field(default_factory=set)
    recent_offered: dict[int, int] = field(default_factory=dict)  # arrival bucket -> min offered accepted

    # --- live counting ----------------------------------------------------------------------

    def update(self, customer: str, contacts: dict[str, Projection] | None, now_ms: int) -> None:
        """Re-derive one customer's contacts (idempotent); contacts of folded or expired
        intervals are context only."""
        derived = derive(contacts or {}, now_ms, self.window_ms)
        old_ids = self.by_customer.get(customer, set())
        for cid in old_ids - derived.keys():
            if self.by_contact[cid][3] == customer:
                self._remove(cid)
        kept: set[str] = set()
        for cid, fcr in derived.items():
            held = self.by_contact.get(cid)
            if held is not None and held[0].offered_ms == fcr.offered_ms and held[0].queue == fcr.queue:
                start, day = held[1], held[2]
            else:
                start = interval_start_ms(fcr.offered_ms, self.tz, self.interval_minutes)
                day = local_date(fcr.offered_ms, self.tz).isoformat()
            closed = self._closed((fcr.queue, start), day)
            if held is not None:
                if not closed and held[0] == fcr and held[3] == customer:
                    kept.add(cid)
                    continue
                self._remove(cid)  # changed, moved here from another customer, or folded
            if closed:
                continue
            self._add(cid, fcr, customer, start, day)
            kept.add(cid)
            if not fcr.eligible and fcr.agent is not None and fcr.closes_ms > now_ms:
                heapq.heappush(self.closing, (fcr.closes_ms, customer))
        if kept:
            self.by_customer[customer] = kept
        else:
            self.by_customer.pop(customer, None)

    def advance(self, now_ms: int, contacts_of: Callable[[str], dict[str, Projection] | None]) -> int:
        """Re-derive the customers with a window that closed by ``now_ms``; returns how many."""
        due: set[str] = set()
        while self.closing and self.closing[0][0] <= now_ms:
            due.add(heapq.heappop(self.closing)[1])
        for customer in due:
            self.update(customer, contacts_of(customer), now_ms)
        return len(due)

    def _add(self, cid: str, fcr: ContactFcr, customer: str, start: int, day: str) -> None:
        self.by_contact[cid] = (fcr, start, day, customer)
        self._count(fcr, start, day, 1)

    def _remove(self, cid: str) -> None:
        """Uncount a contact (unless its interval is folded: its live counts went with the
        fold) and drop it from the customer that holds it."""
        fcr, start, day, owner = self.by_contact.pop(cid)
        owned = self.by_customer.get(owner)
        if owned is not None:
            owned.discard(cid)
        key = (fcr.queue, start)
        if key in self.intervals:  # else folded (then perhaps expired)
            self._count(fcr, start, day, -1)

    def _count(self, fcr: ContactFcr, start: int, day: str, sign: int) -> None:
        key = (fcr.queue, start)
        counts = self.intervals.get(key)
        if counts is None:
            counts = self.intervals[key] = Counts()
            self._live_added(day)
            if key not in self.fold_scheduled:
                self.fold_scheduled.add(key)
                heapq.heappush(self.fold_heap, (self._fold_at_ms(start), fcr.queue, start))
        counts.customer_contacts += sign
        counts.repeat_contacts += sign * fcr.repeat
        counts.fcr_eligible += sign * fcr.eligible
        counts.fcr_resolved += sign * fcr.resolved
        if counts.customer_contacts == 0:
            del self.intervals[key]
            self._live_gone(day)
        self.dirty_intervals.add(key)
        if fcr.eligible and fcr.agent is not None:
            akey = (fcr.agent, day)
            row = self.agent_days.setdefault(akey, [0, 0])
            row[0] += sign
            row[1] += sign * fcr.resolved
            if row[0] == 0:
                del self.agent_days[akey]
            agents = self.interval_agents.setdefault(key, {})
            irow = agents.setdefault(fcr.agent, [0, 0])
            irow[0] += sign
            irow[1] += sign * fcr.resolved
            if irow[0] == 0:
                del agents[fcr.agent]
                if not agents:
                    del self.interval_agents[key]
            self.dirty_agent_days.add(akey)

    def _live_added(self, day: str) -> None:
        """A live interval of ``day`` appeared: the date can change, its record is parsed."""
        n = self.live_per_date.get(day, 0)
        self.live_per_date[day] = n + 1
        if n == 0 and day in self.date_records:
            self.open_dates[day] = parse_date_record(self.date_records[day])

    def _live_gone(self, day: str) -> None:
        """A live interval of ``day`` left (folded or emptied): the last one closes the date."""
        n = self.live_per_date[day] - 1
        if n:
            self.live_per_date[day] = n
        else:
            del self.live_per_date[day]
            self.open_dates.pop(day, None)

    def take_dirty(self) -> tuple[set[IntervalKey], set[AgentDay]]:
        intervals, days = self.dirty_intervals, self.dirty_agent_days
        self.dirty_intervals, self.dirty_agent_days = set(), set()
        self._parsed = None
        return intervals, days

    def date_of(self, start_ms: int) -> str:
        """The local date of an interval (its final counts are in that date's record)."""
        return local_date(start_ms, self.tz).isoformat()

    def by_date(
        self, intervals: Iterable[IntervalKey], agent_days: Iterable[AgentDay]
    ) -> dict[str, tuple[list[IntervalKey], list[str]]]:
        """Dirty intervals and agents per date: figures read a date at a time parse each closed
        date's record once."""
        out: dict[str, tuple[list[IntervalKey], list[str]]] = {}
        dates: dict[int, str] = {}
        for key in intervals:
            day = dates.get(key[1])
            if day is None:
                day = dates[key[1]] = self.date_of(key[1])
            out.setdefault(day, ([], []))[0].append(key)
        for agent, day in agent_days:
            out.setdefault(day, ([], []))[1].append(agent)
        return out

    # --- what is published: final + live -------------------------------------------------------

    def interval_figures(self, key: IntervalKey) -> Counts | None:
        """The interval's figures (final + live); ``None`` when it has no customer contact.

        A closed date's record is parsed on demand; the last one read is kept until
        ``take_dirty`` (ask for a date's intervals together: see ``by_date``)."""
        live = self.intervals.get(key)
        legacy = self.legacy_final.get(key)
        c = legacy["c"] if legacy is not None else self._date_final(self.date_of(key[1])).counts.get(key)
        if c is None:
            return live
        out = Counts(customer_contacts=c[0], repeat_contacts=c[1], fcr_eligible=c[2], fcr_resolved=c[3])
        if live is not None:
            out.customer_contacts += live.customer_contacts
            out.repeat_contacts += live.repeat_contacts
            out.fcr_eligible += live.fcr_eligible
            out.fcr_resolved += live.fcr_resolved
        return out if out.customer_contacts else None

    def agent_day_figures(self, akey: AgentDay) -> list[int] | None:
        """``[eligible, resolved]`` of an agent's day (final + live); ``None`` when nothing."""
        agent, day = akey
        out: list[int] | None = None
        for row in (
            self._date_final(day).agents.get(agent),
            self.legacy_days.get(day, {}).get(agent),
            self.agent_days.get(akey),
        ):
            if row is not None:
                out = list(row) if out is None else [out[0] + row[0], out[1] + row[1]]
        return out

    def _date_final(self, day: str) -> DateFinal:
        """``day``'s record parsed (empty without one); not to be changed."""
        final = self.open_dates.get(day)
        if final is not None:
            return final
        raw = self.date_records.get(day)
        if raw is None:
            return _NO_FINAL
        held = self._parsed
        if held is not None and held[0] == day and held[1] is raw:
            return held[2]
        final = parse_date_record(raw)
        self._parsed = (day, raw, final)
        return final

    def final_interval_keys(self) -> Iterator[IntervalKey]:
        """Every folded interval still held (date records and legacy records); parses every
        date record."""
        yield from self.legacy_final
        for day in list(self.date_records):
            yield from self._date_final(day).counts

    def agent_day_keys(self) -> Iterator[AgentDay]:
        """Every (agent, date) that has a figure (final or live); parses every date record."""
        seen: set[AgentDay] = set(self.agent_days)
        for day in self.date_records:
            seen.update((agent, day) for agent in self._date_final(day).agents)
        for day, rows in self.legacy_days.items():
            seen.update((agent, day) for agent in rows)
        return iter(seen)

    # --- finality ---------------------------------------------------------------------------------

    def _fold_at_ms(self, start: int) -> int:
        """The instant after which an interval's contributions are final: its end + 2W."""
        return interval_end_ms(start, self.tz, self.interval_minutes) + 2 * self.window_ms

    def _closed(self, key: IntervalKey, day: str | None = None) -> bool:
        """Folded or expired: its contacts are context only, never counted live. ``day``: the
        interval's local date when the caller knows it."""
        if self.expired_before_ms is not None and key[1] < self.expired_before_ms:
            return True
        if key in self.intervals:
            return False
        if key in self.legacy_final:
            return True
        if day is None:
            day = self.date_of(key[1])
        final = self.open_dates.get(day)
        if final is not None:
            return key in final.counts
        raw = self.date_records.get(day)
        return raw is not None and record_holds_interval(raw, key)

    def _interval_of(self, contacts: dict[str, Projection], proj: Projection) -> tuple[IntervalKey, int]:
        """The interval a projection counts in (its chain root's) and that root's offer."""
        root = _root_of(contacts, proj)
        return (root["q"], interval_start_ms(root["o"], self.tz, self.interval_minutes)), root["o"]

    def accepts(
        self, contacts: dict[str, Projection] | None, contact_id: str, value: Projection | None, now_ms: int
    ) -> bool:
        """Whether a projection record (``None``: the contact left this customer) that changes
        the customer's contacts may be applied: not when the interval it or the projection it
        replaces counts in is closed (a late record: the caller counts and drops it). An
        accepted record holds back the folding of the intervals it can affect for
        ``fold_quiet_ms``."""
        cur = contacts or {}
        offers: list[int] = []
        for proj in (cur.get(contact_id), value):
            if proj is None:
                continue
            key, root_offered = self._interval_of(cur, proj)
            if self._closed(key) or key in self.folding:
                return False
            offers += (root_offered, proj["o"])
        if offers:
            self.note_change(min(offers), now_ms)
        return True

    def note_change(self, offered_ms: int, now_ms: int) -> None:
        """A contact offered at ``offered_ms`` changed at ``now_ms``: intervals it can affect
        (ending at or after ``offered_ms - W``) are not folded for ``fold_quiet_ms``."""
        if self.fold_quiet_ms <= 0:
            return
        bucket = now_ms // self._quiet_bucket_ms()
        held = self.recent_offered.get(bucket)
        if held is None or offered_ms < held:
            self.recent_offered[bucket] = offered_ms
        if len(self.recent_offered) > QUIET_BUCKETS + 1:
            self._recent_min_offered(now_ms)  # forgets the buckets that have left the span

    def hold_folds(self, now_ms: int) -> None:
        """No interval is folded for ``fold_quiet_ms`` from ``now_ms`` (after a rebuild: the
        records still to be consumed may be a replay of past days)."""
        self.note_change(-(1 << 62), now_ms)

    def _quiet_bucket_ms(self) -> int:
        return max(1, -(-self.fold_quiet_ms // QUIET_BUCKETS))

    def _recent_min_offered(self, now_ms: int) -> int | None:
        """The earliest offer among changes accepted within ``fold_quiet_ms`` before ``now_ms``."""
        size = self._quiet_bucket_ms()
        for bucket in [b for b in self.recent_offered if (b + 1) * size <= now_ms - self.fold_quiet_ms]:
            del self.recent_offered[bucket]
        return min(self.recent_offered.values(), default=None)

    def due_folds(self, now_ms: int, limit: int = FOLD_PER_PASS) -> list[IntervalKey]:
        """Up to ``limit`` live intervals, oldest first, whose contributions are final
        (``end + 2W < now_ms``) and that no change accepted within ``fold_quiet_ms`` can
        affect (an offer at or before ``end + W``); they are marked as being folded: records
        for them are refused until ``apply_fold`` (or forgotten with the aggregator)."""
        quiet_floor = self._recent_min_offered(now_ms) if self.fold_quiet_ms > 0 else None
        out: list[IntervalKey] = []
        while self.fold_heap and len(out) < limit:
            at, queue, start = self.fold_heap[0]
            if at >= now_ms:
                break
            if quiet_floor is not None and quiet_floor <= at - self.window_ms:  # at - W = end + W
                break
            heapq.heappop(self.fold_heap)
            key = (queue, start)
            self.fold_scheduled.discard(key)
            if key in self.intervals and not self._closed(key) and key not in self.folding:
                self.folding.add(key)
                out.append(key)
        return out

    def final_counts(self, key: IntervalKey) -> list[int]:
        """The final counts of an interval from its live counts (their values at this instant)."""
        counts = self.intervals.get(key) or Counts()
        return [counts.customer_contacts, counts.repeat_contacts, counts.fcr_eligible, counts.fcr_resolved]

    def fold_interval(self, fold: Fold, key: IntervalKey) -> None:
        """Add an interval (from ``due_folds``) to ``fold``: its counts and agents' rows."""
        added = fold.added.get(day := self.date_of(key[1]))
        if added is None:
            added = fold.added[day] = DateFinal()
        added.counts[key] = self.final_counts(key)
        for agent, row in self.interval_agents.get(key, {}).items():
            held = added.agents.get(agent)
            added.agents[agent] = list(row) if held is None else [held[0] + row[0], held[1] + row[1]]

    def finish_fold(self, fold: Fold, days: Iterable[str] | None = None) -> None:
        """``fold.dates`` (and ``fold.parsed``) of ``days`` (default: every date of the fold):
        each date's record held now with the fold's counts and rows added. The records held
        are left as they are until ``apply_fold``."""
        for day in fold.added if days is None else days:
            added, base = fold.added[day], self._date_final(day)
            counts = dict(base.counts)
            counts.update(added.counts)
            agents = dict(base.agents)
            for agent, row in added.agents.items():
                held = agents.get(agent)
                agents[agent] = list(row) if held is None else [held[0] + row[0], held[1] + row[1]]
            final = fold.parsed[day] = DateFinal(counts, agents)
            fold.dates[day] = date_record(fold.partition, final)

    def fold(self, keys: Iterable[IntervalKey], partition: int) -> Fold:
        """``fold_interval`` for every key of ``keys``, then ``finish_fold``."""
        out = Fold(partition)
        for key in keys:
            self.fold_interval(out, key)
        self.finish_fold(out)
        return out

    def apply_fold(self, fold: Fold) -> None:
        """The fold's date records are persisted (acknowledged): each replaces its date's record
        and the live counts and agents' rows of its intervals, whatever they became meanwhile
        (a change after ``end + 2W`` is late). A date's record is applied whole. Idempotent:
        applying a fold again changes nothing."""
        for day, added in fold.added.items():
            raw = fold.dates[day]
            already = self.date_records.get(day)
            for key in added.counts:
                self.folding.discard(key)
            if already is raw or already == raw:
                continue
            for key in added.counts:
                if self.intervals.pop(key, None) is not None:
                    self._live_gone(day)
                for agent, row in self.interval_agents.pop(key, {}).items():
                    akey = (agent, day)
                    total = self.agent_days[akey]
                    total[0] -= row[0]
                    total[1] -= row[1]
                    if total[0] == 0:
                        del self.agent_days[akey]
                    self.dirty_agent_days.add(akey)
                self.dirty_intervals.add(key)
            self._hold_date(day, raw, fold.parsed[day])

    def release_fold(self, fold: Fold) -> None:
        """The fold was not acknowledged and will not be applied: its intervals stay live and
        are folded by a later pass (records of them are accepted again)."""
        for key in fold.interval_keys():
            self.folding.discard(key)
            if key in self.intervals and key not in self.fold_scheduled:
                self.fold_scheduled.add(key)
                heapq.heappush(self.fold_heap, (self._fold_at_ms(key[1]), key[0], key[1]))

    def _hold_date(self, day: str, raw: bytes, final: DateFinal) -> None:
        self.date_records[day] = raw
        if day in self.live_per_date:
            self.open_dates[day] = final
        else:
            self.open_dates.pop(day, None)
        if self._parsed is not None and self._parsed[0] == day:
            self._parsed = None

    def load(self, key: str, value: bytes | dict[str, Any]) -> None:
        """Hold a record of the ``fcr-final`` table (on a rebuild; a dict where the store
        decoded its JSON): a date record, or a legacy record of one interval (its counts count
        for its interval, its rows, if any, for its date). Its figures are to be published."""
        what, partition = parse_final_key(key)
        if isinstance(what, str):
            final = parse_date_record(value)
            raw = date_record(partition, final)
            if isinstance(value, bytes) and value == raw:
                raw = value  # the table's own bytes: held once
            if what in self.date_records:
                self._mark_date(what)
            self._hold_date(what, raw, final)
            self.dirty_intervals.update(final.counts)
            self.dirty_agent_days.update((agent, what) for agent in final.agents)
        else:
            self.load_legacy(what, value if isinstance(value, dict) else orjson.loads(value))

    def load_legacy(self, key: IntervalKey, record: FinalRecord) -> None:
        """Hold a legacy final record ``{"_p", "c": [4 counts], "a"?: {agent: [eligible,
        resolved]}}`` of one interval."""
        if key in self.legacy_final:
            self._unload_legacy(key)
        self.legacy_final[key] = record
        self._legacy_rows(key, record, 1)
        self.dirty_intervals.add(key)

    def _unload_legacy(self, key: IntervalKey) -> None:
        record = self.legacy_final.pop(key)
        self._legacy_rows(key, record, -1)
        self.dirty_intervals.add(key)

    def _legacy_rows(self, key: IntervalKey, record: FinalRecord, sign: int) -> None:
        if not record.get("a"):
            return
        day = self.date_of(key[1])
        rows = self.legacy_days.setdefault(day, {})
        for agent, row in record["a"].items():
            total = rows.setdefault(agent, [0, 0])
            total[0] += sign * row[0]
            total[1] += sign * row[1]
            if total[0] == 0 and total[1] == 0:
                del rows[agent]
            self.dirty_agent_days.add((agent, day))
        if not rows:
            del self.legacy_days[day]

    def _mark_date(self, day: str) -> None:
        """Every figure of ``day``'s record is to be published again (it changes or goes)."""
        final = self._date_final(day)
        self.dirty_intervals.update(final.counts)
        self.dirty_agent_days.update((agent, day) for agent in final.agents)

    def _expire_from(self, cutoff_ms: int) -> None:
        if self.expired_before_ms is None or cutoff_ms > self.expired_before_ms:
            self.expired_before_ms = cutoff_ms

    def expire_dates(self, cutoff_ms: int, limit: int) -> list[str]:
        """Records of dates whose every interval starts before ``cutoff_ms`` (retention_days),
        at most ``limit`` of them, forgotten; returns their dates (to tombstone). Their
        intervals' and agents' figures become tombstones unless something else still counts
        for them. From now on intervals before ``cutoff_ms`` are neither counted nor folded."""
        self._expire_from(cutoff_ms)
        gone = list(
            itertools.islice(
                (d for d in self.date_records if day_bounds_ms(date_cls.fromisoformat(d), self.tz)[1] <= cutoff_ms),
                limit,
            )
        )
        for day in gone:
            self._mark_date(day)
            del self.date_records[day]
            self.open_dates.pop(day, None)
            self._parsed = None
        return gone

    def expire_legacy(self, cutoff_ms: int, limit: int) -> list[IntervalKey]:
        """Legacy records of intervals starting before ``cutoff_ms``, at most ``limit`` of them,
        forgotten (with their rows); returns their keys (to tombstone)."""
        self._expire_from(cutoff_ms)
        gone = list(itertools.islice((k for k in self.legacy_final if k[1] < cutoff_ms), limit))
        for key in gone:
            self._unload_legacy(key)
        return gone

    def droppable(self, contacts: dict[str, Projection] | None, now_ms: int) -> list[str]:
        """Projections of one customer no longer needed: a root once its interval is closed
        and the last interval it can be context of is folded (``end of the interval holding
        offered + W``, + 2W, before ``now_ms``), with the legs of its chain; a leg whose root is
        missing by its own offer."""
        cur = contacts or {}
        verdict: dict[int, bool] = {}  # id(root projection) -> droppable
        out: list[str] = []
        for cid, proj in cur.items():
            root = _root_of(cur, proj)
            done = verdict.get(id(root))
            if done is None and root["o"] + 3 * self.window_ms >= now_ms:
                done = verdict[id(root)] = False  # the drop instant is later still (a cheap test first)
            if done is None:
                drop_at = self._fold_at_ms(
                    interval_start_ms(root["o"] + self.window_ms, self.tz, self.interval_minutes)
                )
                done = drop_at < now_ms and (
                    bool(root.get("p"))  # a leg without its root counts nowhere
                    or self._closed((root["q"], interval_start_ms(root["o"], self.tz, self.interval_minutes)))
                )
                verdict[id(root)] = done
            if done:
                out.append(cid)
        return out

    def expired(
        self, customers: Iterable[tuple[str, dict[str, Projection] | None]], cutoff_ms: int
    ) -> dict[str, list[str]]:
        """Contacts to forget (retention): per customer, those offered before ``cutoff_ms``."""
        out: dict[str, list[str]] = {}
        for customer, contacts in customers:
            old = [cid for cid, p in (contacts or {}).items() if p["o"] < cutoff_ms]
            if old:
                out[customer] = old
        return out
