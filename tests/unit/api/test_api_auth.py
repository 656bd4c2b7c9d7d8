"""Auth on every endpoint: 401 without/with a bad token, 403 without the role; REST takes the bearer
header only (a ``?token=`` is refused with a 401 naming the header), the page needs no token."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from floorwatch.api.auth import TokenStore, effective_roles
from floorwatch.api.main import create_app
from floorwatch.config import Settings, TokenConfig
from floorwatch.readmodel.view import View
from tests.unit.api.asgi import asgi_client
from tests.unit.settings_factory import floor_settings, token

SECRETS = {
    "viewer": "viewer-secret",
    "supervisor": "supervisor-secret",
    "admin": "admin-secret",
    "ingest": "ingest-secret",
}

EVENT = b'{"event_id":"e1","type":"agent.state","ts":"2024-03-05T10:00:00+08:00","agent_id":"a1","state":"available"}'


class FakeProducer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.flushes = 0

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        self.sent.append((topic, key, value))

    async def flush(self) -> None:
        self.flushes += 1


def sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


pytestmark = pytest.mark.usefixtures("isolated_config")


def make_settings() -> Settings:
    return floor_settings(
        queues=[{"id": "support"}],
        tokens=[token(role, secret, role) for role, secret in SECRETS.items()]
        + [token("both", "both-secret", "viewer", "ingest")],
    )


@pytest.fixture
def app():  # type: ignore[no-untyped-def]
    return create_app(make_settings(), view=View(), producer=FakeProducer(), clock=lambda: 1_709_604_000_000)


# endpoint -> roles allowed
ENDPOINTS = {
    ("GET", "/api/v1/queues"): {"viewer", "supervisor", "admin"},
    ("GET", "/api/v1/intervals?queue=support&date=2024-03-05"): {"viewer", "supervisor", "admin"},
    ("POST", "/api/v1/events"): {"ingest", "admin"},
}


async def call(client: httpx.AsyncClient, method: str, url: str, **kw: object) -> httpx.Response:
    if method == "POST":
        return await client.post(url, content=EVENT, **kw)  # type: ignore[arg-type]
    return await client.get(url, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(("method", "url"), list(ENDPOINTS))
@pytest.mark.parametrize("role", list(SECRETS))
async def test_roles_on_every_endpoint(client: httpx.AsyncClient, method: str, url: str, role: str) -> None:
    r = await call(client, method, url, headers={"Authorization": f"Bearer {SECRETS[role]}"})
    if role in ENDPOINTS[(method, url)]:
        assert r.status_code in (200, 202), r.text
    else:
        assert r.status_code == 403, r.text
        assert "lacks role" in r.json()["detail"]
        assert "www-authenticate" not in r.headers


@pytest.mark.parametrize(("method", "url"), list(ENDPOINTS))
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic dmlld2VyOnNlY3JldA=="},
        {"Authorization": "Bearer"},
        {"Authorization": f"Bearer {sha(SECRETS['admin'])}"},  # the hash is not the secret
    ],
)
async def test_missing_or_invalid_token_is_401(
    client: httpx.AsyncClient, method: str, url: str, headers: dict[str, str]
) -> None:
    r = await call(client, method, url, headers=headers)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert isinstance(r.json()["detail"], str)


@pytest.mark.parametrize(("method", "url"), list(ENDPOINTS))
async def test_query_token_is_refused_on_rest_with_a_pointer_to_the_header(
    client: httpx.AsyncClient, method: str, url: str
) -> None:
    sep = "&" if "?" in url else "?"
    r = await call(client, method, f"{url}{sep}token={SECRETS['admin']}")  # a valid admin secret
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert r.json()["detail"] == "?token= is not accepted on the REST API: send 'Authorization: Bearer <token>'"


async def test_missing_token_detail_names_the_header_only(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/queues")
    assert (r.status_code, r.json()["detail"]) == (401, "missing token: send 'Authorization: Bearer <token>'")


async def test_header_decides_whatever_the_query_token(client: httpx.AsyncClient) -> None:
    r = await client.get(f"/api/v1/queues?token={SECRETS['viewer']}", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401
    r = await client.get("/api/v1/queues?token=nope", headers={"Authorization": f"Bearer {SECRETS['viewer']}"})
    assert r.status_code == 200


async def test_wallboard_page_opens_from_a_token_link_without_a_header(client: httpx.AsyncClient) -> None:
    # the page is static; its script reads ?token= from its own URL and sends the bearer header
    r = await client.get(f"/?token={SECRETS['viewer']}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert (await client.get("/")).status_code == 200
    assert (await client.get("/static/app.js")).status_code == 200


async def test_openapi_documents_the_bearer_scheme_only(client: httpx.AsyncClient) -> None:
    schemes = (await client.get("/openapi.json")).json()["components"]["securitySchemes"]
    assert schemes == {
        "HTTPBearer": {"type": "http", "description": "Authorization: Bearer <secret>", "scheme": "bearer"}
    }


async def test_token_with_two_roles(client: httpx.AsyncClient) -> None:
    h = {"Authorization": "Bearer both-secret"}
    assert (await client.get("/api/v1/queues", headers=h)).status_code == 200
    assert (await client.post("/api/v1/events", content=EVENT, headers=h)).status_code == 202


async def test_health_needs_no_token(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"ok": True})
    r = await client.get("/readyz")
    assert r.status_code == 200 and r.json()["ready"] is True


async def test_readyz_503_while_loader_not_caught_up() -> None:
    app = create_app(make_settings(), view=View(), producer=FakeProducer())
    app.state.readiness = lambda: {"ready": False, "lag": {"fw.queue-stats": 12}}
    async with asgi_client(app) as c:
        r = await c.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"ready": False, "lag": {"fw.queue-stats": 12}}


def test_role_hierarchy() -> None:
    assert effective_roles(["admin"]) == {"viewer", "supervisor", "admin", "ingest"}
    assert effective_roles(["supervisor"]) == {"viewer", "supervisor"}
    assert effective_roles(["viewer"]) == {"viewer"}
    assert effective_roles(["ingest"]) == {"ingest"}


def test_token_store_compares_hashes() -> None:
    store = TokenStore([TokenConfig(name="w", sha256=sha("s3cret"), roles=["viewer"])])
    found = store.authenticate("s3cret")
    assert found is not None and found.name == "w" and found.has("viewer") and not found.has("ingest")
    assert store.authenticate("s3cret ") is None
    assert store.authenticate("") is None
    assert store.authenticate(None) is None


async def test_unknown_path_and_method_are_json(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/nope")
    assert r.status_code == 404 and r.json() == {"detail": "Not Found"}
    r = await client.delete("/api/v1/queues", headers={"Authorization": f"Bearer {SECRETS['admin']}"})
    assert r.status_code == 405 and "detail" in r.json()
