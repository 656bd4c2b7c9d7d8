"""Live push for ``GET /ws``: pure state/diff/merge functions, a latest-state mailbox, the hub.

A *state* is what one websocket client sees, by section and id::

    {"queues": {queue: row}, "agents": {agent_id: row}, "alerts": {alert_id: row}}

(rows as in ``/api/v1/queues``, ``/api/v1/agents`` and ``/api/v1/alerts?state=firing``).
A *change set* says how to get from one state to the next, only for sections that changed::

    {"queues": {"upsert": {queue: row}, "remove": {queue, ...}}, ...}

``diff(prev, cur)`` makes one, ``apply(state, changes)`` replays it, ``merge(a, b)`` folds two
consecutive change sets into one with ``apply(apply(s, a), b) == apply(s, merge(a, b))``.

``Mailbox`` is a client's single pending slot: a snapshot or a change set not yet sent (or a
heartbeat). New changes merge into it, so a slow client never has more than one message
waiting and always receives the latest state; its slowness costs nobody else anything.

``Hub`` is one task per app: when the view changes (at most every ``gap_after`` seconds: 25 ms,
or longer after a step that queued many frames) and at least every ``tick_s`` it computes the
full state from the ``View`` at an explicit ``now_ms`` (only when the view changed, or the
clock moved a second for the live ``longest_wait_s``; of the agents only the rows whose
``fw.agent-status`` records changed, of the alerts only after an alert or ack changed: while the
worker catches up the view changes every step, and rebuilding every agent row each time cost
the API a fifth of a core), derives each distinct filter's state,
diffs it against that filter's previous state and drops the change set into each
subscriber's mailbox, together with one ``SharedFrame`` per filter: a subscriber whose slot
was empty sends that frame, serialised once for all of them; only a subscriber that still had
changes pending gets a merged frame of its own. Heartbeats are put per filter by the hub too
(one shared ``ping`` when a filter had nothing for ``ping_s``, or for ``silent_ping_s`` while the
newest worker heartbeat is stale), so a client's send loop waits on its mailbox alone, with no
timer of its own. Every frame carries ``worker`` (``worker_field``: the age of the newest worker
heartbeat at ``server_ts``) once the API has read one, for the page's freshness badge.

Values that move with the clock are sent as instants (``since``, ``out_of_adherence_since``,
``oldest_waiting``) for the browser to tick; ``longest_wait_s`` is recomputed at most once a
second (on whole seconds of ``now_ms``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from floorwatch import topics
from floorwatch.config import Settings
from floorwatch.domain.intervals import interval_start_ms
from floorwatch.readmodel import queries
from floorwatch.readmodel.view import View

log = logging.getLogger(__name__)

SECTIONS = ("queues", "agents", "alerts")
ID_FIELDS = {"queues": "queue", "agents": "agent_id", "alerts": "id"}
TICK_S = 0.1
MIN_GAP_S = 0.025  # changes arriving closer together are pushed as one delta
PING_S = 5.0
SILENT_PING_S = 1.0  # heartbeat period while the worker is silent (its age in the frame moves the badge)
# agent keys remembered as changed between two hub steps; beyond it the step rebuilds every agent row
MAX_CHANGED_AGENTS = 10_000
ALERT_TOPICS = frozenset({topics.ALERTS, topics.ALERT_ACKS})

State = dict[str, dict[str, dict[str, Any]]]
Changes = dict[str, dict[str, Any]]  # section -> {"upsert": {id: row}, "remove": set[id]}


# -- pure -------------------------------------------------------------------------------


def empty_state() -> State:
    return {s: {} for s in SECTIONS}


def diff(prev: State, cur: State) -> Changes:
    """What changed from ``prev`` to ``cur`` (rows compared whole); ``{}`` when nothing did."""
    out: Changes = {}
    for section in SECTIONS:
        before, after = prev.get(section, {}), cur.get(section, {})
        if before is after:  # a section the hub reused as is: nothing in it changed
            continue
        # a row object carried over unchanged is the same object: skip comparing its contents
        upsert = {k: row for k, row in after.items() if (old := before.get(k)) is not row and old != row}
        remove = {k for k in before if k not in after}
        if upsert or remove:
            out[section] = {"upsert": upsert, "remove": remove}
    return out


def apply(state: State, changes: Changes) -> State:
    """``state`` with ``changes`` applied (a new object; the input is not modified)."""
    out = {s: dict(state.get(s, {})) for s in SECTIONS}
    for section, change in changes.items():
        table = out[section]
        for k in change["remove"]:
            table.pop(k, None)
        table.update(change["upsert"])
    return out


def merge(first: Changes, then: Changes) -> Changes:
    """One change set equivalent to applying ``first`` then ``then``."""
    out: Changes = {s: {"upsert": dict(c["upsert"]), "remove": set(c["remove"])} for s, c in first.items()}
    for section, change in then.items():
        slot = out.setdefault(section, {"upsert": {}, "remove": set()})
        for k in change["remove"]:
            slot["upsert"].pop(k, None)
            slot["remove"].add(k)
        for k, row in change["upsert"].items():
            slot["remove"].discard(k)
            slot["upsert"][k] = row
    return out


@dataclass(frozen=True, slots=True)
class Filter:
    """``?queue=`` (comma-separated ids) and ``?team=`` of a websocket."""

    queues: frozenset[str] | None = None
    team: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"queue": sorted(self.queues) if self.queues is not None else None, "team": self.team}


class BadFilter(ValueError):
    pass


def parse_filter(queue: str | None, team: str | None, *, max_len: int = 256, max_queues: int = 50) -> Filter:
    queues: frozenset[str] | None = None
    if queue is not None:
        if len(queue) > max_len * max_queues:
            raise BadFilter("queue filter too long")
        ids = [q.strip() for q in queue.split(",") if q.strip()]
        if not ids or len(ids) > max_queues or any(len(q) > max_len for q in ids):
            raise BadFilter(f"queue: 1 to {max_queues} comma-separated ids of at most {max_len} characters")
        queues = frozenset(ids)
    if team is not None and not 0 < len(team) <= max_len:
        raise BadFilter(f"team: 1 to {max_len} characters")
    return Filter(queues, team or None)


def select(full: State, flt: Filter) -> State:
    """The part of the full state a filter shows.

    ``queue``: those queues' tiles, the agents serving any of them, and their alerts.
    ``team``: that team's agents and their adherence alerts; queue tiles and queue alerts
    stay (unless ``queue`` narrows them). Alerts on an agent follow the agent.
    """
    if flt.queues is None and flt.team is None:
        return full
    queues = full["queues"] if flt.queues is None else {k: v for k, v in full["queues"].items() if k in flt.queues}
    agents = {
        k: row
        for k, row in full["agents"].items()
        if (flt.team is None or row.get("team") == flt.team)
        and (flt.queues is None or not flt.queues.isdisjoint(row.get("queues") or ()))
    }
    alerts: dict[str, dict[str, Any]] = {}
    for k, row in full["alerts"].items():
        subject = row.get("subject")
        if row.get("kind") == "adherence_break":
            keep = subject in agents
        else:
            keep = flt.queues is None or subject in flt.queues
        if keep:
            alerts[k] = row
    return {"queues": queues, "agents": agents, "alerts": alerts}


def _head(kind: str, server_ts: int, ready: bool, worker: dict[str, Any] | None) -> dict[str, Any]:
    frame: dict[str, Any] = {"type": kind, "server_ts": server_ts, "ready": ready}
    if worker is not None:
        frame["worker"] = worker
    return frame


def snapshot_frame(state: State, server_ts: int, ready: bool, worker: dict[str, Any] | None = None) -> dict[str, Any]:
    frame = _head("snapshot", server_ts, ready, worker)
    frame.update({s: list(state.get(s, {}).values()) for s in SECTIONS})
    return frame


def delta_frame(changes: Changes, server_ts: int, ready: bool, worker: dict[str, Any] | None = None) -> dict[str, Any]:
    frame = _head("delta", server_ts, ready, worker)
    for section, change in changes.items():
        frame[section] = {"upsert": list(change["upsert"].values()), "remove": sorted(change["remove"])}
    return frame


def ping_frame(server_ts: int, ready: bool, worker: dict[str, Any] | None = None) -> dict[str, Any]:
    return _head("ping", server_ts, ready, worker)


def worker_field(age_ms: int | None, stale_after_ms: int, dead_after_ms: int) -> dict[str, Any] | None:
    """A frame's ``worker``: the age of the newest worker heartbeat at ``server_ts`` and the
    badge's thresholds; ``None`` (no field) until the API has read a heartbeat."""
    if age_ms is None:
        return None
    return {"age_ms": age_ms, "stale_after_ms": stale_after_ms, "dead_after_ms": dead_after_ms}


