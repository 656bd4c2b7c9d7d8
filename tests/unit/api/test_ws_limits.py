"""Websocket limits: clients in all and per token, distinct filters; close code 1013, its reason,
and the refusal counters in /metrics. Limits of 2-3 clients, so every number is counted by hand."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from floorwatch.api.live import Filter, Hub, HubFull
from floorwatch.api.main import create_app
from floorwatch.api.routes.ws import CLOSE_TRY_AGAIN_LATER, MAX_REASON_BYTES, close_reason
from floorwatch.config import Settings
from floorwatch.readmodel.view import View
from tests.unit.api.asgi import NullProducer, asgi_client
from tests.unit.settings_factory import floor_settings, token

NOW = 1_709_605_050_000
SECRETS = {"wall-a": "a-secret", "wall-b": "b-secret"}

pytestmark = pytest.mark.usefixtures("isolated_config")


def make_settings(max_clients: int = 3, per_token: int = 2, max_filters: int = 2) -> Settings:
    return floor_settings(
        timezone="UTC",
        api={"ws_max_clients": max_clients, "ws_max_clients_per_token": per_token, "ws_max_filters": max_filters},
        tokens=[token(name, s, "viewer") for name, s in SECRETS.items()],
    )


def make_hub(**limits: int) -> Hub:
    return Hub(View(), make_settings(**limits), lambda: NOW)


def refused_by(hub_call) -> HubFull:  # type: ignore[no-untyped-def]
    with pytest.raises(HubFull) as exc:
        hub_call()
    return exc.value


# -- the hub ------------------------------------------------------------------------------


async def test_hub_limits_clients_per_token_and_in_all() -> None:
    hub = make_hub(max_clients=3, per_token=2, max_filters=10)
    a1, a2 = hub.subscribe(Filter(), "wall-a"), hub.subscribe(Filter(), "wall-a")
    full = refused_by(lambda: hub.subscribe(Filter(), "wall-a"))
    assert full.reason == "max_clients_per_token"
    assert str(full) == "wallboard server full: 2 clients of token 'wall-a' (api.ws_max_clients_per_token)"
    hub.subscribe(Filter(), "wall-b")  # the third client: another token
    full = refused_by(lambda: hub.subscribe(Filter(), "wall-b"))
    assert full.reason == "max_clients"
    assert str(full) == "wallboard server full: 3 clients (api.ws_max_clients)"
    assert hub.clients == 3 and hub.clients_by_token == {"wall-a": 2, "wall-b": 1}
    assert hub.refused == {"max_clients": 1, "max_clients_per_token": 1, "max_filters": 0}

    hub.unsubscribe(a1)
    hub.unsubscribe(a1)  # twice: counted once
    assert hub.clients == 2 and hub.clients_by_token == {"wall-a": 1, "wall-b": 1}
    hub.subscribe(Filter(), "wall-a")  # the freed place is taken again
    hub.unsubscribe(a2)
    assert hub.clients == 2 and hub.clients_by_token == {"wall-a": 1, "wall-b": 1}
    assert hub.refused == {"max_clients": 1, "max_clients_per_token": 1, "max_filters": 0}
    await hub.stop()


async def test_hub_limits_distinct_filters_in_use() -> None:
    hub = make_hub(max_clients=10, per_token=10, max_filters=2)
    everything = hub.subscribe(Filter(), "wall-a")
    north = [hub.subscribe(Filter(team="north"), "wall-a") for _ in range(2)]
    full = refused_by(lambda: hub.subscribe(Filter(team="south"), "wall-b"))
    assert full.reason == "max_filters"
    assert str(full) == "wallboard server full: 2 distinct filters in use (api.ws_max_filters)"
    hub.subscribe(Filter(), "wall-b")  # a filter already in use is no new filter
    assert set(hub.subscribers) == {Filter(), Filter(team="north")} and hub.clients == 4
    assert hub.refused == {"max_clients": 0, "max_clients_per_token": 0, "max_filters": 1}

    for sub in north:  # the last client of a filter leaves: the filter is dropped with its state
        hub.unsubscribe(sub)
    assert set(hub.subscribers) == set(hub.last) == set(hub.pushed) == {Filter()}
    hub.subscribe(Filter(team="south"), "wall-b")
    assert set(hub.subscribers) == {Filter(), Filter(team="south")}
    hub.unsubscribe(everything)
    assert hub.clients == 2  # the second client of Filter() is still there
    await hub.stop()


def test_close_reason_fits_a_close_frame() -> None:
    assert close_reason("short") == "short"
    cut = close_reason("é" * 100)  # 2 bytes each: 61 whole characters fit in 123 bytes
    assert MAX_REASON_BYTES == 123 and cut == "é" * 61
    assert close_reason("x" * 200) == "x" * 123


# -- the endpoint -------------------------------------------------------------------------


@pytest.fixture
def client():  # type: ignore[no-untyped-def]
    app = create_app(
        make_settings(max_clients=3, per_token=2, max_filters=2),
        view=View(),
        producer=NullProducer(),
        clock=lambda: NOW,
    )
    with TestClient(app) as c:
        yield c


def url(token: str, **params: str) -> str:
    return "/ws?" + "&".join([f"token={SECRETS[token]}", *(f"{k}={v}" for k, v in params.items())])


def refused(client: TestClient, path: str) -> WebSocketDisconnect:
    with client.websocket_connect(path) as ws, pytest.raises(WebSocketDisconnect) as exc:
        ws.receive_json()
    return exc.value


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = client.get("/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("floorwatch_ws_")
    }


def test_full_hub_closes_with_1013_naming_the_limit(client: TestClient) -> None:
    assert scrape(client) == {
        ("floorwatch_ws_clients", ()): 0,
        ("floorwatch_ws_filters", ()): 0,
        ("floorwatch_ws_refused_total", (("reason", "max_clients"),)): 0,
        ("floorwatch_ws_refused_total", (("reason", "max_clients_per_token"),)): 0,
        ("floorwatch_ws_refused_total", (("reason", "max_filters"),)): 0,
    }
    with client.websocket_connect(url("wall-a")) as a1, client.websocket_connect(url("wall-a")) as a2:
        for ws in (a1, a2):
            assert ws.receive_json()["type"] == "snapshot"
        exc = refused(client, url("wall-a"))
        assert exc.code == CLOSE_TRY_AGAIN_LATER == 1013
        assert exc.reason == "wallboard server full: 2 clients of token 'wall-a' (api.ws_max_clients_per_token)"
        with client.websocket_connect(url("wall-b", team="north")) as b1:
            assert b1.receive_json()["type"] == "snapshot"
            exc = refused(client, url("wall-b"))
            assert (exc.code, exc.reason) == (1013, "wallboard server full: 3 clients (api.ws_max_clients)")
            assert scrape(client) == {
                ("floorwatch_ws_clients", ()): 3,
                ("floorwatch_ws_filters", ()): 2,
                ("floorwatch_ws_refused_total", (("reason", "max_clients"),)): 1,
                ("floorwatch_ws_refused_total", (("reason", "max_clients_per_token"),)): 1,
                ("floorwatch_ws_refused_total", (("reason", "max_filters"),)): 0,
            }
    assert client.app.state.hub.clients == 0
    # everyone left: the places are free again
    with client.websocket_connect(url("wall-b")) as b1:
        assert b1.receive_json()["type"] == "snapshot"


def test_a_new_filter_beyond_the_limit_closes_with_1013(client: TestClient) -> None:
    with client.websocket_connect(url("wall-a")) as a, client.websocket_connect(url("wall-a", team="north")) as n:
        a.receive_json(), n.receive_json()
        exc = refused(client, url("wall-b", queue="support"))
        assert (exc.code, exc.reason) == (1013, "wallboard server full: 2 distinct filters in use (api.ws_max_filters)")
        with client.websocket_connect(url("wall-b", team="north")) as same:  # a filter in use: accepted
            assert same.receive_json()["type"] == "snapshot"
        assert client.app.state.hub.refused["max_filters"] == 1
    with client.websocket_connect(url("wall-b", queue="support")) as q:  # the filters were dropped
        assert q.receive_json()["type"] == "snapshot"


async def test_refusals_are_exported_before_any_websocket() -> None:
    app = create_app(make_settings(), view=View(), producer=NullProducer(), clock=lambda: NOW)
    app.state.hub.refused["max_filters"] = 4
    async with asgi_client(app) as c:
        text = (await c.get("/metrics")).text
    found = {
        (s.name, tuple(s.labels.values())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert found[("floorwatch_ws_refused_total", ("max_filters",))] == 4
    assert found[("floorwatch_ws_clients", ())] == 0
