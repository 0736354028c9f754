"""Deployment files checked against the code: quix.yaml and the Quix applications, the
Dockerfile, docker-compose.yml, the Grafana dashboard, the generated tables of docs/, and
`--help` of every command."""

from __future__ import annotations

import argparse
import ast
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from pulse import topics
from pulse.cli import build_parser
from pulse.settings import LOCAL_BOOTSTRAP, CommonSettings, TopicSettings, load_settings
from tests.deploy_support import dashboard_queries, gen, resolves

ROOT = Path(__file__).resolve().parents[2]


QUIX = yaml.safe_load((ROOT / "quix.yaml").read_text())
DEPLOYMENTS = {d["name"]: d for d in QUIX["deployments"]}
QUIX_TOPICS = {t["name"]: t for t in QUIX["topics"]}
ENV_TO_FIELD = {gen.env_name(name): name for name in gen.SETTINGS}


def _generated_block(page: str, tag: str) -> str:
    """What deploy/generate.py wrote between the `tag` markers of docs/`page`."""
    text = (ROOT / "docs" / page).read_text()
    return text.split(f"<!-- BEGIN generated: {tag} -->", 1)[1].split(f"<!-- END generated: {tag} -->", 1)[0]


def _variables(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    names = [v["name"] for v in entries]
    assert len(names) == len(set(names)), f"duplicate variables: {names}"
    return {v["name"]: v for v in entries}


# --- generated files are current ---------------------------------------------------------


def test_generated_files_are_up_to_date() -> None:
    files = gen.outputs()
    stale = [str(p.relative_to(ROOT)) for p, text in files.items() if not p.exists() or p.read_text() != text]
    assert not stale, f"run `.venv/bin/python deploy/generate.py`: out of date: {stale}"
    # and every file that says it is generated is one the generator writes
    assert gen.orphans(files) == []
    assert gen.claimed() == set(files) - set(gen.DOC_BLOCKS)
    # every page with generated blocks is among the generator's outputs, its markers in place
    # (here, not in the test below: the generator's outputs take 10 s to make)
    for page, blocks in gen.DOC_BLOCKS.items():
        assert page in files
        for tag in blocks:
            assert f"<!-- BEGIN generated: {tag} -->" in files[page] and f"<!-- END generated: {tag} -->" in files[page]


def test_a_stale_generated_block_is_rewritten_and_missing_markers_name_the_page() -> None:
    """The documentation pages are hand-written around their generated blocks: only what stands
    between a block's markers is replaced, so a stale block differs from the generator's text
    (and the test above fails) while the page's own text stays."""
    page = ROOT / "docs" / "metrics.md"
    begin, end = "<!-- BEGIN generated: metrics -->", "<!-- END generated: metrics -->"
    text = f"# Metrics\n\nprose\n{begin}\n| stale |\n{end}\nmore\n"
    filled = gen.fill_markers(page, text, {"metrics": "| fresh |"})
    assert filled == f"# Metrics\n\nprose\n{begin}\n| fresh |\n{end}\nmore\n"
    assert gen.fill_markers(page, filled, {"metrics": "| fresh |"}) == filled
    with pytest.raises(SystemExit, match=r"docs/metrics.md: markers for 'configuration' not found"):
        gen.fill_markers(page, text, {"configuration": "| x |"})


def test_check_fails_on_a_file_that_claims_to_be_generated_but_is_not(tmp_path: Path) -> None:
    """The Quix dockerfiles of deploy/quix/ said GENERATED, nothing wrote them, and a merge
    brought them back once deleted: --check must catch any such file, tracked or new."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("ignored/\n")
    written = tmp_path / "pulse-x" / "app.yaml"
    stale = tmp_path / "deploy" / "quix" / "x" / "dockerfile"
    ignored = tmp_path / "ignored" / "dockerfile"
    for path in (written, stale, ignored):
        path.parent.mkdir(parents=True)
        path.write_text(f"# {gen.MARKER}: something\nFROM python\n")
    # a hand-written file may mention the generator below its header
    (tmp_path / "notes.md").write_text("# hand-written\n" + "\n" * 6 + f"what the {gen.MARKER} header means\n")
    assert gen.orphans({written: ""}, root=tmp_path) == [stale]
    subprocess.run(["git", "-C", str(tmp_path), "add", "-A"], check=True)
    assert gen.orphans({written: ""}, root=tmp_path) == [stale]  # tracked or not


def test_configuration_table_lists_every_setting_with_default_and_secrecy() -> None:
    table = _generated_block("configuration.md", "configuration")
    rows = {}
    for line in table.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[re.match(r"`([^`]+)`", cells[0]).group(1)] = cells
    assert set(rows) == set(ENV_TO_FIELD), "docs/configuration.md table and Settings fields differ"
    for env, field in ENV_TO_FIELD.items():
        assert rows[env][2] == ("yes" if gen.is_secret(field) else "no"), env
        default = gen.default_text(field)
        assert rows[env][1] == (f"`{default}`" if default else "(empty)"), env
    assert "`client_id`" in rows["TWITCH_CLIENT_ID"][0]  # the first seed's .env names are documented


def test_metrics_reference_lists_every_registered_metric() -> None:
    from prometheus_client import REGISTRY

    for module in gen.METRIC_MODULES:
        __import__(module)
    registered = {f.name + ("_total" if f.type == "counter" else "") for f in REGISTRY.collect()
                  if f.name.startswith("twitch_pulse_")}
    block = _generated_block("metrics.md", "metrics")
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(twitch_pulse_\w+)` \| (\w+) \|", block, re.M)}
    assert set(rows) == registered
    for family in REGISTRY.collect():
        if family.name.startswith("twitch_pulse_"):
            name = family.name + ("_total" if family.type == "counter" else "")
            assert rows[name] == family.type and family.documentation in block, name


# --- quix.yaml and the applications ------------------------------------------------------
# The reference: quix-cli docs/yaml-reference/{pipeline,app}-descriptor.md and Quix's "YAML 1.0
# and 2.0" page (version 2.0: a deployment inherits its variables from app.yaml, quix.yaml
# records only overrides; secrets are ProjectVariable + secret: true, keyed by variableKey).

DEPLOYMENT_KEYS = {"name", "group", "application", "image", "deploymentType", "version", "workspaceIds", "resources",
                   "desiredStatus", "publicAccess", "network", "state", "variables", "configuration", "blobStorage",
                   "plugin", "disabled"}
APP_KEYS = {"name", "language", "variables", "dockerfile", "runEntryPoint", "defaultFile", "includedFolders"}
INPUT_TYPES = {"InputTopic", "OutputTopic", "Secret", "FreeText", "HiddenText", "Options", "ProjectVariable",
               "VariableGroup"}
PROJECT_VARIABLE_KEY = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _app_yaml(deployment: dict[str, Any]) -> dict[str, Any]:
    return yaml.safe_load((ROOT / deployment["application"] / "app.yaml").read_text())


def computed_variables(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The deployment's variables as Quix computes them under version 2.0: every app.yaml
    variable (defaultValue -> value, or -> variableKey for a project variable), with the
    properties quix.yaml sets on a variable of the same name (case-insensitive) winning."""
    declared = _variables(_app_yaml(deployment)["variables"])
    overrides = {v["name"].lower(): v for v in deployment.get("variables") or []}
    assert set(overrides) <= {n.lower() for n in declared}, "quix.yaml overrides a variable app.yaml lacks"
    out = {}
    for name, spec in declared.items():
        var = {k: v for k, v in spec.items() if k != "defaultValue"}
        var["variableKey" if spec["inputType"] == "ProjectVariable" else "value"] = spec.get("defaultValue")
        var.update(overrides.get(name.lower(), {}))
        out[name] = var
    return out


COMPUTED = {name: computed_variables(d) for name, d in DEPLOYMENTS.items()}


def test_quix_yaml_follows_the_current_descriptor_version() -> None:
    assert QUIX["metadata"]["version"] == 2.0
    for name, deployment in DEPLOYMENTS.items():
        assert set(deployment) <= DEPLOYMENT_KEYS, (name, set(deployment) - DEPLOYMENT_KEYS)
        # built from an application folder of this repository (not an image), so it inherits
        assert deployment["application"] and deployment["version"] and "image" not in deployment
        assert deployment["deploymentType"] in ("Service", "Job")
        res = deployment["resources"]
        assert set(res) <= {"cpu", "memory", "replicas"} and res["replicas"] >= 1
        assert 100 <= res["cpu"] <= 4000 and 256 <= res["memory"] <= 8192
        # nothing to override: one deployment per application, so app.yaml holds the values
        assert "variables" not in deployment, name
    for topic in QUIX["topics"]:
        assert set(topic) <= {"name", "persisted", "configuration"}
        assert set(topic["configuration"]) <= {"partitions", "replicationFactor", "retentionInMinutes",
                                               "retentionInBytes", "cleanupPolicy"}


def test_every_application_folder_is_at_the_root_with_descriptor_dockerfile_and_entry_point() -> None:
    assert set(DEPLOYMENTS) == {app.name for app in gen.APPS}
    for app in gen.APPS:
        deployment = DEPLOYMENTS[app.name]
        assert deployment["application"] == app.folder and "/" not in app.folder  # a root folder, as Quix resolves it
        folder = ROOT / app.folder
        spec = _app_yaml(deployment)
        assert set(spec) <= APP_KEYS, set(spec) - APP_KEYS
        assert spec["name"] == app.folder and spec["language"] == "python"
        assert (folder / spec["dockerfile"]).is_file() and (folder / spec["runEntryPoint"]).is_file()
        assert (folder / spec["defaultFile"]).is_file() and (folder / "requirements.txt").is_file()
        for included in spec["includedFolders"]:
            assert (ROOT / included).is_dir() and not included.startswith(("/", ".")), included
        for var in spec["variables"]:
            assert set(var) <= {"name", "inputType", "description", "required", "defaultValue", "secret"}, var
            assert var["inputType"] in INPUT_TYPES and var["inputType"] != "Secret", var  # Secret is the old form


def test_application_commands_are_real_cli_commands() -> None:
    for app in gen.APPS:
        main = (ROOT / app.folder / "main.py").read_text()
        tree = ast.parse(main)
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "main"]
        argv = [ast.literal_eval(e) for e in calls[0].args[0].elts if not isinstance(e, ast.Starred)]
        assert argv == list(app.command)
        resolves(argv)


