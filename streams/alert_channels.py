"""Routed alert channels (``alerts.channels``): what each type sends and how (docs/alerts.md).

Each channel turns an alert change into one queued item (``build``) and delivers it
(``send``), raising ``Retry`` for a failure worth another attempt and ``GiveUp`` for one that is
not. ``WebhookNotifier`` (streams/alerting.py) owns the queues, retries and counters.

* ``webhook``: the same signed JSON body as ``alerts.webhooks``.
* ``email``: a plain-text message through SMTP (stdlib ``smtplib`` in a thread of a small pool
  of its own, STARTTLS and login when configured), no links.
* ``alertmanager``: a JSON list POSTed to ``<url>/api/v2/alerts``: labels ``alertname`` (the
  kind), ``severity``, ``floorwatch_id`` and ``queue``/``team``/``agent`` when known,
  annotations ``summary`` and ``description``, ``startsAt``; a resolved alert carries
  ``endsAt`` = its resolution time. A firing alert carries no ``endsAt``: Alertmanager resolves
  it after its ``resolve_timeout`` unless it is posted again, which the leader does every
  ``ALERTMANAGER_REFRESH_S`` (``AlertmanagerRefresh``).

Nothing here logs a URL, an address list or a secret: logs name a channel by its ``id``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import smtplib
import ssl
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

import aiohttp
import orjson

from floorwatch.config import AlertmanagerChannelConfig, EmailChannelConfig, Settings, WebhookChannelConfig
from floorwatch.domain.alert_routing import Scope, alert_scope
from floorwatch.domain.alerts import ESCALATED, WARNING, Change
from floorwatch.domain.intervals import iso

Post = Callable[[str, bytes, dict[str, str]], Awaitable[int]]
SmtpSend = Callable[[EmailChannelConfig, EmailMessage], None]

ALERTMANAGER_REFRESH_S = 30.0  # firing alerts are re-POSTed this often (Alertmanager's resolve_timeout: 5 min)
SMTP_TIMEOUT_S = 10.0
SMTP_THREADS = 4  # SMTP sessions at once over all e-mail channels


def sign(secret: str, body: bytes) -> str:
    """Value of ``X-Floorwatch-Signature`` for ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def payload(change: Change, settings: Settings) -> bytes:
    """The JSON body of a webhook (``alerts.webhooks`` and ``webhook`` channels)."""
    alert = change.alert
    body = {
        "type": change.type,
        "at": iso(change.at_ms, settings.tz),
        "alert": {
            **{k: v for k, v in alert.items() if not k.endswith("_at_ms")},
            "started_at": iso(alert["started_at_ms"], settings.tz),
            "resolved_at": iso(alert["resolved_at_ms"], settings.tz) if alert.get("resolved_at_ms") else None,
            "acked_at": iso(alert["acked_at_ms"], settings.tz) if alert.get("acked_at_ms") else None,
        },
    }
    return orjson.dumps(body)


async def aiohttp_post(url: str, body: bytes, headers: dict[str, str]) -> int:
    """POST once, following no redirect: a 3xx comes back as its status."""
    timeout = aiohttp.ClientTimeout(total=5)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(url, data=body, headers=headers, allow_redirects=False) as resp,
    ):
        return resp.status


class Retry(Exception):
    """A failed delivery worth another attempt; the message is safe to log."""


class GiveUp(Exception):
    """A failed delivery that another attempt would not fix; the message is safe to log."""


def _clean(text: Any) -> str:
    """One line of text: control characters (a header injection) become spaces."""
    return "".join(ch if ch.isprintable() else " " for ch in str(text))


def summary(alert: Mapping[str, Any], scope: Scope | None = None) -> str:
    """One line naming the alert: kind, severity, what it is about (no link)."""
    scope = scope or alert_scope(alert)
    about = [
        f"{name} {value}"
        for name, value in (("queue", scope.queue), ("team", scope.team), ("agent", scope.agent))
        if value
    ]
    if not about:
        about = [f"subject {alert.get('subject')}"]
    return _clean(f"{alert.get('kind')} ({alert.get('severity')}): {', '.join(about)}")


