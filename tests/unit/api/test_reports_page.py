"""``GET /reports``: the reports page is static and public like the wallboard, loads only files of
this server (no CDN) and nothing inline, so it runs under the API's CSP."""

from __future__ import annotations

import re

import pytest

from floorwatch.api.main import create_app
from floorwatch.readmodel.view import View
from tests.unit.api.asgi import NullProducer, asgi_client
from tests.unit.settings_factory import floor_settings, token

pytestmark = pytest.mark.usefixtures("isolated_config")


async def test_reports_page_is_static_and_needs_nothing_inline() -> None:
    settings = floor_settings(timezone="UTC", queues=[{"id": "support"}], tokens=[token("wall", "v-secret", "viewer")])
    app = create_app(settings, view=View(), producer=NullProducer(), clock=lambda: 1_709_604_000_000)
    async with asgi_client(app, "test") as c:
        page = await c.get("/reports?token=v-secret")  # the server ignores the token: the script reads it
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["cache-control"] == "no-cache"
        csp = page.headers["content-security-policy"]
        assert "script-src 'self';" in csp and "style-src 'self';" in csp
        assert "<title>Floorwatch reports</title>" in page.text
        assert not re.search(r"<script>|<style>|\sstyle=|\son\w+=", page.text)
        urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sorted(urls) == ["/", "/static/favicon.svg", "/static/reports.css", "/static/reports.js"]
        for u in urls:
            r = await c.get(u)
            assert r.status_code == 200 and r.content, u
        assert (await c.get("/reports")).status_code == 200  # no token needed for the page itself
