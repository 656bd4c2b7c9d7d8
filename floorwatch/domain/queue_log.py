"""Asterisk ``queue_log``: a pure line parser and the mapping to Floorwatch events.

No I/O and no Kafka here; ``services/queue_log.py`` reads files and produces. The field
positions follow ``app_queue.c`` (see ``docs/connectors.md`` for the table and the decisions).

A line is ``epoch|callid|queue|agent|VERB|data1|data2|...`` (``main/logger.c``). ``parse_line``
turns one line (without its ``\\n``) into a ``QueueLogLine`` with the verb's data fields named
and numeric ones checked, or raises ``LineError(reason, message)``.

``Mapper`` is the stateful part: it keeps the open contacts per ``(callid, queue)`` and each
agent's membership, pause and call state, and turns every line into zero or more event dicts.
Its state is JSON-ready (``to_json`` / ``from_json``) so a follower can persist it together
with its file position and resume exactly where it stopped.

Plausibility: ``check_line_time`` refuses a line whose time the event contract
(``floorwatch.events``, same limits, same now) would refuse; the connector calls it before
``Mapper.feed``, so such a line never moves the mapper's newest time (``max_epoch``) nor its
state: later real lines are not taken for out of order.

Event ids are ``ql-<epoch:010d>-<seq:05d>-<sha1(line)[:12]>-<k>``: ``seq`` numbers the lines
of the same epoch second in file order (so ids sort like the lines within a second, which is
the worker's tie-break for agent states), ``k`` numbers the events of one line. The same lines
give the same ids and the same contact ids, so a replay is deduplicated downstream.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, cast
from zoneinfo import ZoneInfo

from floorwatch.domain.intervals import iso
from floorwatch.events import DEFAULT_LIMITS, EventError, EventLimits, check_event_time

__all__ = [
    "LineError",
    "Mapper",
    "QueueLogLine",
    "VERBS",
    "check_line_time",
    "event_id",
    "line_digest",
    "parse_line",
]

NONE = "NONE"
DEFAULT_TEAM = "asterisk"
DEFAULT_PAUSE_REASON = "pause"
PRUNE_AFTER_S = 86_400  # forget closed/forgotten calls this long after their last line
PRUNE_EVERY_LINES = 10_000
MAX_ID = 256


# caller ids that identify nobody (Asterisk and carriers' spellings of a withheld number)
WITHHELD_CALLER_IDS = frozenset({"anonymous", "unknown", "<unknown>", "restricted", "private", "unavailable"})


class LineError(ValueError):
    """A line that cannot be used; ``reason`` is short and stable (dead-letter reason)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class VerbSpec:
    fields: tuple[str, ...]  # names of data1, data2, ...
    numeric: frozenset[str] = frozenset()
    required: int = 0  # data fields that must be present and non-empty
    caller: bool = False  # a call event: needs callid and queue
    member: bool = False  # needs an agent


def _v(fields: str, numeric: str = "", required: int = 0, caller: bool = False, member: bool = False) -> VerbSpec:
    return VerbSpec(tuple(fields.split()), frozenset(numeric.split()), required, caller, member)


