"""The output-topic records of ``floorwatch.records``: a hand-written JSON value of each parses
to the object written out here, ``to_record()`` gives that JSON back (same keys in the worker's
order, same values), and malformed values raise ``BadRecord`` -- the same values the API's view
counts as bad records."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from floorwatch import records, topics
from floorwatch.domain.adherence import AdherenceException, AdherenceNow, DayAdherence
from floorwatch.domain.agents import agent_status
from floorwatch.domain.alerts import ADHERENCE_BREAK, AlertBook, adherence_rule
from floorwatch.domain.queue_metrics import Counts
from floorwatch.readmodel import queries
from floorwatch.readmodel.view import View
from floorwatch.records import (
    MAX_MS,
    Adherence,
    AgentHandlePartial,
    AgentStatus,
    Alert,
    AlertAck,
    BadRecord,
    CsatAgentPartial,
    DeadLetter,
    FcrAgentPartial,
    FcrIntervalPartial,
    Forecast,
    IntervalPartial,
    QualityPartial,
    QueuePartial,
    WorkerHeartbeat,
    parse_quality,
)

# 2024-12-04 09:00 .. 09:30 in Europe/Berlin (08:00 .. 08:30 UTC)
START = 1_733_299_200_000
END = 1_733_301_000_000
UPDATED = 1_733_300_012_345

# Counts.as_dict(): every field, in the order of the dataclass
COUNTS_JSON = (
    '{"offered":12,"waiting":1,"answered":9,"answered_within_sl":7,"abandoned":2,"short_abandoned":1,'
    '"abandoned_within_sl":1,"overflowed":0,"handled":8,"transferred":2,"wait_answered_ms":91000,"wait_abandoned_ms":40000,'
    '"talk_ms":1800000,"hold_ms":60000,"wrap_ms":240000,"max_wait_ms":33000,"surveys":3,"score_sum":13,'
    '"satisfied":2,"customer_contacts":11,"repeat_contacts":2,"fcr_eligible":6,"fcr_resolved":5}'
)
COUNTS = Counts(
    offered=12,
    waiting=1,
    answered=9,
    answered_within_sl=7,
    abandoned=2,
    short_abandoned=1,
    abandoned_within_sl=1,
    overflowed=0,
    handled=8,
    transferred=2,
    wait_answered_ms=91_000,
    wait_abandoned_ms=40_000,
    talk_ms=1_800_000,
    hold_ms=60_000,
    wrap_ms=240_000,
    max_wait_ms=33_000,
    surveys=3,
    score_sum=13,
    satisfied=2,
    customer_contacts=11,
    repeat_contacts=2,
    fcr_eligible=6,
    fcr_resolved=5,
)
RULES = {"sl_threshold_s": 20.0, "short_abandon_s": 5.0, "sl_target": 0.8, "sl_formula": "answered_over_offered"}

INTERVAL_JSON = (
    '{"queue":"support","start_ms":1733299200000,"partition":3,"end_ms":1733301000000,'
    f'"counts":{COUNTS_JSON},'
    '"rules":{"sl_threshold_s":20.0,"short_abandon_s":5.0,"sl_target":0.8,"sl_formula":"answered_over_offered"},'
    '"mixed_rules":false,"channel":"voice","updated_ms":1733300012345}'
)
QUEUE_JSON = (
    '{"queue":"support","partition":1,"waiting":4,"oldest_waiting_ms":1733300000000,'
    f'"rolling_15m":{COUNTS_JSON},"rolling_60m":{COUNTS_JSON},"computed_ms":1733300012345}}'
)
FCR_INTERVAL_JSON = (
    '{"kind":"fcr_interval","queue":"support","start_ms":1733299200000,"partition":2,"updated_ms":1733300012345,'
    '"counts":{"customer_contacts":11,"repeat_contacts":2,"fcr_eligible":6,"fcr_resolved":5}}'
)
FCR_AGENT_JSON = (
    '{"kind":"fcr_agent","agent_id":"a-17","date":"2024-12-04","partition":0,"updated_ms":1733300012345,'
    '"fcr_eligible":6,"fcr_resolved":5}'
)
# rows sorted by interval start (the worker's order)
AGENT_HANDLE_JSON = (
    '{"kind":"agent_handle","agent_id":"a-17","date":"2024-12-04","partition":5,"updated_ms":1733300012345,'
    '"intervals":{"1733299200000":[2,330000,30000,40000,1,1,4,1],"1733301000000":[0,0,0,0,0,1,2,0]}}'
)
CSAT_AGENT_JSON = (
    '{"kind":"csat_agent","agent_id":"a-17","date":"2024-12-04","partition":5,"updated_ms":1733300012345,'
    '"surveys":3,"score_sum":13,"satisfied":2}'
)
# topics sorted, partitions sorted (the worker's order)
HEARTBEAT_JSON = (
    '{"worker_id":"host-1:4242","at_ms":1733300012345,"started_ms":1733299000000,'
    '"partitions":{"fw.agent-events":[1],"fw.contact-events":[0,2]},"rebalancing":false,"recovering":true}'
)


def same_json(record: dict[str, Any], text: str) -> None:
    """Same keys in the same order, same values (orjson keeps the order of an object)."""
    assert orjson.dumps(record) == orjson.dumps(orjson.loads(text))


def as_data(text: str, **changes: Any) -> dict[str, Any]:
    """The JSON object of ``text`` with fields replaced (``DROP``: removed)."""
    data = orjson.loads(text)
    for name, value in changes.items():
        if value is DROP:
            data.pop(name, None)
        else:
            data[name] = value
    return data


DROP = object()


# -- round trips ----------------------------------------------------------------------------


def test_interval_partial_round_trip() -> None:
    parsed = IntervalPartial.parse(orjson.loads(INTERVAL_JSON))
    assert parsed == IntervalPartial(
        queue="support",
        start_ms=START,
        end_ms=END,
        partition=3,
        counts=COUNTS,
        rules=RULES,
        mixed_rules=False,
        updated_ms=UPDATED,
        channel="voice",
    )
    same_json(parsed.to_record(), INTERVAL_JSON)
    assert parsed.key() == "support|1733299200000|3" == records.interval_key("support", START, 3)


def test_queue_partial_round_trip() -> None:
    parsed = QueuePartial.parse(orjson.loads(QUEUE_JSON))
    assert parsed == QueuePartial(
        queue="support",
        partition=1,
        waiting=4,
        oldest_waiting_ms=1_733_300_000_000,
        rolling_15m=COUNTS,
        rolling_60m=COUNTS,
        computed_ms=UPDATED,
    )
    same_json(parsed.to_record(), QUEUE_JSON)
    assert parsed.key() == "support|1" == records.queue_key("support", 1)


def test_fcr_interval_round_trip() -> None:
    parsed = FcrIntervalPartial.parse(orjson.loads(FCR_INTERVAL_JSON))
    fcr = Counts(customer_contacts=11, repeat_contacts=2, fcr_eligible=6, fcr_resolved=5)
    assert parsed == FcrIntervalPartial(queue="support", start_ms=START, partition=2, updated_ms=UPDATED, counts=fcr)
    same_json(parsed.to_record(), FCR_INTERVAL_JSON)
    assert parsed.key() == "fcr|support|1733299200000|2" == records.fcr_interval_key("support", START, 2)
    assert parse_quality(orjson.loads(FCR_INTERVAL_JSON)) == parsed
    assert QualityPartial.parse(orjson.loads(FCR_INTERVAL_JSON)) == QualityPartial(
        "fcr_interval", "support", START, None, fcr
    )


def test_fcr_interval_writes_only_the_fcr_counts() -> None:
    """Counts of other fields are accepted and not written back (the worker writes these four)."""
    parsed = FcrIntervalPartial.parse(as_data(FCR_INTERVAL_JSON, counts=orjson.loads(COUNTS_JSON)))
    assert parsed.counts == COUNTS
    same_json(parsed.to_record(), FCR_INTERVAL_JSON)


def test_fcr_agent_round_trip() -> None:
    parsed = FcrAgentPartial.parse(orjson.loads(FCR_AGENT_JSON))
    assert parsed == FcrAgentPartial(
        agent_id="a-17", date="2024-12-04", partition=0, updated_ms=UPDATED, fcr_eligible=6, fcr_resolved=5
    )
    same_json(parsed.to_record(), FCR_AGENT_JSON)
    assert parsed.key() == "fcr-agent|a-17|2024-12-04|0"
    assert parse_quality(orjson.loads(FCR_AGENT_JSON)) == parsed
    assert QualityPartial.parse(orjson.loads(FCR_AGENT_JSON)) == QualityPartial(
        "fcr_agent", "a-17", None, "2024-12-04", Counts(fcr_eligible=6, fcr_resolved=5)
    )


def test_csat_agent_round_trip() -> None:
    parsed = CsatAgentPartial.parse(orjson.loads(CSAT_AGENT_JSON))
    assert parsed == CsatAgentPartial(
        agent_id="a-17", date="2024-12-04", partition=5, updated_ms=UPDATED, surveys=3, score_sum=13, satisfied=2
    )
    same_json(parsed.to_record(), CSAT_AGENT_JSON)
    assert parsed.key() == "csat-agent|a-17|2024-12-04|5"
    assert parse_quality(orjson.loads(CSAT_AGENT_JSON)) == parsed
    assert QualityPartial.parse(orjson.loads(CSAT_AGENT_JSON)) == QualityPartial(
        "csat_agent", "a-17", None, "2024-12-04", Counts(surveys=3, score_sum=13, satisfied=2)
    )


def test_agent_handle_round_trip() -> None:
    parsed = AgentHandlePartial.parse(orjson.loads(AGENT_HANDLE_JSON))
    assert parsed == AgentHandlePartial(
        agent_id="a-17",
        date="2024-12-04",
        partition=5,
        updated_ms=UPDATED,
        intervals={START: [2, 330_000, 30_000, 40_000, 1, 1, 4, 1], END: [0, 0, 0, 0, 0, 1, 2, 0]},
    )
    same_json(parsed.to_record(), AGENT_HANDLE_JSON)
    assert (
        parsed.key()
        == "ah|a-17|2024-12-04|5"
        == records.agent_day_key(records.AGENT_HANDLE_KEY, "a-17", "2024-12-04", 5)
    )
    assert parse_quality(orjson.loads(AGENT_HANDLE_JSON)) == parsed
    # the rows summed: 2 handled (330 + 30 + 40 s), 1 transferred, 2 surveys scoring 4 + 2, 1 satisfied
    assert parsed.counts() == Counts(
        handled=2, talk_ms=330_000, hold_ms=30_000, wrap_ms=40_000, transferred=1, surveys=2, score_sum=6, satisfied=1
    )
    # written unsorted, the rows come out sorted by start
    unsorted = AgentHandlePartial(
        "a-17",
        "2024-12-04",
        5,
        UPDATED,
        {END: [0, 0, 0, 0, 0, 1, 2, 0], START: [2, 330_000, 30_000, 40_000, 1, 1, 4, 1]},
    )
    same_json(unsorted.to_record(), AGENT_HANDLE_JSON)


def test_interval_partial_without_a_channel_is_read_with_none() -> None:
    assert IntervalPartial.parse(as_data(INTERVAL_JSON, channel=DROP)).channel is None  # written before channels
    assert IntervalPartial.parse(as_data(INTERVAL_JSON, channel=3)).channel is None
    assert IntervalPartial.parse(as_data(INTERVAL_JSON, channel="")).channel is None


def test_worker_heartbeat_round_trip() -> None:
    parsed = WorkerHeartbeat.parse(orjson.loads(HEARTBEAT_JSON))
    assert parsed == WorkerHeartbeat(
        worker_id="host-1:4242",
        at_ms=UPDATED,
        partitions={"fw.contact-events": frozenset({0, 2}), "fw.agent-events": frozenset({1})},
        rebalancing=False,
        recovering=True,
        started_ms=1_733_299_000_000,
    )
    same_json(parsed.to_record(), HEARTBEAT_JSON)
    # the function the worker calls: unsorted sets in, the same JSON out
    value = records.worker_heartbeat(
        "host-1:4242",
        UPDATED,
        1_733_299_000_000,
        {"fw.contact-events": {2, 0}, "fw.agent-events": [1]},
        rebalancing=False,
        recovering=True,
    )
    same_json(value, HEARTBEAT_JSON)


def test_forecast_parse() -> None:
    event = {
        "event_id": "fc-1",
        "type": "forecast.published",
        "ts": "2024-12-03T18:00:00+01:00",
        "queue": "support",
        "date": "2024-12-04",
        "interval_minutes": 30,
        "intervals": [
            {"start": "2024-12-04T09:30:00+01:00", "offered": 40, "aht_s": 300},
            {"start": "2024-12-04T09:00:00+01:00", "offered": 35.5, "aht_s": 280},
        ],
    }
    assert Forecast.parse(event) == Forecast(
        queue="support",
        date="2024-12-04",
        ts_ms=1_733_245_200_000,  # 2024-12-03T17:00:00Z
        event_id="fc-1",
        interval_minutes=30,
        intervals=((START, 35.5, 280.0), (START + 1_800_000, 40.0, 300.0)),  # sorted by start
    )
    with pytest.raises(BadRecord, match="not a forecast"):
        Forecast.parse(
            {
                "event_id": "e",
                "type": "agent.profile",
                "ts": "2024-12-03T18:00:00+01:00",
                "agent_id": "a",
                "name": "A",
                "team": "t",
                "queues": ["support"],
            }
        )
    with pytest.raises(BadRecord):
        Forecast.parse({**event, "intervals": "none"})


def test_the_kinds_and_key_prefixes() -> None:
    assert (records.FCR_INTERVAL, records.FCR_AGENT, records.CSAT_AGENT, records.AGENT_HANDLE) == (
        "fcr_interval",
        "fcr_agent",
        "csat_agent",
        "agent_handle",
    )
    assert (records.FCR_INTERVAL_KEY, records.FCR_AGENT_KEY, records.CSAT_AGENT_KEY, records.AGENT_HANDLE_KEY) == (
        "fcr",
        "fcr-agent",
        "csat-agent",
        "ah",
    )
    assert records.agent_day_key(records.FCR_AGENT_KEY, "a", "2024-12-04", 1) == "fcr-agent|a|2024-12-04|1"
    assert records.agent_day_key(records.CSAT_AGENT_KEY, "a", "2024-12-04", 1) == "csat-agent|a|2024-12-04|1"


@pytest.mark.parametrize(
    ("cls", "text"),
    [
        (IntervalPartial, INTERVAL_JSON),
        (QueuePartial, QUEUE_JSON),
        (QualityPartial, FCR_INTERVAL_JSON),
        (WorkerHeartbeat, HEARTBEAT_JSON),
    ],
)
def test_kept_records_have_no_instance_dict(cls: Any, text: str) -> None:
    """The view keeps one of these per partial: slots only."""
    assert not hasattr(cls.parse(orjson.loads(text)), "__dict__")


# -- what parse tolerates (as the view always did) ------------------------------------------


def test_interval_optional_fields() -> None:
    data = as_data(INTERVAL_JSON, end_ms=None, partition=DROP, updated_ms=DROP, rules="x", mixed_rules=DROP)
    parsed = IntervalPartial.parse(data)
    assert (parsed.end_ms, parsed.partition, parsed.updated_ms, parsed.rules, parsed.mixed_rules) == (
        None,
        None,
        None,
        None,
        False,
    )


GOOD_RULES = {"sl_threshold_s": 20.0, "short_abandon_s": 5, "sl_target": 0.8, "sl_formula": "answered_over_offered"}


@pytest.mark.parametrize(
    ("rules", "kept"),
    [
        (GOOD_RULES, GOOD_RULES),
        ({**GOOD_RULES, "extra": [1]}, GOOD_RULES),  # other keys dropped
        ({**GOOD_RULES, "sl_threshold_s": [20]}, None),  # unhashable: once crashed mixed_rules
        ({**GOOD_RULES, "sl_target": True}, None),
        ({**GOOD_RULES, "short_abandon_s": -1}, None),
        ({**GOOD_RULES, "sl_threshold_s": float("inf")}, None),
        ({**GOOD_RULES, "sl_formula": "made_up"}, None),
        ({k: v for k, v in GOOD_RULES.items() if k != "sl_target"}, None),
    ],
)
def test_interval_rules_are_kept_only_when_well_formed(rules: Any, kept: Any) -> None:
    parsed = IntervalPartial.parse(as_data(INTERVAL_JSON, rules=rules))
    assert parsed.rules == kept


def test_queue_optional_fields() -> None:
    parsed = QueuePartial.parse(as_data(QUEUE_JSON, waiting=DROP, rolling_15m=None, rolling_60m=DROP))
    assert (parsed.waiting, parsed.rolling_15m, parsed.rolling_60m) == (0, Counts(), Counts())


def test_fields_no_reader_needs_are_kept_only_when_integers() -> None:
    parsed = FcrAgentPartial.parse(as_data(FCR_AGENT_JSON, partition="0", updated_ms=True))
    assert (parsed.partition, parsed.updated_ms) == (None, None)
    beat = WorkerHeartbeat.parse(as_data(HEARTBEAT_JSON, started_ms="x", rebalancing="yes", partitions=DROP))
    assert (beat.started_ms, beat.rebalancing, beat.partitions) == (None, False, {})


# -- malformed values -------------------------------------------------------------------------

BAD = [
    # (topic, the record class, its good JSON, changed fields: DROP removes one)
    (topics.INTERVAL_STATS, IntervalPartial, INTERVAL_JSON, {"queue": DROP}),
    (topics.INTERVAL_STATS, IntervalPartial, INTERVAL_JSON, {"queue": ""}),
    (topics.INTERVAL_STATS, IntervalPartial, INTERVAL_JSON, {"start_ms": DROP}),
    (topics.INTERVAL_STATS, IntervalPartial, INTERVAL_JSON, {"start_ms": str(START)}),
    (topics.INTERVAL_STATS, IntervalPartial, INTERVAL_JSON, {"start_ms": True}),
    (topics.INTERVAL_STATS, IntervalPartial, INTERVAL_JSON, {"start_ms": -1}),
    (topics.INTERVAL_STATS, IntervalPartial, INTERVAL_JSON, {"end_ms": 1.5}),
    (topics.INTERVAL_STATS, IntervalPartial, INTERVAL_JSON, {"updated_ms": MAX_MS + 1}),
    (topics.INTERVAL_STATS, IntervalPartial, INTERVAL_JSON, {"partition": False}),
    (topics.INTERVAL_STATS, IntervalPartial, INTERVAL_JSON, {"counts": DROP}),
    (topics.INTERVAL_STATS, IntervalPartial, INTERVAL_JSON, {"counts": [1, 2]}),
    (topics.INTERVAL_STATS, IntervalPartial, INTERVAL_JSON, {"counts": {"offered": "3"}}),
    (topics.INTERVAL_STATS, IntervalPartial, INTERVAL_JSON, {"counts": {"offered": True}}),
    (topics.INTERVAL_STATS, IntervalPartial, INTERVAL_JSON, {"counts": {"max_wait_ms": 2.5}}),
    (topics.QUEUE_STATS, QueuePartial, QUEUE_JSON, {"queue": DROP}),
    (topics.QUEUE_STATS, QueuePartial, QUEUE_JSON, {"waiting": True}),
    (topics.QUEUE_STATS, QueuePartial, QUEUE_JSON, {"waiting": "4"}),
    (topics.QUEUE_STATS, QueuePartial, QUEUE_JSON, {"oldest_waiting_ms": -5}),
    (topics.QUEUE_STATS, QueuePartial, QUEUE_JSON, {"computed_ms": -1}),
    (topics.QUEUE_STATS, QueuePartial, QUEUE_JSON, {"rolling_15m": "x"}),
    (topics.QUEUE_STATS, QueuePartial, QUEUE_JSON, {"rolling_60m": {"answered": 1.5}}),
    (topics.QUALITY_STATS, FcrIntervalPartial, FCR_INTERVAL_JSON, {"kind": DROP}),
    (topics.QUALITY_STATS, FcrIntervalPartial, FCR_INTERVAL_JSON, {"kind": "fcr"}),
    (topics.QUALITY_STATS, FcrIntervalPartial, FCR_INTERVAL_JSON, {"queue": DROP}),
    (topics.QUALITY_STATS, FcrIntervalPartial, FCR_INTERVAL_JSON, {"start_ms": -1}),
    (topics.QUALITY_STATS, FcrIntervalPartial, FCR_INTERVAL_JSON, {"start_ms": None}),
    (topics.QUALITY_STATS, FcrIntervalPartial, FCR_INTERVAL_JSON, {"counts": DROP}),
    (topics.QUALITY_STATS, FcrIntervalPartial, FCR_INTERVAL_JSON, {"counts": {"fcr_eligible": True}}),
    (topics.QUALITY_STATS, FcrAgentPartial, FCR_AGENT_JSON, {"fcr_eligible": DROP}),
    (topics.QUALITY_STATS, FcrAgentPartial, FCR_AGENT_JSON, {"fcr_resolved": True}),
    (topics.QUALITY_STATS, FcrAgentPartial, FCR_AGENT_JSON, {"fcr_resolved": None}),
    (topics.QUALITY_STATS, FcrAgentPartial, FCR_AGENT_JSON, {"date": "2024-13-01"}),
    (topics.QUALITY_STATS, FcrAgentPartial, FCR_AGENT_JSON, {"date": "04/12/2024"}),
    (topics.QUALITY_STATS, FcrAgentPartial, FCR_AGENT_JSON, {"agent_id": ""}),
    (topics.QUALITY_STATS, CsatAgentPartial, CSAT_AGENT_JSON, {"surveys": DROP}),
    (topics.QUALITY_STATS, CsatAgentPartial, CSAT_AGENT_JSON, {"score_sum": "13"}),
    (topics.QUALITY_STATS, CsatAgentPartial, CSAT_AGENT_JSON, {"satisfied": False}),
    (topics.QUALITY_STATS, CsatAgentPartial, CSAT_AGENT_JSON, {"date": DROP}),
    (topics.QUALITY_STATS, CsatAgentPartial, CSAT_AGENT_JSON, {"agent_id": 17}),
    (topics.QUALITY_STATS, AgentHandlePartial, AGENT_HANDLE_JSON, {"intervals": DROP}),
    (topics.QUALITY_STATS, AgentHandlePartial, AGENT_HANDLE_JSON, {"intervals": [[1] * 8]}),
    (topics.QUALITY_STATS, AgentHandlePartial, AGENT_HANDLE_JSON, {"intervals": {"x": [0] * 8}}),
    (topics.QUALITY_STATS, AgentHandlePartial, AGENT_HANDLE_JSON, {"intervals": {"-1": [0] * 8}}),
    (topics.QUALITY_STATS, AgentHandlePartial, AGENT_HANDLE_JSON, {"intervals": {str(START): [0] * 7}}),
    (topics.QUALITY_STATS, AgentHandlePartial, AGENT_HANDLE_JSON, {"intervals": {str(START): [0] * 9}}),
    (topics.QUALITY_STATS, AgentHandlePartial, AGENT_HANDLE_JSON, {"intervals": {str(START): [0] * 7 + [True]}}),
    (topics.QUALITY_STATS, AgentHandlePartial, AGENT_HANDLE_JSON, {"intervals": {str(START): [0] * 7 + [1.5]}}),
    (topics.QUALITY_STATS, AgentHandlePartial, AGENT_HANDLE_JSON, {"intervals": {str(START): "0"}}),
    (
        topics.QUALITY_STATS,
        AgentHandlePartial,
        AGENT_HANDLE_JSON,
        {"intervals": {str(START + i * 900_000): [0] * 8 for i in range(201)}},
    ),
    (topics.QUALITY_STATS, AgentHandlePartial, AGENT_HANDLE_JSON, {"date": "2024-12-32"}),
    (topics.QUALITY_STATS, AgentHandlePartial, AGENT_HANDLE_JSON, {"agent_id": DROP}),
    (topics.WORKER_STATUS, WorkerHeartbeat, HEARTBEAT_JSON, {"worker_id": DROP}),
    (topics.WORKER_STATUS, WorkerHeartbeat, HEARTBEAT_JSON, {"worker_id": "w" * 257}),
    (topics.WORKER_STATUS, WorkerHeartbeat, HEARTBEAT_JSON, {"at_ms": DROP}),
    (topics.WORKER_STATUS, WorkerHeartbeat, HEARTBEAT_JSON, {"at_ms": -1}),
    (topics.WORKER_STATUS, WorkerHeartbeat, HEARTBEAT_JSON, {"at_ms": True}),
    (topics.WORKER_STATUS, WorkerHeartbeat, HEARTBEAT_JSON, {"partitions": [0, 1]}),
    (topics.WORKER_STATUS, WorkerHeartbeat, HEARTBEAT_JSON, {"partitions": {f"t{i}": [0] for i in range(17)}}),
    (topics.WORKER_STATUS, WorkerHeartbeat, HEARTBEAT_JSON, {"partitions": {"t": [True]}}),
    (topics.WORKER_STATUS, WorkerHeartbeat, HEARTBEAT_JSON, {"partitions": {"t": [-1]}}),
    (topics.WORKER_STATUS, WorkerHeartbeat, HEARTBEAT_JSON, {"partitions": {"t": "0"}}),
    (topics.WORKER_STATUS, WorkerHeartbeat, HEARTBEAT_JSON, {"partitions": {"t": list(range(10_001))}}),
]


def bad_id(case: tuple[Any, ...]) -> str:
    _topic, cls, _text, changes = case
    return f"{cls.__name__}-" + "-".join(f"{k}={'missing' if v is DROP else str(v)[:12]}" for k, v in changes.items())


@pytest.mark.parametrize("case", BAD, ids=[bad_id(c) for c in BAD])
def test_malformed_values_raise_bad_record_and_the_view_skips_them(case: tuple[Any, ...]) -> None:
    topic, cls, text, changes = case
    data = as_data(text, **changes)
    with pytest.raises(BadRecord):
        cls.parse(data)
    # the view: the same record is counted as bad and not kept
    view = View()
    assert view.apply(topic, b"some-key", orjson.dumps(data)) is False
    assert view.bad_records == 1
    assert (view.intervals, view.queue_stats, view.quality, view.workers) == ({}, {}, {}, {})
    assert (view.agent_handle, view.agent_handle_keys) == ({}, {})


@pytest.mark.parametrize(
    ("cls", "text"),
    [
        (FcrIntervalPartial, FCR_AGENT_JSON),
        (FcrAgentPartial, CSAT_AGENT_JSON),
        (CsatAgentPartial, FCR_INTERVAL_JSON),
        (AgentHandlePartial, CSAT_AGENT_JSON),
    ],
)
def test_a_quality_class_refuses_another_kind(cls: Any, text: str) -> None:
    with pytest.raises(BadRecord, match="expected"):
        cls.parse(orjson.loads(text))


def test_unknown_quality_kind() -> None:
    with pytest.raises(BadRecord, match="unknown quality record kind 'nps_agent'"):
        parse_quality(as_data(CSAT_AGENT_JSON, kind="nps_agent"))


@pytest.mark.parametrize(
    ("topic", "text"),
    [
        (topics.INTERVAL_STATS, INTERVAL_JSON),
        (topics.QUEUE_STATS, QUEUE_JSON),
        (topics.QUALITY_STATS, FCR_INTERVAL_JSON),
        (topics.QUALITY_STATS, FCR_AGENT_JSON),
        (topics.QUALITY_STATS, CSAT_AGENT_JSON),
        (topics.QUALITY_STATS, AGENT_HANDLE_JSON),
        (topics.WORKER_STATUS, HEARTBEAT_JSON),
    ],
)
def test_the_view_accepts_each_example(topic: str, text: str) -> None:
    view = View()
    assert view.apply(topic, b"some-key", text.encode()) is True
    assert view.bad_records == 0


# -- agent status, adherence, alerts, acks, dead letters --------------------------------------
# The view keeps agent status, adherence and alert records as the JSON objects read, so their
# ``parse`` returns that object; acks and dead letters parse to instances.

SINCE = 1_733_300_000_000
AGENT_STATUS_JSON = (
    '{"agent_id":"a-17","name":"Ada Lovelace","team":"blue","queues":["support","sales"],"state":"aux",'
    '"reason":"break","since_ms":1733300000000,"updated_ms":1733300012345,"scheduled_activity":"work",'
    '"in_adherence":false,"out_of_adherence_since_ms":1733300000000,"exception":"unscheduled_break",'
    '"max_concurrent":{"chat":3}}'
)
AGENT_STATUS = AgentStatus(
    agent_id="a-17",
    name="Ada Lovelace",
    team="blue",
    queues=("support", "sales"),
    state="aux",
    reason="break",
    since_ms=SINCE,
    updated_ms=UPDATED,
    scheduled_activity="work",
    in_adherence=False,
    out_of_adherence_since_ms=SINCE,
    exception="unscheduled_break",
    max_concurrent={"chat": 3},
)
# 8 h scheduled, 7.5 h in adherence (0.9375), 7 h of work scheduled, 7.35 h worked (1.05)
ADHERENCE_JSON = (
    '{"agent_id":"a-17","team":"blue","updated_ms":1733300012345,"date":"2024-12-04","scheduled_s":28800.0,'
    '"in_adherence_s":27000.0,"adherence":0.9375,"work_scheduled_s":25200.0,"worked_s":26460.0,"conformance":1.05,'
    '"exceptions":[{"kind":"unscheduled_break","start_ms":1733300000000,"end_ms":null,"scheduled":"work",'
    '"actual":"aux:break"}],"logged_in_ms":{"1733299200000":1800000,"1733301000000":612345},'
    # agent time (occupancy), the figures per interval, shrinkage parts and shift, after the rest
    '"agent_time":{"intervals":{"1733299200000":{"available":1200000,"on_contact":600000}},'
    '"until_ms":1733300000000,"open":[1733300000000,"aux","break"],"recent":[[1733300000000,"aux","break"]]},'
    '"adherence_intervals":{"1733299200000":[1800000,1500000,1800000,1800000],"1733301000000":[612345,612345,612345,0]},'
    '"shrinkage":{"scheduled_ms":28800000,"off_phone_scheduled_ms":3600000,"unscheduled_aux_ms":1800000},'
    '"shift":{"start_ms":1733299200000,"end_ms":1733328000000,"first_login_ms":1733299200000}}'
)
AGENT_TIME = {
    "intervals": {str(START): {"available": 1_200_000, "on_contact": 600_000}},
    "until_ms": SINCE,
    "open": [SINCE, "aux", "break"],
    "recent": [[SINCE, "aux", "break"]],
}
SHIFT = {"start_ms": START, "end_ms": START + 28_800_000, "first_login_ms": START}
DAY = DayAdherence(
    date="2024-12-04",
    scheduled_ms=28_800_000,
    in_adherence_ms=27_000_000,
    work_scheduled_ms=25_200_000,
    worked_ms=26_460_000,
    exceptions=(AdherenceException("unscheduled_break", SINCE, None, "work", "aux:break"),),
    off_phone_scheduled_ms=3_600_000,
    unscheduled_aux_ms=1_800_000,
    # intervals given in any order are written in start order
    intervals={END: (612_345, 612_345, 612_345, 0), START: (1_800_000, 1_500_000, 1_800_000, 1_800_000)},
)
ALERT_ID = "adherence_break:a-17:1733300000000"
ALERT_JSON = (
    '{"id":"adherence_break:a-17:1733300000000","kind":"adherence_break","subject":"a-17","severity":"critical",'
    '"state":"resolved","started_at_ms":1733300000000,"resolved_at_ms":1733300600000,"acked_by":"sup-1",'
    '"acked_at_ms":1733300012345,"details":{"agent_id":"a-17","state":"aux"}}'
)
ACK_JSON = '{"id":"adherence_break:a-17:1733300000000","by":"sup-1","at_ms":1733300012345}'
DEAD_LETTER_JSON = (
    '{"reason":"not_json","error":"not JSON: unexpected character","topic":"fw.contact-events","partition":3,'
    '"offset":1041,"raw":"{oops","at_ms":1733300012345}'
)


def test_agent_status_round_trip() -> None:
    status = {
        "agent_id": "a-17",
        "name": "Ada Lovelace",
        "team": "blue",
        "queues": ["support", "sales"],
        "state": "aux",
        "reason": "break",
        "since_ms": SINCE,
        "updated_ms": UPDATED,
        "max_concurrent": {"chat": 3},
    }
    # only the four adherence fields come from AdherenceNow: its state and reason are not taken
    now = AdherenceNow("work", "2024-12-04", "available", None, False, SINCE, SINCE, "unscheduled_break")
    built = AgentStatus.of(status, now.as_dict())
    assert built == AGENT_STATUS
    same_json(built.to_record(), AGENT_STATUS_JSON)
    assert built.key() == "a-17"
    data = orjson.loads(AGENT_STATUS_JSON)
    assert AgentStatus.parse(data) is data  # the view keeps the object read


@pytest.mark.parametrize(
    "record",
    [
        {},  # no profile, no state: logged out
        {"pr": [1, "e1", "Ada Lovelace", "blue", ["support", "sales"]], "st": [SINCE, "e2", "aux", "break"]},
        {"pr": [1, "e1", "Ada", "blue", ["chat"], {"chat": 3}], "st": [SINCE, "e2", "on_contact", None]},
    ],
)
def test_agent_status_is_what_the_worker_wrote_before(record: dict[str, Any]) -> None:
    """The publisher's former dict, built as it was, and the class give the same bytes."""
    now = AdherenceNow("work", "2024-12-04", "aux", "break", False, SINCE, SINCE, "unscheduled_break")
    status = now.as_dict()
    old = agent_status("a-17", record, UPDATED)
    old.update({k: status[k] for k in ("scheduled_activity", "in_adherence", "out_of_adherence_since_ms", "exception")})
    old["max_concurrent"] = old.pop("max_concurrent")  # added since: last in the record, {} when the profile names none
    new = AgentStatus.of(agent_status("a-17", record, UPDATED), status).to_record()
    assert orjson.dumps(new) == orjson.dumps(old)


