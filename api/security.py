"""Security headers on every HTTP response (page and API), as a plain ASGI middleware.

The wallboard carries its token in the URL, so ``Referrer-Policy: no-referrer`` keeps it out of
any request the page makes; the page loads nothing but its own files (no CDN, no inline script
or style), so the CSP allows ``'self'`` only, plus the websocket of the same host.
"""

from __future__ import annotations

import re
from typing import Any

_SAFE_HOST = re.compile(r"^[A-Za-z0-9.\-:\[\]]{1,255}$")
# FastAPI's interactive docs load their script from a CDN; they get every header but the CSP.
NO_CSP_PATHS = ("/docs", "/redoc", "/docs/oauth2-redirect")

BASE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


def content_security_policy(host: str | None) -> str:
    """``default-src 'self'``; ``connect-src`` names the same host's ws/wss explicitly for
    browsers whose ``'self'`` does not cover websockets."""
    connect = "'self'"
    if host and _SAFE_HOST.match(host):
        connect += f" ws://{host} wss://{host}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    )


class SecurityHeaders:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), None)
        extra = list(BASE_HEADERS)
        if scope.get("path") not in NO_CSP_PATHS:
            extra.append((b"content-security-policy", content_security_policy(host).encode("latin-1")))

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                message = {**message, "headers": [*message.get("headers", []),
                                                  *((k, v) for k, v in extra if k not in present)]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