# Field names and positions from app_queue.c (current master; older versions log fewer fields,
# so only the first ``required`` ones must be there).
VERBS: dict[str, VerbSpec] = {
    "ENTERQUEUE": _v("url callerid opos callerid_name", "opos", caller=True),
    "CONNECT": _v("holdtime member_uniqueid ringtime", "holdtime ringtime", 1, caller=True, member=True),
    "COMPLETECALLER": _v("holdtime calltime opos", "holdtime calltime opos", 2, caller=True, member=True),
    "COMPLETEAGENT": _v("holdtime calltime opos", "holdtime calltime opos", 2, caller=True, member=True),
    "TRANSFER": _v("exten context holdtime calltime opos", "holdtime calltime opos", 1, caller=True, member=True),
    "BLINDTRANSFER": _v("exten context holdtime calltime opos", "holdtime calltime opos", 1, caller=True, member=True),
    # fields depend on data1 (method); see _attended()
    "ATTENDEDTRANSFER": _v("method", "", 1, caller=True, member=True),
    "ABANDON": _v("pos opos wait", "pos opos wait", 1, caller=True),
    "EXITWITHTIMEOUT": _v("pos opos wait", "pos opos wait", 1, caller=True),
    "EXITWITHKEY": _v("key pos opos wait", "pos opos wait", 1, caller=True),
    "EXITEMPTY": _v("pos opos wait", "pos opos wait", 1, caller=True),
    "WITHDRAW": _v("pos opos wait info", "pos opos wait", 1, caller=True),
    "RINGNOANSWER": _v("ringtime_ms", "ringtime_ms", 1, caller=True, member=True),
    "RINGCANCELED": _v("ringtime_ms", "ringtime_ms", 1, caller=True, member=True),
    "AGENTDUMP": _v("", caller=True, member=True),
    "SYSCOMPAT": _v("", caller=True, member=True),
    "CALLERONHOLD": _v("", caller=True, member=True),  # QueueMetrics / custom QueueLog()
    "CALLEROFFHOLD": _v("", caller=True, member=True),
    "AGENTLOGIN": _v("channel", member=True),
    "AGENTLOGOFF": _v("channel logintime", "logintime", member=True),
    "AGENTCALLBACKLOGIN": _v("exten_context", member=True),
    "AGENTCALLBACKLOGOFF": _v("exten_context logintime reason", "logintime", member=True),
    "ADDMEMBER": _v("paused", member=True),
    "REMOVEMEMBER": _v("", member=True),
    "PAUSE": _v("reason", member=True),
    "UNPAUSE": _v("reason", member=True),
    "PAUSEALL": _v("reason", member=True),
    "UNPAUSEALL": _v("reason", member=True),
    "PENALTY": _v("penalty", "penalty", member=True),
    "RINGINUSE": _v("ringinuse", "ringinuse", member=True),
    "OUTCALL": _v("status talktime params", "talktime"),
    "QUEUESTART": _v(""),
    "CONFIGRELOAD": _v(""),
    "NONE": _v(""),
}

_ATTENDED = {
    # method -> names of data2..; LINK logs two channels, then holdtime, calltime, opos
    "BRIDGE": ("target", "holdtime", "calltime", "opos"),
    "APP": ("target", "holdtime", "calltime", "opos"),
    "LINK": ("target", "channel2", "holdtime", "calltime", "opos"),
}


@dataclass(frozen=True)
class QueueLogLine:
    epoch: int
    callid: str
    queue: str
    agent: str
    verb: str
    data: tuple[str, ...]
    fields: dict[str, Any] = field(default_factory=dict)  # named data; numeric ones as int


def _int(text: str, name: str, verb: str) -> int:
    value = text.strip()
    if not value.isascii() or not value.lstrip("-").isdigit():
        raise LineError("non_numeric", f"{verb}: field {name!r} is not an integer: {text!r}")
    return int(value)


