"""POST /api/v1/events: array and NDJSON bodies, per-item rejections, 400, 413, 503, counters."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from floorwatch.api.ingest import split_items
from floorwatch.api.kafka import ProducerUnavailable
from floorwatch.api.main import create_app
from floorwatch.config import Settings
from floorwatch.readmodel.view import View
from tests.unit.api.asgi import asgi_client
from tests.unit.settings_factory import floor_settings, token

INGEST = {"Authorization": "Bearer ingest-secret"}
MAX_BODY = 2048
NOW_MS = 1_709_604_060_000  # 2024-03-05T10:01:00+08:00, a minute after the events below
NOTHING_REJECTED = {"rejected": [], "rejected_count": 0, "rejected_by_reason": {}}


class FakeProducer:
    """Every record is acknowledged at once (or, with ``fail``, not acknowledged)."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.fail = fail

    async def send(self, topic: str, key: bytes, value: bytes) -> asyncio.Future[None]:
        self.sent.append((topic, key, value))
        delivery: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail:
            delivery.set_exception(ProducerUnavailable("broker down"))
        else:
            delivery.set_result(None)
        return delivery

    async def flush(self) -> None:
        raise AssertionError("ingest awaits its own deliveries, never a shared flush")


pytestmark = pytest.mark.usefixtures("isolated_config")


def make_settings() -> Settings:
    return floor_settings(api={"max_body_bytes": MAX_BODY}, tokens=[token("feed", "ingest-secret", "ingest")])


@pytest.fixture
def producer() -> FakeProducer:
    return FakeProducer()


@pytest.fixture
def app(producer: FakeProducer):  # type: ignore[no-untyped-def]
    return create_app(make_settings(), view=View(), producer=producer, clock=lambda: NOW_MS)


OFFERED = {
    "event_id": "e1",
    "type": "contact.offered",
    "ts": "2024-03-05T10:00:00+08:00",
    "contact_id": "c1",
    "queue": "support",
    "channel": "voice",
    "x_extra": "kept",
}
STATE = {
    "event_id": "e2",
    "type": "agent.state",
    "ts": "2024-03-05T10:00:01+08:00",
    "agent_id": "a7",
    "state": "aux",
    "reason": "break",
}
MISSING_QUEUE = {"event_id": "e3", "type": "contact.abandoned", "ts": "2024-03-05T10:00:02+08:00", "contact_id": "c1"}
UNKNOWN_TYPE = {"event_id": "e4", "type": "contact.teleported", "ts": "2024-03-05T10:00:03+08:00"}
BAD_CHANNEL = {**OFFERED, "event_id": "e5", "channel": "pigeon"}
NAIVE_TS = {**STATE, "event_id": "e6", "ts": "2024-03-05T10:00:00"}


async def test_array_body(client: httpx.AsyncClient, producer: FakeProducer) -> None:
    r = await client.post("/api/v1/events", json=[OFFERED, STATE], headers=INGEST)
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 2, **NOTHING_REJECTED}
    assert [(t, k) for t, k, _ in producer.sent] == [
        ("fw.contact-events", b"c1"),
        ("fw.agent-events", b"a7"),
    ]
    first = orjson.loads(producer.sent[0][2])
    assert first["event_id"] == "e1" and first["x_extra"] == "kept"


