"""What the Chromium tests share: the browser, the skip when it is missing, the page's static
files served as the API serves them (under its Content-Security-Policy), and a page that
records its errors.

A test module calls ``sync_api = require_browser()`` at import (the module is skipped without
Debian's chromium or the ``playwright`` package) and asks for the ``browser`` fixture of
tests/integration/conftest.py (one Chromium per module).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from floorwatch.api.security import content_security_policy

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "api" / "static"
ARTIFACTS = ROOT / "tests" / "artifacts"
CONTENT_TYPES = {"html": "text/html", "js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}


def require_browser() -> Any:
    """Playwright's sync API; skips the calling module when chromium or playwright is missing."""
    if not Path(CHROMIUM).exists():  # pragma: no cover - depends on the machine
        pytest.skip(
            f"{CHROMIUM} is absent (install the Debian 'chromium' package; .ci/system-deps.sh does)",
            allow_module_level=True,
        )
    return pytest.importorskip("playwright.sync_api", reason="the 'playwright' Python package is not installed")


@contextmanager
def launched() -> Iterator[Any]:
    """A headless Debian chromium, closed on exit."""
    sync_api = require_browser()
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )
        try:
            yield b
        finally:
            b.close()


def fulfill_static(route: Any, name: str, host: str, missing_404: bool = False) -> None:
    """Answer ``route`` with api/static/``name`` under the API's CSP for ``host`` (404 for a file
    that is not there when ``missing_404``)."""
    path = STATIC / name
    if missing_404 and not path.exists():
        route.fulfill(status=404, body="")
        return
    route.fulfill(
        status=200,
        body=path.read_bytes(),
        headers={
            "content-type": CONTENT_TYPES[name.rsplit(".", 1)[1]],
            "content-security-policy": content_security_policy(host),
        },
    )


def page_with_errors(browser: Any, errors: list[str], ignore_404: bool = True, **options: Any) -> Any:
    """A new page (1600 x 1000 unless ``options`` say otherwise) whose script errors and console
    errors (those naming a 404 too, unless ``ignore_404``) are appended to ``errors``."""
    page = browser.new_page(**{"viewport": {"width": 1600, "height": 1000}, **options})
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "console",
        lambda m: errors.append(m.text) if m.type == "error" and not (ignore_404 and "404" in m.text) else None,
    )
    return page
