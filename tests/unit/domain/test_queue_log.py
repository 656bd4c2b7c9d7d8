"""Asterisk queue_log parser and mapping (floorwatch.domain.queue_log): every verb, by hand.

The expected events below were written from the fixtures line by line (docs/connectors.md has
the mapping table); the expected interval STATS are computed by hand in the comments and
checked through the same domain code the worker runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections import defaultdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from floorwatch.config import IngestConfig, Settings
from floorwatch.domain.contacts import apply_event, contribution
from floorwatch.domain.intervals import interval_start_ms, iso
from floorwatch.domain.queue_log import (
    VERBS,
    LineError,
    Mapper,
    check_line_time,
    event_id,
    line_digest,
    normalize_agent,
    parse_line,
)
from floorwatch.domain.queue_metrics import Counts, QueueRules, stats
from floorwatch.events import parse_event, route
from floorwatch.services import queue_log as service

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "queue_log"
# the connector checks line times against its clock (events at most retention_days old): the
# fixtures' day, 2026-11-24, seen from 2026-11-24T06:00:00Z (1,795,500,000 s)
FIXTURE_NOW_MS = 1_795_500_000_000


def fixture_clock() -> int:
    return FIXTURE_NOW_MS


TZ = ZoneInfo("Asia/Shanghai")


def fmt(e: dict[str, Any]) -> str:
    """One event as ``clock type id k=v ...`` (event_id left out, lists comma-joined)."""
    e = dict(e)
    e.pop("event_id")
    clock = e.pop("ts")[11:19]
    etype = e.pop("type")
    key = e.pop("contact_id", None) or e.pop("agent_id")
    parts = []
    for k, v in sorted(e.items()):
        if isinstance(v, list):
            v = ",".join(v) or "-"
        parts.append(f"{k}={v}")
    return " ".join([clock, etype, key, *parts])


def replay(path: Path, mapper: Mapper | None = None) -> tuple[list[dict[str, Any]], list[tuple[int, str]]]:
    """Events and (line number, reason) of rejected lines, the way the CLI numbers lines."""
    mapper = mapper or Mapper(TZ)
    events: list[dict[str, Any]] = []
    dead: list[tuple[int, str]] = []
    seq_epoch, seq = None, 0
    data = path.read_bytes()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for n, raw in enumerate(lines, 1):
        epoch = raw.split(b"|", 1)[0]
        seq = seq + 1 if epoch == seq_epoch else 0
        seq_epoch = epoch
        if n == len(lines) and not data.endswith(b"\n"):
            dead.append((n, "truncated"))
            continue
        try:
            events += mapper.feed(parse_line(raw.decode()), seq, line_digest(raw))
        except LineError as exc:
            dead.append((n, exc.reason))
    return events, dead


def expected(text: str) -> list[str]:
    return [line.strip() for line in text.strip().splitlines() if line.strip() and not line.strip().startswith("#")]


# ---- parsing: every verb, its documented fields -----------------------------------------------

PARSED = [
    (
        "1795482000|1795482000.101|sales|NONE|ENTERQUEUE||13800000001|1",
        "ENTERQUEUE",
        {"url": "", "callerid": "13800000001", "opos": 1},
    ),
    (
        "1795489300|1795489300.31|sales|NONE|ENTERQUEUE||+8613900000031|1|Li Lei",
        "ENTERQUEUE",
        {"url": "", "callerid": "+8613900000031", "opos": 1, "callerid_name": "Li Lei"},
    ),
    (
        "1795482012|1795482000.101|sales|SIP/1001|CONNECT|12|1795482005.102|7",
        "CONNECT",
        {"holdtime": 12, "member_uniqueid": "1795482005.102", "ringtime": 7},
    ),
    (
        "1795482180|1795482000.101|sales|SIP/1001|COMPLETECALLER|12|168|1",
        "COMPLETECALLER",
        {"holdtime": 12, "calltime": 168, "opos": 1},
    ),
    (
        "1795482270|1795482060.103|sales|SIP/1002|COMPLETEAGENT|30|180|1",
        "COMPLETEAGENT",
        {"holdtime": 30, "calltime": 180, "opos": 1},
    ),
    ("1795482123|1795482120.105|sales|NONE|ABANDON|1|1|3", "ABANDON", {"pos": 1, "opos": 1, "wait": 3}),
    (
        "1795482420|1795482360.107|sales|NONE|EXITWITHTIMEOUT|1|1|60",
        "EXITWITHTIMEOUT",
        {"pos": 1, "opos": 1, "wait": 60},
    ),
    ("1795482420|1795482360.107|sales|NONE|EXITWITHTIMEOUT|2", "EXITWITHTIMEOUT", {"pos": 2}),  # 1.4
    (
        "1795482615|1795482600.109|sales|NONE|EXITWITHKEY|5|1|1|15",
        "EXITWITHKEY",
        {"key": "5", "pos": 1, "opos": 1, "wait": 15},
    ),
    ("1795482722|1795482720.110|sales|NONE|EXITEMPTY|1|1|2", "EXITEMPTY", {"pos": 1, "opos": 1, "wait": 2}),
    (
        "1795482968|1795482840.111|sales|SIP/1001|TRANSFER|5000|from-internal|8|120|1",
        "TRANSFER",
        {"exten": "5000", "context": "from-internal", "holdtime": 8, "calltime": 120, "opos": 1},
    ),
    (
        "1795489570|1795489500.35|sales|Agent/2002|TRANSFER|6000|from-internal",
        "TRANSFER",
        {"exten": "6000", "context": "from-internal"},
    ),
    (
        "1795482550|1795482360.107|support|Agent/2001|BLINDTRANSFER|4000|from-internal|10|120|1",
        "BLINDTRANSFER",
        {"exten": "4000", "context": "from-internal", "holdtime": 10, "calltime": 120, "opos": 1},
    ),
    (
        "1795483345|1795483200.113|support|SIP/1001|ATTENDEDTRANSFER|BRIDGE|6c2f0a1e-bridge|25|120|1",
        "ATTENDEDTRANSFER",
        {"method": "BRIDGE", "target": "6c2f0a1e-bridge", "holdtime": 25, "calltime": 120, "opos": 1},
    ),
    (
        "1795489465|1795489400.33|sales|Agent/2002|ATTENDEDTRANSFER|APP|AGI|5|60|1",
        "ATTENDEDTRANSFER",
        {"method": "APP", "target": "AGI", "holdtime": 5, "calltime": 60, "opos": 1},
    ),
    (
        "1795489364|1795489300.31|sales|Agent/2002|ATTENDEDTRANSFER|LINK|PJSIP/2002-22|Local/7000@x-1;2|4|60|1",
        "ATTENDEDTRANSFER",
        {
            "method": "LINK",
            "target": "PJSIP/2002-22",
            "channel2": "Local/7000@x-1;2",
            "holdtime": 4,
            "calltime": 60,
            "opos": 1,
        },
    ),
    ("1795482005|1795482000.101|sales|SIP/1002|RINGNOANSWER|5000", "RINGNOANSWER", {"ringtime_ms": 5000}),
    ("1795482090|1795482060.103|sales|SIP/1001|RINGCANCELED|29000", "RINGCANCELED", {"ringtime_ms": 29000}),
    (
        "1795482000|1795481999.11|NONE|Agent/2001|AGENTLOGIN|PJSIP/2001-00000011",
        "AGENTLOGIN",
        {"channel": "PJSIP/2001-00000011"},
    ),
    (
        "1795489600|1795489199.1|NONE|Agent/2002|AGENTLOGOFF|PJSIP/2002-00000021|400",
        "AGENTLOGOFF",
        {"channel": "PJSIP/2002-00000021", "logintime": 400},
    ),
    (
        "1795482000|1795481999.12|NONE|Local/3001@from-queue/n|AGENTCALLBACKLOGIN|3001@from-queue",
        "AGENTCALLBACKLOGIN",
        {"exten_context": "3001@from-queue"},
    ),
    (
        "1795483800|1795481999.12|NONE|Local/3001@from-queue/n|AGENTCALLBACKLOGOFF|3001@from-queue|1800|CommandLogoff",
        "AGENTCALLBACKLOGOFF",
        {"exten_context": "3001@from-queue", "logintime": 1800, "reason": "CommandLogoff"},
    ),
    ("1795482000|MANAGER|support|SIP/1003|ADDMEMBER|PAUSED", "ADDMEMBER", {"paused": "PAUSED"}),
    ("1795482000|REALTIME|sales|SIP/1001|ADDMEMBER|", "ADDMEMBER", {"paused": ""}),
    ("1795485300|MANAGER|sales|SIP/1002|REMOVEMEMBER|", "REMOVEMEMBER", {}),
    ("1795483500|NONE|sales|SIP/1001|PAUSE|Break", "PAUSE", {"reason": "Break"}),
    ("1795482600|NONE|support|SIP/1003|UNPAUSE|Auto-Unpause", "UNPAUSE", {"reason": "Auto-Unpause"}),
    ("1795485000|NONE|NONE|SIP/1001|PAUSEALL|Meeting", "PAUSEALL", {"reason": "Meeting"}),
    ("1795484400|NONE|NONE|SIP/1001|UNPAUSEALL|", "UNPAUSEALL", {"reason": ""}),
    ("0|NONE|NONE|NONE|QUEUESTART|", "QUEUESTART", {}),
    ("1795481995|NONE|NONE|NONE|CONFIGRELOAD|", "CONFIGRELOAD", {}),
    ("1795485301|NONE|NONE|NONE|NONE|", "NONE", {}),
    (
        "1795489930|1795489900.50|support|NONE|WITHDRAW|1|1|30|callback requested",
        "WITHDRAW",
        {"pos": 1, "opos": 1, "wait": 30, "info": "callback requested"},
    ),
]


@pytest.mark.parametrize(("line", "verb", "fields"), PARSED)
def test_parse_documented_fields(line: str, verb: str, fields: dict[str, Any]) -> None:
    parsed = parse_line(line + "\n")
    assert parsed.verb == verb
    assert parsed.fields == fields
    epoch, callid, queue, agent = line.split("|")[:4]
    assert (parsed.epoch, parsed.callid, parsed.queue, parsed.agent) == (int(epoch), callid, queue, agent)


def test_every_verb_of_the_issue_is_parsed_and_in_a_fixture() -> None:
    issue = (
        "ENTERQUEUE CONNECT COMPLETEAGENT COMPLETECALLER ABANDON EXITWITHTIMEOUT EXITWITHKEY EXITEMPTY "
        "TRANSFER ATTENDEDTRANSFER BLINDTRANSFER RINGNOANSWER RINGCANCELED AGENTLOGIN AGENTLOGOFF "
        "AGENTCALLBACKLOGIN AGENTCALLBACKLOGOFF ADDMEMBER REMOVEMEMBER PAUSE UNPAUSE PAUSEALL UNPAUSEALL "
        "QUEUESTART CONFIGRELOAD NONE"
    ).split()
    assert set(issue) <= set(VERBS)
    assert set(issue) <= {verb for _, verb, _ in PARSED}
    in_fixtures = set()
    for name in ("day.log", "agents.log"):
        for raw in (FIXTURES / name).read_text().splitlines():
            in_fixtures.add(raw.split("|")[4])
    assert set(issue) <= in_fixtures


BAD = [
    ("", "malformed"),
    ("1795492810|1795492810.1|sales", "malformed"),
    ("2026-11-24 10:00:12|1795492810.1|sales|SIP/1001|CONNECT|1|x|1", "non_numeric"),
    ("1795492812|1795492810.1|sales|SIP/1001|CONNECT|one|1795492811.2|1", "non_numeric"),
    ("1795492812|1795492810.1|sales|SIP/1001|COMPLETEAGENT|1|2.5|1", "non_numeric"),
    ("1795492812|1795492810.1|sales|SIP/1001|RINGNOANSWER|", "missing_field"),
    ("1795492812|1795492810.1|sales|SIP/1001|FROBNICATE|1", "unknown_verb"),
    ("1795492812|1795492810.1|sales|NONE|ENTERQ", "unknown_verb"),
    ("1795492813|1795492810.1|sales|SIP/1001|COMPLETECALLER|2", "missing_field"),
    ("1795492813|1795492810.1|sales|NONE|CONNECT|2|1795492811.2|1", "missing_field"),
    ("1795492813|NONE|sales|NONE|ENTERQUEUE||1|1", "missing_field"),
    ("1795492813|1795492810.1|NONE|SIP/1001|ABANDON|1|1|2", "missing_field"),
    ("1795492813|1795492810.1|sales|SIP/1001|ATTENDEDTRANSFER|TELEPORT|x", "invalid_field"),
]


@pytest.mark.parametrize(("line", "reason"), BAD)
def test_bad_lines_are_rejected_with_a_reason(line: str, reason: str) -> None:
    with pytest.raises(LineError) as info:
        parse_line(line)
    assert info.value.reason == reason


# ---- mapping ----------------------------------------------------------------------------------

DAY_EVENTS = """
    09:00:00 agent.profile SIP/1001 name=SIP/1001 queues=sales team=asterisk
    09:00:00 agent.state SIP/1001 state=available
    09:00:00 agent.profile SIP/1001 name=SIP/1001 queues=sales,support team=asterisk
    09:00:00 agent.profile SIP/1002 name=SIP/1002 queues=sales team=asterisk
    09:00:00 agent.state SIP/1002 state=available
    09:00:00 agent.profile Agent/2001 name=Agent/2001 queues=- team=asterisk
    09:00:00 agent.state Agent/2001 state=available
    09:00:00 agent.profile SIP/1003 name=SIP/1003 queues=support team=asterisk
    09:00:00 agent.state SIP/1003 reason=pause state=aux
    09:00:00 agent.profile Local/3001@from-queue name=Local/3001@from-queue/n queues=- team=asterisk
    09:00:00 agent.state Local/3001@from-queue state=available
    09:00:00 contact.offered 1795482000.101@sales channel=voice customer=13800000001 queue=sales
    09:00:12 contact.answered 1795482000.101@sales agent_id=SIP/1001 queue=sales
    09:00:12 agent.state SIP/1001 state=on_contact
    09:01:00 contact.offered 1795482060.103@sales channel=voice customer=13800000002 queue=sales
    09:01:30 contact.answered 1795482060.103@sales agent_id=SIP/1002 queue=sales
    09:01:30 agent.state SIP/1002 state=on_contact
    09:02:00 contact.offered 1795482120.105@sales channel=voice queue=sales
    09:02:03 contact.abandoned 1795482120.105@sales queue=sales
    09:03:00 contact.ended 1795482000.101@sales agent_id=SIP/1001
    09:03:00 agent.state SIP/1001 state=available
    09:04:30 contact.ended 1795482060.103@sales agent_id=SIP/1002
    09:04:30 agent.state SIP/1002 state=available
    09:05:00 contact.offered 1795482300.106@sales channel=voice customer=13800000004 queue=sales
    09:05:40 contact.abandoned 1795482300.106@sales queue=sales
    09:06:00 contact.offered 1795482360.107@sales channel=voice customer=13800000005 queue=sales
    09:07:00 contact.overflowed 1795482360.107@sales queue=sales reason=timeout
    09:07:00 contact.offered 1795482360.107@support channel=voice customer=13800000005 parent_contact_id=1795482360.107@sales queue=support
    09:07:10 contact.answered 1795482360.107@support agent_id=Agent/2001 queue=support
    09:07:10 agent.profile Agent/2001 name=Agent/2001 queues=support team=asterisk
    09:07:10 agent.state Agent/2001 state=on_contact
    09:09:10 contact.transferred 1795482360.107@support agent_id=Agent/2001 to_queue=4000@from-internal
    09:09:10 agent.state Agent/2001 state=available
    09:10:00 contact.offered 1795482600.109@sales channel=voice customer=13800000006 queue=sales
    09:10:00 agent.state SIP/1003 state=available
    09:10:15 contact.overflowed 1795482600.109@sales queue=sales reason=key
    09:12:00 contact.offered 1795482720.110@sales channel=voice customer=13800000007 queue=sales
    09:12:02 contact.overflowed 1795482720.110@sales queue=sales reason=no_agents
    09:14:00 contact.offered 1795482840.111@sales channel=voice customer=13800000008 queue=sales
    09:14:08 contact.answered 1795482840.111@sales agent_id=SIP/1001 queue=sales
    09:14:08 agent.state SIP/1001 state=on_contact
    09:16:08 contact.transferred 1795482840.111@sales agent_id=SIP/1001 to_queue=5000@from-internal
    09:16:08 agent.state SIP/1001 state=available
    09:20:00 contact.offered 1795483200.113@support channel=voice customer=13800000009 queue=support
    09:20:25 contact.answered 1795483200.113@support agent_id=SIP/1001 queue=support
    09:20:25 agent.state SIP/1001 state=on_contact
    09:22:25 contact.transferred 1795483200.113@support agent_id=SIP/1001 to_queue=bridge:6c2f0a1e-bridge
    09:22:25 agent.state SIP/1001 state=available
    09:26:00 agent.state SIP/1001 reason=break state=aux
    09:30:00 agent.state Local/3001@from-queue state=logged_out
    09:31:00 contact.offered 1795483860.115@sales channel=voice customer=13800000011 queue=sales
    09:32:00 contact.overflowed 1795483860.115@sales queue=sales reason=timeout
    09:32:00 contact.offered 1795483860.115@sales#2 channel=voice customer=13800000011 parent_contact_id=1795483860.115@sales queue=sales
    09:32:10 contact.answered 1795483860.115@sales#2 agent_id=SIP/1002 queue=sales
    09:32:10 agent.state SIP/1002 state=on_contact
    09:34:10 contact.ended 1795483860.115@sales#2 agent_id=SIP/1002
    09:34:10 agent.state SIP/1002 state=available
    09:40:00 contact.offered 1795484400.117@support channel=voice customer=13800000010 queue=support
    09:40:00 agent.state SIP/1001 state=available
    09:40:45 contact.answered 1795484400.117@support agent_id=Agent/2001 queue=support
    09:40:45 agent.state Agent/2001 state=on_contact
    09:42:00 contact.hold_started 1795484400.117@support agent_id=Agent/2001
    09:43:00 contact.hold_ended 1795484400.117@support agent_id=Agent/2001
    09:45:45 contact.ended 1795484400.117@support agent_id=Agent/2001
    09:45:45 agent.state Agent/2001 state=available
    09:50:00 contact.offered 1795485000.119@support channel=voice customer=13800000012 queue=support
    09:50:00 agent.state SIP/1001 reason=meeting state=aux
    09:51:00 contact.offered 1795485060.120@support channel=voice customer=13800000013 queue=support
    09:51:05 contact.answered 1795485060.120@support agent_id=SIP/1003 queue=support
    09:51:05 agent.state SIP/1003 state=on_contact
    09:55:00 agent.profile SIP/1002 name=SIP/1002 queues=- team=asterisk
    09:55:00 agent.state SIP/1002 state=logged_out