def parse_line(text: str) -> QueueLogLine:
    """Parse one line (the trailing ``\\n``/``\\r\\n`` may be present); raise ``LineError``."""
    line = text.rstrip("\r\n")
    if not line.strip():
        raise LineError("malformed", "empty line")
    parts = line.split("|")
    if len(parts) < 5:
        raise LineError("malformed", f"{len(parts)} '|'-separated fields, at least 5 expected")
    epoch_s, callid, queue, agent, verb = (p.strip() for p in parts[:5])
    data = tuple(parts[5:])
    if not epoch_s.isascii() or not epoch_s.isdigit():
        raise LineError("non_numeric", f"timestamp is not integer epoch seconds: {epoch_s!r}")
    epoch = int(epoch_s)
    spec = VERBS.get(verb)
    if spec is None:
        raise LineError("unknown_verb", f"unknown verb {verb!r}")
    names: tuple[str, ...] = spec.fields
    numeric = spec.numeric
    required = spec.required
    if verb == "ATTENDEDTRANSFER":
        method = data[0].strip() if data else ""
        if method not in _ATTENDED:
            raise LineError("invalid_field", f"ATTENDEDTRANSFER: unknown method {method!r}")
        names = ("method", *_ATTENDED[method])
        numeric = frozenset({"holdtime", "calltime", "opos"})
    if len([d for d in data[:required] if d.strip()]) < required:
        missing = names[len(data)] if len(data) < len(names) else names[0]
        raise LineError("missing_field", f"{verb}: field {missing!r} missing (truncated line?)")
    fields: dict[str, Any] = {}
    for name, value in zip(names, data, strict=False):
        if name in numeric and value.strip() != "":
            fields[name] = _int(value, name, verb)
        else:
            fields[name] = value
    if spec.caller:
        if not callid or callid == NONE:
            raise LineError("missing_field", f"{verb}: no call id")
        if not queue or queue == NONE:
            raise LineError("missing_field", f"{verb}: no queue name")
    if spec.member and (not agent or agent == NONE):
        raise LineError("missing_field", f"{verb}: no agent")
    if len(callid) > 200 or len(queue) > 200 or len(agent) > 200:
        raise LineError("invalid_field", "callid, queue or agent longer than 200 characters")
    return QueueLogLine(epoch, callid, queue, agent, verb, data, fields)


def check_line_time(line: QueueLogLine, *, limits: EventLimits = DEFAULT_LIMITS, now_ms: int | None = None) -> None:
    """Raise ``LineError('implausible_time')`` unless the events of this line would carry a
    time the event contract accepts with these limits and this now (the window of ``ts``)."""
    try:
        check_event_time(line.epoch * 1000, limits=limits, now_ms=now_ms)
    except EventError as exc:
        raise LineError(exc.reason, f"{line.verb}: timestamp {line.epoch}: {exc}") from None


def line_digest(raw: bytes) -> str:
    """sha1 of the line's bytes without its line ending."""
    return hashlib.sha1(raw.rstrip(b"\r\n")).hexdigest()


def event_id(epoch: int, seq: int, digest: str, k: int) -> str:
    return f"ql-{epoch:010d}-{seq:05d}-{digest[:12]}-{k}"


def normalize_agent(agent: str) -> str:
    """The agent column as an id: trimmed; a Local channel's ``/n`` (no-optimize) suffix dropped."""
    value = agent.strip()
    if value.startswith("Local/") and value.endswith("/n"):
        value = value[:-2]
    return value


def _cap(text: str) -> str:
    return text[:MAX_ID]


