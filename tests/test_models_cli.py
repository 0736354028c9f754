"""`twitch-pulse models`: the dbt profile from the settings (secrets only as environment
variables), and the command as a user runs it: progress lines, one line at the end, one-line
errors for a missing warehouse, an old schema or a missing dbt, and no secret in any output."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from analytics.profile import PROFILE, TARGET, build_profile
from pulse.settings import Settings, load_settings
from sinks.snowflake import connect
from sinks.snowflake.schema import bootstrap
from tests.dashboard_support import free_port

ROOT = Path(__file__).resolve().parents[1]
SECRET = "pw-7f3c9a1e-not-for-logs"


def _output(profile_text: str) -> dict[str, Any]:
    return json.loads(profile_text)[PROFILE]["outputs"][TARGET]


def test_local_profile_reaches_the_fakesnow_server_over_http() -> None:
    profile = build_profile(load_settings(snowflake_port=28799, snowflake_schema="S1"))
    out = _output(profile.text)
    assert (out["account"], out["host"], out["port"], out["protocol"]) == ("fakesnow", "127.0.0.1", 28799, "http")
    assert (out["database"], out["schema"], out["type"]) == ("TWITCH", "S1", "snowflake")
    assert out["password"] == "local" and profile.env == {}  # the local placeholder is no secret


def test_snowflake_password_reaches_dbt_only_through_a_secret_variable() -> None:
    settings = load_settings(snowflake_account="acme-eu1", snowflake_user="PULSE", snowflake_password=SECRET,
                             snowflake_warehouse="WH", snowflake_role="ANALYST")
    profile = build_profile(settings)
    assert SECRET not in profile.text
    out = _output(profile.text)
    assert out["password"] == "{{ env_var('DBT_ENV_SECRET_SNOWFLAKE_PASSWORD') }}"
    assert profile.env == {"DBT_ENV_SECRET_SNOWFLAKE_PASSWORD": SECRET}
    assert (out["account"], out["user"], out["warehouse"], out["role"]) == ("acme-eu1", "PULSE", "WH", "ANALYST")
    assert "host" not in out and "protocol" not in out


def test_key_pair_reaches_dbt_decrypted_as_base64_der(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(b"phrase"))
    (tmp_path / "key.p8").write_bytes(pem)
    settings = load_settings(snowflake_account="acme", snowflake_user="PULSE", snowflake_private_key_file=tmp_path / "key.p8",
                             snowflake_private_key_passphrase="phrase")
    profile = build_profile(settings)
    assert _output(profile.text)["private_key"] == "{{ env_var('DBT_ENV_SECRET_SNOWFLAKE_PRIVATE_KEY') }}"
    der = base64.b64decode(profile.env["DBT_ENV_SECRET_SNOWFLAKE_PRIVATE_KEY"])
    loaded = serialization.load_der_private_key(der, password=None)
    assert loaded.private_numbers() == key.private_numbers()
    assert "phrase" not in profile.text and "PRIVATE KEY" not in profile.text


def _cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {**os.environ, **settings.as_env(), "TWITCH_PULSE_ENV_FILE": "/nonexistent", **env}
    return subprocess.run([sys.executable, "-m", "pulse", "models", *args], env=environ, cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


def _one_line_error(result: subprocess.CompletedProcess, code: int, words: str) -> None:
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("twitch-pulse: ") and words in lines[0], result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_a_missing_warehouse_is_one_line(make_settings: Any) -> None:
    result = _cli(make_settings(snowflake_port=free_port()), "build")
    _one_line_error(result, 1, "no warehouse at 127.0.0.1:")


def test_a_schema_the_sinks_never_bootstrapped_is_one_line(wh_settings: Settings) -> None:
    _one_line_error(_cli(wh_settings, "build"), 1, "run `twitch-pulse bootstrap`")


def test_a_missing_dbt_is_one_line(wh_settings: Settings) -> None:
    _one_line_error(_cli(wh_settings, "build", DBT_EXECUTABLE="/nonexistent/dbt"), 2, "DBT_EXECUTABLE")


def test_build_shows_progress_and_never_a_secret(wh_settings: Settings) -> None:
    conn = connect(wh_settings)
    bootstrap(conn)
    conn.close()
    result = _cli(wh_settings, "build", SNOWFLAKE_PASSWORD=SECRET)  # fakesnow takes any password
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert "START sql incremental model" in result.stdout and "OK created sql incremental model" in result.stdout
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("twitch-pulse: dbt build finished in ") and " pass" in last, last
    logs = "".join(p.read_text(errors="replace") for p in (wh_settings.state_dir / "dbt").rglob("*") if p.is_file())
    assert SECRET not in result.stdout + result.stderr + logs
    freshness = _cli(wh_settings, "freshness", SNOWFLAKE_PASSWORD=SECRET)  # empty tables: nothing written yet
    assert freshness.returncode == 1 and "START freshness of pulse.GAME_WINDOWS" in freshness.stdout
    assert freshness.stderr.startswith("twitch-pulse: dbt source freshness failed") and SECRET not in freshness.stdout


def _scrape(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError:
        return 0, ""


def _wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_scheduler_builds_again_and_again_reports_health_and_stops_on_sigterm(wh_settings: Settings) -> None:
    """`models build --every`: builds in turn, counts them on /metrics, turns unhealthy after three
    failed builds in a row (here: a schema the sinks have not bootstrapped yet), recovers once
    the schema is there, and stops cleanly on SIGTERM."""
    port = free_port()
    environ = {**os.environ, **wh_settings.as_env(), "TWITCH_PULSE_ENV_FILE": "/nonexistent", "METRICS_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "pulse", "models", "build", "--every", "1", "--quiet"], env=environ,
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        status, body = _wait_for(lambda: (lambda r: r if r[0] == 503 else None)(_scrape(port, "/healthz")), 120,
                                 "/healthz to report the failing builds")
        assert "3 builds in a row failed" in body and "twitch-pulse bootstrap" in body
        conn = connect(wh_settings)
        bootstrap(conn)
        conn.close()
        _wait_for(lambda: 'twitch_pulse_models_builds_total{result="success"}' in _scrape(port, "/metrics")[1],
                  300, "a successful build")
        assert _scrape(port, "/healthz") == (200, "ok")
        metrics = _scrape(port, "/metrics")[1]
        assert "twitch_pulse_models_last_success_timestamp_seconds" in metrics
        assert "twitch_pulse_models_build_duration_seconds_count" in metrics
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert "dbt build finished in" in out and "START sql" not in out  # --quiet: summaries only
    assert "Traceback" not in out + err