"""  # noqa: E501 - one expected event a line


AGENTS_EVENTS = """
    11:00:00 agent.profile Agent/2002 name=Agent/2002 queues=- team=asterisk
    11:00:00 agent.state Agent/2002 state=available
    11:00:05 agent.state Agent/2002 reason=training state=aux
    11:01:00 agent.state Agent/2002 state=available
    11:01:40 contact.offered 1795489300.31@sales channel=voice customer=+8613900000031 queue=sales
    11:01:44 contact.answered 1795489300.31@sales agent_id=Agent/2002 queue=sales
    11:01:44 agent.profile Agent/2002 name=Agent/2002 queues=sales team=asterisk
    11:01:44 agent.state Agent/2002 state=on_contact
    11:02:44 contact.transferred 1795489300.31@sales agent_id=Agent/2002 to_queue=link:PJSIP/2002-00000022
    11:02:44 agent.state Agent/2002 state=available
    11:03:20 contact.offered 1795489400.33@sales channel=voice customer=13900000033 queue=sales
    11:03:25 contact.answered 1795489400.33@sales agent_id=Agent/2002 queue=sales
    11:03:25 agent.state Agent/2002 state=on_contact
    11:04:25 contact.transferred 1795489400.33@sales agent_id=Agent/2002 to_queue=app:AGI
    11:04:25 agent.state Agent/2002 state=available
    11:05:00 contact.offered 1795489500.35@sales channel=voice customer=13900000035 queue=sales
    11:05:10 contact.answered 1795489500.35@sales agent_id=Agent/2002 queue=sales
    11:05:10 agent.state Agent/2002 state=on_contact
    11:06:10 contact.transferred 1795489500.35@sales agent_id=Agent/2002 to_queue=6000@from-internal
    11:06:10 agent.state Agent/2002 state=available
    11:06:40 agent.state Agent/2002 state=logged_out
    11:08:20 contact.answered 1795489600.40@sales agent_id=SIP/1004 queue=sales
    11:08:20 agent.profile SIP/1004 name=SIP/1004 queues=sales team=asterisk
    11:08:20 agent.state SIP/1004 state=on_contact
    11:09:20 contact.ended 1795489600.40@sales agent_id=SIP/1004
    11:09:20 agent.state SIP/1004 state=available
    11:10:00 agent.profile SIP/1004 name=SIP/1004 queues=sales,support team=asterisk
    11:11:40 contact.offered 1795489900.50@support channel=voice customer=13900000050 queue=support
    11:12:10 contact.overflowed 1795489900.50@support queue=support reason=other
