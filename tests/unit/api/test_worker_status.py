"""Worker heartbeats (fw.worker-status) in the API: the view's freshness at an injected instant,
/readyz and its reasons, the websocket frames' ``worker`` field and the hub's heartbeat pace,
the /metrics families. Every expected number is worked out by hand from the records below."""

from __future__ import annotations

import orjson
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import floorwatch.readmodel.view
from floorwatch import records, topics
from floorwatch.api.live import Filter, Hub
from floorwatch.api.main import create_app
from floorwatch.api.metrics import ViewCollector
from floorwatch.api.routes.health import combined_readiness, worker_readiness
from floorwatch.config import Settings
from floorwatch.readmodel.view import View
from tests.unit.api.asgi import asgi_client
from tests.unit.settings_factory import floor_settings

pytestmark = pytest.mark.usefixtures("isolated_config")

NOW = 1_709_605_050_000  # 2024-03-05T10:17:30+08:00
ALL8 = list(range(8))


def settings(**api: object) -> Settings:
    return floor_settings(tokens=[], queues=[{"id": "q1"}], kafka={"partitions": 8}, api=api)


def beat(
    view: View,
    worker: str,
    at_ms: int,
    partitions: dict[str, list[int]] | None = None,
    *,
    rebalancing: bool = False,
    recovering: bool = False,
) -> bool:
    owned = {t: ALL8 for t in topics.CONSUMED} if partitions is None else partitions
    value = records.worker_heartbeat(
        worker, at_ms, at_ms - 60_000, owned, rebalancing=rebalancing, recovering=recovering
    )
    return view.apply(topics.WORKER_STATUS, worker.encode(), records.dumps(value))


def tombstone(view: View, worker: str) -> bool:
    return view.apply(topics.WORKER_STATUS, worker.encode(), None)


EXPECTED = dict.fromkeys(topics.CONSUMED, 8)


# -- the view -----------------------------------------------------------------------------------


def test_freshness_is_now_minus_the_newest_heartbeat() -> None:
    view = View()
    assert view.worker_freshness(NOW, 5000).age_ms is None
    assert beat(view, "w1:1", NOW - 7_250) and beat(view, "w2:2", NOW - 1_500)
    fresh = view.worker_freshness(NOW, 5000, EXPECTED)
    assert fresh.age_ms == 1_500  # the newest of the two
    assert fresh.reporting == 1  # w1 is 7.25 s old: not fresh
    assert fresh.settling == () and fresh.unowned == {}
    # heartbeats are liveness, not figures: no version bump, no listener, but counted as applied
    assert view.version == 0 and view.applied == 2
    # the same view later: both stale, the age keeps growing with the clock
    later = view.worker_freshness(NOW + 10_000, 5000, EXPECTED)
    assert (later.age_ms, later.reporting) == (11_500, 0)
    assert later.unowned == {t: ALL8 for t in topics.CONSUMED}


def test_partitions_owned_by_no_fresh_worker_and_settling_workers() -> None:
    view = View()
    # w1 owns the even partitions, w2 the odd ones; w2 is hung (10 s silent)
    beat(view, "w1:1", NOW - 200, {t: [0, 2, 4, 6] for t in topics.CONSUMED})
    beat(view, "w2:2", NOW - 10_000, {t: [1, 3, 5, 7] for t in topics.CONSUMED})
    fresh = view.worker_freshness(NOW, 5000, EXPECTED)
    assert fresh.age_ms == 200 and fresh.reporting == 1
    assert fresh.unowned == {t: [1, 3, 5, 7] for t in topics.CONSUMED}
    # w2 comes back rebalancing, then w1 joins the rebalance too
    beat(view, "w2:2", NOW - 100, {t: [1, 3, 5, 7] for t in topics.CONSUMED}, rebalancing=True)
    fresh = view.worker_freshness(NOW, 5000, EXPECTED)
    assert (fresh.reporting, fresh.settling, fresh.unowned) == (2, ("w2:2",), {})
    beat(view, "w1:1", NOW - 50, {}, recovering=True)
    assert view.worker_freshness(NOW, 5000, EXPECTED).settling == ("w1:1", "w2:2")


