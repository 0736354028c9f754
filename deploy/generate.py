"""Write the deployment descriptors and the README's reference tables from the code.

    .venv/bin/python deploy/generate.py          # rewrite the files
    .venv/bin/python deploy/generate.py --check  # exit 1 if a file is out of date (tests do this)

Generated: `quix.yaml` (descriptor version 2.0: deployments inherit their variables from
their application); per Quix application a folder `pulse-<deployment>/` at the repository
root with `app.yaml`, `dockerfile` (Quix's build: the application folder plus its
`includedFolders`, MAINAPPPATH set by Quix), `requirements.txt` (pyproject's dependencies)
and `main.py`; the README's configuration table (every `Settings` field: env name, default,
secret or not) and its metrics reference (every metric the workers register, with its help).

Which variables an application declares is read from the code: every `Settings` field its
modules access (`.field_name`), plus the settings every worker needs, less those Quix
provides itself (broker connection through Quix__Sdk__Token, state path); the topic
variables are the TOPIC_<NAME> settings `Settings.topic()` reads.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from pulse import topics  # noqa: E402
from pulse.settings import Settings, _env_name, topic_field  # noqa: E402

PARTIALS, GAME_POLLS = topics.PROCESSOR_INTERNAL
QUIX_VERSION = 2.0  # current descriptor: deployments inherit variables from app.yaml
# Folders every application's build context includes (Quix copies them beside the app folder):
# the CLI (pulse.cli) imports every area, and the sinks' SQL files live in sinks/snowflake/sql.
INCLUDED_FOLDERS = ("pulse", "producers", "processors", "sinks", "devstack")

# Every long-running worker: naming, topic creation, operating.
COMMON_FIELDS = ("topic_partitions", "topic_replication", "consumer_group_prefix", "metrics_port", "log_level")
JOB_FIELDS = ("log_level",)
# Settings Quix provides on its own, so no Quix descriptor declares them: with Quix__Sdk__Token
# (injected on every Quix deployment) Quix Streams and pulse.kafka take the broker, its
# credentials and the workspace's topic names from the Quix Portal API; the state directory is
# Quix__Deployment__State__Path; every topic has its own TOPIC_<NAME> variable, so no prefix.
QUIX_PROVIDED = (
    "kafka_bootstrap", "kafka_key", "kafka_secret", "kafka_security_protocol", "kafka_sasl_mechanism",
    "topic_prefix", "state_dir", "quix_sdk_token", "quix_portal_api", "quix_state_path",
)
_SINK_MODULES = ("sinks/worker.py", "sinks/base.py", "sinks/writers.py", "sinks/errors.py", "sinks/tables.py",
                 "sinks/snowflake", "pulse/kafka.py", *("sinks/choice.py", "sinks/bigquery"))  # the BigQuery part


@dataclass(frozen=True)
class App:
    name: str
    command: tuple[str, ...]
    description: str
    modules: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    cpu: int
    memory: int
    replicas: int = 1
    state_gb: int = 0  # 0 = no Quix state volume
    extra_fields: tuple[str, ...] = ()
    kind: str = "Service"  # Quix deploymentType: Service (long-running) or Job (runs to completion)

    @property
    def folder(self) -> str:
        """The Quix application folder (at the repository root, as Quix resolves it)."""
        return f"pulse-{self.name}"


APPS = (
    App("producer", ("producer",),
        "Polls Twitch Helix every interval and produces one event per live stream to twitch.streams. "
        "One replica per shard: for more shards add deployments with PRODUCER_SHARD=k/S.",
        ("producers", "pulse/kafka.py", "pulse/clock.py"), (), (topics.STREAMS,), cpu=500, memory=512),
    App("processor", ("processor",),
        "Quix Streams topology: tumbling-window watch-hours, peaks, ranks and spike alerts. "
        "Scale out with replicas up to the partitions of twitch.streams; state moves through changelog topics.",
        ("processors", "pulse/kafka.py"), (topics.STREAMS,),
        (PARTIALS, GAME_POLLS, *topics.WINDOW_TOPICS, topics.ALERTS, topics.STREAMS_DLQ),
        cpu=1000, memory=2048, state_gb=4),
    App("sink-raw", ("sink", "raw"), "Writes every raw event to STREAM_LOGS in Snowflake, exactly once.",
        _SINK_MODULES, (topics.STREAMS,), (), cpu=500, memory=1024, extra_fields=("raw_retention",)),
    App("sink-windows", ("sink", "windows"),
        "Writes the window topics to GAME_WINDOWS, CHANNEL_WINDOWS and GAME_TOP_CHANNELS (MERGE), exactly once.",
        _SINK_MODULES, topics.WINDOW_TOPICS, (), cpu=500, memory=1024),
    App("sink-alerts", ("sink", "alerts"), "Writes spike alerts to the ALERTS table (MERGE on ALERT_ID).",
        _SINK_MODULES, (topics.ALERTS,), (), cpu=250, memory=512),
    App("slack-alerts", ("alerts",),
        "Posts each spike alert to Slack once (its delivered log lives in the state volume).",
        ("sinks/slack.py", "sinks/worker.py", "pulse/kafka.py"), (topics.ALERTS,), (), cpu=250, memory=512, state_gb=1),
    App("prune", ("prune",),
        "Deletes STREAM_LOGS rows older than RAW_RETENTION (raw retention), then exits: a Job, run again "
        "on a schedule (Quix: start the deployment; Kubernetes: the chart's CronJob).",
        ("sinks/snowflake", "sinks/choice.py", "sinks/bigquery"), (), (), cpu=200, memory=512,
        extra_fields=("raw_retention",), kind="Job"),
)
SERVICES = tuple(app for app in APPS if app.kind == "Service")

# Topics of the Quix project: partitions and retention. The processor creates its internal
# topics with the partitions of twitch.streams, so they must match.
STREAM_PARTITIONS = 6
WEEK = 7 * 24 * 60
TOPICS = {
    topics.STREAMS: (STREAM_PARTITIONS, WEEK, "one event per live stream per poll, plus ticks"),
    topics.STREAMS_DLQ: (2, 4 * WEEK, "records that failed schema v1, reason in a header"),
    topics.WINDOWS_GAMES: (STREAM_PARTITIONS, WEEK, "per game per window"),
    topics.WINDOWS_CHANNELS: (STREAM_PARTITIONS, WEEK, "per channel per window, with global rank"),
    topics.WINDOWS_TOP_CHANNELS: (STREAM_PARTITIONS, WEEK, "per game per window: top N channels"),
    topics.ALERTS: (2, 4 * WEEK, "viewership spikes"),
    PARTIALS: (STREAM_PARTITIONS, WEEK, "processor internal: per-channel partial rows keyed by window"),
    GAME_POLLS: (STREAM_PARTITIONS, WEEK, "processor internal: per-game poll totals"),
}

# Values a Quix deployment uses where the local default does not fit.
DEPLOY_VALUES = {
    "TOPIC_PARTITIONS": str(STREAM_PARTITIONS),
    "TOPIC_REPLICATION": "2",
}
REQUIRED = {"TWITCH_CLIENT_ID", "TWITCH_CLIENT_SECRET", "SNOWFLAKE_ACCOUNT", "SNOWFLAKE_USER"}

DESCRIPTIONS = {
    "TWITCH_CLIENT_ID": "Twitch app client id (also read as client_id)",
    "TWITCH_CLIENT_SECRET": "Twitch app client secret (also read as client_secret)",
    "TWITCH_CREDENTIALS": "more credentials for sharding a sweep: id1:secret1,id2:secret2",
    "TWITCH_API_URL": "Helix base URL (point at the simulator locally)",
    "TWITCH_AUTH_URL": "OAuth base URL (token, validate)",
    "TWITCH_GAME_IDS": "only these game ids (comma-separated; empty = all live streams)",
    "TWITCH_GAME_NAMES": "only these game names (comma-separated)",
    "TWITCH_LANGUAGES": "only these languages (comma-separated)",
    "TWITCH_USER_LOGINS": "only these channels (comma-separated logins)",
    "POLL_INTERVAL_SECONDS": "poll interval I (never below 60 against real Twitch)",
    "CLOCK_SPEED": "simulated seconds per real second (demos and tests; 1 = real time)",
    "CLOCK_ANCHOR": "epoch second where simulated time equals real time (0 = adopt the simulator's)",
    "PRODUCER_SHARD": "this producer's shard k/S",
    "PRODUCER_SPLIT": "how a shard splits its sweep: auto, none, language",
    "PRODUCER_CONCURRENCY": "cursor chains paginated at the same time",
    "KAFKA_BOOTSTRAP": "Kafka bootstrap servers host:port[,host:port]",
    "KAFKA_KEY": "SASL username / Confluent Cloud API key (set = SASL_SSL)",
    "KAFKA_SECRET": "SASL password / Confluent Cloud API secret",
    "KAFKA_SECURITY_PROTOCOL": "override: PLAINTEXT, SSL, SASL_SSL, SASL_PLAINTEXT (empty = by KAFKA_KEY)",
    "KAFKA_SASL_MECHANISM": "SASL mechanism",
    "TOPIC_PREFIX": "prefix of every topic name without its own TOPIC_<NAME>",
    "TOPIC_PARTITIONS": "partitions of topics a worker creates (existing topics are left alone)",
    "TOPIC_REPLICATION": "replication factor of topics a worker creates",
    "CONSUMER_GROUP_PREFIX": "consumer groups are <prefix>-<worker> (Quix adds its workspace id itself)",
    "STATE_DIR": "local state: processor RocksDB stores, the Slack delivered log",
    "Quix__Sdk__Token": "set by Quix Cloud: Quix Streams configures the Quix-managed broker (KAFKA_* unused)",
    "Quix__Portal__Api": "set by Quix Cloud: the Portal API the SDK token is for",
    "Quix__Deployment__State__Path": "set by Quix Cloud when state is enabled: replaces STATE_DIR",
    **{f"TOPIC_{topic_field(t).removeprefix('topic_').upper()}": f"name of topic {t} (empty = TOPIC_PREFIX + {t})"
       for t in (*topics.ALL, *topics.PROCESSOR_INTERNAL)},
    "SNOWFLAKE_ACCOUNT": "Snowflake account identifier (empty = local fakesnow server)",
    "SNOWFLAKE_USER": "Snowflake user",
    "SNOWFLAKE_PASSWORD": "Snowflake password (or key-pair auth below)",
    "SNOWFLAKE_PRIVATE_KEY_FILE": "path of a PEM private key for key-pair auth",
    "SNOWFLAKE_PRIVATE_KEY": "PEM private key itself, for key-pair auth",
    "SNOWFLAKE_PRIVATE_KEY_PASSPHRASE": "passphrase of the private key",
    "SNOWFLAKE_DATABASE": "database",
    "SNOWFLAKE_SCHEMA": "schema",
    "SNOWFLAKE_WAREHOUSE": "virtual warehouse",
    "SNOWFLAKE_ROLE": "role",
    "SNOWFLAKE_HOST": "local fakesnow server host (only without SNOWFLAKE_ACCOUNT)",
    "SNOWFLAKE_PORT": "local fakesnow server port (only without SNOWFLAKE_ACCOUNT)",
    "SNOWFLAKE_NETWORK_TIMEOUT": "connector network and login timeout, seconds",
    # BigQuery, the second warehouse (pulse/settings.py's BigQuery block)
    "WAREHOUSE": "snowflake or bigquery: the warehouse of the sinks, bootstrap, prune and status",
    "BIGQUERY_PROJECT": "Google Cloud project of the dataset (empty = local bqemulator server)",
    "BIGQUERY_DATASET": "BigQuery dataset (created at bootstrap when missing and allowed)",
    "BIGQUERY_LOCATION": "location of the dataset and its jobs (US, EU, a region)",
    "BIGQUERY_CREDENTIALS_FILE": "service-account key file (neither it nor the JSON: Application Default Credentials)",
    "BIGQUERY_CREDENTIALS_JSON": "the service-account key file's content itself",
    "BIGQUERY_HOST": "local bqemulator host (only without BIGQUERY_PROJECT)",
    "BIGQUERY_PORT": "local bqemulator REST port (only without BIGQUERY_PROJECT)",
    "BIGQUERY_TIMEOUT": "BigQuery API call and job timeout, seconds (the client's retries stop there)",
    "WINDOW_SECONDS": "tumbling window width W",
    "WINDOW_GRACE_SECONDS": "extra wait before a window closes",
    "TOP_N": "channels per game in GAME_TOP_CHANNELS",
    "ALERT_THRESHOLD_VIEWERS": "threshold alert: viewer_count reaches T from below",
    "SURGE_MIN_VIEWERS": "surge alert minimum M",
    "SURGE_RATIO": "surge alert ratio R over the baseline",
    "GAME_SURGE_MIN_VIEWERS": "game surge minimum M_g",
    "SURGE_BASELINE_SECONDS": "baseline span of surge alerts",
    "ALERT_COOLDOWN_SECONDS": "one alert per kind and subject per cooldown",
    "SLACK_WEBHOOK_URL": "Slack incoming webhook (empty = alerts to the console)",
    "SINK_LOAD_METHOD": "copy (PUT + COPY INTO) or insert (Snowflake; BigQuery always stages by load job)",
    "SINK_BATCH_ROWS": "a sink writes after this many records (the raw sink: rows, as SINK_BATCH_ROWS / CHUNK_STREAMS chunks) ...",
    "SINK_COMMIT_INTERVAL_SECONDS": "... or after this many seconds",
    "SINK_RETRY_SECONDS": "pause before retrying a transient warehouse error",
    "SINK_BOOTSTRAP": "apply the schema when a sink starts",
    "RAW_RETENTION": "default age for `prune` of STREAM_LOGS",
    "CHUNK_STREAMS": "at most this many stream objects per twitch.streams message (chunk)",
    "CHUNK_KEYS": "chunk keys: a channel's key is crc32(user_id) % CHUNK_KEYS; fixed for the life of the topic",
    "SLACK_TIMEOUT_SECONDS": "Slack HTTP timeout",
    "SINK_SESSION_TIMEOUT_MS": "Kafka session timeout of sink and Slack consumers",
    "PROCESSOR_INSTANCE_ID": "stable id per processor replica: static membership, stable transactional.id",
    "PROCESSOR_SESSION_TIMEOUT_MS": "how soon a processor replica that died for good loses its partitions",
    "PROCESSOR_TRANSACTION_TIMEOUT_MS": "how long a dead replica's open transaction can block its outputs",
    "PROCESSOR_COMMIT_SECONDS": "exactly-once commit interval of the processor (output latency)",
    "METRICS_PORT": "Prometheus /metrics and /healthz port (0 = off)",
    "LOG_LEVEL": "DEBUG, INFO, WARNING, ERROR",
}


# --- reading the code -------------------------------------------------------------------


def is_secret(name: str) -> bool:
    from pydantic import SecretStr

    return Settings.model_fields[name].annotation is SecretStr


def env_names(name: str) -> list[str]:
    alias = Settings.model_fields[name].validation_alias
    return [str(c) for c in getattr(alias, "choices", [])] or [name.upper()]


def default_text(name: str) -> str:
    value = Settings.model_fields[name].get_default(call_default_factory=True)
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if name not in ("clock_speed", "surge_ratio") else str(value)
    return str(value)


# Derived settings an access stands for.
_DERIVED = {
    "twitch_credential_pairs": ("twitch_client_id", "twitch_client_secret", "twitch_credentials"),
    "uses_local_warehouse": ("snowflake_account",),
    "uses_local_bigquery": ("bigquery_project",),
}


def fields_used(modules: tuple[str, ...]) -> set[str]:
    """Settings fields the given files (or packages) access as `.name`."""
    source = ""
    for module in modules:
        path = ROOT / module
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        source += "\n".join(f.read_text() for f in files)
    used = {name for name in Settings.model_fields if re.search(rf"\.{name}\b", source)}
    for prop, names in _DERIVED.items():
        if re.search(rf"\.{prop}\b", source):
            used.update(names)
    return used


def reads(app: App) -> set[str]:
    """Settings the application reads anywhere: its modules, plus what every worker needs."""
    common = COMMON_FIELDS + QUIX_PROVIDED if app.kind == "Service" else JOB_FIELDS
    return set(common) | fields_used(app.modules) | set(app.extra_fields)


def app_fields(app: App) -> list[str]:
    """Settings an application declares on Quix: what it reads, less what Quix provides."""
    wanted = reads(app) - set(QUIX_PROVIDED)
    return [name for name in Settings.model_fields if name in wanted]  # settings order


def topic_variable(topic: str) -> str:
    """The environment variable `Settings.topic()` reads for `topic` (TOPIC_WINDOWS_GAMES)."""
    return _env_name(topic_field(topic))


# --- writing -------------------------------------------------------------------------------


def variables(app: App) -> list[dict[str, Any]]:
    """The application's variables as app.yaml declares them (version 2.0: the deployments
    inherit them). Secrets are project variables with `secret: true`; the default value of a
    project variable is its key in the project's variable store (here: the setting's name)."""
    out: list[dict[str, Any]] = []
    for kind, names in (("InputTopic", app.inputs), ("OutputTopic", app.outputs)):
        for topic in names:
            out.append({"name": topic_variable(topic), "inputType": kind,
                        "description": f"{'read from' if kind == 'InputTopic' else 'written to'} topic {topic}",
                        "required": True, "defaultValue": topic})
    for name in app_fields(app):
        env = _env_name(name)
        entry: dict[str, Any] = {"name": env, "inputType": "ProjectVariable" if is_secret(name) else "FreeText",
                                 "description": DESCRIPTIONS.get(env, "see pulse/settings.py"),
                                 "required": env in REQUIRED}
        if is_secret(name):
            entry.update(secret=True, defaultValue=env)
        else:
            entry["defaultValue"] = DEPLOY_VALUES.get(env, default_text(name))
        out.append(entry)
    return out


def quix_yaml() -> dict[str, Any]:
    deployments = []
    for app in APPS:
        deployment: dict[str, Any] = {
            "name": app.name, "application": app.folder, "version": "latest", "deploymentType": app.kind,
            "resources": {"cpu": app.cpu, "memory": app.memory, "replicas": app.replicas},
        }
        if app.kind == "Service":
            deployment["desiredStatus"] = "Running"
            # /metrics and /healthz inside the environment: http://<name>:9108 (for a Prometheus there)
            deployment["network"] = {"serviceName": app.name, "ports": [{"port": 9108, "targetPort": 9108}]}
        else:
            deployment["desiredStatus"] = "Stopped"  # started when due; runs to completion
        if app.state_gb:
            deployment["state"] = {"enabled": True, "size": app.state_gb}
        deployments.append(deployment)  # no `variables:`: every one is inherited from app.yaml
    return {
        "metadata": {"version": QUIX_VERSION},
        "deployments": deployments,
        "topics": [{"name": name, "persisted": False,
                    "configuration": {"partitions": parts, "replicationFactor": 2, "retentionInMinutes": minutes,
                                      "retentionInBytes": -1, "cleanupPolicy": "Delete"}}
                   for name, (parts, minutes, _) in TOPICS.items()],
    }


def app_yaml(app: App) -> dict[str, Any]:
    return {"name": app.folder, "language": "python", "variables": variables(app),
            "dockerfile": "dockerfile", "runEntryPoint": "main.py", "defaultFile": "main.py",
            "includedFolders": list(INCLUDED_FOLDERS)}


def _dump(data: Any, header: str) -> str:
    body = yaml.safe_dump(data, sort_keys=False, width=120, allow_unicode=True)
    return header + body


def requirements() -> str:
    """pyproject's runtime dependencies: the Quix build installs them from requirements.txt."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return ("# GENERATED by deploy/generate.py from pyproject.toml [project] dependencies.\n"
            + "".join(f"{dep}\n" for dep in project["dependencies"]))


