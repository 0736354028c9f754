"""Schema bootstrap (versioned, idempotent), prune, the staging model and rollups on the sinks'
tables (dbt models since migration 006), and the SQL guard's own rules."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from snowflake.connector.errors import ProgrammingError

from pulse.settings import Settings
from sinks.snowflake import connect
from pulse.settings import parse_age
from sinks.snowflake.schema import bootstrap, current_version, migrations, prune
from tests.models_support import build
from tests.sink_support import game_window
from tests.sqlguard import GuardViolation, check_static, merge_duplicate_check, sql_guard  # noqa: F401

pytestmark = pytest.mark.usefixtures("sql_guard")


def test_bootstrap_is_versioned_and_idempotent(wh_settings: Settings) -> None:
    conn = connect(wh_settings)
    assert bootstrap(conn) == [m.version for m in migrations()]
    assert bootstrap(conn) == []
    assert current_version(conn) == max(m.version for m in migrations())
    cur = conn.cursor()
    cur.execute("SELECT COUNT(*), COUNT(DISTINCT VERSION) FROM SCHEMA_VERSION")
    assert cur.fetchone() == (len(migrations()), len(migrations()))
    for table in ("STREAM_LOGS", "GAME_WINDOWS", "CHANNEL_WINDOWS", "GAME_TOP_CHANNELS", "ALERTS", "SINK_OFFSETS"):
        cur.execute(f"SELECT COUNT(*) FROM {table}")
        assert cur.fetchone() == (0,)
    for view in ("STG_TWITCH_STREAMS", "GAME_HOURLY", "GAME_DAILY", "CHANNEL_HOURLY", "CHANNEL_DAILY",
                 "PLATFORM_HOURLY", "PLATFORM_DAILY"):  # derived models are dbt's (migration 006)
        with pytest.raises(ProgrammingError, match="does not exist"):
            cur.execute(f"SELECT COUNT(*) FROM {view}")
    conn.close()


def test_a_v1_schema_gains_chunk_index_and_keeps_its_rows(wh_settings: Settings) -> None:
    """Migration 003 on a warehouse bootstrapped before schema v2: old rows stay, CHUNK_INDEX NULL."""
    conn = connect(wh_settings)
    cur = conn.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS SCHEMA_VERSION (VERSION INTEGER NOT NULL, NAME VARCHAR, "
                "APPLIED_AT TIMESTAMP_NTZ)")
    for migration in migrations():
        if migration.version < 3:
            for statement in migration.statements:
                cur.execute(statement)
            cur.execute("INSERT INTO SCHEMA_VERSION (VERSION, NAME) SELECT %s, %s", (migration.version, migration.name))
    _raw(cur, "2026-01-01T10:00:00.000Z", 42)  # a v1 row, as the old raw sink wrote it
    assert bootstrap(conn) == [m.version for m in migrations() if m.version >= 3]
    cur.execute("ALTER TABLE STREAM_LOGS ADD COLUMN IF NOT EXISTS CHUNK_INDEX INTEGER")  # a second worker: harmless
    cur.execute("SELECT RAW_DATA:viewer_count::INT, CHUNK_INDEX FROM STREAM_LOGS")
    assert cur.fetchall() == [(42, None)]
    cur.execute("SELECT RAW_DATA:user_name::VARCHAR, CAPTURED_AT FROM STREAM_LOGS")
    assert cur.fetchall() == [("A", datetime(2026, 1, 1, 10, 0))]
    conn.close()


def _raw(cur, captured: str, viewers: int, started: str = "2026-01-01T09:30:00Z") -> None:
    event = {"stream_id": "s1", "user_id": "u1", "user_login": "a", "user_name": "A", "game_id": "g",
             "game_name": "G", "title": "t", "language": "en", "type": "live", "is_mature": False,
             "viewer_count": viewers, "started_at": started, "captured_at": captured, "poll_id": "p"}
    cur.execute("INSERT INTO STREAM_LOGS (RAW_DATA, CAPTURED_AT, KAFKA_TOPIC, KAFKA_PARTITION, KAFKA_OFFSET) "
                "SELECT PARSE_JSON(column1), column2::TIMESTAMP_NTZ, 't', 0, 1 FROM VALUES (%s, %s)",
                (json.dumps(event), captured.replace("T", " ").rstrip("Z")))


def test_staging_model_and_prune(wh_settings: Settings) -> None:
    conn = connect(wh_settings)
    bootstrap(conn)
    cur = conn.cursor()
    _raw(cur, "2026-01-01T10:00:00.000Z", 42)
    _raw(cur, "2026-01-01T10:01:00.000Z", 0)  # dropped by the model (viewer_count > 0)
    build(wh_settings, "run", "--select", "stg_twitch_streams")
    cur.execute("SELECT STREAMER_NAME, VIEWER_COUNT, STARTED_AT, STREAM_DURATION_MINUTES, IS_MATURE "
                "FROM STG_TWITCH_STREAMS")
    assert cur.fetchall() == [("A", 42, datetime(2026, 1, 1, 9, 30), 30, False)]
    deleted = prune(conn, parse_age("7d"), now=datetime(2026, 1, 8, 10, 0, 30, tzinfo=timezone.utc))
    assert deleted == 1
    cur.execute("SELECT RAW_DATA:viewer_count::INT FROM STREAM_LOGS")
    assert cur.fetchall() == [(0,)]
    assert parse_age("36h") == timedelta(hours=36)
    with pytest.raises(ValueError):
        parse_age("soon")
    conn.close()


def test_rollups_add_watch_hours_and_take_peak_max(wh_settings: Settings) -> None:
    from sinks.snowflake.load import merge_values
    from sinks.tables import CHANNEL_WINDOWS, GAME_WINDOWS
    from tests.sink_support import spec_row

    conn = connect(wh_settings)
    bootstrap(conn)
    cur = conn.cursor()
    rows = []
    for w in range(6):  # one hour of 10-minute windows, then the next hour
        g = game_window(w, 1)
        g["watch_hours"], g["peak_viewers"] = 1.0 + w, 100 * (w + 1)
        rows.append(spec_row(GAME_WINDOWS, g) + [0, w])
    rows.append(spec_row(GAME_WINDOWS, game_window(6, 1)) + [0, 6])
    merge_values(cur, GAME_WINDOWS, rows)
    from tests.sink_support import channel_window

    ch = []
    for w, u in ((0, 1), (1, 1), (2, 2)):
        c = channel_window(w, u)
        ch.append(spec_row(CHANNEL_WINDOWS, c) + [0, len(ch)])
    merge_values(cur, CHANNEL_WINDOWS, ch)
    build(wh_settings, "run", "--select", "+game_daily", "game_hourly", "platform_hourly")
    cur.execute("SELECT PERIOD_START, WATCH_HOURS, PEAK_VIEWERS, WINDOWS, DISTINCT_CHANNELS FROM GAME_HOURLY "
                "ORDER BY PERIOD_START")
    assert cur.fetchall() == [(datetime(2026, 1, 1, 0, 0), 21.0, 600, 6, 2),
                              (datetime(2026, 1, 1, 1, 0), game_window(6, 1)["watch_hours"], 100, 1, 0)]
    cur.execute("SELECT WINDOWS, PEAK_VIEWERS FROM GAME_DAILY")
    assert cur.fetchall() == [(7, 600)]
    cur.execute("SELECT DISTINCT_CHANNELS FROM PLATFORM_HOURLY")
    assert cur.fetchall() == [(2,)]
    conn.close()


def test_guard_rejects_what_snowflake_rejects() -> None:
    rows = ", ".join(["(%s)"] * 16_385)
    with pytest.raises(GuardViolation, match="16385 rows"):
        check_static(f"INSERT INTO T SELECT column1 FROM VALUES {rows}", [1] * 16_385)
    with pytest.raises(GuardViolation, match="inside VALUES"):
        check_static("INSERT INTO T (V) VALUES (PARSE_JSON(%s))", ['{"a": 1}'])
    with pytest.raises(GuardViolation, match="1 MB"):
        check_static("INSERT INTO T SELECT PARSE_JSON(column1) FROM VALUES (%s)", ["x" * 1_100_000])
    with pytest.raises(GuardViolation, match="qmark"):
        check_static("INSERT INTO T SELECT PARSE_JSON(column1) FROM VALUES (?)", ["{}"], paramstyle="qmark")
    check_static("INSERT INTO T SELECT PARSE_JSON(column1) FROM VALUES (%s), (%s)", ["{}", "[]"])
    check_static("SELECT 'VALUES (PARSE_JSON(1))'")  # inside a string literal: fine
    source, lo, hi, keys = merge_duplicate_check(
        "MERGE INTO W T USING (SELECT column1 AS K FROM VALUES (%s), (%s)) S ON T.K = S.K "
        "WHEN MATCHED THEN UPDATE SET K = S.K")
    assert (lo, hi, keys) == (0, 2, ["K"]) and "VALUES" in source


def test_guard_catches_a_duplicated_merge_source(wh_settings: Settings, sql_guard) -> None:
    conn = connect(wh_settings)
    cur = conn.cursor()
    cur.execute("CREATE TABLE W (K VARCHAR, V INT)")
    with pytest.raises(GuardViolation, match="duplicated key"):
        cur.execute("MERGE INTO W T USING (SELECT column1 AS K, column2 AS V FROM VALUES (%s, %s), (%s, %s)) S "
                    "ON T.K = S.K WHEN MATCHED THEN UPDATE SET V = S.V "
                    "WHEN NOT MATCHED THEN INSERT (K, V) VALUES (S.K, S.V)", ("a", 1, "a", 2))
    sql_guard.clear()  # the violation was the point of this test
    conn.close()
