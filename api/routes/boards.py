"""The wallboard's configuration: ``GET /api/v1/boards`` (the named boards of the settings) and
``GET /api/v1/definitions`` (what each figure means, from ``floorwatch.definitions``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from floorwatch import definitions
from floorwatch.api.deps import SettingsDep, Viewer

router = APIRouter(prefix="/api/v1", tags=["wallboard"])


@router.get("/boards", response_model=list[dict[str, Any]])
async def list_boards(_: Viewer, settings: SettingsDep) -> list[dict[str, Any]]:
    """Every configured board (``boards:``), in config order: ``{id, name, queues, teams,
    tiles, columns}``; empty lists mean "all", ``columns`` null "as many as fit"."""
    return [board.model_dump(mode="json") for board in settings.boards]


@router.get("/definitions")
async def list_definitions(_: Viewer) -> dict[str, dict[str, str]]:
    """``{"<figure key>": {"label", "text"}}``: the sentence the wallboard shows for a figure."""
    return definitions.as_json()