def dockerfile(app: App) -> str:
    """Quix's Python build: the context is the app folder plus its includedFolders at their
    repository paths, and Quix passes the app folder's path as MAINAPPPATH."""
    return f"""# GENERATED by deploy/generate.py: Quix Cloud application '{app.folder}' (deployment '{app.name}').
# Build context (Quix): this folder plus the includedFolders of app.yaml, at their repository
# paths; Quix sets MAINAPPPATH to this folder. Runs `twitch-pulse {' '.join(app.command)}` (main.py).
FROM python:3.11-slim-bookworm

ENV DEBIAN_FRONTEND=noninteractive \\
    PYTHONUNBUFFERED=1 \\
    PYTHONIOENCODING=UTF-8 \\
    PYTHONDONTWRITEBYTECODE=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    PYTHONPATH="/app" \\
    METRICS_PORT=9108

ARG MAINAPPPATH=.

WORKDIR /app
# Dependencies first (cached until requirements.txt changes), then the code.
COPY "${{MAINAPPPATH}}/requirements.txt" "${{MAINAPPPATH}}/requirements.txt"
RUN pip install --no-cache-dir -r "${{MAINAPPPATH}}/requirements.txt"
COPY . .
WORKDIR "/app/${{MAINAPPPATH}}"
# /metrics and /healthz (200 while healthy, 503 with the reason) on METRICS_PORT
EXPOSE 9108
STOPSIGNAL SIGTERM
ENTRYPOINT ["python3", "main.py"]
"""


