"""The Helm chart (deploy/helm/twitch-pulse): `helm lint`, `helm template` with the default and
the Confluent Cloud + Snowflake values, every rendered object validated by kubeconform against
the Kubernetes JSON schemas shipped in the `kubernetes-validate` package (GitHub, kubeconform's
default source, is not reachable everywhere), and the chart's shape checked against the code:
one Deployment per worker, the processor a StatefulSet with a RocksDB volume, /healthz probes,
scrape annotations, Secrets for every secret setting, CronJobs for prune and the dbt models."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pulse.settings import Settings, _env_name
from tests.test_deploy import gen

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "deploy" / "helm" / "twitch-pulse"
KUBERNETES_VERSION = "1.33.0"  # schemas of this release (kubernetes-validate ships 1.25 to 1.37)
PROD_VALUES = CHART / "values-confluent-snowflake.yaml"


@pytest.fixture(scope="session")
def tools() -> dict[str, str]:
    """helm and kubeconform, installed as Go modules by the project's own script."""
    result = subprocess.run([str(CHART.parent / "install-tools.sh")], capture_output=True, text=True, timeout=1800)
    if result.returncode == 3:
        pytest.skip("helm/kubeconform cannot be installed here: " + result.stderr.strip().splitlines()[-1])
    assert result.returncode == 0, result.stderr[-3000:]
    bin_dir = Path(result.stdout.strip().splitlines()[-1])
    return {"helm": str(bin_dir / "helm"), "kubeconform": str(bin_dir / "kubeconform")}