"""


BAD_EVENTS = """
    12:00:00 agent.profile SIP/1001 name=SIP/1001 queues=sales team=asterisk
    12:00:00 agent.state SIP/1001 state=available
    12:00:11 contact.offered 1795492810.1@sales channel=voice customer=13700000001 queue=sales
    12:00:14 contact.answered 1795492810.1@sales agent_id=SIP/1001 queue=sales
    12:00:14 agent.state SIP/1001 state=on_contact
    12:00:13 contact.offered 1795492813.9@sales channel=voice customer=13700000002 queue=sales
    12:01:40 contact.ended 1795492810.1@sales agent_id=SIP/1001
    12:01:40 agent.state SIP/1001 state=available
"""


def test_day_fixture_maps_to_the_hand_written_events() -> None:
    events, dead = replay(FIXTURES / "day.log")
    assert [fmt(e) for e in events] == expected(DAY_EVENTS)
    # the three bad lines in the middle of the day are rejected, nothing else
    assert dead == [(36, "unknown_verb"), (37, "non_numeric"), (38, "out_of_order")]
    for e in events:
        parse_event(e)  # every event satisfies the event contract


def test_agents_fixture_maps_to_the_hand_written_events() -> None:
    mapper = Mapper(TZ)
    events, dead = replay(FIXTURES / "agents.log", mapper)
    assert dead == []
    assert [fmt(e) for e in events] == expected(AGENTS_EVENTS)
    assert mapper.counts["orphan_call_lines"] == 1  # CONNECT of a call whose ENTERQUEUE came before the file


def test_bad_fixture_keeps_the_good_lines_and_names_every_bad_one() -> None:
    mapper = Mapper(TZ)
    events, dead = replay(FIXTURES / "bad.log", mapper)
    assert [fmt(e) for e in events] == expected(BAD_EVENTS)
    assert dead == [
        (2, "malformed"),
        (3, "malformed"),
        (5, "non_numeric"),
        (6, "non_numeric"),
        (7, "unknown_verb"),
        (8, "missing_field"),
        (9, "missing_field"),
        (10, "missing_field"),
        (11, "invalid_field"),
        (14, "out_of_order"),
        (16, "truncated"),
    ]
    # line 13 is 1 s older than line 12: within the default tolerance, accepted and counted
    assert mapper.counts["reordered_tolerated"] == 1


def interval_stats(events: list[dict[str, Any]], settings: Settings) -> dict[tuple[str, str], dict[str, Any]]:
    """The worker's own domain code over the events: STATS per (queue, local interval start)."""
    facts: dict[str, Any] = {}

    def rules_for(queue: str) -> QueueRules:
        q = settings.queue(queue)
        return QueueRules.from_seconds(q.sl_threshold_s, q.short_abandon_s, q.sl_target, q.sl_formula)

    for e in events:
        if e["type"].startswith("contact."):
            ts_ms = parse_event(e).ts_ms
            new = apply_event(facts.get(e["contact_id"]), e, ts_ms, rules_for, customer_key=b"unit-test-customer-key")
            if new is not None:
                facts[e["contact_id"]] = new
    buckets: dict[tuple[str, int], list[Any]] = defaultdict(list)
    for f in facts.values():
        c = contribution(f)
        if c is not None:
            buckets[(f["q"], interval_start_ms(c.offered_ms, settings.tz, 30))].append(c)
    return {
        (q, iso(start, settings.tz)): stats(Counts.of(cs), settings.queue(q).sl_formula)
        for (q, start), cs in buckets.items()
    }


