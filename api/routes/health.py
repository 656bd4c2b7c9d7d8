"""Liveness and readiness (no token).

``/readyz`` is 200 only when the view has caught up with the output topics AND the workers are
live and settled: the newest worker heartbeat (``fw.worker-status``) is at most
``api.worker_stale_after_s`` old, no worker with a fresh heartbeat is rebalancing or recovering
its tables, and every partition of every consumed topic is owned by a worker with a fresh
heartbeat. Otherwise 503, and ``reasons`` says why (docs/api.md).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from floorwatch import topics
from floorwatch.config import Settings
from floorwatch.readmodel.view import View

router = APIRouter(tags=["health"])

MAX_UNOWNED_LISTED = 32  # partitions listed per topic in the readiness JSON (the count is exact)


def worker_readiness(view: View, settings: Settings, now_ms: int) -> dict[str, Any]:
    """``{"ready": bool, "reasons": [...], "age_s": float | None, "reporting": int, "settling": [...],
    "unowned": {topic: [partition, ...]}}``: whether the workers are live and settled at ``now_ms``."""
    stale_s = settings.api.worker_stale_after_s
    expected = dict.fromkeys(topics.CONSUMED, settings.kafka.partitions)
    fresh = view.worker_freshness(now_ms, round(stale_s * 1000), expected)
    reasons: list[str] = []
    if fresh.age_ms is None:
        reasons.append("no worker heartbeat read yet")
    elif fresh.age_ms > stale_s * 1000:
        reasons.append(
            f"newest worker heartbeat is {fresh.age_ms / 1000:.1f} s old (api.worker_stale_after_s: {stale_s:g})"
        )
    if fresh.settling:
        reasons.append("worker rebalancing or recovering: " + ", ".join(fresh.settling[:8]))
    if fresh.unowned and fresh.reporting:
        n = sum(len(ps) for ps in fresh.unowned.values())
        reasons.append(f"{n} partitions of the consumed topics are owned by no reporting worker")
    return {
        "ready": not reasons,
        "reasons": reasons,
        "age_s": None if fresh.age_ms is None else fresh.age_ms / 1000,
        "reporting": fresh.reporting,
        "settling": list(fresh.settling[:8]),
        "unowned": {t: ps[:MAX_UNOWNED_LISTED] for t, ps in fresh.unowned.items()},
    }


def combined_readiness(view_status: dict[str, Any], view: View, settings: Settings, now_ms: int) -> dict[str, Any]:
    """The loader's status (``ready``, ``lag``, ``state``, ...) with the workers' added under
    ``workers``; ``ready`` only when both are, ``reasons`` lists every cause of a 503."""
    workers = worker_readiness(view, settings, now_ms)
    reasons = [] if view_status.get("ready") else ["view not caught up with the output topics"]
    reasons += workers["reasons"]
    return {**view_status, "ready": not reasons, "reasons": reasons, "workers": workers}


@router.get("/healthz")
async def healthz() -> dict[str, bool]:
    """200 while the process serves."""
    return {"ok": True}


@router.get("/readyz", responses={503: {"description": "view not caught up, or no live settled worker"}})
async def readyz(request: Request) -> JSONResponse:
    """200 once the view has read the output topics up to the fetch high watermarks and a worker
    heartbeat is fresh with every consumed partition owned and no rebalance going on, else 503
    with ``reasons``."""
    status: dict[str, Any] = request.app.state.readiness()
    return JSONResponse(status, status_code=200 if status.get("ready") else 503)