def encode(frame: dict[str, Any]) -> str:
    """The JSON text of a frame, as sent."""
    return orjson.dumps(frame).decode("utf-8")


class SharedFrame:
    """One frame that many mailboxes hold at once, serialised at most once (on first use).

    The hub makes one per filter and step; every subscriber of that filter whose slot was
    empty sends exactly this frame, so its JSON is built once however many clients there
    are. The frame is read-only by contract: nobody may modify ``frame``.
    """

    __slots__ = ("frame", "_text")

    def __init__(self, frame: dict[str, Any]) -> None:
        self.frame = frame
        self._text: str | None = None

    def text(self) -> str:
        if self._text is None:
            self._text = encode(self.frame)
        return self._text


def full_state(view: View, settings: Settings, now_ms: int) -> State:
    """Everything a client without a filter sees at ``now_ms`` (pure)."""
    return {
        "queues": {row["queue"]: row for row in queries.queues_overview(view, settings, now_ms)},
        "agents": {row["agent_id"]: row for row in queries.agents_list(view, settings)},
        "alerts": {row["id"]: row for row in queries.alerts_list(view, settings, state="firing")},
    }


def agents_section(view: View, settings: Settings) -> dict[str, dict[str, Any]]:
    """The ``agents`` section of ``full_state``."""
    return {row["agent_id"]: row for row in queries.agents_list(view, settings)}


