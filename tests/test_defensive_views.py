"""No row in STREAM_LOGS can break a view (issue 10 §2): bad rows are inserted directly into
the table, bypassing the raw sink's validation, and every view still answers, with the bad
values as NULL and the good row intact."""

from __future__ import annotations

import orjson

from pulse.settings import Settings
from sinks.snowflake import connect
from sinks.snowflake.schema import bootstrap
from tests.sink_support import chunked, stream


def event(i: int, viewers: int | None = None) -> dict:
    """Stream object `i` as STREAM_LOGS.RAW_DATA holds it (the v1 event of its chunk)."""
    (value,) = chunked({0: [stream(i, viewers=viewers)]}).expected.values()
    return value

VIEWS = ("STG_TWITCH_STREAMS", "GAME_HOURLY", "GAME_DAILY", "CHANNEL_HOURLY", "CHANNEL_DAILY",
         "PLATFORM_HOURLY", "PLATFORM_DAILY")


def test_bad_rows_never_break_a_view(wh_settings: Settings) -> None:
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
    for view in VIEWS:
        cur.execute(f"SELECT * FROM {view}")
        cur.fetchall()
    cur.execute("SELECT STREAM_ID, VIEWER_COUNT, IS_MATURE, STREAM_DURATION_MINUTES FROM STG_TWITCH_STREAMS")
    assert cur.fetchall() == [(good["stream_id"], 7, False, 70)]
    cur.execute("SELECT COUNT(*) FROM STG_TWITCH_STREAMS WHERE VIEWER_COUNT IS NULL OR STARTED_AT IS NULL")
    assert cur.fetchone()[0] == 0  # the filter keeps only rows with a usable positive count
    conn.close()
