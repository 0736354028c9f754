"""The settings of every worker, grouped by component, from the environment and an optional `.env`.

Each group is a pydantic-settings model that reads its own variables: a field is the
variable named by the group's prefix and the field's name (`KafkaSettings.bootstrap` is
KAFKA_BOOTSTRAP); only a variable that does not follow that rule says so (`validation_alias`).
`Settings` holds the groups (`settings.kafka.bootstrap`, `settings.snowflake.database`, ...)
and what every worker shares (STATE_DIR, METRICS_PORT, LOG_LEVEL, LOG_FORMAT).

The first seed's `.env` (`client_id`, `client_secret`, `KAFKA_BOOTSTRAP`, `KAFKA_KEY`,
`KAFKA_SECRET`, `SNOWFLAKE_USER`, `SNOWFLAKE_PASSWORD`, `SNOWFLAKE_ACCOUNT`) works unchanged.
Every secret is a `SecretStr`, so it never shows in a repr, a log line or an exception.
A bad value becomes one `ConfigError` line naming the variable, never a traceback.
`load_settings(**overrides)` takes overrides by variable name (any case): `KAFKA_BOOTSTRAP=...`.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator, Optional

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from . import topics

# The broker when nothing names one: the local stack's (`twitch-pulse stack start`, compose's host listener)
LOCAL_BOOTSTRAP = "127.0.0.1:9092"

_AGE = re.compile(r"\s*(\d+)\s*([smhdw])\s*")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_age(text: str) -> timedelta:
    """`7d`, `36h`, `90m` -> a timedelta (the RAW_RETENTION and `prune --older-than` format)."""
    match = _AGE.fullmatch(str(text).lower())
    if not match:
        raise ValueError(f"not an age like 7d, 36h or 90m: {text!r}")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


class ConfigError(Exception):
    """A user mistake in configuration: printed as one line, exit code 2."""


def _split(value: Any) -> Any:
    """Comma-separated env values become lists; blanks are dropped."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _var(*names: str) -> AliasChoices:
    """A field read from a variable outside its group's prefix (or from several)."""
    return AliasChoices(*names)


