"""No row in STREAM_LOGS can break the staging model (issue 10 §2): bad rows are inserted
directly into the table, bypassing the raw sink's validation, and `stg_twitch_streams` (a dbt
view) still builds, passes its tests and answers, with the bad values as NULL and the good row
intact. The rollups read the typed window tables only, so no raw row reaches them."""

from __future__ import annotations

import orjson

from pulse.settings import Settings
from sinks.snowflake import connect
from sinks.snowflake.schema import bootstrap
from tests.models_support import build
from tests.sink_support import chunked, stream


def event(i: int, viewers: int | None = None) -> dict:
    """Stream object `i` as STREAM_LOGS.RAW_DATA holds it (the v1 event of its chunk)."""
    (value,) = chunked({0: [stream(i, viewers=viewers)]}).expected.values()
    return value

def test_bad_rows_never_break_the_staging_model(wh_settings: Settings) -> None:
    good = event(1, viewers=7)
    bad = [
        {**event(2), "viewer_count": 1e40},
        {**event(3), "viewer_count": "abc", "is_mature": "perhaps", "started_at": "yesterday"},
        {**event(4), "viewer_count": {"n": 1}, "is_mature": 3, "started_at": 12, "user_id": {"a": [1]}},
        {**event(5), "viewer_count": -5},
        {"stream_id": "s6"},
        [1, 2, 3],
        "just a string",
    ]
    conn = connect(wh_settings)
    bootstrap(conn)
    cur = conn.cursor()
    for i, value in enumerate([good, *bad]):
        cur.execute("INSERT INTO STREAM_LOGS (RAW_DATA, CAPTURED_AT, KAFKA_TOPIC, KAFKA_PARTITION, KAFKA_OFFSET) "
                    "SELECT PARSE_JSON(%s), %s::TIMESTAMP_NTZ, %s, %s, %s",
                    (orjson.dumps(value).decode(), "2026-01-01 00:10:00", "t", 0, i))
    build(wh_settings, "build", "--select", "stg_twitch_streams")
    cur.execute("SELECT STREAM_ID, VIEWER_COUNT, IS_MATURE, STREAM_DURATION_MINUTES FROM STG_TWITCH_STREAMS")
    assert cur.fetchall() == [(good["stream_id"], 7, False, 70)]
    cur.execute("SELECT COUNT(*) FROM STG_TWITCH_STREAMS WHERE VIEWER_COUNT IS NULL OR STARTED_AT IS NULL")
    assert cur.fetchone()[0] == 0  # the filter keeps only rows with a usable positive count
    conn.close()