def test_adherence_round_trip() -> None:
    built = Adherence("a-17", "blue", UPDATED, DAY, {START: 1_800_000, END: 612_345}, AGENT_TIME, SHIFT)
    same_json(built.to_record(), ADHERENCE_JSON)
    # without a schedule for the date the shift is null
    assert Adherence("a-17", "blue", UPDATED, DAY, {}, AGENT_TIME, None).to_record()["shift"] is None
    assert built.key() == "a-17|2024-12-04"
    data = orjson.loads(ADHERENCE_JSON)
    assert Adherence.parse(data) is data


def test_alert_round_trip() -> None:
    data = orjson.loads(ALERT_JSON)
    built = Alert.of(data)
    assert built == Alert(
        id=ALERT_ID,
        kind="adherence_break",
        subject="a-17",
        severity="critical",
        state="resolved",
        started_at_ms=SINCE,
        resolved_at_ms=SINCE + 600_000,
        acked_by="sup-1",
        acked_at_ms=UPDATED,
        details={"agent_id": "a-17", "state": "aux"},
    )
    same_json(built.to_record(), ALERT_JSON)
    same_json(records.alert_record(data), ALERT_JSON)
    assert built.key() == ALERT_ID
    assert Alert.parse(data) is data


def test_alert_record_of_an_alert_book_change_is_the_change() -> None:
    """What the alert engines wrote before (the book's alert as is) and what they write now."""
    book = AlertBook()
    rule = adherence_rule(60.0, 300.0)
    details = {"agent_id": "a-17", "state": "aux"}
    changes = book.observe(ADHERENCE_BREAK, "a-17", True, SINCE + 400_000, details, rule, since_ms=SINCE)
    assert [c.type for c in changes] == ["fired", "escalated"]  # 60 s grace, critical after 300 s
    for change in changes:
        assert orjson.dumps(records.alert_record(change.alert)) == orjson.dumps(change.alert)
    assert records.alert_record(changes[0].alert)["id"] == "adherence_break:a-17:1733300060000"


