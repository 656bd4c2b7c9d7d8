"""The output-topic records of ``floorwatch.records``: a hand-written JSON value of each parses
to the object written out here, ``to_record()`` gives that JSON back (same keys in the worker's
order, same values), and malformed values raise ``BadRecord`` -- the same values the API's view
counts as bad records."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from floorwatch import records, topics
from floorwatch.domain.queue_metrics import Counts
from floorwatch.readmodel.view import View
from floorwatch.records import (
    MAX_MS,
    BadRecord,
    CsatAgentPartial,
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
    '"abandoned_within_sl":1,"overflowed":0,"handled":8,"wait_answered_ms":91000,"wait_abandoned_ms":40000,'
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
    '"mixed_rules":false,"updated_ms":1733300012345}'
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
    assert (records.FCR_INTERVAL, records.FCR_AGENT, records.CSAT_AGENT) == ("fcr_interval", "fcr_agent", "csat_agent")
    assert (records.FCR_INTERVAL_KEY, records.FCR_AGENT_KEY, records.CSAT_AGENT_KEY) == (
        "fcr",
        "fcr-agent",
        "csat-agent",
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


@pytest.mark.parametrize(
    ("cls", "text"),
    [(FcrIntervalPartial, FCR_AGENT_JSON), (FcrAgentPartial, CSAT_AGENT_JSON), (CsatAgentPartial, FCR_INTERVAL_JSON)],
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
        (topics.WORKER_STATUS, HEARTBEAT_JSON),
    ],
)
def test_the_view_accepts_each_example(topic: str, text: str) -> None:
    view = View()
    assert view.apply(topic, b"some-key", text.encode()) is True
    assert view.bad_records == 0
