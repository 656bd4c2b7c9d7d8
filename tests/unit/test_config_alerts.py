"""alerts.channels, alerts.routes and queues[].alerts: validation, secrets out of reprs, and the
per-queue thresholds the queue alert rules read."""

import typing

import pytest

from floorwatch.config import AlertKind, ConfigError, Settings, load_settings
from floorwatch.domain import alerts as domain_alerts
from floorwatch.domain.alerts import (
    QUEUE_ABANDON_RATE,
    QUEUE_LONGEST_WAIT,
    QUEUE_SERVICE_LEVEL,
    QUEUE_WAITING,
    queue_conditions,
    queue_limits,
    queue_rules,
)

AM = {"id": "am", "type": "alertmanager", "url": "http://alertmanager:9093"}
MAIL = {
    "id": "floor-mail",
    "type": "email",
    "smtp_host": "smtp.example.test",
    "sender": "floorwatch@example.test",
    "to": ["sup@example.test"],
    "username": "fw",
    "password": "smtp-pa55",
}
HOOK = {"id": "chat", "type": "webhook", "url": "https://chat.example.test/x", "secret": "hook-s3cret"}


def route(**kw: object) -> dict:
    """alerts: with the channel ``am`` and one route to it with ``kw``."""
    return {"channels": [AM], "routes": [{"channels": ["am"], **kw}]}


def alerts(**kw: object) -> Settings:
    return load_settings(alerts=kw)


def test_the_route_kinds_are_the_kinds_the_domain_raises():
    raised = {domain_alerts.ADHERENCE_BREAK, domain_alerts.OCCUPANCY_HIGH, *domain_alerts.QUEUE_KINDS}
    assert set(typing.get_args(AlertKind)) == raised


def test_channels_and_routes_parse_with_defaults():
    s = alerts(channels=[AM, MAIL, HOOK], routes=[{"channels": ["am", "floor-mail"], "continue": True}])
    am, mail, hook = s.alerts.channels
    assert (am.type, mail.type, hook.type) == ("alertmanager", "email", "webhook")
    assert (mail.smtp_port, mail.starttls) == (25, False)
    route = s.alerts.routes[0]
    assert route.continue_ is True and route.quiet_hours is None
    assert route.match.kinds == route.match.queues == route.match.teams == route.match.severities == []
    assert alerts(routes=[], channels=[AM]).alerts.routes == []
    assert load_settings().alerts.channels == [] and load_settings().alerts.routes == []


def test_secrets_stay_out_of_the_settings_repr():
    s = alerts(channels=[MAIL, HOOK])
    text = repr(s) + str(s.alerts)
    assert "smtp-pa55" not in text and "hook-s3cret" not in text
    assert s.alerts.channels[0].password == "smtp-pa55"  # still there to use


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ({"routes": [{"channels": ["nope"]}], "channels": [AM]}, "alerts"),
        ({"channels": [AM, {**AM, "url": "http://other:9093"}]}, "alerts"),  # duplicate id
        ({"channels": [{**MAIL, "to": []}]}, "alerts.channels.0.email.to"),
        ({"channels": [{**MAIL, "to": [f"a{i}@x.test" for i in range(51)]}]}, "alerts.channels.0.email.to"),
        ({"channels": [{**MAIL, "to": ["not an address"]}]}, "alerts.channels.0.email.to.0"),
        ({"channels": [{**AM, "type": "pager"}]}, "alerts.channels.0"),
        ({"channels": [{**AM, "id": "has space"}]}, "alerts.channels.0.alertmanager.id"),
        ({"channels": [{**AM, "url": "alertmanager:9093"}]}, "alerts.channels.0.alertmanager.url"),
        ({"channels": [{**HOOK, "secret": ""}]}, "alerts.channels.0.webhook.secret"),
        ({"channels": [{**AM, "id": f"c{i}"} for i in range(101)]}, "alerts.channels"),
        ({"channels": [AM], "routes": [{"channels": ["am"]}] * 201}, "alerts.routes"),
        ({"channels": [AM], "routes": [{"channels": []}]}, "alerts.routes.0.channels"),
        (route(match={"kinds": ["bogus"]}), "alerts.routes.0.match.kinds.0"),
        (route(match={"severities": ["info"]}), "alerts.routes.0.match.severities.0"),
        (route(quiet_hours={"start": "24:00", "end": "07:00"}), "alerts.routes.0.quiet_hours.start"),
        (route(quiet_hours={"start": "7:00", "end": "08:00"}), "alerts.routes.0.quiet_hours.start"),
        (route(quiet_hours={"start": "08:00", "end": "08:00"}), "alerts.routes.0.quiet_hours"),
        (
            route(quiet_hours={"start": "08:00", "end": "09:00", "days": ["monday"]}),
            "alerts.routes.0.quiet_hours.days.0",
        ),
        (route(match={"agents": ["a1"]}), "alerts.routes.0.match.agents"),
    ],
)
def test_invalid_alert_settings_name_the_key(value, key):
    with pytest.raises(ConfigError) as err:
        load_settings(alerts=value)
    assert str(err.value).startswith(f"invalid config key '{key}'")