@pytest.mark.parametrize("app", gen.APPS, ids=lambda a: a.name)
def test_every_variable_the_worker_reads_is_declared(app) -> None:
    declared = COMPUTED[app.name]
    # independent of the generator's list: scan the worker's modules for Settings fields
    needed = {gen.env_name(f) for f in gen.fields_used(app.modules) | set(app.common) | set(app.extra_fields)
              if f not in gen.QUIX_PROVIDED and f not in gen.OPTIONAL_SECRETS}
    missing = needed - set(declared)
    assert not missing, f"{app.name} reads {sorted(missing)} but its app.yaml does not declare them"
    for name, spec in declared.items():
        assert name in ENV_TO_FIELD, f"{app.name}: {name} is not a setting the code reads"
        field = ENV_TO_FIELD[name]
        assert field not in gen.QUIX_PROVIDED, f"{app.name}: {name} is Quix's own to set"
        if spec["inputType"] in ("InputTopic", "OutputTopic"):
            continue
        if gen.is_secret(field):
            # a secret is a project variable: only its key is in Git, the value lives in Quix
            assert spec["inputType"] == "ProjectVariable" and spec["secret"] is True, name
            assert PROJECT_VARIABLE_KEY.match(spec["variableKey"]) and "value" not in spec, name
            # Quix starts no deployment while a referenced project variable has no value
            assert spec["required"] is True and field not in gen.OPTIONAL_SECRETS, name
        else:
            assert spec["inputType"] == "FreeText" and "value" in spec, name
            if spec["value"] != "":  # a deployment value must pass the same validation as the environment
                load_settings(**{name: spec["value"]})