class Mapper:
    """queue_log lines -> event dicts. Feed lines in file order with their (seq, digest).

    ``agent_map`` maps an agent column value (interface or member name, normalized) to
    ``{"agent_id", "name"?, "team"?}``, so that ``SIP/1001`` in ADDMEMBER and ``Jane`` in
    CONNECT (queues.conf without ``log_membername_as_agent``) are one agent.
    """

    def __init__(
        self,
        tz: ZoneInfo,
        *,
        team: str = DEFAULT_TEAM,
        agent_map: dict[str, dict[str, str]] | None = None,
        max_backwards_s: int = 1,
        channel: str = "voice",
    ) -> None:
        self.tz = tz
        self.team = team
        self.agent_map = {normalize_agent(k): v for k, v in (agent_map or {}).items()}
        self.max_backwards_s = max_backwards_s
        self.channel = channel
        self.max_epoch = 0
        # "callid|queue" -> {"c": contact_id, "n": entries, "t": last epoch, "s": w|a|x, "ag": agent, "e": enter}
        self.calls: dict[str, dict[str, Any]] = {}
        # callid -> {"c": last contact id, "x": how it left (transfer/overflow/...), "t": epoch}
        self.last_by_callid: dict[str, dict[str, Any]] = {}
        # agent_id -> {"q": [queues], "l": login True/False/None, "pq": {queue: reason}, "pa": reason|None,
        #              "r": last pause reason, "c": [contact ids], "st": [state, reason], "nm": name}
        self.agents: dict[str, dict[str, Any]] = {}
        self.counts: dict[str, int] = {}
        self._since_prune = 0

    # ---- persistence -------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "max_epoch": self.max_epoch,
            "calls": self.calls,
            "last_by_callid": self.last_by_callid,
            "agents": self.agents,
            "counts": self.counts,
        }

    def load_json(self, data: dict[str, Any]) -> None:
        self.max_epoch = int(data.get("max_epoch", 0))
        self.calls = dict(data.get("calls", {}))
        self.last_by_callid = dict(data.get("last_by_callid", {}))
        self.agents = dict(data.get("agents", {}))
        self.counts = dict(data.get("counts", {}))

    def _count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    # ---- identity ----------------------------------------------------------------------------
    def agent_id(self, column: str) -> str:
        norm = normalize_agent(column)
        mapped = self.agent_map.get(norm)
        if mapped and mapped.get("agent_id"):
            return _cap(str(mapped["agent_id"]))
        return _cap(norm)

    def _agent_name(self, column: str, aid: str) -> str:
        mapped = self.agent_map.get(normalize_agent(column)) or {}
        return str(mapped.get("name") or column.strip() or aid)

    def _agent_team(self, column: str) -> str:
        mapped = self.agent_map.get(normalize_agent(column)) or {}
        return str(mapped.get("team") or self.team)

    # ---- the mapping ---------------------------------------------------------------------------
    def feed(self, line: QueueLogLine, seq: int, digest: str) -> list[dict[str, Any]]:
        """Events for one line, in order; raises ``LineError('out_of_order')`` for a line too far back."""
        global_line = line.verb in ("QUEUESTART", "CONFIGRELOAD", "NONE")
        if not global_line and line.epoch > 0:
            if line.epoch < self.max_epoch - self.max_backwards_s:
                raise LineError(
                    "out_of_order",
                    f"timestamp {line.epoch} is {self.max_epoch - line.epoch} s before an earlier line "
                    f"({self.max_epoch}); more than the {self.max_backwards_s} s tolerated",
                )
            if line.epoch < self.max_epoch:
                self._count("reordered_tolerated")
            self.max_epoch = max(self.max_epoch, line.epoch)
        out: list[dict[str, Any]] = []
        ts = iso(line.epoch * 1000, self.tz)

        def emit(etype: str, **fields: Any) -> None:
            out.append(
                {
                    "event_id": event_id(line.epoch, seq, digest, len(out)),
                    "type": etype,
                    "ts": ts,
                    **{k: v for k, v in fields.items() if v is not None},
                }
            )

        handler = getattr(self, "_on_" + line.verb.lower(), None)
        if handler is not None:
            handler(line, emit)
        else:
            self._count("ignored_" + line.verb.lower())
        self._since_prune += 1
        if self._since_prune >= PRUNE_EVERY_LINES:
            self.prune()
        return out

    def prune(self) -> None:
        self._since_prune = 0
        horizon = self.max_epoch - PRUNE_AFTER_S
        self.calls = {k: v for k, v in self.calls.items() if v["t"] >= horizon}
        self.last_by_callid = {k: v for k, v in self.last_by_callid.items() if v["t"] >= horizon}

    # calls ------------------------------------------------------------------------------------
    def _call(self, line: QueueLogLine) -> tuple[dict[str, Any], bool]:
        """The (callid, queue) entry of a call event; an orphan gets the first-entry contact id."""
        key = f"{line.callid}|{line.queue}"
        call = self.calls.get(key)
        if call is None:
            self._count("orphan_call_lines")
            call = {"c": _cap(f"{line.callid}@{line.queue}"), "n": 1, "t": line.epoch, "s": "w", "ag": None, "e": None}
            self.calls[key] = call
            return call, True
        call["t"] = line.epoch
        return call, False

    def _on_enterqueue(self, line: QueueLogLine, emit: Any) -> None:
        key = f"{line.callid}|{line.queue}"
        prev = self.calls.get(key)
        n = 1 if prev is None else prev["n"] + 1
        if prev is not None and prev["s"] != "x":
            self._count("unterminated_calls")  # the earlier entry never got an outcome line
        cid = f"{line.callid}@{line.queue}" if n == 1 else f"{line.callid}@{line.queue}#{n}"
        cid = _cap(cid)
        parent = None
        last = self.last_by_callid.get(line.callid)
        if last is not None and last["c"] != cid and last.get("x") in ("transfer", "overflow"):
            parent = last["c"]
        self.calls[key] = {"c": cid, "n": n, "t": line.epoch, "s": "w", "ag": None, "e": line.epoch}
        self.last_by_callid[line.callid] = {"c": cid, "x": None, "t": line.epoch}
        customer = (line.fields.get("callerid") or "").strip()
        if customer.lower() in WITHHELD_CALLER_IDS:
            customer = ""  # withheld numbers are not one customer calling again (FCR)
        emit(
            "contact.offered",
            contact_id=cid,
            queue=line.queue,
            channel=self.channel,
            customer=_cap(customer) if customer else None,
            parent_contact_id=parent,
        )

    def _close(self, line: QueueLogLine, call: dict[str, Any], how: str) -> None:
        call["s"] = "x"
        last = self.last_by_callid.get(line.callid)
        if last is None or last["c"] == call["c"]:
            self.last_by_callid[line.callid] = {"c": call["c"], "x": how, "t": line.epoch}

    def _on_connect(self, line: QueueLogLine, emit: Any) -> None:
        call, _ = self._call(line)
        aid = self.agent_id(line.agent)
        hold = line.fields.get("holdtime")
        if call.get("e") is not None and isinstance(hold, int) and abs((line.epoch - call["e"]) - hold) > 1:
            self._count("holdtime_mismatch")
        call["s"] = "a"
        call["ag"] = aid
        emit("contact.answered", contact_id=call["c"], queue=line.queue, agent_id=aid)
        agent = self._agent(line, aid)
        self._member_of(agent, line, aid, emit, implied=True)
        if call["c"] not in agent["c"]:
            agent["c"].append(call["c"])
        self._state(agent, aid, emit)

    def _end_call(self, line: QueueLogLine, emit: Any, how: str, **extra: Any) -> None:
        call, _ = self._call(line)
        aid = self.agent_id(line.agent)
        if how == "transfer":
            emit("contact.transferred", contact_id=call["c"], agent_id=aid, **extra)
        else:
            emit("contact.ended", contact_id=call["c"], agent_id=aid)
        self._close(line, call, how)
        for agent_key in cast(set[str], {aid, call.get("ag")} - {None}):
            agent = self.agents.get(agent_key)
            if agent is not None and call["c"] in agent["c"]:
                agent["c"].remove(call["c"])
                self._state(agent, agent_key, emit)

    def _on_completecaller(self, line: QueueLogLine, emit: Any) -> None:
        self._end_call(line, emit, "complete")

    _on_completeagent = _on_completecaller

    def _on_transfer(self, line: QueueLogLine, emit: Any) -> None:
        exten = line.fields.get("exten", "").strip()
        context = line.fields.get("context", "").strip()
        target = f"{exten}@{context}" if exten and context else (exten or context or "unknown")
        self._end_call(line, emit, "transfer", to_queue=_cap(target))

    _on_blindtransfer = _on_transfer

    def _on_attendedtransfer(self, line: QueueLogLine, emit: Any) -> None:
        method = line.fields["method"]
        target = line.fields.get("target", "").strip() or "unknown"
        self._end_call(line, emit, "transfer", to_queue=_cap(f"{method.lower()}:{target}"))

    def _outcome(self, line: QueueLogLine, emit: Any, etype: str, reason: str | None = None) -> None:
        call, _ = self._call(line)
        emit(etype, contact_id=call["c"], queue=line.queue, reason=reason)
        self._close(line, call, "abandon" if etype == "contact.abandoned" else "overflow")

    def _on_abandon(self, line: QueueLogLine, emit: Any) -> None:
        self._outcome(line, emit, "contact.abandoned")

    def _on_exitwithtimeout(self, line: QueueLogLine, emit: Any) -> None:
        self._outcome(line, emit, "contact.overflowed", "timeout")

    def _on_exitwithkey(self, line: QueueLogLine, emit: Any) -> None:
        self._outcome(line, emit, "contact.overflowed", "key")

    def _on_exitempty(self, line: QueueLogLine, emit: Any) -> None:
        self._outcome(line, emit, "contact.overflowed", "no_agents")

    def _on_withdraw(self, line: QueueLogLine, emit: Any) -> None:
        self._outcome(line, emit, "contact.overflowed", "other")

    def _on_calleronhold(self, line: QueueLogLine, emit: Any) -> None:
        call, _ = self._call(line)
        emit("contact.hold_started", contact_id=call["c"], agent_id=self.agent_id(line.agent))

    def _on_calleroffhold(self, line: QueueLogLine, emit: Any) -> None:
        call, _ = self._call(line)
        emit("contact.hold_ended", contact_id=call["c"], agent_id=self.agent_id(line.agent))

    def _on_ringnoanswer(self, line: QueueLogLine, emit: Any) -> None:
        # No Floorwatch event for a ring; the member is in the queue (Asterisk rings only members).
        self._touch_call(line)
        aid = self.agent_id(line.agent)
        agent = self._agent(line, aid)
        self._member_of(agent, line, aid, emit, implied=True)
        self._state(agent, aid, emit)

    _on_ringcanceled = _on_ringnoanswer

    def _on_agentdump(self, line: QueueLogLine, emit: Any) -> None:  # noqa: ARG002 - a line handler's signature
        self._touch_call(line)  # the caller stays in the queue; nothing to emit

    _on_syscompat = _on_agentdump

    def _touch_call(self, line: QueueLogLine) -> None:
        call = self.calls.get(f"{line.callid}|{line.queue}")
        if call is not None:
            call["t"] = line.epoch

    # agents -----------------------------------------------------------------------------------
    def _agent(self, line: QueueLogLine, aid: str) -> dict[str, Any]:
        agent = self.agents.get(aid)
        if agent is None:
            agent = {
                "q": [],
                "l": None,
                "pq": {},
                "pa": None,
                "r": None,
                "c": [],
                "st": ["logged_out", None],
                "nm": self._agent_name(line.agent, aid),
                "tm": self._agent_team(line.agent),
                "pr": False,
            }
            self.agents[aid] = agent
        return agent

    def _profile(self, agent: dict[str, Any], aid: str, emit: Any) -> None:
        agent["pr"] = True
        emit("agent.profile", agent_id=aid, name=agent["nm"], team=agent["tm"], queues=sorted(agent["q"]))

    def _member_of(self, agent: dict[str, Any], line: QueueLogLine, aid: str, emit: Any, implied: bool) -> None:
        """``line.queue`` joins the agent's queues (``implied``: learnt from a call or pause line)."""
        if implied and line.queue not in agent["q"]:
            self._count("implied_memberships")
        if line.queue in ("", NONE):
            return
        if agent["l"] is False:
            agent["l"] = None  # added again, or rung/connected/paused in a queue: back in
        if line.queue not in agent["q"]:
            agent["q"].append(line.queue)
            self._profile(agent, aid, emit)
        elif not agent["pr"]:
            self._profile(agent, aid, emit)

    def _computed(self, agent: dict[str, Any]) -> list[Any]:
        logged_in = bool(agent["c"]) or agent["l"] is True or (agent["l"] is None and bool(agent["q"]))
        if not logged_in:
            return ["logged_out", None]
        if agent["c"]:
            return ["on_contact", None]
        pq = agent["pq"]
        paused = agent["pa"] is not None or (bool(pq) and all(q in pq for q in agent["q"]))
        if paused:
            return ["aux", agent["r"] or DEFAULT_PAUSE_REASON]
        return ["available", None]

    def _state(self, agent: dict[str, Any], aid: str, emit: Any) -> None:
        new = self._computed(agent)
        if new != agent["st"]:
            agent["st"] = new
            emit("agent.state", agent_id=aid, state=new[0], reason=new[1])

    @staticmethod
    def _reason(line: QueueLogLine) -> str:
        reason = (line.fields.get("reason") or "").strip().lower()
        return _cap(reason) if reason else DEFAULT_PAUSE_REASON

    def _member_line(self, line: QueueLogLine) -> tuple[dict[str, Any], str]:
        aid = self.agent_id(line.agent)
        return self._agent(line, aid), aid

    def _on_addmember(self, line: QueueLogLine, emit: Any) -> None:
        agent, aid = self._member_line(line)
        if agent["l"] is False:
            agent["l"] = None
        self._member_of(agent, line, aid, emit, implied=False)
        if (line.fields.get("paused") or "").strip().upper() == "PAUSED" and line.queue not in ("", NONE):
            agent["pq"][line.queue] = DEFAULT_PAUSE_REASON
            agent["r"] = DEFAULT_PAUSE_REASON
        self._state(agent, aid, emit)

    def _on_removemember(self, line: QueueLogLine, emit: Any) -> None:
        agent, aid = self._member_line(line)
        if line.queue in agent["q"]:
            agent["q"].remove(line.queue)
            self._profile(agent, aid, emit)
        agent["pq"].pop(line.queue, None)
        self._state(agent, aid, emit)

    def _on_agentlogin(self, line: QueueLogLine, emit: Any) -> None:
        agent, aid = self._member_line(line)
        agent["l"] = True
        if not agent["pr"]:
            self._profile(agent, aid, emit)
        self._state(agent, aid, emit)

    _on_agentcallbacklogin = _on_agentlogin

    def _on_agentlogoff(self, line: QueueLogLine, emit: Any) -> None:
        agent, aid = self._member_line(line)
        agent["l"] = False
        agent["pq"] = {}
        agent["pa"] = None
        self._state(agent, aid, emit)

    _on_agentcallbacklogoff = _on_agentlogoff

    def _on_pause(self, line: QueueLogLine, emit: Any) -> None:
        agent, aid = self._member_line(line)
        reason = self._reason(line)
        agent["r"] = reason
        if line.queue in ("", NONE):
            agent["pa"] = reason  # old versions log a pause-all with queue NONE
        else:
            self._member_of(agent, line, aid, emit, implied=True)
            agent["pq"][line.queue] = reason
        self._state(agent, aid, emit)

    def _on_pauseall(self, line: QueueLogLine, emit: Any) -> None:
        agent, aid = self._member_line(line)
        reason = self._reason(line)
        agent["r"] = reason
        agent["pa"] = reason
        self._state(agent, aid, emit)

    def _on_unpause(self, line: QueueLogLine, emit: Any) -> None:
        agent, aid = self._member_line(line)
        agent["pa"] = None
        if line.queue in ("", NONE):
            agent["pq"] = {}
        else:
            self._member_of(agent, line, aid, emit, implied=True)
            agent["pq"].pop(line.queue, None)
        self._state(agent, aid, emit)

    def _on_unpauseall(self, line: QueueLogLine, emit: Any) -> None:
        agent, aid = self._member_line(line)
        agent["pa"] = None
        agent["pq"] = {}
        self._state(agent, aid, emit)
