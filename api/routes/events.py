"""``POST /api/v1/events``: HTTP ingest of events (role ``ingest``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from floorwatch.api import ingest
from floorwatch.api.deps import Ingest, MetricsDep, NowMsDep, ProducerDep, SettingsDep
from floorwatch.api.kafka import ProducerUnavailable

router = APIRouter(prefix="/api/v1", tags=["events"])


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        400: {"description": "the body is not JSON at all"},
        413: {
            "description": "body larger than api.max_body_bytes, more items than ingest.max_items, "
            "or more items than the token's burst (ingest.rate_burst_events)"
        },
        429: {"description": "the token's ingest rate is used up; Retry-After says when the items fit"},
        503: {"description": "Kafka unavailable; retry (duplicates are ignored by event_id)"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
)
async def post_events(
    request: Request,
    principal: Ingest,
    settings: SettingsDep,
    producer: ProducerDep,
    metrics: MetricsDep,
    now_ms: NowMsDep,
) -> dict[str, Any]:
    """Validate each event; produce the valid ones; list the rejected ones with the reason.

    202 only once every accepted event is acknowledged by Kafka."""
    limiter: ingest.IngestRateLimiter = request.app.state.ingest_limiter
    try:
        body = await ingest.read_limited(
            request.headers.get("content-length"), request.stream(), settings.api.max_body_bytes
        )
        items = ingest.split_items(body, settings.ingest.max_items)
        limiter.charge(principal.name, len(items), now_ms)
        return await ingest.ingest_items(items, producer, metrics, ingest.IngestLimits.from_settings(settings), now_ms)
    except ingest.BodyTooLarge as exc:
        raise _refused(metrics, "body_too_large", status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from None
    except ingest.TooManyItems as exc:
        raise _refused(metrics, "too_many_items", status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from None
    except ingest.OverBurst as exc:
        raise _refused(metrics, "over_burst", status.HTTP_413_CONTENT_TOO_LARGE, str(exc)) from None
    except ingest.RateLimited as exc:
        raise _refused(
            metrics,
            "rate_limited",
            status.HTTP_429_TOO_MANY_REQUESTS,
            str(exc),
            {"Retry-After": str(exc.retry_after_s)},
        ) from None
    except ingest.BadBody as exc:
        raise _refused(metrics, "bad_body", status.HTTP_400_BAD_REQUEST, str(exc)) from None
    except ProducerUnavailable as exc:
        raise _refused(
            metrics, "kafka_unavailable", status.HTTP_503_SERVICE_UNAVAILABLE, str(exc), {"Retry-After": "1"}
        ) from None


def _refused(
    metrics: ingest.ApiMetrics, reason: str, code: int, detail: str, headers: dict[str, str] | None = None
) -> HTTPException:
    metrics.refused.labels(reason=reason).inc()
    return HTTPException(code, detail=detail, headers=headers)
