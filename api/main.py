"""The FastAPI application: ``create_app(settings)``; run it with uvicorn.

    uvicorn.run(create_app(settings), host=settings.api.host, port=settings.api.port,
                loop=settings.api.event_loop, ws_per_message_deflate=settings.api.ws_per_message_deflate)

Without an injected ``view``, the lifespan starts a ``KafkaViewLoader`` that fills a fresh
``View`` from the output topics (``/readyz`` reports its progress) and, every
``floorwatch.readmodel.view.EXPIRE_EVERY_S``, drops from it what ``retention_days`` no longer keeps. Without an injected
``producer``, ingest uses a ``KafkaEventProducer`` started on first use and stopped at shutdown.
Injected objects are the caller's: the app neither starts nor stops them.

``app.state`` holds: settings, view, producer, loader (or None), tokens, registry, metrics,
clock (callable -> epoch ms), readiness (callable -> status dict: the view loader's progress
and the workers' heartbeats, ``api.routes.health``), hub (the websocket ``Hub``,
whose tick task starts with the first websocket client and stops at shutdown), ingest_limiter
(``IngestRateLimiter``: the per-token ingest rate).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException

from floorwatch.api.auth import TokenStore
from floorwatch.api.ingest import ApiMetrics, IngestRateLimiter
from floorwatch.api.kafka import EventProducer, KafkaEventProducer
from floorwatch.api.live import Hub
from floorwatch.api.routes import (
    alerts,
    boards,
    events,
    floor,
    health,
    metrics as metrics_route,
    page,
    people,
    quality,
    queues,
    ws,
)
from floorwatch.api.security import AllowedHosts, SecurityHeaders, check_host_patterns
from floorwatch.config import Settings
from floorwatch.events import EventLimits
from floorwatch.readmodel.people import TeamsCache
from floorwatch.readmodel.view import KafkaViewLoader, View, expire_periodically

log = logging.getLogger(__name__)


def wall_clock_ms() -> int:
    return int(time.time() * 1000)


def create_app(
    settings: Settings,
    *,
    view: View | None = None,
    producer: EventProducer | None = None,
    clock: Callable[[], int] | None = None,
    worker_readiness: bool | None = None,
) -> FastAPI:
    """Build the API. ``view``/``producer``/``clock`` are for tests and embedding.
    ``worker_readiness``: readiness also needs a live worker (default: when the app reads
    Kafka itself, i.e. no injected ``view``)."""
    owns_view = view is None
    owns_producer = producer is None
    view = (
        view
        if view is not None
        else View(EventLimits.from_settings(settings), tz=settings.tz, retention_days=settings.retention_days)
    )
    producer = (
        producer
        if producer is not None
        else KafkaEventProducer(settings.kafka.bootstrap, linger_ms=settings.kafka.producer_linger_ms)
    )
    loader = (
        KafkaViewLoader(settings.kafka.bootstrap, view, fetch_max_wait_ms=settings.api.fetch_max_wait_ms)
        if owns_view
        else None
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task: asyncio.Task[None] | None = None
        expiry: asyncio.Task[None] | None = None
        if loader is not None:
            task = asyncio.create_task(loader.run(), name="floorwatch-view-loader")
            # the view drops what retention_days no longer keeps (an injected view is the caller's)
            expiry = asyncio.create_task(
                expire_periodically(view, lambda: int(app.state.clock()), lambda: loader.ready),
                name="floorwatch-view-expiry",
            )
        try:
            yield
        finally:
            await app.state.hub.stop()
            for running in (expiry, task):
                if running is not None:
                    running.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await running
            if task is not None:
                await loader.stop()  # type: ignore[union-attr]
            if owns_producer:
                await producer.stop()  # type: ignore[attr-defined]  # ours: a KafkaEventProducer

    app = FastAPI(
        title="Floorwatch API",
        version="0.1.0",
        summary="Real-time contact-center floor monitor",
        lifespan=lifespan,
        # FastAPI's own /docs and /redoc load their scripts from a CDN: never served. With
        # api.docs_enabled, /docs is Swagger UI from self-hosted assets (page.install_docs).
        docs_url=None,
        redoc_url=None,
    )
    registry = CollectorRegistry()
    app.state.settings = settings
    app.state.view = view
    app.state.producer = producer
    app.state.loader = loader
    app.state.tokens = TokenStore(settings.auth.tokens)
    app.state.registry = registry
    app.state.metrics = ApiMetrics(registry)
    app.state.clock = clock or wall_clock_ms
    app.state.ingest_limiter = IngestRateLimiter.from_settings(settings)
    view_status = loader.status if loader is not None else (lambda: {"ready": True, "lag": {}})
    if worker_readiness if worker_readiness is not None else owns_view:
        # ready = the view caught up AND a live, settled worker (api.routes.health)
        app.state.readiness = lambda: health.combined_readiness(view_status(), view, settings, int(app.state.clock()))
    else:
        app.state.readiness = view_status

    app.state.teams = TeamsCache(view, settings, lambda: int(app.state.clock()))
    app.state.hub = Hub(view, settings, lambda: int(app.state.clock()), lambda: app.state.readiness())

    _install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(events.router)
    app.include_router(queues.router)
    app.include_router(floor.router)
    app.include_router(alerts.router)
    app.include_router(quality.router)
    app.include_router(people.router)
    app.include_router(boards.router)
    app.include_router(ws.router)
    app.include_router(page.router)
    app.include_router(metrics_route.router)
    app.mount("/static", StaticFiles(directory=page.STATIC_DIR), name="static")
    if settings.api.docs_enabled:
        page.install_docs(app)
    if settings.api.allowed_hosts:
        check_host_patterns(settings.api.allowed_hosts)  # now, not at the first request
        app.add_middleware(AllowedHosts, allowed_hosts=settings.api.allowed_hosts)
    app.add_middleware(SecurityHeaders)  # outermost: a refused Host's 400 gets the headers too
    return app


def _install_error_handlers(app: FastAPI) -> None:
    """Every error is JSON ``{"detail": ...}``; an unexpected one is a logged 500, never HTML."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors: list[dict[str, Any]] = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, _exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)
