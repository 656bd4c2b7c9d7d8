"""A minimal RFC 6455 websocket client for the latency benchmark's 1,000 stand-in TVs.

The clients stand in for TVs on other machines, but here they share the server's cores:
with the ``websockets`` library (a coroutine wake-up, a queue hand-off and a frame object per
message) 1,000 of them took 54-58 % of the 2 cores, more than the API they measure. This
client is an ``asyncio.Protocol``: frames are parsed straight from ``data_received`` and each
complete message goes to a callback with its arrival time, so the harness costs a fraction.

It does what a browser does and no more: the opening handshake (with the accept key checked,
permessage-deflate offered and honoured when the server takes it), text and binary messages,
fragments, answering pings, and the close handshake.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
import zlib
from collections.abc import Callable
from typing import cast
from urllib.parse import urlsplit

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


class HandshakeError(RuntimeError):
    pass


def accept_key(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def client_frame(opcode: int, payload: bytes) -> bytes:
    """One final, masked client frame (control frames carry at most 125 bytes)."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


class LightClient(asyncio.Protocol):
    """One websocket connection; ``on_message(data, arrival_s)`` gets every complete message
    (``data`` as bytes, decompressed), ``closed`` resolves with the reason when it ends."""

    def __init__(
        self,
        path: str,
        host: str,
        deflate: bool,
        on_message: Callable[[bytes, float], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path, self.host, self.offer_deflate = path, host, deflate
        self.on_message, self.clock = on_message, clock
        self.key = base64.b64encode(os.urandom(16))
        self.buf = bytearray()
        self.open = False
        self.inflate: zlib._Decompress | None = None
        self.reset_inflate = False
        self.fragments: list[bytes] = []
        self.fragment_compressed = False
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[str] = loop.create_future()

    # -- asyncio.Protocol -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream transport: create_connection made it
        lines = [
            f"GET {self.path} HTTP/1.1",
            f"Host: {self.host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {self.key.decode()}",
            "Sec-WebSocket-Version: 13",
        ]
        if self.offer_deflate:
            lines.append("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
        self.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        now = self.clock()
        self.buf += data
        try:
            if not self.open and not self._handshake():
                return
            self._frames(now)
        except Exception as exc:  # noqa: BLE001 - reported through the futures, never raised into the loop
            self._finish(f"{type(exc).__name__}: {exc}")

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish("connection lost" + (f": {exc}" if exc else ""))

    # -- protocol ---------------------------------------------------------------------

    @property
    def deflate(self) -> bool:
        return self.inflate is not None

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if self.open:
                self.transport.write(client_frame(OP_CLOSE, (1000).to_bytes(2, "big")))
            self.transport.close()

    def _finish(self, reason: str) -> None:
        if not self.opened.done():
            self.opened.set_exception(HandshakeError(reason))
        if not self.closed.done():
            self.closed.set_result(reason)
        if self.transport is not None:
            self.transport.close()

    def _handshake(self) -> bool:
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        if not head[0].startswith("HTTP/1.1 101"):
            raise HandshakeError(head[0])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
        if headers.get("sec-websocket-accept", "").encode() != accept_key(self.key):
            raise HandshakeError("bad Sec-WebSocket-Accept")
        extensions = headers.get("sec-websocket-extensions", "")
        if "permessage-deflate" in extensions:
            self.inflate = zlib.decompressobj(-15)
            self.reset_inflate = "server_no_context_takeover" in extensions
        self.open = True
        self.opened.set_result(None)
        return True

    def _frames(self, now: float) -> None:
        buf = self.buf
        while len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            if b1 & 0x80:
                raise ValueError("the server masked a frame")
            n, pos = b1 & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, pos = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, pos = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < pos + n:
                return
            payload = bytes(buf[pos : pos + n])
            del buf[: pos + n]
            self._frame(b0 & 0x80, b0 & 0x40, b0 & 0x0F, payload, now)

    def _frame(self, fin: int, rsv1: int, opcode: int, payload: bytes, now: float) -> None:
        if opcode == OP_PING:
            self.transport.write(client_frame(OP_PONG, payload))  # type: ignore[union-attr]
            return
        if opcode == OP_PONG:
            return
        if opcode == OP_CLOSE:
            self.close()
            self._finish("closed by the server" + (f" ({int.from_bytes(payload[:2], 'big')})" if payload else ""))
            return
        if opcode in (OP_TEXT, OP_BINARY):
            self.fragments, self.fragment_compressed = [], bool(rsv1)
        elif opcode != OP_CONT:
            raise ValueError(f"unknown opcode {opcode}")
        self.fragments.append(payload)
        if not fin:
            return
        data = b"".join(self.fragments)
        self.fragments = []
        if self.fragment_compressed:
            if self.inflate is None:
                raise ValueError("compressed message without permessage-deflate")
            data = self.inflate.decompress(data + b"\x00\x00\xff\xff")
            if self.reset_inflate:
                self.inflate = zlib.decompressobj(-15)
        self.on_message(data, now)


async def connect(
    url: str, on_message: Callable[[bytes, float], None], deflate: bool = True, timeout_s: float = 60.0
) -> LightClient:
    """Open ``ws://host:port/path?query``; returns once the handshake is done."""
    parts = urlsplit(url)
    if parts.scheme != "ws":
        raise ValueError("only ws:// URLs")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    loop = asyncio.get_running_loop()
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 80
    _, client = await asyncio.wait_for(
        loop.create_connection(lambda: LightClient(path, f"{host}:{port}", deflate, on_message), host, port), timeout_s
    )
    await asyncio.wait_for(client.opened, timeout_s)
    return client
