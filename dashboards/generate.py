"""Writes the Grafana dashboards of dashboards/json/ (run after editing; the JSON is committed).

    .venv/bin/python dashboards/generate.py

Three dashboards (Grafana 10/11 JSON model, schemaVersion 39), all on the provisioned
Prometheus datasource (uid ``floorwatch-prometheus``) with template variables ``queue`` and
``team``. Every API replica exports the same figures, so every expression aggregates with
``max by (...)``: two replicas never double a figure. tests/integration/test_prometheus.py runs
every expression against a real Prometheus scraping a real stack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "json"
DS = {"type": "prometheus", "uid": "floorwatch-prometheus"}
Q = 'queue=~"$queue"'
T = 'team=~"$team"'


def target(expr: str, legend: str, ref: str, instant: bool = False) -> dict[str, Any]:
    return {
        "datasource": DS,
        "expr": expr,
        "legendFormat": legend,
        "refId": ref,
        "range": not instant,
        "instant": instant,
    }


def panel(
    kind: str,
    title: str,
    targets: list[tuple[str, str]],
    *,
    x: int,
    y: int,
    w: int = 12,
    h: int = 8,
    unit: str = "short",
    description: str = "",
    thresholds: list[tuple[float | None, str]] | None = None,
    minmax: tuple[float | None, float | None] = (None, None),
    stack: bool = False,
    options: dict[str, Any] | None = None,
    instant: bool = False,
) -> dict[str, Any]:
    steps = [{"color": c, "value": v} for v, c in (thresholds or [(None, "green")])]
    defaults: dict[str, Any] = {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}}
    if minmax[0] is not None:
        defaults["min"] = minmax[0]
    if minmax[1] is not None:
        defaults["max"] = minmax[1]
    if kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"mode": "normal" if stack else "none", "group": "A"},
            "thresholdsStyle": {"mode": "line" if thresholds else "off"},
        }
    else:
        defaults["color"] = {"mode": "thresholds"}
    body: dict[str, Any] = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options
        or (
            {
                "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                "tooltip": {"mode": "multi", "sort": "none"},
            }
            if kind == "timeseries"
            else {}
        ),
        "targets": [target(e, legend, chr(ord("A") + i), instant) for i, (e, legend) in enumerate(targets)],
    }
    return body


def variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": f"{name}-values", "qryType": 1},
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "options": [],
        "hide": 0,
    }


QUEUE_VAR = variable("queue", "Queue", "label_values(floorwatch_queue_waiting_contacts, queue)")
TEAM_VAR = variable("team", "Team", "label_values(floorwatch_agents, team)")


def dashboard(
    uid: str,
    title: str,
    description: str,
    panels: list[dict[str, Any]],
    refresh: str = "15s",
    time_from: str = "now-12h",
) -> dict[str, Any]:
    for i, p in enumerate(panels, start=1):
        p["id"] = i
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["floorwatch"],
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "refresh": refresh,
        "timezone": "browser",
        "time": {"from": time_from, "to": "now"},
        "graphTooltip": 1,
        "templating": {"list": [QUEUE_VAR, TEAM_VAR]},
        "annotations": {"list": []},
        "links": [{"title": "Floorwatch", "type": "dashboards", "tags": ["floorwatch"], "asDropdown": True}],
        "panels": panels,
    }


SL_COLORS = [(None, "red"), (0.7, "orange"), (0.8, "green")]

MANAGEMENT = dashboard(
    "floorwatch-management",
    "Floorwatch — Management",
    "Service level per interval against target, abandon rate, ASA, AHT, staffing and forecast vs actual by queue; "
    "shrinkage, absence, late logins and AHT by team; today by channel.",
    [
        panel(
            "timeseries",
            "Service level, current interval vs target",
            [
                (f'max by (queue) (floorwatch_queue_service_level_ratio{{window="interval", {Q}}})', "{{queue}}"),
                (f"max by (queue) (floorwatch_queue_service_level_target_ratio{{{Q}}})", "{{queue}} target"),
            ],
            x=0,
            y=0,
            w=16,
            unit="percentunit",
            minmax=(0, 1),
            description="Service level of the running interval (resets at each interval start) by the "
            "queue's formula, and the queue's target (dashed in the legend).",
        ),
        panel(
            "bargauge",
            "Service level today",
            [
                (f'max by (queue) (floorwatch_queue_service_level_ratio{{window="today", {Q}}})', "{{queue}}"),
            ],
            x=16,
            y=0,
            w=8,
            unit="percentunit",
            minmax=(0, 1),
            thresholds=SL_COLORS,
            instant=True,
            options={
                "orientation": "horizontal",
                "displayMode": "gradient",
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            },
        ),
        panel(
            "timeseries",
            "Abandon rate (rolling 15 min)",
            [
                (f'max by (queue) (floorwatch_queue_abandon_rate_ratio{{window="rolling_15m", {Q}}})', "{{queue}}"),
            ],
            x=0,
            y=8,
            w=8,
            unit="percentunit",
            minmax=(0, None),
            thresholds=[(None, "green"), (0.1, "red")],
        ),
        panel(
            "timeseries",
            "ASA, current interval",
            [
                (f'max by (queue) (floorwatch_queue_asa_seconds{{window="interval", {Q}}})', "{{queue}}"),
            ],
            x=8,
            y=8,
            w=8,
            unit="s",
            minmax=(0, None),
        ),
        panel(
            "bargauge",
            "AHT by queue, today",
            [
                (f'max by (queue) (floorwatch_queue_aht_seconds{{window="today", {Q}}})', "{{queue}}"),
            ],
            x=16,
            y=8,
            w=8,
            unit="s",
            instant=True,
            options={
                "orientation": "horizontal",
                "displayMode": "basic",
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            },
        ),
        panel(
            "timeseries",
            "Contacts offered and answered, current interval",
            [
                (
                    f'max by (queue) (floorwatch_queue_contacts{{window="interval", outcome="offered", {Q}}})',
                    "{{queue}} offered",
                ),
                (
                    f'max by (queue) (floorwatch_queue_contacts{{window="interval", outcome="answered", {Q}}})',
                    "{{queue}} answered",
                ),
            ],
            x=0,
            y=16,
            w=12,
        ),
        panel(
            "table",
            "Today by queue and outcome",
            [
                (
                    f'max by (queue, outcome) (floorwatch_queue_contacts{{window="today", {Q}}})',
                    "{{queue}} {{outcome}}",
                ),
            ],
            x=12,
            y=16,
            w=12,
            instant=True,
            options={"showHeader": True, "cellHeight": "sm"},
        ),
        panel(
            "timeseries",
            "Staffed agents and staffing gap",
            [
                (f'max by (queue) (floorwatch_queue_agents{{state="staffed", {Q}}})', "{{queue}} staffed"),
                (f"max by (queue) (floorwatch_queue_staffing_gap_agents{{{Q}}})", "{{queue}} gap (required - staffed)"),
            ],
            x=0,
            y=24,
            w=24,
            description="Staffed = logged-in agents whose profile lists the queue. The gap appears when "
            "required agents are known (forecasts posted, so staffing figures exist); "
            "until then only staffed shows.",
        ),
        panel(
            "timeseries",
            "First contact resolution today by team",
            [
                (
                    f'sum by (team) (floorwatch_team_fcr_contacts{{outcome="resolved", {T}}}) / '
                    f'sum by (team) (floorwatch_team_fcr_contacts{{outcome="eligible", {T}}})',
                    "{{team}}",
                ),
            ],
            x=0,
            y=32,
            w=8,
            unit="percentunit",
            minmax=(0, 1),
            description="Contacts the team's agents answered today whose FCR window has closed, resolved at "
            "first contact (no call back within fcr.window_hours, no wrap-up saying unresolved) / "
            "all of them. Empty until windows close: read past days in /api/v1/quality.",
        ),
        panel(
            "timeseries",
            "Repeat contacts today",
            [
                (f'max by (queue) (floorwatch_queue_repeat_contact_ratio{{window="today", {Q}}})', "{{queue}}"),
            ],
            x=8,
            y=32,
            w=8,
            unit="percentunit",
            minmax=(0, None),
            description="Contacts offered today from a caller who had another contact in the previous FCR "
            "window / contacts offered today with a known caller.",
        ),
        panel(
            "bargauge",
            "CSAT today (share satisfied)",
            [
                (f'max by (queue) (floorwatch_queue_csat_satisfied_ratio{{window="today", {Q}}})', "{{queue}}"),
            ],
            x=16,
            y=32,
            w=8,
            unit="percentunit",
            minmax=(0, 1),
            instant=True,
            thresholds=[(None, "red"), (0.7, "orange"), (0.85, "green")],
            options={
                "orientation": "horizontal",
                "displayMode": "gradient",
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            },
        ),
        panel(
            "timeseries",
            "Transfer rate today",
            [
                (f'max by (queue) (floorwatch_queue_transfer_ratio{{window="today", {Q}}})', "{{queue}}"),
            ],
            x=0,
            y=40,
            w=24,
            unit="percentunit",
            minmax=(0, None),
            description="Handled contacts offered today whose conversation ended by a transfer / handled "
            "contacts offered today (omitted while none is handled).",
        ),
        panel(
            "bargauge",
            "Shrinkage today by team",
            [
                (f"max by (team) (floorwatch_team_shrinkage_ratio{{{T}}})", "{{team}}"),
            ],
            x=0,
            y=48,
            w=6,
            unit="percentunit",
            minmax=(0, 1),
            instant=True,
            thresholds=[(None, "green"), (0.3, "orange"), (0.4, "red")],
            description="(Scheduled time off the phones: breaks, lunch, meetings, training + aux time during "
            "scheduled work) / scheduled time of the team's agents, today so far (/api/v1/teams).",
            options={
                "orientation": "horizontal",
                "displayMode": "gradient",
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            },
        ),
        panel(
            "timeseries",
            "Absent agents by team",
            [
                (f"max by (team) (floorwatch_team_absent_agents{{{T}}})", "{{team}}"),
            ],
            x=6,
            y=48,
            w=6,
            stack=True,
            description="Agents whose shift of today has started and who have not logged in yet (an agent "
            "who logs in later turns from absent to late).",
        ),
        panel(
            "timeseries",
            "Late logins today by team",
            [
                (f"max by (team) (floorwatch_team_late_logins{{{T}}})", "{{team}}"),
            ],
            x=12,
            y=48,
            w=6,
            stack=True,
            description="Agents whose first login of today's shift came after the shift's start.",
        ),
        panel(
            "bargauge",
            "AHT today by team",
            [
                (f"max by (team) (floorwatch_team_aht_seconds{{{T}}})", "{{team}}"),
            ],
            x=18,
            y=48,
            w=6,
            unit="s",
            instant=True,
            description="(Talk + hold + wrap-up) / handled of the contacts the team's agents answered today.",
            options={
                "orientation": "horizontal",
                "displayMode": "basic",
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            },
        ),
        panel(
            "bargauge",
            "Contacts offered today by channel",
            [
                ("max by (channel) (floorwatch_channel_offered_contacts)", "{{channel}}"),
            ],
            x=0,
            y=56,
            w=8,
            instant=True,
            description="Contacts offered today to the channel's queues (all queues of the channel, "
            "whatever the queue filter).",
            options={
                "orientation": "horizontal",
                "displayMode": "basic",
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            },
        ),
        panel(
            "timeseries",
            "Service level today by channel",
            [
                ("max by (channel) (floorwatch_channel_service_level_ratio)", "{{channel}}"),
            ],
            x=8,
            y=56,
            w=8,
            unit="percentunit",
            minmax=(0, 1),
            description="The channel's queues' counters summed, then the service level by the formula they "
            "share (else queue_defaults.sl_formula): not an average of the queues' service levels.",
        ),
        panel(
            "timeseries",
            "Transfer rate today by channel",
            [
                ("max by (channel) (floorwatch_channel_transfer_ratio)", "{{channel}}"),
            ],
            x=16,
            y=56,
            w=8,
            unit="percentunit",
            minmax=(0, None),
            description="Handled contacts offered today to the channel's queues whose conversation ended by a "
            "transfer / handled contacts (omitted while none is handled).",
        ),
        panel(
            "timeseries",
            "Forecast vs actual offered, current interval",
            [
                (f"max by (queue) (floorwatch_queue_forecast_offered_contacts{{{Q}}})", "{{queue}} forecast"),
                (
                    f'max by (queue) (floorwatch_queue_contacts{{window="interval", outcome="offered", {Q}}})',
                    "{{queue}} actual",
                ),
            ],
            x=0,
            y=64,
            w=12,
            description="Forecast: the contacts the day's latest forecast publication gives the running "
            "interval (a step per interval; absent without a forecast). Actual: contacts offered in the "
            "running interval so far, so it climbs and should meet the step at the interval's end. "
            "Past days and periods: /api/v1/staffing?from=&to=&group=.",
        ),
        panel(
            "timeseries",
            "Required vs staffed agents",
            [
                (f"max by (queue) (floorwatch_queue_required_agents{{{Q}}})", "{{queue}} required"),
                (f'max by (queue) (floorwatch_queue_agents{{state="staffed", {Q}}})', "{{queue}} staffed"),
            ],
            x=12,
            y=64,
            w=12,
            description="Required: Erlang C agents for the running interval's forecast, else for the rolling "
            "15-minute arrival rate and 60-minute AHT (absent when unknown or over "
            "staffing.max_agents_per_queue). Staffed: logged-in agents whose profile lists the queue.",
        ),
        panel(
            "bargauge",
            "Forecast accuracy today (WAPE)",
            [
                (f"max by (queue, measure) (floorwatch_queue_forecast_wape_ratio{{{Q}}})", "{{queue}} {{measure}}"),
            ],
            x=0,
            y=72,
            w=24,
            unit="percentunit",
            minmax=(0, None),
            instant=True,
            thresholds=[(None, "green"), (0.15, "orange"), (0.3, "red")],
            description="Weighted absolute percentage error of today's forecast over the intervals with a "
            "forecast that have ended: offered = sum |actual - forecast| / sum actual; aht = sum handled x "
            "|AHT - forecast AHT| / sum handle time. 0 is a perfect forecast; the colours (15 %, 30 %) "
            "are a guide, not a standard.",
            options={
                "orientation": "horizontal",
                "displayMode": "gradient",
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            },
        ),
    ],
)

FLOOR = dashboard(
    "floorwatch-floor",
    "Floorwatch — Floor",
    "What supervisors watch: waiting contacts, longest wait, agents by state per team, adherence, alerts.",
    [
        panel(
            "stat",
            "Waiting now",
            [
                (f"max by (queue) (floorwatch_queue_waiting_contacts{{{Q}}})", "{{queue}}"),
            ],
            x=0,
            y=0,
            w=12,
            h=5,
            thresholds=[(None, "green"), (5, "orange"), (10, "red")],
            instant=True,
            options={
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "background",
                "graphMode": "none",
                "textMode": "value_and_name",
            },
        ),
        panel(
            "stat",
            "Longest wait now",
            [
                (f"max by (queue) (floorwatch_queue_longest_wait_seconds{{{Q}}})", "{{queue}}"),
            ],
            x=12,
            y=0,
            w=12,
            h=5,
            unit="s",
            thresholds=[(None, "green"), (60, "orange"), (120, "red")],
            instant=True,
            options={
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "background",
                "graphMode": "none",
                "textMode": "value_and_name",
            },
        ),
        panel(
            "timeseries",
            "Waiting contacts",
            [
                (f"max by (queue) (floorwatch_queue_waiting_contacts{{{Q}}})", "{{queue}}"),
            ],
            x=0,
            y=5,
            w=12,
        ),
        panel(
            "timeseries",
            "Agents by state per team",
            [
                (f'max by (team, state) (floorwatch_agents{{state!="logged_out", {T}}})', "{{team}} {{state}}"),
            ],
            x=12,
            y=5,
            w=12,
            stack=True,
        ),
        panel(
            "bargauge",
            "Adherence today by team",
            [
                (f"max by (team) (floorwatch_team_adherence_ratio{{{T}}})", "{{team}}"),
            ],
            x=0,
            y=13,
            w=8,
            unit="percentunit",
            minmax=(0, 1),
            thresholds=[(None, "red"), (0.85, "orange"), (0.9, "green")],
            instant=True,
            options={
                "orientation": "horizontal",
                "displayMode": "gradient",
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            },
        ),
        panel(
            "timeseries",
            "Agents out of adherence",
            [
                (f"max by (team) (floorwatch_agents_out_of_adherence{{{T}}})", "{{team}}"),
            ],
            x=8,
            y=13,
            w=8,
            stack=True,
        ),
        panel(
            "timeseries",
            "Alerts firing",
            [
                ("max by (kind, severity) (floorwatch_alerts_firing)", "{{kind}} ({{severity}})"),
            ],
            x=16,
            y=13,
            w=8,
            stack=True,
        ),
        panel(
            "timeseries",
            "Agents per queue by state",
            [
                (f'max by (queue, state) (floorwatch_queue_agents{{state!="staffed", {Q}}})', "{{queue}} {{state}}"),
            ],
            x=0,
            y=21,
            w=24,
            stack=True,
        ),
        panel(
            "timeseries",
            "Occupancy by team (rolling 15 min)",
            [
                (f"max by (team) (floorwatch_team_occupancy_ratio{{{T}}})", "{{team}}"),
            ],
            x=0,
            y=29,
            w=16,
            unit="percentunit",
            minmax=(0, 1),
            thresholds=[(None, "green"), (0.9, "red")],
            description="Handle time (on contact + wrap-up) / (handle + available) of the team's agents over "
            "the last 15 minutes, agent time summed first (a chat agent's second counts once however many "
            "chats it holds). The line is the default alerts.occupancy_high threshold (0.9). Omitted for "
            "a team with no handle or available time in the window.",
        ),
        panel(
            "stat",
            "Floor occupancy (rolling 15 min)",
            [
                ("max(floorwatch_floor_occupancy_ratio)", "floor"),
            ],
            x=16,
            y=29,
            w=8,
            unit="percentunit",
            minmax=(0, 1),
            thresholds=[(None, "green"), (0.9, "red")],
            description="The same ratio over every agent, with or without a team.",
            options={
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "value",
                "graphMode": "area",
                "textMode": "value",
            },
        ),
    ],
    refresh="10s",
    time_from="now-3h",
)

PIPELINE = dashboard(
    "floorwatch-pipeline",
    "Floorwatch — Pipeline health",
    "Events processed and rejected, staleness of the figures, API scrape and readiness.",
    [
        panel(
            "timeseries",
            "Events processed by the workers",
            [
                ("max by (topic) (rate(floorwatch_events_processed_total[$__rate_interval]))", "{{topic}}"),
            ],
            x=0,
            y=0,
            w=12,
            unit="ops",
            description="Rate of the worker group's committed offsets on the input topics (dead letters "
            "included), as read by the API every 5 s.",
        ),
        panel(
            "timeseries",
            "Events rejected (dead letters)",
            [
                ("max by (reason) (rate(floorwatch_events_rejected_total[$__rate_interval]))", "{{reason}}"),
            ],
            x=12,
            y=0,
            w=12,
            unit="ops",
        ),
        panel(
            "timeseries",
            "Pipeline lag (age of the newest worker output)",
            [
                ("max(floorwatch_pipeline_lag_seconds)", "lag"),
            ],
            x=0,
            y=8,
            w=12,
            unit="s",
            thresholds=[(None, "green"), (30, "red")],
            description="Now minus the newest computed_ms/updated_ms in the API's view; workers republish "
            "every 5 s, so a healthy value stays under ~6 s. Alert above 30 s.",
        ),
        panel(
            "timeseries",
            "HTTP ingest",
            [
                ("sum(rate(floorwatch_api_events_accepted_total[$__rate_interval]))", "accepted"),
                (
                    "sum by (reason) (rate(floorwatch_api_events_rejected_total[$__rate_interval]))",
                    "rejected {{reason}}",
                ),
            ],
            x=12,
            y=8,
            w=12,
            unit="ops",
        ),
        panel(
            "stat",
            "API scrape up",
            [
                ('up{job="floorwatch-api"}', "{{instance}}"),
            ],
            x=0,
            y=16,
            w=6,
            h=5,
            thresholds=[(None, "red"), (1, "green")],
            instant=True,
            options={
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "background",
                "graphMode": "none",
                "textMode": "value_and_name",
            },
        ),
        panel(
            "stat",
            "View ready",
            [
                ('floorwatch_view_ready{job="floorwatch-api"}', "{{instance}}"),
            ],
            x=6,
            y=16,
            w=6,
            h=5,
            thresholds=[(None, "red"), (1, "green")],
            instant=True,
            options={
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "colorMode": "background",
                "graphMode": "none",
                "textMode": "value_and_name",
            },
        ),
        panel(
            "timeseries",
            "Output records applied by the API view",
            [
                ('rate(floorwatch_view_records_total{job="floorwatch-api"}[$__rate_interval])', "{{instance}}"),
                ('rate(floorwatch_view_bad_records_total{job="floorwatch-api"}[$__rate_interval])', "{{instance}} bad"),
            ],
            x=12,
            y=16,
            w=12,
            h=5,
            unit="ops",
        ),
        panel(
            "timeseries",
            "/metrics scrape duration",
            [
                ('scrape_duration_seconds{job="floorwatch-api"}', "{{instance}}"),
            ],
            x=0,
            y=21,
            w=24,
            h=6,
            unit="s",
            thresholds=[(None, "green"), (0.25, "orange")],
        ),
        panel(
            "timeseries",
            "Alert notifications by channel",
            [
                (
                    "sum by (channel, outcome) (max by (worker, channel, outcome) "
                    "(increase(floorwatch_alert_notifications_total[$__rate_interval])))",
                    "{{channel}} {{outcome}}",
                ),
                (
                    "sum by (channel) (max by (worker, channel) (floorwatch_alert_notification_queue_depth))",
                    "{{channel}} queued",
                ),
            ],
            x=0,
            y=27,
            w=24,
            h=8,
            description="Alert notifications per routed channel (alerts.channels id) or webhook "
            "(alerts.webhooks label), summed over the workers: delivered, failed (refused or every "
            "attempt failed), dropped (its queue was full), quiet_hours (held back by a route's quiet "
            "hours); and the notifications waiting in the channels' queues. Alert on failed or dropped.",
        ),
    ],
    time_from="now-1h",
)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, board in (("management", MANAGEMENT), ("floor", FLOOR), ("pipeline", PIPELINE)):
        (OUT / f"floorwatch-{name}.json").write_text(json.dumps(board, indent=2) + "\n")


if __name__ == "__main__":
    main()
