"""Alert delivery counters on their way to /metrics: the notifier's per-channel and per-webhook
counters, the heartbeat that carries them (``alert_channels``), what the API's view accepts of
them, and the two /metrics families. Every expected number is worked out by hand below."""

from __future__ import annotations

import smtplib
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from floorwatch import records, topics
from floorwatch.api.metrics import ViewCollector
from floorwatch.config import Settings
from floorwatch.domain.alerts import Change
from floorwatch.readmodel.view import View
from floorwatch.records import WorkerHeartbeat
from floorwatch.streams.alerting import WebhookNotifier, webhook_labels
from floorwatch.streams.publisher import Publisher
from floorwatch.streams.rebuild import AggregateRebuild, FcrRebuild
from tests.unit.streams.fake_worker import BASE, make_worker
from tests.unit.streams.test_alert_channels import CHANNELS, ROUTES, T0, adherence_alert, queue_alert

HOOK_OK = "http://hook-ok.invalid/"
HOOK_REDIRECT = "http://hook-redirect.invalid/"
WEBHOOKS = [
    {"url": HOOK_OK, "secret": "s", "name": "ops"},
    {"url": HOOK_REDIRECT, "secret": "s"},
    {"url": HOOK_OK, "secret": "s", "name": "ops"},  # the same name again: named by its index
]


def notifier_settings() -> Settings:
    return Settings(timezone="UTC", alerts={"webhooks": WEBHOOKS, "channels": CHANNELS, "routes": ROUTES})


async def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    return 302 if url == HOOK_REDIRECT else 204


def refuse(config: Any, msg: Any) -> None:
    raise smtplib.SMTPResponseException(550, b"no such user")


def test_webhook_labels_are_the_log_names_unless_too_long_or_taken() -> None:
    s = Settings(
        timezone="UTC",
        alerts={
            "webhooks": [
                {"url": HOOK_OK, "secret": "s", "name": "x" * 62},  # repr: 64 characters, kept
                {"url": HOOK_OK, "secret": "s", "name": "y" * 63},  # repr: 65
                {"url": HOOK_OK, "secret": "s"},
                {"url": HOOK_OK, "secret": "s", "name": "x" * 62},
            ]
        },
    )
    assert webhook_labels(s.alerts.webhooks) == [f"'{'x' * 62}'", "#1", "#2", "#3"]


async def test_the_notifier_counts_per_channel_and_per_webhook() -> None:
    n = WebhookNotifier(notifier_settings(), post=post, smtp=refuse, max_pending=2, attempts=1)
    n.notify(Change("fired", T0, queue_alert(id="q0")))  # am, mail; every webhook
    n.notify(Change("fired", T0, adherence_alert()))  # chat in its quiet hours (09-17); every webhook
    n.notify(Change("fired", T0, queue_alert(id="q1")))  # am, mail; the webhooks' queues are full: drop 1
    assert await n.deliver_channel("am", n.channel_queues["am"].get_nowait()) is True
    assert await n.deliver_channel("mail", n.channel_queues["mail"].get_nowait()) is False  # 550: refused
    await n._deliver(0, n.hooks[0], n.queues[0].get_nowait())  # 204
    await n._deliver(1, n.hooks[1], n.queues[1].get_nowait())  # 302: not followed, failed
    zero = {"delivered": 0, "failed": 0, "dropped": 0, "quiet_hours": 0, "queued": 0}
    assert n.heartbeat_counters() == {
        "am": {**zero, "delivered": 1, "queued": 1},
        "mail": {**zero, "failed": 1, "queued": 1},
        "chat": {**zero, "quiet_hours": 1},
        "'ops'": {**zero, "delivered": 1, "dropped": 1, "queued": 1},
        "#1": {**zero, "failed": 1, "dropped": 1, "queued": 1},
        "#2": {**zero, "dropped": 1, "queued": 2},
    }
    # the webhooks' totals are what they always were
    assert (n.delivered, n.failed, n.dropped) == (1, 1, 3)


async def test_the_heartbeat_carries_the_notifier_counters() -> None:
    now = {"s": BASE / 1000}
    ctx = make_worker(lambda: now["s"])
    ctx.app.assignor = type("Assignor", (), {"assigned_actives": lambda self: []})()
    notifier = WebhookNotifier(notifier_settings(), post=post)
    notifier.notify(Change("fired", T0, adherence_alert()))  # chat: quiet hours; one item per webhook
    publisher = Publisher(ctx, AggregateRebuild(ctx), FcrRebuild(ctx), notifier, "host:1")
    await publisher.send_heartbeat()
    beat = orjson.loads(ctx.topics.out[topics.WORKER_STATUS].sent[0][1])
    zero = {"delivered": 0, "failed": 0, "dropped": 0, "quiet_hours": 0, "queued": 0}
    assert beat["alert_channels"] == {
        "am": zero,
        "mail": zero,
        "chat": {**zero, "quiet_hours": 1},
        "'ops'": {**zero, "queued": 1},
        "#1": {**zero, "queued": 1},
        "#2": {**zero, "queued": 1},
    }