def test_an_adopted_alert_without_resolution_or_ack() -> None:
    data = as_data(ALERT_JSON, resolved_at_ms=DROP, acked_by=DROP, acked_at_ms=DROP, details=DROP)
    built = Alert.of(data)
    assert (built.resolved_at_ms, built.acked_by, built.acked_at_ms, built.details) == (None, None, None, {})


def old_ack_fields(data: dict[str, Any]) -> tuple[str | None, str, int]:
    """The view's reading of an ack before ``AlertAck`` (a copy): by, at_ms, then the id."""
    by = records._str(data, "by")
    at_ms = records._ms(data, "at_ms")
    found = data.get("id")
    return (found if isinstance(found, str) else None), by, at_ms


def test_alert_ack_round_trip() -> None:
    data = orjson.loads(ACK_JSON)
    parsed = AlertAck.parse(data)
    assert parsed == AlertAck(ALERT_ID, "sup-1", UPDATED)
    assert (parsed.id, parsed.by, parsed.at_ms) == old_ack_fields(data)
    same_json(parsed.to_record(), ACK_JSON)
    same_json(queries.ack_record(ALERT_ID, "sup-1", UPDATED), ACK_JSON)  # what the API writes


def test_alert_ack_id_is_kept_only_when_a_string() -> None:
    data = as_data(ACK_JSON, id=17)
    assert AlertAck.parse(data) == AlertAck(None, "sup-1", UPDATED)
    assert old_ack_fields(data)[0] is None
    view = View()
    assert view.apply(topics.ALERT_ACKS, None, orjson.dumps(data)) is False  # no key, no id
    assert view.apply(topics.ALERT_ACKS, b"k", orjson.dumps(data)) is True
    assert view.alert_acks == {"k": {"id": "k", "by": "sup-1", "at_ms": UPDATED}}


