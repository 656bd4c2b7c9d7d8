"""Routed alert channels: what the notifier queues per channel, the e-mail text, the Alertmanager
list, retries, counters, quiet hours, the leader's Alertmanager refresh, and per-queue thresholds
in the queue alerter. Expected values are written out by hand."""

import asyncio
import smtplib
from email.message import EmailMessage

import orjson
import pytest

from floorwatch import records, topics
from floorwatch.config import Settings
from floorwatch.domain.alerts import Change
from floorwatch.readmodel.view import View
from floorwatch.streams.alert_channels import (
    EmailChannel,
    alertmanager_entries,
    email_message,
    sign,
    summary,
)
from floorwatch.streams.alerting import QueueAlerter, WebhookNotifier

T0 = 1_764_842_400_000  # 2025-12-04T10:00:00Z, a Thursday
SECRET_URL = "https://chat.example.test/hooks/very-secret-path?token=abc123"


def queue_alert(**kw: object) -> dict:
    return {
        "id": f"queue_waiting:sales:{T0}",
        "kind": "queue_waiting",
        "subject": "sales",
        "severity": "warning",
        "state": "firing",
        "started_at_ms": T0,
        "resolved_at_ms": None,
        "acked_by": None,
        "acked_at_ms": None,
        "details": {"queue": "sales", "value": 12, "threshold": 10.0},
        **kw,
    }


def adherence_alert(**kw: object) -> dict:
    return {
        **queue_alert(),
        "id": f"adherence_break:a7:{T0}",
        "kind": "adherence_break",
        "subject": "a7",
        "details": {"agent_id": "a7", "name": "Ann", "team": "t1", "scheduled_activity": "work", "state": "aux/break"},
        **kw,
    }


CHANNELS = [
    {"id": "am", "type": "alertmanager", "url": "http://am.example.test:9093/"},
    {
        "id": "mail",
        "type": "email",
        "smtp_host": "smtp.example.test",
        "sender": "fw@example.test",
        "to": ["a@example.test", "b@example.test"],
        "password": "pa55word",
    },
    {"id": "chat", "type": "webhook", "url": SECRET_URL, "secret": "hook-s3cret"},
]


def settings(routes: list, tz: str = "UTC") -> Settings:
    return Settings(timezone=tz, alerts={"channels": CHANNELS, "routes": routes})


def test_summary_names_what_the_alert_is_about():
    assert summary(queue_alert()) == "queue_waiting (warning): queue sales"
    assert summary(adherence_alert(severity="critical")) == "adherence_break (critical): team t1, agent a7"
    assert (
        summary({"kind": "x", "severity": "warning", "subject": "s\r\nBcc: evil"})
        == "x (warning): subject s  Bcc: evil"
    )


def test_email_is_plain_text_with_the_alert_fields():
    s = settings([], tz="Europe/Paris")
    msg = email_message(s.alerts.channels[1], Change("fired", T0, queue_alert()), s)  # type: ignore[arg-type]
    assert msg["Subject"] == "[Floorwatch] fired: queue_waiting (warning): queue sales"
    assert msg["From"] == "fw@example.test" and msg["To"] == "a@example.test, b@example.test"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content() == (
        "Floorwatch alert fired at 2025-12-04T11:00:00+01:00\n"
        "\n"
        "kind: queue_waiting\n"
        "subject: sales\n"
        "severity: warning\n"
        "state: firing\n"
        "started: 2025-12-04T11:00:00+01:00\n"
        "resolved: -\n"
        "\n"
        "details:\n"
        "queue: sales\n"
        "threshold: 10.0\n"
        "value: 12\n"
        "\n"
        "summary: queue_waiting (warning): queue sales\n"
    )
    assert "http" not in msg.as_string() and "pa55word" not in msg.as_string()


def test_alertmanager_entries_firing_resolved_and_escalated():
    s = settings([])
    firing = alertmanager_entries(adherence_alert(), s, T0)
    assert firing == [
        {
            "labels": {
                "alertname": "adherence_break",
                "severity": "warning",
                "floorwatch_id": f"adherence_break:a7:{T0}",
                "team": "t1",
                "agent": "a7",
            },
            "annotations": {
                "summary": "adherence_break (warning): team t1, agent a7",
                "description": "agent_id: a7\nname: Ann\nscheduled_activity: work\nstate: aux/break\nteam: t1",
            },
            "startsAt": "2025-12-04T10:00:00+00:00",
        }
    ]
    resolved = alertmanager_entries(queue_alert(state="resolved", resolved_at_ms=T0 + 90_000), s, T0 + 95_000)
    assert [e["endsAt"] for e in resolved] == ["2025-12-04T10:01:30+00:00"]
    assert resolved[0]["labels"] == {
        "alertname": "queue_waiting",
        "severity": "warning",
        "floorwatch_id": f"queue_waiting:sales:{T0}",
        "queue": "sales",
    }
    # an escalation: the critical alert, and the warning one (another label set) ended now
    up = alertmanager_entries(queue_alert(severity="critical"), s, T0 + 60_000, previous_severity="warning")
    assert [(e["labels"]["severity"], e.get("endsAt")) for e in up] == [
        ("critical", None),
        ("warning", "2025-12-04T10:01:00+00:00"),
    ]


