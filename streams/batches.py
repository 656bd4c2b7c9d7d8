"""Batches of events that are acknowledged only after what they caused is written.

Faust's ``Stream.take_events`` acknowledges a batch in the ``finally`` of its generator: when
the agent's body raises, or is cancelled half-way through a batch, the whole batch is still
acknowledged and its offsets committed, although part of it was never applied or its
changelog records never written. ``take_batches`` buffers the same way but acknowledges
nothing by itself: the agent applies a batch, waits until Kafka has acknowledged every record
the batch caused (changelog, projections, dead letters: ``settle``), and only then calls
``ack_batch``. An event that was not acknowledged is delivered again after a restart.

The rules a batch follows (docs/limits.md, "Worker"):

* one event that fails while it is applied is dead-lettered (``processing_error``) and the
  rest of the batch is applied (``apply_each``);
* a record write that fails stops the worker process (``fatal``): its batch is not
  acknowledged, so it is applied again, from the changelog's state, after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from mode import want_seconds
from mode.utils.futures import notify

log = logging.getLogger("floorwatch.worker")

E = TypeVar("E")

EXIT_WRITE_FAILED = 70  # EX_SOFTWARE: the supervisor restarts the worker


async def take_batches(stream: Any, max_: int, within_s: float) -> AsyncIterator[list[Any]]:
    """Buffer up to ``max_`` events, or what arrived within ``within_s``, and yield them as a
    list. Unlike ``Stream.take_events`` nothing is acknowledged here: see ``ack_batch``."""
    buffer: list[Any] = []
    buffer_full = asyncio.Event()
    buffer_consumed = asyncio.Event()
    timeout = want_seconds(within_s)
    consuming: asyncio.Future[Any] | None = None
    stream_enable_acks: bool = stream.enable_acks

    async def add_to_buffer(value: Any) -> Any:
        nonlocal consuming
        try:
            if consuming is not None:
                try:
                    await consuming
                finally:
                    consuming = None
            event = stream.current_event
            if event is None:
                raise RuntimeError("batch buffer found no current event")
            buffer.append(event)
            if len(buffer) >= max_:
                buffer_full.set()
                buffer_consumed.clear()
                await stream.wait(buffer_consumed)
        except asyncio.CancelledError:  # pragma: no cover
            raise
        except Exception as exc:  # pragma: no cover - Faust's own buffering failed
            log.exception("error adding to the batch buffer: %r", exc)
            await stream.crash(exc)
        return value

    stream.enable_acks = False  # events are acknowledged by ack_batch, after their writes
    stream.add_processor(add_to_buffer)
    stream._enable_passive(stream.channel)  # noqa: SLF001 - as Stream.take_events does
    try:
        while not stream.should_stop:
            await stream.wait_for_stopped(buffer_full, timeout=timeout)
            if buffer:
                consuming = stream.loop.create_future()
                try:
                    yield list(buffer)
                finally:
                    buffer.clear()
                    notify(consuming)
                    buffer_full.clear()
                    buffer_consumed.set()
    finally:
        stream.enable_acks = stream_enable_acks
        stream._processors.remove(add_to_buffer)  # noqa: SLF001


async def ack_batch(stream: Any, events: Iterable[Any]) -> None:
    """Acknowledge events whose effects are written: their offsets may now be committed."""
    for event in events:
        await stream.ack(event)


def fatal(message: str) -> None:
    """Stop the worker process at once, without acknowledging anything more. Its supervisor
    (``floorwatch run``, systemd, Kubernetes) starts it again; unacknowledged events are
    delivered again and the tables are recovered from their changelogs."""
    log.critical("%s; exiting so that the batch is delivered again after the restart", message)
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):  # a broken handler must not stop the exit
            handler.flush()
    sys.stderr.flush()
    os._exit(EXIT_WRITE_FAILED)


async def settle(pending: Sequence[Awaitable[Any]], on_failure: Callable[[str], None] = fatal) -> None:
    """Wait until Kafka has acknowledged every record in ``pending``; a failed write calls
    ``on_failure`` (by default: the process exits) before anything is acknowledged."""
    if not pending:
        return
    results = await asyncio.gather(*pending, return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        on_failure(f"{len(errors)} of {len(results)} record writes failed: {errors[0]!r}")
        raise RuntimeError("record writes failed")  # on_failure returned (tests): never ack


class Acknowledger:
    """Acknowledges batches, in order, once Kafka acknowledged the records each one caused,
    while the agent goes on applying the next batches: waiting for a write's round trip
    before the next batch starts cost the worker more than half of its throughput. At most
    ``max_in_flight`` batches wait; the agent waits for the oldest beyond that."""

    def __init__(self, stream: Any, on_failure: Callable[[str], None] = fatal, max_in_flight: int = 4) -> None:
        self.stream = stream
        self.on_failure = on_failure
        self.max_in_flight = max_in_flight
        self._in_flight: deque[asyncio.Future[None]] = deque()

    async def submit(self, events: Sequence[Any], pending: Sequence[Awaitable[Any]]) -> None:
        previous = self._in_flight[-1] if self._in_flight else None

        async def acknowledge() -> None:
            await settle(pending, self.on_failure)
            if previous is not None:
                await previous  # acknowledgements in batch order
            await ack_batch(self.stream, events)

        self._in_flight.append(asyncio.ensure_future(acknowledge()))
        while self._in_flight and (self._in_flight[0].done() or len(self._in_flight) > self.max_in_flight):
            await self._in_flight.popleft()

    async def drain(self) -> None:
        """Wait until every submitted batch is acknowledged."""
        while self._in_flight:
            await self._in_flight.popleft()


async def apply_each(
    batch: Sequence[E],
    apply_one: Callable[[E], Awaitable[None]],
    on_error: Callable[[E, Exception], Awaitable[None]],
) -> int:
    """Apply every event of a batch; an exception applying one goes to ``on_error`` (which
    dead-letters it) and the next event is applied. Returns how many failed."""
    failed = 0
    for event in batch:
        try:
            await apply_one(event)
        except Exception as exc:  # noqa: BLE001 - every failure goes to on_error, which decides
            failed += 1
            await on_error(event, exc)
    return failed
