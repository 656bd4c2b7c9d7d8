"""Per-contact lifecycle as a set of facts: order-independent and idempotent.

Each event sets one fact; when two different events claim the same fact (two answers, say),
the earliest ``(ts, event hash)`` wins, where the event hash is ``event_hash(event_id)``, a
64-bit BLAKE2b hash of the event id: a duplicate (same id, same time) changes nothing, and
two different events at the same millisecond are ordered by their hashes, never by arrival.
Holds are kept one per event hash. Only the hash is stored, not the id: two different ids of
one contact share a hash with odds of 2^-64 (5.4e-20) a pair, ~6e-9 over a billion contacts
of 15 events each; it matters only for two holds, or two claims of one fact at the same
millisecond, where one of the two would be taken for a duplicate of the other. A contact
contributes to queue figures once its ``contact.offered`` is known; events that arrive
before it are kept, not dropped.

Facts are a JSON-ready dict with short keys (they are the worker's only persisted contact
state; floorwatch.domain.factcodec packs them into one bytes value): ``o`` offered
``[ts, eh]`` (``eh``: event hash, an int in ``[0, 2**64)``), ``q`` queue, ``ch`` channel,
``cu`` hashed customer, ``p`` parent contact, ``r`` rules ``[T_ms, short_ms, target,
formula]``, ``a`` answered ``[ts, eh, agent]``, ``b`` abandoned ``[ts, eh]``, ``f``
overflowed ``[ts, eh, reason]``, ``e`` ended ``[ts, eh, agent]``, ``x`` transferred
``[ts, eh, agent, to_queue]``, ``w`` wrap-up ended ``[ts, eh, agent, resolved]``, ``h``
holds ``[[eh, 1|0, ts], ...]`` sorted by ``eh`` (1: started), ``s`` survey
``[ts, eh, score, agent]``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from floorwatch.domain.queue_metrics import (
    ABANDONED,
    ANSWERED,
    OVERFLOWED,
    WAITING,
    Contribution,
    QueueRules,
)

Facts = dict[str, Any]

_SLOT_BY_TYPE = {
    "contact.answered": "a",
    "contact.abandoned": "b",
    "contact.overflowed": "f",
    "contact.ended": "e",
    "contact.transferred": "x",
    "contact.wrapup_ended": "w",
    "survey.completed": "s",
}


CUSTOMER_HASH_HEX_CHARS = 24  # 96 bits: collisions negligible, facts stay small


def hash_customer(customer: str, key: bytes) -> str:
    """Customer ids are stored only as a keyed hash: the first 24 hex digits of
    HMAC-SHA-256(key, customer). Without the key a stored hash cannot be matched against a
    list of phone numbers or e-mail addresses (an unkeyed hash of a phone number is reversed
    by trying them all). Another key gives other hashes, so first contact resolution, which
    links a customer's contacts by this hash, starts afresh after a key change."""
    if not key:
        raise ValueError("customer_key must not be empty (privacy.customer_hash_key)")
    return hmac.new(key, customer.encode("utf-8"), hashlib.sha256).hexdigest()[:CUSTOMER_HASH_HEX_CHARS]


def event_hash(event_id: str) -> int:
    """What a fact keeps of its event id: the 8-byte BLAKE2b digest of the id's UTF-8 bytes
    as an unsigned big-endian integer. Stable across processes and versions (it is stored and
    it orders same-millisecond events)."""
    return int.from_bytes(hashlib.blake2b(event_id.encode("utf-8"), digest_size=8).digest(), "big")


MAX_HOLD_EVENTS_PER_CONTACT = 200  # starts and ends: 100 holds; each hold event costs O(holds)