def test_tombstone_forgets_the_worker_but_not_the_age() -> None:
    view = View()
    beat(view, "w1:1", NOW - 3_000)
    assert tombstone(view, "w1:1")
    assert view.workers == {}
    fresh = view.worker_freshness(NOW, 5000, EXPECTED)
    # nobody reports any more, and the newest heartbeat ever read is still 3 s old
    assert (fresh.age_ms, fresh.reporting, fresh.unowned[topics.CONTACT_EVENTS]) == (3_000, 0, ALL8)
    assert tombstone(view, "never-seen:9")  # a tombstone of an unknown worker is nothing


def test_workers_silent_for_the_retention_are_dropped() -> None:
    view = View()
    beat(view, "crashed:1", NOW - floorwatch.readmodel.view.WORKER_RETENTION_MS - 1)
    beat(view, "old:2", NOW - floorwatch.readmodel.view.WORKER_RETENTION_MS)  # exactly the retention: kept
    fresh = view.worker_freshness(NOW, 5000)
    assert set(view.workers) == {"old:2"}
    assert fresh.age_ms == floorwatch.readmodel.view.WORKER_RETENTION_MS


def test_a_heartbeat_from_a_clock_far_ahead_counts_for_nothing() -> None:
    view = View()
    beat(view, "skewed:1", NOW + floorwatch.readmodel.view.HEARTBEAT_FUTURE_MS + 1)
    assert view.worker_freshness(NOW, 5000).age_ms is None
    beat(view, "ahead:2", NOW + 2_000)  # a little ahead: age 0, not negative
    fresh = view.worker_freshness(NOW, 5000)
    assert (fresh.age_ms, fresh.reporting) == (0, 1)


def test_the_map_is_bounded_and_the_oldest_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(floorwatch.readmodel.view, "MAX_WORKERS", 3)
    view = View()
    for i, age in enumerate((4_000, 1_000, 9_000)):
        beat(view, f"w{i}:1", NOW - age)
    beat(view, "w1:1", NOW - 500)  # a known worker: replaced, nothing cut
    assert view.workers_cut == 0
    beat(view, "w3:1", NOW - 200)
    assert set(view.workers) == {"w0:1", "w1:1", "w3:1"} and view.workers_cut == 1  # w2 (9 s) went


@pytest.mark.parametrize(
    "value",
    [
        {"at_ms": NOW},  # no worker id
        {"worker_id": "w", "at_ms": "soon"},
        {"worker_id": "w", "at_ms": NOW, "partitions": {"fw.contact-events": [0, -1]}},
        {"worker_id": "w", "at_ms": NOW, "partitions": {"fw.contact-events": [True]}},
        {"worker_id": "w", "at_ms": NOW, "partitions": {f"t{i}": [0] for i in range(17)}},
        {"worker_id": "w" * 257, "at_ms": NOW},
    ],
)
def test_bad_heartbeats_are_counted_and_skipped(value: dict) -> None:
    view = View()
    assert view.apply(topics.WORKER_STATUS, None, orjson.dumps(value)) is False
    assert (view.bad_records, view.workers) == (1, {})


# -- readiness ----------------------------------------------------------------------------------


