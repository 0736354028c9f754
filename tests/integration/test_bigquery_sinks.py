"""The sinks on BigQuery, against the real bqemulator server over HTTP, where they differ from
the Snowflake tests (the shared ones take `warehouse_settings` and run on both: a SIGKILL at an
arbitrary point, the alerts table, an unreachable warehouse): a SIGKILL right after a committed
transaction and after a MERGE, newer records win, bad records skipped, hostile names through the
script's literals, a missing table ends the worker with one line, bootstrap and prune."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from quixstreams.sinks import SinkBatch

from pulse import events, outputs, topics
from pulse.schema import Chunk
from pulse.settings import Settings
from tests.sink_support import (
    BASE_MS,
    RAW_SINK_ENV,
    Worker,
    assert_raw_exact,
    chunked,
    committed_all,
    count,
    crash_after_commit_then_finish,
    game_window,
    produce,
    produce_windows,
    query,
    row_key,
    stream,
    streams_chunked,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("sql_guard")

MERGE_ENV = {"SINK_BATCH_ROWS": 150, "SINK_COMMIT_INTERVAL_SECONDS": 0.3, "SINK_RETRY_SECONDS": 1,
             "SINK_SESSION_TIMEOUT_MS": 6000}


def _ts(value) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z"


def test_raw_crash_between_warehouse_and_kafka_commit(bq_settings: Settings, tmp_path: Path) -> None:
    """SIGKILL right after the 3rd committed transaction (before Kafka's commit): the restart
    finds the marks and skips those rows."""
    crash_after_commit_then_finish(bq_settings, tmp_path, RAW_SINK_ENV)
    # staging tables are dropped after each batch; the one the SIGKILL interrupted expires by itself
    from sinks.bigquery.connection import client, dataset_id

    bq = client(bq_settings)
    left = [t.table_id for t in bq.list_tables(dataset_id(bq_settings)) if t.table_id.startswith("_PULSE_STAGE_")]
    assert len(left) <= 1, left
    # BigQuery expires it after a day (the emulator ignores `expires`); prune drops it then too
    from sinks.bigquery import BIGQUERY
    from sinks.bigquery.schema import prune

    conn = BIGQUERY.connect(bq_settings)
    prune(conn, timedelta(days=3650), now=datetime.now(timezone.utc) + timedelta(days=1, minutes=1))
    assert not [t for t in bq.list_tables(dataset_id(bq_settings)) if t.table_id.startswith("_PULSE_STAGE_")]
    assert count(bq_settings, "STREAM_LOGS") == 3000


def test_raw_invalid_records_skipped_rest_of_chunk_lands(bq_settings: Settings, tmp_path: Path) -> None:
    good = streams_chunked(0, 20)
    mixed_streams = [stream(100), {**stream(101), "viewer_count": 1e40}, stream(102), "not an object", stream(103)]
    mixed = Chunk(captured_at=events.format_ts(BASE_MS + 60_000), poll_id="test@1", producer="test", shards=1, key=0,
                  keys=8, part=0, parts=1, streams=mixed_streams)
    tail = chunked({2: [stream(300)]}, final=True)
    records = good.records[:5] + [("0", events.encode_chunk(mixed)), ("u-bad", b"not json")] + good.records[5:] \
        + tail.records
    produce(bq_settings, topics.STREAMS, records)
    expected = {**good.expected, **tail.expected}
    for index in (0, 2, 4):
        expected[mixed_streams[index]["stream_id"]] = events.v1_event(mixed_streams[index], mixed)
    with Worker(bq_settings, ["sink", "raw"], tmp_path / "t.log", **RAW_SINK_ENV) as worker:
        wait_for(lambda: committed_all(bq_settings, "sink-raw", [topics.STREAMS]), 120, "all offsets committed")
        assert worker.stop() == 0
        assert "2 invalid stream objects skipped" in worker.log()
    assert_raw_exact(bq_settings, expected, len(records))
    rows = query(bq_settings, "SELECT JSON_VALUE(RAW_DATA, '$.stream_id'), CHUNK_INDEX FROM STREAM_LOGS "
                              "WHERE JSON_VALUE(RAW_DATA, '$.poll_id') = 'test@1' ORDER BY CHUNK_INDEX")
    assert rows == [("s100", 0), ("s102", 2), ("s103", 4)]
    # the first seed's view types every row
    assert query(bq_settings, "SELECT COUNT(*) FROM STG_TWITCH_STREAMS")[0][0] == sum(
        1 for e in expected.values() if e["viewer_count"] > 0)


def test_literals_of_the_transaction_hold_any_group_and_topic_name(bq_settings: Settings) -> None:
    """The script's values are literals: a consumer group and topic full of quotes and
    backslashes land as themselves, and the mark is read back under the same name."""
    from sinks.bigquery import BIGQUERY
    from sinks.writers import RawSink

    name = "it's a \"group\" \\ with `ticks`; DROP TABLE SINK_OFFSETS; -- ü"
    sink = RawSink(bq_settings, BIGQUERY, sink_name=name)
    topic = 'odd\'topic"\\'
    chunks = streams_chunked(0, 30, max_streams=10)
    for attempt in range(2):  # the second time every row is at or below the mark
        batch = SinkBatch(topic, 3)
        for offset, (_, value) in enumerate(chunks.records):
            batch.append(value=value, key=b"k", timestamp=0, headers=[], offset=offset)
        sink.write(batch)
    sink.close()
    assert query(bq_settings, "SELECT SINK, KAFKA_TOPIC, KAFKA_PARTITION, MAX(KAFKA_OFFSET) FROM SINK_OFFSETS "
                              "GROUP BY 1, 2, 3") == [(name, topic, 3, len(chunks.records) - 1)]
    assert count(bq_settings, "STREAM_LOGS") == 30
    assert query(bq_settings, "SELECT DISTINCT KAFKA_TOPIC FROM STREAM_LOGS") == [(topic,)]


GAME_FIELDS = ("window_start", "window_end", "game_id", "game_name", "watch_hours", "air_hours", "avg_viewers",
               "avg_channels", "peak_viewers", "peak_at", "peak_channels", "unique_channels", "new_streams", "rank")


def test_windows_exactly_once_after_crash(bq_settings: Settings, tmp_path: Path) -> None:
    """SIGKILL right after the 2nd MERGE, replay, then newer versions of some keys: latest wins, one row each."""
    first = produce_windows(bq_settings, range(0, 6))
    crashed = Worker(bq_settings, ["sink", "windows"], tmp_path / "w1.log", PULSE_TEST_CRASH_AFTER="MERGE:2",
                     **MERGE_ENV)
    assert crashed.wait(120) == -9, crashed.log()
    newer = produce_windows(bq_settings, range(4, 8), version=1)
    with Worker(bq_settings, ["sink", "windows"], tmp_path / "w2.log", **MERGE_ENV) as worker:
        wait_for(lambda: committed_all(bq_settings, "sink-windows", list(topics.WINDOW_TOPICS)), 120,
                 "every window offset committed")
        assert worker.stop() == 0, worker.log()
    latest = {row_key(outputs.GameWindow, g): g for g in first["GAME_WINDOWS"] + newer["GAME_WINDOWS"]}
    rows = query(bq_settings, f"SELECT {', '.join(f.upper() for f in GAME_FIELDS)} FROM GAME_WINDOWS")
    got = sorted(tuple(_ts(v) if hasattr(v, "strftime") else v for v in r) for r in rows)
    assert got == sorted(tuple(g[f] for f in GAME_FIELDS) for g in latest.values())
    channels = query(bq_settings, "SELECT WINDOW_START, USER_ID, WATCH_HOURS FROM CHANNEL_WINDOWS")
    want = {(c["window_start"], c["user_id"]): c["watch_hours"]
            for c in first["CHANNEL_WINDOWS"] + newer["CHANNEL_WINDOWS"]}
    assert len(channels) == 8 * 20 and {(_ts(c[0]), c[1]): c[2] for c in channels} == want
    tops = query(bq_settings, "SELECT WINDOW_START, GAME_ID, RANK FROM GAME_TOP_CHANNELS")
    assert len(tops) == len(set(tops)) == 8 * 3 * 3


def test_replay_of_old_record_never_regresses_a_row(bq_settings: Settings) -> None:
    from sinks.bigquery import BIGQUERY
    from sinks.writers import MergeSink

    sink = MergeSink(bq_settings, BIGQUERY, [topics.WINDOWS_GAMES])
    topic = bq_settings.topic(topics.WINDOWS_GAMES)
    for offset, record in ((10, game_window(0, 1, 0)), (11, game_window(0, 1, 5)), (10, game_window(0, 1, 0))):
        batch = SinkBatch(topic, 0)
        batch.append(value=orjson.dumps(record), key=b"k", timestamp=0, headers=[], offset=offset)
        sink.write(batch)
    batch = SinkBatch(topic, 0)  # the same key twice in one batch: the later offset wins
    for offset, record in ((12, game_window(0, 1, 7)), (13, game_window(0, 1, 8))):
        batch.append(value=orjson.dumps(record), key=b"k", timestamp=0, headers=[], offset=offset)
    sink.write(batch)
    sink.close()
    assert query(bq_settings, "SELECT WATCH_HOURS, KAFKA_OFFSET FROM GAME_WINDOWS") == [
        (game_window(0, 1, 8)["watch_hours"], 13)]


def test_missing_table_ends_the_worker_with_one_line(bq_settings: Settings, tmp_path: Path) -> None:
    """Without bootstrap BigQuery answers notFound: retrying cannot help, so the worker stops
    with one line and exit 1, committing nothing."""
    produce(bq_settings, topics.STREAMS, chunked({0: [stream(1)]}).records)
    worker = Worker(bq_settings, ["sink", "raw", "--no-bootstrap"], tmp_path / "p.log", **RAW_SINK_ENV)
    assert worker.wait(90) == 1, worker.log()
    lines = [line for line in worker.log().splitlines() if line.startswith("twitch-pulse:")]
    assert len(lines) == 1 and "raw sink: warehouse refused" in lines[0] and "Not found" in lines[0], worker.log()
    assert "Traceback" not in worker.log()
    assert not committed_all(bq_settings, "sink-raw", [topics.STREAMS])


def test_bootstrap_and_prune_commands(bq_settings: Settings, tmp_path: Path) -> None:
    """`twitch-pulse bootstrap` and `prune` on BigQuery: versions applied once, old rows and
    superseded marks gone, recent rows and the newest mark kept."""
    from sinks.bigquery import BIGQUERY
    from sinks.bigquery.schema import migrations
    from sinks.writers import RawSink

    worker = Worker(bq_settings, ["bootstrap"], tmp_path / "b.log")
    assert worker.wait(60) == 0, worker.log()
    version = max(m.version for m in migrations())
    assert f"schema version {version}" in worker.log() and "applied 001" in worker.log()
    sink = RawSink(bq_settings, BIGQUERY, sink_name="prune-test")
    old = streams_chunked(0, 20, max_streams=10)
    for offset, (_, value) in enumerate(old.records):
        batch = SinkBatch(bq_settings.topic(topics.STREAMS), 0)
        batch.append(value=value, key=b"k", timestamp=0, headers=[], offset=offset)
        sink.write(batch)
    sink.close()
    now_ms = int(time.time() * 1000) // 60_000 * 60_000
    recent = Chunk(captured_at=events.format_ts(now_ms), poll_id="now", producer="test", shards=1, key=0, keys=1,
                   part=0, parts=1, streams=[stream(500)])
    batch = SinkBatch(bq_settings.topic(topics.STREAMS), 0)
    batch.append(value=events.encode_chunk(recent), key=b"k", timestamp=0, headers=[], offset=100)
    sink = RawSink(bq_settings, BIGQUERY, sink_name="prune-test")
    sink.write(batch)
    sink.close()
    worker = Worker(bq_settings, ["prune", "--older-than", "1d"], tmp_path / "p.log")
    assert worker.wait(60) == 0, worker.log()
    assert "pruned 20 STREAM_LOGS rows" in worker.log(), worker.log()
    assert query(bq_settings, "SELECT JSON_VALUE(RAW_DATA, '$.stream_id') FROM STREAM_LOGS") == [("s500",)]
    assert query(bq_settings, "SELECT KAFKA_OFFSET FROM SINK_OFFSETS") == [(100,)]