def main_py(app: App) -> str:
    return (f'"""Quix Cloud entry point of the \'{app.name}\' deployment: `twitch-pulse {" ".join(app.command)}`.\n\n'
            f'GENERATED by deploy/generate.py. Extra arguments pass through (`python main.py --help`).\n'
            f'The repository root is on PYTHONPATH (the dockerfile sets it; Quix copies the\n'
            f'includedFolders there)."""\n\n'
            "import sys\n\nfrom pulse.cli import main\n\n"
            f"if __name__ == \"__main__\":\n    sys.exit(main([{', '.join(repr(a) for a in app.command)}, *sys.argv[1:]]))\n")


# --- README tables --------------------------------------------------------------------------


def config_table() -> str:
    rows = ["| variable | default | secret | used by | meaning |", "|---|---|---|---|---|"]
    users: dict[str, list[str]] = {}
    for app in APPS:
        for name in Settings.model_fields:
            if name in reads(app):
                users.setdefault(name, []).append(app.name)
        for topic in (*app.inputs, *app.outputs):
            users.setdefault(topic_field(topic), []).append(app.name)
    for name in Settings.model_fields:
        names = env_names(name)
        env = names[0] + (" (also " + ", ".join(f"`{n}`" for n in names[1:]) + ")" if len(names) > 1 else "")
        env = f"`{names[0]}`" + env[len(names[0]):]
        default = default_text(name)
        rows.append(f"| {env} | {f'`{default}`' if default else '(empty)'} | {'yes' if is_secret(name) else 'no'} | "
                    f"{', '.join(users.get(name, [])) or 'CLI tools'} | {DESCRIPTIONS.get(_env_name(name), '')} |")
    return "\n".join(rows)


