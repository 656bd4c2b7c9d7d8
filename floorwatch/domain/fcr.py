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
it. Folding turns its live counts into one *final record* ``{"_p", "c": [customer contacts,
repeats, eligible, resolved]}`` (table ``fcr-final``) and adds its agents' ``[eligible,
resolved]`` rows to the *day record* of its local date and partition ``{"_p", "a": {agent:
[eligible, resolved]}}`` (table ``fcr-agent-final``, key ``"{date}|{partition}"``): the
agents' final figures are kept once per (date, partition), not once per interval (an agent
answers in many intervals of a day: per interval they cost ~290 bytes a retained contact).
The day record is held as its JSON bytes (``Fold.days``, ``load_day``); the aggregator keeps
its rows parsed only while the date can still change (a live interval of it), and reads a
closed date's bytes when a figure of it is asked for. The worker persists a fold's interval
records before its day records: killed in between, it misses those agents' rows (an
undercount), never counts them twice. A final record that still holds ``"a"`` (written before
day records existed) is accepted: its rows count for its date.

A contact of a folded interval is never counted live again, and a projection that would change
one (a late record) is refused by ``accepts``. Projections stay in the customers table
uncounted, as context of newer contacts, until ``droppable`` says the last interval they can
affect is folded too (``offered + 3W``, rounded up to an interval end). While a projection
whose offer lies within W of an interval was accepted in the last ``fold_quiet_ms`` (a replay
of past days still streaming in), that interval is not folded yet. Final records and day
records expire with retention (``expire_final``, ``expire_days``).
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
# {"_p": partition, "c": [customer, repeat, eligible, resolved]} (written before day records
# existed: also "a": {agent: [eligible, resolved]})
FinalRecord = dict[str, Any]
AgentRows = dict[str, list[int]]  # agent -> [eligible, resolved]
HOUR_MS = 3_600_000
FOLD_PER_PASS = 2_000  # intervals one publisher pass folds at most (the rest: the next pass)
FOLD_SLICE = 200  # final records built between two turns of the event loop
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


def final_key(queue: str, start_ms: int, partition: int) -> str:
    """Key of an interval's final record in the ``fcr-final`` table."""
    return f"{queue}|{start_ms}|{partition}"


def parse_final_key(key: str) -> tuple[IntervalKey, int]:
    """``((queue, start_ms), partition)`` of a final record's key (a queue may contain ``|``)."""
    queue, start, part = key.rsplit("|", 2)
    return (queue, int(start)), int(part)


def agent_final_key(day: str, partition: int) -> str:
    """Key of a day record (agents' final figures of a local date) in ``fcr-agent-final``."""
    return f"{day}|{partition}"


def parse_agent_final_key(key: str) -> tuple[str, int]:
    """``(date, partition)`` of a day record's key."""
    day, part = key.rsplit("|", 1)
    return day, int(part)


def day_record(partition: int, rows: AgentRows) -> bytes:
    """A day record's value as the table holds it (JSON bytes, ``_p`` first)."""
    return orjson.dumps({"_p": partition, "a": rows})


def day_record_rows(value: bytes | dict[str, Any]) -> AgentRows:
    """The agents' rows of a day record (its bytes, or a dict where a store decoded the JSON)."""
    rec = value if isinstance(value, dict) else orjson.loads(value)
    rows: AgentRows = rec["a"]
    return rows


_PARTITION_PREFIX = re.compile(rb'\{"_p":(\d+)[,}]')


def day_record_partition(value: bytes | dict[str, Any]) -> int | None:
    """The partition of a day record without parsing its rows (``_p`` comes first)."""
    if isinstance(value, dict):
        return value.get("_p")
    m = _PARTITION_PREFIX.match(value)
    if m is not None:
        return int(m.group(1))
    part = orjson.loads(value).get("_p")
    return part if isinstance(part, int) else None


def by_date(agent_days: Iterable[AgentDay]) -> dict[str, list[str]]:
    """Agents per date: figures read a date at a time parse each closed day record once."""
    out: dict[str, list[str]] = {}
    for agent, day in agent_days:
        out.setdefault(day, []).append(agent)
    return out


