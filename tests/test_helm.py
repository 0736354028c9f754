"""The Helm chart (deploy/helm/twitch-pulse): `helm lint`, `helm template` with the default and
the Confluent Cloud + Snowflake values, every rendered object validated by kubeconform against
the Kubernetes JSON schemas shipped in the `kubernetes-validate` package (GitHub, kubeconform's
default source, is not reachable everywhere), and the chart's shape checked against the code:
one Deployment per worker, the processor a StatefulSet with a RocksDB volume, /healthz probes,
scrape annotations, Secrets for every secret setting, a CronJob for prune."""

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
BIGQUERY_VALUES = CHART / "values-bigquery.yaml"  # layered on a broker's values
VALUE_SETS = ([], ["-f", str(PROD_VALUES)], ["-f", str(PROD_VALUES), "-f", str(BIGQUERY_VALUES)])
VALUE_IDS = ["default", "confluent-snowflake", "confluent-bigquery"]


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


def _objects(manifest: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifest) if doc]


@pytest.mark.parametrize("values", VALUE_SETS, ids=VALUE_IDS)
def test_helm_lint_passes(tools, values) -> None:
    result = _run([tools["helm"], "lint", "--strict", str(CHART), *values])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values", VALUE_SETS, ids=VALUE_IDS)
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
    objects = _objects(_template(tools, "-f", str(PROD_VALUES), "--set", "metrics.serviceMonitor.enabled=true"))
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)

    def component(obj: dict[str, Any]) -> str:
        return obj["metadata"]["labels"]["app.kubernetes.io/component"]

    def container(obj: dict[str, Any]) -> dict[str, Any]:
        spec = obj["spec"]["jobTemplate"]["spec"] if obj["kind"] == "CronJob" else obj["spec"]
        return spec["template"]["spec"]["containers"][0]

    # one Deployment per long-running worker, the processor a StatefulSet, prune a CronJob;
    # each runs the worker's real CLI command
    deployments = {component(d): d for d in by_kind["Deployment"]}
    assert set(deployments) == {app.name for app in gen.SERVICES} - {"processor"}
    (processor,) = by_kind["StatefulSet"]
    (prune,) = by_kind["CronJob"]
    workloads = {**deployments, "processor": processor, "prune": prune}
    for app in gen.APPS:
        assert tuple(container(workloads[app.name])["args"]) == app.command, app.name
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
    assert len(by_kind["ServiceMonitor"]) == len(gen.SERVICES)
    # the prune CronJob: scheduled, never overlapping, no metrics server
    assert re.fullmatch(r"\S+ \S+ \S+ \S+ \S+", prune["spec"]["schedule"])
    assert prune["spec"]["concurrencyPolicy"] == "Forbid"
    assert {"name": "METRICS_PORT", "value": "0"} in container(prune)["env"]
    # every secret setting comes from the Secret, every other setting the chart sets is a real one
    (secret,) = by_kind["Secret"]
    secret_envs = {_env_name(f) for f, info in Settings.model_fields.items()
                   if "SecretStr" in str(info.annotation) and not f.startswith("quix_")}
    assert set(secret["stringData"]) == secret_envs
    env_names = {_env_name(f) for f in Settings.model_fields}
    assert set(config["data"]) <= env_names, set(config["data"]) - env_names
    for obj in workloads.values():
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


def test_bigquery_values_choose_the_warehouse_and_hold_no_key(tools) -> None:
    """values-bigquery.yaml sets WAREHOUSE and the dataset in the ConfigMap; the key is never a value."""
    objects = _objects(_template(tools, "-f", str(PROD_VALUES), "-f", str(BIGQUERY_VALUES)))
    config = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    assert config["WAREHOUSE"] == "bigquery" and config["BIGQUERY_DATASET"] == "twitch_analytics"
    assert not any("CREDENTIALS" in key for key in config)
    (secret,) = [o for o in objects if o["kind"] == "Secret"]
    assert secret["stringData"]["BIGQUERY_CREDENTIALS_JSON"] == ""  # given at install time, never in a file
