"""The raw sink: twitch.streams chunks -> STREAM_LOGS, one row per stream object, exactly once
across crashes; invalid messages and invalid stream objects skipped, the rest of a chunk written."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import orjson
import pytest

from pulse import events, topics
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
    merged,
    produce,
    query,
    stream,
    streams_chunked,
    wait_for,
)

pytestmark = pytest.mark.usefixtures("sql_guard")



@pytest.mark.parametrize("method", ["copy", "insert"])
def test_crash_between_warehouse_and_kafka_commit(wh_settings: Settings, tmp_path: Path, method: str) -> None:
    """SIGKILL right after the 3rd warehouse COMMIT (before Kafka's): the restart skips those rows."""
    crash_after_commit_then_finish(wh_settings, tmp_path, dict(RAW_SINK_ENV, SINK_LOAD_METHOD=method))
    assert query(wh_settings, "SELECT COUNT(*) FROM SINK_LOAD")[0][0] == 0


def test_sigkill_mid_stream_and_restart(warehouse_settings: Settings, tmp_path: Path) -> None:
    """An outside SIGKILL at an arbitrary point of a running stream: no duplicate, no gap."""
    first = streams_chunked(0, 4000)
    produce(warehouse_settings, topics.STREAMS, first.records)
    with Worker(warehouse_settings, ["sink", "raw"], tmp_path / "a.log", **RAW_SINK_ENV) as worker:
        wait_for(lambda: count(warehouse_settings, "STREAM_LOGS") >= 500, 120, "some rows in STREAM_LOGS")
        worker.kill()
    second = streams_chunked(4000, 500, final=True)
    produce(warehouse_settings, topics.STREAMS, second.records)
    with Worker(warehouse_settings, ["sink", "raw"], tmp_path / "b.log", **RAW_SINK_ENV) as worker:
        wait_for(lambda: committed_all(warehouse_settings, "sink-raw", [topics.STREAMS]), 120, "all offsets committed")
        assert worker.stop() == 0
    records, expected = merged(first, second)
    assert_raw_exact(warehouse_settings, expected, len(records))


def _scrape(port: int, path: str = "/metrics") -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read().decode()


def _bad(i: int, **change) -> dict:
    return {**stream(i), **change}


@pytest.mark.parametrize("method", ["copy", "insert"])
def test_invalid_values_and_stream_objects_are_skipped_and_the_rest_of_the_chunk_lands(
        wh_settings: Settings, tmp_path: Path, method: str) -> None:
    good = streams_chunked(0, 20, final=False)
    # one chunk mixing valid and invalid stream objects (as a broken or hostile producer could send)
    mixed_streams = [stream(100), _bad(101, viewer_count=-5), stream(102), _bad(103, viewer_count=1e40),
                     {k: v for k, v in stream(104).items() if k != "title"}, _bad(105, tags="x"),
                     _bad(106, started_at="yesterday"), "not an object", stream(107)]
    mixed = Chunk(captured_at=events.format_ts(BASE_MS + 60_000), poll_id="test@1", producer="test", shards=1, key=0,
                  keys=8, part=0, parts=1, streams=mixed_streams)
    v1_schema = orjson.dumps({**stream(200), "captured_at": "2026-01-01T00:00:00.000Z", "poll_id": "p", "schema": 1})
    tail = chunked({2: [stream(300)]}, final=True)  # a later poll with mostly empty chunks, then the finals
    records = (good.records[:5] + [("0", events.encode_chunk(mixed)), ("u-bad", b"not json"), ("u-list", b"[1, 2]"),
                                   ("u-v1", v1_schema)] + good.records[5:] + tail.records)
    produce(wh_settings, topics.STREAMS, records)
    expected = {**good.expected, **tail.expected}
    for index in (0, 2, 8):
        s = mixed_streams[index]
        expected[s["stream_id"]] = events.v1_event(s, mixed)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with Worker(wh_settings, ["sink", "raw"], tmp_path / "t.log", METRICS_PORT=port, SINK_LOAD_METHOD=method,
                **RAW_SINK_ENV) as worker:
        wait_for(lambda: committed_all(wh_settings, "sink-raw", [topics.STREAMS]), 120, "all offsets committed")
        body = _scrape(port)
        assert f'twitch_pulse_sink_rows_written_total{{table="STREAM_LOGS"}} {len(expected)}.0' in body
        # 3 messages that are not chunks, 6 invalid stream objects
        assert 'twitch_pulse_sink_records_skipped_total{reason="invalid",table="STREAM_LOGS"} 9.0' in body
        assert "twitch_pulse_sink_batch_duration_seconds_bucket" in body
        assert _scrape(port, "/healthz") == "ok"
        assert worker.stop() == 0
        log = worker.log()
        assert "is not a chunk (value is not JSON)" in log and "unsupported schema 1" in log
        assert "6 invalid stream objects skipped" in log
    assert_raw_exact(wh_settings, expected, len(records))
    rows = query(wh_settings, "SELECT RAW_DATA:stream_id::VARCHAR, CHUNK_INDEX FROM STREAM_LOGS "
                              "WHERE RAW_DATA:poll_id::VARCHAR = 'test@1' ORDER BY CHUNK_INDEX")
    assert rows == [("s100", 0), ("s102", 2), ("s107", 8)]
    # every row types as the first seed's staging model reads it (no 1e40 got in)
    assert query(wh_settings, "SELECT COUNT(*) FROM STREAM_LOGS "
                              "WHERE TRY_CAST(RAW_DATA:viewer_count::VARCHAR AS INTEGER) > 0")[0][0] == sum(
        1 for e in expected.values() if e["viewer_count"] > 0)


def test_a_transaction_left_open_by_a_killed_worker_does_not_block_its_successor(wh_settings: Settings) -> None:
    """A SIGKILLed worker's session can keep its transaction open (fakesnow never expires it);
    the next worker must still be able to record its marks for the same partition."""
    from sinks.snowflake import connect, load
    from sinks.snowflake.schema import bootstrap

    dead, alive = connect(wh_settings), connect(wh_settings)
    bootstrap(dead)
    cur = dead.cursor()
    load.advance_mark(cur, "sink", "topic", 0, 5)  # committed earlier
    cur.execute("BEGIN")
    load.advance_mark(cur, "sink", "topic", 0, 10)  # ... and this one never commits
    successor = alive.cursor()
    successor.execute("BEGIN")
    load.advance_mark(successor, "sink", "topic", 0, 20)
    successor.execute("COMMIT")
    successor.execute("SELECT MAX(KAFKA_OFFSET) FROM SINK_OFFSETS WHERE SINK = 'sink' AND KAFKA_PARTITION = 0")
    assert successor.fetchone()[0] == 20
    cur.execute("ROLLBACK")
    dead.close()
    alive.close()
