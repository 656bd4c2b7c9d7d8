"""The wallboard page: ``GET /`` and its files under ``/static/``, static and public: no token is
needed to load them, and a ``?token=`` on the page URL is ignored by the server. The page's
script reads that token from its own URL and sends it as ``Authorization: Bearer`` on its REST
calls (the REST API refuses ``?token=``) and as ``?token=`` on the websocket, which browsers
cannot give headers. ``Referrer-Policy: no-referrer`` keeps the URL out of other requests."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
router = APIRouter(include_in_schema=False)


@router.get("/")
async def wallboard() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})