ROUTES = [
    {"match": {"kinds": ["queue_waiting"], "queues": ["sales"]}, "channels": ["mail", "am"]},
    {"match": {"teams": ["t1"]}, "channels": ["chat"], "quiet_hours": {"start": "09:00", "end": "17:00"}},
]


def test_notify_queues_an_item_per_routed_channel_and_counts_quiet_hours():
    n = WebhookNotifier(settings(ROUTES), post=None)  # type: ignore[arg-type]
    n.notify(Change("fired", T0, queue_alert()))
    sizes = {cid: q.qsize() for cid, q in n.channel_queues.items()}
    assert sizes == {"am": 1, "mail": 1, "chat": 0}
    assert isinstance(n.channel_queues["mail"].get_nowait(), EmailMessage)
    body = orjson.loads(n.channel_queues["am"].get_nowait())
    assert [e["labels"]["alertname"] for e in body] == ["queue_waiting"]
    # t1's adherence break at 10:00 UTC: inside the chat rule's quiet hours -> counted, not queued
    n.notify(Change("fired", T0, adherence_alert()))
    assert n.channel_queues["chat"].qsize() == 0 and n.channel_stats["chat"].quiet == 1
    # at 17:00 the quiet hours are over
    n.notify(Change("resolved", T0 + 7 * 3_600_000, adherence_alert(state="resolved", resolved_at_ms=T0 + 1)))
    assert n.channel_queues["chat"].qsize() == 1 and n.channel_stats["chat"].quiet == 1
    # an acknowledgement is never pushed; an unmatched alert goes nowhere
    n.notify(Change("acked", T0, queue_alert(acked_by="sup")))
    n.notify(Change("fired", T0, queue_alert(subject="support", details={"queue": "support"})))
    assert {cid: q.qsize() for cid, q in n.channel_queues.items()} == {"am": 0, "mail": 0, "chat": 1}


def test_a_full_channel_queue_drops_the_oldest_and_counts_it():
    n = WebhookNotifier(settings(ROUTES), post=None, max_pending=2)  # type: ignore[arg-type]
    for i in range(5):
        n.notify(Change("fired", T0 + i, queue_alert(id=f"q{i}")))
    kept = [orjson.loads(n.channel_queues["am"].get_nowait())[0]["labels"]["floorwatch_id"] for _ in range(2)]
    assert kept == ["q3", "q4"] and n.channel_stats["am"].dropped == 3 and n.channel_stats["mail"].dropped == 3


def test_plain_webhooks_still_get_every_alert_beside_the_routes():
    s = Settings(
        timezone="UTC",
        alerts={"webhooks": [{"url": "http://hook.invalid/", "secret": "s"}], "channels": CHANNELS, "routes": ROUTES},
    )
    n = WebhookNotifier(s, post=None)  # type: ignore[arg-type]
    n.notify(Change("fired", T0, queue_alert(subject="support", details={"queue": "support"})))
    assert n.queues[0].qsize() == 1 and all(q.qsize() == 0 for q in n.channel_queues.values())


async def test_channel_retries_then_gives_up_and_logs_only_the_channel_id(caplog: pytest.LogCaptureFixture):
    calls: list[tuple[str, dict]] = []
    answers = iter([OSError(f"cannot connect to {SECRET_URL}"), 503, 204, 400])

    async def post(url, body, headers):
        calls.append((url, headers))
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    n = WebhookNotifier(settings(ROUTES), post=post, base_delay_s=0, max_delay_s=0)
    with caplog.at_level("WARNING", logger="floorwatch.alerts"):
        assert await n.deliver_channel("chat", b"{}") is True
        assert await n.deliver_channel("chat", b"{}") is False  # 400: refused, not retried
    assert [u for u, _ in calls] == [SECRET_URL] * 4
    assert calls[-1][1]["X-Floorwatch-Signature"] == sign("hook-s3cret", b"{}")
    assert (n.channel_stats["chat"].delivered, n.channel_stats["chat"].failed) == (1, 1)
    assert caplog.messages == [
        "alert channel 'chat' failed: OSError",
        "alert channel 'chat' failed: answered 503",
        "alert channel 'chat': answered 400; not delivered",
    ]
    assert not [m for m in caplog.messages if "example.test" in m or "abc123" in m or "s3cret" in m]


