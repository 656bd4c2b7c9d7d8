"""Argument types for the command-line tools: numbers with bounds, one clear message each."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable


def number(
    kind: type = float, *, at_least: float | None = None, above: float | None = None, at_most: float | None = None
) -> Callable[[str], float]:
    """An argparse ``type`` parsing ``kind`` and checking the bounds."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a {kind.__name__}: {text}") from None
        if at_least is not None and value < at_least:
            raise argparse.ArgumentTypeError(f"must be at least {at_least:g}: {text}")
        if above is not None and value <= above:
            raise argparse.ArgumentTypeError(f"must be more than {above:g}: {text}")
        if at_most is not None and value > at_most:
            raise argparse.ArgumentTypeError(f"must be at most {at_most:g}: {text}")
        return value

    return parse


RATE = number(float, at_least=0, at_most=1)
NON_NEGATIVE = number(float, at_least=0)
POSITIVE = number(float, above=0)
POSITIVE_INT = number(int, at_least=1)
NON_NEGATIVE_INT = number(int, at_least=0)


def run_until_signalled(main: Callable[[asyncio.Event], Awaitable[int]]) -> int:
    """Run ``main(stop)`` in a fresh loop; SIGINT/SIGTERM set ``stop`` for a clean finish."""

    async def _main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop.set)
        return await main(stop)

    return asyncio.run(_main())