def describe(details: Any) -> str:
    """The alert's details as ``key: value`` lines (nested values as JSON)."""
    if not isinstance(details, Mapping) or not details:
        return "(none)"
    lines = []
    for key in sorted(details):
        value = details[key]
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
        lines.append(f"{_clean(key)}: {_clean(text)}")
    return "\n".join(lines)


def _when(ms: Any, settings: Settings) -> str:
    return iso(int(ms), settings.tz) if isinstance(ms, int) and not isinstance(ms, bool) else "-"


# --- e-mail ---------------------------------------------------------------------------------


def email_message(config: EmailChannelConfig, change: Change, settings: Settings) -> EmailMessage:
    """The plain-text message of one change."""
    alert = change.alert
    scope = alert_scope(alert)
    line = summary(alert, scope)
    msg = EmailMessage()
    msg["Subject"] = f"[Floorwatch] {change.type}: {line}"[:250]
    msg["From"] = config.sender
    msg["To"] = ", ".join(config.to)
    msg["Date"] = formatdate(change.at_ms / 1000, localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain="floorwatch.invalid")
    body = [
        f"Floorwatch alert {change.type} at {_when(change.at_ms, settings)}",
        "",
        f"kind: {_clean(alert.get('kind'))}",
        f"subject: {_clean(alert.get('subject'))}",
        f"severity: {_clean(alert.get('severity'))}",
        f"state: {_clean(alert.get('state'))}",
        f"started: {_when(alert.get('started_at_ms'), settings)}",
        f"resolved: {_when(alert.get('resolved_at_ms'), settings)}",
    ]
    if alert.get("acked_by"):
        body.append(f"acknowledged by: {_clean(alert['acked_by'])} at {_when(alert.get('acked_at_ms'), settings)}")
    body += ["", "details:", describe(alert.get("details")), "", f"summary: {line}", ""]
    msg.set_content("\n".join(body))
    return msg


def smtp_send(config: EmailChannelConfig, msg: EmailMessage) -> None:
    """Send one message (blocking: run it in a thread)."""
    with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=SMTP_TIMEOUT_S) as smtp:
        if config.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if config.username:
            smtp.login(config.username, config.password)
        smtp.send_message(msg, from_addr=config.sender, to_addrs=list(config.to))


_SMTP_POOL: ThreadPoolExecutor | None = None


def _smtp_threads() -> ThreadPoolExecutor:
    """SMTP sessions block: they run in threads of their own, not in the event loop's default
    executor, whose threads also resolve host names (Kafka's among them) and must not wait
    behind a hung mail server."""
    global _SMTP_POOL  # one pool for the process, made on first use
    if _SMTP_POOL is None:
        _SMTP_POOL = ThreadPoolExecutor(max_workers=SMTP_THREADS, thread_name_prefix="floorwatch-smtp")
    return _SMTP_POOL


class EmailChannel:
    def __init__(self, config: EmailChannelConfig, settings: Settings, send: SmtpSend = smtp_send) -> None:
        self.id, self.config, self.settings, self._send = config.id, config, settings, send

    def build(self, change: Change) -> EmailMessage:
        return email_message(self.config, change, self.settings)

    async def send(self, item: EmailMessage) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(_smtp_threads(), self._send, self.config, item)
        except smtplib.SMTPNotSupportedError:
            raise GiveUp("the server does not support STARTTLS or login") from None
        except smtplib.SMTPResponseException as exc:
            # 5xx: the server refuses for good (bad login, refused sender); 4xx: try again later
            if exc.smtp_code >= 500:
                raise GiveUp(f"SMTP {exc.smtp_code}") from None
            raise Retry(f"SMTP {exc.smtp_code}") from None
        except smtplib.SMTPRecipientsRefused:
            raise GiveUp("recipients refused") from None
        except (smtplib.SMTPException, OSError, TimeoutError) as exc:
            # the exception's text may quote the host or an address: its type only
            raise Retry(type(exc).__name__) from None


# --- webhook --------------------------------------------------------------------------------