def test_worker_readiness_reasons() -> None:
    s, view = settings(), View()
    got = worker_readiness(view, s, NOW)
    assert (got["ready"], got["reasons"], got["age_s"]) == (False, ["no worker heartbeat read yet"], None)
    beat(view, "w1:1", NOW - 6_000)
    got = worker_readiness(view, s, NOW)
    assert got["reasons"] == ["newest worker heartbeat is 6.0 s old (api.worker_stale_after_s: 5)"]
    assert (got["age_s"], got["reporting"]) == (6.0, 0)
    beat(view, "w1:1", NOW - 5_000, {t: [0, 1, 2, 3] for t in topics.CONSUMED}, rebalancing=True)
    got = worker_readiness(view, s, NOW)
    assert got["reasons"] == [
        "worker rebalancing or recovering: w1:1",
        "20 partitions of the consumed topics are owned by no reporting worker",
    ]
    assert got["unowned"] == {t: [4, 5, 6, 7] for t in topics.CONSUMED} and got["settling"] == ["w1:1"]
    beat(view, "w1:1", NOW - 300)
    got = worker_readiness(view, s, NOW)
    assert (got["ready"], got["reasons"], got["age_s"], got["reporting"]) == (True, [], 0.3, 1)
    # the threshold is the setting
    assert worker_readiness(view, settings(worker_stale_after_s=0.2), NOW)["ready"] is False


def test_combined_readiness_needs_both() -> None:
    s, view = settings(), View()
    beat(view, "w1:1", NOW - 100)
    ok = combined_readiness({"ready": True, "lag": {}, "state": "consuming"}, view, s, NOW)
    assert (ok["ready"], ok["reasons"], ok["state"], ok["workers"]["ready"]) == (True, [], "consuming", True)
    behind = combined_readiness({"ready": False, "lag": {"fw.queue-stats": 3}}, view, s, NOW)
    assert behind["ready"] is False and behind["reasons"] == ["view not caught up with the output topics"]
    assert behind["lag"] == {"fw.queue-stats": 3}
    stale = combined_readiness({"ready": True, "lag": {}}, view, s, NOW + 5_101)
    assert stale["ready"] is False and stale["reasons"] == [
        "newest worker heartbeat is 5.2 s old (api.worker_stale_after_s: 5)"
    ]


async def test_readyz_follows_the_worker_heartbeats() -> None:
    view, now = View(), [NOW]
    app = create_app(
        settings(),
        view=view,
        producer=object(),
        clock=lambda: now[0],  # type: ignore[arg-type]
        worker_readiness=True,
    )
    async with asgi_client(app) as c:
        r = await c.get("/readyz")
        assert r.status_code == 503 and r.json()["reasons"] == ["no worker heartbeat read yet"]
        beat(view, "w1:1", NOW - 1_000)
        r = await c.get("/readyz")
        assert r.status_code == 200 and r.json()["workers"]["age_s"] == 1.0
        now[0] += 4_500  # 5.5 s since the heartbeat
        r = await c.get("/readyz")
        assert r.status_code == 503
        assert r.json()["reasons"] == ["newest worker heartbeat is 5.5 s old (api.worker_stale_after_s: 5)"]
    # an injected view without the flag keeps the old behaviour (tests, embedding)
    plain = create_app(settings(), view=View(), producer=object())  # type: ignore[arg-type]
    assert plain.state.readiness() == {"ready": True, "lag": {}}


# -- websocket frames ---------------------------------------------------------------------------


def hub_with(view: View, now: list[int], mono: list[float], readiness: object = None) -> Hub:
    return Hub(view, settings(), lambda: now[0], readiness, monotonic=lambda: mono[0])  # type: ignore[arg-type]


async def test_frames_carry_the_age_of_the_newest_heartbeat() -> None:
    view, now, mono = View(), [NOW], [100.0]
    hub = hub_with(view, now, mono)
    sub = hub.subscribe(Filter())
    assert "worker" not in sub.mailbox.take()  # no heartbeat read yet: no field
    beat(view, "w1:1", NOW - 800)
    late = hub.subscribe(Filter())
    snap = late.mailbox.take()
    assert snap["type"] == "snapshot"
    assert snap["worker"] == {"age_ms": 800, "stale_after_ms": 5000, "dead_after_ms": 30_000}
    mono[0] += 5.0
    now[0] += 5.0 * 1000
    assert hub.step() == 2
    pings = [orjson.loads(s.mailbox.take_text()) for s in (sub, late)]
    assert (
        pings[0]
        == pings[1]
        == {
            "type": "ping",
            "server_ts": NOW + 5000,
            "ready": True,
            "worker": {"age_ms": 5_800, "stale_after_ms": 5000, "dead_after_ms": 30_000},
        }
    )
    await hub.stop()


