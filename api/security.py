"""Security headers on every HTTP response (page and API), and the optional Host allow-list,
as plain ASGI middlewares.

The wallboard carries its token in the URL, so ``Referrer-Policy: no-referrer`` keeps it out of
any request the page makes; the page (and ``/docs`` when enabled) loads nothing but files of
this server (no CDN, no inline script or style), so the CSP allows ``'self'`` only, plus the
websocket of the same host. JSON answers and ``/metrics`` get ``Cache-Control: no-store``: they
hold live, token-protected data that no browser or proxy cache should keep; the page and its
static files keep their own caching headers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from starlette.middleware.trustedhost import TrustedHostMiddleware

_SAFE_HOST = re.compile(r"^[A-Za-z0-9.\-:\[\]]{1,255}$")
# answers never stored by a cache: JSON bodies (media type */json or *+json) and these paths
NO_STORE_PATHS = ("/metrics",)
# probes of an orchestrator address the pod by IP; they reveal only up/ready, so no Host check
HOST_CHECK_EXEMPT_PATHS = ("/healthz", "/readyz")

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
        extra.append((b"content-security-policy", content_security_policy(host).encode("latin-1")))
        no_store_path = scope.get("path") in NO_STORE_PATHS

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                ctype = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if no_store_path or is_json(ctype):
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": [*headers, *((k, v) for k, v in extra if k not in present)]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def is_json(content_type: bytes) -> bool:
    """``application/json``, ``application/problem+json`` ... (parameters ignored)."""
    media = content_type.split(b";", 1)[0].strip().lower()
    return media.endswith((b"/json", b"+json"))


def check_host_patterns(patterns: Sequence[str]) -> None:
    """Raise ``ValueError`` for an entry that could never match as meant (Starlette only asserts,
    and only at the first request)."""
    for pattern in patterns:
        wildcard_ok = pattern == "*" or (pattern.startswith("*.") and "*" not in pattern[1:])
        ipv6_literal = pattern.startswith("[") and pattern.endswith("]")
        if (
            not pattern
            or ("*" in pattern and not wildcard_ok)
            or "/" in pattern
            or (":" in pattern and not ipv6_literal)
        ):
            raise ValueError(f"api.allowed_hosts: {pattern!r} is not a host name without port, '*.example.com' or '*'")


class AllowedHosts:
    """Answer only requests (HTTP and websocket) whose ``Host`` is one of ``allowed_hosts``
    (names without port; ``*.example.com`` covers subdomains): a browser tricked by DNS
    rebinding into calling this server under another name gets 400, and so does a websocket,
    before its upgrade (an ASGI websocket denial response, which uvicorn sends as HTTP 400).
    The check is Starlette's ``TrustedHostMiddleware``; the probe paths skip it."""

    def __init__(self, app: Any, allowed_hosts: Sequence[str]) -> None:
        self.app = app
        self.checked = TrustedHostMiddleware(app, allowed_hosts=list(allowed_hosts), www_redirect=False)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("path") not in HOST_CHECK_EXEMPT_PATHS:
            await self.checked(scope, receive, send)
        else:
            await self.app(scope, receive, send)
