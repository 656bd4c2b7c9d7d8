"""Retention: forget what ``retention_days`` no longer keeps (floorwatch.domain.retention
decides), from the tables and the in-memory aggregators, with changelog and output tombstones."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from floorwatch import topics
from floorwatch.domain.factcodec import peek, unpack
from floorwatch.domain.fcr import HOUR_MS, date_final_key, final_key
from floorwatch.domain.retention import (
    SLICE_SIZE,
    Horizon,
    adherence_keys_to_tombstone,
    forget_agents,
    plan_agent_expiry,
)
from floorwatch.streams.context import Worker, run_sliced
from floorwatch.streams.packed_store import key_slices

log = logging.getLogger("floorwatch.worker")


async def prune(ctx: Worker, now_ms: int, owned: set[int]) -> None:
    """Forget what ``retention_days`` no longer keeps (floorwatch.domain.retention decides):
    contacts and their FCR projections, agent-days records, agents; tombstones in the
    changelogs and, for forgotten agents and days, on fw.agent-status, fw.adherence,
    fw.alerts and fw.alert-acks. A slice of keys at a time, the event loop gets a turn in
    between; records of partitions not owned are left to their owner."""
    settings, st = ctx.settings, ctx.st
    started = time.monotonic()
    h = Horizon.at(now_ms, settings.tz, settings.retention_days)
    cut = {"contacts": await prune_contacts(ctx, h, owned), "customers": await prune_customers(ctx, h, now_ms)}
    cut.update(await prune_agents(ctx, h))
    for kind, n in cut.items():
        st.retention_cut[kind] = st.retention_cut.get(kind, 0) + n
    if any(cut.values()):
        log.info(
            "retention: before %s forgot %s in %.2f s",
            h.oldest_kept_day,
            {k: n for k, n in cut.items() if n},
            time.monotonic() - started,
        )


async def prune_contacts(ctx: Worker, h: Horizon, owned: set[int]) -> int:
    """Contacts offered before the cutoff: out of the table and their partition's aggregates."""
    contacts = ctx.tables.contacts
    expired: dict[str, int] = {}
    for keys in key_slices(contacts, SLICE_SIZE):
        for cid in keys:
            raw = contacts.data.get(cid)
            if raw is None:
                continue
            part, ref_ms = peek(raw)  # contact_expired without unpacking every contact
            if part not in owned or not ref_ms < h.cutoff_ms:
                continue
            f = unpack(raw)
            agg = ctx.st.aggregators.get(f["_p"])
            if agg is None:  # revoked meanwhile: the new owner prunes it
                continue
            del contacts.data[cid]
            agg.forget(cid, f)
            expired[cid] = f["_p"]
        await asyncio.sleep(0)
    await ctx.write_changelog(contacts, expired)
    return len(expired)


async def prune_customers(ctx: Worker, h: Horizon, now_ms: int) -> int:
    """FCR projections no longer needed (floorwatch.domain.fcr ``droppable``: context of
    folded intervals only), and any offered before the cutoff less the FCR window; final
    records of dates before the cutoff (and legacy records of intervals before it), counted
    in retention_cut["fcr_final"]; the published figures of their intervals and agents
    become tombstones."""
    st, fcr_final, customers = ctx.st, ctx.tables.fcr_final, ctx.tables.customers
    fcr_cutoff = h.cutoff_ms - round(ctx.settings.fcr.window_hours * HOUR_MS)
    mine = ctx.active(topics.CUSTOMER_CONTACTS)
    gone: dict[str, int] = {}
    for p in sorted(mine):
        agg = st.fcr.get(p)
        while agg is not None and (dates := agg.expire_dates(h.cutoff_ms, 1)):  # each parsed once
            for day in dates:
                name = date_final_key(day, p)
                if fcr_final.data.pop(name, None) is not None:
                    gone[name] = p
            await asyncio.sleep(0)
        while agg is not None and (keys := agg.expire_legacy(h.cutoff_ms, SLICE_SIZE)):
            for key in keys:
                name = final_key(key[0], key[1], p)
                if fcr_final.data.pop(name, None) is not None:
                    gone[name] = p
            await asyncio.sleep(0)
    await ctx.write_changelog(fcr_final, gone)
    st.retention_cut["fcr_final"] = st.retention_cut.get("fcr_final", 0) + len(gone)
    pruned: dict[str, int] = {}
    all_keys = list(customers.data)
    for start in range(0, len(all_keys), SLICE_SIZE):
        held: dict[int, list[tuple[str, Any]]] = {}
        for cu in all_keys[start : start + SLICE_SIZE]:
            rec = ctx.customer_record(cu)
            if rec is not None and rec.get("_p") in mine:
                held.setdefault(rec["_p"], []).append((cu, rec["c"]))
        for p, rows in held.items():
            agg = st.fcr.get(p)
            if agg is None:
                continue
            drops = agg.expired(rows, fcr_cutoff)
            for cu, contacts_now in rows:
                done = agg.droppable(contacts_now, now_ms)
                if done:
                    drops[cu] = drops.get(cu, []) + done
            for cu, cids in drops.items():
                # cu was read just above: its record is there
                left = {k: v for k, v in ctx.customer_contacts(cu).items() if k not in cids}  # type: ignore[union-attr]
                ctx.store_customer(cu, p, left)
                agg.update(cu, left, now_ms)
                pruned[cu] = p
        await asyncio.sleep(0)
    await ctx.write_changelog(customers, pruned)
    return len(pruned)


async def prune_agents(ctx: Worker, h: Horizon) -> dict[str, int]:
    """Day records dated before the oldest kept day, agents seen by neither an event since
    the cutoff nor a kept day record, and the output keys they leave behind."""
    st, agents, agent_days = ctx.st, ctx.tables.agents, ctx.tables.agent_days
    plan = await run_sliced(plan_agent_expiry(agents.data, agent_days.data, ctx.active(topics.AGENT_EVENTS), h))
    gone = await run_sliced(forget_agents(agents.data, agent_days.data, plan, h, touched=st.dirty_agents))
    await ctx.write_changelog(agent_days, gone.days)
    await ctx.write_changelog(agents, gone.agents)
    forgotten = set(gone.agent_ids)
    for aid in forgotten:
        st.next_check.pop(aid, None)  # else its adherence of "today" is published every minute
    # nothing republishes what is tombstoned below
    st.dirty_days = {(a, d) for a, d in st.dirty_days if a not in forgotten and not h.day_expired(d)}
    sent = 0

    async def tombstone(topic: str, key: str) -> None:
        nonlocal sent
        await ctx.topics.out[topic].send(key=key.encode(), value=None)
        sent += 1
        if sent % SLICE_SIZE == 0:
            await asyncio.sleep(0)

    for aid in gone.agent_ids:
        await tombstone(topics.AGENT_STATUS, aid)
    for alert_id in gone.alert_ids:  # acks are keyed by alert id
        await tombstone(topics.ALERTS, alert_id)
        await tombstone(topics.ALERT_ACKS, alert_id)
    adherence = 0
    for key in adherence_keys_to_tombstone(plan.kept | set(gone.skipped), gone, st.adherence_expired_before, h):
        await tombstone(topics.ADHERENCE, key)
        adherence += 1
    st.adherence_expired_before = h.oldest_kept_day
    return {
        "agent_days": len(gone.days),
        "agents": len(gone.agent_ids),
        "open_alerts": len(gone.alert_ids),
        "adherence_keys": adherence,
    }
