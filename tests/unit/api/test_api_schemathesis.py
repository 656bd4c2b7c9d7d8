"""Schemathesis against the OpenAPI document, in process (ASGI), with an injected View and a
fake producer: no generated request may cause a 500. Bounded: a few examples per operation."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, settings

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the [test] extra")

from floorwatch import topics  # noqa: E402
from floorwatch.api.main import create_app  # noqa: E402
from floorwatch.readmodel.view import View  # noqa: E402
from tests.unit.api.asgi import NullProducer  # noqa: E402
from tests.unit.settings_factory import floor_settings, token  # noqa: E402

NOW = 1_709_605_050_000
ADMIN = "admin-secret"


def make_view() -> View:
    v = View()
    v.apply(
        topics.AGENT_STATUS,
        b"a1",
        orjson.dumps(
            {"agent_id": "a1", "name": "A", "team": "t", "queues": ["q"], "state": "aux", "since_ms": NOW - 5_000}
        ),
    )
    v.apply(
        topics.ALERTS,
        b"x",
        orjson.dumps(
            {"id": "x", "kind": "queue_waiting", "subject": "q", "state": "firing", "started_at_ms": NOW - 1_000}
        ),
    )
    v.apply(
        topics.ADHERENCE,
        b"a1|2024-03-05",
        orjson.dumps(
            {
                "agent_id": "a1",
                "date": "2024-03-05",
                "exceptions": [
                    {
                        "kind": "unscheduled_aux",
                        "start_ms": NOW - 5_000,
                        "end_ms": None,
                        "scheduled": "work",
                        "actual": "aux",
                    }
                ],
            }
        ),
    )
    return v


APP = create_app(
    floor_settings(queues=[{"id": "q"}], tokens=[token("admin", ADMIN, "admin")]),
    view=make_view(),
    producer=NullProducer(),
    clock=lambda: NOW,
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@pytest.mark.filterwarnings("ignore:Skipped test cases with unsupported payload media types")
@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error(case) -> None:  # type: ignore[no-untyped-def]
    response = case.call(headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status_code < 500, (case.method, case.formatted_path, response.status_code, response.text[:300])