def alerts_section(view: View, settings: Settings) -> dict[str, dict[str, Any]]:
    """The ``alerts`` section of ``full_state``."""
    return {row["id"]: row for row in queries.alerts_list(view, settings, state="firing")}


def agents_updated(
    view: View, settings: Settings, prev: dict[str, dict[str, Any]], changed: set[str]
) -> dict[str, dict[str, Any]]:
    """``agents_section`` after the agents keyed ``changed`` changed, from ``prev`` (that
    section before): only those rows are rebuilt, then all are put in ``agents_list`` order.
    The whole section is rebuilt when a changed record's agent id is not its key (rows are
    keyed by agent id) or the row count then differs from the view's."""
    rows = dict(prev)
    for key in changed:
        record = view.agents.get(key)
        if record is None:
            rows.pop(key, None)
            continue
        row = queries.agent_row(record, settings)
        row["agent_id"] = row["agent_id"] or key
        row["name"] = row["name"] or row["agent_id"]
        if row["agent_id"] != key:
            return agents_section(view, settings)
        rows[key] = row
    if len(rows) != len(view.agents):
        return agents_section(view, settings)
    return dict(sorted(rows.items(), key=lambda kv: queries._agent_sort_key(kv[1])))  # noqa: SLF001  # agents_list order


def second_of(now_ms: int) -> int:
    return now_ms - now_ms % 1000


def gap_after(queued: int, frames_per_s: float, min_gap_s: float = MIN_GAP_S) -> float:
    """Seconds before the next step after one that queued ``queued`` frames: the hub queues
    ``frames_per_s`` frames a second at most on average (each costs a send on the API's one
    event loop, and the client's work), so a large audience gets fewer, fuller deltas."""
    return max(min_gap_s, queued / frames_per_s)


