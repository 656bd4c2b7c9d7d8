"""Fields of each contact event type, beyond event_id/type/ts/contact_id (shared by tests)."""

from typing import Any

CONTACT_FIELDS: dict[str, dict[str, Any]] = {
    "contact.offered": {"queue": "support", "channel": "voice"},
    "contact.answered": {"queue": "support", "agent_id": "a1"},
    "contact.abandoned": {"queue": "support"},
    "contact.overflowed": {"queue": "support", "reason": "timeout"},
    "contact.hold_started": {"agent_id": "a1"},
    "contact.hold_ended": {"agent_id": "a1"},
    "contact.ended": {"agent_id": "a1"},
    "contact.wrapup_ended": {"agent_id": "a1"},
    "contact.transferred": {"agent_id": "a1", "to_queue": "billing"},
    "survey.completed": {"score": 4, "agent_id": "a1", "queue": "support"},
}

# STATS keys of contacts without a customer or survey: CSAT and first contact resolution empty
NO_QUALITY_STATS: dict[str, Any] = {
    "surveys": 0,
    "csat_avg": None,
    "csat_satisfied": None,
    "fcr_eligible": 0,
    "fcr_resolved": 0,
    "fcr": None,
    "customer_contacts": 0,
    "repeat_contacts": 0,
    "repeat_rate": None,
}