METRIC_MODULES = ("producers.metrics", "processors.metrics", "sinks.metrics")


def metrics() -> list[tuple[str, str, str, tuple[str, ...], str]]:
    """(exposed name, type, worker module, labels, help) of every metric the workers define."""
    import importlib

    from prometheus_client.metrics import MetricWrapperBase

    found = []
    for module_name in METRIC_MODULES:
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                name = value._name + ("_total" if value._type == "counter" else "")
                found.append((name, value._type, module_name.split(".")[0], tuple(value._labelnames),
                              value._documentation))
    return sorted(set(found))


def metrics_table() -> str:
    rows = ["| metric | type | labels | from | help |", "|---|---|---|---|---|"]
    for name, kind, worker, labels, help_text in metrics():
        rows.append(f"| `{name}` | {kind} | {', '.join(labels) or '-'} | {worker} | {help_text.replace('|', '/')} |")
    return "\n".join(rows)


def _replace_block(text: str, tag: str, content: str) -> str:
    begin, end = f"<!-- BEGIN generated: {tag} -->", f"<!-- END generated: {tag} -->"
    if begin not in text or end not in text:
        raise SystemExit(f"README.md: markers for {tag!r} not found")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{content}\n{end}{tail}"


def readme(current: str) -> str:
    text = _replace_block(current, "configuration", config_table())
    return _replace_block(text, "metrics", metrics_table())


# --- main -----------------------------------------------------------------------------------


def outputs() -> dict[Path, str]:
    header = "# GENERATED by deploy/generate.py from the code (pulse/settings.py, workers): edit there, then regenerate.\n"
    files = {ROOT / "quix.yaml": _dump(quix_yaml(), "# Quix Cloud project: every worker of Twitch Pulse and its topics.\n" + header)}
    for app in APPS:
        folder = ROOT / app.folder
        files[folder / "app.yaml"] = _dump(app_yaml(app), header)
        files[folder / "dockerfile"] = dockerfile(app)
        files[folder / "main.py"] = main_py(app)
        files[folder / "requirements.txt"] = requirements()
    files[ROOT / "README.md"] = readme((ROOT / "README.md").read_text())
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only report files that are out of date (exit 1)")
    args = parser.parse_args(argv)
    stale = []
    for path, content in outputs().items():
        if not path.exists() or path.read_text() != content:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content)
    for path in stale:
        print(("out of date: " if args.check else "wrote ") + str(path))
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
