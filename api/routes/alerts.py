"""Alerts: ``GET /api/v1/alerts`` (viewer) and ``POST /api/v1/alerts/{id}/ack`` (supervisor)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.responses import Response

from floorwatch import records, topics
from floorwatch.api.csv_export import CSV_RESPONSES, CsvWanted, csv_response
from floorwatch.api.deps import NowMsDep, ProducerDep, SettingsDep, Supervisor, ViewDep, Viewer
from floorwatch.api.kafka import ProducerUnavailable
from floorwatch.readmodel import queries

router = APIRouter(prefix="/api/v1", tags=["alerts"])


@router.get("/alerts", response_model=list[dict[str, Any]], responses=CSV_RESPONSES)
async def list_alerts(
    _: Viewer,
    view: ViewDep,
    settings: SettingsDep,
    now_ms: NowMsDep,
    as_csv: CsvWanted,
    state: Annotated[Literal["firing", "resolved"] | None, Query(description="only alerts in this state")] = None,
    limit: Annotated[int, Query(ge=1, le=5000, description="at most this many, newest first")] = 500,
) -> list[dict[str, Any]] | Response:
    """Alerts newest first (by ``started_at``), each merged with its acknowledgement."""
    rows = queries.alerts_list(view, settings, state=state, limit=limit)
    return csv_response(rows, "alerts", queries.today(settings, now_ms)) if as_csv else rows


@router.post(
    "/alerts/{alert_id}/ack",
    responses={
        404: {"description": "no alert with this id"},
        409: {"description": "the alert is resolved and was never acknowledged"},
        503: {"description": "Kafka unavailable; retry"},
    },
)
async def ack_alert(
    principal: Supervisor,
    view: ViewDep,
    settings: SettingsDep,
    producer: ProducerDep,
    now_ms: NowMsDep,
    alert_id: Annotated[str, Path(min_length=1, max_length=512)],
) -> dict[str, Any]:
    """Acknowledge a firing alert; it stays open. Idempotent: an alert already acknowledged
    answers 200 with the first acknowledgement unchanged and nothing is written."""
    current = queries.alert(view, settings, alert_id)
    if current is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no alert {alert_id!r}")
    if current["acked_by"] is not None:
        return current
    if current["state"] != "firing":
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail="alert is resolved; only firing alerts can be acknowledged"
        )
    value = records.dumps(queries.ack_record(alert_id, principal.name, now_ms))
    try:
        await producer.send(topics.ALERT_ACKS, alert_id.encode("utf-8"), value)
        await producer.flush()
    except ProducerUnavailable as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc), headers={"Retry-After": "1"}
        ) from None
    view.apply(topics.ALERT_ACKS, alert_id.encode("utf-8"), value)  # visible at once, before the loader reads it back
    return queries.alert(view, settings, alert_id)  # type: ignore[return-value]
