"""HTTP ingest under dirty input: each request waits for its own records, size refusals are
rejections (never a 503), caps on items and on the rejection list, the per-token rate limit,
503 only when Kafka is unavailable."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from floorwatch.api.ingest import (
    ITEMS_BETWEEN_YIELDS,
    MAX_ERROR_CHARS,
    IngestLimits,
    IngestRateLimiter,
    OverBurst,
    RateLimited,
    prepare,
    prepare_yielding,
)
from floorwatch.api.kafka import KafkaEventProducer, ProducerUnavailable, RecordTooLarge
from floorwatch.api.main import create_app
from floorwatch.config import Settings
from floorwatch.readmodel.view import View
from tests.unit.api.asgi import asgi_client
from tests.unit.settings_factory import floor_settings, token

pytestmark = pytest.mark.usefixtures("isolated_config")

FEED = {"Authorization": "Bearer feed-secret"}
OTHER = {"Authorization": "Bearer other-secret"}
NOW_MS = 1_709_604_060_000  # 2024-03-05T10:01:00+08:00


def event(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"e{n}",
        "type": "agent.state",
        "ts": "2024-03-05T10:00:00+08:00",
        "agent_id": f"a{n}",
        "state": "available",
        **extra,
    }


def make_settings(**ingest: Any) -> Settings:
    return floor_settings(
        ingest=ingest, tokens=[token("feed", "feed-secret", "ingest"), token("other", "other-secret", "ingest")]
    )


class Delivery:
    def __init__(self, topic: str, key: bytes, value: bytes, future: asyncio.Future[Any]) -> None:
        self.topic, self.key, self.value, self.future = topic, key, value, future

    @property
    def event_id(self) -> str:
        return orjson.loads(self.value)["event_id"]


class HeldProducer:
    """A producer whose deliveries resolve when the test says so (``resolve``), or at once for
    the event ids in ``auto``: ``None`` for acknowledged, else the exception to raise."""

    def __init__(
        self,
        auto: dict[str, BaseException | None] | None = None,
        refuse_on_send: Callable[[bytes], BaseException | None] | None = None,
    ) -> None:
        self.deliveries: list[Delivery] = []
        self.auto = auto
        self.refuse_on_send = refuse_on_send
        self.sent_event = asyncio.Event()

    async def send(self, topic: str, key: bytes, value: bytes) -> asyncio.Future[Any]:
        if self.refuse_on_send is not None and (exc := self.refuse_on_send(value)) is not None:
            raise exc
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        delivery = Delivery(topic, key, value, future)
        self.deliveries.append(delivery)
        self.sent_event.set()
        if self.auto is not None:
            outcome = self.auto.get(delivery.event_id)
            if outcome is None:
                future.set_result(None)
            else:
                future.set_exception(outcome)
        return future

    async def flush(self) -> None:
        raise AssertionError("ingest awaits its own deliveries, never a shared flush")

    def by_id(self, event_id: str) -> Delivery:
        return next(d for d in self.deliveries if d.event_id == event_id)


def acknowledging() -> HeldProducer:
    return HeldProducer(auto={})


class Clock:
    def __init__(self, now_ms: int = NOW_MS) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


@pytest.fixture
def clock() -> Clock:
    return Clock()


async def client_for(settings: Settings, producer: Any, clock: Callable[[], int]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, view=View(), producer=producer, clock=clock)
    async with asgi_client(app) as c:
        c.app = app  # type: ignore[attr-defined]
        yield c


async def post(c: httpx.AsyncClient, items: list[Any], headers: dict[str, str] = FEED) -> httpx.Response:
    return await c.post("/api/v1/events", content=orjson.dumps(items), headers=headers)


def sample(c: httpx.AsyncClient, name: str, **labels: str) -> float | None:
    return c.app.state.registry.get_sample_value(name, labels)  # type: ignore[attr-defined]


async def until(condition: Callable[[], bool]) -> None:
    """Let the other tasks run until ``condition`` holds (bounded; no sleeping)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never held")


# --- each request waits for exactly its own records ---------------------------------------


