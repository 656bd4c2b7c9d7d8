"""``GET /metrics``: Prometheus text exposition of ``app.state.registry`` (no token).

Unauthenticated on purpose (Prometheus scrapes without tokens): the exposition holds only
aggregates by queue, channel, team, state, alert kind and reject reason — never an agent id or
a customer id — but it does name queues and teams and show live volumes, so keep ``/metrics``
off public ingresses (docs/deploy.md). A bearer token, if sent, is ignored.

The ``ViewCollector`` is registered on the app's registry at the first scrape (next to the
ingest counters of ``api.ingest.ApiMetrics``); when the app reads Kafka itself it also starts
the ``GroupOffsetsProbe`` behind ``floorwatch_events_processed_total``. ``api.metrics.render``
writes the text format (what ``generate_latest`` writes, faster). Rendering runs on the
event loop because the view is only ever touched there (no locking).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST

from floorwatch import topics
from floorwatch.api.metrics import GroupOffsetsProbe, HubCollector, ViewCollector, render

router = APIRouter(tags=["metrics"])
WORKER_GROUP = topics.WORKER_APP_ID


def install(app: object) -> ViewCollector:
    """Register the collector (and the probe when the app owns its Kafka view) once."""
    state = app.state  # type: ignore[attr-defined]
    collector = getattr(state, "metrics_collector", None)
    if collector is None:
        probe = None
        if getattr(state, "loader", None) is not None:
            kafka = state.settings.kafka
            probe = GroupOffsetsProbe(kafka.bootstrap, group=WORKER_GROUP, partitions=kafka.partitions)
        collector = ViewCollector(
            state.view, state.settings, lambda: int(state.clock()), readiness=lambda: state.readiness(), probe=probe
        )
        state.registry.register(collector)
        state.registry.register(HubCollector(state.hub))  # websocket clients, filters, refusals
        state.metrics_collector = collector
    if collector.probe is not None:
        collector.probe.start()
    return collector


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format 0.0.4"}},
)
async def metrics(request: Request) -> Response:
    """Every ``floorwatch_*`` family, computed from the view now."""
    install(request.app)
    return Response(render(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)
