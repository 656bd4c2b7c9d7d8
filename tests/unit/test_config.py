from pathlib import Path

import pytest

from floorwatch.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    import os

    for var in list(os.environ):
        if var.startswith("FLOORWATCH_"):
            monkeypatch.delenv(var)


def test_example_config_loads(monkeypatch):
    monkeypatch.setenv("FLOORWATCH_CONFIG", str(ROOT / "floorwatch.yaml"))
    s = load_settings()
    assert [q.id for q in s.queues] == ["sales", "support", "chat"]
    assert s.timezone == "Asia/Shanghai" and s.interval_minutes == 30
    assert s.adherence.activity_states["off"] == ["logged_out"]
    assert s.queue("chat").sl_formula == "answered_over_answered_and_late_abandons"
    # a queue seen only in events gets queue_defaults
    assert s.queue("billing").sl_threshold_s == 20 and s.queue("billing").name == "billing"


def test_env_overrides_yaml(monkeypatch):
    monkeypatch.setenv("FLOORWATCH_CONFIG", str(ROOT / "floorwatch.yaml"))
    monkeypatch.setenv("FLOORWATCH_KAFKA", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("FLOORWATCH_API_PORT", "9100")
    monkeypatch.setenv("FLOORWATCH_TIMEZONE", "Europe/Berlin")
    monkeypatch.setenv("FLOORWATCH_ADHERENCE__GRACE_S", "90")
    s = load_settings()
    assert s.kafka.bootstrap == "kafka-1:9092,kafka-2:9092"
    assert s.api.port == 9100 and s.timezone == "Europe/Berlin" and s.adherence.grace_s == 90
    assert s.api.host == "127.0.0.1"  # untouched keys keep the YAML value


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("timezone: Mars/Olympus\n", "'timezone'"),
        ("interval_minutes: 25\n", "'interval_minutes'"),
        ("queues: [{id: a, sl_target: 1.5}]\n", "'queues.0.sl_target'"),
        ("queues: [{id: a, sl_formula: magic}]\n", "'queues.0.sl_formula'"),
        ("alerts: {waiting_maxx: 3}\n", "'alerts.waiting_maxx'"),
        ("auth: {tokens: [{name: x, sha256: short, roles: [viewer]}]}\n", "'auth.tokens.0.sha256'"),
        ("queues: [{id: a}, {id: a}]\n", "duplicate queue id"),
        ("timezone: [\n", "not valid YAML"),
    ],
)
def test_invalid_config_names_the_key(tmp_path, monkeypatch, yaml_text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    monkeypatch.setenv("FLOORWATCH_CONFIG", str(path))
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_explicit_config_file_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("FLOORWATCH_CONFIG", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings()


def test_publish_interval_is_a_worker_setting_and_the_old_name_still_reads(monkeypatch) -> None:
    assert Settings().worker.publish_interval_s == 0.1
    assert Settings(api={"publish_interval_s": 0.25}).worker.publish_interval_s == 0.25
    both = Settings(api={"publish_interval_s": 0.25}, worker={"publish_interval_s": 0.5})
    assert both.worker.publish_interval_s == 0.5  # the explicit worker value wins
    monkeypatch.setenv("FLOORWATCH_API__PUBLISH_INTERVAL_S", "0.3")
    assert Settings().worker.publish_interval_s == 0.3