class Group(BaseSettings):
    """One component's settings, each field the variable `<prefix><FIELD>` unless it says otherwise."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      case_sensitive=False, populate_by_name=True,
                                      enable_decoding=False)  # lists are comma-separated, not JSON

    @classmethod
    def variables(cls) -> Iterator[tuple[str, list[str]]]:
        """(field, its variable names: the first is the one to set) in declaration order."""
        prefix = cls.model_config.get("env_prefix", "")
        for name, info in cls.model_fields.items():
            alias = info.validation_alias
            yield name, ([str(a) for a in alias.choices] if isinstance(alias, AliasChoices)
                         else [f"{prefix}{name}".upper()])


class TwitchSettings(Group):
    """Twitch Helix: credentials, endpoints, and what to follow (empty: every live stream)."""

    model_config = SettingsConfigDict(env_prefix="TWITCH_")

    client_id: str = Field("", validation_alias=_var("TWITCH_CLIENT_ID", "client_id"))
    client_secret: SecretStr = Field(SecretStr(""), validation_alias=_var("TWITCH_CLIENT_SECRET", "client_secret"))
    credentials: SecretStr = SecretStr("")  # more credentials for sharding a sweep: "id1:secret1,id2:secret2"
    api_url: str = "https://api.twitch.tv/helix"
    auth_url: str = "https://id.twitch.tv/oauth2"
    game_ids: list[str] = Field(default_factory=list)
    game_names: list[str] = Field(default_factory=list)
    languages: list[str] = Field(default_factory=list)
    user_logins: list[str] = Field(default_factory=list)

    _lists = field_validator("game_ids", "game_names", "languages", "user_logins", mode="before")(_split)

    @field_validator("api_url", "auth_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @property
    def credential_pairs(self) -> list[tuple[str, SecretStr]]:
        """All client credentials: the primary pair first, then TWITCH_CREDENTIALS."""
        pairs: list[tuple[str, SecretStr]] = []
        if self.client_id:
            pairs.append((self.client_id, self.client_secret))
        for item in _split(self.credentials.get_secret_value()):
            client_id, sep, secret = item.partition(":")
            if not sep or not client_id or not secret:
                raise ConfigError("TWITCH_CREDENTIALS: each entry must be client_id:client_secret")
            pairs.append((client_id, SecretStr(secret)))
        return pairs


class ProducerSettings(Group):
    """The poller: its grid, its shard of the sweep, and how polls are cut into chunks."""

    model_config = SettingsConfigDict(env_prefix="PRODUCER_")

    # The poll interval I (also the processor's, DESIGN §4)
    poll_interval_seconds: int = Field(60, ge=1, validation_alias=_var("POLL_INTERVAL_SECONDS"))
    # Accelerated clock for demos and tests: simulated seconds per real second (1 = real time)
    clock_speed: float = Field(1.0, gt=0, validation_alias=_var("CLOCK_SPEED"))
    # Epoch seconds where simulated time equals real time (0: the simulator's start, adopted
    # by the producer from the simulator's Pulse-Clock header); see pulse/clock.py
    clock_anchor: float = Field(0.0, ge=0, validation_alias=_var("CLOCK_ANCHOR"))
    # This producer's shard "k/S" (0-based): shards split languages, games or logins between them
    shard: str = "0/1"
    # How one shard splits its sweep into parallel cursor chains: auto, none, language
    split: str = "auto"
    # Cursor chains paginated at the same time (each credential's rate limit still holds)
    concurrency: int = Field(4, ge=1, le=64)
    # Snapshot chunks (DESIGN §3): at most this many streams per twitch.streams message
    chunk_streams: int = Field(500, ge=1, le=5000, validation_alias=_var("CHUNK_STREAMS"))
    # Chunk keys: a channel belongs to key crc32(user_id) % CHUNK_KEYS. Fixed for the life of
    # the topic (the processor keeps its per-channel state per key). None (`auto`): the count
    # the topic was written with, else one chosen from the first poll with channels
    # (`producers.chunk_keys`)
    chunk_keys: Optional[int] = Field(None, ge=1, le=65536, validation_alias=_var("CHUNK_KEYS"))

    @field_validator("chunk_keys", mode="before")
    @classmethod
    def _auto_keys(cls, value: Any) -> Any:
        return None if isinstance(value, str) and value.strip().lower() in ("auto", "") else value

    @field_validator("shard")
    @classmethod
    def _shard(cls, value: str) -> str:
        index, sep, count = value.strip().partition("/")
        if not sep or not index.isdigit() or not count.isdigit() or not 0 <= int(index) < int(count):
            raise ValueError("must be k/S with 0 <= k < S, e.g. 0/2")
        return f"{int(index)}/{int(count)}"

    @field_validator("split")
    @classmethod
    def _split_mode(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in {"auto", "none", "language"}:
            raise ValueError("must be one of auto, none, language")
        return value


class KafkaSettings(Group):
    """The broker and the consumer groups. Kafka client tuning lives in `pulse.kafka`."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_")

    # Empty = not set: then Quix's own variables decide, as Quix Streams resolves them
    # (Quix__Broker__Address, then Quix__Sdk__Token), else LOCAL_BOOTSTRAP (`Settings.resolve`)
    bootstrap: str = ""
    key: SecretStr = SecretStr("")
    secret: SecretStr = SecretStr("")
    security_protocol: str = ""
    sasl_mechanism: str = "PLAIN"
    consumer_group_prefix: str = Field("twitch-pulse", validation_alias=_var("CONSUMER_GROUP_PREFIX"))
    # Set by Quix Cloud on its deployments (never declared by us): with the SDK token, Quix
    # Streams takes the broker, topic and consumer-group naming from the Quix Portal API
    quix_sdk_token: SecretStr = Field(SecretStr(""), validation_alias=_var("Quix__Sdk__Token"))
    quix_portal_api: str = Field("", validation_alias=_var("Quix__Portal__Api"))
    # Set by `quix pipeline up` (the Quix CLI's local pipeline): the broker of that pipeline
    quix_broker_address: str = Field("", validation_alias=_var("Quix__Broker__Address"))

    @field_validator("bootstrap", "quix_broker_address")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        if not value.strip():
            return ""  # not set: resolved by Settings.resolve
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError("must be host:port[,host:port...]")
        return value

    @property
    def uses_quix_broker(self) -> bool:
        """The Quix SDK token is set and no broker address is: Quix Streams configures the
        broker itself (from the Quix Portal API)."""
        return bool(self.quix_sdk_token.get_secret_value()) and not self.bootstrap


