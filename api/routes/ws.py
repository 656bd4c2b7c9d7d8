"""``GET /ws``: live snapshot + coalesced deltas (see ``api.live`` and docs/api.md).

Handshake order: a cross-origin ``Origin`` (one whose host:port is not the ``Host`` header) is
refused before the upgrade (HTTP 403). Otherwise the socket is accepted and then closed with
4401 (missing/invalid token), 4403 (token lacks ``viewer``) or 4400 (bad filter), so a browser,
which cannot read an HTTP status of a refused upgrade, can tell "stop retrying" from "retry";
or with 1013 ("try again later") when the hub is full: ``api.ws_max_clients`` clients in all,
``api.ws_max_clients_per_token`` of this token, or ``api.ws_max_filters`` distinct filters in use
and this one new (the reason names the setting; ``floorwatch_ws_refused_total`` counts them).

Per connection: a send loop that sends whatever its mailbox holds (the hub's shared text for
most frames, see ``api.live``), a reader that notices the client leaving, and a watchdog in
the handler that closes a client whose send has been blocked for ``SEND_TIMEOUT_S`` (its
TCP buffer full). The watchdog looks every ``WATCH_S`` instead of arming a timer per send:
with 1,000 clients a timer per frame per client cost more than the send itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from floorwatch.api.auth import TokenStore
from floorwatch.api.live import BadFilter, Hub, HubFull, Subscriber, parse_filter

log = logging.getLogger(__name__)
router = APIRouter(tags=["live"])

CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TRY_AGAIN_LATER = 1013  # RFC 6455 registry: the server is overloaded, reconnect later
MAX_REASON_BYTES = 123  # a close frame's payload is at most 125 bytes, 2 of them the code
SEND_TIMEOUT_S = 30.0
WATCH_S = 5.0  # how often the watchdog looks for a blocked send
CLOSE_TIMEOUT_S = 2.0


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


def close_reason(text: str) -> str:
    """``text`` cut to what a close frame can carry (whole UTF-8 characters)."""
    return text.encode("utf-8")[:MAX_REASON_BYTES].decode("utf-8", "ignore")


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
        await websocket.close(
            code=CLOSE_FORBIDDEN, reason=close_reason(f"token {principal.name!r} lacks role 'viewer'")
        )
        return
    try:
        flt = parse_filter(websocket.query_params.get("queue"), websocket.query_params.get("team"))
    except BadFilter as exc:
        await websocket.close(code=CLOSE_BAD_REQUEST, reason=close_reason(str(exc)))
        return

    hub: Hub = websocket.app.state.hub
    try:
        sub = hub.subscribe(flt, principal.name)
    except HubFull as exc:
        log.debug("websocket refused: %s", exc)  # counted; a flood of refusals must not flood the log
        await websocket.close(code=CLOSE_TRY_AGAIN_LATER, reason=close_reason(str(exc)))
        return
    sender = asyncio.create_task(_send_loop(websocket, sub))
    receiver = asyncio.create_task(_drain(websocket))
    try:
        await _watch(sub, sender, receiver)
    finally:
        hub.unsubscribe(sub)
        for task in (sender, receiver):
            task.cancel()
        for task in (sender, receiver):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):  # TimeoutError: a stuck client's buffer is still full
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await websocket.close()


async def _watch(sub: Subscriber, sender: asyncio.Task[None], receiver: asyncio.Task[None]) -> None:
    """Until the sender or the reader ends, or a send has been blocked for ``SEND_TIMEOUT_S``."""
    loop = asyncio.get_running_loop()
    while True:
        done, _ = await asyncio.wait({sender, receiver}, timeout=WATCH_S, return_when=asyncio.FIRST_COMPLETED)
        if done:
            return
        since = sub.sending_since
        if since is not None and loop.time() - since >= SEND_TIMEOUT_S:
            log.info("websocket client too slow (send blocked %.0f s); closing", loop.time() - since)
            return


async def _send_loop(websocket: WebSocket, sub: Subscriber) -> None:
    """Send what the mailbox holds, one frame at a time; heartbeats come from the hub."""
    box = sub.mailbox
    clock = asyncio.get_running_loop().time
    while True:
        await box.wait()
        text = box.take_text()
        if text is None:
            continue
        sub.sending_since = clock()
        await websocket.send_text(text)
        sub.sending_since = None


async def _drain(websocket: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice it leaving."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