# Hand-computed from day.log (sales: T 20 s, short 5 s; support: T 30 s, short 5 s).
# sales 09:00: offered 101 103 105 106 107 109 110 111 = 8
#   answered 101 (wait 12, in SL), 103 (30, late), 111 (8, in SL): A 3, A_T 2
#   abandoned 105 (3 s, short), 106 (40 s): B 2, S 1; overflowed 107 timeout 60, 109 key 15, 110 empty 2: F 3
#   N = 3 + 1 + 3 = 7; SL 2/7; abandon 1/7; answer 3/7; ASA (12+30+8)/3; avg abandon 40; max wait 60
#   handled 101 (talk 168), 103 (180), 111 transferred (120): AHT 468/3 = 156; transferred 1/3
# sales 09:30: 115 overflowed (timeout after 60 s), 115#2 re-entered and answered in 10 s, talk 120
# support 09:00: 107 (overflowed from sales) answered in 10 s, blind transfer after 120 s;
#   113 answered in 25 s, attended transfer after 120 s: both handled, both transferred
# support 09:30: 117 answered in 45 s (late), hold 60 s, ended 300 s after answer: talk 240 + hold 60;
#   119 still waiting; 120 answered in 5 s, still talking
DAY_STATS = {
    ("sales", "2026-11-24T09:00:00+08:00"): {
        "offered": 8,
        "answered": 3,
        "answered_within_sl": 2,
        "abandoned": 2,
        "short_abandoned": 1,
        "overflowed": 3,
        "service_level": 2 / 7,
        "abandon_rate": 1 / 7,
        "answer_rate": 3 / 7,
        "asa_s": 50 / 3,
        "aht_s": 156.0,
        "avg_abandon_s": 40.0,
        "max_wait_s": 60.0,
        "handled": 3,
        "transferred": 1,  # 111
        "transfer_rate": 1 / 3,
        "surveys": 0,
        "csat_avg": None,
        "csat_satisfied": None,
        "fcr_eligible": 0,
        "fcr_resolved": 0,
        "fcr": None,
        "customer_contacts": 0,
        "repeat_contacts": 0,
        "repeat_rate": None,
    },
    ("sales", "2026-11-24T09:30:00+08:00"): {
        "offered": 2,
        "answered": 1,
        "answered_within_sl": 1,
        "abandoned": 0,
        "short_abandoned": 0,
        "overflowed": 1,
        "service_level": 0.5,
        "abandon_rate": 0.0,
        "answer_rate": 0.5,
        "asa_s": 10.0,
        "aht_s": 120.0,
        "avg_abandon_s": None,
        "max_wait_s": 60.0,
        "handled": 1,
        "transferred": 0,
        "transfer_rate": 0.0,
        "surveys": 0,
        "csat_avg": None,
        "csat_satisfied": None,
        "fcr_eligible": 0,
        "fcr_resolved": 0,
        "fcr": None,
        "customer_contacts": 0,
        "repeat_contacts": 0,
        "repeat_rate": None,
    },
    ("support", "2026-11-24T09:00:00+08:00"): {
        "offered": 2,
        "answered": 2,
        "answered_within_sl": 2,
        "abandoned": 0,
        "short_abandoned": 0,
        "overflowed": 0,
        "service_level": 1.0,
        "abandon_rate": 0.0,
        "answer_rate": 1.0,
        "asa_s": 17.5,
        "aht_s": 120.0,
        "avg_abandon_s": None,
        "max_wait_s": 25.0,
        "handled": 2,
        "transferred": 2,  # 107 blind, 113 attended
        "transfer_rate": 1.0,
        "surveys": 0,
        "csat_avg": None,
        "csat_satisfied": None,
        "fcr_eligible": 0,
        "fcr_resolved": 0,
        "fcr": None,
        "customer_contacts": 0,
        "repeat_contacts": 0,
        "repeat_rate": None,
    },
    ("support", "2026-11-24T09:30:00+08:00"): {
        "offered": 3,
        "answered": 2,
        "answered_within_sl": 1,
        "abandoned": 0,
        "short_abandoned": 0,
        "overflowed": 0,
        "service_level": 0.5,
        "abandon_rate": 0.0,
        "answer_rate": 1.0,
        "asa_s": 25.0,
        "aht_s": 300.0,
        "avg_abandon_s": None,
        "max_wait_s": 45.0,
        "handled": 1,
        "transferred": 0,
        "transfer_rate": 0.0,
        "surveys": 0,
        "csat_avg": None,
        "csat_satisfied": None,
        "fcr_eligible": 0,
        "fcr_resolved": 0,
        "fcr": None,
        "customer_contacts": 0,
        "repeat_contacts": 0,
        "repeat_rate": None,
    },
}