class TopicSettings(Group):
    """Topic names (empty = TOPIC_PREFIX + the DESIGN name: what a Quix deployment's
    InputTopic/OutputTopic variables set; `Settings.topic()` reads them) and how new ones are made."""

    model_config = SettingsConfigDict(env_prefix="TOPIC_")

    prefix: str = ""
    partitions: int = Field(2, ge=1)   # of topics a worker creates (existing topics are left alone)
    replication: int = Field(1, ge=1)
    streams: str = ""
    streams_dlq: str = ""
    windows_games: str = ""
    windows_channels: str = ""
    windows_top_channels: str = ""
    windows_streams: str = ""
    windows_languages: str = ""
    alerts: str = ""
    processor_partials: str = ""
    processor_game_polls: str = ""


class ProcessorSettings(Group):
    """Windows and alerts (DESIGN §4, §5), and the processor's replicas."""

    model_config = SettingsConfigDict(env_prefix="PROCESSOR_")

    window_seconds: int = Field(600, ge=1, validation_alias=_var("WINDOW_SECONDS"))
    window_grace_seconds: int = Field(0, ge=0, validation_alias=_var("WINDOW_GRACE_SECONDS"))
    top_n: int = Field(10, ge=1, validation_alias=_var("TOP_N"))
    alert_threshold_viewers: int = Field(10_000, ge=1, validation_alias=_var("ALERT_THRESHOLD_VIEWERS"))
    surge_min_viewers: int = Field(1_000, ge=0, validation_alias=_var("SURGE_MIN_VIEWERS"))
    surge_ratio: float = Field(1.0, ge=0, validation_alias=_var("SURGE_RATIO"))
    game_surge_min_viewers: int = Field(1_000, ge=0, validation_alias=_var("GAME_SURGE_MIN_VIEWERS"))
    surge_baseline_seconds: int = Field(900, ge=1, validation_alias=_var("SURGE_BASELINE_SECONDS"))
    alert_cooldown_seconds: int = Field(3600, ge=0, validation_alias=_var("ALERT_COOLDOWN_SECONDS"))
    # A stable id per processor replica (a StatefulSet pod name, "0" locally): static group
    # membership and a stable transactional.id, so a restarted replica takes its partitions
    # back at once and fences its own dead transaction instead of waiting for timeouts
    instance_id: str = ""
    # How soon a replica that died for good loses its partitions to the others
    session_timeout_ms: int = Field(10_000, ge=6_000)
    # How long a dead replica's open transaction can block readers of its outputs
    transaction_timeout_ms: int = Field(30_000, ge=10_000)
    # Exactly-once commit interval: outputs become visible at each commit (window latency),
    # and a longer one writes each chunk key's state once for several polls during a backfill
    commit_seconds: float = Field(1.0, gt=0, le=60)
    # In a catch-up, how long committed partials and game totals may wait unread behind the
    # input's backlog before the input is paused for them (`processors.catch_up`): each pause
    # costs a refetch of the input's prefetched messages; a shorter wait emits windows sooner
    catch_up_patience_seconds: float = Field(5.0, gt=0, le=3600)


class SnowflakeSettings(Group):
    """The warehouse (the sinks, `status`, the dashboard and dbt connect alike); without
    SNOWFLAKE_ACCOUNT the local fakesnow server stands in."""

    model_config = SettingsConfigDict(env_prefix="SNOWFLAKE_")

    account: str = ""
    user: str = ""
    password: SecretStr = SecretStr("")
    private_key_file: Optional[Path] = None
    private_key: SecretStr = SecretStr("")
    private_key_passphrase: SecretStr = SecretStr("")
    database: str = "TWITCH"
    schema_name: str = Field("ANALYTICS", validation_alias=_var("SNOWFLAKE_SCHEMA"))
    warehouse: str = ""
    role: str = ""
    # Where the local stand-in (fakesnow server) listens when SNOWFLAKE_ACCOUNT is not set
    host: str = "127.0.0.1"
    port: int = Field(8765, ge=1, le=65535)
    network_timeout: int = Field(60, ge=1)

    @property
    def uses_local(self) -> bool:
        """No account configured: the fakesnow server stands in for Snowflake."""
        return not self.account


