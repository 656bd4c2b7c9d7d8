"""Layers in one direction: domain (pure) <- read model <- streams / api <- services and CLI.

Read from the source with ``ast`` (every import statement, at any depth)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported(folder: str) -> dict[str, set[str]]:
    """Per source file under ``folder``: every module it imports and each of its parents
    (``floorwatch.api.live`` gives ``floorwatch``, ``floorwatch.api``, ``floorwatch.api.live``)."""
    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                mods = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                mods = [node.module]
            else:
                continue
            for mod in mods:
                parts = mod.split(".")
                names.update(".".join(parts[: i + 1]) for i in range(len(parts)))
        out[str(path.relative_to(ROOT))] = names
    return out


API, STREAMS, SERVICES = "floorwatch.api", "floorwatch.streams", "floorwatch.services"


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("floorwatch/domain", {API, STREAMS, SERVICES, "faust", "fastapi", "aiokafka", "floorwatch.readmodel"}),
        ("floorwatch/readmodel", {API, STREAMS, SERVICES, "faust", "fastapi"}),
        ("streams", {API, SERVICES}),
        ("api", {STREAMS, "faust"}),
    ],
)
def test_no_import_against_the_layers(folder: str, forbidden: set[str]) -> None:
    wrong = {path: sorted(names & forbidden) for path, names in imported(folder).items() if names & forbidden}
    assert wrong == {}


@pytest.mark.parametrize("folder", ["floorwatch", "api", "streams", "services", "tests", "benchmarks", "dashboards"])
def test_one_import_package(folder: str) -> None:
    """api/, streams/ and services/ are installed as floorwatch.api, floorwatch.streams and
    floorwatch.services: nothing imports them under their folder's own name."""
    wrong = {
        path: sorted(names & {"api", "streams", "services"})
        for path, names in imported(folder).items()
        if names & {"api", "streams", "services"}
    }
    assert wrong == {}


def test_the_links_reach_the_folders() -> None:
    for name in ("api", "streams", "services"):
        link = ROOT / "floorwatch" / name
        assert link.is_symlink() and link.resolve() == (ROOT / name).resolve()
