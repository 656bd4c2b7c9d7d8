"""Response hardening: no-store on JSON and /metrics, the Host allow-list (HTTP and websocket),
and /docs (off by default; when on, Swagger UI from this server's own files under the CSP)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from floorwatch.api.main import create_app
from floorwatch.api.security import is_json
from floorwatch.readmodel.view import View
from tests.unit.api.asgi import NullProducer, asgi_client
from tests.unit.settings_factory import floor_settings, token

VIEWER = "viewer-secret"
BEARER = {"Authorization": f"Bearer {VIEWER}"}

pytestmark = pytest.mark.usefixtures("isolated_config")


def make_app(**api: Any):  # type: ignore[no-untyped-def]
    settings = floor_settings(
        timezone="UTC", queues=[{"id": "support"}], api=api, tokens=[token("wall", VIEWER, "viewer")]
    )
    return create_app(settings, view=View(), producer=NullProducer(), clock=lambda: 1_709_604_000_000)


async def get(app: Any, path: str, host: str = "test", **kw: Any) -> httpx.Response:
    async with asgi_client(app, host) as c:
        return await c.get(path, **kw)


# --- Cache-Control ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        ("/api/v1/queues", BEARER, 200),
        ("/api/v1/queues", {}, 401),  # an error answer is JSON too
        ("/api/v1/nope", {}, 404),
        ("/healthz", {}, 200),
        ("/openapi.json", {}, 200),
        ("/metrics", {}, 200),  # text exposition, not JSON: by path
    ],
)
async def test_api_answers_are_never_stored(path: str, headers: dict[str, str], status: int) -> None:
    r = await get(make_app(), path, headers=headers)
    assert r.status_code == status, r.text
    assert r.headers.get_list("cache-control") == ["no-store"]


async def test_page_and_static_files_keep_their_caching() -> None:
    app = make_app()
    assert (await get(app, "/")).headers["cache-control"] == "no-cache"
    static = await get(app, "/static/app.js")
    assert static.status_code == 200 and "cache-control" not in static.headers
    assert "etag" in static.headers and "last-modified" in static.headers


def test_json_media_types() -> None:
    assert is_json(b"application/json")
    assert is_json(b"Application/Problem+JSON; charset=utf-8")
    assert not is_json(b"text/html; charset=utf-8")
    assert not is_json(b"text/plain; version=0.0.4; charset=utf-8")
    assert not is_json(b"")


# --- Host allow-list ----------------------------------------------------------------------------


async def test_any_host_is_served_when_the_list_is_empty() -> None:
    r = await get(make_app(), "/api/v1/queues", host="whatever.invalid", headers=BEARER)
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("floor.example.com", 200),
        ("floor.example.com:8443", 200),  # the port is not part of the name
        ("FLOOR.example.com", 200),
        ("tv.walls.example.com", 200),  # *.walls.example.com
        ("walls.example.com", 400),  # the wildcard covers subdomains only
        ("rebound.attacker.test", 400),
        ("127.0.0.1:8000", 400),
    ],
)
async def test_http_host_outside_the_list_is_400(host: str, status: int) -> None:
    app = make_app(allowed_hosts=["floor.example.com", "*.walls.example.com"])
    r = await get(app, "/api/v1/queues", host=host, headers=BEARER)
    assert r.status_code == status, r.text
    if status == 400:
        assert r.text == "Invalid host header"
        assert r.headers["x-frame-options"] == "DENY"  # refused answers get the security headers
        assert "json" not in r.headers["content-type"]


async def test_probes_skip_the_host_check() -> None:
    app = make_app(allowed_hosts=["floor.example.com"])
    assert (await get(app, "/healthz", host="10.1.2.3:8000")).status_code == 200
    assert (await get(app, "/readyz", host="10.1.2.3:8000")).status_code == 200
    assert (await get(app, "/metrics", host="10.1.2.3:8000")).status_code == 400


def test_websocket_host_outside_the_list_is_refused_before_the_upgrade() -> None:
    app = make_app(allowed_hosts=["floor.example.com"])
    with TestClient(app) as client:  # the Host header is the one of the ws:// URL
        for host in ("rebound.attacker.test", "testserver"):
            with (
                pytest.raises(WebSocketDenialResponse) as denied,
                client.websocket_connect(f"ws://{host}/ws?token={VIEWER}"),
            ):
                pass
            assert denied.value.status_code == 400
        with client.websocket_connect(f"ws://floor.example.com/ws?token={VIEWER}") as ws:
            assert ws.receive_json()["type"] == "snapshot"
        # the allowed host still needs a valid token: the check adds to auth, never replaces it
        with (
            pytest.raises(WebSocketDisconnect) as closed,
            client.websocket_connect("ws://floor.example.com/ws?token=wrong") as ws,
        ):
            ws.receive_json()
        assert closed.value.code == 4401


# --- /docs --------------------------------------------------------------------------------------


async def test_docs_are_off_by_default_and_openapi_stays() -> None:
    app = make_app()
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect", "/docs/init.js", "/docs/assets/swagger-ui.css"):
        assert (await get(app, path)).status_code == 404, path
    r = await get(app, "/openapi.json")
    assert r.status_code == 200 and r.json()["info"]["title"] == "Floorwatch API"
    assert "content-security-policy" in r.headers


async def test_enabled_docs_load_only_files_of_this_server_under_the_csp() -> None:
    app = make_app(docs_enabled=True)
    page = await get(app, "/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "style-src 'self';" in csp  # no exemption, no CDN
    assert not re.search(r"<script>|<style>|\son\w+=", page.text)  # nothing inline for the CSP to block
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    for u in urls:
        r = await get(app, u)
        assert r.status_code == 200 and r.content, u
    init = await get(app, "/docs/init.js")
    assert '"/openapi.json"' in init.text and init.headers["content-type"].startswith("text/javascript")
    assert (await get(app, "/redoc")).status_code == 404  # Redoc injects inline styles: not served


@pytest.mark.parametrize(
    "pattern",
    ["", "floor.example.com:8000", "foo*.example.com", "*example.com", "https://floor.example.com", "a.*.example.com"],
)
def test_a_host_pattern_that_cannot_match_is_refused_at_start(pattern: str) -> None:
    with pytest.raises(ValueError, match="api.allowed_hosts"):
        make_app(allowed_hosts=["floor.example.com", pattern])


async def test_valid_host_patterns_build_the_app_and_an_ipv6_literal_matches() -> None:
    make_app(allowed_hosts=["floor.example.com", "*.walls.example.com", "127.0.0.1", "*"])
    app = make_app(allowed_hosts=["[::1]"])
    assert (await get(app, "/api/v1/queues", host="[::1]:8000", headers=BEARER)).status_code == 200
    assert (await get(app, "/api/v1/queues", host="[::2]:8000", headers=BEARER)).status_code == 400