# Final agent states of day.log (hand-derived; see the events above).
DAY_AGENTS = {
    "SIP/1001": ("aux", "meeting", ["sales", "support"]),  # paused in both queues at 09:50
    "SIP/1002": ("logged_out", None, []),  # removed from its only queue at 09:55
    "Agent/2001": ("available", None, ["support"]),  # static member learnt from CONNECT
    "SIP/1003": ("on_contact", None, ["support"]),  # took 120 at 09:51:05
    "Local/3001@from-queue": ("logged_out", None, []),  # callback logoff at 09:30
}


def example_settings() -> Settings:
    import yaml

    data = yaml.safe_load((Path(__file__).resolve().parents[3] / "floorwatch.yaml").read_text())
    return Settings(**{k: v for k, v in data.items() if k in ("timezone", "queues", "queue_defaults")})


def test_day_fixture_gives_the_hand_computed_interval_stats() -> None:
    settings = example_settings()
    events, _ = replay(FIXTURES / "day.log", Mapper(settings.tz))
    got = interval_stats(events, settings)
    assert set(got) == set(DAY_STATS)
    for key, want in DAY_STATS.items():
        assert got[key] == pytest.approx(want), key


def test_day_fixture_final_agent_states() -> None:
    events, _ = replay(FIXTURES / "day.log")
    final: dict[str, list[Any]] = {}
    for e in events:
        if e["type"] == "agent.state":
            final.setdefault(e["agent_id"], [None, None, []])[:2] = [e["state"], e.get("reason")]
        elif e["type"] == "agent.profile":
            final.setdefault(e["agent_id"], [None, None, []])[2] = e["queues"]
    assert {k: tuple(v) for k, v in final.items()} == DAY_AGENTS