async def test_alertmanager_posts_to_its_v2_endpoint():
    urls: list[str] = []

    async def post(url, body, headers):
        urls.append(url)
        return 200

    n = WebhookNotifier(settings(ROUTES), post=post)
    assert await n.deliver_channel("am", b"[]") is True
    assert urls == ["http://am.example.test:9093/api/v2/alerts"]


async def test_email_goes_through_smtp_in_a_thread_and_5xx_is_final(caplog: pytest.LogCaptureFixture):
    sent: list[tuple[str, list[str]]] = []
    failures = iter([smtplib.SMTPResponseException(421, b"busy"), None, smtplib.SMTPResponseException(535, b"auth")])

    def smtp(config, msg):  # runs in a worker thread
        failure = next(failures)
        if failure is not None:
            raise failure
        sent.append((msg["Subject"], list(config.to)))

    s = settings(ROUTES)
    n = WebhookNotifier(s, post=None, smtp=smtp, base_delay_s=0, max_delay_s=0)  # type: ignore[arg-type]
    channel = n.channels["mail"]
    assert isinstance(channel, EmailChannel)
    msg = channel.build(Change("fired", T0, queue_alert()))
    with caplog.at_level("WARNING", logger="floorwatch.alerts"):
        assert await n.deliver_channel("mail", msg) is True
        assert await n.deliver_channel("mail", msg) is False
    assert sent == [("[Floorwatch] fired: queue_waiting (warning): queue sales", ["a@example.test", "b@example.test"])]
    assert caplog.messages == ["alert channel 'mail' failed: SMTP 421", "alert channel 'mail': SMTP 535; not delivered"]


async def test_run_drains_every_channel():
    got: list[str] = []

    async def post(url, body, headers):
        got.append(url)
        return 200

    n = WebhookNotifier(settings(ROUTES), post=post, smtp=lambda c, m: got.append("smtp"))
    runner = asyncio.create_task(n.run())
    n.notify(Change("fired", T0, queue_alert()))
    for _ in range(200):
        if len(got) == 2:
            break
        await asyncio.sleep(0.01)
    runner.cancel()
    assert sorted(got) == ["http://am.example.test:9093/api/v2/alerts", "smtp"]
    assert n.channel_stats["am"].delivered == n.channel_stats["mail"].delivered == 1


def _posted(n: WebhookNotifier, cid: str = "am") -> list[tuple[str, str, str | None]]:
    out = []
    while not n.channel_queues[cid].empty():
        for e in orjson.loads(n.channel_queues[cid].get_nowait()):
            out.append((e["labels"]["floorwatch_id"], e["labels"]["severity"], e.get("endsAt")))
    return out


async def test_refresh_reposts_firing_alerts_and_resolves_what_left():
    routes = [
        {"match": {"kinds": ["queue_waiting"]}, "channels": ["am"]},
        {
            "match": {"kinds": ["adherence_break"]},
            "channels": ["am"],
            "quiet_hours": {"start": "22:00", "end": "06:00"},
        },
    ]
    n = WebhookNotifier(settings(routes), post=None)  # type: ignore[arg-type]
    q, a = queue_alert(), adherence_alert()
    view = {q["id"]: q, a["id"]: a, "old": queue_alert(id="old", state="resolved", resolved_at_ms=T0)}
    assert await n.refresh_alertmanager(view, T0 + 30_000) == 2
    assert _posted(n) == [(a["id"], "warning", None), (q["id"], "warning", None)]  # sorted by id
    # 30 s later: the queue alert escalated, the adherence one resolved
    view[q["id"]] = queue_alert(severity="critical")
    view[a["id"]] = adherence_alert(state="resolved", resolved_at_ms=T0 + 40_000)
    await n.refresh_alertmanager(view, T0 + 60_000)
    assert _posted(n) == [
        (q["id"], "critical", None),
        (q["id"], "warning", "2025-12-04T10:01:00+00:00"),
        (a["id"], "warning", "2025-12-04T10:00:40+00:00"),
    ]
    # gone from the view (expired) while posted: ended at the refresh
    del view[q["id"]]
    await n.refresh_alertmanager(view, T0 + 90_000)
    assert _posted(n) == [(q["id"], "critical", "2025-12-04T10:01:30+00:00")]
    await n.refresh_alertmanager(view, T0 + 120_000)
    assert _posted(n) == []
    # quiet hours: a firing adherence break at 23:00 is not posted (it lapses in Alertmanager)
    late = adherence_alert(id="late")
    assert await n.refresh_alertmanager({"late": late}, T0 + 13 * 3_600_000) == 0 and _posted(n) == []