class FactLimitError(ValueError):
    """An event the facts refuse to grow by (a limit, not a defect); ``reason`` is short and
    stable: the worker dead-letters the event with it."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _earlier(new: list[Any], old: list[Any] | None) -> bool:
    return old is None or (new[0], new[1]) < (old[0], old[1])


def apply_event(
    facts: Facts | None,
    ev: dict[str, Any],
    ts_ms: int,
    rules_for: Callable[[str], QueueRules],
    *,
    customer_key: bytes,
) -> Facts | None:
    """Facts after ``ev`` (a validated contact event as a dict); ``None`` when nothing changed.

    ``customer_key`` is the HMAC key the offer's customer id is hashed with (``hash_customer``).

    ``rules_for(queue)`` gives the rules in force now; they are captured the first time the
    contact's offer is seen, so later config changes never rewrite it.
    """
    cur: Facts = facts if facts is not None else {}
    etype = ev["type"]
    eid = event_hash(ev["event_id"])
    if etype == "contact.offered":
        entry: list[Any] = [ts_ms, eid]
        if not _earlier(entry, cur.get("o")):
            return None
        new = dict(cur)
        new["o"] = entry
        new["q"] = ev["queue"]
        new["ch"] = ev["channel"]
        # every offer-derived fact comes from the winning (earliest) offer alone
        new.pop("cu", None)
        new.pop("p", None)
        if ev.get("customer"):
            new["cu"] = hash_customer(ev["customer"], customer_key)
        if ev.get("parent_contact_id"):
            new["p"] = ev["parent_contact_id"]
        if "r" not in new:
            rules = rules_for(ev["queue"])
            new["r"] = [rules.sl_threshold_ms, rules.short_abandon_ms, rules.sl_target, rules.sl_formula]
        return new
    if etype in ("contact.hold_started", "contact.hold_ended"):
        holds = cur.get("h") or []
        if any(hold[0] == eid for hold in holds):
            return None
        if len(holds) >= MAX_HOLD_EVENTS_PER_CONTACT:
            raise FactLimitError(
                f"contact already has {len(holds)} hold events (at most {MAX_HOLD_EVENTS_PER_CONTACT})",
                "too_many_holds",
            )
        new = dict(cur)
        # sorted by event hash (unique within the list): the same holds give an equal list
        new["h"] = sorted([*holds, [eid, 1 if etype == "contact.hold_started" else 0, ts_ms]])
        return new
    slot = _SLOT_BY_TYPE.get(etype)
    if slot is None:
        raise ValueError(f"not a contact event: {etype!r}")
    if slot == "a":
        entry = [ts_ms, eid, ev["agent_id"]]
    elif slot == "b":
        entry = [ts_ms, eid]
    elif slot == "f":
        entry = [ts_ms, eid, ev["reason"]]
    elif slot == "e":
        entry = [ts_ms, eid, ev["agent_id"]]
    elif slot == "x":
        entry = [ts_ms, eid, ev["agent_id"], ev["to_queue"]]
    elif slot == "w":
        entry = [ts_ms, eid, ev["agent_id"], ev.get("resolved")]
    else:
        entry = [ts_ms, eid, ev["score"], ev["agent_id"]]
    if not _earlier(entry, cur.get(slot)):
        return None
    new = dict(cur)
    new[slot] = entry
    return new


def hold_ms(facts: Facts, until_ms: int) -> int:
    """Total hold time: each start paired with the next end; an open hold lasts until ``until_ms``."""
    holds = facts.get("h")
    if not holds:
        return 0
    total = 0
    started: int | None = None
    for ts, is_start in sorted((v[2], v[1]) for v in holds):
        if is_start:
            if started is None:
                started = ts
        elif started is not None:
            total += max(0, min(ts, until_ms) - started)
            started = None
    if started is not None:
        total += max(0, until_ms - started)
    return total


def outcome(facts: Facts) -> tuple[str, int | None]:
    """(outcome, outcome time): the earliest of answered / abandoned / overflowed."""
    best: tuple[int, int, str] | None = None
    for rank, (slot, name) in enumerate((("a", ANSWERED), ("b", ABANDONED), ("f", OVERFLOWED))):
        entry = facts.get(slot)
        if entry is not None and (best is None or (entry[0], rank) < (best[0], best[1])):
            best = (entry[0], rank, name)
    if best is None:
        return WAITING, None
    return best[2], best[0]


def end_ms(facts: Facts) -> int | None:
    """End of the conversation: ``contact.ended``, or the transfer when that came first."""
    ends = [facts[s][0] for s in ("e", "x") if s in facts]
    return min(ends) if ends else None


def contribution(facts: Facts) -> Contribution | None:
    """What the contact adds to its offered interval; ``None`` until its offer is known."""
    offered = facts.get("o")
    if offered is None:
        return None
    offered_ms = offered[0]
    survey = facts.get("s")
    score = int(survey[2]) if survey is not None else None  # the earliest survey of the contact
    result, at_ms = outcome(facts)
    if at_ms is None:
        return Contribution(offered_ms=offered_ms, outcome=WAITING, survey_score=score)
    threshold_ms, short_ms = facts["r"][0], facts["r"][1]
    wait = max(0, at_ms - offered_ms)
    if result == ANSWERED:
        answered_ms = at_ms
        ended = end_ms(facts)
        if ended is None or ended < answered_ms:
            return Contribution(offered_ms, ANSWERED, wait, within_sl=wait <= threshold_ms, survey_score=score)
        hold = hold_ms(facts, ended)
        talk = max(0, ended - answered_ms - hold)
        wrapup = facts.get("w")
        wrap = max(0, wrapup[0] - ended) if wrapup is not None else 0
        x, e = facts.get("x"), facts.get("e")
        return Contribution(
            offered_ms,
            ANSWERED,
            wait,
            within_sl=wait <= threshold_ms,
            handled=True,
            talk_ms=talk,
            hold_ms=hold,
            wrap_ms=wrap,
            transferred=x is not None and (e is None or e[0] >= x[0]),  # the end is the transfer
            survey_score=score,
        )
    if result == ABANDONED:
        return Contribution(
            offered_ms,
            ABANDONED,
            wait,
            short_abandon=wait < short_ms,
            abandoned_within_sl=wait <= threshold_ms,
            survey_score=score,
        )
    return Contribution(offered_ms, OVERFLOWED, wait, survey_score=score)


def rules_of(facts: Facts) -> QueueRules | None:
    r = facts.get("r")
    return None if r is None else QueueRules(r[0], r[1], r[2], r[3])


def reference_ms(facts: Facts) -> int:
    """The time retention is measured from: the offer, else the latest fact seen."""
    if "o" in facts:
        return int(facts["o"][0])
    times = [v[0] for k, v in facts.items() if k in ("a", "b", "f", "e", "x", "w", "s")]
    times += [v[2] for v in facts.get("h") or ()]
    return max(times, default=0)
