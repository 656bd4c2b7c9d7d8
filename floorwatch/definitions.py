"""What each figure of the wallboard means, in one sentence (pure data).

``GET /api/v1/definitions`` serves these; the wallboard shows a figure's text on hover, tap and
keyboard focus. Every text is written word for word in docs/metrics.md ("Definitions shown on
the wallboard"), which also gives the exact formulas; a unit test keeps the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final


@dataclass(frozen=True, slots=True)
class Definition:
    label: str
    text: str


_D = Definition

DEFINITIONS: Final = MappingProxyType(
    {
        # queue figures (docs/metrics.md sections 1, 2, 4, 8, 13)
        "service_level": _D(
            "Service level",
            "Contacts answered within the queue's threshold (sl_threshold_s) divided by the contacts that "
            "had an outcome (answered, abandoned or overflowed), short abandons left out; that is the "
            "default sl_formula, and a queue may be configured with one of the other three.",
        ),
        "abandon_rate": _D(
            "Abandon rate",
            "Contacts abandoned after waiting at least short_abandon_s, divided by the contacts that had an "
            "outcome (answered, abandoned or overflowed), short abandons left out.",
        ),
        "asa": _D(
            "ASA (average speed of answer)",
            "The waits of the answered contacts added up, divided by the number of answered contacts.",
        ),
        "aht": _D(
            "AHT (average handle time)",
            "Talk, hold and wrap-up time of the handled contacts added up, divided by the number of handled contacts.",
        ),
        "waiting": _D(
            "Waiting",
            "Contacts offered to the queue and not yet answered, abandoned or overflowed, right now.",
        ),
        "longest_wait": _D(
            "Longest wait",
            "How long the oldest contact still waiting in the queue has waited so far.",
        ),
        "offered": _D(
            "Offered",
            "Every contact offered to the queue, waiting ones and short abandons included.",
        ),
        "handled": _D(
            "Handled",
            "Answered contacts whose conversation has ended, by a hang-up or by a transfer.",
        ),
        "transfers": _D(
            "Transfers",
            "Handled contacts whose conversation ended by a transfer.",
        ),
        "transfer_rate": _D(
            "Transfer rate",
            "Handled contacts whose conversation ended by a transfer, divided by all handled contacts.",
        ),
        "fcr": _D(
            "FCR (first contact resolution)",
            "Of the answered customer contacts whose window (fcr.window_hours) has closed, the share whose "
            "customer did not contact again within the window and that no wrap-up marked unresolved.",
        ),
        "repeat_rate": _D(
            "Repeat rate",
            "Customer contacts whose customer had another contact within the window before "
            "(fcr.window_hours), divided by all customer contacts.",
        ),
        "csat_satisfied": _D(
            "CSAT (satisfied)",
            "The share of the completed surveys with a score of 4 or 5.",
        ),
        "csat_avg": _D(
            "CSAT average",
            "The average score of the completed surveys, from 1 to 5.",
        ),
        "surveys": _D(
            "Surveys",
            "Completed surveys about the contacts counted.",
        ),
        "forecast_offered": _D(
            "Forecast offered",
            "Contacts the published forecast expects to be offered in the interval.",
        ),
        # staffing (docs/staffing.md)
        "staffed": _D(
            "Staffed",
            "Logged-in agents (in any state but logged out) whose profile lists the queue.",
        ),
        "required_agents": _D(
            "Required agents",
            "Agents needed on the phones in the current interval to reach the queue's service-level target "
            "(Erlang C, from the forecast, or else from the last 15 minutes' arrivals and AHT).",
        ),
        "agents_available": _D(
            "Agents available",
            "Logged-in agents of the queue who are available for a contact right now.",
        ),
        "agents_on_contact": _D(
            "Agents on contact",
            "Agents of the queue on a contact right now.",
        ),
        "agents_wrap_up": _D(
            "Agents in wrap-up",
            "Agents of the queue in wrap-up after a contact right now.",
        ),
        "agents_aux": _D(
            "Agents in aux",
            "Agents of the queue in an aux state (break, lunch, meeting ...) right now.",
        ),
        # agent time, adherence and teams (docs/metrics.md sections 10-12, docs/adherence.md)
        "occupancy": _D(
            "Occupancy",
            "Time on contact and in wrap-up divided by that time plus the time available; aux time counts "
            "on neither side.",
        ),
        "occupancy_15m": _D(
            "Occupancy, last 15 minutes",
            "Occupancy over the last 15 minutes: time on contact and in wrap-up within the window divided by "
            "that time plus the time available within it.",
        ),
        "adherence": _D(
            "Adherence",
            "The share of the scheduled time in which the agent's state was one the scheduled activity "
            "allows, up to now, without grace.",
        ),
        "conformance": _D(
            "Conformance",
            "Time worked (available, on contact or in wrap-up, scheduled or not) divided by the time "
            "scheduled for work; it may exceed 100 %.",
        ),
        "shrinkage": _D(
            "Shrinkage",
            "Scheduled time off the phones (activities other than work) plus unscheduled aux time during "
            "scheduled work, divided by the scheduled time.",
        ),
        "absent": _D(
            "Absent",
            "Agents whose shift has begun and who have not logged in during it.",
        ),
        "late_logins": _D(
            "Late logins",
            "Agents whose shift has begun and who logged in during it, but after its start.",
        ),
        "talk": _D(
            "Talk",
            "Time from answer to the end of the conversation of the handled contacts, hold time left out.",
        ),
        "hold": _D(
            "Hold",
            "Time the customers of the handled contacts spent on hold.",
        ),
        "wrap": _D(
            "Wrap-up",
            "Time from the end of the conversation to the end of the wrap-up, for the handled contacts.",
        ),
        "handle_time": _D(
            "Handle time",
            "The agent's time on contact plus in wrap-up, each wall-clock second once (concurrent chats too).",
        ),
        "time_available": _D(
            "Time available",
            "The agent's time in the available state, waiting for a contact.",
        ),
        "time_on_contact": _D(
            "Time on contact",
            "The agent's time in the on-contact state, each wall-clock second once.",
        ),
        "time_wrap_up": _D(
            "Time in wrap-up",
            "The agent's time in the wrap-up state after contacts.",
        ),
        "time_aux": _D(
            "Time in aux",
            "The agent's time in aux states (break, lunch, meeting ...), per reason when one is given.",
        ),
    }
)


def as_json() -> dict[str, dict[str, str]]:
    """``{"<figure key>": {"label", "text"}}``, the answer of ``GET /api/v1/definitions``."""
    return {key: {"label": d.label, "text": d.text} for key, d in DEFINITIONS.items()}