def test_topic_variables_are_the_ones_settings_topic_reads() -> None:
    from pulse.settings import TOPIC_NAMES, topic_field


    assert set(TOPIC_NAMES) == set(topics.ALL) | set(topics.PROCESSOR_INTERNAL)
    for topic in TOPIC_NAMES:
        assert topic_field(topic) in TopicSettings.model_fields, topic  # every topic can be named by its variable
    for app in gen.APPS:
        for name, spec in COMPUTED[app.name].items():
            if spec["inputType"] not in ("InputTopic", "OutputTopic"):
                continue
            topic = spec["value"]
            assert name == gen.topic_variable(topic), (app.name, name, topic)
            # the worker really uses the value Quix sets: Settings.topic() returns it
            renamed = load_settings(**{name: f"ws-{topic}"})
            assert renamed.topic(topic) == f"ws-{topic}"
            assert load_settings(TOPIC_PREFIX="p.").topic(topic) == f"p.{topic}"


def test_every_setting_is_declared_by_some_application_except_what_quix_provides() -> None:
    declared = {name for computed in COMPUTED.values() for name in computed}
    expected = {env for env, field in ENV_TO_FIELD.items()
                if field not in gen.QUIX_PROVIDED and field not in gen.OPTIONAL_SECRETS}
    assert expected <= declared, sorted(expected - declared)
    assert not declared & {gen.env_name(f) for f in gen.OPTIONAL_SECRETS}


