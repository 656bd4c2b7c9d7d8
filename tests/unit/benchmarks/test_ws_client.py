"""The latency benchmark's light websocket client against a real websocket server (``websockets``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.server import serve

from benchmarks.ws_client import accept_key, client_frame, connect


def test_accept_key_is_rfc_6455s_example() -> None:
    assert accept_key(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


@pytest.mark.parametrize("size", [5, 126, 70_000])
def test_client_frames_are_masked_and_carry_their_length(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
    frame = client_frame(0x1, payload)
    assert frame[0] == 0x81 and frame[1] & 0x80
    n, pos = frame[1] & 0x7F, 2
    if n == 126:
        n, pos = int.from_bytes(frame[2:4], "big"), 4
    elif n == 127:
        n, pos = int.from_bytes(frame[2:10], "big"), 10
    mask, body = frame[pos : pos + 4], frame[pos + 4 :]
    assert n == size == len(body)
    assert bytes(b ^ mask[i % 4] for i, b in enumerate(body)) == payload


@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_messages_fragments_pings_and_close_from_a_real_server(compression: Any) -> None:
    big = "x" * 100_000
    pongs: list[float] = []

    async def handler(ws: Any) -> None:
        await ws.send("hello")
        await ws.send(big)
        await ws.send(["frag", "ment", "ed"])  # one message in three frames
        await ws.send(b"\x00\x01")
        pongs.append(await asyncio.wait_for(await ws.ping(b"p"), 5))
        await ws.close(1001, "bye")

    got: list[tuple[bytes, float]] = []
    async with serve(handler, "127.0.0.1", 0, compression=compression) as server:
        port = server.sockets[0].getsockname()[1]
        client = await connect(f"ws://127.0.0.1:{port}/ws?token=t", lambda m, t: got.append((m, t)), deflate=True)
        reason = await asyncio.wait_for(client.closed, 5)
    assert client.deflate is (compression == "deflate")
    assert [m for m, _ in got] == [b"hello", big.encode(), b"fragmented", b"\x00\x01"]
    assert all(t > 0 for _, t in got) and len(pongs) == 1
    assert reason == "closed by the server (1001)"


async def test_a_refused_upgrade_fails_the_handshake() -> None:
    async def reject(connection: Any, request: Any) -> Any:
        return connection.respond(403, "no")

    async with serve(lambda ws: None, "127.0.0.1", 0, process_request=reject) as server:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(Exception, match="403"):
            await connect(f"ws://127.0.0.1:{port}/", lambda m, t: None)