async def test_a_request_answers_after_its_own_records_and_not_after_others(clock: Clock) -> None:
    producer = HeldProducer()
    async for c in client_for(make_settings(), producer, clock):
        first = asyncio.create_task(post(c, [event(1), event(2)]))
        await until(lambda: len(producer.deliveries) == 2)
        second = asyncio.create_task(post(c, [event(3)]))
        await until(lambda: len(producer.deliveries) == 3)

        # the second request's record is stored: it answers while the first still waits
        producer.by_id("e3").future.set_result(None)
        answer = await asyncio.wait_for(second, 5)
        assert (answer.status_code, answer.json()["accepted"]) == (202, 1)
        assert not first.done()

        # one of the first request's two records stored: still waiting
        producer.by_id("e1").future.set_result(None)
        for _ in range(100):  # let it run: it must keep waiting for e2
            await asyncio.sleep(0)
        assert not first.done()

        producer.by_id("e2").future.set_result(None)
        answer = await asyncio.wait_for(first, 5)
        assert (answer.status_code, answer.json()["accepted"]) == (202, 2)


async def test_a_record_not_acknowledged_is_503_with_retry_after(clock: Clock) -> None:
    producer = HeldProducer(auto={"e2": ProducerUnavailable("leader not available")})
    async for c in client_for(make_settings(), producer, clock):
        r = await post(c, [event(1), event(2), event(3)])
        assert r.status_code == 503
        assert r.headers["retry-after"] == "1"
        assert "1 record(s) not acknowledged" in r.json()["detail"]
        assert "leader not available" in r.json()["detail"]
        assert sample(c, "floorwatch_api_requests_refused_total", reason="kafka_unavailable") == 1
        assert sample(c, "floorwatch_api_events_accepted_total") == 0


async def test_a_producer_that_cannot_send_is_503_not_500(clock: Clock) -> None:
    for failure in (ProducerUnavailable("cannot connect"), OSError("connection reset")):
        producer = HeldProducer(auto={}, refuse_on_send=lambda value, f=failure: f)
        async for c in client_for(make_settings(), producer, clock):
            r = await post(c, [event(1)])
            assert (r.status_code, r.headers.get("retry-after")) == (503, "1"), r.text


# --- records too large: a rejection of that item, never a 503 --------------------------------


def wire_size(item: dict[str, Any]) -> int:
    """Bytes of the record (key + value) ingest produces for ``item``, measured through the API."""

    async def measure() -> int:
        producer = acknowledging()
        async for c in client_for(make_settings(), producer, Clock()):
            assert (await post(c, [item])).status_code == 202
        (d,) = producer.deliveries
        return len(d.key) + len(d.value)

    return asyncio.run(measure())


def test_record_size_check_is_inclusive_of_the_limit() -> None:
    big = event(2, x_note="y" * 3_000)
    size = wire_size(big)
    assert size > 3_000

    async def run(limit: int) -> dict[str, Any]:
        producer = acknowledging()
        async for c in client_for(make_settings(max_record_bytes=limit), producer, Clock()):
            r = await post(c, [event(1), big, event(3)])
            assert r.status_code == 202, r.text
            assert sample(c, "floorwatch_api_events_rejected_total", reason="too_large") == (
                None if limit == size else 1
            )
        assert [d.event_id for d in producer.deliveries] == (["e1", "e2", "e3"] if limit == size else ["e1", "e3"])
        return r.json()

    assert asyncio.run(run(size))["accepted"] == 3
    answer = asyncio.run(run(size - 1))
    assert answer["accepted"] == 2
    assert answer["rejected"] == [
        {
            "index": 1,
            "reason": "too_large",
            "error": f"serialised event is {size} bytes, over the limit of {size - 1} bytes",
        }
    ]
    assert (answer["rejected_count"], answer["rejected_by_reason"]) == (1, {"too_large": 1})


async def test_kafka_size_refusals_are_too_large_rejections(clock: Clock) -> None:
    # one refused by the broker after sending, one by the client's own check while sending
    producer = HeldProducer(
        auto={"e2": RecordTooLarge("Kafka refused the record for its size: MessageSizeTooLargeError")},
        refuse_on_send=lambda value: RecordTooLarge("too big to send") if b'"e4"' in value else None,
    )
    async for c in client_for(make_settings(), producer, clock):
        r = await post(c, [event(1), event(2), event(3), event(4)])
        assert r.status_code == 202, r.text
        answer = r.json()
        assert answer["accepted"] == 2
        assert [(x["index"], x["reason"]) for x in answer["rejected"]] == [(1, "too_large"), (3, "too_large")]
        assert "MessageSizeTooLargeError" in answer["rejected"][0]["error"]
        assert answer["rejected_by_reason"] == {"too_large": 2}
        assert sample(c, "floorwatch_api_events_accepted_total") == 2
        assert sample(c, "floorwatch_api_events_rejected_total", reason="too_large") == 2
        assert sample(c, "floorwatch_api_requests_refused_total", reason="kafka_unavailable") == 0


