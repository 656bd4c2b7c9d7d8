"""deploy/ and dashboards/ files parse, name real images with explicit tags, and reference only
files, commands and settings that exist. (No container engine here: nothing is built or run.)"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
# image -> tags used; all are published on Docker Hub (official image for python)
KNOWN_IMAGES = {
    "apache/kafka",
    "prom/prometheus",
    "prom/alertmanager",
    "grafana/grafana",
    "python",
    "floorwatch",
    "registry.example.invalid/floorwatch",
}
TAG = re.compile(r"^(v?\d+\.\d+(\.\d+)?(-[a-z0-9.]+)?|\d+\.\d+-slim)$")


def check_image(ref: str) -> None:
    name, _, tag = ref.rpartition(":")
    assert name in KNOWN_IMAGES, ref
    assert TAG.match(tag) and tag != "latest", f"{ref}: explicit version tag expected"


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def k8s_docs() -> list[tuple[str, dict]]:
    out = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        out.extend((path.name, d) for d in yaml.safe_load_all(path.read_text()) if d)
    return out


def test_compose_images_files_and_commands() -> None:
    from floorwatch.cli import build_parser

    commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    services = compose()["services"]
    assert {"kafka", "worker-1", "worker-2", "api", "prometheus", "alertmanager", "grafana"} <= set(services)
    for name, svc in services.items():
        check_image(svc["image"])
        build = svc.get("build")
        if build:
            assert (DEPLOY / build["context"] / build["dockerfile"]).is_file(), name
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
        if svc["image"].startswith("floorwatch"):
            assert svc["command"][0] in commands, (name, svc["command"])
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    # the provisioning and dashboards mounts are where the provider files say
    provider = yaml.safe_load((ROOT / "dashboards/provisioning/dashboards/floorwatch.yml").read_text())
    mounts = dict(v.split(":")[:2] for v in services["grafana"]["volumes"] if v.startswith("."))
    assert mounts["../dashboards/json"] == provider["providers"][0]["options"]["path"]
    assert mounts["../dashboards/provisioning"] == "/etc/grafana/provisioning"
    prom = [v for v in services["prometheus"]["volumes"] if v.startswith(".")][0]
    assert prom.startswith("./prometheus:/etc/prometheus")


def test_dockerfile() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    assert 'ENTRYPOINT ["floorwatch"]' in text and "pip install ." in text
    for source in re.findall(r"^COPY (\S+)", text, re.M):
        assert (ROOT / source).exists(), source


def test_kubernetes_manifests() -> None:
    docs = k8s_docs()
    kinds = {(d["kind"], d["metadata"]["name"]) for _, d in docs if d["kind"] != "Kustomization"}
    assert {
        ("Deployment", "floorwatch-worker"),
        ("Deployment", "floorwatch-api"),
        ("Service", "floorwatch-api"),
        ("ConfigMap", "floorwatch-config"),
        ("Secret", "floorwatch-tokens"),
        ("Job", "floorwatch-create-topics"),
    } <= kinds
    for name, d in docs:
        assert d.get("apiVersion") and d.get("kind"), name
        spec = d.get("spec", {}).get("template", {}).get("spec", {})
        for c in spec.get("containers", []):
            check_image(c["image"])
            for ref in c.get("envFrom", []):
                assert ("Secret", ref["secretRef"]["name"]) in kinds
        for v in spec.get("volumes", []):
            if "configMap" in v:
                assert ("ConfigMap", v["configMap"]["name"]) in kinds
    kustomization = next(d for _, d in docs if d["kind"] == "Kustomization")
    for resource in kustomization["resources"]:
        assert (DEPLOY / "k8s" / resource).is_file(), resource
    by_name = {d["metadata"]["name"]: d for _, d in docs if d["kind"] != "Kustomization"}
    assert by_name["floorwatch-worker"]["spec"]["replicas"] >= 2
    service = by_name["floorwatch-api"]  # the Service (same name as the Deployment, listed after it)
    assert by_name["floorwatch-config"]["data"]["floorwatch.yaml"] == (DEPLOY / "floorwatch.yaml").read_text()
    assert (
        by_name["floorwatch-topics-script"]["data"]["create-topics.sh"]
        == (DEPLOY / "kafka/create-topics.sh").read_text()
    )
    assert service["kind"] == "Service" and service["spec"]["ports"][0]["port"] == 8000


@pytest.mark.usefixtures("isolated_config")
def test_deploy_config_and_token_secret_load(monkeypatch: pytest.MonkeyPatch) -> None:
    from floorwatch.config import load_settings

    secret = next(d for _, d in k8s_docs() if d["kind"] == "Secret")
    monkeypatch.setenv("FLOORWATCH_CONFIG", str(DEPLOY / "floorwatch.yaml"))
    for key, value in secret["stringData"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("FLOORWATCH_KAFKA", "kafka-bootstrap.kafka.svc:9092")
    settings = load_settings()
    assert [t.roles for t in settings.auth.tokens] == [["viewer"], ["supervisor"], ["ingest"]]
    assert settings.kafka.bootstrap == "kafka-bootstrap.kafka.svc:9092" and settings.kafka.partitions == 8
    assert settings.api.host == "0.0.0.0"


def test_topic_script_covers_every_topic() -> None:
    from floorwatch import topics

    script = (DEPLOY / "kafka/create-topics.sh").read_text()
    for topic in (*topics.INPUTS, *topics.OUTPUTS):
        assert topic in script, topic
    compacted = re.search(r"for t in (fw\.queue-stats[^;]*);", script)
    assert compacted and set(compacted[1].split()) == set(topics.COMPACTED)


def test_dashboards_are_generated_and_use_the_provisioned_datasource() -> None:
    import runpy

    module = runpy.run_path(str(ROOT / "dashboards/generate.py"), run_name="dashboards_generate")
    datasource = yaml.safe_load((ROOT / "dashboards/provisioning/datasources/prometheus.yml").read_text())
    uid = datasource["datasources"][0]["uid"]
    for name in ("management", "floor", "pipeline"):
        path = ROOT / f"dashboards/json/floorwatch-{name}.json"
        board = json.loads(path.read_text())
        assert board == json.loads(json.dumps(module[name.upper()])), f"{path.name}: run dashboards/generate.py"
        assert {v["name"] for v in board["templating"]["list"]} == {"queue", "team"}
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == uid
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == uid and target["expr"]


def test_topic_script_creates_every_topic_a_worker_waits_for() -> None:
    """A worker that creates no topics waits for ``worker_topics``: the script makes each one,
    the changelogs compacted and the leader topic with one partition."""
    from floorwatch.services.broker import CHANGELOGS, LEADER_TOPIC, worker_topics

    script = (DEPLOY / "kafka/create-topics.sh").read_text()
    created: set[str] = set()
    for names in re.findall(r"^for t in ([^;]*); do\n\s+create ", script, re.M):
        created.update(names.split())
    single = {name: n for n, name in re.findall(r"^create_n (\d+) (\S+)", script, re.M)}
    created.update(single)
    created.update(re.findall(r"^create (fw\.\S+)", script, re.M))
    assert created == set(worker_topics(8))
    assert single == {LEADER_TOPIC: "1"}
    changelogs = re.search(r"for t in (floorwatch-[^;]*);\s+do\n\s+create \"\$t\" \"cleanup.policy=compact\"", script)
    assert changelogs and tuple(changelogs[1].split()) == CHANGELOGS


@pytest.mark.usefixtures("isolated_config")
def test_deployed_workers_create_no_topics_and_wait_for_the_topics_step(monkeypatch: pytest.MonkeyPatch) -> None:
    from floorwatch.config import load_settings

    monkeypatch.setenv("FLOORWATCH_CONFIG", str(DEPLOY / "floorwatch.yaml"))
    # Kubernetes: the worker container's own environment on top of the ConfigMap's file
    worker = next(
        d for _, d in k8s_docs() if d["kind"] == "Deployment" and d["metadata"]["name"] == "floorwatch-worker"
    )
    containers = worker["spec"]["template"]["spec"]["containers"]
    for env in containers[0].get("env", []):
        if env["name"].startswith("FLOORWATCH_KAFKA"):
            monkeypatch.setenv(env["name"], env["value"])
    settings = load_settings()
    assert settings.kafka.create_topics is False and settings.kafka.creates_topics is False
    assert not any("create-topics" in " ".join(c.get("command", []) + c.get("args", [])) for c in containers)
    job = next(d for _, d in k8s_docs() if d["kind"] == "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][-1].endswith("create-topics.sh")
    # compose: every worker waits for the topics service to finish, and creates none itself
    services = compose()["services"]
    workers = [name for name in services if name.startswith("worker")]
    assert len(workers) >= 2
    for name in workers:
        assert services[name]["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        for var, value in services[name]["environment"].items():
            if var.startswith("FLOORWATCH_KAFKA"):
                monkeypatch.setenv(var, value)
        assert load_settings().kafka.creates_topics is False, name
    assert services["topics"]["entrypoint"][-1].endswith("create-topics.sh")


def test_worker_heartbeat_alert_matches_the_badge_and_has_a_firing_test() -> None:
    """FloorwatchWorkerNotReporting fires past the API's red badge threshold (the default of
    api.worker_dead_after_s), on a family the API exports, and its promtool test makes it fire."""
    from floorwatch.config import ApiConfig

    groups = yaml.safe_load((DEPLOY / "prometheus/rules/floorwatch.rules.yml").read_text())["groups"]
    rule = next(r for g in groups for r in g["rules"] if r.get("alert") == "FloorwatchWorkerNotReporting")
    m = re.fullmatch(r"min\((\w+)\) > (\d+)", rule["expr"].strip())
    assert m and m[1] == "floorwatch_worker_last_seen_seconds", rule["expr"]
    assert float(m[2]) == ApiConfig().worker_dead_after_s == 30
    assert f'"{m[1]}"' in (ROOT / "api/metrics.py").read_text()
    cases = yaml.safe_load((DEPLOY / "prometheus/tests/floorwatch.rules.test.yml").read_text())["tests"]
    checks = [t for c in cases for t in c.get("alert_rule_test", []) if t["alertname"] == rule["alert"]]
    assert any(t["exp_alerts"] for t in checks) and any(not t["exp_alerts"] for t in checks)
