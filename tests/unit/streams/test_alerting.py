import asyncio
import hashlib
import hmac

import orjson
import pytest
from pydantic import ValidationError

from floorwatch import records, topics
from floorwatch.config import ConfigError, Settings, WebhookConfig, load_settings
from floorwatch.domain.alerts import Change, alert_id
from floorwatch.readmodel.view import View
from floorwatch.streams.alerting import (
    QueueAlerter,
    WebhookNotifier,
    aiohttp_post,
    backoff_delays,
    payload,
    remind,
    sign,
    webhook_label,
)

ALERT = {
    "id": alert_id("queue_waiting", "sales", 1_000),
    "kind": "queue_waiting",
    "subject": "sales",
    "severity": "warning",
    "state": "firing",
    "started_at_ms": 1_000,
    "resolved_at_ms": None,
    "acked_by": None,
    "acked_at_ms": None,
    "details": {"queue": "sales", "value": 12},
}


def settings(**alerts) -> Settings:
    return Settings(
        timezone="UTC", alerts={"webhooks": [{"url": "http://hook.invalid/a", "secret": "s3cret"}], **alerts}
    )


def test_signature_is_hmac_sha256_of_the_exact_body():
    body = b'{"a":1}'
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert sign("s3cret", body) == "sha256=" + expected
    assert sign("other", body) != sign("s3cret", body)


def test_backoff_doubles_and_caps():
    assert list(backoff_delays(6, 1.0, 10.0)) == [1.0, 2.0, 4.0, 8.0, 10.0]
    assert list(backoff_delays(1, 1.0, 10.0)) == []


def test_payload_has_iso_times_and_no_ms_fields():
    body = orjson.loads(payload(Change("fired", 1_000, dict(ALERT)), settings()))
    assert body["type"] == "fired" and body["at"] == "1970-01-01T00:00:01+00:00"
    assert body["alert"]["started_at"] == "1970-01-01T00:00:01+00:00"
    assert "started_at_ms" not in body["alert"] and body["alert"]["id"] == ALERT["id"]


async def test_retries_until_the_receiver_accepts_then_stops():
    calls: list[tuple[str, bytes, dict]] = []
    answers = iter([500, OSError("refused"), 200])

    async def post(url, body, headers):
        calls.append((url, body, headers))
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    n = WebhookNotifier(settings(), post=post, base_delay_s=0.01, max_delay_s=0.02)
    runner = asyncio.create_task(n.run())
    n.notify(Change("fired", 1_000, dict(ALERT)))
    for _ in range(200):
        if n.delivered:
            break
        await asyncio.sleep(0.01)
    runner.cancel()
    assert n.delivered == 1 and len(calls) == 3
    url, body, headers = calls[-1]
    assert headers["X-Floorwatch-Signature"] == sign("s3cret", body)


async def test_a_receiver_that_never_answers_delays_nobody_else():
    got: list[str] = []

    async def post(url, body, headers):
        if "dead" in url:
            await asyncio.sleep(3600)  # accepts the connection, never answers
        got.append(orjson.loads(body)["alert"]["id"])
        return 204

    cfg = Settings(
        timezone="UTC",
        alerts={
            "webhooks": [{"url": "http://dead.invalid/", "secret": "a"}, {"url": "http://live.invalid/", "secret": "b"}]
        },
    )
    n = WebhookNotifier(cfg, post=post, max_pending=3)
    runner = asyncio.create_task(n.run())
    for i in range(5):  # returns at once every time
        n.notify(Change("fired", i, {**ALERT, "id": f"a{i}"}))
    for _ in range(100):
        if len(got) == 3:
            break
        await asyncio.sleep(0.01)
    runner.cancel()
    # the live receiver got the 3 newest promptly (its queue holds 3: the 2 oldest were dropped)
    assert got == ["a2", "a3", "a4"]
    assert n.dropped >= 2 and all(q.qsize() <= 3 for q in n.queues)


def test_acked_escalation_and_acks_are_not_notified():
    n = WebhookNotifier(settings(), post=None)  # type: ignore[arg-type]
    n.notify(Change("escalated", 5, {**ALERT, "acked_by": "sup"}))
    n.notify(Change("acked", 5, dict(ALERT)))
    assert n.queues[0].qsize() == 0
    n.notify(Change("escalated", 5, dict(ALERT)))
    n.notify(Change("resolved", 6, dict(ALERT)))
    assert n.queues[0].qsize() == 2


def test_reminders_only_for_unacked_firing_alerts_every_period():
    view = View()
    view.apply(topics.ALERTS, ALERT["id"].encode(), records.dumps(ALERT))
    other = {**ALERT, "id": "queue_waiting:chat:1000", "subject": "chat"}
    view.apply(topics.ALERTS, other["id"].encode(), records.dumps(other))
    view.apply(topics.ALERT_ACKS, other["id"].encode(), records.dumps({"id": other["id"], "by": "sup", "at_ms": 2_000}))
    n = WebhookNotifier(settings(), post=None)  # type: ignore[arg-type]
    reminded: dict[str, int] = {}
    remind(view, reminded, 1_000 + 899_000, 900, n)
    assert n.queues[0].qsize() == 0
    remind(view, reminded, 1_000 + 900_000, 900, n)
    assert n.queues[0].qsize() == 1 and list(reminded) == [ALERT["id"]]
    remind(view, reminded, 1_000 + 1_000_000, 900, n)
    assert n.queues[0].qsize() == 1  # next one only 900 s after the reminder