# -- the record ---------------------------------------------------------------------------------


def heartbeat(worker: str, at_ms: int, channels: Any = None) -> dict[str, Any]:
    value = records.worker_heartbeat(worker, at_ms, at_ms - 60_000, {}, rebalancing=False, recovering=False)
    if channels is not None:
        value["alert_channels"] = channels
    return value


GOOD = {"delivered": 5, "failed": 1, "dropped": 0, "quiet_hours": 2, "queued": 3}


def test_heartbeat_round_trip_with_alert_channels() -> None:
    value = records.worker_heartbeat(
        "w:1", T0, T0 - 1, {}, rebalancing=False, recovering=False, alert_channels={"mail": GOOD, "#0": {**GOOD}}
    )
    assert value["alert_channels"] == {"mail": GOOD, "#0": GOOD}
    beat = WorkerHeartbeat.parse(orjson.loads(orjson.dumps(value)))
    assert beat.alert_channels == {"mail": (5, 1, 0, 2, 3), "#0": (5, 1, 0, 2, 3)}
    assert beat.to_record() == value
    # none configured: no field written, none read
    bare = records.worker_heartbeat("w:1", T0, T0 - 1, {}, rebalancing=False, recovering=False)
    assert "alert_channels" not in bare and WorkerHeartbeat.parse(bare).alert_channels == {}
    # the writer keeps the first 200
    many = {f"c{i}": GOOD for i in range(250)}
    value = records.worker_heartbeat("w:1", T0, T0, {}, rebalancing=False, recovering=False, alert_channels=many)
    assert list(value["alert_channels"]) == [f"c{i}" for i in range(200)]


def test_bad_alert_channels_are_skipped_never_the_heartbeat() -> None:
    channels = {
        "ok": GOOD,
        "negative": {**GOOD, "failed": -1},
        "boolean": {**GOOD, "dropped": True},
        "float": {**GOOD, "delivered": 1.0},
        "missing": {k: v for k, v in GOOD.items() if k != "queued"},
        "x" * 65: GOOD,
        "x" * 64: GOOD,
        "": GOOD,
        "list": [5, 1, 0, 2, 3],
    }
    beat = WorkerHeartbeat.parse(heartbeat("w:1", T0, channels))
    assert beat.alert_channels == {"ok": (5, 1, 0, 2, 3), "x" * 64: (5, 1, 0, 2, 3)}
    assert WorkerHeartbeat.parse(heartbeat("w:1", T0, [GOOD])).alert_channels == {}
    too_many = {f"c{i}": GOOD for i in range(201)}
    beat = WorkerHeartbeat.parse(heartbeat("w:1", T0, too_many))
    assert (beat.worker_id, beat.at_ms, beat.alert_channels) == ("w:1", T0, {})
    assert len(WorkerHeartbeat.parse(heartbeat("w:1", T0, dict(list(too_many.items())[:200]))).alert_channels) == 200


# -- /metrics -----------------------------------------------------------------------------------


def scrape(view: View) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    registry.register(ViewCollector(view, Settings(timezone="UTC"), lambda: T0))
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name.startswith("floorwatch_alert_notification")
    }


def test_metrics_export_each_workers_channels() -> None:
    view = View()
    assert scrape(view) == {}
    view.apply(topics.WORKER_STATUS, b"w:1", orjson.dumps(heartbeat("w:1", T0, {"mail": GOOD, "bad": {"x": 1}})))
    view.apply(topics.WORKER_STATUS, b"w:2", orjson.dumps(heartbeat("w:2", T0, {"mail": {**GOOD, "delivered": 7}})))
    view.apply(topics.WORKER_STATUS, b"w:3", orjson.dumps(heartbeat("w:3", T0)))  # no channels: no series
    total = "floorwatch_alert_notifications_total"
    depth = "floorwatch_alert_notification_queue_depth"

    def labels(worker: str, outcome: str | None = None) -> tuple[tuple[str, str], ...]:
        out = {"worker": worker, "channel": "mail"} | ({"outcome": outcome} if outcome else {})
        return tuple(sorted(out.items()))

    assert scrape(view) == {
        (total, labels("w:1", "delivered")): 5.0,
        (total, labels("w:1", "failed")): 1.0,
        (total, labels("w:1", "dropped")): 0.0,
        (total, labels("w:1", "quiet_hours")): 2.0,
        (depth, labels("w:1")): 3.0,
        (total, labels("w:2", "delivered")): 7.0,
        (total, labels("w:2", "failed")): 1.0,
        (total, labels("w:2", "dropped")): 0.0,
        (total, labels("w:2", "quiet_hours")): 2.0,
        (depth, labels("w:2")): 3.0,
    }
    view.apply(topics.WORKER_STATUS, b"w:2", None)  # stopped cleanly: its series go
    assert {dict(k[1])["worker"] for k in scrape(view)} == {"w:1"}
