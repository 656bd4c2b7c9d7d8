"""A worker context (streams/context.py) without Kafka: topics record what is sent, tables are
dicts, changelog writes and FCR projections are recorded, output records are kept at flush."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import orjson

from floorwatch import topics
from floorwatch.config import Settings
from floorwatch.events import to_ms
from floorwatch.streams.context import Worker, WorkerState
from floorwatch.streams.produce import Outbox
from floorwatch.streams.topology import Tables, Topics
from tests.unit.settings_factory import floor_settings

BASE_DT = datetime.fromisoformat("2024-05-01T09:00:00+08:00")  # Shanghai, 30-minute intervals
BASE = to_ms(BASE_DT)


def at(seconds: float) -> str:
    """ISO time ``seconds`` after 09:00:00 Shanghai."""
    return (BASE_DT + timedelta(seconds=seconds)).isoformat()


class FakeTopic:
    def __init__(self, name: str) -> None:
        self.name = name
        self.sent: list[tuple[bytes, bytes | None]] = []

    def get_topic_name(self) -> str:
        return self.name

    async def send(self, *, key: bytes, value: bytes | None) -> asyncio.Future[None]:
        self.sent.append((key, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class FakeWorker(Worker):
    owned: set[int]
    changelog: list[tuple[str, dict[str, int]]]
    projections: list[dict[str, tuple[Any, Any]]]
    emitted: list[tuple[str, bytes, bytes | None]]

    def active(self, topic_name: str) -> set[int]:
        return set(self.owned)

    async def write_changelog(self, table: Any, changed: dict[str, int]) -> list[Any]:
        self.changelog.append((table.name, dict(changed)))
        return []

    async def send_projections(self, moved: dict[str, tuple[Any, Any]]) -> list[Any]:
        self.projections.append(dict(moved))
        return []

    async def flush_outbox(self) -> None:
        for topic_name, held in self.outbox.held.items():
            self.emitted.extend((topic_name, key, value) for _, key, value in held)
        self.outbox.held, self.outbox.count = {}, 0


def make_worker(
    now_s: Callable[[], float], settings: Settings | None = None, owned: set[int] | None = None
) -> FakeWorker:
    settings = settings or floor_settings(
        privacy={"customer_hash_key": "unit-test-key"},
        queues=[{"id": "support", "name": "Support", "channel": "voice", "sl_threshold_s": 20}],
    )
    fatal: list[str] = []
    st = WorkerState(settings, clock=now_s, on_fatal=fatal.append)
    app = SimpleNamespace(rebalancing=False, in_recovery=False, should_stop=False)
    inputs = [topics.CONTACT_EVENTS, topics.AGENT_EVENTS, topics.SCHEDULES, topics.FORECASTS]
    tps = Topics(
        *(FakeTopic(n) for n in [*inputs, topics.CUSTOMER_CONTACTS]), {n: FakeTopic(n) for n in topics.OUTPUTS}
    )
    tables = Tables(
        *(SimpleNamespace(name=n, data={}) for n in ("contacts", "agents", "agent-days", "customers", "fcr-final"))
    )
    ctx = FakeWorker(app, settings, st, tps, tables, Outbox(settings.kafka.output_partitions))
    ctx.owned = {0} if owned is None else owned
    ctx.changelog, ctx.projections, ctx.emitted = [], [], []
    return ctx


def event(value: Any, topic: str = topics.CONTACT_EVENTS, partition: int = 0, offset: int = 0) -> Any:
    """A Faust event as the agents read it: raw bytes and the message's topic, partition, offset."""
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    return SimpleNamespace(value=raw, message=SimpleNamespace(topic=topic, partition=partition, offset=offset))


def dead_letters(ctx: Worker) -> list[dict[str, Any]]:
    out = ctx.topics.out[topics.DEAD_LETTERS]
    return [orjson.loads(v) for _, v in out.sent]
