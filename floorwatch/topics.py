"""Topic names and roles; one place, imported by worker, API and tools (record shapes:
``floorwatch.records``)."""

CONTACT_EVENTS = "fw.contact-events"
AGENT_EVENTS = "fw.agent-events"
SCHEDULES = "fw.schedules"
FORECASTS = "fw.forecasts"

QUEUE_STATS = "fw.queue-stats"
INTERVAL_STATS = "fw.interval-stats"
AGENT_STATUS = "fw.agent-status"
ADHERENCE = "fw.adherence"
ALERTS = "fw.alerts"
DEAD_LETTERS = "fw.dead-letters"
ALERT_ACKS = "fw.alert-acks"
QUALITY_STATS = "fw.quality-stats"
# each worker's heartbeat (liveness, owned partitions, rebalancing), keyed by worker id
WORKER_STATUS = "fw.worker-status"

# the worker's Faust app id: its consumer group on the input topics and the prefix of its table
# changelogs (``{WORKER_APP_ID}-{table}-changelog``); the API and the broker tools read it here
WORKER_APP_ID = "floorwatch"

# internal: contact projections keyed by hashed customer (first contact resolution)
CUSTOMER_CONTACTS = "fw.customer-contacts"

INPUTS = (CONTACT_EVENTS, AGENT_EVENTS, SCHEDULES, FORECASTS)
OUTPUTS = (
    QUEUE_STATS,
    INTERVAL_STATS,
    AGENT_STATUS,
    ADHERENCE,
    ALERTS,
    DEAD_LETTERS,
    ALERT_ACKS,
    QUALITY_STATS,
    WORKER_STATUS,
)
INTERNAL = (CUSTOMER_CONTACTS,)
COMPACTED = frozenset(OUTPUTS) - {DEAD_LETTERS}
# topics every worker consumes: each partition of these must be owned by a live worker
CONSUMED = (*INPUTS, *INTERNAL)