class BigQuerySettings(Group):
    """BigQuery, the second warehouse (WAREHOUSE=bigquery); without BIGQUERY_PROJECT the local
    bqemulator server stands in."""

    model_config = SettingsConfigDict(env_prefix="BIGQUERY_")

    project: str = ""        # Google Cloud project of the dataset
    dataset: str = "twitch_analytics"
    location: str = "US"
    # A service-account key file; neither this nor the JSON below = Application Default Credentials
    credentials_file: Optional[Path] = Field(
        None, validation_alias=_var("BIGQUERY_CREDENTIALS_FILE", "GOOGLE_APPLICATION_CREDENTIALS"))
    # The key file's content itself (a secret variable on Quix, a Secret on Kubernetes)
    credentials_json: SecretStr = SecretStr("")
    # Where the local bqemulator's REST API listens without BIGQUERY_PROJECT
    host: str = "127.0.0.1"
    port: int = Field(9050, ge=1, le=65535)
    # HTTP timeout of one API call and the longest wait for one job, seconds
    timeout: int = Field(60, ge=1)

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9_]{1,1024}", value):
            raise ValueError("must be letters, digits and underscores (a BigQuery dataset id)")
        return value

    @field_validator("project")
    @classmethod
    def _project(cls, value: str) -> str:
        if value and not re.fullmatch(r"[a-z][a-z0-9.:-]{1,62}[a-z0-9]", value.strip()):
            raise ValueError("must be a Google Cloud project id (lower-case letters, digits, hyphens)")
        return value.strip()

    @property
    def uses_local(self) -> bool:
        """No project configured: the bqemulator server stands in for BigQuery."""
        return not self.project


class SinkSettings(Group):
    """How the sinks batch and load (DESIGN §6), and raw retention."""

    model_config = SettingsConfigDict(env_prefix="SINK_")

    # How rows reach the warehouse: "copy" (PUT + COPY INTO from staged NDJSON) or "insert"
    # (multi-row INSERT/MERGE from bound VALUES); chosen by bench/sink_bench.py
    load_method: str = "copy"
    # A sink writes (one warehouse transaction per partition) after this many records or seconds
    batch_rows: int = Field(20_000, ge=1)
    commit_interval_seconds: float = Field(2.0, gt=0)
    # Pause before retrying after a transient warehouse error (backpressure)
    retry_seconds: float = Field(10.0, gt=0)
    # Apply the versioned schema when a sink worker starts
    bootstrap: bool = True
    # Kafka session timeout of the sink and Slack consumers: how soon a crashed worker's partitions
    # move, and how long a sink rebuilt after a broker outage waits for its stale member to expire
    session_timeout_ms: int = Field(15_000, ge=6_000)
    # A sink whose main loop has not turned for this long (a Kafka call that never returned)
    # exits for its supervisor to restart it; /healthz says so from a quarter of it (pulse.watchdog)
    stall_seconds: float = Field(600.0, ge=30)
    # Default age for `prune`: STREAM_LOGS rows captured before now minus this are deleted
    raw_retention: str = Field("7d", validation_alias=_var("RAW_RETENTION"))

    @field_validator("load_method")
    @classmethod
    def _load_method(cls, value: str) -> str:
        value = value.lower()
        if value not in {"copy", "insert"}:
            raise ValueError("must be copy or insert")
        return value

    @field_validator("raw_retention")
    @classmethod
    def _retention(cls, value: str) -> str:
        try:
            parse_age(value)
        except ValueError:
            raise ValueError("must be a number and a unit s, m, h, d or w, e.g. 7d") from None
        return value.strip().lower()