async def test_kafka_producer_translates_size_errors_and_keeps_others_unavailable() -> None:
    class Client:
        def __init__(self) -> None:
            self.futures: list[asyncio.Future[Any]] = []

        async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future[Any]:
            if len(value) > 10:
                raise MessageSizeTooLargeError("The message is 11 bytes when serialized")
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self.futures.append(future)
            return future

    producer = KafkaEventProducer("127.0.0.1:1")
    client = Client()
    producer._producer = client  # started: no broker needed
    with pytest.raises(RecordTooLarge):
        await producer.send("t", b"k", b"x" * 11)
    stored, refused, timed_out = [await producer.send("t", b"k", b"v") for _ in range(3)]
    client.futures[0].set_result("metadata")
    client.futures[1].set_exception(MessageSizeTooLargeError())
    client.futures[2].set_exception(KafkaTimeoutError())
    assert await stored == "metadata"
    with pytest.raises(RecordTooLarge):
        await refused
    with pytest.raises(ProducerUnavailable):
        await timed_out
    # flush waits for records still in flight only, and a size refusal is not unavailability
    size_only = await producer.send("t", b"k", b"v")
    client.futures[3].set_exception(MessageSizeTooLargeError())
    await producer.flush()
    with pytest.raises(RecordTooLarge):
        await size_only
    down = await producer.send("t", b"k", b"v")
    flushing = asyncio.create_task(producer.flush())
    await asyncio.sleep(0)
    assert not flushing.done()
    client.futures[4].set_exception(KafkaTimeoutError())
    with pytest.raises(ProducerUnavailable):
        await flushing
    with pytest.raises(ProducerUnavailable):
        await down


async def test_an_item_nested_300_deep_is_rejected_and_its_neighbours_stored(clock: Clock) -> None:
    deep_item = orjson.dumps(event(2))[:-1] + b',"x_deep":' + b'{"a":' * 300 + b"{}" + b"}" * 300 + b"}"
    body = b"[" + b",".join([orjson.dumps(event(1)), deep_item, orjson.dumps(event(3))]) + b"]"
    producer = acknowledging()
    async for c in client_for(make_settings(), producer, clock):
        r = await c.post("/api/v1/events", content=body, headers=FEED)
        assert r.status_code == 202, r.text
        assert r.json()["accepted"] == 2
        assert [x["index"] for x in r.json()["rejected"]] == [1]
    assert [d.event_id for d in producer.deliveries] == ["e1", "e3"]


