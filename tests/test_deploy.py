"""Deployment files checked against the code: quix.yaml and the Quix applications, the
Dockerfile, docker-compose.yml, the Grafana dashboard, the README's generated tables, and
`--help` of every command."""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from pulse import topics
from pulse.cli import build_parser
from pulse.settings import Settings, _env_name

ROOT = Path(__file__).resolve().parents[1]


def _load_generator():
    spec = importlib.util.spec_from_file_location("deploy_generate", ROOT / "deploy" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules["deploy_generate"] = module
    spec.loader.exec_module(module)
    return module


gen = _load_generator()
QUIX = yaml.safe_load((ROOT / "quix.yaml").read_text())
DEPLOYMENTS = {d["name"]: d for d in QUIX["deployments"]}
QUIX_TOPICS = {t["name"]: t for t in QUIX["topics"]}
ENV_TO_FIELD = {_env_name(name): name for name in Settings.model_fields}


def _variables(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    names = [v["name"] for v in entries]
    assert len(names) == len(set(names)), f"duplicate variables: {names}"
    return {v["name"]: v for v in entries}


def _resolves(argv: list[str]) -> argparse.Namespace:
    """argv parses with the real CLI into a command with a handler."""
    args = build_parser().parse_args(argv)
    assert callable(getattr(args, "handler", None)), argv
    return args


# --- generated files are current ---------------------------------------------------------


def test_generated_files_are_up_to_date() -> None:
    stale = [str(p.relative_to(ROOT)) for p, text in gen.outputs().items() if not p.exists() or p.read_text() != text]
    assert not stale, f"run `.venv/bin/python deploy/generate.py`: out of date: {stale}"


def test_readme_configuration_table_lists_every_setting_with_default_and_secrecy() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("<!-- BEGIN generated: configuration -->", 1)[1].split("<!-- END generated: configuration -->")[0]
    rows = {}
    for line in table.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[re.match(r"`([^`]+)`", cells[0]).group(1)] = cells
    assert set(rows) == set(ENV_TO_FIELD), "README table and Settings fields differ"
    for env, field in ENV_TO_FIELD.items():
        assert rows[env][2] == ("yes" if gen.is_secret(field) else "no"), env
        default = gen.default_text(field)
        assert rows[env][1] == (f"`{default}`" if default else "(empty)"), env
    assert "`client_id`" in rows["TWITCH_CLIENT_ID"][0]  # the first seed's .env names are documented


def test_readme_metrics_reference_lists_every_registered_metric() -> None:
    from prometheus_client import REGISTRY

    for module in gen.METRIC_MODULES:
        __import__(module)
    registered = {f.name + ("_total" if f.type == "counter" else "") for f in REGISTRY.collect()
                  if f.name.startswith("twitch_pulse_")}
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- BEGIN generated: metrics -->", 1)[1].split("<!-- END generated: metrics -->")[0]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(twitch_pulse_\w+)` \| (\w+) \|", block, re.M)}
    assert set(rows) == registered
    for family in REGISTRY.collect():
        if family.name.startswith("twitch_pulse_"):
            name = family.name + ("_total" if family.type == "counter" else "")
            assert rows[name] == family.type and family.documentation in block, name


# --- quix.yaml and the applications ------------------------------------------------------


def test_every_application_folder_exists_with_descriptor_dockerfile_and_entry_point() -> None:
    assert set(DEPLOYMENTS) == {app.name for app in gen.APPS}
    for name, deployment in DEPLOYMENTS.items():
        folder = ROOT / deployment["application"]
        assert folder.is_dir(), f"{name}: no application folder {folder}"
        app = yaml.safe_load((folder / "app.yaml").read_text())
        assert app["name"] == name and app["language"] == "python"
        assert (folder / app["dockerfile"]).is_file(), f"{name}: dockerfile {app['dockerfile']} missing"
        assert (folder / app["runEntryPoint"]).is_file()
        # the deployment declares exactly what the application declares, with the same kinds
        declared = _variables(app["variables"])
        deployed = _variables(deployment["variables"])
        assert set(declared) == set(deployed), name
        for var, spec in declared.items():
            assert spec["inputType"] == deployed[var]["inputType"], (name, var)
        assert deployment["deploymentType"] == "Service" and deployment["resources"]["replicas"] >= 1
        assert 100 <= deployment["resources"]["cpu"] <= 4000 and 256 <= deployment["resources"]["memory"] <= 8192


def test_application_commands_are_real_cli_commands() -> None:
    for app in gen.APPS:
        folder = ROOT / DEPLOYMENTS[app.name]["application"]
        cmd = re.search(r"^CMD (\[.*\])$", (folder / "dockerfile").read_text(), re.M)
        argv = json.loads(cmd.group(1))
        assert argv == list(app.command)
        _resolves(argv)
        main = (folder / "main.py").read_text()
        assert f"main({argv!r})" in main
        compile(main, str(folder / "main.py"), "exec")


@pytest.mark.parametrize("app", gen.APPS, ids=lambda a: a.name)
def test_every_variable_the_worker_reads_is_declared(app) -> None:
    declared = _variables(DEPLOYMENTS[app.name]["variables"])
    # independent of the generator's list: scan the worker's modules for Settings fields
    needed = {_env_name(f) for f in gen.fields_used(app.modules)} | {_env_name(f) for f in gen.COMMON_FIELDS}
    missing = needed - set(declared)
    assert not missing, f"{app.name} reads {sorted(missing)} but quix.yaml does not declare them"
    for name, spec in declared.items():
        if spec["inputType"] in ("InputTopic", "OutputTopic"):
            continue
        assert name in ENV_TO_FIELD, f"{app.name}: {name} is not a setting the code reads"
        if gen.is_secret(ENV_TO_FIELD[name]):
            assert spec["inputType"] == "Secret" and spec.get("secretKey") and "value" not in spec, name
        else:
            assert spec["inputType"] == "FreeText" and "value" in spec, name
            value = spec["value"]
            if value != "":  # a deployment value must pass the same validation as the environment
                Settings(_env_file=None, **{ENV_TO_FIELD[name]: value})


