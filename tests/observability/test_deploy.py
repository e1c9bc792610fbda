"""The deployment files agree with the code and with each other: every CALLCENTER_* variable
is a setting with a valid value, ports and probe paths are the server's, the proxy and
Prometheus point at the instances compose defines, the Kubernetes objects select each
other, and the routing rules shipped in the ConfigMap load."""

from __future__ import annotations

import configparser
import re
import subprocess
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
import yaml

from callcenter.rules.loader import load_rules
from callcenter.settings import Settings, env_name, load_settings
from callcenter.web.routes import OPERATIONS
from tests.observability.conftest import REPO

DEPLOY = REPO / "deploy"
SETTING_NAMES = {env_name(item.name) for item in fields(Settings)}
IMAGE = "callcenter:0.1.0"
INSTANCES = ("callcenter-1", "callcenter-2")
THIRD_PARTY_IMAGES = {"redis", "nginx", "prom/prometheus", "grafana/grafana"}
GET_PATHS = {op.path for op in OPERATIONS if op.method == "GET"}


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return loaded


def k8s_objects() -> dict[str, dict[str, Any]]:
    """Every object of the kustomization, by kind (and name for ConfigMaps)."""
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    found: dict[str, dict[str, Any]] = {}
    for resource in kustomization["resources"]:
        for document in yaml.safe_load_all((DEPLOY / "k8s" / resource).read_text()):
            key = document["kind"]
            if key == "ConfigMap":
                key = f"ConfigMap/{document['metadata']['name']}"
            assert key not in found, key
            found[key] = document
    return found


def settings_from(environment: dict[str, str]) -> Settings:
    """The settings a process would get: unknown CALLCENTER_* names and bad values raise."""
    ours = {k: str(v) for k, v in environment.items() if k.startswith("CALLCENTER_")}
    assert set(ours) <= SETTING_NAMES, sorted(set(ours) - SETTING_NAMES)
    return load_settings(environ=ours)


def test_compose_runs_two_instances_on_redis_with_aof_behind_a_proxy() -> None:
    services = compose()["services"]
    assert set(services) == {"redis", *INSTANCES, "proxy", "prometheus", "grafana"}
    assert services["redis"]["command"][:3] == ["redis-server", "--appendonly", "yes"]
    for name in INSTANCES:
        instance = services[name]
        assert instance["image"] == IMAGE
        context = (DEPLOY / instance["build"]["context"]).resolve()
        assert context / instance["build"]["dockerfile"] == DEPLOY / "Dockerfile"
        settings = settings_from(instance["environment"])
        assert settings.redis_url == "redis://redis:6379/0"
        assert instance["expose"] == [str(settings.port), str(settings.audiosocket_port)]
        assert instance["depends_on"]["redis"]["condition"] == "service_healthy"
    for name, service in services.items():
        if name in INSTANCES:
            continue
        image, _, tag = service["image"].partition(":")
        assert image in THIRD_PARTY_IMAGES, image
        assert tag and tag != "latest", service["image"]


def test_the_sentinel_variant_finds_the_primary_through_three_sentinels() -> None:
    base = compose()["services"]
    override = yaml.safe_load((DEPLOY / "docker-compose.sentinel.yml").read_text())["services"]
    sentinels = sorted(name for name in override if name.startswith("sentinel-"))
    assert len(sentinels) == 3
    for name in INSTANCES:  # compose merges the environments
        merged = {**base[name]["environment"], **override[name]["environment"]}
        settings = settings_from(merged)
        assert [host for host, _ in settings.redis_sentinels] == sentinels
        assert {port for _, port in settings.redis_sentinels} == {26379}
        assert settings.redis_ack_replicas == 1
        script = override[sentinels[0]]["command"][-1]
        monitor = f"sentinel monitor {settings.redis_master_name} redis 6379 2"
        assert monitor in script and "exec redis-sentinel" in script
    replica = override["redis-replica"]["command"]
    assert replica[replica.index("--replicaof") + 1 :][:2] == ["redis", "6379"]
    assert "--appendonly" in replica


def test_the_proxy_balances_the_compose_instances() -> None:
    config = (DEPLOY / "nginx" / "nginx.conf").read_text()
    instance = settings_from(compose()["services"]["callcenter-1"]["environment"])
    upstreams = dict(re.findall(r"upstream (\w+) \{(.*?)\}", config, re.S))
    assert set(upstreams) == {"callcenter", "audiosocket"}
    servers = {
        name: set(re.findall(r"server ([\w.-]+:\d+)", body)) for name, body in upstreams.items()
    }
    assert servers["callcenter"] == {f"{i}:{instance.port}" for i in INSTANCES}
    assert servers["audiosocket"] == {f"{i}:{instance.audiosocket_port}" for i in INSTANCES}
    proxy = compose()["services"]["proxy"]
    assert "./nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    listens = set(re.findall(r"listen (\d+);", config))
    assert {port.split(":")[1] for port in proxy["ports"]} == listens
    # websockets (media streams, live pages) are upgraded and may live for hours
    websockets = config[config.index("location ~ ^/(media|ws)/") :]
    assert "proxy_set_header Upgrade $http_upgrade;" in websockets
    assert "proxy_read_timeout 4h;" in websockets