async def test_the_hub_pings_every_second_while_the_worker_is_silent() -> None:
    view, now, mono = View(), [NOW], [100.0]
    beat(view, "w1:1", NOW)
    hub = hub_with(view, now, mono)
    sub = hub.subscribe(Filter())
    sub.mailbox.take()

    def tick(seconds: float) -> dict | None:
        mono[0] += seconds
        now[0] += round(seconds * 1000)
        hub.step()
        return sub.mailbox.take()

    # fresh (age <= 5 s): pings every ping_s = 5 s only
    assert tick(1.0) is None and tick(1.0) is None and tick(1.0) is None and tick(1.0) is None
    assert tick(1.0)["worker"]["age_ms"] == 5_000  # the 5 s ping; 5 s is not yet stale
    # silent (> 5 s): a ping every second, each with the age at its server_ts
    assert tick(0.5) is None  # 5.5 s old but only 0.5 s since the last ping
    assert tick(0.5)["worker"]["age_ms"] == 6_000
    ages = [tick(1.0)["worker"]["age_ms"] for _ in range(3)]
    assert ages == [7_000, 8_000, 9_000]
    # the worker reports again: back to every 5 s
    beat(view, "w1:1", now[0])
    assert tick(1.0) is None and tick(3.0) is None
    assert tick(1.0)["worker"]["age_ms"] == 5_000
    await hub.stop()


async def test_readiness_flip_on_a_silent_worker_is_a_delta_at_once() -> None:
    view, now, mono = View(), [NOW], [100.0]
    s = settings()
    beat(view, "w1:1", NOW)
    hub = hub_with(view, now, mono, lambda: combined_readiness({"ready": True}, view, s, now[0]))
    sub = hub.subscribe(Filter())
    assert sub.mailbox.take()["ready"] is True
    mono[0] += 0.2
    now[0] += 5_200  # the clock moved past the stale threshold (mono: only 0.2 s since the snapshot)
    assert hub.step() == 1
    frame = sub.mailbox.take()
    assert (frame["type"], frame["ready"], frame["worker"]["age_ms"]) == ("delta", False, 5_200)
    await hub.stop()


# -- metrics ------------------------------------------------------------------------------------


def scrape(view: View, now_ms: int) -> dict[str, float]:
    registry = CollectorRegistry()
    registry.register(ViewCollector(view, settings(), lambda: now_ms))
    text = generate_latest(registry).decode()
    return {
        s.name: s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name.startswith("floorwatch_worker")
    }


def test_metrics_export_the_age_and_the_workers_reporting() -> None:
    view = View()
    assert scrape(view, NOW) == {
        "floorwatch_workers_reporting": 0.0,
        "floorwatch_worker_heartbeats_cut_total": 0.0,
    }  # no age before a heartbeat
    beat(view, "w1:1", NOW - 2_500)
    beat(view, "w2:2", NOW - 40_000)
    assert scrape(view, NOW) == {
        "floorwatch_worker_last_seen_seconds": 2.5,
        "floorwatch_workers_reporting": 1.0,
        "floorwatch_worker_heartbeats_cut_total": 0.0,
    }
    tombstone(view, "w1:1")  # stopped cleanly: the age keeps growing from its last heartbeat
    got = scrape(view, NOW + 30_000)
    assert (got["floorwatch_worker_last_seen_seconds"], got["floorwatch_workers_reporting"]) == (32.5, 0.0)
