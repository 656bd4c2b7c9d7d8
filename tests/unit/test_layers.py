"""Layers in one direction: domain (pure) <- read model <- streams / api <- services and CLI.

Read from the source with ``ast`` (every import statement, at any depth)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported(folder: str) -> dict[str, set[str]]:
    """Per source file under ``folder``: the top-level and two-level names it imports."""
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
                names.add(parts[0])
                names.add(".".join(parts[:2]))
        out[str(path.relative_to(ROOT))] = names
    return out


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("floorwatch/domain", {"api", "streams", "services", "faust", "fastapi", "aiokafka", "floorwatch.readmodel"}),
        ("floorwatch/readmodel", {"api", "streams", "services", "faust", "fastapi"}),
        ("streams", {"api", "services"}),
        ("api", {"streams", "faust"}),
    ],
)
def test_no_import_against_the_layers(folder: str, forbidden: set[str]) -> None:
    wrong = {path: sorted(names & forbidden) for path, names in imported(folder).items() if names & forbidden}
    assert wrong == {}