def test_optional_secrets_are_bound_only_where_used_and_harmless_when_unset() -> None:
    """Each optional secret is read by some deployment (docs/deploying.md's generated block binds it
    there, in quix.yaml's own field names); unset, a deployment's environment (only what its
    app.yaml declares, secrets filled in) gives settings that do not use it."""
    block = _generated_block("deploying.md", "quix-optional-secrets")
    bound: dict[str, dict[str, Any]] = {}
    for snippet in re.findall(r"```yaml\n(.*?)```", block, re.S):
        for var in yaml.safe_load(snippet)["variables"]:
            assert set(var) <= {"name", "inputType", "variableKey", "secret", "required", "value"}, var
            bound[var["name"]] = var
    for field in gen.OPTIONAL_SECRETS:
        env = gen.env_name(field)
        assert bound[env] == {"name": env, "inputType": "ProjectVariable", "variableKey": env, "secret": True,
                              "required": True}
        users = [app.name for app in gen.APPS if field in gen.reads(app)]
        assert users and all(f"`{name}`" in block for name in users), field
    assert bound["SNOWFLAKE_PASSWORD"]["inputType"] == "FreeText" and bound["SNOWFLAKE_PASSWORD"]["value"] == ""
    for app in gen.APPS:
        env = {name: (f"https://secret.example/{name}" if spec["inputType"] == "ProjectVariable"
                      else str(spec.get("value") or ""))
               for name, spec in COMPUTED[app.name].items()}
        settings = load_settings(**{k: v for k, v in env.items() if k in ENV_TO_FIELD})
        assert not settings.snowflake.private_key.get_secret_value()
        assert not settings.snowflake.private_key_passphrase.get_secret_value()
        assert [client for client, _ in settings.twitch.credential_pairs] == (
            [env["TWITCH_CLIENT_ID"]] if env.get("TWITCH_CLIENT_ID") else [])


def test_every_topic_the_code_uses_is_listed_with_partitions_and_retention() -> None:
    from sinks.worker import KINDS

    used = set(topics.ALL) | set(topics.PROCESSOR_INTERNAL)
    assert used <= set(QUIX_TOPICS), sorted(used - set(QUIX_TOPICS))
    for name, topic in QUIX_TOPICS.items():
        config = topic["configuration"]
        assert config["partitions"] >= 1 and config["retentionInMinutes"] >= 60 and config["replicationFactor"] >= 1
    # the processor creates its repartition topics with the partitions of twitch.streams
    streams = QUIX_TOPICS[topics.STREAMS]["configuration"]["partitions"]
    for internal in topics.PROCESSOR_INTERNAL:
        assert QUIX_TOPICS[internal]["configuration"]["partitions"] == streams
    assert int(COMPUTED["processor"]["TOPIC_PARTITIONS"]["value"]) == streams

    def io(name: str, kind: str) -> set[str]:
        return {v["value"] for v in COMPUTED[name].values() if v["inputType"] == kind}

    for kind, names in KINDS.items():
        assert io(f"sink-{kind}", "InputTopic") == set(names)
    assert io("slack-alerts", "InputTopic") == {topics.ALERTS}
    assert io("producer", "OutputTopic") == {topics.STREAMS}
    assert io("processor", "InputTopic") == {topics.STREAMS}
    assert io("processor", "OutputTopic") == {*topics.PROCESSOR_INTERNAL, *topics.WINDOW_TOPICS, topics.ALERTS,
                                              topics.STREAMS_DLQ}
    referenced = {v["value"] for c in COMPUTED.values() for v in c.values()
                  if v["inputType"] in ("InputTopic", "OutputTopic")}
    assert referenced <= set(QUIX_TOPICS)


