"""First contact resolution (FCR) and repeat contacts, derived per customer (docs/metrics.md §8).

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
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from floorwatch.domain.contacts import Facts, outcome
from floorwatch.domain.intervals import interval_start_ms, local_date
from floorwatch.domain.queue_metrics import ANSWERED, Counts

Projection = dict  # {"o": offered_ms, "q": queue, "p": parent | None, "a": agent | None, "r": False | None}
HOUR_MS = 3_600_000


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


@dataclass(slots=True)
class FcrAggregator:
    """FCR partials of one partition of the customer topic, rebuilt from the customers table.

    ``intervals[(queue, start_ms)]`` holds ``Counts`` with only the FCR fields set;
    ``agent_days[(agent, date)]`` holds ``[eligible, resolved]``. ``advance(now)`` re-derives
    customers whose contacts' windows closed, so FCR matures without new events.
    """

    tz: ZoneInfo
    interval_minutes: int
    window_ms: int
    intervals: dict[tuple[str, int], Counts] = field(default_factory=dict)
    agent_days: dict[AgentDay, list[int]] = field(default_factory=dict)
    by_contact: dict[str, tuple[ContactFcr, int, str, str]] = field(default_factory=dict)  # + start, date, customer
    by_customer: dict[str, set[str]] = field(default_factory=dict)
    closing: list[tuple[int, str]] = field(default_factory=list)  # heap of (closes_ms, customer)
    dirty_intervals: set[tuple[str, int]] = field(default_factory=set)
    dirty_agent_days: set[AgentDay] = field(default_factory=set)

    def update(self, customer: str, contacts: dict[str, Projection] | None, now_ms: int) -> None:
        """Re-derive one customer's contacts (idempotent)."""
        derived = derive(contacts or {}, now_ms, self.window_ms)
        old_ids = self.by_customer.get(customer, set())
        for cid in old_ids - derived.keys():
            if self.by_contact[cid][3] == customer:
                self._remove(cid)
        for cid, fcr in derived.items():
            held = self.by_contact.get(cid)
            if held is not None:
                if held[0] == fcr and held[3] == customer:
                    continue
                self._remove(cid)  # changed, or moved here from another customer
            self._add(cid, fcr, customer)
            if not fcr.eligible and fcr.agent is not None and fcr.closes_ms > now_ms:
                heapq.heappush(self.closing, (fcr.closes_ms, customer))
        if derived:
            self.by_customer[customer] = set(derived)
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

    def _add(self, cid: str, fcr: ContactFcr, customer: str) -> None:
        start = interval_start_ms(fcr.offered_ms, self.tz, self.interval_minutes)
        day = local_date(fcr.offered_ms, self.tz).isoformat()
        self.by_contact[cid] = (fcr, start, day, customer)
        self._count(fcr, start, day, 1)

    def _remove(self, cid: str) -> None:
        """Uncount a contact and drop it from the customer that holds it."""
        fcr, start, day, owner = self.by_contact.pop(cid)
        owned = self.by_customer.get(owner)
        if owned is not None:
            owned.discard(cid)
        self._count(fcr, start, day, -1)

    def _count(self, fcr: ContactFcr, start: int, day: str, sign: int) -> None:
        key = (fcr.queue, start)
        counts = self.intervals.get(key)
        if counts is None:
            counts = self.intervals[key] = Counts()
        counts.customer_contacts += sign
        counts.repeat_contacts += sign * fcr.repeat
        counts.fcr_eligible += sign * fcr.eligible
        counts.fcr_resolved += sign * fcr.resolved
        if counts.customer_contacts == 0:
            del self.intervals[key]
        self.dirty_intervals.add(key)
        if fcr.eligible and fcr.agent is not None:
            akey = (fcr.agent, day)
            row = self.agent_days.setdefault(akey, [0, 0])
            row[0] += sign
            row[1] += sign * fcr.resolved
            if row[0] == 0:
                del self.agent_days[akey]
            self.dirty_agent_days.add(akey)

    def take_dirty(self) -> tuple[set[tuple[str, int]], set[AgentDay]]:
        intervals, days = self.dirty_intervals, self.dirty_agent_days
        self.dirty_intervals, self.dirty_agent_days = set(), set()
        return intervals, days

    def expired(self, customers: Iterable[tuple[str, dict[str, Projection] | None]], cutoff_ms: int) -> dict[str, list[str]]:
        """Contacts to forget (retention): per customer, those offered before ``cutoff_ms``."""
        out: dict[str, list[str]] = {}
        for customer, contacts in customers:
            old = [cid for cid, p in (contacts or {}).items() if p["o"] < cutoff_ms]
            if old:
                out[customer] = old
        return out