def test_event_ids_are_deterministic_unique_and_sort_like_the_lines() -> None:
    first, _ = replay(FIXTURES / "day.log")
    again, _ = replay(FIXTURES / "day.log")
    assert first == again
    ids = [e["event_id"] for e in first]
    assert len(set(ids)) == len(ids)
    # within one second, ids follow the line order (the worker breaks (ts) ties by event_id)
    same_second = [e["event_id"] for e in first if e["ts"].endswith("09:00:00+08:00")]
    assert same_second == sorted(same_second)
    raw = b"1795482000|MANAGER|sales|SIP/1001|ADDMEMBER|"
    assert event_id(1795482000, 0, line_digest(raw + b"\n"), 1) == event_id(1795482000, 0, line_digest(raw), 1)


def test_every_event_routes_to_its_topic_and_key() -> None:
    events, _ = replay(FIXTURES / "day.log")
    for e in events:
        topic, key = route(parse_event(e))
        assert key == (e.get("contact_id") or e["agent_id"])
        assert topic == ("fw.contact-events" if e["type"].startswith("contact.") else "fw.agent-events")


def test_state_round_trip_mid_file_gives_the_same_events() -> None:
    whole, _ = replay(FIXTURES / "day.log")
    lines = (FIXTURES / "day.log").read_bytes().splitlines()
    mapper = Mapper(TZ)
    out: list[dict[str, Any]] = []
    seq_epoch, seq = None, 0
    for n, raw in enumerate(lines):
        epoch = raw.split(b"|", 1)[0]
        seq = seq + 1 if epoch == seq_epoch else 0
        seq_epoch = epoch
        if n % 7 == 0:  # persist and reload the state, as a restarted follower does
            restored = Mapper(TZ)
            restored.load_json(orjson.loads(orjson.dumps(mapper.to_json())))
            mapper = restored
        with contextlib.suppress(LineError):
            out += mapper.feed(parse_line(raw.decode()), seq, line_digest(raw))
    assert out == whole


def test_agent_map_merges_interface_and_member_name() -> None:
    lines = [
        "1795482000|MANAGER|sales|PJSIP/1001|ADDMEMBER|",
        "1795482000|1795482000.1|sales|NONE|ENTERQUEUE||555|1",
        "1795482010|1795482000.1|sales|Alice Chen|CONNECT|10|1795482001.2|3",
        "1795482070|1795482000.1|sales|Alice Chen|COMPLETEAGENT|10|60|1",
    ]
    mapper = Mapper(
        TZ,
        agent_map={
            "PJSIP/1001": {"agent_id": "1001", "name": "Alice Chen", "team": "north"},
            "Alice Chen": {"agent_id": "1001"},
        },
    )
    events = [e for i, line in enumerate(lines) for e in mapper.feed(parse_line(line), i, "0" * 40)]
    assert [fmt(e) for e in events] == [
        "09:00:00 agent.profile 1001 name=Alice Chen queues=sales team=north",
        "09:00:00 agent.state 1001 state=available",
        "09:00:00 contact.offered 1795482000.1@sales channel=voice customer=555 queue=sales",
        "09:00:10 contact.answered 1795482000.1@sales agent_id=1001 queue=sales",
        "09:00:10 agent.state 1001 state=on_contact",
        "09:01:10 contact.ended 1795482000.1@sales agent_id=1001",
        "09:01:10 agent.state 1001 state=available",
    ]


def test_normalize_agent() -> None:
    assert normalize_agent(" Local/3001@from-queue/n ") == "Local/3001@from-queue"
    assert normalize_agent("SIP/1001") == "SIP/1001"
    assert normalize_agent("Local/3001@from-queue") == "Local/3001@from-queue"


def test_wait_mismatch_against_logged_holdtime_is_counted() -> None:
    mapper = Mapper(TZ)
    mapper.feed(parse_line("1795482000|c1|sales|NONE|ENTERQUEUE||1|1"), 0, "a" * 40)
    mapper.feed(parse_line("1795482012|c1|sales|SIP/1|CONNECT|13|x|1"), 0, "b" * 40)  # 12 vs 13: within 1 s
    assert "holdtime_mismatch" not in mapper.counts
    mapper.feed(parse_line("1795482100|c2|sales|NONE|ENTERQUEUE||1|1"), 0, "c" * 40)
    mapper.feed(parse_line("1795482112|c2|sales|SIP/1|CONNECT|30|x|1"), 0, "d" * 40)
    assert mapper.counts["holdtime_mismatch"] == 1


