"""GET /ws through starlette's TestClient: snapshot, deltas, filters, heartbeats, auth, origin."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect, WebSocketState

import floorwatch.api.live as api_live
from floorwatch import topics
from floorwatch.api.live import Filter
from floorwatch.api.main import create_app
from floorwatch.api.routes import ws as ws_route
from floorwatch.readmodel.view import View
from tests.unit.api.asgi import NullProducer
from tests.unit.settings_factory import floor_settings, token

NOW = 1_709_605_050_000  # 2024-03-05T10:17:30+08:00
SECRETS = {"viewer": "v-secret", "supervisor": "s-secret", "ingest": "i-secret"}


pytestmark = pytest.mark.usefixtures("isolated_config")


def agent(agent_id: str, state: str, team: str = "north", queues: tuple[str, ...] = ("support",)) -> bytes:
    return orjson.dumps(
        {
            "agent_id": agent_id,
            "name": agent_id.upper(),
            "team": team,
            "queues": list(queues),
            "state": state,
            "since_ms": NOW - 30_000,
            "updated_ms": NOW - 30_000,
        }
    )


@pytest.fixture
def view() -> View:
    v = View()
    v.apply(topics.AGENT_STATUS, b"a1", agent("a1", "available"))
    v.apply(topics.AGENT_STATUS, b"a2", agent("a2", "aux", "south", ("sales",)))
    v.apply(
        topics.ALERTS,
        b"al1",
        orjson.dumps(
            {
                "id": "al1",
                "kind": "adherence_break",
                "subject": "a2",
                "severity": "warning",
                "state": "firing",
                "started_at_ms": NOW - 200_000,
                "details": {},
            }
        ),
    )
    v.apply(
        topics.ALERTS,
        b"al0",
        orjson.dumps(
            {
                "id": "al0",
                "kind": "queue_waiting",
                "subject": "sales",
                "severity": "warning",
                "state": "resolved",
                "started_at_ms": NOW - 900_000,
                "resolved_at_ms": NOW - 800_000,
            }
        ),
    )
    return v


def make_app(view: View):  # type: ignore[no-untyped-def]
    settings = floor_settings(
        queues=[{"id": "support"}, {"id": "sales"}], tokens=[token(r, s, r) for r, s in SECRETS.items()]
    )
    return create_app(settings, view=view, producer=NullProducer(), clock=lambda: NOW)


@pytest.fixture
def client(view: View):  # type: ignore[no-untyped-def]
    with TestClient(make_app(view)) as c:
        yield c


def url(role: str = "viewer", **params: str) -> str:
    query = "&".join([f"token={SECRETS[role]}", *(f"{k}={v}" for k, v in params.items())])
    return f"/ws?{query}"


def test_snapshot_then_deltas(client: TestClient, view: View) -> None:
    with client.websocket_connect(url()) as ws:
        snap = ws.receive_json()
        assert snap["type"] == "snapshot" and snap["server_ts"] == NOW and snap["ready"] is True
        assert [q["queue"] for q in snap["queues"]] == ["support", "sales"]
        assert snap["queues"][0]["agents"]["available"] == 1 and "oldest_waiting" in snap["queues"][0]
        assert [a["agent_id"] for a in snap["agents"]] == ["a1", "a2"]
        assert snap["agents"][0]["since"] == "2024-03-05T10:17:00+08:00"
        assert [a["id"] for a in snap["alerts"]] == ["al1"]  # firing only

        client.portal.call(view.apply, topics.AGENT_STATUS, b"a1", agent("a1", "on_contact"))
        delta = ws.receive_json()
        assert delta["type"] == "delta"
        assert delta["agents"]["remove"] == [] and len(delta["agents"]["upsert"]) == 1
        assert delta["agents"]["upsert"][0]["state"] == "on_contact"
        assert [q["queue"] for q in delta["queues"]["upsert"]] == ["support"]  # staffing moved
        assert "alerts" not in delta

        # the alert resolves: it leaves the firing set
        client.portal.call(
            view.apply,
            topics.ALERTS,
            b"al1",
            orjson.dumps(
                {
                    "id": "al1",
                    "kind": "adherence_break",
                    "subject": "a2",
                    "state": "resolved",
                    "started_at_ms": NOW - 200_000,
                    "resolved_at_ms": NOW,
                }
            ),
        )
        delta = ws.receive_json()
        assert delta["alerts"] == {"upsert": [], "remove": ["al1"]}


def test_ack_reaches_the_socket(client: TestClient) -> None:
    with client.websocket_connect(url()) as ws:
        ws.receive_json()
        r = client.post("/api/v1/alerts/al1/ack", headers={"Authorization": f"Bearer {SECRETS['supervisor']}"})
        assert r.status_code == 200
        delta = ws.receive_json()
        assert delta["alerts"]["upsert"][0]["acked_by"] == "supervisor"


def test_filters(client: TestClient) -> None:
    with client.websocket_connect(url(team="south")) as ws:
        snap = ws.receive_json()
        assert [a["agent_id"] for a in snap["agents"]] == ["a2"] and [a["id"] for a in snap["alerts"]] == ["al1"]
    with client.websocket_connect(url(queue="support")) as ws:
        snap = ws.receive_json()
        assert [q["queue"] for q in snap["queues"]] == ["support"]
        assert [a["agent_id"] for a in snap["agents"]] == ["a1"] and snap["alerts"] == []


def test_heartbeat_when_idle(client: TestClient) -> None:
    client.app.state.hub.ping_s = 0.2
    with client.websocket_connect(url()) as ws:
        ws.receive_json()
        start = time.monotonic()
        ping = ws.receive_json()
        assert ping == {"type": "ping", "server_ts": NOW, "ready": True}
        assert time.monotonic() - start < 2


def test_clients_of_one_filter_share_one_serialised_delta(
    client: TestClient, view: View, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoded: list[dict] = []

    def counting_encode(frame: dict) -> str:
        encoded.append(frame)
        return api_live.encode.__wrapped__(frame)  # type: ignore[attr-defined]

    counting_encode.__wrapped__ = api_live.encode  # type: ignore[attr-defined]
    monkeypatch.setattr(api_live, "encode", counting_encode)
    with (
        client.websocket_connect(url()) as a,
        client.websocket_connect(url()) as b,
        client.websocket_connect(url()) as c,
    ):
        for ws in (a, b, c):
            assert ws.receive_json()["type"] == "snapshot"
        assert [f["type"] for f in encoded] == ["snapshot"] * 3
        client.portal.call(view.apply, topics.AGENT_STATUS, b"a1", agent("a1", "on_contact"))
        texts = [ws.receive_text() for ws in (a, b, c)]
        assert texts[0] == texts[1] == texts[2]
        assert orjson.loads(texts[0])["agents"]["upsert"][0]["state"] == "on_contact"
        assert [f["type"] for f in encoded] == ["snapshot"] * 3 + ["delta"]  # once for the three


def test_readiness_change_is_pushed(client: TestClient) -> None:
    with client.websocket_connect(url()) as ws:
        assert ws.receive_json()["ready"] is True
        client.app.state.readiness = lambda: {"ready": False}
        frame = ws.receive_json()
        assert frame["type"] == "delta" and frame["ready"] is False


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/ws", 4401),
        ("/ws?token=wrong", 4401),
        (f"/ws?token={SECRETS['ingest']}", 4403),
        (f"/ws?token={SECRETS['viewer']}&queue=", 4400),
        (f"/ws?token={SECRETS['viewer']}&team=" + "t" * 300, 4400),
    ],
)
def test_auth_and_filter_failures_close_with_4xxx(client: TestClient, path: str, code: int) -> None:
    with client.websocket_connect(path) as ws, pytest.raises(WebSocketDisconnect) as exc:
        ws.receive_json()
    assert exc.value.code == code


def test_bearer_header_for_non_browser_clients(client: TestClient) -> None:
    with client.websocket_connect("/ws", headers={"Authorization": f"Bearer {SECRETS['viewer']}"}) as ws:
        assert ws.receive_json()["type"] == "snapshot"


def test_cross_origin_refused_before_accept(client: TestClient) -> None:
    with (
        pytest.raises(WebSocketDisconnect) as exc,
        client.websocket_connect(url(), headers={"Origin": "http://evil.example"}) as ws,
    ):
        ws.receive_json()
    assert exc.value.code == 4403
    with client.websocket_connect(url(), headers={"Origin": "http://testserver"}) as ws:
        assert ws.receive_json()["type"] == "snapshot"


@pytest.mark.parametrize(
    ("origin", "host", "ok"),
    [
        (None, "h:1", True),
        ("http://h:1", "h:1", True),
        ("http://H:1", "h:1", True),
        ("http://h", "h:80", True),
        ("https://h", "h", True),
        ("http://h:2", "h:1", False),
        ("http://evil", "h", False),
        ("null", "h", False),
        ("http://h:1", None, False),
        ("http://[::1]:8000", "[::1]:8000", True),
    ],
)
def test_same_origin(origin: str | None, host: str | None, ok: bool) -> None:
    from floorwatch.api.routes.ws import same_origin

    assert same_origin(origin, host) is ok


class StuckSocket:
    """A websocket whose client stopped reading: every send after the first blocks forever
    (its TCP buffer is full), and so does the close frame."""

    def __init__(self, app) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.headers: dict[str, str] = {}
        self.query_params = {"token": SECRETS["viewer"]}
        self.client_state = WebSocketState.CONNECTING
        self.sent: list[str] = []
        self.close_tried = False

    async def accept(self) -> None:
        self.client_state = WebSocketState.CONNECTED

    async def send_text(self, text: str) -> None:
        self.sent.append(text)
        if len(self.sent) > 1:
            await asyncio.Event().wait()

    async def receive(self) -> dict:
        await asyncio.Event().wait()
        return {}

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.close_tried = True
        await asyncio.Event().wait()


async def test_blocked_send_closes_that_client_only(view: View, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ws_route, "SEND_TIMEOUT_S", 0.4)
    monkeypatch.setattr(ws_route, "WATCH_S", 0.05)
    monkeypatch.setattr(ws_route, "CLOSE_TIMEOUT_S", 0.1)
    app = make_app(view)
    hub = app.state.hub
    stuck = StuckSocket(app)
    started = time.monotonic()
    handler = asyncio.create_task(ws_route.live(stuck))
    other = hub.subscribe(Filter())  # another client that keeps up
    other.mailbox.take()
    for i in range(20):
        await asyncio.sleep(0.03)
        view.apply(topics.AGENT_STATUS, b"a1", agent("a1", "available" if i % 2 else "on_contact"))
        assert await asyncio.wait_for(other.mailbox.wait(), 1)  # never delayed by the stuck one
        assert other.mailbox.take()["agents"]["upsert"][0]["state"] == ("available" if i % 2 else "on_contact")
        stuck_sub = next((s for s in hub.subscribers[Filter()] if s is not other), None)
        if stuck_sub is not None:
            assert len(stuck_sub.mailbox) <= 1  # its changes fold into one pending slot
    await asyncio.wait_for(handler, 2)
    assert time.monotonic() - started >= 0.4
    assert len(stuck.sent) == 2 and orjson.loads(stuck.sent[0])["type"] == "snapshot"
    assert stuck.close_tried  # attempted, and given up after CLOSE_TIMEOUT_S
    assert hub.subscribers[Filter()] == {other}
    await hub.stop()