async def test_ndjson_body(client: httpx.AsyncClient, producer: FakeProducer) -> None:
    body = b"\n".join(orjson.dumps(e) for e in (OFFERED, STATE)) + b"\r\n\n"
    r = await client.post("/api/v1/events", content=body, headers={**INGEST, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 2, **NOTHING_REJECTED}
    assert len(producer.sent) == 2


async def test_single_pretty_printed_object(client: httpx.AsyncClient, producer: FakeProducer) -> None:
    body = orjson.dumps(OFFERED, option=orjson.OPT_INDENT_2)
    r = await client.post("/api/v1/events", content=body, headers=INGEST)
    assert r.status_code == 202 and r.json() == {"accepted": 1, **NOTHING_REJECTED}


async def test_per_item_rejections_in_array(client: httpx.AsyncClient, producer: FakeProducer) -> None:
    items = [OFFERED, MISSING_QUEUE, UNKNOWN_TYPE, 42, BAD_CHANNEL, STATE, NAIVE_TS, "x"]
    r = await client.post("/api/v1/events", json=items, headers=INGEST)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["accepted"] == 2
    rejected = {x["index"]: x for x in body["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 4, 6, 7]
    assert "'queue'" in rejected[1]["error"] and "contact.abandoned" in rejected[1]["error"]
    assert rejected[1]["reason"] == "missing_field"
    assert "unknown event type 'contact.teleported'" in rejected[2]["error"]
    assert rejected[3]["error"] == "an event must be a JSON object, got number"
    assert "'channel'" in rejected[4]["error"]
    assert "'ts'" in rejected[6]["error"]
    assert rejected[7]["error"] == "an event must be a JSON object, got string"
    # only the valid ones were forwarded
    assert [orjson.loads(v)["event_id"] for _, _, v in producer.sent] == ["e1", "e2"]


async def test_per_line_rejections_in_ndjson(client: httpx.AsyncClient, producer: FakeProducer) -> None:
    body = b"\n".join([orjson.dumps(OFFERED), b"", b"{not json", orjson.dumps(MISSING_QUEUE), orjson.dumps(STATE)])
    r = await client.post("/api/v1/events", content=body, headers=INGEST)
    assert r.status_code == 202, r.text
    body_json = r.json()
    assert body_json["accepted"] == 2
    assert [x["index"] for x in body_json["rejected"]] == [1, 2]  # blank line not counted
    assert body_json["rejected"][0]["error"].startswith("line 3: not JSON")
    assert body_json["rejected"][0]["reason"] == "not_json"


async def test_empty_array_accepts_nothing(client: httpx.AsyncClient, producer: FakeProducer) -> None:
    r = await client.post("/api/v1/events", content=b"  []", headers=INGEST)
    assert r.status_code == 202 and r.json() == {"accepted": 0, **NOTHING_REJECTED}
    assert producer.sent == []


@pytest.mark.parametrize(
    "body",
    [b"hello world", b"", b"   \n ", b"[1, 2", b"[{}] trailing", b"<xml/>\n<more/>", b"\xff\xfe\x00"],
)
async def test_not_json_is_400(client: httpx.AsyncClient, producer: FakeProducer, body: bytes) -> None:
    r = await client.post("/api/v1/events", content=body, headers=INGEST)
    assert r.status_code == 400, r.text
    assert isinstance(r.json()["detail"], str) and r.json()["detail"]
    assert producer.sent == []


async def test_oversized_content_length_is_413(client: httpx.AsyncClient, producer: FakeProducer) -> None:
    items = [{**STATE, "event_id": f"e{i}"} for i in range(40)]
    body = orjson.dumps(items)
    assert len(body) > MAX_BODY
    r = await client.post("/api/v1/events", content=body, headers=INGEST)
    assert r.status_code == 413, r.text
    assert "bytes" in r.json()["detail"]
    assert producer.sent == []


async def test_oversized_stream_without_content_length_is_413(
    client: httpx.AsyncClient, producer: FakeProducer
) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b" " * 500  # chunked transfer: no Content-Length

    r = await client.post("/api/v1/events", content=chunks(), headers=INGEST)
    assert r.status_code == 413, r.text
    assert producer.sent == []


async def test_lying_content_length_is_still_counted(app) -> None:  # type: ignore[no-untyped-def]
    """A small declared length does not let a larger body through (counted while reading)."""
    from floorwatch.api.ingest import BodyTooLarge, read_limited

    async def stream():  # type: ignore[no-untyped-def]
        yield b"x" * 2000
        yield b"x" * 2000

    with pytest.raises(BodyTooLarge):
        await read_limited("10", stream(), MAX_BODY)


async def test_bad_content_length_is_400(client: httpx.AsyncClient) -> None:
    from floorwatch.api.ingest import BadBody, read_limited

    async def stream():  # type: ignore[no-untyped-def]
        yield b"[]"

    with pytest.raises(BadBody):
        await read_limited("ten", stream(), MAX_BODY)


async def test_kafka_down_is_503(producer: FakeProducer) -> None:
    failing = FakeProducer(fail=True)
    app = create_app(make_settings(), view=View(), producer=failing, clock=lambda: NOW_MS)
    async with asgi_client(app) as c:
        r = await c.post("/api/v1/events", json=[OFFERED], headers=INGEST)
    assert r.status_code == 503
    assert r.headers["retry-after"] == "1"
    assert "broker down" in r.json()["detail"]


async def test_counters(client: httpx.AsyncClient, app) -> None:  # type: ignore[no-untyped-def]
    await client.post("/api/v1/events", json=[OFFERED, UNKNOWN_TYPE, MISSING_QUEUE, 1], headers=INGEST)
    reg = app.state.registry
    assert reg.get_sample_value("floorwatch_api_events_accepted_total") == 1
    assert reg.get_sample_value("floorwatch_api_events_rejected_total", {"reason": "unknown_type"}) == 1
    assert reg.get_sample_value("floorwatch_api_events_rejected_total", {"reason": "missing_field"}) == 1
    assert reg.get_sample_value("floorwatch_api_events_rejected_total", {"reason": "not_object"}) == 1


def test_split_items_detects_array_by_first_char() -> None:
    assert split_items(b" \n [1, 2]") == [1, 2]
    assert split_items(b'{"a": 1}\n{"a": 2}\n') == [{"a": 1}, {"a": 2}]
    assert split_items(b'\xef\xbb\xbf{"a": 1}') == [{"a": 1}]


from hypothesis import HealthCheck, given, settings as hsettings, strategies as st  # noqa: E402

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


VALID_EVENTS = [OFFERED, STATE]  # valid at NOW_MS; any other generated item is not an event


def _is_valid(item: object) -> bool:
    return any(item is v for v in VALID_EVENTS)


# (body, items in it or None when unknown, valid events in it)
bodies = st.one_of(
    st.binary(max_size=300).map(lambda b: (b, None, 0)),
    json_values.map(lambda v: (orjson.dumps(v), len(v) if isinstance(v, list) else 1, 0)),
    st.lists(json_values | st.sampled_from(VALID_EVENTS), max_size=6).map(
        lambda xs: (orjson.dumps(xs), len(xs), sum(map(_is_valid, xs)))
    ),
    st.lists(
        st.dictionaries(st.text(max_size=10), json_values, max_size=4) | st.sampled_from(VALID_EVENTS),
        min_size=1,
        max_size=6,
    ).map(lambda xs: (b"\n".join(orjson.dumps(x) for x in xs), len(xs), sum(map(_is_valid, xs)))),
)


@hsettings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=bodies)
def test_no_body_gives_a_500(case: tuple[bytes, int | None, int]) -> None:
    body, items, valid = case
    producer = FakeProducer()

    async def run() -> httpx.Response:
        app = create_app(make_settings(), view=View(), producer=producer, clock=lambda: NOW_MS)
        async with asgi_client(app) as c:
            return await c.post("/api/v1/events", content=body, headers=INGEST)

    r = asyncio.run(run())
    assert r.status_code in (202, 400, 413), (body, r.text)
    if items is not None and len(body) <= MAX_BODY:
        assert r.status_code == 202, (body, r.text)  # generated JSON is never "not JSON at all"
    if r.status_code != 202:
        assert producer.sent == []
        return
    payload = r.json()
    assert payload["accepted"] == valid  # bytes that are not generated JSON hold no valid event
    assert len(producer.sent) == valid
    assert sum(payload["rejected_by_reason"].values()) == payload["rejected_count"]
    assert len(payload["rejected"]) == payload["rejected_count"]  # fewer than the 100 listed at most
    if items is not None:
        assert payload["accepted"] + payload["rejected_count"] == items