# ---- the CLI, in process, to NDJSON -------------------------------------------------------------


def cli_args(path: Path, **kw: Any) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    service.add_arguments(parser)
    argv = [str(path)]
    for k, v in kw.items():
        flag = "--" + k.replace("_", "-")
        argv += [flag] if v is True else [flag, str(v)]
    return parser.parse_args(argv)


def test_cli_replay_to_ndjson_with_dead_letters_and_summary(tmp_path: Path, capsys: Any) -> None:
    settings = example_settings()
    out, dead = tmp_path / "events.ndjson", tmp_path / "dead.ndjson"
    code = service.main(settings, cli_args(FIXTURES / "bad.log", out=out, dead_letters=dead), fixture_clock)
    assert code == 0
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [fmt(e) for e in events] == expected(BAD_EVENTS)
    letters = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert [(d["line"], d["reason"]) for d in letters] == replay(FIXTURES / "bad.log")[1]
    assert all(
        d["topic"] == "queue_log"
        and d["file"].endswith("bad.log")
        and d["raw"] is not None
        and set(d) == {"reason", "error", "topic", "file", "line", "raw", "at_ms"}
        for d in letters
    )
    assert letters[-1]["raw"] == "1795492901|1795492901.7|sales|NONE|ENTERQUEUE||137"
    err = capsys.readouterr().err
    assert "16 lines 8 events 11 dead letters" in err
    assert "out_of_order 1" in err and "truncated 1" in err


def test_cli_replay_is_idempotent_with_a_state_file(tmp_path: Path) -> None:
    settings = example_settings()
    log_file = tmp_path / "queue_log"
    day = (FIXTURES / "day.log").read_bytes().splitlines(keepends=True)
    log_file.write_bytes(b"".join(day[:20]) + day[20][:15])  # ends in a partial line
    out, state = tmp_path / "out.ndjson", tmp_path / "state.json"
    assert service.main(settings, cli_args(log_file, out=out, state=state), fixture_clock) == 0
    n_first = len(out.read_bytes().splitlines())
    assert service.main(settings, cli_args(log_file, out=out, state=state), fixture_clock) == 0  # nothing new
    assert len(out.read_bytes().splitlines()) == n_first
    with log_file.open("ab") as fh:
        fh.write(day[20][15:] + b"".join(day[21:]))
    assert service.main(settings, cli_args(log_file, out=out, state=state), fixture_clock) == 0
    got = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    whole, _ = replay(FIXTURES / "day.log")
    assert got == whole  # the partial line waited; nothing skipped, nothing twice


def test_speed_paces_by_the_line_timestamps(tmp_path: Path) -> None:
    log_file = tmp_path / "queue_log"
    log_file.write_text("1795482000|c1|sales|NONE|ENTERQUEUE||1|1\n1795482002|c1|sales|NONE|ABANDON|1|1|2\n")
    import time

    started = time.monotonic()
    options = service.Options(file=log_file, speed=4.0, out=str(tmp_path / "o.ndjson"))
    assert asyncio.run(service.run(example_settings(), options, clock_ms=fixture_clock)) == 0
    assert 0.4 <= time.monotonic() - started < 3  # 2 s of log at 4x = 0.5 s


def test_output_written_after_the_last_saved_state_is_cut_back(tmp_path: Path) -> None:
    """A kill between writing events and saving the state: the restart writes them once."""
    settings = example_settings()
    log_file = tmp_path / "queue_log"
    day = (FIXTURES / "day.log").read_bytes().splitlines(keepends=True)
    log_file.write_bytes(b"".join(day[:30]))
    out, state = tmp_path / "out.ndjson", tmp_path / "state.json"
    assert service.main(settings, cli_args(log_file, out=out, state=state), fixture_clock) == 0
    with out.open("ab") as fh:  # what a killed run had written for lines it never recorded
        fh.write(out.read_bytes().splitlines(keepends=True)[-1] + b'{"half a')
    with log_file.open("ab") as fh:
        fh.write(b"".join(day[30:]))
    assert service.main(settings, cli_args(log_file, out=out, state=state), fixture_clock) == 0
    got = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert got == replay(FIXTURES / "day.log")[0]


def test_a_paced_replay_stopped_midway_resumes_at_the_next_line(tmp_path: Path) -> None:
    settings = example_settings()
    out, state = tmp_path / "out.ndjson", tmp_path / "state.json"
    paced = service.Options(
        file=FIXTURES / "day.log", speed=600.0, state=state, out=str(out), dead_letters=str(tmp_path / "dead.ndjson")
    )

    async def stop_after(seconds: float) -> int:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(seconds, stop.set)
        return await service.run(settings, paced, stop, fixture_clock)

    assert asyncio.run(stop_after(1.0)) == 0  # 1 s at 600x: about the first ten minutes of the log
    first = len(out.read_bytes().splitlines())
    whole, _ = replay(FIXTURES / "day.log")
    assert 0 < first < len(whole)
    rest = service.Options(
        file=FIXTURES / "day.log", state=state, out=str(out), dead_letters=str(tmp_path / "dead.ndjson")
    )
    assert asyncio.run(service.run(settings, rest, clock_ms=fixture_clock)) == 0
    assert [orjson.loads(line) for line in out.read_bytes().splitlines()] == whole
    assert len((tmp_path / "dead.ndjson").read_bytes().splitlines()) == 3


# ---- implausible times: dead letters that move nothing -------------------------------------------


