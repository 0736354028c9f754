"""Reading BigQuery: `twitch-pulse status` on WAREHOUSE=bigquery against the real emulator,
and queries written once in Snowflake SQL running on both warehouses (sinks.dialect)."""

from __future__ import annotations

from datetime import datetime, timezone

import orjson

from pulse.settings import Settings
from sinks.dialect import sql
from tests.pipeline import closed_port, run_status, status_lines
from tests.sink_support import game_window, query

# the shape of the dashboard's queries: a time range, binds, a LIMIT, Snowflake functions
TOP_GAMES = ("SELECT GAME_ID, MAX(GAME_NAME) AS GAME_NAME, SUM(WATCH_HOURS) AS WATCH_HOURS, "
             "DATE_TRUNC('hour', MIN(WINDOW_START)) AS FIRST_HOUR FROM GAME_WINDOWS "
             "WHERE WINDOW_START >= %(since)s::TIMESTAMP_NTZ AND GAME_NAME ILIKE %(name)s "
             "GROUP BY GAME_ID ORDER BY WATCH_HOURS DESC, GAME_ID LIMIT 3")


def _seed(settings: Settings) -> None:
    from quixstreams.sinks import SinkBatch

    from pulse import topics
    from sinks.choice import chosen
    from sinks.writers import MergeSink

    sink = MergeSink(settings, chosen(settings), [topics.WINDOWS_GAMES])
    batch = SinkBatch(settings.topic(topics.WINDOWS_GAMES), 0)
    for offset, (window, game) in enumerate((w, g) for w in range(3) for g in range(1, 5)):
        batch.append(value=orjson.dumps(game_window(window, game)), key=b"k", timestamp=0, headers=[], offset=offset)
    sink.write(batch)
    sink.close()


def test_one_query_on_both_warehouses(bq_settings: Settings, wh_settings: Settings) -> None:
    params = {"since": "2026-01-01 00:10:00", "name": "game %"}
    results = []
    for settings in (wh_settings, bq_settings):
        _seed(settings)
        rows = query(settings, sql(TOP_GAMES, settings.warehouse), params)
        results.append([(g, n, round(w, 6), h.replace(tzinfo=timezone.utc) if h.tzinfo is None else h)
                        for g, n, w, h in rows])
    snowflake, bigquery = results
    assert snowflake == bigquery
    assert [r[0] for r in bigquery] == ["g4", "g3", "g2"]  # windows 1 and 2 only: 2 x 1.5 x game
    assert bigquery[0][2] == 12.0 and bigquery[0][3] == datetime(2026, 1, 1, 0, 0, tzinfo=timezone.utc)


def test_transpiled_sql_keeps_binds_and_utc_timestamps() -> None:
    out = sql(TOP_GAMES, "bigquery")
    assert "TIMESTAMP_TRUNC(MIN(WINDOW_START), HOUR)" in out
    assert "CAST(%(since)s AS TIMESTAMP)" in out and "%(name)s" in out and "DATETIME" not in out
    assert sql(TOP_GAMES, "snowflake") == TOP_GAMES


def test_status_on_bigquery(bq_settings: Settings) -> None:
    from sinks.bigquery import BIGQUERY
    from sinks.bigquery.schema import migrations

    conn = BIGQUERY.connect(bq_settings)
    BIGQUERY.bootstrap(conn)
    conn.close()
    _seed(bq_settings)
    result = run_status(bq_settings, "--skip", "kafka")
    assert result.returncode == 0, result.stdout + result.stderr
    warehouse = status_lines(result.stdout, "warehouse")[0]
    assert " ok " in warehouse and f"BigQuery twitch-pulse-local.{bq_settings.bigquery.dataset}" in warehouse
    assert f"(local bqemulator): schema version {max(m.version for m in migrations())}" in warehouse
    windows = {line.split()[2].rstrip(":"): line for line in status_lines(result.stdout, "window")}
    line = windows["GAME_WINDOWS"]
    assert "newest window 2026-01-01T00:20:00Z .. 2026-01-01T00:30:00Z, ended " in line, line
    assert line.endswith(" ago (12 rows)"), line
    assert windows["GAME_WINDOWS"].split()[1] == "old"  # far more than three windows ago
    assert "no rows yet" in windows["CHANNEL_WINDOWS"]
    assert result.stderr == ""


def test_status_on_a_closed_bigquery_port(settings: Settings) -> None:
    port = closed_port()
    result = run_status(settings.replace(WAREHOUSE="bigquery", BIGQUERY_PORT=port),
                     "--skip", "kafka", "--timeout", "3")
    assert result.returncode == 1
    assert status_lines(result.stdout, "warehouse") == [
        f"warehouse  DOWN     unreachable at 127.0.0.1:{port} (local bqemulator): Connection refused"]
