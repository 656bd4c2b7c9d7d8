"""``GET /ws``: live snapshot + coalesced deltas (see ``api.live`` and docs/api.md).

Handshake order: a cross-origin ``Origin`` (one whose host:port is not the ``Host`` header) is
refused before the upgrade (HTTP 403). Otherwise the socket is accepted and then closed with
4401 (missing/invalid token), 4403 (token lacks ``viewer``) or 4400 (bad filter), so a browser,
which cannot read an HTTP status of a refused upgrade, can tell "stop retrying" from "retry".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from api.auth import TokenStore
from api.live import BadFilter, Hub, parse_filter, ping_frame

log = logging.getLogger(__name__)
router = APIRouter(tags=["live"])

CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
SEND_TIMEOUT_S = 30.0


def same_origin(origin: str | None, host: str | None) -> bool:
    """No ``Origin`` (non-browser client) is fine; otherwise its host[:port] must be ``Host``."""
    if origin is None:
        return True
    if not host:
        return False
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    default = {"http": "80", "https": "443"}[parts.scheme]
    def norm(netloc: str) -> str:
        netloc = netloc.lower()
        return netloc if netloc.rsplit("]", 1)[-1].count(":") else f"{netloc}:{default}"
    return norm(parts.netloc) == norm(host)


def _secret(websocket: WebSocket) -> str | None:
    header = websocket.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return websocket.query_params.get("token")


@router.websocket("/ws")
async def live(websocket: WebSocket) -> None:
    if not same_origin(websocket.headers.get("origin"), websocket.headers.get("host")):
        await websocket.close(code=CLOSE_FORBIDDEN)  # before accept: HTTP 403
        return
    await websocket.accept()
    store: TokenStore = websocket.app.state.tokens
    principal = store.authenticate(_secret(websocket))
    if principal is None:
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="missing or invalid token")
        return
    if not principal.has("viewer"):
        await websocket.close(code=CLOSE_FORBIDDEN, reason=f"token {principal.name!r} lacks role 'viewer'")
        return
    try:
        flt = parse_filter(websocket.query_params.get("queue"), websocket.query_params.get("team"))
    except BadFilter as exc:
        await websocket.close(code=CLOSE_BAD_REQUEST, reason=str(exc)[:120])
        return

    hub: Hub = websocket.app.state.hub
    sub = hub.subscribe(flt)
    sender = asyncio.create_task(_send_loop(websocket, hub, sub))
    receiver = asyncio.create_task(_drain(websocket))
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hub.unsubscribe(sub)
        for task in (sender, receiver):
            task.cancel()
        for task in (sender, receiver):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()


async def _send_loop(websocket: WebSocket, hub: Hub, sub) -> None:  # type: ignore[no-untyped-def]
    box = sub.mailbox
    while True:
        frame = box.take() if await box.wait(hub.ping_s) else ping_frame(int(hub.clock()), hub.is_ready())
        if frame is None:
            continue
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                await websocket.send_text(orjson.dumps(frame).decode("utf-8"))
        except TimeoutError:
            log.info("websocket client too slow (send blocked %.0f s); closing", SEND_TIMEOUT_S)
            return


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice it leaving."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