def test_an_item_that_cannot_be_serialised_is_invalid_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever refuses to serialise a valid event (orjson's and pydantic's depth limits raise
    ValueError or TypeError) rejects that item; nothing is produced before every item is checked."""
    import floorwatch.api.ingest as api_ingest

    real_dumps = api_ingest.dumps

    def dumps(event: Any) -> bytes:
        if event.event_id == "e2":
            raise ValueError("Maximum serialization depth exceeded")
        return real_dumps(event)

    monkeypatch.setattr(api_ingest, "dumps", dumps)
    records, rejections = prepare([event(1), event(2), event(3)], IngestLimits(), NOW_MS)
    assert [r.index for r in records] == [0, 2]
    assert rejections.by_reason == {"invalid_field": 1}
    assert rejections.listed == [
        {
            "index": 1,
            "reason": "invalid_field",
            "error": "event cannot be serialised: Maximum serialization depth exceeded",
        }
    ]


async def test_checking_items_hands_the_event_loop_back_between_chunks() -> None:
    assert ITEMS_BETWEEN_YIELDS == 500
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    records, rejections = await prepare_yielding([1] * 1_200, IngestLimits(), NOW_MS)
    after = ticks
    task.cancel()
    assert after - before == 2  # once after item 500, once after item 1,000
    assert (records, rejections.count, rejections.by_reason) == ([], 1_200, {"not_object": 1_200})


# --- caps: items per request, rejections listed ---------------------------------------------


async def test_more_items_than_max_items_is_413(clock: Clock) -> None:
    producer = acknowledging()
    async for c in client_for(make_settings(max_items=3), producer, clock):
        r = await post(c, [event(1), event(2), event(3), event(4)])
        assert r.status_code == 413
        assert r.json()["detail"] == "more than 3 events in one request (ingest.max_items); split the batch"
        # NDJSON: counted by lines before they are parsed (the 4th is not even JSON)
        ndjson = b"\n".join([orjson.dumps(event(1)), orjson.dumps(event(2)), orjson.dumps(event(3)), b"{nope"])
        r = await c.post("/api/v1/events", content=ndjson, headers=FEED)
        assert r.status_code == 413
        assert sample(c, "floorwatch_api_requests_refused_total", reason="too_many_items") == 2
        assert producer.deliveries == []
        # exactly max_items, blank lines not counted
        ndjson = b"\n\n".join([orjson.dumps(event(1)), orjson.dumps(event(2)), orjson.dumps(event(3))]) + b"\n\n"
        r = await c.post("/api/v1/events", content=ndjson, headers=FEED)
        assert (r.status_code, r.json()["accepted"]) == (202, 3)


async def test_rejection_list_is_capped_and_counted_by_reason(clock: Clock) -> None:
    unknown = {"event_id": "u", "type": "contact.teleported", "ts": "2024-03-05T10:00:00+08:00"}
    items = [event(0), 7, unknown, "x", event(4), unknown, {"type": 1}, None, event(8)]
    producer = acknowledging()
    async for c in client_for(make_settings(max_rejections_listed=2), producer, clock):
        r = await post(c, items)
        assert r.status_code == 202, r.text
        answer = r.json()
        assert answer["accepted"] == 3
        assert [(x["index"], x["reason"]) for x in answer["rejected"]] == [(1, "not_object"), (2, "unknown_type")]
        assert answer["rejected_count"] == 6
        assert answer["rejected_by_reason"] == {"not_object": 3, "unknown_type": 2, "missing_field": 1}
        assert sample(c, "floorwatch_api_events_rejected_total", reason="not_object") == 3
        assert sample(c, "floorwatch_api_events_rejected_total", reason="unknown_type") == 2


async def test_a_late_size_refusal_takes_its_place_by_index_in_the_capped_list(clock: Clock) -> None:
    producer = HeldProducer(auto={"e0": RecordTooLarge("too big")})
    async for c in client_for(make_settings(max_rejections_listed=2), producer, clock):
        r = await post(c, [event(0), event(1), 2, 3, 4])
        answer = r.json()
        assert [(x["index"], x["reason"]) for x in answer["rejected"]] == [(0, "too_large"), (2, "not_object")]
        assert (answer["accepted"], answer["rejected_count"]) == (1, 4)


async def test_long_error_messages_are_cut(clock: Clock) -> None:
    async for c in client_for(make_settings(), acknowledging(), clock):
        r = await post(c, ["y" * 5_000, {**event(1), "type": "z" * 5_000}])
        errors = [x["error"] for x in r.json()["rejected"]]
        assert all(len(e) <= MAX_ERROR_CHARS for e in errors), [len(e) for e in errors]


# --- per-token rate limit ------------------------------------------------------------------


async def test_rate_limit_per_token_with_retry_after(clock: Clock) -> None:
    producer = acknowledging()
    settings = make_settings(rate_events_per_s=10, rate_burst_events=20)
    async for c in client_for(settings, producer, clock):
        assert (await post(c, [event(i) for i in range(20)])).status_code == 202  # the whole burst
        r = await post(c, [event(20)])
        assert (r.status_code, r.headers["retry-after"]) == (429, "1")  # 1 event at 10/s: 0.1 s
        # another token has its own bucket
        assert (await post(c, [event(i) for i in range(20)], headers=OTHER)).status_code == 202

        clock.now_ms += 500  # 5 events refilled
        r = await post(c, [event(i) for i in range(6)])
        assert (r.status_code, r.headers["retry-after"]) == (429, "1")
        assert (await post(c, [event(i) for i in range(5)])).status_code == 202  # refused requests took nothing
        r = await post(c, [event(i) for i in range(15)])
        assert (r.status_code, r.headers["retry-after"]) == (429, "2")  # 15 events at 10/s: 1.5 s
        clock.now_ms += 1_499
        assert (await post(c, [event(i) for i in range(15)])).status_code == 429
        clock.now_ms += 1
        assert (await post(c, [event(i) for i in range(15)])).status_code == 202

        # invalid items are charged too (the work of checking them is done)
        clock.now_ms += 2_000
        r = await post(c, [event(1), 2, 3])
        assert (r.status_code, r.json()["accepted"]) == (202, 1)
        r = await post(c, [event(i) for i in range(18)])
        assert (r.status_code, r.headers["retry-after"]) == (429, "1")

        # more than the whole burst in one request can never fit: 413
        clock.now_ms += 60_000
        r = await post(c, [event(i) for i in range(21)])
        assert r.status_code == 413
        assert "burst of 20 events" in r.json()["detail"]

        assert sample(c, "floorwatch_api_requests_refused_total", reason="rate_limited") == 5
        assert sample(c, "floorwatch_api_requests_refused_total", reason="over_burst") == 1
    assert len(producer.deliveries) == 20 + 20 + 5 + 15 + 1


def test_rate_limiter_bucket_arithmetic() -> None:
    limiter = IngestRateLimiter(rate_events_per_s=4, burst_events=8, names=["feed"])
    limiter.charge("feed", 8, now_ms=10_000)
    assert limiter.tokens("feed", 10_000) == 0
    # a clock that steps back refills nothing
    assert limiter.tokens("feed", 5_000) == 0
    with pytest.raises(RateLimited) as refused:
        limiter.charge("feed", 1, now_ms=5_000)
    assert refused.value.retry_after_s == 1
    assert limiter.tokens("feed", 10_250) == 1
    with pytest.raises(RateLimited) as refused:
        limiter.charge("feed", 8, now_ms=10_250)
    assert refused.value.retry_after_s == 2  # 7 missing at 4/s: 1.75 s
    assert limiter.tokens("feed", 20_000) == 8  # never beyond the burst
    with pytest.raises(OverBurst):
        limiter.charge("feed", 9, now_ms=20_000)
    limiter.charge("feed", 0, now_ms=20_000)
    assert limiter.tokens("feed", 20_000) == 8


def test_rate_limiter_map_is_bounded_by_the_configured_names() -> None:
    limiter = IngestRateLimiter(rate_events_per_s=1, burst_events=5, names=["a", "b"])
    for n in range(1_000):
        with pytest.raises(RateLimited) if n >= 5 else contextlib.nullcontext():
            limiter.charge(f"stranger-{n}", 1, now_ms=0)  # unconfigured names share one bucket
    limiter.charge("a", 5, now_ms=0)
    limiter.charge("b", 5, now_ms=0)
    assert len(limiter._buckets) == 3


# --- the contract's time plausibility, on the API's clock -------------------------------------


async def test_event_times_are_checked_against_the_app_clock(clock: Clock) -> None:
    def at(n: int, ts: str) -> dict[str, Any]:
        return {**event(n), "ts": ts}

    # NOW_MS is 2024-03-05T10:01:00+08:00; ingest.max_future_s 300, retention_days 62
    items = [
        at(0, "2024-03-05T10:06:00+08:00"),  # exactly 300 s ahead: plausible
        at(1, "2024-03-05T10:06:00.001+08:00"),  # 1 ms further: refused
        at(2, "2024-01-03T10:01:00+08:00"),  # exactly 62 days back: plausible
        at(3, "2024-01-03T10:00:59.999+08:00"),  # 1 ms older: refused
    ]
    producer = acknowledging()
    async for c in client_for(make_settings(), producer, clock):
        answer = (await post(c, items)).json()
        assert [(x["index"], x["reason"]) for x in answer["rejected"]] == [
            (1, "implausible_time"),
            (3, "implausible_time"),
        ]
        assert [d.event_id for d in producer.deliveries] == ["e0", "e2"]
        # the same events a day later on the app's clock: the future one is fine, the old ones are not
        clock.now_ms += 86_400_000
        producer.deliveries.clear()
        answer = (await post(c, items)).json()
        assert [x["index"] for x in answer["rejected"]] == [2, 3]
        assert [d.event_id for d in producer.deliveries] == ["e0", "e1"]