class SlackSettings(Group):
    """Where spike alerts go (empty webhook: the console)."""

    model_config = SettingsConfigDict(env_prefix="SLACK_")

    webhook_url: SecretStr = SecretStr("")
    timeout_seconds: float = Field(10.0, gt=0)

    @field_validator("webhook_url")
    @classmethod
    def _webhook(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if raw and not raw.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL (the secret value is not shown)")
        return value


class DbtSettings(Group):
    """The analytics models (dbt, DESIGN §10): dbt from a virtualenv of its own (empty: the
    checkout's .venv-dbt/bin/dbt, else `dbt` on PATH), the project (empty: the checkout's dbt/,
    else ./dbt)."""

    model_config = SettingsConfigDict(env_prefix="DBT_")

    executable: str = ""
    project_dir: Optional[Path] = None


class CommonSettings(Group):
    """What every worker shares."""

    # Which warehouse the sinks, `bootstrap`, `prune`, `status` and the dashboard use
    warehouse: str = "snowflake"

    # local state: processor RocksDB stores, the Slack delivered log, dbt's files
    state_dir: Path = Path("state")
    # Set by Quix Cloud when state is enabled: replaces STATE_DIR
    quix_state_path: Optional[Path] = Field(None, validation_alias=_var("Quix__Deployment__State__Path"))
    metrics_port: int = Field(9108, ge=0, le=65535)
    log_level: str = "INFO"
    # text (a terminal) or json (one object per line, for containers and log collectors)
    log_format: str = "text"

    @field_validator("warehouse")
    @classmethod
    def _warehouse(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in {"snowflake", "bigquery"}:
            raise ValueError("must be snowflake or bigquery")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return value

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in {"text", "json"}:
            raise ValueError("must be text or json")
        return value


# attribute of Settings -> its group (in the order docs/configuration.md's table lists them)
GROUPS: dict[str, type[Group]] = {
    "twitch": TwitchSettings, "producer": ProducerSettings, "kafka": KafkaSettings, "topics": TopicSettings,
    "snowflake": SnowflakeSettings, "bigquery": BigQuerySettings, "dbt": DbtSettings, "processor": ProcessorSettings, "slack": SlackSettings,
    "sink": SinkSettings, "common": CommonSettings,
}


class Settings(BaseModel):
    """Every group, and what every worker shares (STATE_DIR, METRICS_PORT, LOG_LEVEL, LOG_FORMAT)."""

    model_config = ConfigDict(frozen=False)

    twitch: TwitchSettings
    producer: ProducerSettings
    kafka: KafkaSettings
    topics: TopicSettings
    snowflake: SnowflakeSettings
    bigquery: BigQuerySettings
    dbt: DbtSettings
    processor: ProcessorSettings
    slack: SlackSettings
    sink: SinkSettings
    common: CommonSettings

    @property
    def state_dir(self) -> Path:
        return self.common.quix_state_path or self.common.state_dir  # Quix mounts the state volume there

    @property
    def warehouse(self) -> str:
        """snowflake or bigquery (WAREHOUSE)."""
        return self.common.warehouse

    @property
    def metrics_port(self) -> int:
        return self.common.metrics_port

    @property
    def log_level(self) -> str:
        return self.common.log_level

    @property
    def log_format(self) -> str:
        return self.common.log_format

    def resolve(self) -> "Settings":
        """The broker, in Quix Streams' own order (quixstreams.Application): an explicit address
        (KAFKA_BOOTSTRAP), then Quix__Broker__Address, then the SDK token's Quix-managed broker."""
        kafka = self.kafka
        if not kafka.bootstrap:
            if kafka.quix_broker_address:
                kafka.bootstrap = kafka.quix_broker_address
            elif not kafka.quix_sdk_token.get_secret_value():
                kafka.bootstrap = LOCAL_BOOTSTRAP
        if kafka.uses_quix_broker and not kafka.quix_portal_api:
            raise ConfigError("invalid configuration: Quix__Portal__Api: required with Quix__Sdk__Token "
                              "(Quix Cloud sets both)")
        return self

    @cached_property
    def secret_values(self) -> tuple[str, ...]:
        """Every non-empty secret, for the log redaction filter."""
        values = [value.get_secret_value() for _, _, value in self._values() if isinstance(value, SecretStr)]
        if self.twitch.credentials.get_secret_value():
            values += [secret.get_secret_value() for _, secret in self.twitch.credential_pairs]
        return tuple(v for v in values if len(v) >= 4)

    def _values(self) -> Iterator[tuple[str, str, Any]]:
        """(group, variable, value) of every setting."""
        for attr, group in GROUPS.items():
            values = getattr(self, attr)
            for field, names in group.variables():
                yield attr, names[0], getattr(values, field)

    def as_env(self) -> dict[str, str]:
        """These settings as environment variables, for starting child workers with the same
        configuration. Contains secrets: pass it to a process, never print it."""
        env: dict[str, str] = {}
        for _, name, value in self._values():
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, list):
                value = ",".join(value)
            elif value is None:
                continue
            env[name] = str(value)
        return env

    def replace(self, **variables: Any) -> "Settings":
        """A copy with these settings changed, named as `load_settings` names them (by variable,
        any case: `replace(SNOWFLAKE_NETWORK_TIMEOUT=4)`). Values are not validated again."""
        known = variable_names()
        changes: dict[str, dict[str, Any]] = {}
        for name, value in variables.items():
            if name.upper() not in known:
                raise TypeError(f"Settings.replace: no setting named {name}")
            attr, field = known[name.upper()]
            changes.setdefault(attr, {})[field] = value
        return self.model_copy(update={attr: getattr(self, attr).model_copy(update=fields)
                                       for attr, fields in changes.items()})

    def topic(self, name: str) -> str:
        """A topic's full name: its TOPIC_<NAME> variable when set, else the DESIGN name
        behind the optional TOPIC_PREFIX."""
        return getattr(self.topics, topic_field(name), "") or f"{self.topics.prefix}{name}"

    def group(self, worker: str) -> str:
        return f"{self.kafka.consumer_group_prefix}-{worker}"


def topic_field(name: str) -> str:
    """The `TopicSettings` field that names topic `name`: twitch.windows.games -> windows_games."""
    return name.removeprefix("twitch.").replace(".", "_").lower()


# Every topic the code uses has a name field (tests/unit/test_deploy.py checks the reverse too).
TOPIC_NAMES = (*topics.ALL, *topics.PROCESSOR_INTERNAL)


def variable_names() -> dict[str, tuple[str, str]]:
    """Every variable name (upper case) -> (group attribute, field)."""
    found: dict[str, tuple[str, str]] = {}
    for attr, group in GROUPS.items():
        for field, names in group.variables():
            for name in names:
                found[name.upper()] = (attr, field)
    return found


def variable_of(attr: str, field: str) -> str:
    """The variable to set for a group's field."""
    return next(names[0] for name, names in GROUPS[attr].variables() if name == field)


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment and `.env` (TWITCH_PULSE_ENV_FILE names another),
    `overrides` by variable name; validation errors become one readable ConfigError."""
    env_file = os.environ.get("TWITCH_PULSE_ENV_FILE", ".env")
    known = variable_names()
    routed: dict[str, dict[str, Any]] = {attr: {} for attr in GROUPS}
    for name, value in overrides.items():
        if name.upper() not in known:
            raise TypeError(f"load_settings: no setting named {name}")
        attr, field = known[name.upper()]
        routed[attr][field] = value
    groups: dict[str, Group] = {}
    problems: list[str] = []
    for attr, group in GROUPS.items():
        try:
            groups[attr] = group(_env_file=env_file, **routed[attr])  # type: ignore[call-arg]
        except ValidationError as exc:
            problems += [_problem(attr, error) for error in exc.errors()]
    if problems:
        raise ConfigError("invalid configuration: " + "; ".join(problems))
    return Settings.model_validate(groups).resolve()


def _problem(attr: str, error: Any) -> str:
    field = str(error["loc"][0]) if error["loc"] else ""
    group = GROUPS[attr]
    info = group.model_fields.get(field)
    name = next((names[0] for f, names in group.variables() if f == field), field)
    message = error["msg"]
    if info is not None and info.annotation is not SecretStr:
        bad = error.get("input")
        if isinstance(bad, (str, int, float)):
            message += f" (got {bad!r})"
    return f"{name}: {message}"