def test_dead_letter_round_trip() -> None:
    parsed = DeadLetter.parse(orjson.loads(DEAD_LETTER_JSON))
    assert parsed == DeadLetter(
        reason="not_json",
        error="not JSON: unexpected character",
        topic="fw.contact-events",
        partition=3,
        offset=1041,
        raw="{oops",
        at_ms=UPDATED,
    )
    same_json(parsed.to_record(), DEAD_LETTER_JSON)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"reason": DROP}, "unknown"),
        ({"reason": ""}, "unknown"),
        ({"reason": 3}, "unknown"),
        ({"partition": "3", "offset": True, "at_ms": 1.5, "error": None, "topic": 7, "raw": DROP}, "not_json"),
        ({"partition": DROP, "offset": DROP, "file": "q.log", "line": 12}, "not_json"),  # the queue-log loader's
    ],
)
def test_dead_letters_are_never_rejected(changes: dict[str, Any], reason: str) -> None:
    """Readers only count them by reason: any object parses; what is not of its type is None."""
    data = as_data(DEAD_LETTER_JSON, **changes)
    parsed = DeadLetter.parse(data)
    assert parsed.reason == reason
    for name in ("error", "topic", "partition", "offset", "raw", "at_ms"):
        if name in changes or name not in data:
            assert getattr(parsed, name) is None
    view = View()
    assert view.apply(topics.DEAD_LETTERS, b"fw.contact-events", orjson.dumps(data)) is True
    assert (view.dead_letters, view.bad_records) == ({reason: 1}, 0)


