"""GET /api/v1/boards and /api/v1/definitions, and the ``boards:`` settings they come from."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from floorwatch.api.main import create_app
from floorwatch.config import ConfigError, load_settings
from floorwatch.definitions import DEFINITIONS
from floorwatch.readmodel.view import View
from tests.unit.api.asgi import NullProducer
from tests.unit.settings_factory import floor_settings, token

ROOT = Path(__file__).resolve().parents[3]
METRICS_MD = ROOT / "docs" / "metrics.md"
SECRETS = {"viewer": "v-secret", "ingest": "i-secret"}

pytestmark = pytest.mark.usefixtures("isolated_config")

BOARDS: list[dict[str, Any]] = [
    {"id": "sales-floor", "name": "Sales floor", "queues": ["sales", "sales_vip"], "tiles": ["queues", "chart"]},
    {"id": "North_2", "teams": ["north"], "columns": 4},
]


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {SECRETS[role]}"}


@pytest.fixture
def app():  # type: ignore[no-untyped-def]
    settings = floor_settings(boards=BOARDS, tokens=[token(f"{r}-token", s, r) for r, s in SECRETS.items()])
    return create_app(settings, view=View(), producer=NullProducer(), clock=lambda: 0)


async def test_boards_as_configured_with_their_defaults(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/boards", headers=auth("viewer"))
    assert r.status_code == 200
    assert r.json() == [
        {
            "id": "sales-floor",
            "name": "Sales floor",
            "queues": ["sales", "sales_vip"],
            "teams": [],
            "tiles": ["queues", "chart"],
            "columns": None,
        },
        {"id": "North_2", "name": "", "queues": [], "teams": ["north"], "tiles": [], "columns": 4},
    ]


async def test_no_boards_is_an_empty_list() -> None:
    app = create_app(floor_settings(tokens=[token("v", "v-secret", "viewer")]), view=View(), producer=NullProducer())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as c:
        r = await c.get("/api/v1/boards", headers=auth("viewer"))
    assert (r.status_code, r.json()) == (200, [])


@pytest.mark.parametrize("path", ["/api/v1/boards", "/api/v1/definitions"])
async def test_viewer_role_needed(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 401
    assert (await client.get(path, headers={"Authorization": "Bearer wrong"})).status_code == 401
    assert (await client.get(path, headers=auth("ingest"))).status_code == 403


async def test_definitions_answer(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/definitions", headers=auth("viewer"))
    assert r.status_code == 200
    body = r.json()
    assert list(body) == list(DEFINITIONS)
    assert body["service_level"]["label"] == "Service level"
    assert body["aht"]["text"] == DEFINITIONS["aht"].text
    assert all(set(d) == {"label", "text"} and d["label"] and d["text"] for d in body.values())


def test_every_definition_is_stated_once_in_metrics_md() -> None:
    text = METRICS_MD.read_text(encoding="utf-8")
    missing = [key for key, d in DEFINITIONS.items() if d.text not in text]
    assert missing == []
    # once each, as the list entry of its key
    for key, d in DEFINITIONS.items():
        assert text.count(d.text) == 1, key
        assert f"- **{d.label}** (`{key}`): {d.text}\n" in text, key


def test_the_wallboard_figures_have_a_definition() -> None:
    """The keys app.js names for its figures (DEF_OF and the default: the data-field) exist."""
    js = (ROOT / "api" / "static" / "app.js").read_text(encoding="utf-8")
    block = js[js.index("const DEF_OF = {") : js.index("};", js.index("const DEF_OF = {"))]
    named = set(re.findall(r':\s*"([a-z0-9_]+)"', block))
    assert named and named <= set(DEFINITIONS)


@pytest.mark.parametrize(
    ("boards", "message"),
    [
        ([{"id": "a"}, {"id": "a"}], "duplicate board id 'a'"),
        ([{"id": "a b"}], "boards.0.id"),
        ([{"id": "x" * 65}], "boards.0.id"),
        ([{"id": ""}], "boards.0.id"),
        ([{"id": "a", "tiles": ["queues", "wallpaper"]}], "boards.0.tiles.1"),
        ([{"id": "a", "tiles": ["chart", "chart"]}], "tiles lists a value twice"),
        ([{"id": "a", "queues": ["q", "q"]}], "queues lists a value twice"),
        ([{"id": "a", "queues": [""]}], "boards.0.queues.0"),
        ([{"id": "a", "columns": 0}], "boards.0.columns"),
        ([{"id": "a", "columns": 13}], "boards.0.columns"),
        ([{"id": "a", "queues": [f"q{i}" for i in range(51)]}], "boards.0.queues"),
        ([{"id": f"b{i}"} for i in range(101)], "'boards'"),
        ([{"id": "a", "colour": "red"}], "boards.0.colour"),
    ],
)
def test_invalid_boards_are_refused(boards: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(boards=boards)


def test_board_bounds_accepted() -> None:
    boards = [{"id": f"b{i}", "columns": 1 + i % 12} for i in range(100)]
    boards[0] = {"id": "A-z_0" + "x" * 59, "tiles": ["alerts", "strip", "queues", "chart", "forecast", "agents"]}
    settings = load_settings(boards=boards)
    assert len(settings.boards) == 100 and len(settings.boards[0].id) == 64
    assert [b.columns for b in settings.boards[1:13]] == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 1]