@pytest.mark.parametrize(
    ("epoch", "fragment"),
    [
        (99_999_999_999, "5138-11-16T09:46:39.000Z is more than 300 s after now (ingest.max_future_s)"),
        (999_999_999_999_999, "999999999999999000 ms after 1970 is more than 300 s after now (ingest.max_future_s)"),
        (0, "1970-01-01T00:00:00.000Z is more than 62 days before now (retention_days)"),
        (FIXTURE_NOW_MS // 1000 + 301, "is more than 300 s after now (ingest.max_future_s)"),
    ],
)
def test_check_line_time_refuses_what_the_event_contract_refuses(epoch: int, fragment: str) -> None:
    line = parse_line(f"{epoch}|c1|sales|NONE|ENTERQUEUE||1|1")
    with pytest.raises(LineError) as err:
        check_line_time(line, now_ms=FIXTURE_NOW_MS)
    assert err.value.reason == "implausible_time"
    assert f"ENTERQUEUE: timestamp {epoch}: field 'ts': " in str(err.value)
    assert fragment in str(err.value)


def test_check_line_time_accepts_the_window_edges() -> None:
    for epoch in (FIXTURE_NOW_MS // 1000 + 300, FIXTURE_NOW_MS // 1000 - 62 * 86_400):
        check_line_time(parse_line(f"{epoch}|c1|sales|NONE|ENTERQUEUE||1|1"), now_ms=FIXTURE_NOW_MS)


BAD_EPOCHS = """\
1795482000|c1|sales|NONE|ENTERQUEUE||1|1
1795482010|c1|sales|SIP/1001|CONNECT|10|x|1
99999999999|c2|sales|NONE|ENTERQUEUE||2|1
999999999999999|c3|sales|NONE|ENTERQUEUE||3|1
1795482070|c1|sales|SIP/1001|COMPLETECALLER|10|60|1
"""
MORE = "1795482100|c4|sales|NONE|ENTERQUEUE||4|1\n"


def test_implausible_epochs_are_dead_letters_and_later_lines_still_count(tmp_path: Path, capsys: Any) -> None:
    """The two epochs that once moved the watermark to 5138 or stopped the connector at every start."""
    settings = example_settings()
    log_file, out, dead, state = (tmp_path / n for n in ("queue_log", "out.ndjson", "dead.ndjson", "state.json"))
    log_file.write_text(BAD_EPOCHS)
    assert service.main(settings, cli_args(log_file, out=out, dead_letters=dead, state=state), fixture_clock) == 0
    good = BAD_EPOCHS.splitlines()[:2] + BAD_EPOCHS.splitlines()[4:]
    good_file = tmp_path / "good.log"
    good_file.write_text("\n".join(good) + "\n")
    want, _ = replay(good_file, Mapper(settings.tz))
    got = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    # by hand: offered, answered (+ the agent's profile and on_contact), ended (+ available)
    assert [e["type"] for e in got] == [
        "contact.offered",
        "contact.answered",
        "agent.profile",
        "agent.state",
        "contact.ended",
        "agent.state",
    ]
    assert [e["event_id"][:14] for e in got] == [e["event_id"][:14] for e in want]  # the good lines' ids
    assert [{k: v for k, v in e.items() if k != "event_id"} for e in got] == [
        {k: v for k, v in e.items() if k != "event_id"} for e in want
    ]
    letters = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert [(d["line"], d["reason"]) for d in letters] == [(3, "implausible_time"), (4, "implausible_time")]
    assert "(ingest.max_future_s)" in letters[0]["error"] and letters[0]["file"].endswith("queue_log")
    saved = orjson.loads(state.read_bytes())
    assert saved["mapper"]["max_epoch"] == 1_795_482_070  # the last good line, not 99999999999
    assert "2 dead letters (implausible_time 2)" in capsys.readouterr().err
    # restarted on the same state, a later real line is accepted, not out of order
    with log_file.open("a") as fh:
        fh.write(MORE)
    assert service.main(settings, cli_args(log_file, out=out, dead_letters=dead, state=state), fixture_clock) == 0
    last = orjson.loads(out.read_bytes().splitlines()[-1])
    assert (last["type"], last["contact_id"]) == ("contact.offered", "c4@sales")
    assert len(dead.read_bytes().splitlines()) == 2


def test_an_exception_converting_a_line_is_a_dead_letter_not_an_exit(tmp_path: Path, monkeypatch: Any) -> None:
    def broken(self: Mapper, line: Any, emit: Any) -> None:
        raise ZeroDivisionError("division by zero in a handler")

    monkeypatch.setattr(Mapper, "_on_connect", broken)
    log_file, out, dead = tmp_path / "queue_log", tmp_path / "out.ndjson", tmp_path / "dead.ndjson"
    log_file.write_text(BAD_EPOCHS.splitlines()[0] + "\n" + BAD_EPOCHS.splitlines()[1] + "\n" + MORE)
    assert service.main(example_settings(), cli_args(log_file, out=out, dead_letters=dead), fixture_clock) == 0
    letters = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert [(d["line"], d["reason"], d["error"]) for d in letters] == [
        (2, "processing_error", "ZeroDivisionError: division by zero in a handler")
    ]
    got = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [(e["type"], e["contact_id"]) for e in got] == [
        ("contact.offered", "c1@sales"),
        ("contact.offered", "c4@sales"),
    ]


def test_an_event_the_contract_refuses_is_a_dead_letter_of_its_line(tmp_path: Path) -> None:
    """A caller id longer than the text limit: the line's event is refused by parse_event with the
    configured limits (the mapper caps ids at 256, the limit here is 40; event ids take 35)."""
    settings = example_settings().model_copy(update={"ingest": IngestConfig(max_text_chars=40)})
    log_file, out, dead = tmp_path / "queue_log", tmp_path / "out.ndjson", tmp_path / "dead.ndjson"
    log_file.write_text(f"1795482000|c1|sales|NONE|ENTERQUEUE||{'9' * 41}|1\n" + MORE)
    assert service.main(settings, cli_args(log_file, out=out, dead_letters=dead), fixture_clock) == 0
    letters = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
    assert [(d["line"], d["reason"]) for d in letters] == [(1, "too_large")]
    assert "field 'customer': 41 characters, more than 40 (ingest.max_text_chars)" in letters[0]["error"]
    assert [orjson.loads(line)["contact_id"] for line in out.read_bytes().splitlines()] == ["c4@sales"]
