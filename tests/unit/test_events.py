from pathlib import Path

import pytest

from floorwatch import eventdoc, topics
from floorwatch.events import EventError, dumps, parse_event, route, to_ms

ROOT = Path(__file__).resolve().parents[2]

OFFERED = {
    "event_id": "e1",
    "type": "contact.offered",
    "ts": "2026-11-24T09:00:00.250+08:00",
    "contact_id": "c1",
    "queue": "sales",
    "channel": "voice",
}


def test_valid_event_keeps_extra_fields_and_exact_time():
    ev = parse_event({**OFFERED, "ivr_path": "1-3"})
    # 2026-11-24T01:00:00.250Z = 1795482000000 + 250 ms
    assert ev.ts_ms == 1_795_482_000_250
    assert ev.model_extra == {"ivr_path": "1-3"}
    assert b'"ivr_path":"1-3"' in dumps(ev)


@pytest.mark.parametrize(
    ("raw", "reason", "fragment"),
    [
        (b"{nope", "not_json", "not JSON"),
        (b"[1, 2]", "not_object", "JSON object"),
        (b'{"type": "contact.teleported"}', "unknown_type", "'contact.teleported'"),
        (b'{"event_id": "x", "ts": "2026-11-24T09:00:00Z"}', "missing_field", "'type'"),
        ({**OFFERED, "ts": "2026-11-24T09:00:00"}, "invalid_field", "field 'ts'"),
        ({**OFFERED, "channel": "fax"}, "invalid_field", "field 'channel'"),
        ({k: v for k, v in OFFERED.items() if k != "queue"}, "missing_field", "field 'queue': Field required"),
        ({**OFFERED, "type": "survey.completed", "score": 9, "agent_id": "a"}, "invalid_field", "field 'score'"),
        ({**OFFERED, "event_id": ""}, "invalid_field", "field 'event_id'"),
    ],
)
def test_invalid_events_name_the_problem(raw, reason, fragment):
    with pytest.raises(EventError) as err:
        parse_event(raw)
    assert err.value.reason == reason
    assert fragment in str(err.value)


@pytest.mark.parametrize(
    ("event", "topic", "key"),
    [
        (OFFERED, topics.CONTACT_EVENTS, "c1"),
        (
            {
                "event_id": "s",
                "type": "survey.completed",
                "ts": "2026-11-24T09:00:00Z",
                "contact_id": "c9",
                "score": 4,
                "agent_id": "a1",
                "queue": "sales",
            },
            topics.CONTACT_EVENTS,
            "c9",
        ),
        (
            {
                "event_id": "a",
                "type": "agent.state",
                "ts": "2026-11-24T09:00:00Z",
                "agent_id": "a7",
                "state": "aux",
                "reason": "break",
            },
            topics.AGENT_EVENTS,
            "a7",
        ),
        (
            {
                "event_id": "p",
                "type": "schedule.published",
                "ts": "2026-11-24T09:00:00Z",
                "agent_id": "a7",
                "date": "2026-11-24",
                "activities": [],
            },
            topics.SCHEDULES,
            "a7",
        ),
        (
            {
                "event_id": "f",
                "type": "forecast.published",
                "ts": "2026-11-24T09:00:00Z",
                "queue": "chat",
                "date": "2026-11-24",
                "interval_minutes": 30,
                "intervals": [],
            },
            topics.FORECASTS,
            "chat",
        ),
    ],
)
def test_routing_by_type(event, topic, key):
    assert route(parse_event(event)) == (topic, key)


def test_to_ms_is_exact_for_negative_offsets():
    ev = parse_event({**OFFERED, "ts": "2026-11-23T20:00:00.001-05:00"})
    assert to_ms(ev.ts) == 1_795_482_000_001


def test_events_doc_is_generated_from_the_code():
    assert (ROOT / "docs" / "events.md").read_text() == eventdoc.render()


@pytest.mark.parametrize("seed", range(3))
def test_to_ms_floors_like_timedelta_division(seed: int) -> None:
    """Before and after the epoch, in zones with odd offsets: the floor of the microseconds."""
    import random
    from datetime import UTC, datetime, timedelta, timezone

    rng = random.Random(seed)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for _ in range(2000):
        us = rng.randrange(-(10**16), 10**16)  # 1653..2286
        tz = timezone(timedelta(minutes=rng.randrange(-14 * 60, 14 * 60), seconds=rng.choice([0, 30])))
        ts = (epoch + timedelta(microseconds=us)).astimezone(tz)
        assert to_ms(ts) == (ts - epoch) // timedelta(milliseconds=1) == us // 1000