def test_every_setting_is_declared_by_some_application() -> None:
    declared = {v["name"] for d in QUIX["deployments"] for v in d["variables"]}
    assert set(ENV_TO_FIELD) <= declared, sorted(set(ENV_TO_FIELD) - declared)


def test_every_topic_the_code_uses_is_listed_with_partitions_and_retention() -> None:
    from processors.app import GAME_POLLS, SAMPLES
    from sinks.worker import KINDS

    used = set(topics.ALL) | {SAMPLES, GAME_POLLS}
    assert used <= set(QUIX_TOPICS), sorted(used - set(QUIX_TOPICS))
    for name, topic in QUIX_TOPICS.items():
        config = topic["configuration"]
        assert config["partitions"] >= 1 and config["retentionInMinutes"] >= 60 and config["replicationFactor"] >= 1
    # the processor creates its repartition topics with the partitions of twitch.streams
    streams = QUIX_TOPICS[topics.STREAMS]["configuration"]["partitions"]
    for internal in (SAMPLES, GAME_POLLS):
        assert QUIX_TOPICS[internal]["configuration"]["partitions"] == streams
    assert int(_variables(DEPLOYMENTS["processor"]["variables"])["TOPIC_PARTITIONS"]["value"]) == streams

    def io(name: str, kind: str) -> set[str]:
        return {v["value"] for v in DEPLOYMENTS[name]["variables"] if v["inputType"] == kind}

    for kind, names in KINDS.items():
        assert io(f"sink-{kind}", "InputTopic") == set(names)
    assert io("slack-alerts", "InputTopic") == {topics.ALERTS}
    assert io("producer", "OutputTopic") == {topics.STREAMS}
    assert io("processor", "InputTopic") == {topics.STREAMS, SAMPLES, GAME_POLLS}
    assert io("processor", "OutputTopic") == {SAMPLES, GAME_POLLS, *topics.WINDOW_TOPICS, topics.ALERTS,
                                              topics.STREAMS_DLQ}
    referenced = {v["value"] for d in QUIX["deployments"] for v in d["variables"]
                  if v["inputType"] in ("InputTopic", "OutputTopic")}
    assert referenced <= set(QUIX_TOPICS)


def test_state_is_enabled_where_the_workers_keep_state() -> None:
    assert DEPLOYMENTS["processor"]["state"] == {"enabled": True, "size": 4}
    assert DEPLOYMENTS["slack-alerts"]["state"]["enabled"] is True  # its delivered log
    assert "state" not in DEPLOYMENTS["producer"]


# --- containers ------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_slim_non_root_with_the_cli_entrypoint() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?", text, re.M)
    assert len(stages) >= 2 and stages[-1][1] == "runtime"
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.1[1-9][.\w-]*-slim", text, re.M)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert re.search(r'^ENTRYPOINT \["twitch-pulse"\]$', text, re.M)
    assert "COPY --from=build /opt/venv /opt/venv" in text
    # everything the build copies exists, and .dockerignore keeps it in the context
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    for src in re.findall(r"^COPY (?!--)(.+) \S+$", text, re.M):
        for part in src.split():
            assert (ROOT / part).exists(), part
            assert part not in ignored, part
    for package in ("pulse", "producers", "processors", "sinks", "devstack", "dashboard"):
        assert f"COPY {package} ./{package}" in text  # every package of pyproject.toml


def test_compose_parses_and_its_services_are_the_cli_commands() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "prometheus", "grafana"} <= set(services)
    workers = {name: s for name, s in services.items() if s.get("image") == "twitch-pulse:latest"}
    commands = {tuple(s["command"]) for s in workers.values()}
    for argv in commands:
        _resolves(list(argv))
    # every long-running worker of the CLI runs in compose, under the Quix application's name
    assert {tuple(app.command) for app in gen.APPS} <= commands
    for app in gen.APPS:
        assert tuple(workers[app.name]["command"]) == app.command
        assert workers[app.name]["build"]["dockerfile"] == "Dockerfile"
    # Prometheus scrapes exactly the workers, on the port they serve
    prom = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in prom["scrape_configs"]}
    assert jobs == {app.name: [f"{app.name}:9108"] for app in gen.APPS}
    for app in gen.APPS:
        assert workers[app.name]["environment"]["METRICS_PORT"] == "9108"
    mounts = services["prometheus"]["volumes"] + services["grafana"]["volumes"]
    for mount in mounts:
        host = mount.split(":")[0]
        if host.startswith("./"):
            assert (ROOT / host).exists(), host
    for name, service in services.items():
        for dep in service.get("depends_on") or []:
            assert dep in services, f"{name} depends on unknown {dep}"


# --- Grafana -------------------------------------------------------------------------------------


def dashboard_queries() -> list[str]:
    dash = json.loads((ROOT / "deploy/grafana/dashboards/twitch-pulse.json").read_text())
    return [t["expr"] for p in dash["panels"] if p["type"] != "row" for t in p["targets"]]


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
    uid = ds["datasources"][0]["uid"]
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