def test_unknown_channel_message_names_route_and_channel():
    with pytest.raises(ConfigError, match=r"routes\[1\] names unknown channel 'mail'"):
        alerts(channels=[AM], routes=[{"channels": ["am"]}, {"channels": ["am", "mail"]}])


def test_queue_overrides_validate():
    s = load_settings(queues=[{"id": "vip", "alerts": {"waiting_max": 2, "abandon_rate_max": 0.05}}, {"id": "b"}])
    vip = s.queue("vip").alerts
    assert (vip.waiting_max, vip.longest_wait_max_s, vip.min_contacts, vip.abandon_rate_max) == (2, None, None, 0.05)
    assert s.queue("b").alerts.waiting_max is None
    assert s.queue("seen-only-in-events").alerts.waiting_max is None
    with pytest.raises(ConfigError, match=r"queues\.0\.alerts\.abandon_rate_max"):
        load_settings(queues=[{"id": "vip", "alerts": {"abandon_rate_max": 1.5}}])
    with pytest.raises(ConfigError, match=r"queues\.0\.alerts\.sl_target"):
        load_settings(queues=[{"id": "vip", "alerts": {"sl_target": 0.5}}])


def test_queue_limits_take_each_set_override_and_keep_the_rest():
    s = load_settings(
        alerts={"waiting_max": 10, "longest_wait_max_s": 120, "min_contacts": 10, "abandon_rate_max": 0.1},
        queues=[{"id": "vip", "alerts": {"waiting_max": 3, "min_contacts": 4}}, {"id": "plain"}],
    )
    vip = queue_limits(s.alerts, s.queue("vip").alerts)
    assert (vip.waiting_max, vip.longest_wait_max_s, vip.min_contacts, vip.abandon_rate_max) == (3, 120.0, 4, 0.1)
    plain = queue_limits(s.alerts, s.queue("plain").alerts)
    assert (plain.waiting_max, plain.longest_wait_max_s, plain.min_contacts, plain.abandon_rate_max) == (
        10,
        120.0,
        10,
        0.1,
    )
    assert queue_limits(s.alerts, None) == plain


def test_rules_and_conditions_read_the_queue_override():
    s = load_settings(
        alerts={"timing": {"queue_waiting": {"min_duration_s": 5}}},
        queues=[{"id": "vip", "alerts": {"waiting_max": 3, "longest_wait_max_s": 30, "abandon_rate_max": 0.05}}],
    )
    limits = queue_limits(s.alerts, s.queue("vip").alerts)
    rules = queue_rules(limits, 0.9)
    # waiting: fire > 3, clear <= floor(0.8 * 3) = 2, critical > 6; the global timing still applies
    w = rules[QUEUE_WAITING]
    assert (w.threshold, w.clear_threshold, w.critical_threshold, w.min_duration_s) == (3.0, 2, 6.0, 5)
    lw = rules[QUEUE_LONGEST_WAIT]
    assert (lw.threshold, lw.clear_threshold, lw.critical_threshold) == (30.0, 24.0, 60.0)
    ab = rules[QUEUE_ABANDON_RATE]
    assert (ab.threshold, ab.clear_threshold, ab.critical_threshold) == (0.05, 0.05 * 0.8, 0.1)
    assert rules[QUEUE_SERVICE_LEVEL].threshold == 0.9
    # min_contacts stays the global 10: 9 contacts are no evidence, 10 are
    base = dict(
        waiting=0,
        longest_wait_s=None,
        rolling_15m_abandon_rate=0.5,
        rolling_15m_contacts=9,
        required_agents=None,
        staffed=0,
        interval_service_level=0.5,
    )
    assert queue_conditions(limits, interval_contacts=9, **base)[QUEUE_SERVICE_LEVEL] is None
    assert queue_conditions(limits, interval_contacts=10, **base)[QUEUE_SERVICE_LEVEL] == 0.5
    fewer = queue_limits(s.alerts, type("O", (), {"min_contacts": 9})())
    assert queue_conditions(fewer, interval_contacts=9, **base)[QUEUE_ABANDON_RATE] == 0.5


def test_the_examples_of_docs_alerts_md_are_valid_settings():
    import re
    from pathlib import Path

    import yaml

    text = (Path(__file__).parents[2] / "docs" / "alerts.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    channels, routes, per_queue = blocks
    s = load_settings(alerts={**channels["alerts"], **routes["alerts"]})
    assert [c.id for c in s.alerts.channels] == ["ops-chat", "floor-mail", "am"]
    assert [r.continue_ for r in s.alerts.routes] == [False, True, False, False]
    assert s.alerts.routes[2].quiet_hours is not None and s.alerts.routes[2].quiet_hours.days[-1] == "fri"
    q = load_settings(**per_queue)
    vip = queue_limits(q.alerts, q.queue("vip").alerts)
    assert (vip.waiting_max, vip.longest_wait_max_s, vip.min_contacts, vip.abandon_rate_max) == (2, 30.0, 10, 0.1)
