"""The raw sink: twitch.streams -> STREAM_LOGS exactly once across crashes, ticks skipped."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path

import orjson
import pytest

from pulse import events, topics
from pulse.settings import Settings
from tests.sink_support import Worker, committed_all, count, event, produce, query, wait_for
from tests.sqlguard import sql_guard  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("sql_guard")

SINK_ENV = {"SINK_BATCH_ROWS": 250, "SINK_COMMIT_INTERVAL_SECONDS": 0.3, "SINK_RETRY_SECONDS": 1,
            "SINK_SESSION_TIMEOUT_MS": 6000}


def _events(start: int, n: int) -> list[tuple[str, dict]]:
    return [(f"u{i}", event(i, poll=i // 500)) for i in range(start, start + n)]


def _assert_exact(settings: Settings, expected: list[tuple[str, dict]]) -> None:
    rows = query(settings, "SELECT RAW_DATA:stream_id::VARCHAR, KAFKA_PARTITION, KAFKA_OFFSET, CAPTURED_AT, "
                           "RAW_DATA FROM STREAM_LOGS")
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)), "duplicate rows"
    assert sorted(ids) == sorted(v["stream_id"] for _, v in expected), "missing or unexpected rows"
    positions = {(r[1], r[2]) for r in rows}
    assert len(positions) == len(rows)
    by_id = {v["stream_id"]: v for _, v in expected}
    for sid, _, _, captured, raw in rows[:50]:
        assert orjson.loads(raw) == by_id[sid]  # RAW_DATA holds the event verbatim
        assert captured.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z" == by_id[sid]["captured_at"]


@pytest.mark.parametrize("method", ["copy", "insert"])
def test_crash_between_warehouse_and_kafka_commit(wh_settings: Settings, tmp_path: Path, method: str) -> None:
    """SIGKILL right after the 3rd warehouse COMMIT (before Kafka's): the restart skips those rows."""
    first = _events(0, 2000)
    produce(wh_settings, topics.STREAMS, first, ticks=True)
    env = dict(SINK_ENV, SINK_LOAD_METHOD=method)
    crashed = Worker(wh_settings, ["sink", "raw"], tmp_path / "raw1.log", PULSE_TEST_CRASH_AFTER="COMMIT:3", **env)
    assert crashed.wait(120) == -9, crashed.log()
    written = count(wh_settings, "STREAM_LOGS")
    assert 0 < written < 2000
    second = _events(2000, 1000)
    produce(wh_settings, topics.STREAMS, second, ticks=True)
    with Worker(wh_settings, ["sink", "raw"], tmp_path / "raw2.log", **env) as worker:
        wait_for(lambda: committed_all(wh_settings, "sink-raw", [topics.STREAMS]), 120,
                 "the sink to commit every offset (ticks included)")
        assert worker.stop() == 0, worker.log()
    _assert_exact(wh_settings, first + second)
    marks = query(wh_settings, "SELECT KAFKA_PARTITION, MAX(KAFKA_OFFSET) FROM SINK_OFFSETS GROUP BY 1")
    assert len(marks) == 2
    assert query(wh_settings, "SELECT COUNT(*) FROM SINK_LOAD")[0][0] == 0


def test_sigkill_mid_stream_and_restart(wh_settings: Settings, tmp_path: Path) -> None:
    """An outside SIGKILL at an arbitrary point of a running stream: no duplicate, no gap."""
    first = _events(0, 4000)
    produce(wh_settings, topics.STREAMS, first)
    with Worker(wh_settings, ["sink", "raw"], tmp_path / "a.log", **SINK_ENV) as worker:
        wait_for(lambda: count(wh_settings, "STREAM_LOGS") >= 500, 120, "some rows in STREAM_LOGS")
        worker.kill()
    second = _events(4000, 500)
    produce(wh_settings, topics.STREAMS, second, ticks=True)
    with Worker(wh_settings, ["sink", "raw"], tmp_path / "b.log", **SINK_ENV) as worker:
        wait_for(lambda: committed_all(wh_settings, "sink-raw", [topics.STREAMS]), 120, "all offsets committed")
        assert worker.stop() == 0
    _assert_exact(wh_settings, first + second)


def _scrape(port: int, path: str = "/metrics") -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read().decode()


def test_ticks_and_invalid_values_are_skipped(wh_settings: Settings, tmp_path: Path) -> None:
    good = _events(0, 20)
    produce(wh_settings, topics.STREAMS, good[:10] + [("u-bad", b"not json"), ("u-list", b"[1, 2]")] + good[10:],
            ticks=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with Worker(wh_settings, ["sink", "raw"], tmp_path / "t.log", METRICS_PORT=port, **SINK_ENV) as worker:
        wait_for(lambda: committed_all(wh_settings, "sink-raw", [topics.STREAMS]), 120, "all offsets committed")
        body = _scrape(port)
        assert 'twitch_pulse_sink_rows_written_total{table="STREAM_LOGS"} 20.0' in body
        assert 'twitch_pulse_sink_records_skipped_total{reason="tick",table="STREAM_LOGS"} 2.0' in body
        assert 'twitch_pulse_sink_records_skipped_total{reason="invalid",table="STREAM_LOGS"} 2.0' in body
        assert "twitch_pulse_sink_batch_duration_seconds_bucket" in body
        assert _scrape(port, "/healthz") == "ok"
        assert worker.stop() == 0
        assert "not a JSON object" in worker.log()
    _assert_exact(wh_settings, good)
    rows = query(wh_settings, "SELECT COUNT(*) FROM STREAM_LOGS WHERE RAW_DATA:tick::BOOLEAN")
    assert rows[0][0] == 0
    assert events.TICK_KEY not in str(query(wh_settings, "SELECT RAW_DATA FROM STREAM_LOGS"))


def test_a_transaction_left_open_by_a_killed_worker_does_not_block_its_successor(wh_settings: Settings) -> None:
    """A SIGKILLed worker's session can keep its transaction open (fakesnow never expires it);
    the next worker must still be able to record its marks for the same partition."""
    from pulse.warehouse import connect
    from sinks import load
    from sinks.schema import bootstrap

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
