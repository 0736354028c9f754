"""Helpers for the sink tests: synthetic records, producing them, running a worker as a real
subprocess through the CLI (with the SQL guard installed), and waiting on conditions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable, NamedTuple, Optional

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from pulse import events, outputs, topics
from pulse.kafka import client_config, ensure_topics
from pulse.settings import Settings
from sinks import tables
from sinks.tables import Kind, TableSpec, utc_text
from tests.helix_support import read_topic

ROOT = Path(__file__).resolve().parents[1]
BASE_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
# The raw sink in tests: small batches and quick retries. With CHUNK_STREAMS=10 it commits every
# SINK_BATCH_ROWS // CHUNK_STREAMS = 25 chunks.
RAW_SINK_ENV = {"SINK_BATCH_ROWS": 250, "CHUNK_STREAMS": 10, "SINK_COMMIT_INTERVAL_SECONDS": 0.3,
                "SINK_RETRY_SECONDS": 1, "SINK_SESSION_TIMEOUT_MS": 6000}


def wait_for(condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def stream(i: int, poll: int = 0, viewers: Optional[int] = None) -> dict[str, Any]:
    """Stream object `i` as poll `poll` sees it (schema v2: no captured_at, poll_id or schema)."""
    captured = BASE_MS + poll * 60_000
    return events.normalise({
        "id": f"s{i}", "user_id": f"u{i}", "user_login": f"user{i}", "user_name": f"User {i}",
        "game_id": f"g{i % 7}", "game_name": f"Game {i % 7}", "title": f"title {i}", "language": "en",
        "type": "live", "tags": ["English"], "viewer_count": viewers if viewers is not None else i % 50,
        "started_at": events.format_ts(captured - 3_600_000), "is_mature": False,
    })


class Chunked(NamedTuple):
    """Messages for twitch.streams and the STREAM_LOGS.RAW_DATA each valid stream object must become."""

    records: list[tuple[str, bytes]]  # (message key, chunk bytes), in poll order
    expected: dict[str, dict[str, Any]]  # stream_id -> v1 event


def chunked(by_poll: dict[int, list[dict[str, Any]]], keys: int = 8, max_streams: int = 10,
            final: bool = False) -> Chunked:
    """Cut each poll's stream objects as the producer does; `final` appends the final chunks."""
    out = Chunked([], {})
    last = None
    for poll, streams in sorted(by_poll.items()):
        captured = BASE_MS + poll * 60_000
        for chunk, value in events.cut_poll(streams, captured, f"test@{poll}", "test", 1, keys, max_streams):
            out.records.append((chunk.message_key.decode(), value))
            for s in chunk.streams:
                if events.full_stream_error(s) is None:
                    out.expected[s["stream_id"]] = events.v1_event(s, chunk)
        last = captured
    if final and last is not None:
        for chunk, value in events.final_chunks(last, "test@final", "test", 1, keys):
            out.records.append((chunk.message_key.decode(), value))
    return out