# -- mailbox ----------------------------------------------------------------------------


class Mailbox:
    """At most one pending message per client: a snapshot, or the merge of the changes since
    the last send, or a heartbeat. ``put_*`` never blocks and never grows anything but that
    one slot.

    ``put_changes(..., shared=f)`` into an empty slot keeps ``f`` (the hub's frame for exactly
    those changes, ``server_ts`` and ``ready``) and ``take``/``take_text`` return it as is, so
    that every such client sends the same serialised text. Anything else put into the slot
    before it is taken drops ``f`` for a frame of this client's own (the merge, as before).
    """

    __slots__ = ("_snapshot", "_changes", "_shared", "_ping", "server_ts", "ready", "worker", "merged", "_waiter")

    def __init__(self) -> None:
        self._snapshot: State | None = None  # pending snapshot (changes are folded into it)
        self._changes: Changes | None = None
        self._shared: SharedFrame | None = None  # the frame of exactly ``_changes``, when shared
        self._ping: SharedFrame | None = None  # a pending heartbeat (only in an otherwise empty slot)
        self.server_ts = 0
        self.ready = True
        self.worker: dict[str, Any] | None = None  # the frame's ``worker`` field (``worker_field``)
        self.merged = 0  # change sets folded into a pending one (a measure of slowness)
        self._waiter: asyncio.Future[None] | None = None  # the send loop's wait, when it waits

    def __len__(self) -> int:
        return 1 if (self._snapshot is not None or self._changes is not None or self._ping is not None) else 0

    def put_snapshot(self, state: State, server_ts: int, ready: bool, worker: dict[str, Any] | None = None) -> None:
        self._snapshot, self._changes, self._shared, self._ping = state, None, None, None
        self._stamp(server_ts, ready, worker)

    def put_changes(
        self,
        changes: Changes,
        server_ts: int,
        ready: bool,
        shared: SharedFrame | None = None,
        worker: dict[str, Any] | None = None,
    ) -> None:
        if self._snapshot is not None:
            self._snapshot = apply(self._snapshot, changes)
        elif self._changes is not None:
            self._changes = merge(self._changes, changes)
            self._shared = None
            self.merged += 1
        else:
            self._changes = changes
            # the shared frame says ``server_ts``; a clock that went back keeps the later stamp
            self._shared = shared if server_ts >= self.server_ts else None
        self._ping = None
        self._stamp(server_ts, ready, worker)

    def put_ping(self, ping: SharedFrame) -> bool:
        """A heartbeat, only into an empty slot (a pending frame is fresher); True if taken."""
        if len(self):
            return False
        self._ping = ping
        self._wake()
        return True

    def _stamp(self, server_ts: int, ready: bool, worker: dict[str, Any] | None = None) -> None:
        self.server_ts = max(self.server_ts, server_ts)
        self.ready = ready
        self.worker = worker
        self._wake()

    def _wake(self) -> None:
        """Resume the waiting send loop (a bare future: at 1,000 clients an ``asyncio.Event``
        per mailbox, set and waited on per frame, was a quarter of the API's fan-out time)."""
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _pop(self) -> tuple[dict[str, Any] | None, SharedFrame | None]:
        frame: dict[str, Any] | None = None
        shared: SharedFrame | None = None
        if self._snapshot is not None:
            frame = snapshot_frame(self._snapshot, self.server_ts, self.ready, self.worker)
        elif self._changes is not None:
            shared = self._shared
            if shared is None:
                frame = delta_frame(self._changes, self.server_ts, self.ready, self.worker)
        else:
            shared = self._ping
        self._snapshot = self._changes = self._shared = self._ping = None
        return frame, shared

    def take(self) -> dict[str, Any] | None:
        """The pending frame (and empty the slot), or ``None``. A shared frame is returned as
        is: read it, never modify it."""
        frame, shared = self._pop()
        return shared.frame if shared is not None else frame

    def take_text(self) -> str | None:
        """The pending frame as JSON text (and empty the slot), or ``None``; a shared frame's
        text is serialised once for all the mailboxes holding it."""
        frame, shared = self._pop()
        if shared is not None:
            return shared.text()
        return encode(frame) if frame is not None else None

    async def wait(self, timeout_s: float | None = None) -> bool:
        """True when something is pending (at once if it already is); False after the timeout
        (``None``: no timeout, the hub puts heartbeats)."""
        if len(self):
            return True
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        if timeout_s is None:
            await waiter
        else:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await waiter
        return bool(len(self))