@pytest.mark.parametrize(
    ("topic", "cls", "text", "changes"),
    [
        # the view has always kept these records whatever their fields hold
        (topics.AGENT_STATUS, AgentStatus, AGENT_STATUS_JSON, {"state": 3, "queues": "support", "name": DROP}),
        (topics.AGENT_STATUS, AgentStatus, AGENT_STATUS_JSON, {"since_ms": -1, "in_adherence": "no"}),
        (topics.ADHERENCE, Adherence, ADHERENCE_JSON, {"date": DROP, "adherence": "high", "logged_in_ms": []}),
        (topics.ALERTS, Alert, ALERT_JSON, {"state": "open", "started_at_ms": "x", "details": [1]}),
    ],
)
def test_kept_objects_are_accepted_as_they_are(topic: str, cls: Any, text: str, changes: dict[str, Any]) -> None:
    data = as_data(text, **changes)
    assert cls.parse(data) is data
    view = View()
    assert view.apply(topic, b"some-key", orjson.dumps(data)) is True
    assert view.bad_records == 0
    kept = {topics.AGENT_STATUS: view.agents, topics.ADHERENCE: view.adherence, topics.ALERTS: view.alerts}[topic]
    assert kept == {"some-key": data}


BAD_KEPT = [
    # (topic, class, raw value): what the view rejects and the class's parse refuses
    (topics.AGENT_STATUS, AgentStatus, b"[1, 2]"),
    (topics.AGENT_STATUS, AgentStatus, b'"a-17"'),
    (topics.ALERTS, Alert, b"17"),
    (topics.ADHERENCE, Adherence, b"[]"),
    (topics.ADHERENCE, Adherence, orjson.dumps(as_data(ADHERENCE_JSON, agent_id=DROP))),
    (topics.ADHERENCE, Adherence, orjson.dumps(as_data(ADHERENCE_JSON, agent_id=17))),
    (topics.ADHERENCE, Adherence, orjson.dumps(as_data(ADHERENCE_JSON, agent_id=None))),
    (topics.ALERT_ACKS, AlertAck, orjson.dumps(as_data(ACK_JSON, by=DROP))),
    (topics.ALERT_ACKS, AlertAck, orjson.dumps(as_data(ACK_JSON, by=""))),
    (topics.ALERT_ACKS, AlertAck, orjson.dumps(as_data(ACK_JSON, by=3))),
    (topics.ALERT_ACKS, AlertAck, orjson.dumps(as_data(ACK_JSON, at_ms=DROP))),
    (topics.ALERT_ACKS, AlertAck, orjson.dumps(as_data(ACK_JSON, at_ms=-1))),
    (topics.ALERT_ACKS, AlertAck, orjson.dumps(as_data(ACK_JSON, at_ms=True))),
    (topics.ALERT_ACKS, AlertAck, orjson.dumps(as_data(ACK_JSON, at_ms=str(UPDATED)))),
    (topics.ALERT_ACKS, AlertAck, orjson.dumps(as_data(ACK_JSON, at_ms=MAX_MS + 1))),
]