def streams_chunked(start: int, n: int, per_poll: int = 500, **kwargs: Any) -> Chunked:
    """Stream objects start..start+n-1, stream i in poll i // per_poll, cut into chunks."""
    by_poll: dict[int, list[dict[str, Any]]] = {}
    for i in range(start, start + n):
        by_poll.setdefault(i // per_poll, []).append(stream(i, poll=i // per_poll))
    return chunked(by_poll, **kwargs)


def game_window(window: int, game: int, version: int = 0) -> dict[str, Any]:
    start = BASE_MS + window * 600_000
    return {
        "window_start": events.format_ts(start), "window_end": events.format_ts(start + 600_000),
        "game_id": f"g{game}", "game_name": f"Game {game}", "watch_hours": 1.5 * game + version,
        "air_hours": 0.5 + game, "avg_viewers": 9.0 * game, "avg_channels": 3.0, "peak_viewers": 100 * game + version,
        "peak_at": events.format_ts(start + 60_000), "peak_channels": 4, "unique_channels": 5,
        "new_streams": 1, "rank": game + 1,
    }


def channel_window(window: int, user: int, version: int = 0) -> dict[str, Any]:
    start = BASE_MS + window * 600_000
    return {
        "window_start": events.format_ts(start), "window_end": events.format_ts(start + 600_000),
        "user_id": f"u{user}", "user_login": f"user{user}", "user_name": f"User {user}", "game_id": "g1",
        "game_name": "Game 1", "watch_hours": 0.25 * user + version, "air_hours": 1 / 6, "avg_viewers": 1.5 * user,
        "peak_viewers": user + version, "rank": user + 1,
    }


def top_channel(window: int, game: int, rank: int) -> dict[str, Any]:
    start = BASE_MS + window * 600_000
    return {
        "window_start": events.format_ts(start), "window_end": events.format_ts(start + 600_000),
        "game_id": f"g{game}", "game_name": f"Game {game}", "rank": rank, "user_id": f"u{rank}",
        "user_login": f"user{rank}", "user_name": f"User {rank}", "watch_hours": 10.0 / rank,
        "air_hours": 1 / 6, "peak_viewers": 1000 // rank,
    }


def alert(i: int, kind: str = "surge") -> dict[str, Any]:
    captured = BASE_MS + i * 60_000
    return {
        "alert_id": f"{kind}:u{i}:{captured}", "kind": kind, "subject_type": "channel", "subject_id": f"u{i}",
        "subject_name": f"user{i}", "game_id": "g1", "game_name": "Game 1", "viewers": 5000 + i,
        "baseline": None if kind == "threshold" else 1200.5, "threshold": 2401,
        "captured_at": events.format_ts(captured), "url": f"https://www.twitch.tv/user{i}",
    }


def produce(settings: Settings, topic: str, records: Iterable[tuple[str, Any]], partitions: int = 2) -> int:
    """Produce (key, value) pairs to the prefixed topic, in order."""
    name = settings.topic(topic)
    ensure_topics(settings, [name], partitions=partitions)
    producer = Producer(client_config(settings, **{"linger.ms": 20}))
    n = 0
    for key, value in records:
        producer.produce(name, key=key.encode(), value=value if isinstance(value, bytes) else orjson.dumps(value))
        n += 1
        if n % 5000 == 0:
            producer.flush(30)
    assert producer.flush(30) == 0
    return n


def committed_all(settings: Settings, group: str, topics: list[str]) -> bool:
    """True when the consumer group has committed every partition up to its end."""
    consumer = Consumer(client_config(settings, **{"group.id": settings.group(group)}))
    try:
        for topic in topics:
            name = settings.topic(topic)
            meta = consumer.list_topics(name, timeout=10).topics[name]
            parts = [TopicPartition(name, p) for p in meta.partitions]
            committed = consumer.committed(parts, timeout=10)
            for tp in committed:
                _, high = consumer.get_watermark_offsets(TopicPartition(name, tp.partition), timeout=10)
                if high > 0 and tp.offset < high:  # an empty partition has nothing to commit
                    return False
        return True
    finally:
        consumer.close()


def settings_env(settings: Settings, **extra: Any) -> dict[str, str]:
    """The environment that makes a subprocess load exactly these settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("TWITCH_", "KAFKA_", "SNOWFLAKE_", "SLACK_", "SINK_", "TOPIC_", "BIGQUERY_",
                                        "GOOGLE_APPLICATION_CREDENTIALS", "WAREHOUSE"))}
    env.update(settings.as_env())
    env["TWITCH_PULSE_ENV_FILE"] = os.environ.get("TWITCH_PULSE_ENV_FILE", "/nonexistent.env")
    env["PYTHONPATH"] = str(ROOT)
    for key, value in extra.items():
        env[key] = str(value)
    return env


_BOOT = ("import sys, tests.sqlguard as g; g.install(); from pulse.cli import main; "
         "sys.exit(main(sys.argv[1:]))")


class Worker:
    """A CLI worker in its own process, stderr captured to a file for assertions."""

    def __init__(self, settings: Settings, args: list[str], log_path: Path, **env: Any) -> None:
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-c", _BOOT, *args], cwd=ROOT,
                                     env=settings_env(settings, **env), stdout=self._log, stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self, timeout: float = 60) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def __enter__(self) -> "Worker":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.alive():
            self.kill()
        self._log.close()


def query(settings: Settings, sql: str, params: Any = None) -> list[tuple]:
    """Rows of `sql` in the settings' warehouse (WAREHOUSE), as tuples."""
    from sinks.choice import chosen

    conn = chosen(settings).connect(settings)
    try:
        cur = conn.cursor()
        cur.execute(sql, params)
        return [tuple(row) for row in cur.fetchall()]
    finally:
        conn.close()


def stream_id_sql(settings: Settings) -> str:
    """RAW_DATA's stream_id as text, in the settings' warehouse's SQL (a JSON path does not transpile)."""
    if settings.warehouse == "bigquery":
        return "JSON_VALUE(RAW_DATA, '$.stream_id')"
    return "RAW_DATA:stream_id::VARCHAR"


def count(settings: Settings, table: str) -> int:
    try:
        return int(query(settings, f"SELECT COUNT(*) FROM {table}")[0][0])
    except Exception:
        return -1


def as_contract(value: Any) -> Any:
    """A warehouse value back in the topic contract's types (timestamps RFC 3339 ms Z)."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def spec_row(spec: TableSpec, record: dict[str, Any]) -> list[Any]:
    """A record's values in the table's column order, timestamps as the sinks send them."""
    return [utc_text(record[c.field]) if c.kind is Kind.TIMESTAMP else record[c.field] for c in spec.columns]


def assert_table_holds(settings: Settings, spec: TableSpec, records: Iterable[dict[str, Any]]) -> None:
    """The table holds exactly these records (the latest per natural key), every column's value
    as the record had it: nothing missing, nothing extra, nothing changed on the way."""
    expected = {tuple(r[k] for k in spec.key): {f: r[f] for f in spec.fields} for r in records}
    columns = ", ".join(f.upper() for f in spec.fields)
    got: dict[tuple, dict[str, Any]] = {}
    for raw in query(settings, f"SELECT {columns} FROM {spec.table}"):
        row = {f: as_contract(v) for f, v in zip(spec.fields, raw)}
        key = tuple(row[k] for k in spec.key)
        assert key not in got, f"{spec.table}: {key} twice"
        got[key] = row
    assert set(got) == set(expected), \
        f"{spec.table}: missing {sorted(set(expected) - set(got))[:5]}, extra {sorted(set(got) - set(expected))[:5]}"
    changed = [(key, got[key], want) for key, want in expected.items() if got[key] != want]
    assert not changed, f"{spec.table}: {len(changed)} rows differ, first {changed[0]}"


def assert_raw_exact(settings: Settings, expected: dict[str, dict], messages: int) -> None:
    """Every valid stream object once, RAW_DATA its v1 event, its position the chunk it came in."""
    rows = query(settings, f"SELECT {stream_id_sql(settings)}, KAFKA_PARTITION, KAFKA_OFFSET, CHUNK_INDEX, "
                           "CAPTURED_AT, RAW_DATA FROM STREAM_LOGS")
    ids = [r[0] for r in rows]
    assert len(ids) == len(set(ids)), "duplicate rows"
    assert sorted(ids) == sorted(expected), "missing or unexpected rows"
    assert len({(r[1], r[2], r[3]) for r in rows}) == len(rows)
    topic = read_topic(settings, settings.topic(topics.STREAMS), lambda m: len(m.chunks) + len(m.invalid) >= messages)
    at = {(c["partition"], c["offset"]): c["chunk"] for c in topic.chunks}
    for sid, partition, offset, index, captured, raw in rows:
        assert at[(partition, offset)].streams[index]["stream_id"] == sid  # (partition, offset, CHUNK_INDEX)
        # RAW_DATA holds the v1 event (BigQuery's client hands a JSON column back decoded)
        assert (orjson.loads(raw) if isinstance(raw, (str, bytes)) else raw) == expected[sid]
        assert captured.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "Z" == expected[sid]["captured_at"]


# reference name -> (table, natural key): every window table of DESIGN §4
TABLES = {"games": (tables.GAME_WINDOWS.table, tables.GAME_WINDOWS.key),
          "channels": (tables.CHANNEL_WINDOWS.table, tables.CHANNEL_WINDOWS.key),
          "top_channels": (tables.GAME_TOP_CHANNELS.table, tables.GAME_TOP_CHANNELS.key),
          "streams": (tables.STREAM_WINDOWS.table, tables.STREAM_WINDOWS.key),
          "languages": (tables.LANGUAGE_WINDOWS.table, tables.LANGUAGE_WINDOWS.key)}


def table_rows(cur: Any, table: str, key: tuple[str, ...]) -> dict[str, dict]:
    cur.execute(f"SELECT * FROM {table}")
    names = [d[0].lower() for d in cur.description]
    rows = {}
    for raw in cur.fetchall():
        row = {n: as_contract(v) for n, v in zip(names, raw)}
        rows["|".join(str(row[k]) for k in key)] = row
    return rows


def crash_after_commit_then_finish(settings: Settings, tmp_path: Path, env: dict) -> None:
    """A sink SIGKILLed right after its 3rd committed transaction, more records, a sink that
    finishes: every row once, one mark per partition (on any warehouse)."""
    first = streams_chunked(0, 2000, final=False)
    produce(settings, topics.STREAMS, first.records)
    crashed = Worker(settings, ["sink", "raw"], tmp_path / "raw1.log", PULSE_TEST_CRASH_AFTER="COMMIT:3", **env)
    assert crashed.wait(120) == -9, crashed.log()
    written = count(settings, "STREAM_LOGS")
    assert 0 < written < 2000
    second = streams_chunked(2000, 1000, final=True)
    produce(settings, topics.STREAMS, second.records)
    with Worker(settings, ["sink", "raw"], tmp_path / "raw2.log", **env) as worker:
        wait_for(lambda: committed_all(settings, "sink-raw", [topics.STREAMS]), 120,
                 "the sink to commit every offset (empty and final chunks included)")
        assert worker.stop() == 0, worker.log()
    records, expected = merged(first, second)
    assert_raw_exact(settings, expected, len(records))
    marks = query(settings, "SELECT KAFKA_PARTITION, MAX(KAFKA_OFFSET) FROM SINK_OFFSETS GROUP BY 1")
    assert len(marks) == 2


def produce_windows(settings: Settings, windows: range, version: int = 0) -> dict[str, list[dict]]:
    games = [game_window(w, g, version) for w in windows for g in range(8)]
    channels = [channel_window(w, u, version) for w in windows for u in range(20)]
    tops = [top_channel(w, g, r) for w in windows for g in range(3) for r in range(1, 4)]
    produce(settings, topics.WINDOWS_GAMES, [(row_key(outputs.GameWindow, r), r) for r in games])
    produce(settings, topics.WINDOWS_CHANNELS, [(row_key(outputs.ChannelWindow, r), r) for r in channels])
    produce(settings, topics.WINDOWS_TOP_CHANNELS, [(row_key(outputs.TopChannel, r), r) for r in tops])
    return {"GAME_WINDOWS": games, "CHANNEL_WINDOWS": channels, "GAME_TOP_CHANNELS": tops}


def row_key(record: type[outputs.OutputRecord], row: dict) -> str:
    return outputs.key_of(record(**row))


def merged(*parts: Chunked) -> tuple[list, dict]:
    records: list = []
    expected: dict = {}
    for part in parts:
        records += part.records
        expected.update(part.expected)
    return records, expected


def stays_up(worker: Worker, seconds: float) -> bool:
    """Watch the worker for the whole outage: False as soon as it exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not worker.alive():
            return False
        time.sleep(1)
    return worker.alive()
