"""GET /api/v1/agents, /api/v1/adherence, /api/v1/alerts, POST /api/v1/alerts/{id}/ack, /api/v1/me.

Asia/Shanghai (UTC+8), now = 2024-03-05 10:17:30 local; hand-written records of floorwatch.records.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest

from floorwatch import topics
from floorwatch.api.kafka import ProducerUnavailable
from floorwatch.api.main import create_app
from floorwatch.config import Settings
from floorwatch.events import to_ms
from floorwatch.readmodel.view import View
from tests.unit.api.asgi import asgi_client
from tests.unit.settings_factory import floor_settings, token

TZ = ZoneInfo("Asia/Shanghai")


def local_ms(text: str) -> int:
    return to_ms(datetime.fromisoformat(text).replace(tzinfo=TZ))


NOW = local_ms("2024-03-05T10:17:30")
SECRETS = {"viewer": "v-secret", "supervisor": "s-secret", "admin": "a-secret", "ingest": "i-secret"}


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {SECRETS[role]}"}


pytestmark = pytest.mark.usefixtures("isolated_config")


def make_settings() -> Settings:
    return floor_settings(
        queues=[{"id": "support"}], tokens=[token(f"{role}-token", s, role) for role, s in SECRETS.items()]
    )


class FakeProducer:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.fail = fail

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        if self.fail:
            raise ProducerUnavailable("down")
        self.sent.append((topic, key, value))

    async def flush(self) -> None:
        pass


def agent(agent_id: str, team: str, state: str, **extra: object) -> bytes:
    return orjson.dumps(
        {
            "agent_id": agent_id,
            "name": agent_id.upper(),
            "team": team,
            "queues": ["support"],
            "state": state,
            "reason": "break" if state == "aux" else None,
            "since_ms": NOW - 90_000,
            "updated_ms": NOW - 90_000,
            **extra,
        }
    )


ALERT_OLD = f"adherence_break:a2:{NOW - 600_000}"
ALERT_NEW = f"queue_waiting:support:{NOW - 60_000}"
ALERT_DONE = f"queue_longest_wait:support:{NOW - 3_600_000}"


def alert(alert_id: str, state: str = "firing", **extra: object) -> bytes:
    kind, subject, started = alert_id.split(":")
    return orjson.dumps(
        {
            "id": alert_id,
            "kind": kind,
            "subject": subject,
            "severity": "warning",
            "state": state,
            "started_at_ms": int(started),
            "resolved_at_ms": NOW - 3_000_000 if state == "resolved" else None,
            "acked_by": None,
            "acked_at_ms": None,
            "details": {"value": 12},
            **extra,
        }
    )


def fill(view: View) -> None:
    view.apply(
        topics.AGENT_STATUS,
        b"a1",
        agent("a1", "north", "available", scheduled_activity="work", in_adherence=True, out_of_adherence_since_ms=None),
    )
    view.apply(
        topics.AGENT_STATUS,
        b"a2",
        agent(
            "a2",
            "south",
            "aux",
            scheduled_activity="work",
            in_adherence=False,
            out_of_adherence_since_ms=NOW - 600_000,
            exception="unscheduled_aux",
        ),
    )
    view.apply(topics.AGENT_STATUS, b"a3", agent("a3", "north", "on_contact"))  # no adherence fields yet
    view.apply(
        topics.ADHERENCE,
        b"a2|2024-03-05",
        orjson.dumps(
            {
                "agent_id": "a2",
                "team": "south",
                "date": "2024-03-05",
                "updated_ms": NOW,
                "scheduled_s": 3600.0,
                "in_adherence_s": 3000.0,
                "adherence": 3000 / 3600,
                "work_scheduled_s": 3600.0,
                "worked_s": 3000.0,
                "conformance": 3000 / 3600,
                "exceptions": [
                    {
                        "kind": "unscheduled_aux",
                        "start_ms": NOW - 600_000,
                        "end_ms": None,
                        "scheduled": "work",
                        "actual": "aux/break",
                    }
                ],
            }
        ),
    )
    view.apply(
        topics.ADHERENCE,
        b"a1|2024-03-05",
        orjson.dumps(
            {
                "agent_id": "a1",
                "team": "north",
                "date": "2024-03-05",
                "scheduled_s": 3600.0,
                "in_adherence_s": 3600.0,
                "adherence": 1.0,
                "work_scheduled_s": 3600.0,
                "worked_s": 3600.0,
                "conformance": 1.0,
                "exceptions": [],
            }
        ),
    )
    view.apply(
        topics.ADHERENCE, b"a1|2024-03-04", orjson.dumps({"agent_id": "a1", "date": "2024-03-04", "exceptions": []})
    )
    view.apply(topics.ALERTS, ALERT_OLD.encode(), alert(ALERT_OLD))
    view.apply(topics.ALERTS, ALERT_NEW.encode(), alert(ALERT_NEW))
    view.apply(topics.ALERTS, ALERT_DONE.encode(), alert(ALERT_DONE, "resolved"))


@pytest.fixture
def view() -> View:
    v = View()
    fill(v)
    return v


@pytest.fixture
def producer() -> FakeProducer:
    return FakeProducer()


@pytest.fixture
def app(view: View, producer: FakeProducer):  # type: ignore[no-untyped-def]
    return create_app(make_settings(), view=view, producer=producer, clock=lambda: NOW)


async def test_agents(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/agents", headers=auth("viewer"))
    assert r.status_code == 200
    rows = r.json()
    assert [a["agent_id"] for a in rows] == ["a1", "a3", "a2"]  # by team, then name
    a2 = rows[2]
    assert a2 == {
        "agent_id": "a2",
        "name": "A2",
        "team": "south",
        "queues": ["support"],
        "state": "aux",
        "reason": "break",
        "since": "2024-03-05T10:16:00+08:00",
        "scheduled_activity": "work",
        "in_adherence": False,
        "out_of_adherence_since": "2024-03-05T10:07:30+08:00",
        "exception": "unscheduled_aux",
    }
    assert rows[1]["in_adherence"] is None and rows[1]["out_of_adherence_since"] is None
    r = await client.get("/api/v1/agents?team=north", headers=auth("viewer"))
    assert [a["agent_id"] for a in r.json()] == ["a1", "a3"]
    assert (await client.get("/api/v1/agents?team=nobody", headers=auth("viewer"))).json() == []


async def test_agents_survive_bad_field_types(view: View, client: httpx.AsyncClient) -> None:
    view.apply(
        topics.AGENT_STATUS,
        b"zz",
        orjson.dumps(
            {
                "agent_id": "zz",
                "state": 5,
                "since_ms": "x",
                "queues": "nope",
                "in_adherence": "yes",
                "out_of_adherence_since_ms": -4,
            }
        ),
    )
    rows = (await client.get("/api/v1/agents", headers=auth("viewer"))).json()
    zz = next(a for a in rows if a["agent_id"] == "zz")
    assert zz["state"] is None and zz["since"] is None and zz["queues"] == [] and zz["in_adherence"] is None
    assert zz["out_of_adherence_since"] is None


async def test_adherence_of_a_date(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/adherence?date=2024-03-05", headers=auth("viewer"))
    assert r.status_code == 200
    rows = r.json()
    assert [x["agent_id"] for x in rows] == ["a1", "a2"]
    a2 = rows[1]
    assert a2["team"] == "south" and a2["scheduled_s"] == 3600.0 and a2["in_adherence_s"] == 3000.0
    assert a2["adherence"] == pytest.approx(5 / 6) and a2["conformance"] == pytest.approx(5 / 6)
    assert a2["exceptions"] == [
        {
            "kind": "unscheduled_aux",
            "start": "2024-03-05T10:07:30+08:00",
            "end": None,
            "scheduled": "work",
            "actual": "aux/break",
        }
    ]
    assert a2["updated_at"] == "2024-03-05T10:17:30+08:00"
    r = await client.get("/api/v1/adherence?date=2024-03-05&team=south", headers=auth("viewer"))
    assert [x["agent_id"] for x in r.json()] == ["a2"]
    r = await client.get("/api/v1/adherence?date=2024-03-05&agent_id=a1", headers=auth("viewer"))
    assert [x["agent_id"] for x in r.json()] == ["a1"]
    r = await client.get("/api/v1/adherence?date=2024-03-04", headers=auth("viewer"))
    assert [(x["agent_id"], x["team"]) for x in r.json()] == [("a1", "north")]  # team from the live status
    r = await client.get("/api/v1/adherence", headers=auth("viewer"))  # default: today
    assert len(r.json()) == 2
    assert (await client.get("/api/v1/adherence?date=2024-13-01", headers=auth("viewer"))).status_code == 422


async def test_adherence_tombstone_and_replacement(view: View, client: httpx.AsyncClient) -> None:
    view.apply(topics.ADHERENCE, b"a1|2024-03-05", None)
    rows = (await client.get("/api/v1/adherence?date=2024-03-05", headers=auth("viewer"))).json()
    assert [x["agent_id"] for x in rows] == ["a2"]
    assert "a1|2024-03-05" not in view.adherence and "a1|2024-03-05" not in view.adherence_days["2024-03-05"]


async def test_alerts_newest_first_and_state_filter(client: httpx.AsyncClient) -> None:
    rows = (await client.get("/api/v1/alerts", headers=auth("viewer"))).json()
    assert [a["id"] for a in rows] == [ALERT_NEW, ALERT_OLD, ALERT_DONE]
    assert rows[0] == {
        "id": ALERT_NEW,
        "kind": "queue_waiting",
        "subject": "support",
        "severity": "warning",
        "state": "firing",
        "started_at": "2024-03-05T10:16:30+08:00",
        "resolved_at": None,
        "acked_by": None,
        "acked_at": None,
        "details": {"value": 12},
    }
    firing = (await client.get("/api/v1/alerts?state=firing", headers=auth("viewer"))).json()
    assert [a["id"] for a in firing] == [ALERT_NEW, ALERT_OLD]
    resolved = (await client.get("/api/v1/alerts?state=resolved", headers=auth("viewer"))).json()
    assert [a["id"] for a in resolved] == [ALERT_DONE] and resolved[0]["resolved_at"] == "2024-03-05T09:27:30+08:00"
    assert (await client.get("/api/v1/alerts?state=bogus", headers=auth("viewer"))).status_code == 422
    assert len((await client.get("/api/v1/alerts?limit=1", headers=auth("viewer"))).json()) == 1


async def test_ack_produces_and_applies_at_once(client: httpx.AsyncClient, producer: FakeProducer, view: View) -> None:
    r = await client.post(f"/api/v1/alerts/{ALERT_OLD}/ack", headers=auth("supervisor"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["acked_by"] == "supervisor-token" and body["acked_at"] == "2024-03-05T10:17:30+08:00"
    assert body["state"] == "firing"  # acknowledging keeps it open
    assert producer.sent == [
        (topics.ALERT_ACKS, ALERT_OLD.encode(), orjson.dumps({"id": ALERT_OLD, "by": "supervisor-token", "at_ms": NOW}))
    ]
    listed = (await client.get("/api/v1/alerts?state=firing", headers=auth("viewer"))).json()
    assert next(a for a in listed if a["id"] == ALERT_OLD)["acked_by"] == "supervisor-token"
    # idempotent: a second ack (even by someone else) answers 200 with the first one, writes nothing
    again = await client.post(f"/api/v1/alerts/{ALERT_OLD}/ack", headers=auth("admin"))
    assert again.status_code == 200 and again.json() == body
    assert len(producer.sent) == 1


async def test_ack_errors(client: httpx.AsyncClient, producer: FakeProducer) -> None:
    assert (await client.post("/api/v1/alerts/nope/ack", headers=auth("supervisor"))).status_code == 404
    r = await client.post(f"/api/v1/alerts/{ALERT_DONE}/ack", headers=auth("supervisor"))
    assert r.status_code == 409
    assert (await client.post(f"/api/v1/alerts/{ALERT_NEW}/ack", headers=auth("viewer"))).status_code == 403
    assert (await client.post(f"/api/v1/alerts/{ALERT_NEW}/ack")).status_code == 401
    assert (await client.post("/api/v1/alerts/" + "x" * 600 + "/ack", headers=auth("supervisor"))).status_code == 422
    assert producer.sent == []


async def test_ack_503_when_kafka_is_down(view: View) -> None:
    app = create_app(make_settings(), view=view, producer=FakeProducer(fail=True), clock=lambda: NOW)
    async with asgi_client(app) as c:
        r = await c.post(f"/api/v1/alerts/{ALERT_NEW}/ack", headers=auth("supervisor"))
    assert r.status_code == 503 and r.headers["retry-after"] == "1"
    assert view.alert_acks == {}


def test_first_ack_wins_in_any_order() -> None:
    later = orjson.dumps({"id": "x", "by": "bob", "at_ms": 2000})
    first = orjson.dumps({"id": "x", "by": "amy", "at_ms": 1000})
    for order in ((later, first), (first, later)):
        v = View()
        for value in order:
            assert v.apply(topics.ALERT_ACKS, b"x", value)
        assert v.alert_acks["x"] == {"id": "x", "by": "amy", "at_ms": 1000}
    v = View()
    assert v.apply(topics.ALERT_ACKS, b"x", b'{"id": "x", "by": "", "at_ms": 1}') is False
    assert v.apply(topics.ALERT_ACKS, b"x", b'{"id": "x", "by": "a", "at_ms": "soon"}') is False
    v.apply(topics.ALERT_ACKS, b"x", first)
    v.apply(topics.ALERT_ACKS, b"x", None)
    assert v.alert_acks == {}


async def test_alert_record_ack_merged_with_ack_topic(view: View, client: httpx.AsyncClient) -> None:
    view.apply(topics.ALERTS, ALERT_NEW.encode(), alert(ALERT_NEW, acked_by="worker-saw", acked_at_ms=NOW - 5_000))
    view.apply(
        topics.ALERT_ACKS, ALERT_NEW.encode(), orjson.dumps({"id": ALERT_NEW, "by": "late", "at_ms": NOW - 1_000})
    )
    row = next(a for a in (await client.get("/api/v1/alerts", headers=auth("viewer"))).json() if a["id"] == ALERT_NEW)
    assert (row["acked_by"], row["acked_at"]) == ("worker-saw", "2024-03-05T10:17:25+08:00")


@pytest.mark.parametrize("role", list(SECRETS))
async def test_me(client: httpx.AsyncClient, role: str) -> None:
    r = await client.get("/api/v1/me", headers=auth(role))
    if role == "ingest":
        assert r.status_code == 403
    else:
        assert r.status_code == 200 and r.json()["name"] == f"{role}-token" and role in r.json()["roles"]


# every role on every endpoint of this module: allowed -> 2xx/4xx-not-auth, else 403; no token -> 401
ENDPOINTS = {
    ("GET", "/api/v1/agents"): {"viewer", "supervisor", "admin"},
    ("GET", "/api/v1/adherence?date=2024-03-05"): {"viewer", "supervisor", "admin"},
    ("GET", "/api/v1/alerts"): {"viewer", "supervisor", "admin"},
    ("GET", "/api/v1/me"): {"viewer", "supervisor", "admin"},
    ("POST", f"/api/v1/alerts/{ALERT_NEW}/ack"): {"supervisor", "admin"},
}


@pytest.mark.parametrize(("method", "url"), list(ENDPOINTS))
@pytest.mark.parametrize("role", [*SECRETS, None, "bad"])
async def test_roles(client: httpx.AsyncClient, method: str, url: str, role: str | None) -> None:
    headers = {} if role is None else {"Authorization": "Bearer wrong"} if role == "bad" else auth(role)
    r = await client.request(method, url, headers=headers)
    if role in (None, "bad"):
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    elif role in ENDPOINTS[(method, url)]:
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 403


async def test_security_headers_on_api_and_page(client: httpx.AsyncClient) -> None:
    for path in ("/", "/api/v1/agents", "/healthz", "/static/app.js"):
        r = await client.get(path)
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "connect-src 'self' ws://test wss://test" in csp
        assert "frame-ancestors 'none'" in csp
    page = await client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "/static/app.js" in page.text and "<script>" not in page.text  # no inline script (CSP)


async def test_oversized_and_malformed_query(client: httpx.AsyncClient) -> None:
    h = auth("viewer")
    assert (await client.get("/api/v1/agents?team=" + "t" * 300, headers=h)).status_code == 422
    assert (await client.get("/api/v1/agents?team=", headers=h)).status_code == 422
    assert (await client.get("/api/v1/alerts?limit=0", headers=h)).status_code == 422
    assert (await client.get("/api/v1/alerts?limit=abc", headers=h)).status_code == 422
    assert (await client.get("/api/v1/adherence?date=yesterday", headers=h)).status_code == 422