def _queue_partial(queue: str, waiting: int, oldest_ms: int | None) -> bytes:
    zero = {"offered": 0}
    return records.dumps(
        {
            "queue": queue,
            "partition": 0,
            "waiting": waiting,
            "oldest_waiting_ms": oldest_ms,
            "rolling_15m": zero,
            "rolling_60m": zero,
            "computed_ms": 0,
        }
    )


def test_queue_alerter_fires_after_min_duration_and_clears_with_hysteresis():
    cfg = Settings(
        timezone="UTC",
        queues=[{"id": "sales"}],
        alerts={
            "waiting_max": 4,
            "timing": {"queue_waiting": {"min_duration_s": 10, "clear_duration_s": 5, "cooldown_s": 0}},
        },
    )
    view = View()
    alerter = QueueAlerter(cfg, view)
    view.apply(topics.QUEUE_STATS, b"sales|0", _queue_partial("sales", 5, 0))
    assert [c for c in alerter.step(1_000) if c.alert["kind"] == "queue_waiting"] == []
    fired = [c for c in alerter.step(11_000) if c.alert["kind"] == "queue_waiting"]
    assert [c.type for c in fired] == ["fired"] and fired[0].alert["started_at_ms"] == 11_000
    view.apply(topics.QUEUE_STATS, b"sales|0", _queue_partial("sales", 4, 0))  # at threshold: not clear (<= 3)
    assert [c for c in alerter.step(20_000) if c.alert["kind"] == "queue_waiting"] == []
    view.apply(topics.QUEUE_STATS, b"sales|0", _queue_partial("sales", 3, 0))
    alerter.step(21_000)
    done = [c for c in alerter.step(26_000) if c.alert["kind"] == "queue_waiting"]
    assert [c.type for c in done] == ["resolved"] and done[0].alert["resolved_at_ms"] == 26_000


def test_a_new_leader_adopts_firing_queue_alerts():
    cfg = Settings(timezone="UTC", queues=[{"id": "sales"}], alerts={"waiting_max": 4})
    view = View()
    view.apply(topics.ALERTS, ALERT["id"].encode(), records.dumps(ALERT))
    view.apply(topics.QUEUE_STATS, b"sales|0", _queue_partial("sales", 9, 0))
    alerter = QueueAlerter(cfg, view)
    changes = alerter.step(50_000)
    assert not [c for c in changes if c.type == "fired"]  # continues the open alert, no duplicate
    assert alerter.book is not None and alerter.book.open_alert("queue_waiting", "sales")["id"] == ALERT["id"]


@pytest.mark.parametrize("kind", ["queue_waiting", "queue_staffing_gap"])
def test_timing_overrides_are_validated(kind):
    Settings(alerts={"timing": {kind: {"min_duration_s": 1}}})
    with pytest.raises(ValidationError):
        Settings(alerts={"timing": {"queue_bogus": {"min_duration_s": 1}}})


# --- webhooks: no redirects, no URL in logs, no empty secret --------------------------------------

SECRET_URL = "https://hooks.example.test/services/T000/B000/very-secret-path?token=abc123"


async def _deliver_once(cfg: Settings, post) -> WebhookNotifier:  # type: ignore[no-untyped-def]
    n = WebhookNotifier(cfg, post=post, attempts=2, base_delay_s=0, max_delay_s=0)
    await n._deliver(0, n.hooks[0], b"{}")
    return n


