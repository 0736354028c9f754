"""One typed settings object for every worker, from the environment and an optional `.env`.

The first seed's `.env` (`client_id`, `client_secret`, `KAFKA_BOOTSTRAP`, `KAFKA_KEY`,
`KAFKA_SECRET`, `SNOWFLAKE_USER`, `SNOWFLAKE_PASSWORD`, `SNOWFLAKE_ACCOUNT`) works unchanged.
Every secret is a `SecretStr`, so it never shows in a repr, a log line or an exception.
A bad value becomes one `ConfigError` line naming the variable, never a traceback.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Optional

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
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


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


def _split(value: Any) -> Any:
    """Comma-separated env values become lists; blanks are dropped."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
        enable_decoding=False,  # lists are comma-separated, not JSON
    )

    # --- Twitch Helix -------------------------------------------------------------
    twitch_client_id: str = Field("", validation_alias=_env("TWITCH_CLIENT_ID", "client_id"))
    twitch_client_secret: SecretStr = Field(
        SecretStr(""), validation_alias=_env("TWITCH_CLIENT_SECRET", "client_secret")
    )
    # Extra credentials for sharding a sweep: "id1:secret1,id2:secret2"
    twitch_credentials: SecretStr = Field(SecretStr(""), validation_alias=_env("TWITCH_CREDENTIALS"))
    twitch_api_url: str = Field("https://api.twitch.tv/helix", validation_alias=_env("TWITCH_API_URL"))
    twitch_auth_url: str = Field("https://id.twitch.tv/oauth2", validation_alias=_env("TWITCH_AUTH_URL"))
    twitch_game_ids: list[str] = Field(default_factory=list, validation_alias=_env("TWITCH_GAME_IDS"))
    twitch_game_names: list[str] = Field(default_factory=list, validation_alias=_env("TWITCH_GAME_NAMES"))
    twitch_languages: list[str] = Field(default_factory=list, validation_alias=_env("TWITCH_LANGUAGES"))
    twitch_user_logins: list[str] = Field(default_factory=list, validation_alias=_env("TWITCH_USER_LOGINS"))
    poll_interval_seconds: int = Field(60, ge=1, validation_alias=_env("POLL_INTERVAL_SECONDS"))
    # Accelerated clock for demos and tests: simulated seconds per real second (1 = real time)
    clock_speed: float = Field(1.0, gt=0, validation_alias=_env("CLOCK_SPEED"))
    # Epoch seconds where simulated time equals real time (0: the simulator's start, adopted
    # by the producer from the simulator's Pulse-Clock header); see pulse/clock.py
    clock_anchor: float = Field(0.0, ge=0, validation_alias=_env("CLOCK_ANCHOR"))
    # This producer's shard "k/S" (0-based): shards split languages, games or logins between them
    producer_shard: str = Field("0/1", validation_alias=_env("PRODUCER_SHARD"))
    # How one shard splits its sweep into parallel cursor chains: auto, none, language
    producer_split: str = Field("auto", validation_alias=_env("PRODUCER_SPLIT"))
    # Cursor chains paginated at the same time (each credential's rate limit still holds)
    producer_concurrency: int = Field(4, ge=1, le=64, validation_alias=_env("PRODUCER_CONCURRENCY"))

    # --- Kafka --------------------------------------------------------------------
    # Empty = not set: then Quix's own variables decide, as Quix Streams resolves them
    # (Quix__Broker__Address, then Quix__Sdk__Token), else the local LOCAL_BOOTSTRAP (_connection)
    kafka_bootstrap: str = Field("", validation_alias=_env("KAFKA_BOOTSTRAP"))
    kafka_key: SecretStr = Field(SecretStr(""), validation_alias=_env("KAFKA_KEY"))
    kafka_secret: SecretStr = Field(SecretStr(""), validation_alias=_env("KAFKA_SECRET"))
    kafka_security_protocol: str = Field("", validation_alias=_env("KAFKA_SECURITY_PROTOCOL"))
    kafka_sasl_mechanism: str = Field("PLAIN", validation_alias=_env("KAFKA_SASL_MECHANISM"))
    topic_prefix: str = Field("", validation_alias=_env("TOPIC_PREFIX"))
    topic_partitions: int = Field(2, ge=1, validation_alias=_env("TOPIC_PARTITIONS"))
    topic_replication: int = Field(1, ge=1, validation_alias=_env("TOPIC_REPLICATION"))
    consumer_group_prefix: str = Field("twitch-pulse", validation_alias=_env("CONSUMER_GROUP_PREFIX"))
    state_dir: Path = Field(Path("state"), validation_alias=_env("STATE_DIR"))
    # Snapshot chunks (DESIGN §3): at most this many streams per twitch.streams message
    chunk_streams: int = Field(500, ge=1, le=5000, validation_alias=_env("CHUNK_STREAMS"))
    # Chunk keys: a channel belongs to key crc32(user_id) % CHUNK_KEYS. Fixed for the life of
    # the topic (the processor keeps its per-channel state per key); at least the partition count
    chunk_keys: int = Field(256, ge=1, le=65536, validation_alias=_env("CHUNK_KEYS"))
    # Set by Quix Cloud on its deployments (never declared by us): with the SDK token, Quix
    # Streams takes the broker, topic and consumer-group naming from the Quix Portal API, so
    # KAFKA_BOOTSTRAP may stay empty; the state path is where Quix mounts the state volume.
    quix_sdk_token: SecretStr = Field(SecretStr(""), validation_alias=_env("Quix__Sdk__Token"))
    quix_portal_api: str = Field("", validation_alias=_env("Quix__Portal__Api"))
    # Set by `quix pipeline up` (the Quix CLI's local pipeline): the broker of that pipeline
    quix_broker_address: str = Field("", validation_alias=_env("Quix__Broker__Address"))
    quix_state_path: Optional[Path] = Field(None, validation_alias=_env("Quix__Deployment__State__Path"))

    # --- Topic names (empty = TOPIC_PREFIX + the DESIGN name): what a Quix deployment's
    # InputTopic/OutputTopic variables set; `topic()` reads them --------------------------
    topic_streams: str = Field("", validation_alias=_env("TOPIC_STREAMS"))
    topic_streams_dlq: str = Field("", validation_alias=_env("TOPIC_STREAMS_DLQ"))
    topic_windows_games: str = Field("", validation_alias=_env("TOPIC_WINDOWS_GAMES"))
    topic_windows_channels: str = Field("", validation_alias=_env("TOPIC_WINDOWS_CHANNELS"))
    topic_windows_top_channels: str = Field("", validation_alias=_env("TOPIC_WINDOWS_TOP_CHANNELS"))
    topic_windows_streams: str = Field("", validation_alias=_env("TOPIC_WINDOWS_STREAMS"))
    topic_windows_languages: str = Field("", validation_alias=_env("TOPIC_WINDOWS_LANGUAGES"))
    topic_alerts: str = Field("", validation_alias=_env("TOPIC_ALERTS"))
    topic_processor_partials: str = Field("", validation_alias=_env("TOPIC_PROCESSOR_PARTIALS"))
    topic_processor_game_polls: str = Field("", validation_alias=_env("TOPIC_PROCESSOR_GAME_POLLS"))

    # --- Snowflake ----------------------------------------------------------------
    snowflake_account: str = Field("", validation_alias=_env("SNOWFLAKE_ACCOUNT"))
    snowflake_user: str = Field("", validation_alias=_env("SNOWFLAKE_USER"))
    snowflake_password: SecretStr = Field(SecretStr(""), validation_alias=_env("SNOWFLAKE_PASSWORD"))
    snowflake_private_key_file: Optional[Path] = Field(None, validation_alias=_env("SNOWFLAKE_PRIVATE_KEY_FILE"))
    snowflake_private_key: SecretStr = Field(SecretStr(""), validation_alias=_env("SNOWFLAKE_PRIVATE_KEY"))
    snowflake_private_key_passphrase: SecretStr = Field(
        SecretStr(""), validation_alias=_env("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE")
    )
    snowflake_database: str = Field("TWITCH", validation_alias=_env("SNOWFLAKE_DATABASE"))
    snowflake_schema: str = Field("ANALYTICS", validation_alias=_env("SNOWFLAKE_SCHEMA"))
    snowflake_warehouse: str = Field("", validation_alias=_env("SNOWFLAKE_WAREHOUSE"))
    snowflake_role: str = Field("", validation_alias=_env("SNOWFLAKE_ROLE"))
    # Where the local stand-in (fakesnow server) listens when SNOWFLAKE_ACCOUNT is not set
    snowflake_host: str = Field("127.0.0.1", validation_alias=_env("SNOWFLAKE_HOST"))
    snowflake_port: int = Field(8765, ge=1, le=65535, validation_alias=_env("SNOWFLAKE_PORT"))
    snowflake_network_timeout: int = Field(60, ge=1, validation_alias=_env("SNOWFLAKE_NETWORK_TIMEOUT"))

    # --- Analytics models (dbt, DESIGN §10) ---------------------------------------
    # The dbt executable, from a virtualenv of its own (empty: the checkout's .venv-dbt/bin/dbt,
    # else `dbt` on PATH); the project (empty: the checkout's dbt/, else ./dbt)
    dbt_executable: str = Field("", validation_alias=_env("DBT_EXECUTABLE"))
    dbt_project_dir: Optional[Path] = Field(None, validation_alias=_env("DBT_PROJECT_DIR"))

    # --- Windows and alerts (DESIGN §4, §5) --------------------------------------
    window_seconds: int = Field(600, ge=1, validation_alias=_env("WINDOW_SECONDS"))
    window_grace_seconds: int = Field(0, ge=0, validation_alias=_env("WINDOW_GRACE_SECONDS"))
    top_n: int = Field(10, ge=1, validation_alias=_env("TOP_N"))
    alert_threshold_viewers: int = Field(10_000, ge=1, validation_alias=_env("ALERT_THRESHOLD_VIEWERS"))
    surge_min_viewers: int = Field(1_000, ge=0, validation_alias=_env("SURGE_MIN_VIEWERS"))
    surge_ratio: float = Field(1.0, ge=0, validation_alias=_env("SURGE_RATIO"))
    game_surge_min_viewers: int = Field(1_000, ge=0, validation_alias=_env("GAME_SURGE_MIN_VIEWERS"))
    surge_baseline_seconds: int = Field(900, ge=1, validation_alias=_env("SURGE_BASELINE_SECONDS"))
    alert_cooldown_seconds: int = Field(3600, ge=0, validation_alias=_env("ALERT_COOLDOWN_SECONDS"))
    slack_webhook_url: SecretStr = Field(SecretStr(""), validation_alias=_env("SLACK_WEBHOOK_URL"))

    # --- Sinks (DESIGN §6) ----------------------------------------------------------
    # How rows reach the warehouse: "copy" (PUT + COPY INTO from staged NDJSON) or "insert"
    # (multi-row INSERT/MERGE from bound VALUES); chosen by bench/sink_bench.py
    sink_load_method: str = Field("copy", validation_alias=_env("SINK_LOAD_METHOD"))
    # A sink writes (one warehouse transaction per partition) after this many records or seconds
    sink_batch_rows: int = Field(20_000, ge=1, validation_alias=_env("SINK_BATCH_ROWS"))
    sink_commit_interval_seconds: float = Field(2.0, gt=0, validation_alias=_env("SINK_COMMIT_INTERVAL_SECONDS"))
    # Pause before retrying after a transient warehouse error (backpressure)
    sink_retry_seconds: float = Field(10.0, gt=0, validation_alias=_env("SINK_RETRY_SECONDS"))
    # Apply the versioned schema (tables, views) when a sink worker starts
    sink_bootstrap: bool = Field(True, validation_alias=_env("SINK_BOOTSTRAP"))
    # Default age for `prune`: STREAM_LOGS rows captured before now minus this are deleted
    raw_retention: str = Field("7d", validation_alias=_env("RAW_RETENTION"))
    slack_timeout_seconds: float = Field(10.0, gt=0, validation_alias=_env("SLACK_TIMEOUT_SECONDS"))
    # Kafka session timeout of the sink and Slack consumers: how soon a crashed worker's partitions
    # move, and how long a sink rebuilt after a broker outage waits for its stale member to expire
    # (heartbeats come from librdkafka's own thread, so a slow warehouse write never trips it)
    sink_session_timeout_ms: int = Field(15_000, ge=6_000, validation_alias=_env("SINK_SESSION_TIMEOUT_MS"))

    # --- Processor failover (issue 10 §6) --------------------------------------------
    # A stable id per processor replica (a StatefulSet pod name, "0" locally): static group
    # membership and a stable transactional.id, so a restarted replica takes its partitions
    # back at once and fences its own dead transaction instead of waiting for timeouts
    processor_instance_id: str = Field("", validation_alias=_env("PROCESSOR_INSTANCE_ID"))
    # How soon a replica that died for good loses its partitions to the others
    processor_session_timeout_ms: int = Field(10_000, ge=6_000, validation_alias=_env("PROCESSOR_SESSION_TIMEOUT_MS"))
    # How long a dead replica's open transaction can block readers of its outputs
    processor_transaction_timeout_ms: int = Field(
        30_000, ge=10_000, validation_alias=_env("PROCESSOR_TRANSACTION_TIMEOUT_MS"))
    # Exactly-once commit interval: outputs become visible at each commit (window latency),
    # and a longer one writes each chunk key's state once for several polls during a backfill
    processor_commit_seconds: float = Field(1.0, gt=0, le=60, validation_alias=_env("PROCESSOR_COMMIT_SECONDS"))

    # --- Operating ----------------------------------------------------------------
    metrics_port: int = Field(9108, ge=0, le=65535, validation_alias=_env("METRICS_PORT"))
    log_level: str = Field("INFO", validation_alias=_env("LOG_LEVEL"))
    # text (a terminal) or json (one object per line, for containers and log collectors)
    log_format: str = Field("text", validation_alias=_env("LOG_FORMAT"))

    _split_lists = field_validator(
        "twitch_game_ids", "twitch_game_names", "twitch_languages", "twitch_user_logins", mode="before"
    )(_split)

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

    @field_validator("producer_shard")
    @classmethod
    def _shard(cls, value: str) -> str:
        index, sep, count = value.strip().partition("/")
        if not sep or not index.isdigit() or not count.isdigit() or not 0 <= int(index) < int(count):
            raise ValueError("must be k/S with 0 <= k < S, e.g. 0/2")
        return f"{int(index)}/{int(count)}"

    @field_validator("producer_split")
    @classmethod
    def _split_mode(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in {"auto", "none", "language"}:
            raise ValueError("must be one of auto, none, language")
        return value

    @field_validator("kafka_bootstrap", "quix_broker_address")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        if not value.strip():
            return ""  # not set: resolved in _connection
        for server in value.split(","):
            host, _, port = server.strip().rpartition(":")
            if not host or not port.isdigit():
                raise ValueError("must be host:port[,host:port...]")
        return value

    @field_validator("twitch_api_url", "twitch_auth_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("sink_load_method")
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

    @field_validator("slack_webhook_url")
    @classmethod
    def _webhook(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if raw and not raw.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL (the secret value is not shown)")
        return value

    @model_validator(mode="after")
    def _connection(self) -> "Settings":
        # The broker, in Quix Streams' own order (quixstreams.Application): an explicit address
        # (KAFKA_BOOTSTRAP), then Quix__Broker__Address, then the SDK token's Quix-managed broker
        if not self.kafka_bootstrap:
            if self.quix_broker_address:
                self.kafka_bootstrap = self.quix_broker_address
            elif not self.quix_sdk_token.get_secret_value():
                self.kafka_bootstrap = LOCAL_BOOTSTRAP
        if self.uses_quix_broker and not self.quix_portal_api:
            raise ValueError("Quix__Portal__Api: required with Quix__Sdk__Token (Quix Cloud sets both)")
        if self.quix_state_path is not None:
            self.state_dir = self.quix_state_path  # Quix mounts the state volume there
        return self

    # --- Derived ------------------------------------------------------------------
    @property
    def uses_quix_broker(self) -> bool:
        """The Quix SDK token is set and no broker address is: Quix Streams configures the
        broker itself (from the Quix Portal API)."""
        return bool(self.quix_sdk_token.get_secret_value()) and not self.kafka_bootstrap

    @property
    def uses_local_warehouse(self) -> bool:
        """No account configured: the fakesnow server stands in for Snowflake."""
        return not self.snowflake_account

    @property
    def twitch_credential_pairs(self) -> list[tuple[str, SecretStr]]:
        """All client credentials: the primary pair first, then TWITCH_CREDENTIALS."""
        pairs: list[tuple[str, SecretStr]] = []
        if self.twitch_client_id:
            pairs.append((self.twitch_client_id, self.twitch_client_secret))
        for item in _split(self.twitch_credentials.get_secret_value()):
            client_id, sep, secret = item.partition(":")
            if not sep or not client_id or not secret:
                raise ConfigError("TWITCH_CREDENTIALS: each entry must be client_id:client_secret")
            pairs.append((client_id, SecretStr(secret)))
        return pairs

    @cached_property
    def secret_values(self) -> tuple[str, ...]:
        """Every non-empty secret, for the log redaction filter."""
        values = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                values.append(value.get_secret_value())
        for _, secret in self.twitch_credential_pairs if self.twitch_credentials.get_secret_value() else []:
            values.append(secret.get_secret_value())
        return tuple(v for v in values if len(v) >= 4)

    def as_env(self) -> dict[str, str]:
        """These settings as environment variables, for starting child workers with the same
        configuration. Contains secrets: pass it to a process, never print it."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            elif isinstance(value, list):
                value = ",".join(value)
            elif value is None:
                continue
            env[_env_name(name)] = str(value)
        return env

    def topic(self, name: str) -> str:
        """A topic's full name: its TOPIC_<NAME> variable when set, else the DESIGN name
        behind the optional TOPIC_PREFIX."""
        return getattr(self, topic_field(name), "") or f"{self.topic_prefix}{name}"

    def group(self, worker: str) -> str:
        return f"{self.consumer_group_prefix}-{worker}"


def topic_field(name: str) -> str:
    """The settings field that overrides topic `name`: twitch.windows.games -> topic_windows_games."""
    return "topic_" + name.removeprefix("twitch.").replace(".", "_").lower()


# Every topic the code uses has an override field (tests/test_deploy.py checks the reverse too).
TOPIC_NAMES = (*topics.ALL, *topics.PROCESSOR_INTERNAL)


def _env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return field.upper()


def load_settings(**overrides: Any) -> Settings:
    """Build settings, turning validation errors into one readable ConfigError."""
    try:
        env_file = os.environ.get("TWITCH_PULSE_ENV_FILE", ".env")
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            if not error["loc"]:  # a check across fields names its variables itself
                problems.append(str(error["msg"]).removeprefix("Value error, "))
                continue
            field = str(error["loc"][0])
            name = _env_name(field) if field in Settings.model_fields else field
            message = error["msg"]
            field_info = Settings.model_fields.get(field)
            if field_info is not None and field_info.annotation is not SecretStr:
                bad = error.get("input")
                if isinstance(bad, (str, int, float)):
                    message += f" (got {bad!r})"
            problems.append(f"{name}: {message}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from None