# -- hub --------------------------------------------------------------------------------


@dataclass(eq=False)
class Subscriber:
    filter: Filter
    mailbox: Mailbox = field(default_factory=Mailbox)
    sending_since: float | None = None  # monotonic start of a send in progress (the socket's watchdog)
    token: str | None = None  # name of the token it connected with (counted per token)


# reasons of ``HubFull`` (the ``reason`` label of ``floorwatch_ws_refused_total``): the setting hit
REFUSED_REASONS = ("max_clients", "max_clients_per_token", "max_filters")


class HubFull(Exception):
    """A subscription refused by a limit: ``reason`` is one of ``REFUSED_REASONS``, the message
    says which limit, for the close frame (the client retries later)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Hub:
    """One per app: turns view changes into per-filter change sets for the subscribers."""

    def __init__(
        self,
        view: View,
        settings: Settings,
        clock: Callable[[], int],
        readiness: Callable[[], dict[str, Any]] | None = None,
        *,
        tick_s: float = TICK_S,
        ping_s: float = PING_S,
        silent_ping_s: float = SILENT_PING_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.view = view
        self.settings = settings
        self.clock = clock
        self.readiness = readiness or (lambda: {"ready": True})
        self.tick_s = tick_s
        self.ping_s = ping_s
        self.silent_ping_s = silent_ping_s  # ping period while the newest worker heartbeat is stale
        self.worker_stale_after_ms = round(settings.api.worker_stale_after_s * 1000)
        self.worker_dead_after_ms = round(settings.api.worker_dead_after_s * 1000)
        self.monotonic = monotonic  # heartbeat timing only (``clock`` may be frozen in tests)
        self.frames_per_s = settings.api.ws_frames_per_s
        self.max_clients = settings.api.ws_max_clients
        self.max_clients_per_token = settings.api.ws_max_clients_per_token
        self.max_filters = settings.api.ws_max_filters
        self.subscribers: dict[Filter, set[Subscriber]] = {}  # at most ``max_filters`` keys
        self.clients = 0  # subscribers over all filters (at most ``max_clients``)
        # token name -> its subscribers (only tokens with one: at most ``max_clients`` keys)
        self.clients_by_token: dict[str, int] = {}
        self.refused: dict[str, int] = dict.fromkeys(REFUSED_REASONS, 0)  # refusals by reason
        self.last: dict[Filter, State] = {}
        self.pushed: dict[Filter, float] = {}  # filter -> monotonic time of its last push (or ping)
        self._base_key: tuple[int, int] | None = None  # (view.version, interval start)
        self._base: State | None = None
        self._full_key: tuple[int, int, int] | None = None
        self._full: State | None = None
        # what changed in the view since ``_base`` was computed (``View.listeners``): the next
        # base rebuilds the agent rows of ``_changed_agents`` only (all of them when
        # ``_all_agents``), and the alerts only when an alert topic changed; queue tiles always
        self._changed_topics: set[str] = set()
        self._changed_agents: set[str] = set()
        self._all_agents = False
        self._agent_counts: dict[str, dict[str, int]] | None = None  # queries.agent_counts of the base
        self.agent_rebuilds = 0  # bases that rebuilt every agent row (first, cap or fallback)
        self._ready = True
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ticks = 0
        self._changed: asyncio.Event | None = None
        view.listeners.append(self._on_view_change)

    def _on_view_change(self, topic: str, key: str) -> None:
        self._changed_topics.add(topic)
        if topic == topics.AGENT_STATUS and not self._all_agents:
            if len(self._changed_agents) >= MAX_CHANGED_AGENTS:
                self._all_agents = True
                self._changed_agents.clear()
            else:
                self._changed_agents.add(key)
        if self._changed is not None:
            self._changed.set()

    def _rebuild(self, now_ms: int) -> State:
        """The full state at ``now_ms`` (``full_state``), rebuilding from ``_base`` only the
        sections whose topics changed since it; queue tiles are always recomputed."""
        changed, self._changed_topics = self._changed_topics, set()
        agents_changed, self._changed_agents = self._changed_agents, set()
        all_agents, self._all_agents = self._all_agents, False
        base = self._base
        if base is None or self._agent_counts is None or topics.AGENT_STATUS in changed or all_agents:
            self._agent_counts = queries.agent_counts(self.view)  # what queues_overview computes
        counts = self._agent_counts
        queues = {
            q: queries.queue_tile(self.view, self.settings, q, now_ms, counts.get(q))
            for q in queries.queue_order(self.view, self.settings)
        }
        if base is None or all_agents:
            agents = agents_section(self.view, self.settings)
            self.agent_rebuilds += 1
        elif topics.AGENT_STATUS in changed:
            agents = agents_updated(self.view, self.settings, base["agents"], agents_changed)
        else:
            agents = base["agents"]
        alerts = alerts_section(self.view, self.settings) if base is None or changed & ALERT_TOPICS else base["alerts"]
        return {"queues": queues, "agents": agents, "alerts": alerts}

    # -- state ------------------------------------------------------------------------

    def is_ready(self) -> bool:
        try:
            return bool(self.readiness().get("ready", True))
        except Exception:  # noqa: BLE001 - readiness must never break the push
            return False

    def worker(self, now_ms: int) -> dict[str, Any] | None:
        """The frames' ``worker`` field at ``now_ms`` (``worker_field``)."""
        age = self.view.worker_freshness(now_ms, self.worker_stale_after_ms).age_ms
        return worker_field(age, self.worker_stale_after_ms, self.worker_dead_after_ms)

    def current(self, now_ms: int) -> State:
        """The full state at ``now_ms``, recomputed only when the view or the second changed."""
        second = second_of(now_ms)
        start = interval_start_ms(second, self.settings.tz, self.settings.interval_minutes)
        key = (self.view.version, start, second)
        if key == self._full_key and self._full is not None:
            return self._full
        if (key[0], key[1]) != self._base_key or self._base is None:
            self._base = self._rebuild(second)
            self._base_key = (key[0], key[1])
            full = self._base
        else:  # only the clock moved: refresh the live longest wait of queues with waiting contacts
            queues = dict(self._base["queues"])
            for q, row in queues.items():
                if row.get("waiting"):
                    live = queries.longest_wait_s(self.view.queue_partials(q), second)
                    if live != row.get("longest_wait_s"):
                        queues[q] = {**row, "longest_wait_s": live}
            full = {**self._base, "queues": queues}
        self._full, self._full_key = full, key
        return full

    # -- subscribers ------------------------------------------------------------------

    def admit(self, flt: Filter, token: str | None = None) -> None:
        """Raise ``HubFull`` (and count it) if a client of ``flt`` with ``token`` is over a limit."""
        if self.clients >= self.max_clients:
            self._refuse("max_clients", f"wallboard server full: {self.max_clients} clients (api.ws_max_clients)")
        if token is not None and self.clients_by_token.get(token, 0) >= self.max_clients_per_token:
            self._refuse(
                "max_clients_per_token",
                f"wallboard server full: {self.max_clients_per_token} "
                f"clients of token {token!r} (api.ws_max_clients_per_token)",
            )
        if flt not in self.subscribers and len(self.subscribers) >= self.max_filters:
            self._refuse(
                "max_filters", f"wallboard server full: {self.max_filters} distinct filters in use (api.ws_max_filters)"
            )

    def _refuse(self, reason: str, message: str) -> None:
        self.refused[reason] += 1
        raise HubFull(reason, message)

    def subscribe(self, flt: Filter, token: str | None = None) -> Subscriber:
        """A new subscriber whose mailbox already holds its snapshot; ``HubFull`` (counted in
        ``refused``) when a limit is reached. ``token`` names the client's token."""
        self.admit(flt, token)
        self.ensure_running()
        sub = Subscriber(flt, token=token)
        now = self.clock()
        state = self.last.get(flt)
        if state is None:
            state = self.last[flt] = select(self.current(now), flt)
        sub.mailbox.put_snapshot(state, now, self.is_ready(), self.worker(now))
        if flt not in self.subscribers:
            self.pushed[flt] = self.monotonic()
        self.subscribers.setdefault(flt, set()).add(sub)
        self.clients += 1
        if token is not None:
            self.clients_by_token[token] = self.clients_by_token.get(token, 0) + 1
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """Forget ``sub`` (again: nothing); a filter nobody uses any more is dropped."""
        subs = self.subscribers.get(sub.filter)
        if subs is None or sub not in subs:
            return
        subs.discard(sub)
        self.clients -= 1
        if sub.token is not None:
            left = self.clients_by_token.get(sub.token, 0) - 1
            if left > 0:
                self.clients_by_token[sub.token] = left
            else:
                self.clients_by_token.pop(sub.token, None)
        if not subs:
            del self.subscribers[sub.filter]
            self.last.pop(sub.filter, None)
            self.pushed.pop(sub.filter, None)

    def step(self, now_ms: int | None = None) -> int:
        """One tick: push each filter's changes to its subscribers (one ``SharedFrame`` per
        filter), and a heartbeat to those of a filter without any for ``ping_s`` (for
        ``silent_ping_s`` while the newest worker heartbeat is older than
        ``api.worker_stale_after_s``, so the badge shows the silence); returns the frames queued
        (heartbeats included)."""
        self.ticks += 1
        if not self.subscribers:
            return 0
        now = self.clock() if now_ms is None else now_ms
        mono = self.monotonic()
        ready = self.is_ready()
        ready_changed, self._ready = ready != self._ready, ready
        full = self.current(now)
        worker = self.worker(now)
        silent = worker is not None and worker["age_ms"] > self.worker_stale_after_ms
        ping_s = min(self.ping_s, self.silent_ping_s) if silent else self.ping_s
        queued = 0
        ping: SharedFrame | None = None
        for flt, subs in self.subscribers.items():
            cur = select(full, flt)
            prev = self.last.get(flt)
            changes = diff(prev, cur) if prev is not None else diff(empty_state(), cur)
            self.last[flt] = cur
            if changes or ready_changed:
                shared = SharedFrame(delta_frame(changes, now, ready, worker))
                for sub in subs:
                    sub.mailbox.put_changes(changes, now, ready, shared, worker)
                queued += len(subs)
                self.pushed[flt] = mono
            elif mono - self.pushed.get(flt, mono) >= ping_s:
                ping = ping or SharedFrame(ping_frame(now, ready, worker))
                for sub in subs:
                    queued += sub.mailbox.put_ping(ping)
                self.pushed[flt] = mono
        return queued

    # -- task -------------------------------------------------------------------------

    def ensure_running(self) -> None:
        """Start the tick task in the running loop (again, if a previous loop went away)."""
        loop = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._loop is loop:
            return
        self._loop = loop
        self._task = loop.create_task(self.run(), name="floorwatch-ws-hub")

    async def run(self) -> None:
        """Step when the view changes (at most every ``gap_after``), else every ``tick_s``."""
        self._changed = changed = asyncio.Event()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.tick_s):
                    await changed.wait()
            changed.clear()
            queued = 0
            try:
                queued = self.step()
            except Exception:  # one bad tick must not end the push for everyone
                log.exception("websocket hub tick failed")
            await asyncio.sleep(gap_after(queued, self.frames_per_s))

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