def test_state_metrics_and_the_prune_job() -> None:
    assert DEPLOYMENTS["processor"]["state"] == {"enabled": True, "size": 4}
    assert DEPLOYMENTS["slack-alerts"]["state"]["enabled"] is True  # its delivered log
    assert "state" not in DEPLOYMENTS["producer"]
    metrics_port = CommonSettings.model_fields["metrics_port"].default
    for app in gen.SERVICES:
        # /metrics reachable inside the Quix environment at http://<name>:9108/metrics
        network = DEPLOYMENTS[app.name]["network"]
        assert network["serviceName"] == app.name
        assert network["ports"] == [{"port": metrics_port, "targetPort": int(COMPUTED[app.name]["METRICS_PORT"]["value"])}]
    prune = DEPLOYMENTS["prune"]
    assert prune["deploymentType"] == "Job" and "network" not in prune and "publicAccess" not in prune
    assert next(a for a in gen.APPS if a.name == "prune").command == ("prune",) and "RAW_RETENTION" in COMPUTED["prune"]


def test_the_dashboard_is_a_public_quix_service_on_port_80() -> None:
    """Quix's "deploy a public service": publicAccess with a URL prefix, the app on 0.0.0.0:80."""
    dashboard = DEPLOYMENTS["dashboard"]
    assert dashboard["deploymentType"] == "Service" and dashboard["desiredStatus"] == "Running"
    assert dashboard["publicAccess"] == {"enabled": True, "urlPrefix": "dashboard"}
    args = resolves(list(next(a for a in gen.APPS if a.name == "dashboard").command))
    assert (args.address, int(args.port)) == ("0.0.0.0", 80)
    assert "EXPOSE 80" in (ROOT / "pulse-dashboard" / "dockerfile").read_text()
    # it reads only the warehouse: Snowflake settings, no topic, no broker
    declared = COMPUTED["dashboard"]
    assert {"SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER", "SNOWFLAKE_PASSWORD"} <= set(declared)
    assert not [n for n, v in declared.items() if v["inputType"] in ("InputTopic", "OutputTopic")]
    assert "dashboard" in _app_yaml(dashboard)["includedFolders"]


