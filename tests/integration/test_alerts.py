"""Queue alerts and webhooks on the real stack."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

from floorwatch import topics
from floorwatch.services.broker import free_port
from tests.integration.harness import Stack, produce, read_topic, wait_until

pytestmark = pytest.mark.integration

SECRET = "hook-secret"


class Receiver:
    """A webhook receiver on loopback that records what it gets."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def test_queue_waiting_alert_reaches_a_signed_webhook_and_a_dead_one_slows_nothing(tmp_path, receiver) -> None:
    dead = f"http://127.0.0.1:{free_port()}/nobody-listens"
    stack = Stack(
        tmp_path,
        alerts={
            "waiting_max": 2,
            "longest_wait_max_s": 3600,
            "timing": {"queue_waiting": {"min_duration_s": 1, "clear_duration_s": 1, "cooldown_s": 0}},
            "webhooks": [{"url": dead, "secret": "x"}, {"url": receiver.url, "secret": SECRET}],
        },
    )
    try:
        stack.worker()
        now_ms = int(time.time() * 1000)
        offered = [
            {
                "event_id": f"o{i}",
                "type": "contact.offered",
                "ts": iso(now_ms - 1000 * i),
                "contact_id": f"w{i}",
                "queue": "sales",
                "channel": "voice",
            }
            for i in range(4)
        ]
        asyncio.run(produce(stack.bootstrap, offered))

        def alerts() -> list[dict[str, Any]]:
            return [orjson.loads(v) for _, v in asyncio.run(read_topic(stack.bootstrap, topics.ALERTS, 0.4)) if v]

        fired = wait_until(lambda: [a for a in alerts() if a["kind"] == "queue_waiting"], 60, "queue_waiting")
        assert fired[0]["subject"] == "sales" and fired[0]["details"]["value"] == 4
        headers, body = wait_until(lambda: receiver.received[:1], 30, "the webhook POST")[0]
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Floorwatch-Signature"] == expected
        assert orjson.loads(body)["alert"]["kind"] == "queue_waiting"

        # answers drain the queue: processing is not held up by the dead webhook; the alert resolves
        answers = [
            {
                "event_id": f"a{i}",
                "type": "contact.answered",
                "ts": iso(now_ms + 500),
                "contact_id": f"w{i}",
                "queue": "sales",
                "agent_id": "ann",
            }
            for i in range(4)
        ]
        asyncio.run(produce(stack.bootstrap, answers))
        resolved = wait_until(
            lambda: [a for a in alerts() if a["kind"] == "queue_waiting" and a["state"] == "resolved"], 30, "resolution"
        )
        assert resolved[0]["id"] == fired[0]["id"]
        wait_until(
            lambda: any(orjson.loads(b)["type"] == "resolved" for _, b in receiver.received), 30, "the resolved webhook"
        )
    finally:
        stack.close()
