import os

import pytest


@pytest.fixture
def isolated_config(monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]) -> None:
    """No ``FLOORWATCH_*`` variables and an empty working directory (no floorwatch.yaml)."""
    for var in list(os.environ):
        if var.startswith("FLOORWATCH_"):
            monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)
