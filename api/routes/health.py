"""Liveness and readiness (no token)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, bool]:
    """200 while the process serves."""
    return {"ok": True}


@router.get("/readyz", responses={503: {"description": "not connected or not caught up"}})
async def readyz(request: Request) -> JSONResponse:
    """200 once the view has read the output topics up to the fetch high watermarks, else 503."""
    status: dict[str, Any] = request.app.state.readiness()
    return JSONResponse(status, status_code=200 if status.get("ready") else 503)