def _closure(requirements: list[str]) -> set[str]:
    """The distributions `pip install` of these requirements brings (no extras), read from the
    installed packages' own metadata."""
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: set[str] = set()
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen or (req.marker is not None and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        try:
            todo += [Requirement(r) for r in requires(name) or []]
        except PackageNotFoundError:  # an optional platform dependency not installed here
            pass
    return seen


def test_worker_requirements_and_imports_carry_no_streamlit() -> None:
    """Streamlit (with pandas, pyarrow, Altair: ~370 MB) is the dashboard's extra only."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.lower().startswith("streamlit")]
    assert any(d.startswith("streamlit") for d in project["optional-dependencies"]["dashboard"])
    assert "twitch-pulse[dashboard]" in project["optional-dependencies"]["dev"]  # make install/test get it
    for app in gen.APPS:
        text = (ROOT / app.folder / "requirements.txt").read_text().lower()
        assert ("streamlit" in text) == ("dashboard" in app.extras), app.name
    # what a worker's requirements install, all the way down: none of the dashboard's weight
    carried = _closure(project["dependencies"])
    assert not carried & {"streamlit", "pandas", "pyarrow", "altair"}, carried
    # nothing a worker imports, the CLI included, pulls Streamlit in (the Snowflake connector
    # imports pandas only where it is installed, as in this development environment)
    modules = sorted({m.removesuffix(".py").replace("/", ".") for app in gen.APPS if not app.extras
                      for m in app.modules} | {"pulse.cli", "dashboard.cli"})
    code = ("import importlib, sys; from pulse.cli import build_parser; build_parser(); "
            "[importlib.import_module(m) for m in sys.argv[1:]]; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('streamlit', 'altair')))")
    result = subprocess.run([sys.executable, "-c", code, *modules], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]", result.stdout


# --- containers ------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_slim_non_root_with_the_cli_entrypoint() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?", text, re.M)
    assert len(stages) >= 2 and stages[-1][1] == "runtime"
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.1[1-9][.\w-]*-slim", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert re.search(r'^ENTRYPOINT \["twitch-pulse"\]$', text, re.M)
    # the workers' runtime (the default, last stage) takes the worker build, which installs no
    # extra; the dashboard's own stage takes a build of `.[dashboard]`
    assert re.search(r"^FROM base AS runtime\nCOPY --from=build /opt/venv /opt/venv$", text, re.M)
    assert re.search(r"^FROM base AS dashboard\nCOPY --from=build-dashboard /opt/venv /opt/venv$", text, re.M)
    builds = {name: body for name, body in re.findall(r"^FROM \S+ AS (build\S*)\n(.*?)(?=^FROM )", text, re.M | re.S)}
    assert re.search(r"pip install \. ", builds["build"]) and "[dashboard]" not in builds["build"]
    assert 'pip install ".[dashboard]"' in builds["build-dashboard"]
    dashboard = text.split("AS dashboard", 1)[1].split("\nFROM ", 1)[0]
    assert 'ENTRYPOINT ["twitch-pulse", "dashboard"]' in dashboard and '"0.0.0.0"' in dashboard
    assert "/_stcore/health" in dashboard
    # everything the build copies exists, and .dockerignore keeps it in the context
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for src in re.findall(r"^COPY (?!--)(.+) \S+$", text, re.M):
        for part in src.split():
            assert (ROOT / part).exists(), part
            assert part not in ignored, part
    for package in ("pulse", "producers", "processors", "sinks", "devstack", "dashboard"):
        assert f"COPY {package} /src/{package}" in text  # every package of pyproject.toml


def test_compose_parses_and_its_services_are_the_cli_commands() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "prometheus", "grafana"} <= set(services)
    workers = {name: s for name, s in services.items() if s.get("image") == "twitch-pulse:latest"}
    commands = {tuple(s["command"]) for s in workers.values()}
    for argv in commands:
        resolves(list(argv))
    # every long-running worker of the CLI runs in compose, under the Quix application's name
    assert {tuple(app.command) for app in gen.SERVICES} <= commands
    for app in gen.SERVICES:
        assert tuple(workers[app.name]["command"]) == app.command
        assert workers[app.name]["build"]["dockerfile"] == "Dockerfile"
    # Prometheus scrapes exactly the workers, on the port they serve
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in prom["scrape_configs"]}
    assert jobs == {app.name: [f"{app.name}:9108"] for app in gen.SERVICES}
    for app in gen.SERVICES:
        assert workers[app.name]["environment"]["METRICS_PORT"] == "9108"
    mounts = services["prometheus"]["volumes"] + services["grafana"]["volumes"]
    for mount in mounts:
        host = mount.split(":")[0]
        if host.startswith("./"):
            assert (ROOT / host).exists(), host
    for name, service in services.items():
        for dep in service.get("depends_on") or []:
            assert dep in services, f"{name} depends on unknown {dep}"


COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
ONE_SHOT = {"bootstrap", "prune"}  # run to completion: no health check, restart "no"


def test_compose_kafka_keeps_its_data_on_the_volume_and_has_a_host_listener() -> None:
    kafka = COMPOSE["services"]["kafka"]
    env = kafka["environment"]
    mounts = {m.split(":")[1]: m.split(":")[0] for m in kafka["volumes"]}
    log_dirs = env["KAFKA_LOG_DIRS"].split(",")
    for log_dir in log_dirs:  # every log dir lies on a named volume (not the image's /tmp default)
        assert any(log_dir == path or log_dir.startswith(path + "/") for path in mounts), log_dir
    assert all(mounts[path] in COMPOSE["volumes"] for path in mounts)
    listeners = dict(item.split("://") for item in env["KAFKA_ADVERTISED_LISTENERS"].split(","))
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(listeners) <= set(protocols)
    # the host listener: advertised as localhost and published on the same port, which is
    # what KAFKA_BOOTSTRAP defaults to for the CLI on the host
    host = [addr for addr in listeners.values() if addr.split(":")[0] in ("localhost", "127.0.0.1")]
    assert host, listeners
    port = host[0].split(":")[1]
    assert f"{port}:{port}" in kafka["ports"]
    assert LOCAL_BOOTSTRAP.endswith(f":{port}") and load_settings().kafka.bootstrap == LOCAL_BOOTSTRAP
    # the containers' listener is the one the workers are given
    worker_bootstrap = COMPOSE["services"]["producer"]["environment"]["KAFKA_BOOTSTRAP"]
    inside = [addr for addr in listeners.values() if addr.startswith("kafka:")]
    assert inside and worker_bootstrap == "${KAFKA_BOOTSTRAP:-" + inside[0] + "}"
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in listeners


def test_compose_health_checks_gate_every_dependency() -> None:
    services = COMPOSE["services"]
    healthy = set()
    for name, service in services.items():
        check = service.get("healthcheck") or {}
        if name in ONE_SHOT:
            assert check.get("disable") is True and service["restart"] == "no", name
            continue
        assert check.get("test") and not check.get("disable"), f"{name}: no health check"
        assert check["test"][0] in ("CMD", "CMD-SHELL")
        healthy.add(name)
    for name, service in services.items():
        deps = service.get("depends_on") or {}
        assert isinstance(deps, dict), f"{name}: depends_on without conditions"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown {dep}"
            condition = spec["condition"]
            if dep in ONE_SHOT:
                assert condition == "service_completed_successfully", (name, dep)
            else:
                assert condition == "service_healthy" and dep in healthy, (name, dep)
    # every worker waits for the broker; the warehouse writers for the warehouse and its schema
    for app in gen.SERVICES:
        deps = services[app.name]["depends_on"]
        if app.inputs or app.outputs:  # a Kafka worker (the models scheduler only needs the warehouse)
            assert deps["kafka"]["condition"] == "service_healthy"
        if app.name.startswith("sink-"):
            assert deps["bootstrap"]["condition"] == "service_completed_successfully"
    assert services["prune"]["command"] == ["prune"] and services["prune"]["profiles"] == ["jobs"]


def test_compose_restarts_every_service_and_runs_the_kafka_the_tests_run() -> None:
    import base64

    from devstack.kafka import kafka_version

    services = COMPOSE["services"]
    for name, service in services.items():
        if name not in ONE_SHOT:  # the broker, the warehouse, the monitoring and every worker
            assert service.get("restart") in ("unless-stopped", "always"), f"{name}: no restart policy"
    kafka = services["kafka"]
    assert kafka["image"] == f"apache/kafka:{kafka_version()}"
    # a fixed KRaft cluster id: 16 bytes in base64url (what `kafka-storage random-uuid` prints)
    cluster_id = kafka["environment"]["CLUSTER_ID"]
    assert len(cluster_id) == 22 and len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_compose_runs_the_dashboard_from_its_own_image() -> None:
    services = COMPOSE["services"]
    dashboard = services["dashboard"]
    assert dashboard["build"]["target"] == "dashboard" and dashboard["image"] != "twitch-pulse:latest"
    resolves(["dashboard", *dashboard["command"]])  # the image's entrypoint is `twitch-pulse dashboard`
    assert "8501:8501" in dashboard["ports"] and "/_stcore/health" in " ".join(dashboard["healthcheck"]["test"])
    assert dashboard["environment"]["SNOWFLAKE_HOST"] == "warehouse"
    assert dashboard["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"
    stages = re.findall(r"^FROM \S+ AS (\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert "dashboard" in stages and stages[-1] == "runtime"  # a plain `docker build` is the workers' image


def test_compose_alertmanager_gets_the_rules_and_the_slack_secret() -> None:
    services = COMPOSE["services"]
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = [t for am in prom["alerting"]["alertmanagers"] for c in am["static_configs"] for t in c["targets"]]
    assert targets == ["alertmanager:9093"]
    am = services["alertmanager"]
    assert "./deploy/alertmanager:/etc/alertmanager:ro" in am["volumes"]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in am["command"]
    config = yaml.safe_load((ROOT / "deploy/alertmanager/alertmanager.yml").read_text())
    # the webhook is a secret: a file Compose fills from SLACK_WEBHOOK_URL, never in the config
    assert config["global"]["slack_api_url_file"] == "/run/secrets/slack_webhook_url"
    assert "slack_api_url" not in config["global"] and "hooks.slack.com" not in json.dumps(config)
    assert am["secrets"] == ["slack_webhook_url"]
    assert COMPOSE["secrets"]["slack_webhook_url"] == {"environment": "SLACK_WEBHOOK_URL"}
    assert services["prometheus"]["depends_on"]["alertmanager"]["condition"] == "service_healthy"


# --- Grafana -------------------------------------------------------------------------------------


def exported_series() -> set[str]:
    """Every series name the workers' metrics expose (counter _total, histogram _bucket/_sum/_count)."""
    names = set()
    for name, kind, *_ in gen.metrics():
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        else:
            names.add(name)
    return names


def test_grafana_dashboard_structure_and_every_query_names_an_exported_metric() -> None:
    dash = json.loads((ROOT / "deploy/grafana/dashboards/twitch-pulse.json").read_text())
    assert dash["uid"] and dash["title"] and isinstance(dash["schemaVersion"], int)
    ds = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert ds["datasources"][0]["type"] == "prometheus" and ds["datasources"][0]["isDefault"] is True
    # the panels read the datasource a variable picks (default: the default Prometheus), not a fixed uid
    (variable,) = [v for v in dash["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"
    uid = "${" + variable["name"] + "}"
    assert ds["datasources"][0]["uid"] not in json.dumps(dash)
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/twitch-pulse.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    exported = exported_series()
    used = set()
    for panel in dash["panels"]:
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"]) and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] == "row":
            continue
        assert panel["type"] in ("timeseries", "stat") and panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}
        assert panel["targets"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs))
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid and target["expr"].strip()
            names = set(re.findall(r"\btwitch_pulse_\w+", target["expr"]))
            unknown = names - exported
            assert not unknown, f"panel {panel['title']!r} queries unknown {unknown}"
            used |= names
    # the dashboard covers polls, lag, throughput, sink latency and alerts
    for needed in ("twitch_pulse_producer_polls_total", "twitch_pulse_processor_consumer_lag_messages",
                   "twitch_pulse_sink_rows_written_total", "twitch_pulse_sink_batch_duration_seconds_bucket",
                   "twitch_pulse_processor_alerts_total", "twitch_pulse_slack_posts_total"):
        assert needed in used, needed
    assert any('ALERTS{alertstate="firing"' in q for q in dashboard_queries())


def test_grafana_has_a_lag_panel_per_sink_and_viewership_next_to_health() -> None:
    dash = json.loads((ROOT / "deploy/grafana/dashboards/twitch-pulse.json").read_text())
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    # one panel per consumer that writes out (the sinks and the Slack worker), its own lag alone
    consumers = [app.name for app in gen.SERVICES if app.name not in ("producer", "processor", "models")]
    assert consumers == ["sink-raw", "sink-windows", "sink-alerts", "slack-alerts"]
    from sinks.worker import build_app  # noqa: F401  (the sink label is the worker's group name)
    for name in consumers:
        lag = [p for p in panels
               if any(f'twitch_pulse_sink_consumer_lag_messages{{sink="{name}"}}' in t["expr"] for t in p["targets"])]
        assert len(lag) == 1 and name in lag[0]["title"], name
    # beside the health stats (the first row, before the next row starts): windows closed per
    # minute and rows written per table
    rows = sorted(p["gridPos"]["y"] for p in dash["panels"] if p["type"] == "row")
    health = [p for p in panels if p["gridPos"]["y"] < rows[1]]
    exprs = " ".join(t["expr"] for p in health for t in p["targets"])
    assert "rate(twitch_pulse_processor_windows_closed_total[5m])) * 60" in exprs
    assert "sum by (table) (rate(twitch_pulse_sink_rows_written_total" in exprs


def test_alert_rules_only_use_exported_metrics() -> None:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())
    exported = exported_series()
    for group in rules["groups"]:
        for rule in group["rules"]:
            unknown = set(re.findall(r"\btwitch_pulse_\w+", rule["expr"])) - exported
            assert not unknown, (rule["alert"], unknown)


