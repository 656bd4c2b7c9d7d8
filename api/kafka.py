"""The producer the ingest endpoint writes to: a small protocol and its aiokafka implementation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from typing import Any, Protocol, runtime_checkable

from aiokafka.errors import MessageSizeTooLargeError, RecordListTooLargeError, RecordTooLargeError

log = logging.getLogger(__name__)

# what the client or the broker answers for a record too large to store: retrying cannot help
_SIZE_ERRORS = (MessageSizeTooLargeError, RecordTooLargeError, RecordListTooLargeError)


class ProducerUnavailable(RuntimeError):
    """Kafka could not be reached or did not acknowledge; the client should retry."""


class RecordTooLarge(ValueError):
    """Kafka (or the client's own request-size check) refuses this one record for its size."""


@runtime_checkable
class EventProducer(Protocol):
    async def send(self, topic: str, key: bytes, value: bytes) -> Awaitable[Any] | None:
        """Queue one record and return its delivery future.

        The future resolves once the record is acknowledged, or raises ``RecordTooLarge`` (this
        record can never be stored) or ``ProducerUnavailable`` (retry later); ``send`` itself may
        raise either. A producer that returns ``None`` only promises delivery on ``flush``.
        """

    async def flush(self) -> None:
        """Wait until every record sent so far is acknowledged; raise ``ProducerUnavailable`` if
        one of them was not for another reason than its size."""


def _translate(exc: BaseException) -> Exception:
    if isinstance(exc, (RecordTooLarge, ProducerUnavailable)):
        return exc
    if isinstance(exc, _SIZE_ERRORS):
        return RecordTooLarge(f"Kafka refused the record for its size: {exc}")
    return ProducerUnavailable(f"record not acknowledged: {exc!r}")


class KafkaEventProducer:
    """``AIOKafkaProducer`` (acks=all, linger ``kafka.producer_linger_ms``), started lazily so the
    API can start before Kafka.

    ``send`` enqueues and returns the record's own delivery future, so a request awaits exactly
    its records and answers 202 only once they are stored. ``flush`` awaits every record in
    flight (the records of all requests; the set holds only records not yet answered). A failed
    start is retried by the next request.
    """

    def __init__(
        self, bootstrap: str, *, request_timeout_ms: int = 15_000, linger_ms: int = 20, **options: Any
    ) -> None:
        self.bootstrap = bootstrap
        self.linger_ms = linger_ms
        self.request_timeout_ms = request_timeout_ms
        self.options = options
        self._producer: Any = None
        self._lock = asyncio.Lock()
        self._in_flight: set[asyncio.Future[Any]] = set()

    async def _ensure(self) -> Any:
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                from aiokafka import AIOKafkaProducer

                producer = AIOKafkaProducer(
                    bootstrap_servers=self.bootstrap,
                    acks="all",
                    linger_ms=self.linger_ms,
                    client_id="floorwatch-api",
                    request_timeout_ms=self.request_timeout_ms,
                    **self.options,
                )
                try:
                    await producer.start()
                except Exception as exc:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    raise ProducerUnavailable(f"cannot connect to Kafka at {self.bootstrap}: {exc}") from exc
                self._producer = producer
        return self._producer

    async def send(self, topic: str, key: bytes, value: bytes) -> asyncio.Future[Any]:
        producer = await self._ensure()
        try:
            delivery = await producer.send(topic, value, key=key)
        except Exception as exc:
            raise _translate(exc) from exc
        return self._track(delivery)

    def _track(self, delivery: asyncio.Future[Any]) -> asyncio.Future[Any]:
        """A future of our own that ``delivery`` resolves with translated errors (cancelling a
        waiter of ours never cancels aiokafka's future)."""
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._in_flight.add(answer)

        def resolve(done: asyncio.Future[Any]) -> None:
            self._in_flight.discard(answer)
            if answer.done():
                return
            if done.cancelled():
                answer.set_exception(ProducerUnavailable("record delivery cancelled"))
            elif (exc := done.exception()) is not None:
                answer.set_exception(_translate(exc))
            else:
                answer.set_result(done.result())

        delivery.add_done_callback(resolve)
        return answer

    async def flush(self) -> None:
        pending = list(self._in_flight)
        if not pending:
            return
        await asyncio.wait(pending)
        errors = [f.exception() for f in pending if not f.cancelled() and f.exception() is not None]
        unavailable = [e for e in errors if not isinstance(e, RecordTooLarge)]
        if unavailable:
            raise ProducerUnavailable(f"{len(unavailable)} record(s) not acknowledged: {unavailable[0]}")

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.flush()
            with contextlib.suppress(Exception):
                await producer.stop()
