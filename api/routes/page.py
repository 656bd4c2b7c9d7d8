"""The wallboard page ``GET /``, the reports page ``GET /reports`` and their files under
``/static/``, static and public: no token is needed to load them, and a ``?token=`` on the page
URL is ignored by the server. The pages' scripts read that token from their own URL and send it
as ``Authorization: Bearer`` on their REST calls (the REST API refuses ``?token=``) and as
``?token=`` on the websocket, which browsers cannot give headers. ``Referrer-Policy:
no-referrer`` keeps the URL out of other requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
router = APIRouter(include_in_schema=False)
docs_router = APIRouter(include_in_schema=False)
DOCS_ASSETS_PATH = "/docs/assets"

# Swagger UI from the fastapi-offline package's files, served by this server: no CDN, and no inline
# script (the start-up script is a file of its own), so the page runs under the strict CSP.
DOCS_HTML = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Floorwatch API</title>
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="{DOCS_ASSETS_PATH}/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="{DOCS_ASSETS_PATH}/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script></body></html>
"""
DOCS_INIT_JS = """window.ui = SwaggerUIBundle({
  url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true, layout: "BaseLayout",
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
});
"""


@router.get("/")
async def wallboard() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"}
    )


@router.get("/reports")
async def reports() -> FileResponse:
    """The reports page (docs/reports.md): static like the wallboard, the token in its URL."""
    return FileResponse(
        STATIC_DIR / "reports.html", media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"}
    )


@docs_router.get("/docs")
async def api_docs() -> HTMLResponse:
    return HTMLResponse(DOCS_HTML, headers={"Cache-Control": "no-cache"})


@docs_router.get("/docs/init.js")
async def api_docs_init() -> Response:
    return Response(DOCS_INIT_JS, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-cache"})


def install_docs(app: Any) -> None:
    """``GET /docs`` (Swagger UI) with its assets under ``/docs/assets/`` (``api.docs_enabled``)."""
    import fastapi_offline  # only its static Swagger UI files; its FastAPI factory is not used

    assets = Path(fastapi_offline.__file__).resolve().parent / "static"
    app.include_router(docs_router)
    app.mount(DOCS_ASSETS_PATH, StaticFiles(directory=assets), name="docs-assets")