@pytest.mark.parametrize(
    ("topic", "cls", "raw"), BAD_KEPT, ids=[f"{c.__name__}-{i}" for i, (_t, c, _r) in enumerate(BAD_KEPT)]
)
def test_malformed_kept_records_raise_bad_record_and_the_view_skips_them(topic: str, cls: Any, raw: bytes) -> None:
    data = orjson.loads(raw)
    with pytest.raises(BadRecord):
        cls.parse(data)
    if cls is AlertAck:  # the same values the view's former reading refused
        with pytest.raises(BadRecord):
            old_ack_fields(data)
    view = View()
    assert view.apply(topic, b"some-key", raw) is False
    assert view.bad_records == 1
    assert (view.agents, view.adherence, view.alerts, view.alert_acks) == ({}, {}, {}, {})


def test_dead_letter_refuses_what_is_not_an_object() -> None:
    with pytest.raises(BadRecord):
        DeadLetter.parse([1])
    view = View()
    assert view.apply(topics.DEAD_LETTERS, b"t", b"[1]") is False
    assert (view.bad_records, view.dead_letters) == (1, {})


def test_the_view_keeps_the_new_examples() -> None:
    view = View()
    assert view.apply(topics.AGENT_STATUS, b"a-17", AGENT_STATUS_JSON.encode()) is True
    assert view.apply(topics.ADHERENCE, b"a-17|2024-12-04", ADHERENCE_JSON.encode()) is True
    assert view.apply(topics.ALERTS, ALERT_ID.encode(), ALERT_JSON.encode()) is True
    assert view.apply(topics.ALERT_ACKS, b"other-key", ACK_JSON.encode()) is True  # the key wins over "id"
    assert view.apply(topics.DEAD_LETTERS, b"fw.contact-events", DEAD_LETTER_JSON.encode()) is True
    assert view.bad_records == 0
    assert view.agents == {"a-17": orjson.loads(AGENT_STATUS_JSON)}
    assert view.adherence_days == {"2024-12-04": {"a-17|2024-12-04": orjson.loads(ADHERENCE_JSON)}}
    assert view.alerts == {ALERT_ID: orjson.loads(ALERT_JSON)}
    assert view.alert_acks == {"other-key": {"id": "other-key", "by": "sup-1", "at_ms": UPDATED}}
    assert view.dead_letters == {"not_json": 1}