async def test_a_redirect_is_a_logged_failure_and_not_retried(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    async def post(url, body, headers):  # type: ignore[no-untyped-def]
        calls.append(url)
        return 307

    cfg = Settings(timezone="UTC", alerts={"webhooks": [{"url": SECRET_URL, "secret": "s", "name": "ops-chat"}]})
    with caplog.at_level("WARNING", logger="floorwatch.alerts"):
        n = await _deliver_once(cfg, post)
    assert (n.delivered, n.failed, len(calls)) == (0, 1, 1)
    assert caplog.messages == ["webhook 'ops-chat' answered 307: redirects are not followed; not delivered"]


async def test_logs_name_the_webhook_by_index_never_by_url(caplog: pytest.LogCaptureFixture) -> None:
    async def refused(url, body, headers):  # type: ignore[no-untyped-def]
        raise OSError(f"cannot connect to {url}")  # an error text that quotes the URL

    cfg = Settings(timezone="UTC", alerts={"webhooks": [{"url": SECRET_URL, "secret": "s"}]})
    with caplog.at_level("WARNING", logger="floorwatch.alerts"):
        await _deliver_once(cfg, refused)
    assert caplog.messages == [
        "webhook #0 failed: OSError",
        "webhook #0 failed: OSError",
        "webhook #0: gave up after 2 attempts",
    ]
    caplog.clear()
    with caplog.at_level("WARNING", logger="floorwatch.alerts"):
        n = WebhookNotifier(cfg, post=lambda url, body, headers: _status(500), attempts=1)
        await n._deliver(3, n.hooks[0], b"{}")
    assert caplog.messages == ["webhook #3 answered 500", "webhook #3: gave up after 1 attempts"]
    assert not [r for r in caplog.records if "example.test" in r.getMessage() or "abc123" in r.getMessage()]


async def _status(code: int) -> int:
    return code


async def test_aiohttp_post_does_not_follow_redirects() -> None:
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    hits: list[str] = []

    async def moved(request: web.Request) -> web.Response:
        hits.append("moved")
        raise web.HTTPTemporaryRedirect("/elsewhere")

    async def elsewhere(request: web.Request) -> web.Response:
        hits.append("elsewhere")
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", moved)
    app.router.add_post("/elsewhere", elsewhere)
    async with TestServer(app, host="127.0.0.1") as server:
        status = await aiohttp_post(str(server.make_url("/hook")), b"{}", {"Content-Type": "application/json"})
        assert status == 307 and hits == ["moved"]  # the body never reached the redirect target
        assert await aiohttp_post(str(server.make_url("/elsewhere")), b"{}", {}) == 204


def test_an_empty_webhook_secret_is_a_one_line_config_error(isolated_config: None, tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "floorwatch.yaml").write_text("alerts:\n  webhooks:\n    - {url: 'http://hook.invalid/', secret: ''}\n")
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert "\n" not in message and "'alerts.webhooks.0.secret'" in message
    assert message.startswith("invalid config key 'alerts.webhooks.0.secret': String should have at least 1 character")


def test_a_webhook_name_is_optional_and_short() -> None:
    assert WebhookConfig(url="http://h.invalid/", secret="s").name == ""
    assert webhook_label(WebhookConfig(url="http://h.invalid/", secret="s"), 2) == "#2"
    assert webhook_label(WebhookConfig(url="http://h.invalid/", secret="s", name="ops"), 2) == "'ops'"
    with pytest.raises(ValueError):
        WebhookConfig(url="http://h.invalid/", secret="s", name="n" * 65)


def test_the_alert_view_reads_only_what_queue_alerts_need():
    # the worker's view subscribes to ALERT_VIEW_* only; with every other topic left out the
    # alerter decides exactly as with the API's whole view
    from floorwatch.streams.alerting import ALERT_VIEW_OPTIONAL, ALERT_VIEW_REQUIRED

    alert_topics = {*ALERT_VIEW_REQUIRED, *ALERT_VIEW_OPTIONAL}
    assert topics.QUALITY_STATS not in alert_topics and topics.ADHERENCE not in alert_topics
    cfg = Settings(
        timezone="UTC",
        queues=[{"id": "sales"}],
        alerts={"waiting_max": 4, "timing": {"queue_waiting": {"min_duration_s": 0, "cooldown_s": 0}}},
    )
    interval = {
        "queue": "sales",
        "start_ms": 0,
        "end_ms": 1_800_000,
        "partition": 0,
        "counts": {"offered": 20, "answered": 10, "answered_within_sl": 2},
        "rules": {"sl_threshold_s": 20, "short_abandon_s": 5, "sl_target": 0.8, "sl_formula": "answered_over_offered"},
        "mixed_rules": False,
        "updated_ms": 60_000,
    }
    quality = {
        "kind": "fcr_interval",
        "queue": "sales",
        "start_ms": 0,
        "partition": 0,
        "updated_ms": 1,
        "counts": {"customer_contacts": 3, "repeat_contacts": 1, "fcr_eligible": 2, "fcr_resolved": 1},
    }
    status = {"agent_id": "a1", "state": "available", "since_ms": 0, "queues": ["sales"]}
    feed = [
        (topics.QUEUE_STATS, b"sales|0", _queue_partial("sales", 9, 0)),
        (topics.INTERVAL_STATS, b"sales|0|0", records.dumps(interval)),
        (topics.QUALITY_STATS, b"fcr|sales|0|0", records.dumps(quality)),
        (topics.AGENT_STATUS, b"a1", records.dumps(status)),
        (topics.DEAD_LETTERS, b"x", records.dumps({"reason": "bad"})),
    ]
    full, alert_only = View(), View()
    for topic, key, value in feed:
        full.apply(topic, key, value)
        if topic in alert_topics:
            alert_only.apply(topic, key, value)
    kinds = []
    for view in (full, alert_only):
        changes = QueueAlerter(cfg, view).step(120_000)
        kinds.append(sorted((c.type, c.alert["kind"], c.alert["subject"]) for c in changes))
    assert kinds[0] == kinds[1] and ("fired", "queue_waiting", "sales") in kinds[0]