def test_prometheus_scrapes_each_compose_instance() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "callcenter"]
    port = settings_from(compose()["services"]["callcenter-1"]["environment"]).port
    assert job["static_configs"][0]["targets"] == [f"{i}:{port}" for i in INSTANCES]
    assert job["metrics_path"] in GET_PATHS
    mounts = compose()["services"]["prometheus"]["volumes"]
    assert "./prometheus:/etc/prometheus:ro" in mounts


def test_the_image_is_multi_stage_non_root_and_starts_the_server() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", dockerfile, re.M)) == 2
    final = dockerfile[dockerfile.rindex("\nFROM ") :]
    (user,) = re.findall(r"^USER (\S+)", final, re.M)
    assert user.split(":")[0] not in ("root", "0")
    environment = dict(re.findall(r"(CALLCENTER_\w+)=(\S+)", final))
    settings = settings_from(environment)
    assert re.findall(r"^EXPOSE (\d+)", final, re.M) == [str(settings.port)]
    assert settings.host == "0.0.0.0"
    for source in re.findall(r"^COPY (?!--from)(\S+) ", dockerfile, re.M):
        assert (REPO / source).exists(), source
    assert 'ENTRYPOINT ["callcenter-entrypoint"]' in final
    assert 'CMD ["serve"]' in final
    entrypoint = DEPLOY / "docker-entrypoint.sh"
    assert subprocess.run(["sh", "-n", str(entrypoint)], check=False).returncode == 0
    assert set(re.findall(r"CALLCENTER_\w+", entrypoint.read_text())) <= SETTING_NAMES


def test_kubernetes_objects_fit_together() -> None:
    objects = k8s_objects()
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= set(
        objects
    )
    deployment = objects["Deployment"]
    pod = deployment["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (container,) = pod["spec"]["containers"]
    assert container["image"] == IMAGE
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False

    env_maps = [ref["configMapRef"]["name"] for ref in container["envFrom"]]
    environment = {
        key: value
        for name in env_maps
        for key, value in objects[f"ConfigMap/{name}"]["data"].items()
    }
    for variable in container["env"]:
        assert variable["name"] in SETTING_NAMES, variable["name"]
    settings = settings_from(environment)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"http": settings.port}

    probes = {kind: container[f"{kind}Probe"]["httpGet"] for kind in ("readiness", "liveness")}
    assert probes["readiness"]["path"] == "/readyz"
    assert probes["liveness"]["path"] == "/healthz"
    for probe in (*probes.values(), container["startupProbe"]["httpGet"]):
        assert probe["path"] in GET_PATHS
        assert probe["port"] in ports

    annotations = pod["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == settings.port
    assert annotations["prometheus.io/path"] in GET_PATHS

    service = objects["Service"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= set(ports)
    hpa = objects["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert 2 <= hpa["minReplicas"] < hpa["maxReplicas"]
    pdb = objects["PodDisruptionBudget"]["spec"]
    assert pdb["selector"]["matchLabels"].items() <= labels.items()

    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert mounts["routing-rules"] == str(settings.rules_dir)
    assert mounts["models"] == str(settings.models_dir)
    rules_map = volumes["routing-rules"]["configMap"]["name"]
    assert f"ConfigMap/{rules_map}" in objects
    (init,) = pod["spec"]["initContainers"]
    assert (init["image"], init["args"]) == (IMAGE, ["prepare"])


def test_the_rules_configmap_holds_valid_routing_rules(tmp_path: Path) -> None:
    data = k8s_objects()["ConfigMap/callcenter-routing-rules"]["data"]
    shipped = {path.name for path in (REPO / "routing_rules").glob("*.yaml")}
    assert set(data) == shipped
    for name, text in data.items():
        (tmp_path / name).write_text(text)
    rules = load_rules(tmp_path)
    assert {"billing", "support", "sales", "general"} <= set(rules.queues)


def test_the_kubernetes_scrape_job_reads_the_pod_annotations() -> None:
    config = yaml.safe_load((DEPLOY / "k8s" / "prometheus-scrape.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "callcenter"  # what the alert rules select on
    relabelled = {
        label for rule in job["relabel_configs"] for label in rule.get("source_labels", [])
    }
    annotations = k8s_objects()["Deployment"]["spec"]["template"]["metadata"]["annotations"]
    for annotation in annotations:
        label = "__meta_kubernetes_pod_annotation_" + re.sub(r"[^a-z0-9]", "_", annotation)
        assert label in relabelled, annotation
    for pattern in config["rule_files"]:
        assert list((DEPLOY / "k8s").glob(pattern)), pattern


@pytest.mark.parametrize("unit", ["callcenter.service"])
def test_the_systemd_unit_runs_the_server_unprivileged(unit: str) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep key case
    text = (DEPLOY / "systemd" / unit).read_text()
    parser.read_string(text)
    service = parser["Service"]
    assert service["ExecStart"].endswith("/bin/callcenter serve")
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert service["User"] not in ("root", "0")
    assert service["NoNewPrivileges"] == "yes"
    environment = dict(
        line.removeprefix("Environment=").split("=", 1)
        for line in text.splitlines()
        if line.startswith("Environment=")
    )
    env_file = (DEPLOY / "systemd" / "callcenter.env").read_text()
    environment |= dict(
        line.split("=", 1) for line in env_file.splitlines() if line and not line.startswith("#")
    )
    settings = settings_from(environment)
    assert settings.host == "0.0.0.0"
    assert str(settings.data_dir) == "/var/lib/callcenter"