class WebhookChannel:
    def __init__(self, config: WebhookChannelConfig, settings: Settings, post: Post) -> None:
        self.id, self.config, self.settings, self.post = config.id, config, settings, post

    def build(self, change: Change) -> bytes:
        return payload(change, self.settings)  # the body of alerts.webhooks

    async def send(self, item: bytes) -> None:
        headers = {"Content-Type": "application/json", "X-Floorwatch-Signature": sign(self.config.secret, item)}
        await _post_checked(self.post, self.config.url, item, headers)


async def _post_checked(post: Post, url: str, body: bytes, headers: dict[str, str]) -> None:
    try:
        status = await post(url, body, headers)
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
        raise Retry(type(exc).__name__) from None  # the exception's text may quote the URL
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        raise GiveUp(f"answered {status}: redirects are not followed")
    if 400 <= status < 500 and status not in (408, 429):
        raise GiveUp(f"answered {status}")
    raise Retry(f"answered {status}")


# --- Alertmanager ---------------------------------------------------------------------------


def alertmanager_alert(
    alert: Mapping[str, Any], settings: Settings, *, severity: str | None = None, ends_at_ms: int | None = None
) -> dict[str, Any]:
    """One entry of the ``/api/v2/alerts`` list. ``endsAt`` only with ``ends_at_ms`` (a resolved
    alert: its resolution time)."""
    scope = alert_scope(alert)
    labels = {
        "alertname": str(alert.get("kind")),
        "severity": str(severity or alert.get("severity")),
        "floorwatch_id": str(alert.get("id")),
    }
    for name, value in (("queue", scope.queue), ("team", scope.team), ("agent", scope.agent)):
        if value:
            labels[name] = value
    entry: dict[str, Any] = {
        "labels": labels,
        "annotations": {"summary": summary(alert, scope), "description": describe(alert.get("details"))},
        "startsAt": iso(int(alert["started_at_ms"]), settings.tz),
    }
    if ends_at_ms is not None:
        entry["endsAt"] = iso(max(ends_at_ms, int(alert["started_at_ms"])), settings.tz)
    return entry


def alertmanager_entries(
    alert: Mapping[str, Any], settings: Settings, at_ms: int, *, previous_severity: str | None = None
) -> list[dict[str, Any]]:
    """What to POST for the alert's current state: itself (resolved: with ``endsAt``), and when its
    severity changed since the last POST, the old severity's alert resolved at ``at_ms`` (the
    severity is a label, so Alertmanager holds the two as different alerts)."""
    resolved_at = alert.get("resolved_at_ms")
    entries = [
        alertmanager_alert(alert, settings, ends_at_ms=resolved_at if alert.get("state") == "resolved" else None)
    ]
    if previous_severity and previous_severity != alert.get("severity"):
        entries.append(alertmanager_alert(alert, settings, severity=previous_severity, ends_at_ms=at_ms))
    return entries


class AlertmanagerChannel:
    def __init__(self, config: AlertmanagerChannelConfig, settings: Settings, post: Post) -> None:
        self.id, self.config, self.settings, self.post = config.id, config, settings, post
        self.endpoint = config.url.rstrip("/") + "/api/v2/alerts"

    def build(self, change: Change) -> bytes:
        previous = WARNING if change.type == ESCALATED else None
        return orjson.dumps(alertmanager_entries(change.alert, self.settings, change.at_ms, previous_severity=previous))

    def build_entries(self, entries: list[dict[str, Any]]) -> bytes:
        return orjson.dumps(entries)

    async def send(self, item: bytes) -> None:
        await _post_checked(self.post, self.endpoint, item, {"Content-Type": "application/json"})


Channel = WebhookChannel | EmailChannel | AlertmanagerChannel


def make_channel(config: Any, settings: Settings, post: Post, smtp: SmtpSend = smtp_send) -> Channel:
    if isinstance(config, EmailChannelConfig):
        return EmailChannel(config, settings, smtp)
    if isinstance(config, AlertmanagerChannelConfig):
        return AlertmanagerChannel(config, settings, post)
    return WebhookChannel(config, settings, post)