@dataclass(slots=True)
class Fold:
    """What folding some intervals of one partition writes: ``intervals`` (their final records,
    table ``fcr-final``) and, once ``FcrAggregator.finish_fold`` ran, ``days`` (the complete
    day record of each local date they belong to, table ``fcr-agent-final``: the date's
    earlier folds plus these intervals' agents' rows)."""

    partition: int
    intervals: dict[IntervalKey, FinalRecord] = field(default_factory=dict)
    agent_rows: dict[str, AgentRows] = field(default_factory=dict)  # date -> the folded intervals' rows
    days: dict[str, bytes] = field(default_factory=dict)


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
    closed, so FCR matures without new events. Final: ``final[(queue, start_ms)]`` holds the
    final record of a folded interval; ``day_records[date]`` the bytes of the date's day record
    (its agents' final sums), parsed in ``open_days`` only while the date has live intervals;
    ``legacy_days`` the rows of final records that still hold ``"a"``.
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
    final: dict[IntervalKey, FinalRecord] = field(default_factory=dict)
    day_records: dict[str, bytes] = field(default_factory=dict)  # date -> day record (JSON bytes)
    open_days: dict[str, AgentRows] = field(default_factory=dict)  # parsed day records of live dates
    live_per_date: dict[str, int] = field(default_factory=dict)  # date -> live intervals of it
    legacy_days: dict[str, AgentRows] = field(default_factory=dict)  # rows of final records with "a"
    _parsed: tuple[str, bytes, AgentRows] | None = None  # the last closed day record read
    folding: set[IntervalKey] = field(default_factory=set)  # final record written, not yet acknowledged
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
                start = held[1]
            else:
                start = interval_start_ms(fcr.offered_ms, self.tz, self.interval_minutes)
            closed = self._closed((fcr.queue, start))
            if held is not None:
                if not closed and held[0] == fcr and held[3] == customer:
                    kept.add(cid)
                    continue
                self._remove(cid)  # changed, moved here from another customer, or folded
            if closed:
                continue
            self._add(cid, fcr, customer, start)
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

    def _add(self, cid: str, fcr: ContactFcr, customer: str, start: int) -> None:
        day = local_date(fcr.offered_ms, self.tz).isoformat()
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
        if key not in self.final and key in self.intervals:  # else folded (then perhaps expired)
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
        """A live interval of ``day`` appeared: the date can change, its day record is parsed."""
        n = self.live_per_date.get(day, 0)
        self.live_per_date[day] = n + 1
        if n == 0 and day in self.day_records:
            self.open_days[day] = day_record_rows(self.day_records[day])

    def _live_gone(self, day: str) -> None:
        """A live interval of ``day`` left (folded or emptied): the last one closes the date."""
        n = self.live_per_date[day] - 1
        if n:
            self.live_per_date[day] = n
        else:
            del self.live_per_date[day]
            self.open_days.pop(day, None)

    def take_dirty(self) -> tuple[set[IntervalKey], set[AgentDay]]:
        intervals, days = self.dirty_intervals, self.dirty_agent_days
        self.dirty_intervals, self.dirty_agent_days = set(), set()
        self._parsed = None
        return intervals, days

    # --- what is published: final + live -------------------------------------------------------

    def interval_figures(self, key: IntervalKey) -> Counts | None:
        """The interval's figures (final + live); ``None`` when it has no customer contact."""
        live = self.intervals.get(key)
        rec = self.final.get(key)
        if rec is None:
            return live
        c = rec["c"]
        out = Counts(customer_contacts=c[0], repeat_contacts=c[1], fcr_eligible=c[2], fcr_resolved=c[3])
        if live is not None:
            out.customer_contacts += live.customer_contacts
            out.repeat_contacts += live.repeat_contacts
            out.fcr_eligible += live.fcr_eligible
            out.fcr_resolved += live.fcr_resolved
        return out if out.customer_contacts else None

    def agent_day_figures(self, akey: AgentDay) -> list[int] | None:
        """``[eligible, resolved]`` of an agent's day (final + live); ``None`` when nothing.

        A closed date's day record is parsed on demand; the last one read is kept until
        ``take_dirty`` (ask for a date's agents together: see ``by_date``)."""
        agent, day = akey
        out: list[int] | None = None
        for row in (self._day_rows(day).get(agent), self.legacy_days.get(day, {}).get(agent),
                    self.agent_days.get(akey)):
            if row is not None:
                out = list(row) if out is None else [out[0] + row[0], out[1] + row[1]]
        return out

    def _day_rows(self, day: str) -> AgentRows:
        """The rows of ``day``'s day record (empty without one); not to be changed."""
        rows = self.open_days.get(day)
        if rows is not None:
            return rows
        raw = self.day_records.get(day)
        if raw is None:
            return {}
        held = self._parsed
        if held is not None and held[0] == day and held[1] is raw:
            return held[2]
        rows = day_record_rows(raw)
        self._parsed = (day, raw, rows)
        return rows

    def agent_day_keys(self) -> Iterator[AgentDay]:
        """Every (agent, date) that has a figure (final or live); parses every day record."""
        seen: set[AgentDay] = set(self.agent_days)
        for day in self.day_records:
            seen.update((agent, day) for agent in self._day_rows(day))
        for day, rows in self.legacy_days.items():
            seen.update((agent, day) for agent in rows)
        return iter(seen)

    # --- finality ---------------------------------------------------------------------------------

    def _fold_at_ms(self, start: int) -> int:
        """The instant after which an interval's contributions are final: its end + 2W."""
        return interval_end_ms(start, self.tz, self.interval_minutes) + 2 * self.window_ms

    def _closed(self, key: IntervalKey) -> bool:
        """Folded or expired: its contacts are context only, never counted live."""
        return key in self.final or (self.expired_before_ms is not None and key[1] < self.expired_before_ms)

    def _interval_of(self, contacts: dict[str, Projection], proj: Projection) -> tuple[IntervalKey, int]:
        """The interval a projection counts in (its chain root's) and that root's offer."""
        root = _root_of(contacts, proj)
        return (root["q"], interval_start_ms(root["o"], self.tz, self.interval_minutes)), root["o"]

    def accepts(self, contacts: dict[str, Projection] | None, contact_id: str, value: Projection | None,
                now_ms: int) -> bool:
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

    def final_record(self, key: IntervalKey, partition: int) -> FinalRecord:
        """The final record of an interval from its live counts (their values at this instant)."""
        counts = self.intervals.get(key) or Counts()
        return {"_p": partition,
                "c": [counts.customer_contacts, counts.repeat_contacts, counts.fcr_eligible, counts.fcr_resolved]}

    def fold_interval(self, fold: Fold, key: IntervalKey) -> None:
        """Add an interval (from ``due_folds``) to ``fold``: its final record and its agents' rows."""
        fold.intervals[key] = self.final_record(key, fold.partition)
        agents = self.interval_agents.get(key)
        if agents:
            rows = fold.agent_rows.setdefault(local_date(key[1], self.tz).isoformat(), {})
            for agent, row in agents.items():
                held = rows.setdefault(agent, [0, 0])
                held[0] += row[0]
                held[1] += row[1]

    def finish_fold(self, fold: Fold) -> None:
        """``fold.days``: each date's day record with the folded intervals' rows added (the
        records held are left as they are until ``apply_fold``)."""
        for day, added in fold.agent_rows.items():
            rows = dict(self._day_rows(day))
            for agent, row in added.items():
                held = rows.get(agent)
                rows[agent] = list(row) if held is None else [held[0] + row[0], held[1] + row[1]]
            fold.days[day] = day_record(fold.partition, rows)

    def fold(self, keys: Iterable[IntervalKey], partition: int) -> Fold:
        """``fold_interval`` for every key of ``keys``, then ``finish_fold``."""
        out = Fold(partition)
        for key in keys:
            self.fold_interval(out, key)
        self.finish_fold(out)
        return out

    def apply_fold(self, fold: Fold) -> None:
        """The fold's records are persisted (acknowledged): they replace the intervals' live
        counts, whatever they became meanwhile (a change after ``end + 2W`` is late).
        Idempotent: applying a fold again changes nothing."""
        for key, record in fold.intervals.items():
            self.folding.discard(key)
            if key in self.final:
                continue
            live = self.intervals.pop(key, None)
            day = local_date(key[1], self.tz).isoformat()
            if live is not None:
                self._live_gone(day)
            for agent, row in self.interval_agents.pop(key, {}).items():
                akey = (agent, day)
                total = self.agent_days[akey]
                total[0] -= row[0]
                total[1] -= row[1]
                if total[0] == 0:
                    del self.agent_days[akey]
                self.dirty_agent_days.add(akey)
            self.load_final(key, record)
        for day, raw in fold.days.items():
            self._set_day(day, raw, dirty=False)  # its agents were marked with the live rows

    def load_final(self, key: IntervalKey, record: FinalRecord) -> None:
        """Hold an interval's final record (on a fold, or on a rebuild from the table); the
        rows of one that still holds ``"a"`` count for its date."""
        if key in self.final:
            self._unload_final(key)
        self.final[key] = record
        self._legacy_rows(key, record, 1)
        self.dirty_intervals.add(key)

    def _unload_final(self, key: IntervalKey) -> None:
        record = self.final.pop(key)
        self._legacy_rows(key, record, -1)
        self.dirty_intervals.add(key)

    def _legacy_rows(self, key: IntervalKey, record: FinalRecord, sign: int) -> None:
        if not record.get("a"):
            return
        day = local_date(key[1], self.tz).isoformat()
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

    def load_day(self, day: str, value: bytes | dict[str, Any]) -> None:
        """Hold a date's day record (on a rebuild from the table; a dict where the store
        decoded its JSON); its agents' figures are to be published."""
        self._set_day(day, value if isinstance(value, bytes) else orjson.dumps(value), dirty=True)

    def _set_day(self, day: str, raw: bytes, dirty: bool) -> None:
        old = self.day_records.get(day)
        if old is not None and old is not raw and old != raw:
            self.dirty_agent_days.update((agent, day) for agent in self._day_rows(day))
        self.day_records[day] = raw
        rows = None
        if day in self.live_per_date:
            rows = self.open_days[day] = day_record_rows(raw)
        else:
            self.open_days.pop(day, None)
        if dirty:
            self.dirty_agent_days.update((agent, day) for agent in (rows if rows is not None
                                                                      else day_record_rows(raw)))

    def expire_final(self, cutoff_ms: int, limit: int) -> list[IntervalKey]:
        """Final records of intervals starting before ``cutoff_ms`` (retention_days), at most
        ``limit`` of them, forgotten; returns their keys (to tombstone). From now on those
        intervals are neither counted nor folded."""
        if self.expired_before_ms is None or cutoff_ms > self.expired_before_ms:
            self.expired_before_ms = cutoff_ms
        gone = [key for key in itertools.islice((k for k in self.final if k[1] < cutoff_ms), limit)]
        for key in gone:
            self._unload_final(key)
        return gone

    def expire_days(self, cutoff_ms: int, limit: int) -> list[str]:
        """Day records of dates whose every interval starts before ``cutoff_ms``, at most
        ``limit`` of them, forgotten; returns their dates (to tombstone). Their agents'
        figures become tombstones unless something else still counts for them."""
        if self.expired_before_ms is None or cutoff_ms > self.expired_before_ms:
            self.expired_before_ms = cutoff_ms
        gone = list(itertools.islice(
            (d for d in self.day_records if day_bounds_ms(date_cls.fromisoformat(d), self.tz)[1] <= cutoff_ms),
            limit))
        for day in gone:
            self.dirty_agent_days.update((agent, day) for agent in self._day_rows(day))
            del self.day_records[day]
            self.open_days.pop(day, None)
            self._parsed = None
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
                drop_at = self._fold_at_ms(interval_start_ms(root["o"] + self.window_ms, self.tz,
                                                             self.interval_minutes))
                done = drop_at < now_ms and (
                    bool(root.get("p"))  # a leg without its root counts nowhere
                    or self._closed((root["q"], interval_start_ms(root["o"], self.tz, self.interval_minutes))))
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
