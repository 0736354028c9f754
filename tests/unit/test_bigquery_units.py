"""BigQuery's pieces that need no server: literal escaping, error classes by BigQuery's
documented reasons, the DDL against the table specs, and the settings."""

from __future__ import annotations

import re

import pytest
from google.api_core import exceptions as api
from google.auth import exceptions as auth

from pulse.settings import ConfigError, load_settings
from sinks.bigquery import literals
from sinks.bigquery.errors import is_transient, lost_session
from sinks.bigquery.schema import migrations
from sinks.tables import SPECS

HOSTILE = ["plain", "a'b", 'a"b', "back\\slash", "x\\'y", "line\nbreak\ttab\r", "`tick`", "emoji 🎮 ü ß 日本",
           "'; DROP TABLE x; --", "\\", '"""', "''''", "\u2028\u2029", "${x} @p ? %s %(a)s", "\x7f"]


def _unescape(literal: str) -> str:
    """GoogleSQL's reading of a double-quoted literal with the escapes `string` may produce."""
    assert literal[0] == literal[-1] == '"'
    body, out, i = literal[1:-1], [], 0
    simple = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f"}
    while i < len(body):
        c = body[i]
        assert c not in '"\n\r', f"unescaped {c!r} would end or break the literal"
        if c == "\\":
            out.append(simple[body[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


@pytest.mark.parametrize("value", HOSTILE)
def test_string_literal_round_trips(value: str) -> None:
    assert _unescape(literals.string(value)) == value


@pytest.mark.parametrize("value", ["\x00", "a\x01b", "\x1b[31m"])
def test_string_literal_refuses_other_control_characters(value: str) -> None:
    with pytest.raises(ValueError):
        literals.string(value)


def test_integer_and_identifier_literals() -> None:
    assert literals.integer(42) == "42" and literals.integer(-1) == "-1"
    for bad in (True, 1.5, "1", 2 ** 63):
        with pytest.raises((TypeError, ValueError)):
            literals.integer(bad)  # type: ignore[arg-type]
    assert literals.identifier("_PULSE_STAGE_AB12") == "_PULSE_STAGE_AB12"
    for bad in ("a b", "x;DROP", "1abc", "`t`", ""):
        with pytest.raises(ValueError):
            literals.identifier(bad)


def _job_error(cls: type[api.GoogleAPICallError], reason: str, message: str = "failed") -> api.GoogleAPICallError:
    return cls(message, errors=[{"reason": reason, "message": message}])


def test_error_classes_follow_bigquerys_reasons() -> None:
    for reason in ("backendError", "internalError", "rateLimitExceeded", "quotaExceeded", "jobBackendError",
                   "tableUnavailable", "timeout"):
        assert is_transient(_job_error(api.BadRequest, reason)), reason
    for reason in ("invalidQuery", "notFound", "accessDenied", "invalid", "duplicate", "resourcesExceeded",
                   "billingNotEnabled"):
        assert not is_transient(_job_error(api.BadRequest, reason)), reason
    # a transaction that lost against a concurrent one is run again
    assert is_transient(_job_error(api.BadRequest, "invalidQuery",
                                   "Transaction is aborted due to concurrent update against table x"))
    # a job the server no longer knows (an emulator restarted while it ran): the batch is run again
    assert is_transient(_job_error(api.NotFound, "notFound", "Not found: job:p.0a1b Location: US"))
    assert not is_transient(_job_error(api.NotFound, "notFound", "Not found: Table p:d.STREAM_LOGS"))
    # an upload whose session the server lost (it restarted between the upload's start and its data,
    # as seen in CI): no job was made, so the batch is loaded again
    assert is_transient(api.NotFound("PUT http://127.0.0.1:61258/upload/bigquery/v2/projects/p/jobs?uploadType="
                                     "resumable&upload_id=a528: Upload session a528 not found"))
    assert is_transient(api.ServiceUnavailable("503")) and is_transient(api.TooManyRequests("429"))
    assert is_transient(ConnectionRefusedError(111, "Connection refused"))
    assert not is_transient(auth.RefreshError("invalid_grant"))
    assert not is_transient(ValueError("a bug"))
    assert lost_session(api.Unauthorized("401")) and not lost_session(api.BadRequest("400"))


_TYPES = {"timestamp": "TIMESTAMP", "string": "STRING", "float": "FLOAT64", "int": "INT64", "bool": "BOOL"}


def _tables(sql: str) -> dict[str, dict[str, str]]:
    found = {}
    for name, body in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\n\)", sql, re.DOTALL):
        found[name] = {col: typ for col, typ in re.findall(r"^\s*(\w+) (\w+)", body, re.MULTILINE)}
    return found


def test_every_table_the_sinks_write_has_its_columns_in_the_ddl() -> None:
    tables: dict[str, dict[str, str]] = {}
    for migration in migrations():
        for statement in migration.statements:
            tables.update(_tables(statement + "\n"))
    for spec in SPECS:
        assert spec.table in tables, f"{spec.table} has no CREATE TABLE in sinks/bigquery/sql"
        want = [(column.name, _TYPES[column.kind.value]) for column in spec.columns]
        want += [("KAFKA_PARTITION", "INT64"), ("KAFKA_OFFSET", "INT64"), ("INGESTED_AT", "TIMESTAMP")]
        assert list(tables[spec.table].items()) == want, spec.table  # the record's fields, in order
    assert {"STREAM_LOGS", "SINK_OFFSETS"} <= set(tables)
    assert tables["STREAM_LOGS"]["RAW_DATA"] == "JSON"


def test_bigquery_settings(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    assert load_settings().warehouse == "snowflake"
    settings = load_settings(warehouse="BigQuery", bigquery_project="my-proj-1", bigquery_dataset="twitch_1")
    assert settings.warehouse == "bigquery" and not settings.bigquery.uses_local
    with pytest.raises(ConfigError, match="WAREHOUSE"):
        load_settings(warehouse="redshift")
    with pytest.raises(ConfigError, match="BIGQUERY_DATASET"):
        load_settings(bigquery_dataset="my-dataset")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "key.json"))
    assert load_settings().bigquery.credentials_file == tmp_path / "key.json"


def test_a_bad_key_is_one_line_without_its_content() -> None:
    from sinks.bigquery.connection import connect

    secret = '{"type": "service_account", "private_key": "-----BEGIN very secret"}'
    settings = load_settings(warehouse="bigquery", bigquery_project="my-proj-1", bigquery_credentials_json=secret)
    with pytest.raises(ConfigError) as caught:
        connect(settings)
    assert "BIGQUERY_CREDENTIALS_JSON" in str(caught.value) and "secret" not in str(caught.value)
    assert "very secret" in settings.secret_values[0]  # redacted from logs like every secret


def test_dashboard_statements_transpile_with_typed_positional_binds() -> None:
    """The dashboard's `%s` binds on BigQuery: transpiled once, each bind typed by its value
    (a naive datetime is a UTC TIMESTAMP, None a TIMESTAMP), sub-day date arithmetic on
    timestamps; Snowflake's statement untouched."""
    from datetime import datetime, timezone

    from dashboard.queries import WINDOW_CHECKS, statement
    from sinks.dialect import sql

    text = ("SELECT DATEADD('second', -2 * DATEDIFF('second', WINDOW_START, WINDOW_END), WINDOW_START) AS T "
            "FROM GAME_WINDOWS WHERE WINDOW_START >= %s AND GAME_ID = %s AND P = %s LIMIT %s")
    params = (datetime(2026, 3, 1, 12, 0), "509658", None, 20)
    assert statement(text, params, "snowflake") == (text, params)
    typed, binds = statement(text, params, "bigquery")
    assert typed == ("SELECT TIMESTAMP_ADD(WINDOW_START, INTERVAL (-2 * TIMESTAMP_DIFF(WINDOW_END, WINDOW_START, "
                     "SECOND)) SECOND) AS T FROM GAME_WINDOWS WHERE WINDOW_START >= %(:TIMESTAMP)s AND "
                     "GAME_ID = %(:STRING)s AND P = %(:TIMESTAMP)s LIMIT %(:INT64)s")
    assert binds == (datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc), "509658", None, 20)
    assert statement("SELECT 1", (), "bigquery") == ("SELECT 1", None)
    assert "DATE_DIFF" not in sql(WINDOW_CHECKS, "bigquery") and "DATE_ADD" not in sql(WINDOW_CHECKS, "bigquery")
    with pytest.raises(ValueError, match="2 binds in the statement, 1 values"):
        statement("SELECT %s, %s", (1,), "bigquery")


def test_dashboard_frames_are_the_same_from_either_warehouse() -> None:
    """BigQuery's zone-aware timestamps and lower-case names become Snowflake's naive UTC and
    upper-case ones."""
    from datetime import datetime, timedelta, timezone
    from decimal import Decimal

    import pandas as pd

    from dashboard.queries import normalised

    aware = datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    df = normalised(pd.DataFrame({"window_start": [aware], "n": [Decimal("1.5")], "k": [3]}))
    assert list(df.columns) == ["WINDOW_START", "N", "K"]
    assert df["WINDOW_START"].iloc[0] == pd.Timestamp("2026-03-01 12:00") and df["WINDOW_START"].dt.tz is None
    assert df["N"].iloc[0] == 1.5 and isinstance(df["N"].iloc[0], float) and df["K"].iloc[0] == 3
