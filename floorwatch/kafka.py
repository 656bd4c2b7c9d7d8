"""Small Kafka helpers shared by the producing tools (simulator, queue_log replay)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

CONNECT_TIMEOUT_S = 30.0


async def start_producer(bootstrap: str, *, timeout_s: float = CONNECT_TIMEOUT_S, **options: Any) -> Any:
    """A started ``AIOKafkaProducer``, retrying once a second until ``timeout_s`` (then raise)."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.errors import KafkaError

    deadline = time.monotonic() + timeout_s
    while True:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **options)
        try:
            await producer.start()
            return producer
        except KafkaError:
            await producer.stop()
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1.0)
