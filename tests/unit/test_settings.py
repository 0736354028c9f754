"""Settings: the first seed's .env works unchanged; every bad value is one clear line."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from pulse.logs import RedactingFilter
from pulse.settings import ConfigError, load_settings

SEED_ENV = """\
# Twitch
client_id=YOUR_TWITCH_ID
client_secret=YOUR_TWITCH_SECRET

# Kafka
KAFKA_BOOTSTRAP=pkc-xxxx.region.confluent.cloud:9092
KAFKA_KEY=YOUR_API_KEY
KAFKA_SECRET=YOUR_API_SECRET

# Snowflake
SNOWFLAKE_USER=your_user
SNOWFLAKE_PASSWORD=your_password
SNOWFLAKE_ACCOUNT=your_account
"""


@pytest.fixture
def seed_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    env = tmp_path / ".env"
    env.write_text(SEED_ENV)
    monkeypatch.setenv("TWITCH_PULSE_ENV_FILE", str(env))
    return env


def test_first_seed_env_works_unchanged(seed_env: Path) -> None:
    s = load_settings()
    assert s.twitch.client_id == "YOUR_TWITCH_ID"
    assert s.twitch.client_secret.get_secret_value() == "YOUR_TWITCH_SECRET"
    assert s.kafka.bootstrap == "pkc-xxxx.region.confluent.cloud:9092"
    assert s.kafka.key.get_secret_value() == "YOUR_API_KEY"
    assert s.snowflake.account == "your_account" and not s.snowflake.uses_local
    from pulse.kafka import client_config

    cfg = client_config(s)
    assert cfg["security.protocol"] == "SASL_SSL" and cfg["sasl.username"] == "YOUR_API_KEY"


def test_twitch_prefixed_names_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWITCH_CLIENT_ID", "cid")
    monkeypatch.setenv("TWITCH_CLIENT_SECRET", "csecret")
    monkeypatch.setenv("TWITCH_CREDENTIALS", "id2:sec2, id3:sec3")
    s = load_settings()
    assert [cid for cid, _ in s.twitch.credential_pairs] == ["cid", "id2", "id3"]


def test_secrets_never_show_in_repr(seed_env: Path) -> None:
    text = repr(load_settings()) + str(load_settings())
    for secret in ("YOUR_TWITCH_SECRET", "YOUR_API_KEY", "YOUR_API_SECRET", "your_password"):
        assert secret not in text


def test_secrets_are_redacted_from_log_lines(seed_env: Path, caplog: pytest.LogCaptureFixture) -> None:
    s = load_settings()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "token for %s is %s", ("a", "YOUR_API_SECRET"), None)
    RedactingFilter(s.secret_values).filter(record)
    assert "YOUR_API_SECRET" not in record.getMessage() and "***" in record.getMessage()


@pytest.mark.parametrize(
    "name,value,needle",
    [
        ("POLL_INTERVAL_SECONDS", "abc", "POLL_INTERVAL_SECONDS"),
        ("POLL_INTERVAL_SECONDS", "0", "POLL_INTERVAL_SECONDS"),
        ("WINDOW_SECONDS", "-5", "WINDOW_SECONDS"),
        ("KAFKA_BOOTSTRAP", "no-port", "KAFKA_BOOTSTRAP"),
        ("TWITCH_API_URL", "ftp://x", "TWITCH_API_URL"),
        ("SNOWFLAKE_PORT", "99999", "SNOWFLAKE_PORT"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL"),
        ("SURGE_RATIO", "x", "SURGE_RATIO"),
    ],
)
def test_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, name: str, value: str, needle: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert needle in message and "\n" not in message


def test_bad_webhook_does_not_echo_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "not-a-url-secret-token")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "SLACK_WEBHOOK_URL" in str(err.value) and "secret-token" not in str(err.value)


def test_bad_credentials_list_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TWITCH_CREDENTIALS", "only-an-id")
    with pytest.raises(ConfigError, match="TWITCH_CREDENTIALS"):
        load_settings().twitch.credential_pairs


def test_cli_prints_one_line_without_traceback(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "TWITCH_PULSE_ENV_FILE": str(tmp_path / "none"), "WINDOW_SECONDS": "ten"}
    proc = subprocess.run([sys.executable, "-m", "pulse", "config"], capture_output=True, text=True, env=env,
                          cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "WINDOW_SECONDS" in proc.stderr and "Traceback" not in proc.stderr