# --- help on every command --------------------------------------------------------------------


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, path + (name,))


def test_help_of_every_command_describes_it_and_shows_defaults() -> None:
    commands = list(_walk(build_parser()))
    names = {path for path, _ in commands}
    for expected in [("producer",), ("processor",), ("sink",), ("alerts",), ("status",), ("bootstrap",), ("prune",),
                     ("record",), ("replay",), ("simulate",), ("stack", "start"), ("stack", "stop"),
                     ("stack", "status")]:
        assert expected in names, expected
    for path, parser in commands:
        text = parser.format_help()
        assert parser.description, f"twitch-pulse {' '.join(path)}: no description"
        for action in parser._actions:
            if action.help in (None, argparse.SUPPRESS) or isinstance(action, (argparse._HelpAction,
                                                                                 argparse._SubParsersAction)):
                continue
            if action.option_strings and action.default is not None and action.default is not argparse.SUPPRESS:
                assert f"(default: {action.default})" in " ".join(text.split()), \
                    f"twitch-pulse {' '.join(path)} {action.option_strings[0]}: default not shown"


def test_help_runs_as_a_command() -> None:
    result = subprocess.run([sys.executable, "-m", "pulse", "status", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and "consumer group" in result.stdout and "(default: 5.0)" in result.stdout