async def test_refresh_without_alertmanager_channels_does_nothing():
    n = WebhookNotifier(settings([{"channels": ["mail"]}]), post=None)  # type: ignore[arg-type]
    assert await n.refresh_alertmanager({"x": queue_alert()}, T0) == 0
    assert n.channel_queues["am"].qsize() == 0


def _queue_partial(queue: str, waiting: int) -> bytes:
    zero = {"offered": 0}
    return records.dumps(
        {
            "queue": queue,
            "partition": 0,
            "waiting": waiting,
            "oldest_waiting_ms": None,
            "rolling_15m": zero,
            "rolling_60m": zero,
            "computed_ms": 0,
        }
    )


def test_the_queue_alerter_reads_each_queues_threshold():
    cfg = Settings(
        timezone="UTC",
        queues=[{"id": "vip", "alerts": {"waiting_max": 2}}, {"id": "sales"}],
        alerts={"waiting_max": 10, "timing": {"queue_waiting": {"min_duration_s": 0}}},
    )
    view = View()
    view.apply(topics.QUEUE_STATS, b"vip|0", _queue_partial("vip", 3))
    view.apply(topics.QUEUE_STATS, b"sales|0", _queue_partial("sales", 3))
    fired = [c for c in QueueAlerter(cfg, view).step(1_000) if c.alert["kind"] == "queue_waiting"]
    # vip: 3 > 2 fires; sales: 3 <= the global 10 does not
    assert [(c.type, c.alert["subject"], c.alert["details"]["threshold"]) for c in fired] == [("fired", "vip", 2.0)]


async def test_the_channel_counters_are_logged_when_they_change(caplog: pytest.LogCaptureFixture):
    n = WebhookNotifier(settings(ROUTES), post=None)  # type: ignore[arg-type]
    with caplog.at_level("INFO", logger="floorwatch.alerts"):
        reporter = asyncio.create_task(n._report_stats(every_s=0.01))
        await asyncio.sleep(0.05)
        assert caplog.messages == []  # nothing changed: nothing logged
        n.notify(Change("fired", T0, adherence_alert()))  # inside the chat rule's quiet hours
        for _ in range(100):
            if caplog.messages:
                break
            await asyncio.sleep(0.01)
        reporter.cancel()
    zero = {"delivered": 0, "failed": 0, "dropped": 0, "quiet": 0}
    expected = {"am": zero, "mail": zero, "chat": {"delivered": 0, "failed": 0, "dropped": 0, "quiet": 1}}
    assert caplog.messages == [f"alert channels since start: {expected}"]


async def test_a_malformed_record_is_skipped_not_fatal(caplog: pytest.LogCaptureFixture):
    n = WebhookNotifier(settings([{"channels": ["am", "mail"]}]), post=None)  # type: ignore[arg-type]
    broken = {"id": "x", "kind": "queue_waiting", "subject": "s", "severity": "warning", "state": "firing"}
    assert await n.refresh_alertmanager({"x": broken, "y": None, "q": queue_alert(id="q")}, T0) == 1
    with caplog.at_level("WARNING", logger="floorwatch.alerts"):
        n.notify(Change("fired", T0, broken))  # no started_at_ms: Alertmanager's entry cannot be built
    assert caplog.messages == ["alert channel 'am': cannot build the notification: KeyError"]
    assert n.channel_stats["am"].failed == 1 and n.channel_queues["am"].qsize() == 1  # the refresh's only
    assert n.channel_queues["mail"].qsize() == 1  # the e-mail shows what it has


async def test_a_server_without_starttls_is_a_refusal(caplog: pytest.LogCaptureFixture):
    calls: list[str] = []

    def smtp(config, msg):
        calls.append("try")
        raise smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server.")

    n = WebhookNotifier(settings(ROUTES), post=None, smtp=smtp, base_delay_s=0, max_delay_s=0)  # type: ignore[arg-type]
    with caplog.at_level("WARNING", logger="floorwatch.alerts"):
        assert await n.deliver_channel("mail", EmailMessage()) is False
    assert calls == ["try"] and n.channel_stats["mail"].failed == 1
    assert caplog.messages == ["alert channel 'mail': the server does not support STARTTLS or login; not delivered"]