@pytest.fixture(scope="session")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kubernetes-validate's schemas for KUBERNETES_VERSION, as kubeconform reads them: its
    files reference `/api/_definitions.json`, which becomes an absolute file URL here."""
    import kubernetes_validate

    source = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{KUBERNETES_VERSION}-local-strict"
    dest = tmp_path_factory.mktemp("k8s-schemas")
    definitions = (dest / "_definitions.json").as_uri()
    for path in source.glob("*.json"):
        text = path.read_text()
        (dest / path.name).write_text(text.replace('"/api/_definitions.json#', f'"{definitions}#'))
    return dest


def _run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, **kwargs)


def _template(tools: dict[str, str], *args: str) -> str:
    result = _run([tools["helm"], "template", "pulse", str(CHART), *args])
    assert result.returncode == 0, result.stderr
    return result.stdout


def _kubeconform(tools: dict[str, str], schemas: Path, manifest: str) -> subprocess.CompletedProcess:
    return _run([tools["kubeconform"], "-strict", "-summary", "-output", "text",
                 "-kubernetes-version", KUBERNETES_VERSION,
                 "-schema-location", str(schemas) + "/{{ .ResourceKind }}{{ .KindSuffix }}.json", "-"],
                input=manifest)


class _Loader(yaml.SafeLoader):
    """PyYAML reads a bare `=` (YAML 1.1's value key) as a special tag; Kubernetes reads a string."""


_Loader.add_constructor("tag:yaml.org,2002:value", _Loader.construct_yaml_str)


def _objects(manifest: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.load_all(manifest, Loader=_Loader) if doc]


def _by_kind(objects: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    return by_kind


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
    return spec["template"]["spec"]


MONITORING = ["--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.prometheusRule.enabled=true",
              "--set", "metrics.alertmanagerConfig.enabled=true"]


@pytest.mark.parametrize("values", [[], ["-f", str(PROD_VALUES)]], ids=["default", "confluent-snowflake"])
def test_helm_lint_passes(tools, values) -> None:
    result = _run([tools["helm"], "lint", "--strict", str(CHART), *values])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", [[], ["-f", str(PROD_VALUES)]], ids=["default", "confluent-snowflake"])
def test_every_rendered_object_is_valid_kubernetes(tools, schemas, values) -> None:
    manifest = _template(tools, *values)
    result = _kubeconform(tools, schemas, manifest)
    count = len(_objects(manifest))
    assert result.returncode == 0, result.stdout + result.stderr
    # every object was validated against a schema, none skipped for lack of one
    assert f"Valid: {count}, Invalid: 0, Errors: 0, Skipped: 0" in result.stdout, result.stdout


def test_kubeconform_rejects_a_broken_object(tools, schemas) -> None:
    """The schemas really validate: an unknown field and a wrong type are caught."""
    objects = _objects(_template(tools))
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGett"] = {"path": "/healthz"}
    deployment["spec"]["replicas"] = "two"
    result = _kubeconform(tools, schemas, yaml.safe_dump(deployment))
    assert result.returncode != 0 and "Invalid: 1" in result.stdout, result.stdout


def test_chart_shape_matches_the_workers(tools) -> None:
    objects = _objects(_template(tools, "-f", str(PROD_VALUES), *MONITORING))
    by_kind = _by_kind(objects)

    def component(obj: dict[str, Any]) -> str:
        return obj["metadata"]["labels"]["app.kubernetes.io/component"]

    def container(obj: dict[str, Any]) -> dict[str, Any]:
        spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
        return spec["template"]["spec"]["containers"][0]

    # one Deployment per long-running worker, the processor a StatefulSet, prune and the dbt
    # models CronJobs (Kubernetes schedules them; compose and Quix run `models build --every`);
    # each runs the worker's real CLI command
    deployments = {component(d): d for d in by_kind["Deployment"] if component(d) != "dashboard"}
    assert set(deployments) == {app.name for app in gen.SERVICES} - {"processor", "models"}
    (processor,) = by_kind["StatefulSet"]
    cronjobs = {component(c): c for c in by_kind["CronJob"]}
    assert set(cronjobs) == {"prune", "models"}
    prune, models = cronjobs["prune"], cronjobs["models"]
    workloads = {**deployments, "processor": processor, **cronjobs}
    for app in gen.APPS:
        if app.name == "dashboard":
            continue  # its own Deployment, checked below
        command = ("models", "build") if app.name == "models" else app.command  # one build per scheduled run
        assert tuple(container(workloads[app.name])["args"]) == command, app.name
    # the processor keeps RocksDB on its own volume per replica, at STATE_DIR
    (claim,) = processor["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"] and claim["spec"]["resources"]["requests"]["storage"]
    mount = container(processor)["volumeMounts"][0]
    assert mount["name"] == claim["metadata"]["name"]
    (config,) = by_kind["ConfigMap"]
    assert mount["mountPath"] == config["data"]["STATE_DIR"]
    assert processor["spec"]["serviceName"] in {s["metadata"]["name"] for s in by_kind["Service"]}
    assert processor["spec"]["replicas"] == 3
    # probes on /healthz and scrape annotations on the port the workers serve
    port = int(config["data"]["METRICS_PORT"])
    assert port == Settings.model_fields["metrics_port"].default
    for name, obj in {**deployments, "processor": processor}.items():
        c = container(obj)
        assert c["ports"] == [{"name": "metrics", "containerPort": port, "protocol": "TCP"}], name
        for probe in ("livenessProbe", "readinessProbe"):
            assert c[probe]["httpGet"] == {"path": "/healthz", "port": "metrics"}, (name, probe)
        annotations = obj["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == str(port)
        assert annotations["prometheus.io/path"] == "/metrics"
    assert len(by_kind["ServiceMonitor"]) == len(gen.SERVICES) - 1  # not the models CronJob
    # the CronJobs: scheduled, never overlapping, no metrics server
    for job in (prune, models):
        assert re.fullmatch(r"\S+ \S+ \S+ \S+ \S+", job["spec"]["schedule"])
        assert job["spec"]["concurrencyPolicy"] == "Forbid"
        assert {"name": "METRICS_PORT", "value": "0"} in container(job)["env"]
    # every secret setting comes from the Secret, every other setting the chart sets is a real one
    (secret,) = by_kind["Secret"]
    secret_envs = {_env_name(f) for f, info in Settings.model_fields.items()
                   if "SecretStr" in str(info.annotation) and not f.startswith("quix_")}
    assert set(secret["stringData"]) == secret_envs
    env_names = {_env_name(f) for f in Settings.model_fields}
    assert set(config["data"]) <= env_names, set(config["data"]) - env_names
    for obj in [*workloads.values(), *by_kind["Deployment"]]:
        refs = container(obj)["envFrom"]
        assert {"secretRef": {"name": secret["metadata"]["name"]}} in refs
        assert {"configMapRef": {"name": config["metadata"]["name"]}} in refs
    # Confluent Cloud and Snowflake values land where Settings reads them
    assert config["data"]["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert config["data"]["KAFKA_BOOTSTRAP"].endswith(".confluent.cloud:9092")
    assert config["data"]["SNOWFLAKE_ACCOUNT"] and config["data"]["SNOWFLAKE_WAREHOUSE"]
    Settings(_env_file=None, **{name.lower(): value for name, value in config["data"].items()
                                if name.lower() in Settings.model_fields})


def test_an_existing_secret_replaces_the_charts_own(tools) -> None:
    objects = _objects(_template(tools, "--set", "secrets.existingSecret=pulse-managed"))
    assert not [o for o in objects if o["kind"] == "Secret"]
    workloads = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet")]
    for obj in workloads:
        refs = obj["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        assert {"secretRef": {"name": "pulse-managed"}} in refs


def test_processor_replicas_have_a_disruption_budget_and_their_pod_name_as_instance_id(tools) -> None:
    by_kind = _by_kind(_objects(_template(tools, "-f", str(PROD_VALUES))))
    (processor,) = by_kind["StatefulSet"]
    (budget,) = by_kind["PodDisruptionBudget"]
    # the budget selects exactly the processor's pods and lets one go at a time
    assert budget["spec"]["selector"]["matchLabels"] == processor["spec"]["selector"]["matchLabels"]
    assert budget["spec"]["maxUnavailable"] == 1 and processor["spec"]["replicas"] == 3
    pod_labels = processor["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    # each replica's stable id is its pod name (the StatefulSet's ordinal names: ...-processor-0, -1, -2)
    env = {e["name"]: e for e in _pod_spec(processor)["containers"][0]["env"]}
    assert env["PROCESSOR_INSTANCE_ID"] == {"name": "PROCESSOR_INSTANCE_ID",
                                            "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    assert _env_name("processor_instance_id") == "PROCESSOR_INSTANCE_ID"
    off = _by_kind(_objects(_template(tools, "--set", "processor.podDisruptionBudget.enabled=false")))
    assert "PodDisruptionBudget" not in off


# Pod Security Standards, "restricted" profile (kubernetes.io/docs/concepts/security/pod-security-standards):
# the rules that apply to what a chart can set on a pod.
RESTRICTED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                      "projected", "secret"}


def _restricted_violations(pod: dict[str, Any]) -> list[str]:
    problems = []
    pod_ctx = pod.get("securityContext") or {}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(host):
            problems.append(host)
    for volume in pod.get("volumes") or []:
        if not set(volume) - {"name"} <= RESTRICTED_VOLUMES:
            problems.append(f"volume {volume['name']}")
    if pod_ctx.get("runAsUser") == 0:
        problems.append("pod runAsUser 0")
    for container in pod["containers"] + (pod.get("initContainers") or []):
        ctx = container.get("securityContext") or {}
        name = container["name"]
        if ctx.get("privileged"):
            problems.append(f"{name}: privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation not false")
        caps = ctx.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []) or set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: capabilities not dropped")
        if not (ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")) is True):
            problems.append(f"{name}: runAsNonRoot not true")
        if ctx.get("runAsUser") == 0:
            problems.append(f"{name}: runAsUser 0")
        seccomp = (ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            problems.append(f"{name}: seccompProfile {seccomp}")
        if any(port.get("hostPort") for port in container.get("ports") or []):
            problems.append(f"{name}: hostPort")
    return problems


@pytest.mark.parametrize("values", [[], ["-f", str(PROD_VALUES)]], ids=["default", "confluent-snowflake"])
def test_every_pod_meets_pod_security_restricted(tools, values) -> None:
    workloads = [o for o in _objects(_template(tools, *values)) if o["kind"] in ("Deployment", "StatefulSet", "CronJob")]
    assert len(workloads) == len(gen.SERVICES) + 2  # the workers, prune and the dashboard
    for obj in workloads:
        assert _restricted_violations(_pod_spec(obj)) == [], obj["metadata"]["name"]
    # the checker itself catches what the profile forbids
    bad = _pod_spec(workloads[0])
    del bad["securityContext"]["seccompProfile"]
    bad["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    assert len(_restricted_violations(bad)) == 2


def test_service_monitors_name_the_job_as_the_rules_and_the_dashboard_do(tools) -> None:
    by_kind = _by_kind(_objects(_template(tools, *MONITORING)))
    services = {s["metadata"]["name"]: s for s in by_kind["Service"]}
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    worker_down = next(r for g in rules["groups"] for r in g["rules"] if r["alert"] == "TwitchPulseWorkerDown")
    job_pattern = re.search(r'job=~"([^"]+)"', worker_down["expr"]).group(1)
    import json
    grafana = json.loads((ROOT / "deploy/grafana/dashboards/twitch-pulse.json").read_text())
    up_pattern = next(re.search(r'job=~"([^"]+)"', t["expr"]).group(1) for p in grafana["panels"]
                      for t in p.get("targets", []) if t["expr"].startswith("up{"))
    jobs = set()
    for monitor in by_kind["ServiceMonitor"]:
        label = monitor["spec"]["jobLabel"]
        selected = [s for s in services.values()
                    if monitor["spec"]["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()]
        assert len(selected) == 1, monitor["metadata"]["name"]
        job = selected[0]["metadata"]["labels"][label]  # what the Operator puts in `job`
        assert re.fullmatch(job_pattern, job) and re.fullmatch(up_pattern, job), job
        jobs.add(job)
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    assert {job["job_name"] for job in prometheus["scrape_configs"]} == {a.name for a in gen.SERVICES}
    # on Kubernetes the models build is a CronJob (one build a run), nothing to scrape
    assert jobs == {a.name for a in gen.SERVICES} - {"models"}


def test_the_chart_ships_the_alert_rules_and_the_slack_routing(tools) -> None:
    by_kind = _by_kind(_objects(_template(tools, *MONITORING)))
    (rule,) = by_kind["PrometheusRule"]
    assert rule["spec"] == yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    (secret,) = by_kind["Secret"]
    (routing,) = by_kind["AlertmanagerConfig"]
    config = yaml.safe_load((ROOT / "deploy/alertmanager/alertmanager.yml").read_text())
    spec = routing["spec"]
    assert spec["route"]["receiver"] == config["route"]["receiver"]
    assert spec["route"]["groupBy"] == config["route"]["group_by"]
    assert spec["route"]["routes"][0]["matchers"] == [{"name": "severity", "matchType": "=", "value": "critical"}]
    assert spec["route"]["routes"][0]["repeatInterval"] == config["route"]["routes"][0]["repeat_interval"]
    assert spec["inhibitRules"][0]["equal"] == ["job"]
    (receiver,) = spec["receivers"]
    (slack,) = receiver["slackConfigs"]
    # the webhook URL is a key of a Secret that exists: the chart's own ...
    assert slack["apiURL"] == {"name": secret["metadata"]["name"], "key": "SLACK_WEBHOOK_URL"}
    assert "SLACK_WEBHOOK_URL" in secret["stringData"]
    assert slack["title"] == config["receivers"][0]["slack_configs"][0]["title"]
    # ... or the one named in secrets.existingSecret
    managed = _by_kind(_objects(_template(tools, *MONITORING, "--set", "secrets.existingSecret=pulse-managed")))
    assert managed["AlertmanagerConfig"][0]["spec"]["receivers"][0]["slackConfigs"][0]["apiURL"]["name"] == "pulse-managed"
    # none of it without the Operator
    plain = _by_kind(_objects(_template(tools)))
    assert not {"ServiceMonitor", "PrometheusRule", "AlertmanagerConfig"} & set(plain)


def test_the_dashboard_runs_from_its_own_image_behind_a_service(tools) -> None:
    by_kind = _by_kind(_objects(_template(tools, "-f", str(PROD_VALUES))))
    (dashboard,) = [d for d in by_kind["Deployment"] if d["metadata"]["labels"]["app.kubernetes.io/component"] == "dashboard"]
    container = _pod_spec(dashboard)["containers"][0]
    workers = [d for d in by_kind["Deployment"] if d is not dashboard]
    assert container["image"].split(":")[0].endswith("twitch-pulse-dashboard")
    assert all(_pod_spec(w)["containers"][0]["image"] != container["image"] for w in workers)
    # the image's entrypoint is `twitch-pulse dashboard`: the args are that command's options
    from tests.test_deploy import _resolves

    args = _resolves(["dashboard", *container["args"]])
    assert args.address == "0.0.0.0" and int(args.port) == container["ports"][0]["containerPort"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/_stcore/health", "port": "http"}
    (service,) = [s for s in by_kind["Service"] if s["metadata"]["labels"]["app.kubernetes.io/component"] == "dashboard"]
    assert service["spec"]["selector"].items() <= dashboard["spec"]["template"]["metadata"]["labels"].items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    annotations = dashboard["spec"]["template"]["metadata"]["annotations"]
    assert "prometheus.io/scrape" not in annotations  # it serves no /metrics
