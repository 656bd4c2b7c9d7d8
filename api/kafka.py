"""The producer the ingest endpoint writes to: a small protocol and its aiokafka implementation."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)


class ProducerUnavailable(RuntimeError):
    """Kafka could not be reached or did not acknowledge; the client should retry."""


@runtime_checkable
class EventProducer(Protocol):
    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        """Queue one record for delivery."""

    async def flush(self) -> None:
        """Wait until every record sent so far is acknowledged; raise ``ProducerUnavailable`` if not."""


class KafkaEventProducer:
    """``AIOKafkaProducer`` (acks=all, linger ``kafka.producer_linger_ms``), started lazily so the API can start before Kafka.

    ``send`` only enqueues; ``flush`` awaits the delivery of everything enqueued so far, so a
    request that returns 202 knows its events are stored. A failed start is retried by the next
    request.
    """

    def __init__(self, bootstrap: str, *, request_timeout_ms: int = 15_000, linger_ms: int = 20,
                 **options: Any) -> None:
        self.bootstrap = bootstrap
        self.linger_ms = linger_ms
        self.request_timeout_ms = request_timeout_ms
        self.options = options
        self._producer: Any = None
        self._lock = asyncio.Lock()
        self._pending: list[asyncio.Future[Any]] = []

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

    async def send(self, topic: str, key: bytes, value: bytes) -> None:
        producer = await self._ensure()
        try:
            self._pending.append(await producer.send(topic, value, key=key))
        except Exception as exc:
            raise ProducerUnavailable(f"Kafka refused the record: {exc}") from exc

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        results = await asyncio.gather(*pending, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise ProducerUnavailable(f"{len(errors)} record(s) not acknowledged: {errors[0]}")

    async def stop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.flush()
            with contextlib.suppress(Exception):
                await producer.stop()
