"""``POST /api/v1/events``: HTTP ingest of SPEC §2 (role ``ingest``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from api import ingest
from api.deps import Ingest, MetricsDep, ProducerDep, SettingsDep
from api.kafka import ProducerUnavailable

router = APIRouter(prefix="/api/v1", tags=["events"])


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    responses={
        400: {"description": "the body is not JSON at all"},
        413: {"description": "body larger than api.max_body_bytes"},
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
    request: Request, _: Ingest, settings: SettingsDep, producer: ProducerDep, metrics: MetricsDep
) -> dict[str, Any]:
    """Validate each event; produce the valid ones; list the rejected ones with the reason."""
    try:
        body = await ingest.read_limited(
            request.headers.get("content-length"), request.stream(), settings.api.max_body_bytes
        )
        return await ingest.ingest(body, producer, metrics)
    except ingest.BodyTooLarge as exc:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, detail=str(exc)) from None
    except ingest.BadBody as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from None
    except ProducerUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc), headers={"Retry-After": "1"}) from None
